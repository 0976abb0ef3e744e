//! Fuzz target `writer`: whatever the refusal, the echoed message id, the human-readable text,
//! the realm, the clock and the id seed, the gateway's own answers are valid: every non-empty
//! body is a message `scan_body` accepts, in the requester's dialect, and every header value is
//! one HTTP can carry.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use taxii_gateway::taxii::writer::{status_message, Detail, StatusType};
use taxii_gateway::taxii::{
    refusal_reply, scan_body, Dialect, MessageKind, Refusal, RejectKind, ReplyContext, ScanLimits,
    Transport,
};

const STATUS_TYPES: [StatusType; 7] = [
    StatusType::BadMessage,
    StatusType::Unauthorized,
    StatusType::NotFound,
    StatusType::Denied,
    StatusType::Failure,
    StatusType::Retry,
    StatusType::UnsupportedMessage,
];

const DETAIL_NAMES: [&str; 4] = [
    "ESTIMATED_WAIT",
    "SUPPORTED_BINDING",
    "ITEM",
    "http://acme.example.com/taxii/detail?a=1&b=<2>",
];

/// XML 1.0 §2.2 `Char`: what the writer keeps; everything else becomes U+FFFD.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

fn text(u: &mut Unstructured<'_>) -> Result<Option<String>> {
    u.arbitrary()
}

fn context(u: &mut Unstructured<'_>) -> Result<ReplyContext> {
    Ok(ReplyContext {
        dialect: *u.choose(&Dialect::ALL)?,
        transport: if u.arbitrary()? {
            Transport::Https
        } else {
            Transport::Http
        },
        in_response_to: text(u)?,
        id_seed: u.arbitrary()?,
        now_unix: u.arbitrary()?,
        message: text(u)?,
    })
}

fn refusal(u: &mut Unstructured<'_>) -> Result<Refusal> {
    Ok(match u.int_in_range(0..=7u8)? {
        0 => Refusal::Unauthenticated { realm: text(u)? },
        1 => Refusal::ServiceDenied {
            conceal: u.arbitrary()?,
        },
        2 => Refusal::FeedDenied {
            conceal: u.arbitrary()?,
        },
        3 => Refusal::RateLimited {
            retry_after_secs: u.arbitrary()?,
        },
        4 => Refusal::Rejected(*u.choose(&RejectKind::ALL)?),
        5 => Refusal::TooLarge,
        6 => Refusal::UpstreamFailed,
        _ => Refusal::UpstreamTimeout,
    })
}

/// A body the gateway wrote: a status message in `ctx`'s dialect that the scan accepts, echoing
/// the request's id where the dialect can carry it.
fn check_body(ctx: &ReplyContext, body: &[u8]) {
    let env = match scan_body(body, &ScanLimits::default()) {
        Ok(env) => env,
        Err(e) => panic!(
            "the gateway wrote a message it refuses: {e}\n{}",
            String::from_utf8_lossy(body)
        ),
    };
    assert_eq!(env.dialect, ctx.dialect);
    assert_eq!(env.kind, MessageKind::StatusMessage);
    if ctx.dialect != Dialect::Draft1 {
        // 1.x: in_response_to is required on every response.
        assert!(env.in_response_to.is_some());
    }
    if let (Some(sent), Some(echoed)) = (&ctx.in_response_to, &env.in_response_to) {
        let sent: String = sent
            .chars()
            .map(|c| if is_xml_char(c) { c } else { '\u{FFFD}' })
            .collect();
        // Either the request's id, or the placeholder for an id the dialect cannot carry.
        assert!(
            echoed.value == sent || echoed.value == "0",
            "echoed {:?} for {sent:?}",
            echoed.value
        );
    }
}

/// `Basic realm="…"` with one well-formed quoted-string (RFC 9110 §5.6.4): no bare `"`, every
/// `\\` escaping the next character, nothing after the closing quote.
fn is_basic_challenge(value: &str) -> bool {
    let Some(rest) = value.strip_prefix("Basic realm=\"") else {
        return false;
    };
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return chars.next().is_none(),
            '\\' if chars.next().is_none() => return false,
            _ => {}
        }
    }
    false
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let ctx = context(u)?;
    let refusal = refusal(u)?;
    let reply = refusal_reply(&ctx, &refusal);
    assert!((100..=599).contains(&reply.status));
    for (name, value) in &reply.headers {
        // RFC 9110 §5.5: no CR, LF or NUL (nor other controls but HTAB) in a field value.
        assert!(
            !value.chars().any(|c| c.is_ascii_control() && c != '\t'),
            "header {name}: {value:?}"
        );
    }
    if let Some(challenge) = reply.header("WWW-Authenticate") {
        assert!(
            is_basic_challenge(challenge),
            "WWW-Authenticate: {challenge:?}"
        );
    }
    assert_eq!(
        reply.header("Content-Type").is_some(),
        !reply.body.is_empty()
    );
    if reply.body.is_empty() {
        assert_eq!(ctx.dialect, Dialect::Draft1, "a 1.x refusal without a body");
    } else {
        check_body(&ctx, &reply.body);
    }

    // status_message directly, with any status type and any detail text.
    let status_type = *u.choose(&STATUS_TYPES)?;
    let detail = match u.int_in_range(0..=2u8)? {
        0 => Detail::None,
        1 => Detail::Text(u.arbitrary()?),
        _ => {
            let mut pairs = Vec::new();
            for _ in 0..u.int_in_range(0..=3u8)? {
                pairs.push((*u.choose(&DETAIL_NAMES)?, u.arbitrary()?));
            }
            Detail::Pairs(pairs)
        }
    };
    let body = status_message(&ctx, status_type, &detail);
    check_body(&ctx, &body);
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = run(&mut u);
});
