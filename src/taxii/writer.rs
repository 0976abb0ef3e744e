//! The answers the gateway writes itself: error and status messages in the requester's dialect,
//! with that binding's headers (DESIGN.md, "Errors, per dialect").
//!
//! Strict in what it sends: canonical identifiers only, `X-TAXII-Protocol` naming the transport
//! actually used, `in_response_to` echoing the request's message id whenever one was read.

use super::dialect::{Dialect, Transport};
use super::error::RejectKind;
use super::values::format_rfc3339;

/// What went wrong, in the terms of the table "Errors, per dialect".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No valid credentials. `realm` is set where HTTP Basic applies.
    Unauthenticated { realm: Option<String> },
    /// Authenticated, but the service is not allowed (`conceal`: answer as if it did not exist).
    ServiceDenied { conceal: bool },
    /// Authenticated, but a feed/collection the message names is not allowed.
    FeedDenied { conceal: bool },
    /// Over the partner's rate; retry after that many seconds.
    RateLimited { retry_after_secs: u64 },
    /// The protocol core rejected the message.
    Rejected(RejectKind),
    /// The body is larger than the route allows.
    TooLarge,
    /// The upstream refused, reset, or answered garbage.
    UpstreamFailed,
    /// The upstream did not answer in time.
    UpstreamTimeout,
    /// Refused by an operator rule (feeds on several upstreams, a signed message the rules
    /// would change): `DENIED`, with the reason in the message.
    Denied,
}

/// Everything an answer echoes or depends on besides the refusal itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyContext {
    pub dialect: Dialect,
    pub transport: Transport,
    /// The request's message id, when it could be read.
    pub in_response_to: Option<String>,
    /// Random bits for the answer's own message id (the caller owns randomness; this module
    /// does no I/O).
    pub id_seed: u128,
    /// Now, seconds since the Unix epoch (for RETRY and PENDING timestamps).
    pub now_unix: u64,
    /// Human-readable text for the `message` / `Message` field.
    pub message: Option<String>,
}

/// An HTTP answer: status, headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The status detail of an answer, per dialect (DIALECTS.md §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detail {
    None,
    /// Draft 1 `<error-detail>` / 1.0 `<Status_Detail>`: one string.
    Text(String),
    /// 1.1 `<Status_Detail><Detail name=…>`: name-value pairs.
    Pairs(Vec<(&'static str, String)>),
}

/// The status types the gateway uses, named per dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusType {
    BadMessage,
    Unauthorized,
    NotFound,
    Denied,
    Failure,
    /// Draft 1 `PENDING` (retry later), 1.x `RETRY` (DIALECTS.md §7: PENDING changed meaning).
    Retry,
    UnsupportedMessage,
}

impl StatusType {
    pub fn name(self, dialect: Dialect) -> &'static str {
        let draft1 = dialect == Dialect::Draft1;
        match self {
            StatusType::BadMessage if draft1 => "BAD-MESSAGE",
            StatusType::BadMessage => "BAD_MESSAGE",
            StatusType::Unauthorized => "UNAUTHORIZED",
            StatusType::NotFound if draft1 => "NOT-FOUND",
            StatusType::NotFound => "NOT_FOUND",
            StatusType::Denied => "DENIED",
            StatusType::Failure => "FAILURE",
            StatusType::Retry if draft1 => "PENDING",
            StatusType::Retry => "RETRY",
            StatusType::UnsupportedMessage if draft1 => "UNSUPPORTED-MESSAGE",
            StatusType::UnsupportedMessage => "UNSUPPORTED_MESSAGE",
        }
    }
}

/// The answer to a refusal, in the requester's dialect.
pub fn refusal_reply(ctx: &ReplyContext, refusal: &Refusal) -> Reply {
    let d = ctx.dialect;
    let draft1 = d == Dialect::Draft1;
    let mut extra: Vec<(&'static str, String)> = Vec::new();
    // (HTTP status, status message to carry or None for a bare HTTP answer, detail)
    let (status, body): (u16, Option<(StatusType, Detail)>) = match refusal {
        Refusal::Unauthenticated { realm } => {
            if let Some(realm) = realm {
                // The realm must stay one quoted-string (RFC 9110 §5.6.4) on one header line: a
                // control character (CR, LF: header injection; found by fuzz target `writer`) or
                // a trailing backslash would break out of it.
                let mut quoted = String::with_capacity(realm.len() + 13);
                quoted.push_str("Basic realm=\"");
                for c in realm.chars() {
                    match c {
                        '"' => quoted.push('\''),
                        '\\' => quoted.push_str("\\\\"),
                        c if c.is_control() && c != '\t' => quoted.push(' '),
                        c => quoted.push(c),
                    }
                }
                quoted.push('"');
                extra.push(("WWW-Authenticate", quoted));
            }
            if draft1 {
                (401, None)
            } else {
                (401, Some((StatusType::Unauthorized, Detail::None)))
            }
        }
        Refusal::ServiceDenied { conceal } => match (draft1, conceal) {
            (true, false) => (403, None),
            (true, true) => (404, None),
            (false, false) => (200, Some((StatusType::Unauthorized, Detail::None))),
            (false, true) => (200, Some((StatusType::NotFound, Detail::None))),
        },
        Refusal::FeedDenied { conceal } => {
            let t = if *conceal {
                StatusType::NotFound
            } else {
                StatusType::Unauthorized
            };
            (200, Some((t, Detail::None)))
        }
        Refusal::RateLimited { retry_after_secs } => {
            extra.push(("Retry-After", retry_after_secs.to_string()));
            let at = format_rfc3339(ctx.now_unix.saturating_add(*retry_after_secs));
            match d {
                Dialect::Draft1 => (429, Some((StatusType::Retry, Detail::Text(at)))),
                Dialect::V10 => (200, Some((StatusType::Retry, Detail::Text(at)))),
                Dialect::V11 => (
                    200,
                    Some((
                        StatusType::Retry,
                        Detail::Pairs(vec![("ESTIMATED_WAIT", retry_after_secs.to_string())]),
                    )),
                ),
            }
        }
        Refusal::TooLarge => (
            413,
            (!draft1).then_some((StatusType::BadMessage, Detail::None)),
        ),
        Refusal::UpstreamFailed => (
            502,
            (!draft1).then_some((StatusType::Failure, Detail::None)),
        ),
        Refusal::UpstreamTimeout => (
            504,
            (!draft1).then_some((StatusType::Failure, Detail::None)),
        ),
        Refusal::Rejected(kind) => rejected(d, *kind, &mut extra),
        Refusal::Denied => (200, Some((StatusType::Denied, Detail::None))),
    };
    let mut headers = binding_headers(d, ctx.transport, body.is_some());
    headers.extend(extra);
    let body = match body {
        Some((status_type, detail)) => status_message(ctx, status_type, &detail),
        None => Vec::new(),
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// Draft 1 HTTP binding §7: errors found in headers or while parsing are HTTP statuses, with no
/// TAXII body. 1.0 HTTP binding §4: a Status_Message in a 200 "whenever possible"; other
/// statuses only where the request is not a TAXII message at all, and they carry one too.
fn rejected(
    d: Dialect,
    kind: RejectKind,
    extra: &mut Vec<(&'static str, String)>,
) -> (u16, Option<(StatusType, Detail)>) {
    let status = match kind {
        RejectKind::MethodNotAllowed => {
            extra.push((
                "Allow",
                if d == Dialect::Draft1 {
                    "GET, POST"
                } else {
                    "POST"
                }
                .to_string(),
            ));
            405
        }
        RejectKind::UnsupportedMediaType => 415,
        RejectKind::TooLarge => 413,
        RejectKind::NotTaxii => 400,
        _ if d == Dialect::Draft1 => 400,
        _ => 200,
    };
    if d == Dialect::Draft1 {
        return (status, None);
    }
    let detail = match (kind, d) {
        (RejectKind::UnsupportedMediaType, Dialect::V11) => Detail::Pairs(vec![(
            "SUPPORTED_BINDING",
            Dialect::V11.content_type_id().to_string(),
        )]),
        (RejectKind::UnsupportedMediaType, _) => Detail::Text(d.content_type_id().to_string()),
        _ => Detail::None,
    };
    let t = if kind == RejectKind::UnsupportedMediaType {
        StatusType::UnsupportedMessage
    } else {
        StatusType::BadMessage
    };
    (status, Some((t, detail)))
}

/// The headers of the dialect's HTTP binding for an answer.
pub fn binding_headers(
    d: Dialect,
    transport: Transport,
    has_body: bool,
) -> Vec<(&'static str, String)> {
    let mut h = Vec::with_capacity(4);
    if has_body {
        h.push(("Content-Type", "application/xml".to_string()));
        h.push(("X-TAXII-Content-Type", d.content_type_id().to_string()));
    }
    // Draft 1 HTTP binding §6.1: X-TAXII-Protocol MUST be on every response.
    if has_body || d == Dialect::Draft1 {
        h.push(("X-TAXII-Protocol", d.protocol_id(transport).to_string()));
    }
    if has_body {
        if let Some(s) = d.services_id() {
            h.push(("X-TAXII-Services", s.to_string()));
        }
    }
    h
}

/// A fresh message id in the dialect's syntax (DIALECTS.md §4).
pub fn message_id(d: Dialect, seed: u128) -> String {
    match d {
        Dialect::Draft1 => uuid_text(seed),
        // 1.0: an unsigned integer; never empty, never with a sign.
        Dialect::V10 => (seed as u64).to_string(),
        Dialect::V11 => format!("urn:uuid:{}", uuid_text(seed)),
    }
}

fn uuid_text(seed: u128) -> String {
    // Version 4, variant 1 bits, so that the value is a well-formed random UUID.
    let v = (seed & !(0xF << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// An error (Draft 1) or status (1.x) message.
pub fn status_message(ctx: &ReplyContext, status_type: StatusType, detail: &Detail) -> Vec<u8> {
    let d = ctx.dialect;
    let id = message_id(d, ctx.id_seed);
    // Echo the request's id only where this dialect can carry it: a refused message's id may be
    // another dialect's (a 1.1 `urn:uuid:` body under 1.0 headers) or arbitrary text, and
    // echoing it would make the answer itself invalid (found by fuzz target `writer`). 1.x falls
    // back to "0" below; Draft 1's in-response-to is optional and is left out.
    let in_response_to = ctx
        .in_response_to
        .as_deref()
        .filter(|irt| super::values::valid_message_id(d, irt).is_ok());
    let mut x = String::with_capacity(512);
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    match d {
        Dialect::Draft1 => {
            x.push_str("<TAXII_ErrorMessage xmlns=\"");
            x.push_str(d.namespace());
            x.push_str("\" message-id=\"");
            escape_into(&mut x, &id);
            if let Some(irt) = in_response_to {
                x.push_str("\" in-response-to=\"");
                escape_into(&mut x, irt);
            }
            x.push_str("\" error-type=\"");
            x.push_str(status_type.name(d));
            x.push_str("\">");
            if let Detail::Text(t) = detail {
                x.push_str("<error-detail>");
                escape_into(&mut x, t);
                x.push_str("</error-detail>");
            }
            if let Some(m) = &ctx.message {
                x.push_str("<message>");
                escape_into(&mut x, m);
                x.push_str("</message>");
            }
            x.push_str("</TAXII_ErrorMessage>\n");
        }
        Dialect::V10 | Dialect::V11 => {
            x.push_str("<Status_Message xmlns=\"");
            x.push_str(d.namespace());
            x.push_str("\" message_id=\"");
            escape_into(&mut x, &id);
            // 1.x: in_response_to is required on every response; "0" when the request's id
            // could not be read (OpenTAXII does the same).
            x.push_str("\" in_response_to=\"");
            escape_into(&mut x, in_response_to.unwrap_or("0"));
            x.push_str("\" status_type=\"");
            x.push_str(status_type.name(d));
            x.push_str("\">");
            match detail {
                Detail::None => {}
                // 1.1's Status_Detail holds 1-n named <Detail> pairs (DIALECTS.md §7): an unnamed
                // text or no pair at all has no valid form there and is left out (found by fuzz
                // target `writer`; refusal_reply only ever gives 1.1 named pairs).
                Detail::Text(_) if d == Dialect::V11 => {}
                Detail::Pairs(pairs) if d == Dialect::V11 && pairs.is_empty() => {}
                Detail::Text(t) => {
                    x.push_str("<Status_Detail>");
                    escape_into(&mut x, t);
                    x.push_str("</Status_Detail>");
                }
                Detail::Pairs(pairs) if d == Dialect::V11 => {
                    x.push_str("<Status_Detail>");
                    for (name, value) in pairs {
                        x.push_str("<Detail name=\"");
                        escape_into(&mut x, name);
                        x.push_str("\">");
                        escape_into(&mut x, value);
                        x.push_str("</Detail>");
                    }
                    x.push_str("</Status_Detail>");
                }
                Detail::Pairs(pairs) => {
                    // 1.0 has one string: the values, space-separated (DIALECTS.md §7).
                    x.push_str("<Status_Detail>");
                    let joined: Vec<&str> = pairs.iter().map(|(_, v)| v.as_str()).collect();
                    escape_into(&mut x, &joined.join(" "));
                    x.push_str("</Status_Detail>");
                }
            }
            if let Some(m) = &ctx.message {
                x.push_str("<Message>");
                escape_into(&mut x, m);
                x.push_str("</Message>");
            }
            x.push_str("</Status_Message>\n");
        }
    }
    x.into_bytes()
}

/// Escapes text and attribute values; characters XML 1.0 cannot carry become U+FFFD.
fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => {
                out.push_str("&#");
                out.push_str(&(c as u32).to_string());
                out.push(';');
            }
            c if super::skip::is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::{scan_body, ScanLimits};
    use super::*;

    fn ctx(d: Dialect) -> ReplyContext {
        ReplyContext {
            dialect: d,
            transport: Transport::Https,
            in_response_to: Some("a1 & <2>".into()),
            id_seed: 0x0123_4567_89ab_cdef_0123_4567_89ab_cdef,
            now_unix: 1_367_496_000,
            message: Some("rate \"limited\"".into()),
        }
    }

    #[test]
    fn every_refusal_in_every_dialect_is_a_valid_message() {
        let refusals = [
            Refusal::Unauthenticated {
                realm: Some("taxii".into()),
            },
            Refusal::ServiceDenied { conceal: false },
            Refusal::ServiceDenied { conceal: true },
            Refusal::FeedDenied { conceal: false },
            Refusal::FeedDenied { conceal: true },
            Refusal::RateLimited {
                retry_after_secs: 30,
            },
            Refusal::Rejected(RejectKind::Malformed),
            Refusal::Rejected(RejectKind::UnsupportedMediaType),
            Refusal::Rejected(RejectKind::MethodNotAllowed),
            Refusal::Rejected(RejectKind::NotTaxii),
            Refusal::TooLarge,
            Refusal::UpstreamFailed,
            Refusal::UpstreamTimeout,
        ];
        for d in Dialect::ALL {
            for r in &refusals {
                let mut c = ctx(d);
                // 1.0 ids are digits; echoing a foreign id would make an invalid message.
                if d != Dialect::Draft1 {
                    c.in_response_to = Some("41236".into());
                }
                let reply = refusal_reply(&c, r);
                if reply.body.is_empty() {
                    assert_eq!(d, Dialect::Draft1, "{r:?}");
                    assert_eq!(
                        reply.header("X-TAXII-Protocol"),
                        Some("TAXII_HTTPS_BINDING_1.0")
                    );
                    continue;
                }
                let env = scan_body(&reply.body, &ScanLimits::default()).unwrap_or_else(|e| {
                    panic!("{d} {r:?}: {e}\n{}", String::from_utf8_lossy(&reply.body))
                });
                assert_eq!(env.dialect, d);
                assert_eq!(
                    reply.header("X-TAXII-Content-Type"),
                    Some(d.content_type_id())
                );
                assert_eq!(
                    reply.header("X-TAXII-Protocol"),
                    Some(d.protocol_id(Transport::Https))
                );
                assert_eq!(reply.header("X-TAXII-Services"), d.services_id());
                assert_eq!(env.in_response_to.map(|f| f.value), c.in_response_to);
            }
        }
    }

    #[test]
    fn table_of_statuses() {
        let status = |d, r: Refusal| refusal_reply(&ctx(d), &r).status;
        assert_eq!(
            status(Dialect::Draft1, Refusal::Unauthenticated { realm: None }),
            401
        );
        assert_eq!(
            status(Dialect::V11, Refusal::Unauthenticated { realm: None }),
            401
        );
        assert_eq!(
            status(Dialect::Draft1, Refusal::ServiceDenied { conceal: false }),
            403
        );
        assert_eq!(
            status(Dialect::Draft1, Refusal::ServiceDenied { conceal: true }),
            404
        );
        assert_eq!(
            status(Dialect::V10, Refusal::ServiceDenied { conceal: true }),
            200
        );
        assert_eq!(
            status(
                Dialect::Draft1,
                Refusal::RateLimited {
                    retry_after_secs: 1
                }
            ),
            429
        );
        assert_eq!(
            status(
                Dialect::V11,
                Refusal::RateLimited {
                    retry_after_secs: 1
                }
            ),
            200
        );
        assert_eq!(
            status(Dialect::Draft1, Refusal::Rejected(RejectKind::Doctype)),
            400
        );
        assert_eq!(
            status(Dialect::V10, Refusal::Rejected(RejectKind::Doctype)),
            200
        );
        assert_eq!(status(Dialect::V10, Refusal::TooLarge), 413);
        assert_eq!(status(Dialect::V11, Refusal::UpstreamTimeout), 504);
        assert_eq!(status(Dialect::Draft1, Refusal::UpstreamFailed), 502);
    }

    #[test]
    fn retry_details_per_dialect() {
        let body = |d| {
            String::from_utf8(
                refusal_reply(
                    &ctx(d),
                    &Refusal::RateLimited {
                        retry_after_secs: 30,
                    },
                )
                .body,
            )
            .unwrap()
        };
        assert!(body(Dialect::Draft1)
            .contains("error-type=\"PENDING\"><error-detail>2013-05-02T12:00:30Z</error-detail>"));
        assert!(body(Dialect::V10)
            .contains("status_type=\"RETRY\"><Status_Detail>2013-05-02T12:00:30Z</Status_Detail>"));
        assert!(body(Dialect::V11).contains("<Detail name=\"ESTIMATED_WAIT\">30</Detail>"));
        let r = refusal_reply(
            &ctx(Dialect::V11),
            &Refusal::RateLimited {
                retry_after_secs: 30,
            },
        );
        assert_eq!(r.header("Retry-After"), Some("30"));
    }

    #[test]
    fn message_ids_fit_their_dialect() {
        for d in Dialect::ALL {
            for seed in [0u128, 1, u128::MAX, 0xdead_beef] {
                assert!(crate::taxii::values::valid_message_id(d, &message_id(d, seed)).is_ok());
            }
        }
        assert_eq!(
            message_id(Dialect::V11, 0),
            "urn:uuid:00000000-0000-4000-8000-000000000000"
        );
    }
}
