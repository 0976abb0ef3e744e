//! Why the protocol core refused a message.

use std::fmt;

/// The kind of a rejection: stable names for logs, metrics, audit records and `inspect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectKind {
    /// The body is empty or holds no element.
    Empty,
    /// Not well-formed XML (syntax, mismatched tags, duplicate attributes, text after the root…).
    Malformed,
    /// Not UTF-8, or a declared encoding other than UTF-8.
    Encoding,
    /// A `<!DOCTYPE …>` anywhere: TAXII never needs a DTD.
    Doctype,
    /// An entity reference other than the five predefined ones and character references.
    Entity,
    /// More than one root element (XML Binding §2.1.1: one message per document).
    MultipleRoots,
    /// The root element's namespace is none of the three TAXII namespaces.
    UnknownNamespace,
    /// The root element's local name is not a message of its namespace's dialect.
    UnknownMessage,
    /// An element that has no place there in the message envelope.
    UnexpectedElement,
    /// An attribute that has no place on that envelope element.
    UnexpectedAttribute,
    /// Character data where the envelope allows only elements.
    UnexpectedText,
    /// A required field is missing.
    MissingField,
    /// A single-valued field appears more than once.
    RepeatedField,
    /// A field's value is not valid for its type (enumeration, timestamp, identifier…).
    InvalidValue,
    /// Fields that must not appear together, or exactly one of which must appear.
    InvalidCombination,
    /// The dialect signals (method, query, headers, root namespace) disagree.
    DialectMismatch,
    /// A request that is not a TAXII message (a GET without `message_type`, a 1.x POST without
    /// the binding's headers).
    NotTaxii,
    /// A header value the binding does not define (`Content-Type`, `X-TAXII-*`).
    UnsupportedMediaType,
    /// The HTTP method is wrong for this message (Draft 1 HTTP binding §5.1, 1.0 HTTP binding §3).
    MethodNotAllowed,
    /// More than `max_total_bytes`.
    TooLarge,
    /// Nested deeper than `max_depth`.
    TooDeep,
    /// More than `max_elements` elements.
    TooManyElements,
    /// More than `max_attributes` attributes on one element.
    TooManyAttributes,
    /// An attribute value longer than `max_attribute_bytes`.
    AttributeTooLong,
    /// A run of text longer than `max_text_bytes`.
    TextTooLong,
    /// An element or attribute name longer than `max_name_bytes`.
    NameTooLong,
}

impl RejectKind {
    /// Every kind, for tables and tests.
    pub const ALL: [RejectKind; 26] = [
        RejectKind::Empty,
        RejectKind::Malformed,
        RejectKind::Encoding,
        RejectKind::Doctype,
        RejectKind::Entity,
        RejectKind::MultipleRoots,
        RejectKind::UnknownNamespace,
        RejectKind::UnknownMessage,
        RejectKind::UnexpectedElement,
        RejectKind::UnexpectedAttribute,
        RejectKind::UnexpectedText,
        RejectKind::MissingField,
        RejectKind::RepeatedField,
        RejectKind::InvalidValue,
        RejectKind::InvalidCombination,
        RejectKind::DialectMismatch,
        RejectKind::NotTaxii,
        RejectKind::UnsupportedMediaType,
        RejectKind::MethodNotAllowed,
        RejectKind::TooLarge,
        RejectKind::TooDeep,
        RejectKind::TooManyElements,
        RejectKind::TooManyAttributes,
        RejectKind::AttributeTooLong,
        RejectKind::TextTooLong,
        RejectKind::NameTooLong,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectKind::Empty => "empty",
            RejectKind::Malformed => "malformed",
            RejectKind::Encoding => "encoding",
            RejectKind::Doctype => "doctype",
            RejectKind::Entity => "entity",
            RejectKind::MultipleRoots => "multiple_roots",
            RejectKind::UnknownNamespace => "unknown_namespace",
            RejectKind::UnknownMessage => "unknown_message",
            RejectKind::UnexpectedElement => "unexpected_element",
            RejectKind::UnexpectedAttribute => "unexpected_attribute",
            RejectKind::UnexpectedText => "unexpected_text",
            RejectKind::MissingField => "missing_field",
            RejectKind::RepeatedField => "repeated_field",
            RejectKind::InvalidValue => "invalid_value",
            RejectKind::InvalidCombination => "invalid_combination",
            RejectKind::DialectMismatch => "dialect_mismatch",
            RejectKind::NotTaxii => "not_taxii",
            RejectKind::UnsupportedMediaType => "unsupported_media_type",
            RejectKind::MethodNotAllowed => "method_not_allowed",
            RejectKind::TooLarge => "too_large",
            RejectKind::TooDeep => "too_deep",
            RejectKind::TooManyElements => "too_many_elements",
            RejectKind::TooManyAttributes => "too_many_attributes",
            RejectKind::AttributeTooLong => "attribute_too_long",
            RejectKind::TextTooLong => "text_too_long",
            RejectKind::NameTooLong => "name_too_long",
        }
    }

    /// True for the kinds that a resource limit produced.
    pub fn is_limit(self) -> bool {
        matches!(
            self,
            RejectKind::TooLarge
                | RejectKind::TooDeep
                | RejectKind::TooManyElements
                | RejectKind::TooManyAttributes
                | RejectKind::AttributeTooLong
                | RejectKind::TextTooLong
                | RejectKind::NameTooLong
        )
    }
}

impl fmt::Display for RejectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected message: what kind of fault, what exactly, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub kind: RejectKind,
    /// Human-readable detail naming the field, element or limit at fault.
    pub detail: String,
    /// Byte offset in the body where the fault was found, when it is in the body.
    pub offset: Option<usize>,
    /// The message id, when it was read before the fault, so that answers can echo it.
    pub message_id: Option<String>,
}

impl Reject {
    pub fn new(kind: RejectKind, detail: impl Into<String>) -> Reject {
        Reject {
            kind,
            detail: detail.into(),
            offset: None,
            message_id: None,
        }
    }

    pub(crate) fn at(mut self, offset: usize) -> Reject {
        self.offset.get_or_insert(offset);
        self
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.detail)?;
        if let Some(offset) = self.offset {
            write!(f, " (at byte {offset})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Reject {}
