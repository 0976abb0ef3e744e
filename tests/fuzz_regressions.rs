//! What the fuzz targets (`fuzz/`, `scripts/fuzz.sh`) found, and the nasty inputs they keep
//! exercising, as plain tests.
//!
//! - `writer`: the gateway's own answers were not always valid: a refused message's id echoed
//!   into a dialect that cannot carry it, a realm breaking out of its header, a 1.1 detail with
//!   no valid form. Fixed in `src/taxii/writer.rs`.
//! - `scan`: no crash in its runs; the truncation and mutation tests below pin the properties it
//!   checks (refusal of every cut message, spans inside the body, content block counts).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use taxii_gateway::taxii::writer::{status_message, Detail, StatusType};
use taxii_gateway::taxii::{
    refusal_reply, scan_body, scan_message, Dialect, Envelope, HttpContext, Refusal, RejectKind,
    ReplyContext, ScanLimits, Transport,
};

// ------------------------------------------------------------------------------------------
// writer
// ------------------------------------------------------------------------------------------

fn reply_ctx(dialect: Dialect, in_response_to: Option<&str>) -> ReplyContext {
    ReplyContext {
        dialect,
        transport: Transport::Https,
        in_response_to: in_response_to.map(str::to_string),
        id_seed: 0xfeed,
        now_unix: 1_367_496_000,
        message: Some("refused".into()),
    }
}

fn assert_valid_answer(ctx: &ReplyContext, body: &[u8]) -> Envelope {
    let env = scan_body(body, &ScanLimits::default()).unwrap_or_else(|e| {
        panic!(
            "the gateway wrote a message it refuses: {e}\n{}",
            String::from_utf8_lossy(body)
        )
    });
    assert_eq!(env.dialect, ctx.dialect);
    env
}

/// Fuzz target `writer`, first crash: `in_response_to=""` in a 1.1 answer. The real path to it:
/// a 1.1 body under 1.0 headers is refused with the body's `urn:uuid:` id, and the 1.0 answer
/// echoed it, which 1.0 (`[0-9]+`) cannot carry.
#[test]
fn a_foreign_message_id_is_not_echoed_into_an_invalid_answer() {
    let body = br#"<Discovery_Request xmlns="http://taxii.mitre.org/messages/taxii_xml_binding-1.1" message_id="urn:uuid:6f1f3c1e-0d3a"/>"#;
    let mut http = HttpContext::request("POST", None);
    for (name, value) in [
        ("Content-Type", "application/xml"),
        (
            "X-TAXII-Content-Type",
            "urn:taxii.mitre.org:message:xml:1.0",
        ),
        ("X-TAXII-Protocol", "urn:taxii.mitre.org:protocol:https:1.0"),
        ("X-TAXII-Services", "urn:taxii.mitre.org:services:1.0"),
    ] {
        http.header(name, value).unwrap();
    }
    let reject = scan_message(&http, body, &ScanLimits::default()).unwrap_err();
    assert_eq!(reject.kind, RejectKind::DialectMismatch);
    assert_eq!(reject.message_id.as_deref(), Some("urn:uuid:6f1f3c1e-0d3a"));

    let ctx = reply_ctx(Dialect::V10, reject.message_id.as_deref());
    let reply = refusal_reply(&ctx, &Refusal::Rejected(reject.kind));
    let env = assert_valid_answer(&ctx, &reply.body);
    // 1.x needs in_response_to: the placeholder the writer uses when the id is unknown.
    assert_eq!(env.in_response_to.map(|f| f.value).as_deref(), Some("0"));
}

#[test]
fn any_in_response_to_gives_a_valid_answer_in_every_dialect() {
    let ids = [
        "",
        " ",
        "\t",
        "zzz",
        "a b",
        "urn:uuid:1",
        "41236",
        " 41236 ",
        "a\u{85}1",
        "1\u{0}",
        "&<>\"'",
        "\u{FFFE}1",
        "a\r\nb",
    ];
    for d in Dialect::ALL {
        for id in ids {
            let ctx = reply_ctx(d, Some(id));
            let reply = refusal_reply(&ctx, &Refusal::FeedDenied { conceal: false });
            let env = assert_valid_answer(&ctx, &reply.body);
            // Echoed as sent (non-XML characters replaced), or the 1.x placeholder.
            if let Some(echoed) = env.in_response_to {
                let sent: String = id
                    .chars()
                    .map(|c| if c == '\u{FFFE}' { '\u{FFFD}' } else { c })
                    .collect();
                assert!(echoed.value == sent || echoed.value == "0", "{d} {id:?}");
            } else {
                assert_eq!(d, Dialect::Draft1, "{id:?}");
            }
        }
    }
    // A valid id is still echoed exactly.
    for (d, id) in [
        (Dialect::Draft1, "a847 98be"),
        (Dialect::V10, "41236"),
        (Dialect::V11, "urn:uuid:6f1f3c1e-0d3a"),
    ] {
        let ctx = reply_ctx(d, Some(id));
        let reply = refusal_reply(&ctx, &Refusal::Rejected(RejectKind::Malformed));
        if reply.body.is_empty() {
            continue; // Draft 1 parse errors are bare HTTP statuses.
        }
        let env = assert_valid_answer(&ctx, &reply.body);
        assert_eq!(env.in_response_to.map(|f| f.value).as_deref(), Some(id));
    }
}

/// Fuzz target `writer`: `realm = "\n"` gave `WWW-Authenticate: Basic realm="<LF>"`, a header
/// split in two; a trailing backslash escaped the closing quote.
#[test]
fn the_realm_stays_one_quoted_string_on_one_line() {
    for (realm, want) in [
        ("\n", "Basic realm=\" \""),
        ("a\r\nSet-Cookie: x=1", "Basic realm=\"a  Set-Cookie: x=1\""),
        ("taxii\\", "Basic realm=\"taxii\\\\\""),
        ("say \"hi\"", "Basic realm=\"say 'hi'\""),
        ("tab\there", "Basic realm=\"tab\there\""),
        ("Zürich", "Basic realm=\"Zürich\""),
    ] {
        for d in Dialect::ALL {
            let reply = refusal_reply(
                &reply_ctx(d, None),
                &Refusal::Unauthenticated {
                    realm: Some(realm.into()),
                },
            );
            assert_eq!(reply.header("WWW-Authenticate"), Some(want), "{realm:?}");
            assert_eq!(reply.status, 401);
        }
    }
}

/// Fuzz target `writer`: `status_message` with a text detail in 1.1 wrote
/// `<Status_Detail>text</Status_Detail>`, and with no pairs `<Status_Detail></Status_Detail>`;
/// 1.1 wants 1-n `<Detail name=…>` there.
#[test]
fn every_detail_has_a_valid_form_in_every_dialect() {
    let details = [
        Detail::None,
        Detail::Text(String::new()),
        Detail::Text("2013-05-02T12:00:30Z".into()),
        Detail::Pairs(vec![]),
        Detail::Pairs(vec![("ESTIMATED_WAIT", "30".into())]),
        Detail::Pairs(vec![
            ("SUPPORTED_BINDING", "a".into()),
            ("SUPPORTED_BINDING", "<b> & c".into()),
        ]),
    ];
    for d in Dialect::ALL {
        for detail in &details {
            let ctx = reply_ctx(d, None);
            let body = status_message(&ctx, StatusType::Retry, detail);
            assert_valid_answer(&ctx, &body);
        }
    }
    // Named pairs are still written in 1.1, and a text detail in 1.0.
    let body = status_message(
        &reply_ctx(Dialect::V11, None),
        StatusType::Retry,
        &Detail::Pairs(vec![("ESTIMATED_WAIT", "30".into())]),
    );
    assert!(String::from_utf8(body)
        .unwrap()
        .contains("<Status_Detail><Detail name=\"ESTIMATED_WAIT\">30</Detail></Status_Detail>"));
    let body = status_message(
        &reply_ctx(Dialect::V10, None),
        StatusType::Retry,
        &Detail::Text("2013-05-02T12:00:30Z".into()),
    );
    assert!(String::from_utf8(body)
        .unwrap()
        .contains("<Status_Detail>2013-05-02T12:00:30Z</Status_Detail>"));
}

// ------------------------------------------------------------------------------------------
// scan
// ------------------------------------------------------------------------------------------

/// Messages that end with their root's end tag (no trailing newline), so that every proper
/// prefix is an incomplete document. Each has fields, services or content blocks with spans.
const MESSAGES: &[(&str, &str)] = &[
    (
        "draft1 poll response",
        "\u{FEFF}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<!-- three STIX documents -->\n\
<TAXII_PollResponse xmlns=\"http://taxii.mitre.org/messages/xml/1\" xmlns:stix=\"http://stix.mitre.org\"\n\
    message-id=\"984987de-feaa-95ff-894c-800f7eaca647\" in-response-to=\"a84798be&#x2D;ffe8\">\n\
  <begin-timestamp>2012-11-07T00:00:00Z</begin-timestamp>\n\
  <end-timestamp>2012-11-12T14:43:34Z</end-timestamp>\n\
  <subscription-id>customer.example-<![CDATA[JGK8H84BF]]></subscription-id>\n\
  <content-binding>STIX_XML_1.0</content-binding>\n\
  <stix:STIX id=\"p1\"><stix:Title>a &amp; b <?pi x?><!-- c --></stix:Title></stix:STIX>\n\
  <stix:STIX id='p2'/>\n\
</TAXII_PollResponse>",
    ),
    (
        "draft1 discovery response",
        r#"<t:TAXII_DiscoveryResponse xmlns:t="http://taxii.mitre.org/messages/xml/1" message-id="984987de" in-response-to="a84798be">
  <t:service-instance service-type="POLL" service-version="TAXII_1.0" available="true">
    <t:protocol-binding>TAXII_HTTPS_BINDING_1.0</t:protocol-binding>
    <t:message-binding>TAXII_XML_BINDING_1.0</t:message-binding>
    <t:service-address>https://taxii.example.com/poll/</t:service-address>
  </t:service-instance>
</t:TAXII_DiscoveryResponse>"#,
    ),
    (
        "1.0 discovery response",
        r#"<Discovery_Response xmlns="http://taxii.mitre.org/messages/taxii_xml_binding-1" message_id="90001" in_response_to="41235">
  <Service_Instance service_type="INBOX" service_version="urn:taxii.mitre.org:services:1.0" available="false">
    <Protocol_Binding>urn:taxii.mitre.org:protocol:http:1.0</Protocol_Binding>
    <Address>http://taxii.example.com/inbox/?a=1&amp;b=2</Address>
    <Message_Binding>urn:taxii.mitre.org:message:xml:1.0</Message_Binding>
    <Content_Binding>urn:stix.mitre.org:xml:1.0</Content_Binding>
    <Message>Inbox.</Message>
  </Service_Instance>
</Discovery_Response>"#,
    ),
    (
        "1.1 inbox message",
        r#"<?xml version="1.0"?><Inbox_Message xmlns="http://taxii.mitre.org/messages/taxii_xml_binding-1.1" message_id="urn:uuid:0a9b8c7d"><Source_Subscription collection_name="gold"><Subscription_ID>urn:example:sub:1</Subscription_ID></Source_Subscription><Record_Count partial_count="false">2</Record_Count><Content_Block><Content_Binding binding_id="urn:stix.mitre.org:xml:1.1.1"/><Content><s:STIX_Package xmlns:s="http://stix.mitre.org/stix-1" id="x"><s:T a="&lt;&#65;"/>text]]&gt;</s:STIX_Package></Content></Content_Block><Content_Block><Content_Binding binding_id="urn:stix.mitre.org:xml:1.1.1"/><Content><![CDATA[<not xml>]]></Content><Timestamp_Label>2014-05-07T18:30:00Z</Timestamp_Label></Content_Block></Inbox_Message>"#,
    ),
];

/// The envelope's spans lie in the body, and a value's raw bytes are the value wherever nothing
/// in them needs decoding (what the `scan` fuzz target checks on every accepted input).
fn assert_spans(body: &[u8], env: &Envelope) {
    let fields = std::iter::once(&env.message_id)
        .chain(&env.in_response_to)
        .chain(&env.feeds)
        .chain(&env.action)
        .chain(&env.subscription_ids)
        .chain(&env.delivery_addresses)
        .chain(&env.status_type)
        .chain(env.services.iter().map(|s| &s.address));
    for f in fields {
        assert!(f.span.end <= body.len(), "{:?} past the body", f.span);
        let raw = std::str::from_utf8(&body[f.span.clone()]).unwrap();
        if !raw.contains(['&', '<', '\r', '\n', '\t']) {
            assert_eq!(raw, f.value);
        }
    }
    assert_eq!(env.content_blocks, env.content_block_spans.len());
    for span in env
        .content_block_spans
        .iter()
        .chain(env.services.iter().map(|s| &s.span))
    {
        assert!(span.end <= body.len());
        assert_eq!(body[span.start], b'<');
        assert_eq!(body[span.end - 1], b'>');
    }
}

#[test]
fn the_inline_messages_are_accepted_with_consistent_spans() {
    for (name, msg) in MESSAGES {
        let env = scan_body(msg.as_bytes(), &ScanLimits::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_spans(msg.as_bytes(), &env);
        assert!(
            env.content_blocks > 0 || !env.services.is_empty(),
            "{name}: nothing with a span"
        );
    }
    let env = scan_body(MESSAGES[3].1.as_bytes(), &ScanLimits::default()).unwrap();
    assert_eq!(env.content_blocks, 2);
    assert_eq!(env.subscription_id(), Some("urn:example:sub:1"));
    let env = scan_body(MESSAGES[0].1.as_bytes(), &ScanLimits::default()).unwrap();
    assert_eq!(env.content_blocks, 2);
    // A reference and a CDATA section inside values: decoded, their span still the raw text.
    assert_eq!(env.in_response_to.unwrap().value, "a84798be-ffe8");
    assert_eq!(env.subscription_ids[0].value, "customer.example-JGK8H84BF");
}

/// Every proper prefix of a complete message is refused, whatever the cut (inside the BOM, a
/// character, a name, a reference, a CDATA section, a payload, the last end tag), and nothing
/// panics.
#[test]
fn every_proper_prefix_is_refused() {
    let limits = ScanLimits::default();
    for (name, msg) in MESSAGES {
        let body = msg.as_bytes();
        for cut in 0..body.len() {
            let prefix = &body[..cut];
            match scan_body(prefix, &limits) {
                Ok(env) => panic!("{name} cut at {cut} was accepted: {env:?}"),
                Err(e) => {
                    assert!(e.offset.is_none_or(|o| o <= cut), "{name} at {cut}: {e}");
                    if cut == 0 {
                        assert_eq!(e.kind, RejectKind::Empty);
                    }
                }
            }
        }
    }
}

/// The same cuts, with an HTTP context of the message's dialect and the small limits the fuzz
/// target uses: refused, never a panic.
#[test]
fn every_proper_prefix_is_refused_with_http_context_and_small_limits() {
    let small = ScanLimits {
        max_total_bytes: 4096,
        max_depth: 6,
        max_elements: 20,
        max_attributes: 3,
        max_attribute_bytes: 40,
        max_text_bytes: 48,
        max_name_bytes: 24,
        ..ScanLimits::default()
    };
    for (name, msg) in MESSAGES {
        let body = msg.as_bytes();
        let dialect = scan_body(body, &ScanLimits::default()).unwrap().dialect;
        let mut http = HttpContext::request("POST", None);
        http.header("X-TAXII-Content-Type", dialect.content_type_id())
            .unwrap();
        http.header("X-TAXII-Protocol", dialect.protocol_id(Transport::Http))
            .unwrap();
        if let Some(s) = dialect.services_id() {
            http.header("X-TAXII-Services", s).unwrap();
        }
        for limits in [&ScanLimits::default(), &small] {
            for cut in 0..body.len() {
                assert!(
                    scan_message(&http, &body[..cut], limits).is_err(),
                    "{name} cut at {cut}"
                );
            }
        }
    }
}

/// Nasty bytes at every position: no panic, and whatever is accepted has its spans in the body.
#[test]
fn nasty_bytes_at_every_position() {
    let limits = ScanLimits::default();
    let insertions: &[&[u8]] = &[
        b"<",
        b"&",
        b"]]>",
        b"<!DOCTYPE x>",
        b"<![CDATA[",
        b"\0",
        b"\xEF\xBF\xBE", // U+FFFE
        b"\xC3",         // a lone lead byte
        b"\r",
        b"\"",
        b"/>",
        b"</x>",
    ];
    for (name, msg) in MESSAGES {
        let body = msg.as_bytes();
        for at in 0..=body.len() {
            for ins in insertions {
                let mut mutated = body[..at].to_vec();
                mutated.extend_from_slice(ins);
                mutated.extend_from_slice(&body[at..]);
                if let Ok(env) = scan_body(&mutated, &limits) {
                    assert_spans(&mutated, &env);
                }
            }
            // And one byte deleted.
            if at < body.len() {
                let mut cut = body.to_vec();
                cut.remove(at);
                if let Ok(env) = scan_body(&cut, &limits) {
                    assert_spans(&cut, &env);
                }
            }
        }
        let _ = name;
    }
}

fn shared_fixtures() -> Vec<PathBuf> {
    let shared = std::env::var_os("TAXII_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let mut files = Vec::new();
    for dir in ["draft1", "1.0", "1.1", "bad"] {
        let Ok(entries) = std::fs::read_dir(shared.join("fixtures").join(dir)) else {
            continue;
        };
        files.extend(
            entries
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "xml")),
        );
    }
    files.sort();
    files
}

/// Every shared fixture (up to 8 KiB) truncated at every byte: no panic, and a truncated valid
/// message is never accepted as something else: whatever a prefix gives is the whole
/// document's envelope (only trailing white space or comments may be cut).
#[test]
fn every_fixture_truncated_at_every_byte() {
    let files = shared_fixtures();
    if files.is_empty() {
        eprintln!("shared fixtures not found (set TAXII_SHARED): skipped");
        return;
    }
    let limits = ScanLimits::default();
    let mut cuts = 0;
    for path in files {
        let body = std::fs::read(&path).unwrap();
        if body.len() > 8 * 1024 {
            continue;
        }
        let whole = scan_body(&body, &limits);
        for cut in 0..body.len() {
            cuts += 1;
            if let Ok(env) = scan_body(&body[..cut], &limits) {
                assert_spans(&body[..cut], &env);
                if whole.is_err() {
                    // bad/: a prefix may be a valid message (the first of two roots).
                    continue;
                }
                assert_eq!(
                    Ok(&env),
                    whole.as_ref(),
                    "{} cut at {cut} gives another message",
                    path.display()
                );
                assert!(
                    body[cut..].iter().all(u8::is_ascii_whitespace)
                        || std::str::from_utf8(&body[cut..])
                            .is_ok_and(|rest| rest.trim_start().starts_with("<!--")),
                    "{} cut at {cut} accepted with content left",
                    path.display()
                );
            }
        }
    }
    assert!(cuts > 10_000, "only {cuts} cuts");
}
