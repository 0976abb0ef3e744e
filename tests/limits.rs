//! Table tests at the library level:
//!
//! - [`limit_cases`]: every limit of [`ScanLimits`], in the envelope and in the payload where it
//!   applies (and in Draft 1 GET queries, and while streaming). Each case is a message and the
//!   quantity the limit bounds in it: with the limit set to that quantity (or one more) the
//!   message passes; one less and it is refused with the limit's kind, at the place the case
//!   names.
//! - [`kind_cases`]: every [`RejectKind`], with the body and HTTP context that produce it.
//!
//! [`every_reject_kind_is_produced_by_a_case`] fails when a kind is added to `RejectKind::ALL`
//! without a case here, and [`every_limit_has_cases`] when a limit is added to `ScanLimits`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use serde_json::json;
use taxii_gateway::taxii::{
    scan_body, scan_message, Envelope, HttpContext, Reject, RejectKind, ScanLimits, StreamScanner,
    Transport,
};

const NS_D1: &str = "http://taxii.mitre.org/messages/xml/1";
const NS_10: &str = "http://taxii.mitre.org/messages/taxii_xml_binding-1";
const NS_11: &str = "http://taxii.mitre.org/messages/taxii_xml_binding-1.1";

/// The default limits with one of them changed, by its field name (so that a misspelt or
/// removed limit fails here: `ScanLimits` refuses unknown keys).
fn limits_with(limit: &str, value: usize) -> ScanLimits {
    serde_json::from_value(json!({ limit: value }))
        .unwrap_or_else(|e| panic!("ScanLimits has no limit {limit}: {e}"))
}

/// How a case's input is read.
#[derive(Clone)]
enum Read {
    /// `scan_body`.
    Body,
    /// `scan_message` with this HTTP context.
    Http(Ctx),
    /// `StreamScanner`, fed in pieces of this size.
    Stream(usize),
}

/// An HTTP context, written as data.
#[derive(Clone, Default)]
struct Ctx {
    method: Option<&'static str>,
    query: Option<String>,
    headers: &'static [(&'static str, &'static str)],
    transport: Option<Transport>,
}

impl Ctx {
    /// The context, or the refusal `HttpContext::header` gives while building it.
    fn build(&self) -> Result<HttpContext, Reject> {
        let mut ctx = match self.method {
            Some(m) => HttpContext::request(m, self.query.as_deref()),
            None => HttpContext {
                query: self.query.clone(),
                ..HttpContext::default()
            },
        };
        ctx.transport = self.transport;
        for (name, value) in self.headers {
            ctx.header(name, value)?;
        }
        Ok(ctx)
    }
}

fn read(how: &Read, body: &[u8], limits: ScanLimits) -> Result<Envelope, Reject> {
    match how {
        Read::Body => scan_body(body, &limits),
        Read::Http(ctx) => scan_message(&ctx.build()?, body, &limits),
        Read::Stream(piece) => {
            let mut s = StreamScanner::new(limits);
            for chunk in body.chunks((*piece).max(1)) {
                s.feed(chunk)?;
            }
            s.finish()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

struct LimitCase {
    /// The `ScanLimits` field.
    limit: &'static str,
    /// Where the bounded quantity is: `envelope`, `payload`, `query`, `body` or `stream`.
    place: &'static str,
    what: &'static str,
    read: Read,
    body: String,
    /// The quantity the limit bounds in `body`: the smallest limit that lets it pass.
    measure: usize,
    /// A piece of `body` holding the offset of the refusal (`None`: the refusal has no offset).
    locus: Option<String>,
    kind: RejectKind,
}

/// A 1.1 Inbox_Message with one content block holding `content`: the root is at depth 1, the
/// content block at 2, its Content element at 3, so payload elements start at depth 4; the
/// envelope has 4 elements.
fn inbox11(content: &str) -> String {
    format!(
        r#"<Inbox_Message xmlns="{NS_11}" message_id="urn:example-isac:limits:1"><Content_Block><Content_Binding binding_id="urn:stix.mitre.org:xml:1.1.1"/><Content>{content}</Content></Content_Block></Inbox_Message>"#
    )
}

fn limit_cases() -> Vec<LimitCase> {
    let mut cases = Vec::new();

    // max_total_bytes: the whole body, padded with trailing white space to exactly 200 bytes.
    let mut padded = format!(r#"<Discovery_Request xmlns="{NS_11}" message_id="urn:x:1"/>"#);
    padded.push_str(&" ".repeat(200 - padded.len()));
    cases.push(LimitCase {
        limit: "max_total_bytes",
        place: "body",
        what: "a 200-byte body",
        read: Read::Body,
        body: padded.clone(),
        measure: 200,
        locus: None,
        kind: RejectKind::TooLarge,
    });
    cases.push(LimitCase {
        limit: "max_total_bytes",
        place: "stream",
        what: "a 200-byte body in pieces of 7",
        read: Read::Stream(7),
        body: padded,
        measure: 200,
        locus: None,
        kind: RejectKind::TooLarge,
    });

    // max_depth: root = 1.
    let sub = format!(
        r#"<Subscription_Management_Response xmlns="{NS_11}" message_id="urn:x:2" in_response_to="urn:x:1" collection_name="phishing-urls"><Subscription><Subscription_ID>urn:example-isac:sub:1</Subscription_ID><Subscription_Parameters><Content_Binding binding_id="urn:stix.mitre.org:xml:1.1.1"><Subtype subtype_id="urn:example-isac:subtype:indicators"/></Content_Binding></Subscription_Parameters></Subscription></Subscription_Management_Response>"#
    );
    cases.push(LimitCase {
        limit: "max_depth",
        place: "envelope",
        what: "Subtype at depth 5",
        read: Read::Body,
        body: sub,
        measure: 5,
        locus: Some("<Subtype".into()),
        kind: RejectKind::TooDeep,
    });
    cases.push(LimitCase {
        limit: "max_depth",
        place: "payload",
        what: "a STIX element at depth 7",
        read: Read::Body,
        body: inbox11("<a><b><c><d/></c></b></a>"),
        measure: 7,
        locus: Some("<d/>".into()),
        kind: RejectKind::TooDeep,
    });
    cases.push(LimitCase {
        limit: "max_depth",
        place: "payload",
        what: "an extended header element at depth 5 (Draft 1)",
        read: Read::Body,
        body: format!(
            r#"<TAXII_DiscoveryRequest xmlns="{NS_D1}" message-id="00ff"><extended-headers><h><i><j/></i></h></extended-headers></TAXII_DiscoveryRequest>"#
        ),
        measure: 5,
        locus: Some("<j/>".into()),
        kind: RejectKind::TooDeep,
    });

    // max_elements: every element, envelope and payload.
    let services = format!(
        r#"<Discovery_Response xmlns="{NS_11}" message_id="urn:x:3" in_response_to="urn:x:1"><Service_Instance service_type="POLL" service_version="urn:taxii.mitre.org:services:1.1"><Protocol_Binding>urn:taxii.mitre.org:protocol:https:1.0</Protocol_Binding><Address>https://taxii.example-isac.org/poll/</Address><Message_Binding>urn:taxii.mitre.org:message:xml:1.1</Message_Binding></Service_Instance><Service_Instance service_type="INBOX" service_version="urn:taxii.mitre.org:services:1.1"><Protocol_Binding>urn:taxii.mitre.org:protocol:https:1.0</Protocol_Binding><Address>https://submit.example-isac.org/inbox/</Address><Message_Binding>urn:example-isac:last</Message_Binding></Service_Instance></Discovery_Response>"#
    );
    cases.push(LimitCase {
        limit: "max_elements",
        place: "envelope",
        what: "1 + 2 x 4 envelope elements",
        read: Read::Body,
        body: services,
        measure: 9,
        locus: Some("<Message_Binding>urn:example-isac:last".into()),
        kind: RejectKind::TooManyElements,
    });
    cases.push(LimitCase {
        limit: "max_elements",
        place: "payload",
        what: "4 envelope + 5 payload elements",
        read: Read::Body,
        body: inbox11("<i/><i/><i/><i/><last/>"),
        measure: 9,
        locus: Some("<last/>".into()),
        kind: RejectKind::TooManyElements,
    });

    // max_attributes: namespace declarations count.
    let decls: String = (0..5)
        .map(|i| format!(r#" xmlns:p{i}="urn:example-isac:ns:{i}""#))
        .collect();
    cases.push(LimitCase {
        limit: "max_attributes",
        place: "envelope",
        what: "message_id, collection_name, xmlns and 5 prefix declarations on the root",
        read: Read::Body,
        body: format!(
            r#"<Poll_Request xmlns="{NS_11}"{decls} message_id="urn:x:4" collection_name="phishing-urls"><Subscription_ID>urn:example-isac:sub:1</Subscription_ID></Poll_Request>"#
        ),
        measure: 8,
        locus: Some("<Poll_Request".into()),
        kind: RejectKind::TooManyAttributes,
    });
    let attrs: String = (0..8).map(|i| format!(r#" a{i}="{i}""#)).collect();
    cases.push(LimitCase {
        limit: "max_attributes",
        place: "payload",
        what: "8 attributes on a STIX element",
        read: Read::Body,
        body: inbox11(&format!("<x{attrs}/>")),
        measure: 8,
        locus: Some("<x ".into()),
        kind: RejectKind::TooManyAttributes,
    });
    cases.push(LimitCase {
        limit: "max_attributes",
        place: "query",
        what: "6 extended-header parameters on a Draft 1 GET",
        read: Read::Http(Ctx {
            method: Some("GET"),
            query: Some(
                "message_type=discovery_request&message_id=00ff&a=1&b=2&c=3&d=4&e=5&f=6".into(),
            ),
            ..Ctx::default()
        }),
        body: String::new(),
        measure: 6,
        locus: None,
        kind: RejectKind::TooManyAttributes,
    });

    // max_attribute_bytes: raw bytes between the quotes (the 1.1 namespace URI, 53 bytes, is
    // shorter than the values measured here).
    let long_id = format!("urn:example-isac:{}", "a".repeat(100 - 17));
    cases.push(LimitCase {
        limit: "max_attribute_bytes",
        place: "envelope",
        what: "a 100-byte message_id",
        read: Read::Body,
        body: format!(r#"<Discovery_Request xmlns="{NS_11}" message_id="{long_id}"/>"#),
        measure: 100,
        locus: Some("<Discovery_Request".into()),
        kind: RejectKind::AttributeTooLong,
    });
    cases.push(LimitCase {
        limit: "max_attribute_bytes",
        place: "payload",
        what: "a 100-byte attribute in STIX content",
        read: Read::Body,
        body: inbox11(&format!(r#"<x v="{}"/>"#, "b".repeat(100))),
        measure: 100,
        locus: Some("b".repeat(100)),
        kind: RejectKind::AttributeTooLong,
    });
    cases.push(LimitCase {
        limit: "max_attribute_bytes",
        place: "query",
        what: "a 100-byte decoded parameter value on a Draft 1 GET",
        read: Read::Http(Ctx {
            method: Some("GET"),
            // 99 bytes and one percent-encoded: the decoded value counts.
            query: Some(format!(
                "message_type=discovery_request&message_id=00ff&note={}%21",
                "c".repeat(99)
            )),
            ..Ctx::default()
        }),
        body: String::new(),
        measure: 100,
        locus: None,
        kind: RejectKind::AttributeTooLong,
    });

    // max_text_bytes: a run of character data; CDATA counts its content, not its markup.
    let text = "d".repeat(100);
    cases.push(LimitCase {
        limit: "max_text_bytes",
        place: "envelope",
        what: "a 100-byte Message",
        read: Read::Body,
        body: format!(
            r#"<Status_Message xmlns="{NS_10}" message_id="2" in_response_to="1" status_type="FAILURE"><Message>{text}</Message></Status_Message>"#
        ),
        measure: 100,
        locus: Some(text.clone()),
        kind: RejectKind::TextTooLong,
    });
    cases.push(LimitCase {
        limit: "max_text_bytes",
        place: "envelope",
        what: "a 100-byte CDATA Message",
        read: Read::Body,
        body: format!(
            r#"<Status_Message xmlns="{NS_10}" message_id="2" in_response_to="1" status_type="FAILURE"><Message><![CDATA[{text}]]></Message></Status_Message>"#
        ),
        measure: 100,
        locus: Some(format!("<![CDATA[{text}")),
        kind: RejectKind::TextTooLong,
    });
    let spaces = " ".repeat(100);
    cases.push(LimitCase {
        limit: "max_text_bytes",
        place: "envelope",
        what: "100 bytes of white space between envelope elements",
        read: Read::Body,
        body: format!(
            r#"<Poll_Request xmlns="{NS_11}" message_id="urn:x:5" collection_name="c">{spaces}<Subscription_ID>s</Subscription_ID></Poll_Request>"#
        ),
        measure: 100,
        locus: Some(spaces),
        kind: RejectKind::TextTooLong,
    });
    let text_e = "e".repeat(100);
    cases.push(LimitCase {
        limit: "max_text_bytes",
        place: "payload",
        what: "100 bytes of STIX text",
        read: Read::Body,
        body: inbox11(&format!("<t>{text_e}</t>")),
        measure: 100,
        locus: Some(text_e.clone()),
        kind: RejectKind::TextTooLong,
    });
    cases.push(LimitCase {
        limit: "max_text_bytes",
        place: "payload",
        what: "a 100-byte CDATA section in STIX content",
        read: Read::Body,
        body: inbox11(&format!("<![CDATA[{text_e}]]>")),
        measure: 100,
        locus: Some(format!("<![CDATA[{text_e}")),
        kind: RejectKind::TextTooLong,
    });

    // max_name_bytes: qualified names, prefix included.
    let prefix = "p".repeat(40);
    cases.push(LimitCase {
        limit: "max_name_bytes",
        place: "envelope",
        what: "a 58-byte prefixed root name",
        read: Read::Body,
        body: format!(
            r#"<{prefix}:Discovery_Request xmlns:{prefix}="{NS_11}" message_id="urn:x:6"/>"#
        ),
        measure: 40 + 1 + "Discovery_Request".len(),
        locus: Some(format!("<{prefix}:")),
        kind: RejectKind::NameTooLong,
    });
    let q = "q".repeat(60);
    cases.push(LimitCase {
        limit: "max_name_bytes",
        place: "envelope",
        what: "a 66-byte namespace declaration on the root",
        read: Read::Body,
        body: format!(
            r#"<Discovery_Request xmlns="{NS_11}" xmlns:{q}="urn:example-isac:unused" message_id="urn:x:7"/>"#
        ),
        measure: 6 + 60,
        locus: Some("<Discovery_Request".into()),
        kind: RejectKind::NameTooLong,
    });
    let n = "n".repeat(60);
    cases.push(LimitCase {
        limit: "max_name_bytes",
        place: "payload",
        what: "a 60-byte STIX element name",
        read: Read::Body,
        body: inbox11(&format!("<{n}/>")),
        measure: 60,
        locus: Some(n.clone()),
        kind: RejectKind::NameTooLong,
    });
    cases.push(LimitCase {
        limit: "max_name_bytes",
        place: "payload",
        what: "a 60-byte STIX attribute name",
        read: Read::Body,
        body: inbox11(&format!(r#"<x {n}="1"/>"#)),
        measure: 60,
        locus: Some(n),
        kind: RejectKind::NameTooLong,
    });

    // max_held_bytes: while streaming, an unfinished child of the root is held back. Fed one
    // byte at a time, a child of S bytes is held at S - 1 bytes before its last byte arrives.
    let head = format!(r#"<Inbox_Message xmlns="{NS_11}" message_id="urn:x:8">"#);
    let big = format!(
        r#"<Content_Block><Content_Binding binding_id="urn:stix.mitre.org:xml:1.1.1"/><Content>{}</Content></Content_Block>"#,
        "f".repeat(2000)
    );
    let small =
        r#"<Content_Block><Content_Binding binding_id="b"/><Content>g</Content></Content_Block>"#;
    assert!(big.len() > head.len() && big.len() > small.len());
    cases.push(LimitCase {
        limit: "max_held_bytes",
        place: "stream",
        what: "a content block of about 2 KB, fed one byte at a time",
        read: Read::Stream(1),
        body: format!("{head}{small}{big}{small}</Inbox_Message>"),
        measure: big.len() - 1,
        locus: Some(big.clone()),
        kind: RejectKind::TooLarge,
    });
    cases
}

fn locate(c: &LimitCase, r: &Reject) -> Result<(), String> {
    let Some(locus) = &c.locus else {
        return Ok(());
    };
    let start = c
        .body
        .find(locus.as_str())
        .expect("the locus is in the body");
    match r.offset {
        Some(at) if (start..start + locus.len()).contains(&at) => Ok(()),
        other => Err(format!(
            "refused at {other:?}, outside {locus:?} at {start}..{}",
            start + locus.len()
        )),
    }
}

#[test]
fn every_limit_passes_at_its_value_and_refuses_one_below() {
    let mut failures = Vec::new();
    for c in limit_cases() {
        let name = format!("{} in the {} ({})", c.limit, c.place, c.what);
        for value in [c.measure, c.measure + 1] {
            if let Err(r) = read(&c.read, c.body.as_bytes(), limits_with(c.limit, value)) {
                failures.push(format!("{name}: refused with the limit at {value}: {r}"));
            }
        }
        match read(
            &c.read,
            c.body.as_bytes(),
            limits_with(c.limit, c.measure - 1),
        ) {
            Ok(_) => failures.push(format!(
                "{name}: passed with the limit at {}",
                c.measure - 1
            )),
            Err(r) if r.kind != c.kind => failures.push(format!("{name}: {r}, want {}", c.kind)),
            Err(r) => {
                if let Err(e) = locate(&c, &r) {
                    failures.push(format!("{name}: {e}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The limits `ScanLimits` has, read from its `Debug` form, so that a new field is noticed.
fn limit_names() -> BTreeSet<String> {
    let debug = format!("{:?}", ScanLimits::default());
    let fields = debug
        .strip_prefix("ScanLimits {")
        .and_then(|d| d.strip_suffix('}'))
        .expect("ScanLimits { ... }");
    fields
        .split(',')
        .filter_map(|f| f.split(':').next())
        .map(|f| f.trim().to_string())
        .filter(|f| !f.is_empty())
        .collect()
}

#[test]
fn every_limit_has_cases() {
    let cases = limit_cases();
    let names = limit_names();
    assert!(names.len() >= 8, "ScanLimits fields: {names:?}");
    for name in &names {
        let places: BTreeSet<&str> = cases
            .iter()
            .filter(|c| c.limit == name)
            .map(|c| c.place)
            .collect();
        assert!(!places.is_empty(), "no case for the limit {name}");
        // Limits on the XML structure apply to the envelope and to the payload alike.
        if !["max_total_bytes", "max_held_bytes"].contains(&name.as_str()) {
            assert!(
                places.contains("envelope") && places.contains("payload"),
                "{name} is tested only in {places:?}"
            );
        }
    }
    for c in &cases {
        assert!(names.contains(c.limit), "{} is no limit", c.limit);
        assert!(
            c.kind.is_limit(),
            "{}: {} is no limit kind",
            c.limit,
            c.kind
        );
    }
}

#[test]
fn the_hold_limit_does_not_depend_on_how_the_message_is_cut() {
    // Children well under the hold limit pass however the message is cut (they used to be
    // refused when postponed retries left complete children in the buffer).
    let child = format!(
        r#"<Content_Block><Content_Binding binding_id="b"/><Content>{}</Content></Content_Block>"#,
        "h".repeat(3000)
    );
    let body = format!(
        r#"<Inbox_Message xmlns="{NS_11}" message_id="urn:x:9">{child}{child}{child}</Inbox_Message>"#
    );
    for held in [child.len(), child.len() + 100, 2 * child.len()] {
        for piece in [1, 2, 7, 100, 1000, 4000, body.len()] {
            let limits = limits_with("max_held_bytes", held);
            let got = read(&Read::Stream(piece), body.as_bytes(), limits);
            assert!(got.is_ok(), "held {held}, pieces of {piece}: {got:?}");
        }
    }
    // The case of the table passes at its value in any piece size, not only one byte at a time.
    let c = limit_cases()
        .into_iter()
        .find(|c| c.limit == "max_held_bytes")
        .expect("a max_held_bytes case");
    for piece in [1, 2, 7, 64, 1000, c.body.len()] {
        let got = read(
            &Read::Stream(piece),
            c.body.as_bytes(),
            limits_with(c.limit, c.measure),
        );
        assert!(got.is_ok(), "pieces of {piece}: {got:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Rejection kinds
// ---------------------------------------------------------------------------------------------

struct KindCase {
    what: &'static str,
    read: Read,
    body: String,
    kind: RejectKind,
}

const POST_11: &[(&str, &str)] = &[
    ("Content-Type", "application/xml"),
    (
        "X-TAXII-Content-Type",
        "urn:taxii.mitre.org:message:xml:1.1",
    ),
    ("X-TAXII-Protocol", "urn:taxii.mitre.org:protocol:http:1.0"),
    ("X-TAXII-Services", "urn:taxii.mitre.org:services:1.1"),
];

fn post(headers: &'static [(&'static str, &'static str)]) -> Read {
    Read::Http(Ctx {
        method: Some("POST"),
        headers,
        ..Ctx::default()
    })
}

fn get(query: &str) -> Read {
    Read::Http(Ctx {
        method: Some("GET"),
        query: Some(query.to_string()),
        ..Ctx::default()
    })
}

/// A valid 1.1 Poll_Request with `inner` as its content.
fn poll11(attrs: &str, inner: &str) -> String {
    format!(
        r#"<Poll_Request xmlns="{NS_11}" message_id="urn:example-isac:kinds:1" collection_name="phishing-urls"{attrs}>{inner}</Poll_Request>"#
    )
}

const SUB: &str = "<Subscription_ID>urn:example-isac:sub:1</Subscription_ID>";

#[rustfmt::skip]
fn kind_cases() -> Vec<KindCase> {
    use RejectKind::*;
    let mut cases = Vec::new();
    let mut add = |what, read, body: String, kind| {
        cases.push(KindCase {
            what,
            read,
            body,
            kind,
        })
    };
    let poll = poll11("", SUB);

    add("an empty body", Read::Body, String::new(), Empty);
    add("white space, a comment and a PI", Read::Body, "\n<!-- c --><?pi x?>\n".into(), Empty);

    add("a mismatched end tag", Read::Body, poll11("", "<Subscription_ID>s</Subscription_Id>"), Malformed);
    add("a document cut short", Read::Body, poll[..poll.len() - 3].to_string(), Malformed);
    add("text after the root", Read::Body, format!("{poll}trailing"), Malformed);
    add("an undeclared prefix", Read::Body, poll11("", "<x:Subscription_ID>s</x:Subscription_ID>"), Malformed);
    add("a duplicate attribute", Read::Body, poll11(r#" collection_name="c""#, SUB), Malformed);
    add("an XML declaration after a comment", Read::Body, format!("<!-- c --><?xml version=\"1.0\"?>{poll}"), Malformed);
    add("a control character in envelope text", Read::Body, poll11("", "<Subscription_ID>s\u{1}</Subscription_ID>"), Malformed);
    add("U+FFFF in envelope text", Read::Body, poll11("", "<Subscription_ID>s\u{FFFF}</Subscription_ID>"), Malformed);
    add("a control character in an attribute", Read::Body, poll11(r#" xml:lang="e&#1;""#, SUB), Malformed);
    add("']]>' in envelope text", Read::Body, poll11("", "<Subscription_ID>s]]>t</Subscription_ID>"), Malformed);
    add("a '--' inside a comment", Read::Body, poll11("", "<!-- a -- b -->"), Malformed);
    add("an invalid character reference", Read::Body, poll11("", "<Subscription_ID>&#0;</Subscription_ID>"), Malformed);
    add("an invalid STIX element name (Draft 1)", Read::Body, format!(r#"<TAXII_STIXMessage xmlns="{NS_D1}" xmlns:s="http://stix.mitre.org" message-id="00ff"><content-binding>STIX_XML_1.0</content-binding><s:STIX -x="1"/></TAXII_STIXMessage>"#), Malformed);
    add("a mismatched end tag in STIX content", Read::Body, inbox11("<a><b></a></b>"), Malformed);
    add("an unquoted attribute in STIX content", Read::Body, inbox11("<a b=1/>"), Malformed);

    // These two bodies are no `String`: see `body_of`.
    add("bytes that are not UTF-8", Read::Body, String::new(), Encoding);
    add("a UTF-16 byte order mark", Read::Body, String::new(), Encoding);
    add("a declared Latin-1 encoding", Read::Body, format!("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>{poll}"), Encoding);
    add("a GET query that is not UTF-8", get("message_type=discovery_request&message_id=0f%FE"), String::new(), Encoding);

    add("a DOCTYPE in the prolog", Read::Body, format!("<!DOCTYPE Poll_Request>{poll}"), Doctype);
    add("a DOCTYPE with an external entity", Read::Body, format!("<?xml version=\"1.0\"?><!DOCTYPE p [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{poll}"), Doctype);
    add("a DOCTYPE inside STIX content", Read::Body, inbox11("<!DOCTYPE x>"), Doctype);

    add("an undefined entity in envelope text", Read::Body, poll11("", "<Subscription_ID>&sub;</Subscription_ID>"), Entity);
    add("an undefined entity in an envelope attribute", Read::Body, format!(r#"<Poll_Request xmlns="{NS_11}" message_id="urn:x:1" collection_name="&feed;">{SUB}</Poll_Request>"#), Entity);
    add("an undefined entity in STIX content", Read::Body, inbox11("<t>&lol9;</t>"), Entity);
    add("an undefined entity in a STIX attribute", Read::Body, inbox11(r#"<t a="&xxe;"/>"#), Entity);

    add("two messages", Read::Body, format!("{poll}\n{poll}"), MultipleRoots);

    add("a root without namespace", Read::Body, r#"<Poll_Request message_id="1" feed_name="f"/>"#.into(), UnknownNamespace);
    add("a lookalike namespace", Read::Body, r#"<Poll_Request xmlns="http://taxii.mitre.org/messages/taxii_xml_binding-1.2" message_id="1"/>"#.into(), UnknownNamespace);
    add("an xmldsig root", Read::Body, r#"<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"/>"#.into(), UnknownNamespace);

    add("a Draft 1 name in the 1.1 namespace", Read::Body, format!(r#"<TAXII_PollRequest xmlns="{NS_11}" message_id="urn:x:1"/>"#), UnknownMessage);
    add("Poll_Fulfillment in 1.0", Read::Body, format!(r#"<Poll_Fulfillment xmlns="{NS_10}" message_id="1"/>"#), UnknownMessage);
    add("the abstract TAXII_Message", Read::Body, format!(r#"<TAXII_Message xmlns="{NS_D1}" message-id="00ff"/>"#), UnknownMessage);
    add("Collection_Information_Request in 1.0", Read::Body, format!(r#"<Collection_Information_Request xmlns="{NS_10}" message_id="1"/>"#), UnknownMessage);

    add("a 1.0 element in a 1.1 message", Read::Body, poll11("", &format!(r#"{SUB}<Content_Binding xmlns="{NS_10}">urn:stix.mitre.org:xml:1.0</Content_Binding>"#)), UnexpectedElement);
    add("a foreign element in the envelope", Read::Body, poll11("", &format!("{SUB}<x:y xmlns:x=\"urn:x\"/>")), UnexpectedElement);
    add("an element inside a text field", Read::Body, poll11("", "<Subscription_ID><b>s</b></Subscription_ID>"), UnexpectedElement);
    add("an xmldsig element other than Signature", Read::Body, poll11(r#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#""#, &format!("{SUB}<ds:SignedInfo/>")), UnexpectedElement);
    add("an element in an empty element", Read::Body, format!(r#"<Discovery_Response xmlns="{NS_11}" message_id="urn:x:2" in_response_to="urn:x:1"><Service_Instance service_type="INBOX" service_version="v"><Protocol_Binding>p</Protocol_Binding><Address>a</Address><Message_Binding>m</Message_Binding><Content_Binding binding_id="b"><Subtype subtype_id="s"><x/></Subtype></Content_Binding></Service_Instance></Discovery_Response>"#), UnexpectedElement);

    add("a 1.0 attribute on a 1.1 message", Read::Body, poll11(r#" feed_name="f""#, SUB), UnexpectedAttribute);
    add("a namespaced attribute on the envelope", Read::Body, poll11(r#" xmlns:x="urn:x" x:route="r""#, SUB), UnexpectedAttribute);
    add("an attribute on a text field", Read::Body, poll11("", r#"<Subscription_ID id="1">s</Subscription_ID>"#), UnexpectedAttribute);

    add("text in element-only content", Read::Body, poll11("", &format!("{SUB}text")), UnexpectedText);
    add("a CDATA section in element-only content", Read::Body, poll11("", &format!("{SUB}<![CDATA[x]]>")), UnexpectedText);
    add("text in an empty element", Read::Body, format!(r#"<Inbox_Message xmlns="{NS_11}" message_id="urn:x:1"><Content_Block><Content_Binding binding_id="b"><Subtype subtype_id="s">t</Subtype></Content_Binding><Content/></Content_Block></Inbox_Message>"#), UnexpectedText);

    add("no message id", Read::Body, format!(r#"<Discovery_Request xmlns="{NS_11}"/>"#), MissingField);
    add("no in_response_to on a 1.0 response", Read::Body, format!(r#"<Status_Message xmlns="{NS_10}" message_id="2" status_type="SUCCESS"/>"#), MissingField);
    add("no Inclusive_End_Timestamp in a 1.0 poll response", Read::Body, format!(r#"<Poll_Response xmlns="{NS_10}" message_id="2" in_response_to="1" feed_name="f"/>"#), MissingField);
    add("1.1 SUBSCRIBE without Subscription_Parameters", Read::Body, format!(r#"<Subscription_Management_Request xmlns="{NS_11}" message_id="urn:x:1" action="SUBSCRIBE" collection_name="c"/>"#), MissingField);
    add("Draft 1 MODIFY without subscription", Read::Body, format!(r#"<TAXII_SubscriptionManagementRequest xmlns="{NS_D1}" message-id="00ff"><feed-name>f</feed-name><action>MODIFY</action><subscription-id>s</subscription-id></TAXII_SubscriptionManagementRequest>"#), MissingField);
    add("a GET without message_id", get("message_type=discovery_request"), String::new(), MissingField);

    add("two Subscription_IDs", Read::Body, poll11("", &format!("{SUB}{SUB}")), RepeatedField);
    add("two Draft 1 actions", Read::Body, format!(r#"<TAXII_SubscriptionManagementRequest xmlns="{NS_D1}" message-id="00ff"><feed-name>f</feed-name><action>STATUS</action><action>UNSUBSCRIBE</action></TAXII_SubscriptionManagementRequest>"#), RepeatedField);
    add("two message_type parameters", get("message_type=discovery_request&message_type=feed_information_request&message_id=1"), String::new(), RepeatedField);

    add("a 1.0 message id that is not a number", Read::Body, format!(r#"<Discovery_Request xmlns="{NS_10}" message_id="12a"/>"#), InvalidValue);
    add("a 1.1 message id with a space", Read::Body, format!(r#"<Discovery_Request xmlns="{NS_11}" message_id="urn:x 1"/>"#), InvalidValue);
    add("a Draft 1 message id without hex digit", Read::Body, format!(r#"<TAXII_DiscoveryRequest xmlns="{NS_D1}" message-id="--"/>"#), InvalidValue);
    add("7 fractional digits in 1.1", Read::Body, poll11("", &format!("<Inclusive_End_Timestamp>2014-03-01T00:00:00.1234567Z</Inclusive_End_Timestamp>{SUB}")), InvalidValue);
    add("PAUSE in 1.0", Read::Body, format!(r#"<Subscription_Management_Request xmlns="{NS_10}" message_id="1" action="PAUSE" feed_name="f" subscription_id="s"/>"#), InvalidValue);
    add("an empty collection name", Read::Body, format!(r#"<Poll_Request xmlns="{NS_11}" message_id="urn:x:1" collection_name=" ">{SUB}</Poll_Request>"#), InvalidValue);
    add("allow_asynch that is no boolean", Read::Body, poll11("", r#"<Poll_Parameters allow_asynch="yes"/>"#), InvalidValue);
    add("a negative record count", Read::Body, format!(r#"<Inbox_Message xmlns="{NS_11}" message_id="urn:x:1"><Record_Count>-1</Record_Count></Inbox_Message>"#), InvalidValue);
    add("an empty 1.1 push address", Read::Body, format!(r#"<Subscription_Management_Request xmlns="{NS_11}" message_id="urn:x:1" action="SUBSCRIBE" collection_name="c"><Subscription_Parameters/><Push_Parameters><Protocol_Binding>p</Protocol_Binding><Address></Address><Message_Binding>m</Message_Binding></Push_Parameters></Subscription_Management_Request>"#), InvalidValue);
    add("a broken percent-encoding in a GET", get("message_type=discovery_request&message_id=%4"), String::new(), InvalidValue);

    add("a 1.1 poll with both selectors", Read::Body, poll11("", &format!("{SUB}<Poll_Parameters/>")), InvalidCombination);
    add("a 1.1 poll with neither selector", Read::Body, poll11("", ""), InvalidCombination);
    add("a Draft 1 poll with both selectors", Read::Body, format!(r#"<TAXII_PollRequest xmlns="{NS_D1}" message-id="00ff"><feed-name>f</feed-name><subscription-id>s</subscription-id><content-binding>STIX_XML_1.0</content-binding></TAXII_PollRequest>"#), InvalidCombination);
    add("a Draft 1 GET with a body", get("message_type=discovery_request&message_id=00ff"), format!(r#"<TAXII_DiscoveryRequest xmlns="{NS_D1}" message-id="00ff"/>"#), InvalidCombination);

    add("a 1.1 body with 1.0 headers", post(&[("X-TAXII-Content-Type", "urn:taxii.mitre.org:message:xml:1.0"), ("X-TAXII-Protocol", "urn:taxii.mitre.org:protocol:http:1.0"), ("X-TAXII-Services", "urn:taxii.mitre.org:services:1.0")]), poll.clone(), DialectMismatch);
    add("headers that disagree", post(&[("X-TAXII-Content-Type", "urn:taxii.mitre.org:message:xml:1.1"), ("X-TAXII-Protocol", "TAXII_HTTP_BINDING_1.0")]), poll.clone(), DialectMismatch);
    add("a header given twice with different values", post(&[("X-TAXII-Services", "urn:taxii.mitre.org:services:1.1"), ("x-taxii-services", "urn:taxii.mitre.org:services:1.0")]), poll.clone(), DialectMismatch);
    add("an HTTP protocol header over HTTPS", Read::Http(Ctx { method: Some("POST"), headers: POST_11, transport: Some(Transport::Https), ..Ctx::default() }), poll.clone(), DialectMismatch);
    add("a Draft 1 GET with a 1.x header", Read::Http(Ctx { method: Some("GET"), query: Some("message_type=discovery_request&message_id=00ff".into()), headers: &[("X-TAXII-Protocol", "urn:taxii.mitre.org:protocol:http:1.0")], ..Ctx::default() }), String::new(), DialectMismatch);
    add("a response body against its headers (no method)", Read::Http(Ctx { headers: &[("X-TAXII-Content-Type", "urn:taxii.mitre.org:message:xml:1.0")], ..Ctx::default() }), poll.clone(), DialectMismatch);

    add("a 1.1 POST without X-TAXII headers", post(&[("Content-Type", "application/xml")]), poll.clone(), NotTaxii);
    add("a 1.1 POST without X-TAXII-Content-Type", post(&[("X-TAXII-Protocol", "urn:taxii.mitre.org:protocol:http:1.0"), ("X-TAXII-Services", "urn:taxii.mitre.org:services:1.1")]), poll.clone(), NotTaxii);
    add("a GET without message_type", get("message_id=00ff"), String::new(), NotTaxii);
    add("a GET of a poll request", get("message_type=poll_request&message_id=00ff"), String::new(), NotTaxii);

    add("Content-Type text/xml", post(&[("Content-Type", "text/xml")]), poll.clone(), UnsupportedMediaType);
    add("an unknown message binding", post(&[("X-TAXII-Content-Type", "urn:taxii.mitre.org:message:json:1.1")]), poll.clone(), UnsupportedMediaType);
    add("an unknown protocol", post(&[("X-TAXII-Protocol", "urn:taxii.mitre.org:protocol:smtp:1.0")]), poll.clone(), UnsupportedMediaType);
    add("an unknown services version", post(&[("X-TAXII-Services", "urn:taxii.mitre.org:services:1.2")]), poll.clone(), UnsupportedMediaType);
    add("a Draft 1 media type with another binding", post(&[("X-TAXII-Content-Type", "TAXII_1.0/TAXII_JSON_1.0")]), poll.clone(), UnsupportedMediaType);

    add("PUT", Read::Http(Ctx { method: Some("PUT"), headers: POST_11, ..Ctx::default() }), poll.clone(), MethodNotAllowed);
    add("HEAD", Read::Http(Ctx { method: Some("HEAD"), ..Ctx::default() }), String::new(), MethodNotAllowed);
    add("a POSTed Draft 1 discovery request", post(&[("X-TAXII-Protocol", "TAXII_HTTP_BINDING_1.0")]), format!(r#"<TAXII_DiscoveryRequest xmlns="{NS_D1}" message-id="00ff"/>"#), MethodNotAllowed);
    add("a POSTed Draft 1 feed information request", post(&[]), format!(r#"<TAXII_FeedInformationRequest xmlns="{NS_D1}" message-id="00ff"/>"#), MethodNotAllowed);
    cases
}

/// The bodies of the two cases whose bytes are no `String`.
fn body_of(c: &KindCase) -> Vec<u8> {
    match c.what {
        "bytes that are not UTF-8" => {
            let mut b = poll11("", "<Subscription_ID>s</Subscription_ID>").into_bytes();
            let at = b.len() - "</Subscription_ID></Poll_Request>".len();
            b.insert(at, 0xE9); // Latin-1 'é'
            b
        }
        "a UTF-16 byte order mark" => {
            let mut b = vec![0xFF, 0xFE];
            for unit in r#"<Discovery_Request xmlns="x"/>"#.encode_utf16() {
                b.extend(unit.to_le_bytes());
            }
            b
        }
        _ => c.body.clone().into_bytes(),
    }
}

#[test]
fn every_kind_case_is_refused_with_its_kind() {
    let mut failures = Vec::new();
    for c in kind_cases() {
        match read(&c.read, &body_of(&c), ScanLimits::default()) {
            Err(r) if r.kind == c.kind => {}
            Err(r) => failures.push(format!("{}: {r}, want {}", c.what, c.kind)),
            Ok(e) => failures.push(format!(
                "{}: accepted as {} {}",
                c.what, e.dialect, e.message
            )),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_reject_kind_is_produced_by_a_case() {
    // What the tables really produce, not what they claim.
    let mut produced = BTreeSet::new();
    for c in kind_cases() {
        if let Err(r) = read(&c.read, &body_of(&c), ScanLimits::default()) {
            produced.insert(r.kind.as_str());
        }
    }
    for c in limit_cases() {
        if let Err(r) = read(
            &c.read,
            c.body.as_bytes(),
            limits_with(c.limit, c.measure - 1),
        ) {
            produced.insert(r.kind.as_str());
        }
    }
    let missing: Vec<&str> = RejectKind::ALL
        .iter()
        .map(|k| k.as_str())
        .filter(|k| !produced.contains(k))
        .collect();
    assert!(missing.is_empty(), "no case produces {missing:?}");
}

#[test]
fn the_kind_cases_stream_to_the_same_kind() {
    // The streamed scan refuses what the whole-body scan refuses, with the same kind.
    for c in kind_cases() {
        if !matches!(c.read, Read::Body) {
            continue;
        }
        let body = body_of(&c);
        for piece in [1, 5, body.len().max(1)] {
            match read(&Read::Stream(piece), &body, ScanLimits::default()) {
                Err(r) => assert_eq!(r.kind, c.kind, "{} in pieces of {piece}: {r}", c.what),
                Ok(e) => panic!("{} in pieces of {piece}: accepted as {}", c.what, e.message),
            }
        }
    }
}
