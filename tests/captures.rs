//! Real traffic between cabby / libtaxii and OpenTAXII (shared/interop/captures), read with its
//! HTTP context: every TAXII request and response the real peers exchanged must be accepted in
//! its dialect, and every deliberately broken request must be refused with the right kind.
//!
//! The corpus lives beside the repository (`../shared`, or `$TAXII_SHARED`); the test fails
//! with a message saying so when it is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use taxii_gateway::taxii::{scan_message, Dialect, HttpContext, ScanLimits};

fn shared() -> PathBuf {
    let dir = std::env::var_os("TAXII_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let captures = dir.join("interop/captures");
    assert!(
        captures.is_dir(),
        "the capture corpus is missing at {}: check out shared/ beside the repository or set TAXII_SHARED",
        captures.display()
    );
    captures
}

struct Exchange {
    ctx: HttpContext,
    body: Vec<u8>,
}

/// Parses a capture file: head lines, CRLF CRLF, body byte for byte.
fn parse(path: &Path, request: bool) -> Exchange {
    let raw = std::fs::read(path).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = raw.get(split + 4..).unwrap_or_default().to_vec();
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let (mut method, mut query) = (None, None);
    if request {
        let mut parts = first.split(' ');
        method = parts.next().map(str::to_string);
        let target = parts.next().unwrap_or_default();
        query = target.split_once('?').map(|(_, q)| q.to_string());
    }
    let mut ctx = match &method {
        Some(m) => HttpContext::request(m, query.as_deref()),
        None => HttpContext::default(),
    };
    for line in lines {
        if let Some((n, v)) = line.split_once(':') {
            ctx.header(n.trim(), v.trim()).unwrap();
        }
    }
    Exchange { ctx, body }
}

fn dialect_of(folder: &str) -> Dialect {
    Dialect::from_name(folder).unwrap()
}

/// What the gateway must make of each deliberately odd request (`raw-*`): `Ok(dialect)` or the
/// rejection kind. Requests that are not TAXII at all (health checks, JWT logins, OPTIONS) are
/// refused as not TAXII or as the wrong method.
const RAW: &[(&str, Result<&str, &str>)] = &[
    ("1.0/raw-body-11-headers-10", Err("dialect_mismatch")),
    ("1.0/raw-discovery", Ok("1.0")),
    // `TAXII_Discovery_Request` exists in no dialect, whatever the headers say.
    ("1.0/raw-draft1-headers", Err("unknown_message")),
    ("1.0/raw-draft1-namespace", Err("unknown_message")),
    ("1.0/raw-get-service", Err("not_taxii")),
    ("1.0/raw-malformed-xml", Err("malformed")),
    ("1.0/raw-missing-x-taxii-services", Err("not_taxii")),
    ("1.0/raw-nonnumeric-message-id", Err("invalid_value")),
    ("1.0/raw-poll-data-set", Ok("1.0")),
    ("1.0/raw-poll-feed-a", Ok("1.0")),
    ("1.0/raw-poll-unknown-feed", Ok("1.0")),
    ("1.1/raw-accept-json", Ok("1.1")),
    ("1.1/raw-body-10-headers-11", Err("dialect_mismatch")),
    ("1.1/raw-content-type-text", Err("unsupported_media_type")),
    ("1.1/raw-empty-body", Err("empty")),
    ("1.1/raw-get-health", Err("not_taxii")),
    ("1.1/raw-get-service", Err("not_taxii")),
    ("1.1/raw-get-unknown-path", Err("not_taxii")),
    ("1.1/raw-malformed-xml", Err("malformed")),
    ("1.1/raw-minimal-headers", Err("not_taxii")),
    ("1.1/raw-missing-content-type", Ok("1.1")),
    ("1.1/raw-missing-x-taxii-content-type", Err("not_taxii")),
    ("1.1/raw-missing-x-taxii-services", Err("not_taxii")),
    ("1.1/raw-not-xml", Err("malformed")),
    ("1.1/raw-open-service-bad-basic-auth", Ok("1.1")),
    ("1.1/raw-open-service-bogus-bearer", Ok("1.1")),
    ("1.1/raw-open-service-unknown-auth-scheme", Ok("1.1")),
    ("1.1/raw-options-service", Err("method_not_allowed")),
    ("1.1/raw-poll-feed-a", Ok("1.1")),
    ("1.1/raw-poll-to-discovery", Ok("1.1")),
    ("1.1/raw-poll-unknown-collection", Ok("1.1")),
    ("1.1/raw-post-jwt-auth", Err("unsupported_media_type")),
    ("1.1/raw-post-unknown-path", Ok("1.1")),
    ("1.1/raw-schema-invalid", Err("missing_field")),
    ("1.1/raw-services-10-content-11", Err("dialect_mismatch")),
    ("1.1/raw-unknown-message-type", Err("unknown_message")),
    ("1.1/raw-wrong-x-taxii-accept", Ok("1.1")),
    (
        "1.1/raw-wrong-x-taxii-content-type",
        Err("unsupported_media_type"),
    ),
    (
        "1.1/raw-wrong-x-taxii-protocol",
        Err("unsupported_media_type"),
    ),
    (
        "1.1/raw-wrong-x-taxii-services",
        Err("unsupported_media_type"),
    ),
    ("1.1/raw-xxe-entity", Err("doctype")),
];

#[test]
fn real_traffic_is_read_in_its_dialect() {
    let root = shared();
    let limits = ScanLimits::default();
    let mut seen_raw = Vec::new();
    let mut checked = 0;
    let mut failures = Vec::new();
    for folder in ["1.0", "1.1"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(folder))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for path in files {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let (stem, request) = if let Some(s) = name.strip_suffix(".request.txt") {
                (s, true)
            } else if let Some(s) = name.strip_suffix(".response.txt") {
                (s, false)
            } else {
                continue;
            };
            let ex = parse(&path, request);
            let key = format!("{folder}/{stem}");
            let got = scan_message(&ex.ctx, &ex.body, &limits)
                .map(|e| e.dialect.as_str())
                .map_err(|e| e.kind.as_str());
            let want: Result<&str, &str> = if !request {
                // Responses: those that carry a TAXII message must be read in the request's
                // dialect; OpenTAXII's HTML error pages and JSON answers are not TAXII.
                if ex.ctx.x_taxii_content_type.is_none() {
                    continue;
                }
                // OpenTAXII answers in the dialect of the request message, and in 1.1 when
                // it could not read one (interop README, pitfall 6).
                match ex.ctx.x_taxii_services.as_deref() {
                    Some("urn:taxii.mitre.org:services:1.0") => Ok("1.0"),
                    _ => Ok("1.1"),
                }
            } else if stem.starts_with("raw-") {
                seen_raw.push(key.clone());
                match RAW.iter().find(|(k, _)| *k == key) {
                    Some((_, want)) => *want,
                    None => {
                        failures.push(format!("{key}: no expectation in RAW (got {got:?})"));
                        continue;
                    }
                }
            } else if ex.ctx.content_type.as_deref() == Some("application/json") {
                // cabby's JWT login: POST /management/auth, JSON, no X-TAXII headers.
                Err("unsupported_media_type")
            } else {
                Ok(dialect_of(folder).as_str())
            };
            if got != want {
                failures.push(format!(
                    "{key} ({}): got {got:?}, want {want:?}",
                    if request { "request" } else { "response" }
                ));
            }
            checked += 1;
        }
    }
    for (k, _) in RAW {
        if !seen_raw.iter().any(|s| s == k) {
            failures.push(format!("{k}: listed in RAW but not in the corpus"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} exchanges misread:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 150, "only {checked} exchanges checked");
}
