//! Message rewriting rules (issue 6): edits an operator's rules make to requests and responses
//! on their way through the gateway.
//!
//! - **Feed renaming** (virtual feeds): every feed/collection name the message carries
//!   ([`Envelope::feeds`]) goes through [`Rules::rename_feed`]. The caller supplies the
//!   direction: public → upstream names for requests, upstream → public for responses. The
//!   function gets the name whitespace-collapsed, with references resolved; the new name is
//!   written XML-escaped for its context (attribute value or character data), replacing the
//!   whole value as written (surrounding white space, references and CDATA included).
//! - **Extended headers**: stripped by name or all ([`StripHeaders`]), added as (name, value)
//!   ([`Rules::add_headers`]). 1.0/1.1: `Extended_Header` elements, named by `@name`. Draft 1:
//!   the children of `extended-headers`, named by local name; an added one is written
//!   `<NAME>value</NAME>`, so only an XML NCName can be added there (others are refused and
//!   counted in [`Edited::headers_refused`], as are 1.x names that are empty or hold characters
//!   XML cannot carry). When stripping leaves no header, the container goes too; when the
//!   message has none, the container is inserted as the root's first child. For a Draft 1 GET,
//!   whose headers are query parameters, see [`edit_draft1_query`].
//! - **Message** of a push (Draft 1 `TAXII_STIXMessage/message`, 1.x `Inbox_Message/Message`):
//!   set to [`Rules::set_message`], replacing the text or inserting the element at its schema
//!   position.
//! - **Poll windows** ([`Rules::begin_not_before`], Unix seconds): a poll request whose begin
//!   timestamp is absent or earlier gets that instant (Draft 1 `begin-timestamp`, 1.x
//!   `Exclusive_Begin_Timestamp`); a poll response whose begin timestamp is absent or earlier
//!   than the served begin is made to say it (Draft 1 `begin-timestamp` and 1.1
//!   `Exclusive_Begin_Timestamp`: the same instant; 1.0 `Inclusive_Begin_Timestamp`: the instant
//!   plus one microsecond, since the 1.0 request's begin is exclusive and the response's
//!   inclusive, DIALECTS.md §9). Written RFC 3339 UTC (`2026-12-04T10:00:00Z`). A zone-less Draft
//!   1 timestamp is read as UTC; a negative instant counts as 0.
//! - **Content digests** ([`content_digests`]): SHA-256 of each content block as on the wire.
//!
//! Elements are written with the root element's namespace prefix (or none under a default
//! namespace); headers added to an existing container use the container's prefix. An inserted
//! element takes the white space run before its neighbour, so pretty-printed messages stay tidy;
//! a self-closing root `<X .../>` becomes `<X ...>…</X>`. A message carrying `ds:Signature`
//! ([`Envelope::signed`]) is never edited: when the rules would change it, the outcome is
//! [`Outcome::Signed`] (the counts then say what would have been done) and the body is the
//! caller's to pass on or refuse, as for [`super::rewrite_response`].
//!
//! Pure, no I/O: every byte outside the edited ranges is kept, nothing is re-serialised.

use std::fmt;
use std::ops::Range;

use sha2::{Digest, Sha256};

use super::dialect::Dialect;
use super::envelope::{ChildRef, Envelope, MessageKind};
use super::rewrite::{Outcome, RewriteError};
use super::schema::{self, Body};
use super::skip::is_xml_char;
use super::values::{collapse, format_rfc3339, timestamp_unix};

/// Which extended headers to strip.
#[derive(Debug, Clone, Copy, Default)]
pub enum StripHeaders<'a> {
    #[default]
    None,
    All,
    /// Headers with these names (1.x `@name`, whitespace-collapsed; Draft 1 local names; Draft 1
    /// GET query parameter names, percent-decoded), compared exactly.
    Named(&'a [String]),
}

impl StripHeaders<'_> {
    /// Whether a header of this name goes.
    pub fn strips(&self, name: &str) -> bool {
        match self {
            StripHeaders::None => false,
            StripHeaders::All => true,
            StripHeaders::Named(names) => names.iter().any(|n| n == name),
        }
    }
}

/// A feed renaming: the new name of a feed/collection, or `None` to keep it.
pub type RenameFeed<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// The edits to make to one message (see the module documentation). `Rules::default()` changes
/// nothing.
#[derive(Clone, Copy, Default)]
pub struct Rules<'a> {
    /// The new name of a feed/collection, or `None` to keep it.
    pub rename_feed: Option<&'a RenameFeed<'a>>,
    pub strip_headers: StripHeaders<'a>,
    /// Headers to add, (name, value), in this order, after the kept ones.
    pub add_headers: &'a [(String, String)],
    /// The `Message` of a push (Inbox message); other messages are left alone.
    pub set_message: Option<&'a str>,
    /// Poll requests: the earliest begin a client may ask for. Poll responses: the begin that
    /// was served. Unix seconds.
    pub begin_not_before: Option<i64>,
}

/// The poll window: what the message said, and what it says now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// The begin timestamp as sent (whitespace-collapsed), `None` when absent.
    pub asked: Option<String>,
    /// The begin timestamp the edited message carries.
    pub served: String,
}

/// The result of [`edit_message`], with what was done for audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    pub outcome: Outcome,
    /// (old, new) feed names, in document order.
    pub renamed: Vec<(String, String)>,
    pub headers_stripped: usize,
    pub headers_added: usize,
    /// Headers of [`Rules::add_headers`] that could not be written (see the module doc).
    pub headers_refused: usize,
    pub message_set: bool,
    /// Poll requests and responses under [`Rules::begin_not_before`].
    pub window: Option<Window>,
}

impl Edited {
    /// The body to send: the new one, or `original` when unchanged or signed.
    pub fn body<'b>(&'b self, original: &'b [u8]) -> &'b [u8] {
        self.outcome.body(original)
    }

    /// True when the body was rewritten.
    pub fn changed(&self) -> bool {
        self.outcome.changed()
    }
}

/// Why a message could not be edited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditError {
    /// The envelope does not describe this body.
    Mismatch(RewriteError),
    /// A rule gives a value the message cannot carry (a feed renamed to an empty name or to one
    /// holding control characters, a message text with characters XML forbids). Passing the
    /// message on unedited would show the name the rule hides: the caller refuses it.
    InvalidValue { field: &'static str, value: String },
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EditError::Mismatch(e) => e.fmt(f),
            EditError::InvalidValue { field, value } => {
                write!(
                    f,
                    "a rule gives {field} the value {value:?}, which a message cannot carry"
                )
            }
        }
    }
}

impl std::error::Error for EditError {}

impl From<RewriteError> for EditError {
    fn from(e: RewriteError) -> EditError {
        EditError::Mismatch(e)
    }
}

fn mismatch(detail: String) -> EditError {
    EditError::Mismatch(RewriteError { detail })
}

/// One splice. `remove`: the range goes with the white space run before it; otherwise `text`
/// replaces it (an empty range inserts). Edits at one offset apply in `order`.
struct Edit {
    range: Range<usize>,
    order: usize,
    text: String,
    remove: bool,
}

impl Edit {
    fn replace(range: Range<usize>, text: String) -> Edit {
        Edit {
            range,
            order: usize::MAX,
            text,
            remove: false,
        }
    }

    fn remove(range: Range<usize>) -> Edit {
        Edit {
            range,
            order: usize::MAX,
            text: String::new(),
            remove: true,
        }
    }
}

/// Applies `rules` to one message. `env` is the scan of exactly `body` ([`super::scan_body`], or
/// [`super::StreamScanner`] fed the whole body). A Draft 1 GET (empty body) comes back
/// unchanged: its headers are in the query ([`edit_draft1_query`]).
pub fn edit_message(body: &[u8], env: &Envelope, rules: &Rules<'_>) -> Result<Edited, EditError> {
    let mut out = Edited {
        outcome: Outcome::Unchanged,
        renamed: Vec::new(),
        headers_stripped: 0,
        headers_added: 0,
        headers_refused: 0,
        message_set: false,
        window: None,
    };
    if env.root_start_tag.is_empty() {
        return Ok(out);
    }
    let ctx = Ctx::new(body, env)?;
    let mut edits = Vec::new();
    // Elements to insert among the root's children: (schema slot, element).
    let mut inserts: Vec<(usize, String)> = Vec::new();

    if let Some(rename) = rules.rename_feed {
        rename_feeds(&ctx, rename, &mut edits, &mut out)?;
    }
    headers(&ctx, rules, &mut edits, &mut inserts, &mut out)?;
    if let Some(text) = rules.set_message {
        set_message(&ctx, text, &mut edits, &mut inserts, &mut out)?;
    }
    if let Some(not_before) = rules.begin_not_before {
        window(&ctx, not_before, &mut edits, &mut inserts, &mut out)?;
    }

    if edits.is_empty() && inserts.is_empty() {
        return Ok(out);
    }
    if env.signed {
        out.outcome = Outcome::Signed;
        return Ok(out);
    }
    ctx.place(inserts, &mut edits);
    // At one offset: inserts in schema order, and an insert before a removal starting there.
    edits.sort_by_key(|e| (e.range.start, e.order, e.range.end));
    out.outcome = Outcome::Rewritten(splice(body, &edits)?);
    Ok(out)
}

/// The body and envelope, checked to agree, with what insertion needs.
struct Ctx<'a> {
    body: &'a [u8],
    env: &'a Envelope,
    /// `prefix:` of the root element, or empty.
    prefix: String,
    /// The root's qualified name as written.
    root_qname: &'a str,
    /// The root's child slots (schema order).
    slots: &'static [schema::Child],
}

impl<'a> Ctx<'a> {
    fn new(body: &'a [u8], env: &'a Envelope) -> Result<Ctx<'a>, EditError> {
        let check = |span: &Range<usize>, what: &str| -> Result<(), EditError> {
            if span.start <= span.end && span.end <= body.len() {
                Ok(())
            } else {
                Err(mismatch(format!(
                    "{what} at {}..{} outside a body of {} bytes",
                    span.start,
                    span.end,
                    body.len()
                )))
            }
        };
        check(&env.root_start_tag, "root start tag")?;
        check(&env.root_end_tag, "root end tag")?;
        for c in &env.root_children {
            check(&c.span, "root child")?;
        }
        for h in &env.extended_headers {
            check(&h.span, "extended header")?;
        }
        if let Some(s) = &env.extended_headers_span {
            check(s, "extended headers")?;
        }
        for f in &env.feeds {
            check(&f.span, "feed name")?;
        }
        let tag = &body[env.root_start_tag.clone()];
        let name_len = tag
            .iter()
            .skip(1)
            .position(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'>' | b'/'))
            .unwrap_or(0);
        let root_qname = std::str::from_utf8(&tag[1.min(tag.len())..1 + name_len])
            .ok()
            .filter(|q| tag.first() == Some(&b'<') && q.ends_with(env.message))
            .ok_or_else(|| mismatch("no root start tag at its span".to_string()))?;
        if env.root_self_closing && !tag.ends_with(b"/>") {
            return Err(mismatch(
                "the root start tag does not end with />".to_string(),
            ));
        }
        let slots = match schema::spec_of(env.dialect, env.kind).map(|s| s.root.body) {
            Some(Body::Elements(children)) => children,
            _ => &[],
        };
        Ok(Ctx {
            body,
            env,
            prefix: env
                .root_prefix
                .as_ref()
                .map(|p| format!("{p}:"))
                .unwrap_or_default(),
            root_qname,
            slots,
        })
    }

    fn slot(&self, name: &str) -> usize {
        self.slots
            .iter()
            .position(|c| c.node.name == name)
            .unwrap_or(usize::MAX - 1)
    }

    fn child(&self, name: &str) -> Option<&'a ChildRef> {
        self.env.root_children.iter().find(|c| c.name == name)
    }

    /// `<prefix:name>text</prefix:name>` in the root's scope.
    fn element(&self, name: &str, text: &str) -> String {
        let p = &self.prefix;
        format!("<{p}{name}>{text}</{p}{name}>")
    }

    /// The white space run that ends at `at`.
    fn space_before(&self, at: usize) -> &'a str {
        let mut start = at;
        while start > 0 && matches!(self.body[start - 1], b' ' | b'\t' | b'\n' | b'\r') {
            start -= 1;
        }
        std::str::from_utf8(&self.body[start..at]).unwrap_or("")
    }

    /// Turns the insertions among the root's children into edits: before the first child of a
    /// later slot, else after the last child, else as the root's content.
    fn place(&self, mut inserts: Vec<(usize, String)>, edits: &mut Vec<Edit>) {
        if inserts.is_empty() {
            return;
        }
        inserts.sort_by_key(|(slot, _)| *slot);
        let tag = &self.env.root_start_tag;
        if self.env.root_self_closing {
            let mut text = String::from(">");
            for (_, element) in &inserts {
                text.push_str(element);
            }
            text.push_str(&format!("</{}>", self.root_qname));
            edits.push(Edit::replace(tag.end - 2..tag.end, text));
            return;
        }
        let children = &self.env.root_children;
        for (slot, element) in inserts {
            let next = children.iter().find(|c| self.slot(c.name) > slot);
            let (at, text) = match (next, children.last()) {
                (Some(c), _) => (
                    c.span.start,
                    format!("{element}{}", self.space_before(c.span.start)),
                ),
                (None, Some(last)) => (
                    last.span.end,
                    format!("{}{element}", self.space_before(last.span.start)),
                ),
                (None, None) => (tag.end, element),
            };
            edits.push(Edit {
                range: at..at,
                order: slot,
                text,
                remove: false,
            });
        }
    }
}

fn rename_feeds(
    ctx: &Ctx<'_>,
    rename: &dyn Fn(&str) -> Option<String>,
    edits: &mut Vec<Edit>,
    out: &mut Edited,
) -> Result<(), EditError> {
    for f in &ctx.env.feeds {
        if f.span.is_empty() {
            continue;
        }
        let old = collapse(&f.value);
        let Some(new) = rename(old) else {
            continue;
        };
        let new = collapse(&new);
        if new == old {
            continue;
        }
        if new.is_empty() || new.chars().any(|c| c.is_control() || !is_xml_char(c)) {
            return Err(EditError::InvalidValue {
                field: "a feed name",
                value: new.to_string(),
            });
        }
        // An attribute value sits right after its quote; character data after a `>` (of the
        // start tag, a comment, a PI or a CDATA section).
        let attribute = f.span.start > 0 && matches!(ctx.body[f.span.start - 1], b'"' | b'\'');
        let text = if attribute {
            escape_attribute(new)
        } else {
            escape_text(new)
        };
        edits.push(Edit::replace(f.span.clone(), text));
        out.renamed.push((old.to_string(), new.to_string()));
    }
    Ok(())
}

/// An XML NCName (Namespaces in XML 1.0 §3), for Draft 1 header element names.
fn is_ncname(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let start = |c: char| c == '_' || c.is_alphabetic();
    start(first)
        && chars.all(|c| {
            start(c) || c.is_numeric() || matches!(c, '-' | '.' | '\u{B7}') || {
                // Combining marks and the like (NameChar beyond letters and digits).
                !c.is_ascii() && !c.is_whitespace() && !c.is_control() && is_xml_char(c)
            }
        })
}

fn headers(
    ctx: &Ctx<'_>,
    rules: &Rules<'_>,
    edits: &mut Vec<Edit>,
    inserts: &mut Vec<(usize, String)>,
    out: &mut Edited,
) -> Result<(), EditError> {
    let env = ctx.env;
    let draft1 = env.dialect == Dialect::Draft1;
    let stripped: Vec<bool> = env
        .extended_headers
        .iter()
        .map(|h| rules.strip_headers.strips(&h.name))
        .collect();
    let kept = stripped.iter().filter(|s| !**s).count();
    out.headers_stripped = env.extended_headers.len() - kept;

    // The container, if any, and the prefix to write headers in.
    let container = env.extended_headers_span.clone();
    let container_prefix = match &container {
        Some(span) => {
            let tag = &ctx.body[span.clone()];
            let name_end = tag
                .iter()
                .position(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'>' | b'/'))
                .unwrap_or(0);
            let qname = std::str::from_utf8(&tag[1.min(name_end)..name_end]).unwrap_or("");
            match qname.split_once(':') {
                Some((p, _)) => format!("{p}:"),
                None => String::new(),
            }
        }
        None => ctx.prefix.clone(),
    };
    let mut added = Vec::new();
    for (name, value) in rules.add_headers {
        let value_ok = value.chars().all(is_xml_char);
        let name = collapse(name);
        let p = &container_prefix;
        if draft1 {
            if !is_ncname(name) || !value_ok {
                out.headers_refused += 1;
                continue;
            }
            added.push(format!("<{p}{name}>{}</{p}{name}>", escape_text(value)));
        } else {
            if name.is_empty()
                || name.chars().any(|c| c.is_control() || !is_xml_char(c))
                || !value_ok
            {
                out.headers_refused += 1;
                continue;
            }
            added.push(format!(
                "<{p}Extended_Header name=\"{}\">{}</{p}Extended_Header>",
                escape_attribute(name),
                escape_text(value)
            ));
        }
    }
    out.headers_added = added.len();
    let container_name = if draft1 {
        "extended-headers"
    } else {
        "Extended_Headers"
    };

    if added.is_empty() {
        if out.headers_stripped == 0 {
            return Ok(());
        }
        match container {
            Some(span) if kept == 0 => edits.push(Edit::remove(span)),
            _ => {
                for (h, s) in env.extended_headers.iter().zip(&stripped) {
                    if *s {
                        edits.push(Edit::remove(h.span.clone()));
                    }
                }
            }
        }
        return Ok(());
    }
    for (h, s) in env.extended_headers.iter().zip(&stripped) {
        if *s && kept > 0 {
            edits.push(Edit::remove(h.span.clone()));
        }
    }
    let last_kept = env
        .extended_headers
        .iter()
        .zip(&stripped)
        .rfind(|(_, s)| !**s)
        .map(|(h, _)| h);
    if let Some(last) = last_kept {
        let space = ctx.space_before(last.span.start);
        let text: String = added.iter().map(|a| format!("{space}{a}")).collect();
        edits.push(Edit::replace(last.span.end..last.span.end, text));
        return Ok(());
    }
    // A new container: in place of the old one, or as the root's first child.
    let (indent, replacing) = match &container {
        Some(span) => (ctx.space_before(span.start), Some(span.clone())),
        None => (
            env.root_children
                .first()
                .map_or("", |c| ctx.space_before(c.span.start)),
            None,
        ),
    };
    let inner = if indent.is_empty() {
        String::new()
    } else {
        format!("{indent}  ")
    };
    let p = &container_prefix;
    let mut element = format!("<{p}{container_name}>");
    for a in &added {
        element.push_str(&inner);
        element.push_str(a);
    }
    element.push_str(indent);
    element.push_str(&format!("</{p}{container_name}>"));
    match replacing {
        Some(span) => edits.push(Edit::replace(span, element)),
        None => inserts.push((ctx.slot(container_name), element)),
    }
    Ok(())
}

fn set_message(
    ctx: &Ctx<'_>,
    text: &str,
    edits: &mut Vec<Edit>,
    inserts: &mut Vec<(usize, String)>,
    out: &mut Edited,
) -> Result<(), EditError> {
    if ctx.env.kind != MessageKind::InboxMessage {
        return Ok(());
    }
    if !text.chars().all(is_xml_char) {
        return Err(EditError::InvalidValue {
            field: "the message",
            value: text.to_string(),
        });
    }
    let name = if ctx.env.dialect == Dialect::Draft1 {
        "message"
    } else {
        "Message"
    };
    let escaped = escape_text(text);
    match ctx.child(name) {
        Some(c) => match &c.text {
            Some(t) if !t.is_empty() => {
                if ctx.body[t.clone()] != *escaped.as_bytes() {
                    edits.push(Edit::replace(t.clone(), escaped));
                    out.message_set = true;
                }
            }
            _ => {
                if !text.is_empty() {
                    edits.push(Edit::replace(c.span.clone(), ctx.element(name, &escaped)));
                    out.message_set = true;
                }
            }
        },
        None => {
            inserts.push((ctx.slot(name), ctx.element(name, &escaped)));
            out.message_set = true;
        }
    }
    Ok(())
}

/// A timestamp as microseconds since the Unix epoch (fraction beyond 6 digits dropped).
/// Microseconds since the epoch of a timestamp that names its zone; `None` for one that does
/// not (a Draft 1 timestamp may leave it out: it is then the producer's local time, anywhere
/// within 14 hours of UTC, so it is never taken as late enough).
fn timestamp_micros(value: &str) -> Option<i128> {
    let (secs, zoned) = timestamp_unix(value)?;
    if !zoned {
        return None;
    }
    let v = collapse(value);
    let t = v.find(['T', 't'])?;
    let mut micros = 0i128;
    if let Some(dot) = v[t..].find('.') {
        let digits: Vec<u8> = v[t + dot + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .collect();
        for i in 0..6 {
            micros = micros * 10 + i128::from(digits.get(i).map_or(0, |d| d - b'0'));
        }
    }
    Some(i128::from(secs) * 1_000_000 + micros)
}

/// RFC 3339 UTC for non-negative microseconds since the epoch; a fraction only when non-zero.
fn format_micros(micros: i128) -> String {
    let secs = (micros / 1_000_000) as u64;
    let fraction = micros % 1_000_000;
    let mut s = format_rfc3339(secs);
    if fraction != 0 {
        s.pop();
        s.push_str(&format!(".{fraction:06}Z"));
    }
    s
}

fn window(
    ctx: &Ctx<'_>,
    not_before: i64,
    edits: &mut Vec<Edit>,
    inserts: &mut Vec<(usize, String)>,
    out: &mut Edited,
) -> Result<(), EditError> {
    let env = ctx.env;
    let mut required = i128::from(not_before.max(0)) * 1_000_000;
    let name = match (env.kind, env.dialect) {
        (MessageKind::PollRequest | MessageKind::PollResponse, Dialect::Draft1) => {
            "begin-timestamp"
        }
        (MessageKind::PollResponse, Dialect::V10) => {
            required += 1;
            "Inclusive_Begin_Timestamp"
        }
        (MessageKind::PollRequest | MessageKind::PollResponse, _) => "Exclusive_Begin_Timestamp",
        _ => return Ok(()),
    };
    let child = ctx.child(name);
    let asked = child.and_then(|c| {
        let text = c.text.clone()?;
        // The scan's decoded value when it is this element's; the raw text otherwise.
        match &env.begin_timestamp {
            Some(f) if f.span == text => Some(f.value.clone()),
            _ => std::str::from_utf8(&ctx.body[text])
                .ok()
                .map(str::to_string),
        }
    });
    let asked = asked.map(|a| collapse(&a).to_string());
    if let Some(a) = &asked {
        if timestamp_micros(a).is_some_and(|m| m >= required) {
            out.window = Some(Window {
                asked: asked.clone(),
                served: a.clone(),
            });
            return Ok(());
        }
    }
    let served = format_micros(required);
    match child {
        Some(c) => match &c.text {
            Some(t) if !t.is_empty() => edits.push(Edit::replace(t.clone(), served.clone())),
            _ => edits.push(Edit::replace(c.span.clone(), ctx.element(name, &served))),
        },
        None => inserts.push((ctx.slot(name), ctx.element(name, &served))),
    }
    out.window = Some(Window { asked, served });
    Ok(())
}

/// Character data for `s`: `&`, `<`, `>` (for `]]>`) and CR (which a parser would turn into
/// LF) as references.
fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// An attribute value for `s` in either quote: markup characters, both quotes, and the white
/// space attribute-value normalisation would turn into spaces, as references.
pub fn escape_attribute(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// The body with `edits` (sorted by start, then order) applied.
fn splice(body: &[u8], edits: &[Edit]) -> Result<Vec<u8>, EditError> {
    let mut out = Vec::with_capacity(body.len() + 256);
    let mut at = 0;
    for e in edits {
        if e.range.start < at {
            return Err(mismatch(format!(
                "edits overlap at {}..{}",
                e.range.start, e.range.end
            )));
        }
        let mut start = e.range.start;
        if e.remove {
            while start > at && matches!(body[start - 1], b' ' | b'\t' | b'\n' | b'\r') {
                start -= 1;
            }
        }
        out.extend_from_slice(&body[at..start]);
        out.extend_from_slice(e.text.as_bytes());
        at = e.range.end;
    }
    out.extend_from_slice(&body[at..]);
    Ok(out)
}

/// Lowercase hex SHA-256 of each content block exactly as on the wire
/// ([`Envelope::content_block_spans`]: 1.x `Content_Block` elements, Draft 1 STIX documents,
/// each from its `<` to the end of its end tag), in document order. A span outside `body` (an
/// envelope of another body) is left out.
pub fn content_digests(body: &[u8], env: &Envelope) -> Vec<String> {
    env.content_block_spans
        .iter()
        .filter_map(|span| body.get(span.clone()))
        .map(digest_hex)
        .collect()
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn digest_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The query of a Draft 1 GET (Discovery or Feed Information request, HTTP binding §5.1.1)
/// with the header rules applied: its parameters other than `message_type` and `message_id` are
/// the extended headers. Stripped ones go (names compared percent-decoded, `+` as space); added
/// ones are appended as `name=value`, percent-encoded (all but `A-Z a-z 0-9 - . _ ~`). A header
/// named `message_type` or `message_id`, or with an empty name, is not added. Every kept
/// parameter keeps its bytes.
pub fn edit_draft1_query(query: &str, rules: &Rules<'_>) -> String {
    let reserved = |n: &str| n == "message_type" || n == "message_id";
    let mut parts: Vec<String> = Vec::new();
    for pair in query.split('&') {
        let raw_name = pair.split('=').next().unwrap_or("");
        let name = percent_decode(raw_name);
        if !pair.is_empty() && !reserved(&name) && rules.strip_headers.strips(&name) {
            continue;
        }
        parts.push(pair.to_string());
    }
    if parts.len() == 1 && parts[0].is_empty() {
        parts.clear();
    }
    for (name, value) in rules.add_headers {
        if name.is_empty() || reserved(name) {
            continue;
        }
        parts.push(format!(
            "{}={}",
            percent_encode(name),
            percent_encode(value)
        ));
    }
    parts.join("&")
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn ncnames() {
        for ok in ["partner", "x-partner.id", "_a", "café"] {
            assert!(is_ncname(ok), "{ok}");
        }
        for bad in ["", "1a", "a:b", "a b", "-a", "a<b", "a&b"] {
            assert!(!is_ncname(bad), "{bad}");
        }
    }

    #[test]
    fn micros() {
        assert_eq!(
            timestamp_micros("2026-12-04T10:00:00.5Z"),
            Some(1_796_378_400_500_000)
        );
        assert_eq!(
            format_micros(1_796_378_400_000_001),
            "2026-12-04T10:00:00.000001Z"
        );
        assert_eq!(format_micros(1_796_378_400_000_000), "2026-12-04T10:00:00Z");
    }

    #[test]
    fn percent() {
        assert_eq!(percent_decode("a%20b+c%zz%4"), "a b c%zz%4");
        assert_eq!(percent_encode("a b&é"), "a%20b%26%C3%A9");
    }
}
