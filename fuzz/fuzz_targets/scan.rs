//! Fuzz target `scan`: `scan_message` never panics, whatever the HTTP context and the body, and
//! what it accepts satisfies the envelope's invariants.
//!
//! Input layout:
//! - byte 0: method (bits 0-1: none, GET, POST, PUT), transport (bits 2-3: unknown, HTTP,
//!   HTTPS), header-name spelling (bit 4: `X-Taxii-*` instead of `X-TAXII-*`), a repeated
//!   header with another value (bit 5);
//! - byte 1: `Content-Type` (low nibble) and `X-TAXII-Content-Type` (high nibble), indices into
//!   fixed lists of real values (0 = absent);
//! - byte 2: `X-TAXII-Protocol` (low nibble) and `X-TAXII-Services` (high nibble);
//! - byte 3: the small limits;
//! - the rest: the body; for a GET, the query string up to the first NUL byte, then the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taxii_gateway::taxii::{scan_body, scan_message, Envelope, Field, HttpContext, ScanLimits};
use taxii_gateway::taxii::{Reject, Transport};

const CONTENT_TYPES: &[&str] = &[
    "application/xml",
    "application/xml; charset=utf-8",
    "APPLICATION/XML",
    "text/xml",
    "",
];
const X_TAXII_CONTENT_TYPES: &[&str] = &[
    "TAXII_1.0/TAXII_XML_BINDING_1.0",
    "TAXII_1.0/TAXII_XML_1.0; q=1",
    "urn:taxii.mitre.org:message:xml:1.0",
    "urn:taxii.mitre.org:message:xml:1.1",
    " urn:taxii.mitre.org:message:xml:1.1 ",
    "urn:taxii.mitre.org:message:json:1.1",
    "TAXII_1.0/",
];
const PROTOCOLS: &[&str] = &[
    "TAXII_HTTP_BINDING_1.0",
    "TAXII_HTTPS_BINDING_1.0",
    "TAXI_HTTP_BINDING_1.0",
    "TAXII_HTTPS_1.0",
    "urn:taxii.mitre.org:protocol:http:1.0",
    "urn:taxii.mitre.org:protocol:https:1.0",
    "urn:taxii.mitre.org:protocol:ftp:1.0",
];
const SERVICES: &[&str] = &[
    "urn:taxii.mitre.org:services:1.0",
    "urn:taxii.mitre.org:services:1.1",
    " urn:taxii.mitre.org:services:1.1",
    "urn:taxii.mitre.org:services:2.0",
];

fn pick(list: &'static [&'static str], selector: u8) -> Option<&'static str> {
    match selector as usize {
        0 => None,
        n => list.get((n - 1) % list.len()).copied(),
    }
}

fuzz_target!(|data: &[u8]| {
    let [b0, b1, b2, b3, rest @ ..] = data else {
        return;
    };
    let method = match b0 & 3 {
        0 => None,
        1 => Some("GET"),
        2 => Some("POST"),
        _ => Some("PUT"),
    };
    let (query, body) = if method == Some("GET") {
        match rest.iter().position(|&b| b == 0) {
            Some(nul) => (Some(&rest[..nul]), &rest[nul + 1..]),
            None => (Some(rest), &rest[rest.len()..]),
        }
    } else {
        (None, rest)
    };
    let query = query.map(String::from_utf8_lossy);
    let mut ctx = match method {
        Some(m) => HttpContext::request(m, query.as_deref()),
        None => HttpContext::default(),
    };
    ctx.transport = match (b0 >> 2) & 3 {
        1 => Some(Transport::Http),
        2 => Some(Transport::Https),
        _ => None,
    };
    let taxii = if b0 & 0x10 != 0 {
        "X-Taxii-"
    } else {
        "X-TAXII-"
    };
    let headers = [
        ("Content-Type".to_string(), pick(CONTENT_TYPES, b1 & 15)),
        (
            format!("{taxii}Content-Type"),
            pick(X_TAXII_CONTENT_TYPES, b1 >> 4),
        ),
        (format!("{taxii}Protocol"), pick(PROTOCOLS, b2 & 15)),
        (format!("{taxii}Services"), pick(SERVICES, b2 >> 4)),
    ];
    for (name, value) in &headers {
        if let Some(v) = value {
            if ctx.header(name, v).is_err() {
                unreachable!("a header given once cannot disagree with itself");
            }
        }
    }
    if b0 & 0x20 != 0 {
        // The same header again: agreeing is fine, disagreeing is a refusal (not a panic).
        let v = pick(PROTOCOLS, b3 % 8).unwrap_or("");
        let again = ctx.header(&format!("{taxii}protocol"), v);
        if again.is_err() {
            assert!(ctx.x_taxii_protocol.is_some());
            return;
        }
    }

    let small = ScanLimits {
        max_total_bytes: 4096,
        max_depth: 2 + usize::from(b3 & 7),
        max_elements: 4 + 8 * usize::from((b3 >> 3) & 3),
        max_attributes: 1 + usize::from((b3 >> 5) & 3),
        max_attribute_bytes: if b3 & 0x80 != 0 { 8 } else { 64 },
        max_text_bytes: 48,
        max_name_bytes: 24,
        ..ScanLimits::default()
    };
    let default = ScanLimits::default();

    let with_small = scan_message(&ctx, body, &small);
    let with_default = scan_message(&ctx, body, &default);
    check_result(&ctx, body, &with_small);
    check_result(&ctx, body, &with_default);

    // Limits only ever refuse: what passes the small limits passes the default ones, unchanged.
    if let Ok(env) = &with_small {
        assert_eq!(
            Ok(env),
            with_default.as_ref(),
            "small limits accepted, default refused"
        );
    }
    // Without a method the HTTP context adds checks only; the envelope is scan_body's.
    if method.is_none() {
        if let Ok(env) = &with_default {
            assert_eq!(Ok(env), scan_body(body, &default).as_ref());
        }
    }
});

fn check_result(ctx: &HttpContext, body: &[u8], result: &Result<Envelope, Reject>) {
    match result {
        Ok(env) => check_envelope(ctx, body, env),
        Err(r) => {
            // A refusal names a place in the body, never past its end.
            if let Some(offset) = r.offset {
                assert!(offset <= body.len(), "offset {offset} past {}", body.len());
            }
            let _ = r.to_string();
        }
    }
}

fn check_envelope(ctx: &HttpContext, body: &[u8], env: &Envelope) {
    let get = ctx.method.as_deref() == Some("GET");
    if get {
        assert!(body.is_empty(), "a GET with a body was accepted");
        assert_eq!(env.message_id.span, 0..0);
        assert!(!env.message_id.value.trim().is_empty());
    } else {
        assert!(env.query_extended_headers.is_empty());
        check_field(body, &env.message_id);
        assert!(
            !env.message_id.span.is_empty(),
            "a message id without a span"
        );
    }
    for f in env
        .in_response_to
        .iter()
        .chain(&env.feeds)
        .chain(&env.action)
        .chain(&env.subscription_ids)
        .chain(&env.delivery_addresses)
        .chain(&env.status_type)
    {
        check_field(body, f);
    }
    for s in &env.services {
        check_element_span(body, &s.span);
        check_field(body, &s.address);
        assert!(
            s.span.start <= s.address.span.start && s.address.span.end <= s.span.end,
            "service address {:?} outside its record {:?}",
            s.address.span,
            s.span
        );
    }
    assert_eq!(env.content_blocks, env.content_block_spans.len());
    let mut last_end = 0;
    for span in &env.content_block_spans {
        check_element_span(body, span);
        assert!(
            span.start >= last_end,
            "content blocks overlap or are out of order"
        );
        last_end = span.end;
    }
    for b in &env.content_bindings {
        assert!(!b.trim().is_empty());
    }
    if !env.kind.is_request() {
        // Responses and status messages are never what a Draft 1 GET produces.
        assert!(!get);
    }
    let json = env.to_json();
    assert!(json.is_object());
}

/// A value's span lies within the body, on character boundaries, and where the raw text holds
/// nothing that decoding changes (references, markup, white space that attribute-value
/// normalisation or line-end handling rewrites) it is the value itself.
fn check_field(body: &[u8], f: &Field) {
    assert!(
        f.span.start <= f.span.end && f.span.end <= body.len(),
        "span {:?} outside a body of {} bytes",
        f.span,
        body.len()
    );
    let raw = std::str::from_utf8(&body[f.span.clone()]).expect("a span cuts a character");
    if f.span.is_empty() {
        assert!(f.value.is_empty(), "value {:?} with an empty span", f.value);
    }
    if !raw.contains(['&', '<', '\r', '\n', '\t']) {
        assert_eq!(
            raw, f.value,
            "value differs from the body at its span {:?}",
            f.span
        );
    }
}

/// An element's span starts at its `<` and ends after its `>`.
fn check_element_span(body: &[u8], span: &std::ops::Range<usize>) {
    assert!(
        span.start < span.end && span.end <= body.len(),
        "element span {span:?} outside a body of {} bytes",
        body.len()
    );
    assert_eq!(body[span.start], b'<');
    assert_eq!(body[span.end - 1], b'>');
}
