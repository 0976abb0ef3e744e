//! The envelope scan: one pass over a message body that reads the envelope with quick-xml's
//! namespace-aware reader, skips payload with [`super::skip`], enforces the limits, and checks the
//! envelope against the dialect's grammar ([`super::schema`]).

use std::ops::Range;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::{NsReader, XmlVersion};

use super::dialect::{Dialect, NS_XML, NS_XMLDSIG, NS_XSI};
use super::envelope::{ChildRef, Envelope, FeedRecord, Field, HeaderRef, MessageKind, ServiceRef};
use super::error::{Reject, RejectKind};
use super::limits::ScanLimits;
use super::schema::{self, Body, Capture, Check, Node, Ns, Role, MAX_CHILD_SLOTS};
use super::skip::{self, SkipState};
use super::values;

/// Scans one message body (no HTTP context: the root namespace alone decides the dialect).
pub fn scan_body(input: &[u8], limits: &ScanLimits) -> Result<Envelope, Reject> {
    if input.len() > limits.max_total_bytes {
        return Err(Reject::new(
            RejectKind::TooLarge,
            format!(
                "body of {} bytes exceeds {} bytes",
                input.len(),
                limits.max_total_bytes
            ),
        ));
    }
    // One UTF-8 check over the whole body costs ~0.05 ns/byte; the skipper relies on it.
    if input.starts_with(&[0xFE, 0xFF]) || input.starts_with(&[0xFF, 0xFE]) {
        return Err(Reject::new(RejectKind::Encoding, "UTF-16 is not accepted; send UTF-8").at(0));
    }
    if let Err(e) = std::str::from_utf8(input) {
        return Err(
            Reject::new(RejectKind::Encoding, "the body is not valid UTF-8").at(e.valid_up_to()),
        );
    }
    let bom = if input.starts_with(&[0xEF, 0xBB, 0xBF]) {
        3
    } else {
        0
    };
    let mut scanner = Scanner::new(input, limits);
    scanner.run(bom).map_err(|mut r| {
        if r.message_id.is_none() {
            r.message_id = scanner
                .env
                .as_ref()
                .map(|e| e.message_id.value.clone())
                .filter(|v| !v.is_empty());
        }
        r
    })?;
    scanner
        .env
        .ok_or_else(|| Reject::new(RejectKind::Empty, "the body holds no element"))
}

/// An open envelope element.
#[derive(Clone)]
struct Frame {
    node: &'static Node,
    /// How many of each child slot have been seen.
    counts: [u32; MAX_CHILD_SLOTS],
    /// Which of the node's attributes were present (bit per attribute).
    attrs_seen: u32,
    /// Offset of the `<` of the start tag.
    start: usize,
    /// Character data of a text-only element.
    text: String,
    text_span: Option<Range<usize>>,
    /// Service records: the type (from the attribute or the element) and the address.
    service_type: Option<String>,
    service_address: Option<Field>,
    /// 1.x `Extended_Header`: its `@name`.
    header_name: Option<String>,
}

struct Scanner<'a> {
    input: &'a [u8],
    skip: SkipState<'a>,
    limits: &'a ScanLimits,
    frames: Vec<Frame>,
    env: Option<Envelope>,
    root_closed: bool,
    /// Streaming: `input` starts with a replayed copy of the root start tag, `prefix_len` bytes
    /// long, that only restores the namespace scope; `input[prefix_len]` is at `origin` in the
    /// stream. Whole-body scans have both zero.
    prefix_len: usize,
    origin: usize,
    replay_root: bool,
    /// Streaming: a snapshot at every point where the envelope can resume (after the root start
    /// tag, after each child of the root), and the root start tag once read.
    streaming: bool,
    checkpoint: Option<Checkpoint>,
    root_tag: Option<Vec<u8>>,
}

/// Where a streamed scan can resume: the stream offset, and the state there.
#[derive(Clone)]
struct Checkpoint {
    at: usize,
    env: EnvMark,
    root: Option<Frame>,
    elements: usize,
    root_closed: bool,
}

/// The envelope's growth since a checkpoint: vectors only grow, so lengths suffice for them.
#[derive(Clone)]
struct EnvMark {
    feeds: usize,
    destinations: usize,
    subscription_ids: usize,
    content_bindings: usize,
    delivery_addresses: usize,
    services: usize,
    feed_records: usize,
    content_block_spans: usize,
    extended_headers: usize,
    root_children: usize,
    extended_headers_span: Option<Range<usize>>,
    root_end_tag: Range<usize>,
    action: Option<Field>,
    status_type: Option<Field>,
    begin_timestamp: Option<Field>,
    end_timestamp: Option<Field>,
    content_blocks: usize,
    signed: bool,
}

impl EnvMark {
    fn of(e: &Envelope) -> EnvMark {
        EnvMark {
            feeds: e.feeds.len(),
            destinations: e.destinations.len(),
            subscription_ids: e.subscription_ids.len(),
            content_bindings: e.content_bindings.len(),
            delivery_addresses: e.delivery_addresses.len(),
            services: e.services.len(),
            feed_records: e.feed_records.len(),
            content_block_spans: e.content_block_spans.len(),
            extended_headers: e.extended_headers.len(),
            root_children: e.root_children.len(),
            extended_headers_span: e.extended_headers_span.clone(),
            root_end_tag: e.root_end_tag.clone(),
            action: e.action.clone(),
            status_type: e.status_type.clone(),
            begin_timestamp: e.begin_timestamp.clone(),
            end_timestamp: e.end_timestamp.clone(),
            content_blocks: e.content_blocks,
            signed: e.signed,
        }
    }

    fn restore(&self, e: &mut Envelope) {
        e.feeds.truncate(self.feeds);
        e.destinations.truncate(self.destinations);
        e.subscription_ids.truncate(self.subscription_ids);
        e.content_bindings.truncate(self.content_bindings);
        e.delivery_addresses.truncate(self.delivery_addresses);
        e.services.truncate(self.services);
        e.feed_records.truncate(self.feed_records);
        e.content_block_spans.truncate(self.content_block_spans);
        e.extended_headers.truncate(self.extended_headers);
        e.root_children.truncate(self.root_children);
        e.extended_headers_span = self.extended_headers_span.clone();
        e.root_end_tag = self.root_end_tag.clone();
        e.action = self.action.clone();
        e.status_type = self.status_type.clone();
        e.begin_timestamp = self.begin_timestamp.clone();
        e.end_timestamp = self.end_timestamp.clone();
        e.content_blocks = self.content_blocks;
        e.signed = self.signed;
    }
}

/// Which namespace a name resolved to, relative to the message's dialect.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NsClass {
    Taxii(Dialect),
    Dsig,
    Other,
    None,
}

fn classify(res: &ResolveResult<'_>) -> Result<NsClass, String> {
    match res {
        ResolveResult::Bound(ns) => Ok(match Dialect::from_namespace(ns.as_ref().as_bytes()) {
            Some(d) => NsClass::Taxii(d),
            None if ns.as_ref() == NS_XMLDSIG => NsClass::Dsig,
            None => NsClass::Other,
        }),
        ResolveResult::Unbound => Ok(NsClass::None),
        ResolveResult::Unknown(prefix) => Err(prefix.to_string()),
    }
}

fn lossy(s: &str) -> String {
    s.to_string()
}

/// The skipper's character rules for names (`skip::check_name`), for the names the envelope
/// reader reads itself: quick-xml does not check them.
fn valid_name(name: &[u8]) -> bool {
    match name.first() {
        None => false,
        Some(first) => {
            !(first.is_ascii_digit()
                || matches!(first, b'-' | b'.')
                || name.iter().any(|b| matches!(b, b'<' | b'"' | b'\'' | b'&')))
        }
    }
}

impl<'a> Scanner<'a> {
    fn new(input: &'a [u8], limits: &'a ScanLimits) -> Scanner<'a> {
        Scanner {
            input,
            skip: SkipState::new(limits),
            limits,
            frames: Vec::with_capacity(8),
            env: None,
            root_closed: false,
            prefix_len: 0,
            origin: 0,
            replay_root: false,
            streaming: false,
            checkpoint: None,
            root_tag: None,
        }
    }

    /// Position in `input` of the reader.
    fn local(&self, reader: &NsReader<&'a [u8]>) -> usize {
        self.input.len() - reader.get_ref().len()
    }

    /// Position in the message (the stream) of a position in `input`.
    fn abs(&self, local: usize) -> usize {
        (local + self.origin).saturating_sub(self.prefix_len)
    }

    /// Position in the message of the reader.
    fn offset(&self, reader: &NsReader<&'a [u8]>) -> usize {
        self.abs(self.local(reader))
    }

    /// Records a point where a streamed scan can resume.
    fn mark(&mut self, at: usize) {
        if !self.streaming {
            return;
        }
        if let Some(env) = &self.env {
            self.checkpoint = Some(Checkpoint {
                at,
                env: EnvMark::of(env),
                root: self.frames.first().cloned(),
                elements: self.skip.elements,
                root_closed: self.root_closed,
            });
        }
    }

    fn run(&mut self, bom: usize) -> Result<(), Reject> {
        let mut reader = NsReader::from_reader(&self.input[bom..]);
        reader.config_mut().check_comments = true;
        reader.config_mut().check_end_names = true;
        loop {
            let local_before = self.local(&reader);
            let before = self.abs(local_before);
            let (res, event) = match reader.read_resolved_event() {
                Ok(pair) => pair,
                Err(e) => return Err(Reject::new(RejectKind::Malformed, e.to_string()).at(before)),
            };
            let ns = classify(&res).map_err(|prefix| {
                Reject::new(
                    RejectKind::Malformed,
                    format!("undeclared namespace prefix {}", lossy(&prefix)),
                )
                .at(before)
            });
            match event {
                Event::Decl(decl) => {
                    // XML 1.0 §2.8: the declaration, if any, opens the document.
                    if before != bom {
                        return Err(Reject::new(
                            RejectKind::Malformed,
                            "XML declaration not at the start",
                        )
                        .at(before));
                    }
                    if let Some(enc) = decl.encoding() {
                        let enc = enc.map_err(|e| {
                            Reject::new(RejectKind::Malformed, e.to_string()).at(before)
                        })?;
                        if !enc.eq_ignore_ascii_case("utf-8") {
                            return Err(Reject::new(
                                RejectKind::Encoding,
                                format!("declared encoding {enc} is not accepted; send UTF-8"),
                            )
                            .at(before));
                        }
                    }
                }
                Event::DocType(_) => {
                    return Err(
                        Reject::new(RejectKind::Doctype, "a DOCTYPE is never accepted").at(before),
                    );
                }
                Event::PI(_) | Event::Comment(_) => {}
                Event::Start(e) => {
                    if self.replay_root {
                        // The replayed root start tag: its frame is already open.
                        self.replay_root = false;
                        continue;
                    }
                    let ns = ns?;
                    self.open(ns, &e, before, &reader)?;
                    let after = self.offset(&reader);
                    if self.frames.len() == 1 {
                        if let Some(env) = self.env.as_mut() {
                            env.root_start_tag = before..after;
                            env.root_end_tag = after..after;
                        }
                        if self.streaming {
                            self.root_tag =
                                Some(self.input[local_before..self.local(&reader)].to_vec());
                        }
                        self.mark(after);
                    }
                    if matches!(self.frames.last().map(|f| f.node.body), Some(Body::Payload)) {
                        let depth = self.frames.len();
                        let local_after = self.local(&reader);
                        let end =
                            skip::skip_content(self.input, local_after, depth, &mut self.skip)
                                .map_err(|r| self.fix(r))?;
                        if self.frames.last().map(|f| f.node.role) == Some(Role::ExtendedHeaders) {
                            self.draft1_headers(local_after, end);
                        }
                        *reader.get_mut() = &self.input[end..];
                    }
                }
                Event::Empty(e) => {
                    let ns = ns?;
                    self.open(ns, &e, before, &reader)?;
                    let after = self.offset(&reader);
                    if self.frames.len() == 1 {
                        if let Some(env) = self.env.as_mut() {
                            env.root_start_tag = before..after;
                            env.root_end_tag = after..after;
                            env.root_self_closing = true;
                        }
                    }
                    self.close(after)?;
                    if self.frames.len() <= 1 {
                        self.mark(after);
                    }
                }
                Event::End(_) => {
                    let after = self.offset(&reader);
                    if self.frames.len() == 1 {
                        if let Some(env) = self.env.as_mut() {
                            env.root_end_tag = before..after;
                        }
                    }
                    self.close(after)?;
                    if self.frames.len() <= 1 {
                        self.mark(after);
                    }
                }
                Event::Text(t) => {
                    let after = self.offset(&reader);
                    // XML 1.0 §2.4: `]]>` must not occur in character data; quick-xml lets it
                    // through, a strict upstream parser refuses the message.
                    if t.contains("]]>") {
                        return Err(
                            Reject::new(RejectKind::Malformed, "']]>' in character data")
                                .at(before),
                        );
                    }
                    self.text(&t.xml10_content(), before..after, 0)?;
                }
                Event::CData(t) => {
                    let after = self.offset(&reader);
                    // `<![CDATA[` and `]]>` are markup, not character data: the skipper does not
                    // count them against max_text_bytes either.
                    self.text(&t, before..after, "<![CDATA[]]>".len())?;
                }
                Event::GeneralRef(r) => {
                    let after = self.offset(&reader);
                    let c = if r.is_char_ref() {
                        match r.resolve_char_ref() {
                            Ok(Some(c)) if skip::is_xml_char(c) => c,
                            _ => {
                                return Err(Reject::new(
                                    RejectKind::Malformed,
                                    "invalid character reference",
                                )
                                .at(before))
                            }
                        }
                    } else {
                        match &*r {
                            "lt" => '<',
                            "gt" => '>',
                            "amp" => '&',
                            "apos" => '\'',
                            "quot" => '"',
                            other => {
                                return Err(Reject::new(
                                    RejectKind::Entity,
                                    format!("undefined entity &{other};"),
                                )
                                .at(before))
                            }
                        }
                    };
                    self.text(c.encode_utf8(&mut [0; 4]), before..after, 0)?;
                }
                Event::Eof => {
                    if !self.frames.is_empty() {
                        return Err(Reject::new(
                            RejectKind::Malformed,
                            "the document ends inside an element",
                        )
                        .at(self.abs(self.input.len())));
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Turns a position in `input` (the skipper's) into a position in the message.
    fn fix(&self, mut r: Reject) -> Reject {
        r.offset = r.offset.map(|o| self.abs(o));
        r
    }

    fn limit(&self, kind: RejectKind, detail: String, at: usize) -> Reject {
        Reject::new(kind, detail).at(at)
    }

    /// A start tag (or empty-element tag) at `at`.
    fn open(
        &mut self,
        ns: NsClass,
        e: &BytesStart<'a>,
        at: usize,
        reader: &NsReader<&'a [u8]>,
    ) -> Result<(), Reject> {
        if self.root_closed {
            return Err(Reject::new(
                RejectKind::MultipleRoots,
                "a second root element: one message per document (XML Binding §2.1.1)",
            )
            .at(at));
        }
        self.skip.count_element(at)?;
        if self.frames.len() + 1 > self.limits.max_depth {
            return Err(self.limit(
                RejectKind::TooDeep,
                format!("elements nested deeper than {}", self.limits.max_depth),
                at,
            ));
        }
        let qname = e.name();
        if qname.as_ref().len() > self.limits.max_name_bytes {
            return Err(self.limit(
                RejectKind::NameTooLong,
                format!("a name longer than {} bytes", self.limits.max_name_bytes),
                at,
            ));
        }
        // quick-xml does not check names: hold the start tags read here (a Draft 1 STIX document
        // sits in an envelope slot) to the skipper's name rules for payload.
        if !valid_name(qname.as_ref().as_bytes()) {
            return Err(Reject::new(RejectKind::Malformed, "invalid element name").at(at));
        }
        let local_name = e.local_name();
        let local: &str = local_name.as_ref();

        let node: &'static Node = match (self.frames.last_mut(), &self.env) {
            (None, _) => {
                let dialect = match ns {
                    NsClass::Taxii(d) => d,
                    NsClass::None => {
                        return Err(Reject::new(
                            RejectKind::UnknownNamespace,
                            format!("root element {local} has no namespace; the namespace decides the dialect"),
                        )
                        .at(at))
                    }
                    NsClass::Dsig | NsClass::Other => {
                        return Err(Reject::new(
                            RejectKind::UnknownNamespace,
                            format!("root element {local} is in no TAXII namespace"),
                        )
                        .at(at))
                    }
                };
                let spec = schema::message_spec(dialect, local).ok_or_else(|| {
                    Reject::new(
                        RejectKind::UnknownMessage,
                        format!(
                            "{local} is not a TAXII {dialect} message (namespace {})",
                            dialect.namespace()
                        ),
                    )
                    .at(at)
                })?;
                let mut env = new_envelope(dialect, spec.kind, spec.root.name);
                env.root_prefix = qname.prefix().map(|p| p.into_inner().to_string());
                self.env = Some(env);
                &spec.root
            }
            (Some(parent), Some(env)) => {
                let dialect = env.dialect;
                let children = match parent.node.body {
                    Body::Elements(children) => children,
                    Body::Text(_) | Body::Empty => {
                        return Err(Reject::new(
                            RejectKind::UnexpectedElement,
                            format!("{} holds no elements, found {local}", parent.node.name),
                        )
                        .at(at))
                    }
                    // Payload content never reaches the reader: the skipper consumed it.
                    Body::Payload => {
                        return Err(
                            Reject::new(RejectKind::Malformed, "payload was not skipped").at(at),
                        )
                    }
                };
                let slot = children.iter().position(|c| {
                    let n = c.node;
                    match n.ns {
                        Ns::Taxii => ns == NsClass::Taxii(dialect) && n.name == local,
                        Ns::Dsig => ns == NsClass::Dsig && n.name == local,
                        Ns::Other => ns != NsClass::Taxii(dialect),
                    }
                });
                let Some(slot) = slot else {
                    let what = match ns {
                        NsClass::Taxii(d) if d == dialect => local.to_string(),
                        _ => format!(
                            "{local} (namespace {})",
                            qname.prefix().map(|p| p.into_inner()).unwrap_or("none")
                        ),
                    };
                    return Err(Reject::new(
                        RejectKind::UnexpectedElement,
                        format!("{what} is not allowed in {}", parent.node.name),
                    )
                    .at(at));
                };
                parent.counts[slot] += 1;
                let child = children[slot];
                if parent.counts[slot] > child.max {
                    return Err(Reject::new(
                        RejectKind::RepeatedField,
                        format!(
                            "{} appears more than once in {}",
                            child.node.name, parent.node.name
                        ),
                    )
                    .at(at));
                }
                child.node
            }
            (Some(_), None) => {
                return Err(Reject::new(RejectKind::Malformed, "element outside a message").at(at))
            }
        };

        let mut frame = Frame {
            node,
            counts: [0; MAX_CHILD_SLOTS],
            attrs_seen: 0,
            start: at,
            text: String::new(),
            text_span: None,
            service_type: match node.role {
                Role::Service(Some(t)) => Some(t.to_string()),
                _ => None,
            },
            service_address: None,
            header_name: None,
        };
        self.attributes(node, e, at, reader, &mut frame)?;
        if let Some(env) = self.env.as_mut() {
            match node.role {
                Role::ContentBlock => env.content_blocks += 1,
                Role::Signature => env.signed = true,
                Role::Plain
                | Role::Service(_)
                | Role::FeedRecord
                | Role::ExtendedHeaders
                | Role::ExtendedHeader => {}
            }
        }
        self.frames.push(frame);
        Ok(())
    }

    fn attributes(
        &mut self,
        node: &'static Node,
        e: &BytesStart<'a>,
        at: usize,
        reader: &NsReader<&'a [u8]>,
        frame: &mut Frame,
    ) -> Result<(), Reject> {
        let envelope_element = node.ns == Ns::Taxii;
        let mut count = 0;
        for attr in e.attributes().with_checks(true) {
            let attr =
                attr.map_err(|err| Reject::new(RejectKind::Malformed, err.to_string()).at(at))?;
            count += 1;
            if count > self.limits.max_attributes {
                return Err(self.limit(
                    RejectKind::TooManyAttributes,
                    format!(
                        "more than {} attributes on {}",
                        self.limits.max_attributes, node.name
                    ),
                    at,
                ));
            }
            let key = attr.key;
            if key.as_ref().len() > self.limits.max_name_bytes {
                return Err(self.limit(
                    RejectKind::NameTooLong,
                    format!("a name longer than {} bytes", self.limits.max_name_bytes),
                    at,
                ));
            }
            // As for element names: quick-xml does not check attribute names.
            if !valid_name(key.as_ref().as_bytes()) {
                return Err(Reject::new(RejectKind::Malformed, "invalid attribute name").at(at));
            }
            if attr.value.len() > self.limits.max_attribute_bytes {
                return Err(self.limit(
                    RejectKind::AttributeTooLong,
                    format!(
                        "attribute {} of {} is longer than {} bytes",
                        lossy(key.as_ref()),
                        node.name,
                        self.limits.max_attribute_bytes
                    ),
                    at,
                ));
            }
            let value = attr
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|err| {
                    let kind = if err.to_string().contains("entity") {
                        RejectKind::Entity
                    } else {
                        RejectKind::Malformed
                    };
                    Reject::new(kind, format!("attribute {}: {err}", lossy(key.as_ref()))).at(at)
                })?;
            if value.chars().any(|c| !skip::is_xml_char(c)) {
                return Err(Reject::new(
                    RejectKind::Malformed,
                    "invalid character in an attribute",
                )
                .at(at));
            }
            if key.as_namespace_binding().is_some() || !envelope_element {
                continue;
            }
            let (res, local) = reader.resolver().resolve_attribute(key);
            match res {
                ResolveResult::Unbound => {}
                ResolveResult::Bound(ns) if ns.as_ref() == NS_XML || ns.as_ref() == NS_XSI => {
                    continue
                }
                ResolveResult::Bound(ns) => {
                    return Err(Reject::new(
                        RejectKind::UnexpectedAttribute,
                        format!(
                            "namespaced attribute {} ({}) is not allowed on {}",
                            lossy(key.as_ref()),
                            lossy(ns.as_ref()),
                            node.name
                        ),
                    )
                    .at(at))
                }
                ResolveResult::Unknown(prefix) => {
                    return Err(Reject::new(
                        RejectKind::Malformed,
                        format!("undeclared namespace prefix {}", lossy(&prefix)),
                    )
                    .at(at))
                }
            }
            let name: &str = local.as_ref();
            let Some(index) = node.attrs.iter().position(|a| a.name == name) else {
                return Err(Reject::new(
                    RejectKind::UnexpectedAttribute,
                    format!("attribute {name} is not allowed on {}", node.name),
                )
                .at(at));
            };
            frame.attrs_seen |= 1 << index;
            let span = self.span_of(attr.value.as_bytes());
            let field = Field {
                value: value.into_owned(),
                span,
            };
            match node.attrs[index].capture {
                Capture::ServiceType => {
                    frame.service_type = Some(values::collapse(&field.value).to_string())
                }
                Capture::HeaderName => {
                    frame.header_name = Some(values::collapse(&field.value).to_string())
                }
                capture => self.capture(capture, field, node.attrs[index].name, at)?,
            }
        }
        if envelope_element {
            for (i, a) in node.attrs.iter().enumerate() {
                if a.required && frame.attrs_seen & (1 << i) == 0 {
                    return Err(Reject::new(
                        RejectKind::MissingField,
                        format!("{} lacks the required attribute {}", node.name, a.name),
                    )
                    .at(at));
                }
            }
        }
        Ok(())
    }

    /// The byte range of a slice of the input (attribute values borrow from it).
    fn span_of(&self, bytes: &[u8]) -> Range<usize> {
        let base = self.input.as_ptr() as usize;
        let p = bytes.as_ptr() as usize;
        if p >= base && p + bytes.len() <= base + self.input.len() {
            self.abs(p - base)..self.abs(p - base + bytes.len())
        } else {
            0..0
        }
    }

    /// Draft 1 `extended-headers`: its content (`input[start..end]`, already checked by the
    /// skipper) holds the headers as elements; records each top-level one by local name.
    fn draft1_headers(&mut self, start: usize, end: usize) {
        let Some(env) = self.env.as_mut() else {
            return;
        };
        let slice = &self.input[start..end];
        let mut reader = quick_xml::Reader::from_reader(slice);
        let mut depth = 0usize;
        let mut open: Option<(String, usize)> = None;
        let base = (start + self.origin).saturating_sub(self.prefix_len);
        loop {
            let before = reader.buffer_position() as usize;
            let event = match reader.read_event() {
                Ok(Event::Eof) | Err(_) => break,
                Ok(event) => event,
            };
            let after = reader.buffer_position() as usize;
            let local = |e: &BytesStart<'_>| {
                let local_name = e.local_name();
                let name: &str = local_name.as_ref();
                name.to_string()
            };
            match event {
                Event::Start(e) => {
                    if depth == 0 {
                        open = Some((local(&e), before));
                    }
                    depth += 1;
                }
                Event::Empty(e) if depth == 0 => env.extended_headers.push(HeaderRef {
                    name: local(&e),
                    span: base + before..base + after,
                }),
                Event::End(_) => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        if let Some((name, from)) = open.take() {
                            env.extended_headers.push(HeaderRef {
                                name,
                                span: base + from..base + after,
                            });
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Character data at `span`, of which `markup` bytes are not character data (CDATA's).
    fn text(&mut self, content: &str, span: Range<usize>, markup: usize) -> Result<(), Reject> {
        if span.len().saturating_sub(markup) > self.limits.max_text_bytes {
            return Err(self.limit(
                RejectKind::TextTooLong,
                format!(
                    "a text run longer than {} bytes",
                    self.limits.max_text_bytes
                ),
                span.start,
            ));
        }
        // XML 1.0 §2.2: character data holds `Char`s only (no C0 controls but tab, LF, CR; no
        // U+FFFE, U+FFFF). quick-xml does not check, and this text becomes field values (ids,
        // names, addresses) that reach policy and logs; attribute values are checked likewise.
        if !content.chars().all(skip::is_xml_char) {
            return Err(Reject::new(
                RejectKind::Malformed,
                "a character not allowed in XML character data",
            )
            .at(span.start));
        }
        let Some(frame) = self.frames.last_mut() else {
            if content.chars().all(values::is_xml_space) {
                return Ok(());
            }
            return Err(
                Reject::new(RejectKind::Malformed, "text outside the root element").at(span.start),
            );
        };
        match frame.node.body {
            Body::Text(_) => {
                if frame.text.len() + content.len() > self.limits.max_text_bytes {
                    return Err(Reject::new(
                        RejectKind::TextTooLong,
                        format!(
                            "{} is longer than {} bytes",
                            frame.node.name, self.limits.max_text_bytes
                        ),
                    )
                    .at(span.start));
                }
                frame.text.push_str(content);
                frame.text_span = Some(match frame.text_span.take() {
                    Some(s) => s.start..span.end,
                    None => span,
                });
                Ok(())
            }
            _ if content.chars().all(values::is_xml_space) => Ok(()),
            _ => Err(Reject::new(
                RejectKind::UnexpectedText,
                format!("{} holds elements only, found text", frame.node.name),
            )
            .at(span.start)),
        }
    }

    /// The end of the innermost open element, `end` being the offset after its end tag.
    fn close(&mut self, end: usize) -> Result<(), Reject> {
        let Some(frame) = self.frames.pop() else {
            return Err(Reject::new(RejectKind::Malformed, "end tag without start tag").at(end));
        };
        let node = frame.node;
        if self.frames.len() == 1 {
            if let Some(env) = self.env.as_mut() {
                env.root_children.push(ChildRef {
                    name: node.name,
                    span: frame.start..end,
                    text: match node.body {
                        Body::Text(_) => frame.text_span.clone(),
                        _ => None,
                    },
                });
            }
        }
        if let Body::Elements(children) = node.body {
            for (i, c) in children.iter().enumerate() {
                if frame.counts[i] < c.min {
                    return Err(Reject::new(
                        RejectKind::MissingField,
                        format!("{} lacks the required element {}", node.name, c.node.name),
                    )
                    .at(frame.start));
                }
            }
        }
        if let Body::Text(capture) = node.body {
            let span = frame.text_span.clone().unwrap_or(end..end);
            let field = Field {
                value: frame.text,
                span,
            };
            match capture {
                Capture::ServiceAddress => match self.frames.last_mut() {
                    Some(parent) if matches!(parent.node.role, Role::Service(_)) => {
                        parent.service_address = Some(field)
                    }
                    _ => {
                        return Err(Reject::new(
                            RejectKind::Malformed,
                            "address outside a service record",
                        )
                        .at(frame.start))
                    }
                },
                capture => self.capture(capture, field, node.name, frame.start)?,
            }
            return self.after_close(None);
        }
        let Some(env) = self.env.as_mut() else {
            return Ok(());
        };
        match node.role {
            Role::Service(_) => {
                if let (Some(service_type), Some(address)) =
                    (frame.service_type, frame.service_address)
                {
                    env.services.push(ServiceRef {
                        service_type,
                        element: node.name,
                        address,
                        span: frame.start..end,
                    });
                }
            }
            Role::ContentBlock => env.content_block_spans.push(frame.start..end),
            Role::FeedRecord => {
                // The name attribute, captured from the start tag: the first feed name after it.
                let name = env
                    .feeds
                    .iter()
                    .rev()
                    .take_while(|f| f.span.start > frame.start)
                    .last();
                if let Some(name) = name {
                    env.feed_records.push(FeedRecord {
                        name: name.clone(),
                        span: frame.start..end,
                    });
                }
            }
            Role::ExtendedHeader => env.extended_headers.push(HeaderRef {
                name: frame.header_name.unwrap_or_default(),
                span: frame.start..end,
            }),
            Role::ExtendedHeaders => env.extended_headers_span = Some(frame.start..end),
            Role::Plain | Role::Signature => {}
        }
        if self.frames.is_empty() {
            return self.after_close(Some((&frame.counts, frame.attrs_seen)));
        }
        Ok(())
    }

    /// Runs the cross-field checks once the root element closes (`root` carries its child counts
    /// and attribute bits).
    fn after_close(&mut self, root: Option<(&[u32; MAX_CHILD_SLOTS], u32)>) -> Result<(), Reject> {
        let Some((counts, attrs_seen)) = root else {
            return Ok(());
        };
        self.root_closed = true;
        let Some(env) = self.env.as_ref() else {
            return Ok(());
        };
        let Some(spec) = schema::spec_of(env.dialect, env.kind) else {
            return Ok(());
        };
        // A field is a child element or an attribute of the root.
        let count_of = |name: &str| -> u32 {
            if let Body::Elements(children) = spec.root.body {
                if let Some(i) = children.iter().position(|c| c.node.name == name) {
                    return counts[i];
                }
            }
            match spec.root.attrs.iter().position(|a| a.name == name) {
                Some(i) => (attrs_seen >> i) & 1,
                None => 0,
            }
        };
        for check in spec.checks {
            match *check {
                Check::ExactlyOneOf(a, b) => {
                    if count_of(a) + count_of(b) != 1 {
                        return Err(Reject::new(
                            RejectKind::InvalidCombination,
                            format!("{} needs exactly one of {a} or {b}", spec.root.name),
                        ));
                    }
                }
                Check::RequiredFor(field, actions) => {
                    let Some(action) = env.action.as_ref() else {
                        continue;
                    };
                    let action = values::collapse(&action.value);
                    if actions.contains(&action) && count_of(field) == 0 {
                        return Err(Reject::new(
                            RejectKind::MissingField,
                            format!("{} with action {action} needs {field}", spec.root.name),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Puts a value where it belongs in the envelope, after checking its syntax.
    fn capture(
        &mut self,
        capture: Capture,
        field: Field,
        name: &str,
        at: usize,
    ) -> Result<(), Reject> {
        let Some(env) = self.env.as_mut() else {
            return Ok(());
        };
        let dialect = env.dialect;
        let invalid =
            |why: &str| Reject::new(RejectKind::InvalidValue, format!("{name} {why}")).at(at);
        match capture {
            Capture::Ignore => {}
            Capture::MessageId => {
                values::valid_message_id(dialect, &field.value).map_err(invalid)?;
                env.message_id = field;
            }
            Capture::InResponseTo => {
                values::valid_message_id(dialect, &field.value).map_err(invalid)?;
                env.in_response_to = Some(field);
            }
            Capture::Feed => {
                if values::collapse(&field.value).is_empty() {
                    return Err(invalid("is empty"));
                }
                env.feeds.push(field);
            }
            Capture::Destination => {
                if values::collapse(&field.value).is_empty() {
                    return Err(invalid("is empty"));
                }
                env.destinations.push(field.clone());
                env.feeds.push(field);
            }
            Capture::Action(allowed) => {
                let v = values::collapse(&field.value);
                if !allowed.contains(&v) {
                    return Err(invalid(&format!(
                        "{v:?} is not one of {}",
                        allowed.join(", ")
                    )));
                }
                env.action = Some(field);
            }
            Capture::SubscriptionId => {
                if values::collapse(&field.value).is_empty() {
                    return Err(invalid("is empty"));
                }
                env.subscription_ids.push(field);
            }
            Capture::ContentBinding => {
                let v = values::collapse(&field.value);
                if v.is_empty() {
                    return Err(invalid("is empty"));
                }
                if !env.content_bindings.iter().any(|b| b == v) {
                    env.content_bindings.push(v.to_string());
                }
            }
            Capture::DeliveryAddress => {
                // Draft 1 XML Binding §3.6: send-to is ignored and SHOULD be empty for POLL.
                if !values::collapse(&field.value).is_empty() {
                    env.delivery_addresses.push(field);
                } else if dialect != Dialect::Draft1 {
                    return Err(invalid("is empty"));
                }
            }
            Capture::StatusType => {
                if values::collapse(&field.value).is_empty() {
                    return Err(invalid("is empty"));
                }
                env.status_type = Some(field);
            }
            Capture::Timestamp => {
                values::valid_timestamp(dialect, &field.value).map_err(invalid)?
            }
            Capture::BeginTimestamp => {
                values::valid_timestamp(dialect, &field.value).map_err(invalid)?;
                env.begin_timestamp = Some(field);
            }
            Capture::EndTimestamp => {
                values::valid_timestamp(dialect, &field.value).map_err(invalid)?;
                env.end_timestamp = Some(field);
            }
            Capture::Boolean => {
                if !values::valid_boolean(&field.value) {
                    return Err(invalid("is not a boolean"));
                }
            }
            Capture::Integer => {
                if !values::valid_integer(&field.value) {
                    return Err(invalid("is not a non-negative integer"));
                }
            }
            // Handled by the caller, which knows the service record or header.
            Capture::ServiceType | Capture::ServiceAddress | Capture::HeaderName => {}
        }
        Ok(())
    }
}

/// The envelope scan of a message that arrives in pieces (a poll response streaming from an
/// upstream), in bounded memory.
///
/// [`StreamScanner::feed`] takes each piece; [`StreamScanner::verified`] says how many bytes from
/// the start have been read completely and may be passed on; [`StreamScanner::finish`] ends the
/// message and returns the same envelope [`scan_body`] gives for the whole, or the same kind of
/// rejection. Only the unfinished child of the root element (one content block, say) is held,
/// up to `max_held_bytes`; the scan resumes after the last complete child with the root start
/// tag replayed for its namespace scope. A piece that ends mid-element is retried once the held
/// bytes have doubled, so the work stays linear in the message size.
pub struct StreamScanner {
    limits: ScanLimits,
    /// Bytes not yet verified; `buf[0]` is at `origin` in the message.
    buf: Vec<u8>,
    origin: usize,
    total: usize,
    root_tag: Option<Vec<u8>>,
    resume: Option<(Envelope, Checkpoint)>,
    retry_at: usize,
}

impl StreamScanner {
    pub fn new(limits: ScanLimits) -> StreamScanner {
        StreamScanner {
            limits,
            buf: Vec::new(),
            origin: 0,
            total: 0,
            root_tag: None,
            resume: None,
            retry_at: 0,
        }
    }

    /// Bytes from the start of the message that are completely read and valid so far.
    pub fn verified(&self) -> usize {
        self.origin
    }

    /// The byte ranges (from the start of the message) of the content blocks read completely
    /// so far, in document order: 1.x `Content_Block` elements, Draft 1 STIX documents. Each
    /// ends at or before [`StreamScanner::verified`], so a caller can digest a block as soon
    /// as its bytes are released.
    pub fn content_block_spans(&self) -> &[Range<usize>] {
        match &self.resume {
            Some((env, _)) => &env.content_block_spans,
            None => &[],
        }
    }

    /// The feed/collection names read so far (absolute spans, each ending at or before
    /// [`StreamScanner::verified`]): a streaming caller can rename the root's feed name once
    /// the root start tag is released.
    pub fn feeds_so_far(&self) -> &[super::envelope::Field] {
        match &self.resume {
            Some((env, _)) => &env.feeds,
            None => &[],
        }
    }

    /// Forgets what was recorded about the root's children that end at or before `offset`
    /// (their content block spans, returned, and their [`Envelope::root_children`] entries).
    /// A streaming caller that has dealt with those bytes keeps the scanner's memory bounded by
    /// what it still holds, however many blocks a long answer has; the envelope
    /// [`StreamScanner::finish`] returns then lists only the children after the last call.
    pub fn drain_released(&mut self, offset: usize) -> Vec<Range<usize>> {
        let Some((env, cp)) = self.resume.as_mut() else {
            return Vec::new();
        };
        // The resume state is the checkpoint's: its marks are the vectors' lengths.
        let blocks = env
            .content_block_spans
            .partition_point(|s| s.end <= offset)
            .min(cp.env.content_block_spans);
        let children = env
            .root_children
            .partition_point(|c| c.span.end <= offset)
            .min(cp.env.root_children);
        cp.env.content_block_spans -= blocks;
        cp.env.root_children -= children;
        env.root_children.drain(..children);
        env.content_block_spans.drain(..blocks).collect()
    }

    /// Takes the next piece of the message.
    pub fn feed(&mut self, piece: &[u8]) -> Result<(), Reject> {
        self.total += piece.len();
        if self.total > self.limits.max_total_bytes {
            return Err(Reject::new(
                RejectKind::TooLarge,
                format!("message exceeds {} bytes", self.limits.max_total_bytes),
            ));
        }
        self.buf.extend_from_slice(piece);
        // Past the hold limit, try once more before refusing: the postponed retries (`retry_at`)
        // can leave complete children unverified in `buf`, and only an incomplete element may
        // count against the limit. Without this, children well under the limit were refused
        // depending on how the message was cut. Linear still: every two forced attempts
        // verify at least `max_held_bytes` new bytes, or the next one refuses.
        if self.buf.len() >= self.retry_at || self.buf.len() > self.limits.max_held_bytes {
            self.attempt(false)?;
        }
        if self.buf.len() > self.limits.max_held_bytes {
            return Err(Reject::new(
                RejectKind::TooLarge,
                format!(
                    "an element of more than {} bytes while streaming",
                    self.limits.max_held_bytes
                ),
            )
            .at(self.origin));
        }
        Ok(())
    }

    /// Ends the message.
    pub fn finish(mut self) -> Result<Envelope, Reject> {
        self.attempt(true)?;
        match self.resume {
            Some((env, cp)) if cp.root_closed => Ok(env),
            Some(_) => Err(Reject::new(
                RejectKind::Malformed,
                "the document ends inside an element",
            )
            .at(self.total)),
            None => Err(Reject::new(RejectKind::Empty, "the body holds no element")),
        }
    }

    fn attempt(&mut self, last: bool) -> Result<(), Reject> {
        let valid = match std::str::from_utf8(&self.buf) {
            Ok(_) => self.buf.len(),
            // A character split between two pieces: wait for the rest.
            Err(e) if e.error_len().is_none() && !last => e.valid_up_to(),
            Err(e) => {
                return Err(
                    Reject::new(RejectKind::Encoding, "the body is not valid UTF-8")
                        .at(self.origin + e.valid_up_to()),
                )
            }
        };
        if self.origin == 0
            && (self.buf.starts_with(&[0xFE, 0xFF]) || self.buf.starts_with(&[0xFF, 0xFE]))
        {
            return Err(
                Reject::new(RejectKind::Encoding, "UTF-16 is not accepted; send UTF-8").at(0),
            );
        }
        // Nothing yet but a UTF-8 byte order mark: wait for more. Scanning it alone would verify
        // it and drop it from the buffer, and the XML declaration after it would then no longer
        // be "at the start" (a BOM'd message was refused when a piece ended right after the BOM).
        if self.origin == 0 && valid == 3 && self.buf.starts_with(&[0xEF, 0xBB, 0xBF]) && !last {
            return Ok(());
        }
        let replay = match (&self.root_tag, &self.resume) {
            (Some(tag), Some((_, cp))) if !cp.root_closed => Some(tag.as_slice()),
            _ => None,
        };
        let joined;
        let (input, prefix_len): (&[u8], usize) = match replay {
            Some(tag) => {
                joined = [tag, &self.buf[..valid]].concat();
                (&joined, tag.len())
            }
            None => (&self.buf[..valid], 0),
        };
        let mut sc = Scanner::new(input, &self.limits);
        sc.streaming = true;
        sc.prefix_len = prefix_len;
        sc.origin = self.origin;
        // The envelope so far moves into the scanner (a clone per attempt made a long answer's
        // scan quadratic in its blocks); `resumed` keeps the checkpoint to restore it to.
        let resumed = match self.resume.take() {
            Some((env, cp)) => {
                sc.env = Some(env);
                sc.frames.extend(cp.root.clone());
                sc.skip.elements = cp.elements;
                sc.root_closed = cp.root_closed;
                sc.replay_root = prefix_len > 0;
                Some(cp)
            }
            None => None,
        };
        let bom = if self.origin == 0 && input.starts_with(&[0xEF, 0xBB, 0xBF]) {
            3
        } else {
            0
        };
        let result = sc.run(bom);
        if self.root_tag.is_none() {
            self.root_tag = sc.root_tag.take();
        }
        match result {
            Ok(()) => {
                // The input ended cleanly with the root closed: all of it is verified.
                let end_state = sc.env.take().map(|env| {
                    let cp = Checkpoint {
                        at: self.origin + valid,
                        env: EnvMark::of(&env),
                        root: None,
                        elements: sc.skip.elements,
                        root_closed: true,
                    };
                    (env, cp)
                });
                self.resume = end_state;
                self.buf.drain(..valid);
                self.origin += valid;
                self.retry_at = 0;
                Ok(())
            }
            // Anything malformed may just be cut short: resume from the last checkpoint once
            // more has arrived. Every other kind is final at once.
            Err(r) if !last && r.kind == RejectKind::Malformed => {
                match (sc.checkpoint.take(), sc.env.take(), resumed) {
                    (Some(cp), Some(mut env), _) => {
                        cp.env.restore(&mut env);
                        let consumed = cp.at - self.origin;
                        self.buf.drain(..consumed);
                        self.origin = cp.at;
                        self.resume = Some((env, cp));
                    }
                    // No new checkpoint: back to where this attempt started.
                    (None, Some(mut env), Some(cp)) => {
                        cp.env.restore(&mut env);
                        self.resume = Some((env, cp));
                    }
                    _ => {}
                }
                self.retry_at = (self.buf.len() * 2).max(self.buf.len() + 4096);
                Ok(())
            }
            Err(mut r) => {
                if r.message_id.is_none() {
                    r.message_id = sc
                        .env
                        .as_ref()
                        .map(|e| e.message_id.value.clone())
                        .filter(|v| !v.is_empty());
                }
                Err(r)
            }
        }
    }
}

pub(crate) fn new_envelope(dialect: Dialect, kind: MessageKind, message: &'static str) -> Envelope {
    Envelope {
        dialect,
        kind,
        message,
        message_id: Field {
            value: String::new(),
            span: 0..0,
        },
        in_response_to: None,
        feeds: Vec::new(),
        destinations: Vec::new(),
        action: None,
        subscription_ids: Vec::new(),
        content_bindings: Vec::new(),
        begin_timestamp: None,
        end_timestamp: None,
        delivery_addresses: Vec::new(),
        services: Vec::new(),
        feed_records: Vec::new(),
        status_type: None,
        content_blocks: 0,
        content_block_spans: Vec::new(),
        signed: false,
        query_extended_headers: Vec::new(),
        extended_headers: Vec::new(),
        extended_headers_span: None,
        root_start_tag: 0..0,
        root_end_tag: 0..0,
        root_self_closing: false,
        root_prefix: None,
        root_children: Vec::new(),
    }
}
