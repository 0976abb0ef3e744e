//! The streamed scan gives exactly what the whole-body scan gives, however the message is cut
//! into pieces, and holds back at most one unfinished child of the root.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use taxii_gateway::taxii::{scan_body, RejectKind, ScanLimits, StreamScanner};

fn corpus() -> Vec<PathBuf> {
    let shared = std::env::var_os("TAXII_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let own = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files = Vec::new();
    for root in [shared.join("fixtures"), own] {
        for dir in ["draft1", "1.0", "1.1", "bad"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
                continue;
            };
            files.extend(
                entries
                    .map(|e| e.unwrap().path())
                    .filter(|p| p.extension().is_some_and(|x| x == "xml")),
            );
        }
    }
    assert!(
        files.len() > 100,
        "the fixture corpus is missing: put shared/ beside the repository or set TAXII_SHARED"
    );
    files.sort();
    files
}

fn streamed(
    body: &[u8],
    piece: usize,
    limits: ScanLimits,
) -> Result<taxii_gateway::taxii::Envelope, taxii_gateway::taxii::Reject> {
    let mut s = StreamScanner::new(limits);
    let mut last_verified = 0;
    for chunk in body.chunks(piece.max(1)) {
        s.feed(chunk)?;
        // Verified bytes only ever grow and never pass what was fed.
        assert!(s.verified() >= last_verified);
        last_verified = s.verified();
    }
    assert!(last_verified <= body.len());
    s.finish()
}

#[test]
fn every_fixture_streams_to_the_same_result() {
    let limits = ScanLimits::default();
    for path in corpus() {
        let body = std::fs::read(&path).unwrap();
        let whole = scan_body(&body, &limits);
        for piece in [1, 2, 7, 64, 1000, body.len()] {
            let got = streamed(&body, piece, limits);
            match (&whole, &got) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{} in pieces of {piece}", path.display()),
                (Err(a), Err(b)) => assert_eq!(
                    a.kind,
                    b.kind,
                    "{} in pieces of {piece}: {a} vs {b}",
                    path.display()
                ),
                _ => panic!(
                    "{} in pieces of {piece}: whole {whole:?}, streamed {got:?}",
                    path.display()
                ),
            }
        }
    }
}

fn poll_response(blocks: usize) -> Vec<u8> {
    let mut x = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<t:Poll_Response xmlns:t="http://taxii.mitre.org/messages/taxii_xml_binding-1.1" message_id="m1" in_response_to="r1" collection_name="big">
  <t:Inclusive_End_Timestamp>2026-12-04T00:00:00Z</t:Inclusive_End_Timestamp>
"#,
    );
    for i in 0..blocks {
        x.push_str(&format!(
            r#"  <t:Content_Block><t:Content_Binding binding_id="urn:stix.mitre.org:xml:1.1.1"/><t:Content><s:STIX_Package xmlns:s="http://stix.mitre.org/stix-1" id="p{i}"><s:Title>{}</s:Title></s:STIX_Package></t:Content></t:Content_Block>
"#,
            "x".repeat(900)
        ));
    }
    x.push_str("</t:Poll_Response>\n");
    x.into_bytes()
}

#[test]
fn memory_held_is_one_block_not_the_message() {
    let body = poll_response(2_000); // about 2 MB
    let limits = ScanLimits {
        max_held_bytes: 64 * 1024,
        ..ScanLimits::default()
    };
    let env = streamed(&body, 16 * 1024, limits).unwrap();
    assert_eq!(env.content_blocks, 2_000);
    assert_eq!(env, scan_body(&body, &ScanLimits::default()).unwrap());
}

#[test]
fn an_unfinished_element_larger_than_the_hold_limit_is_refused() {
    let mut body = poll_response(1);
    let at = body.len() - "</t:Poll_Response>\n".len();
    let huge = format!(
        "<t:Content_Block><t:Content_Binding binding_id=\"b\"/><t:Content>{}",
        "y".repeat(200_000)
    );
    body.splice(at..at, huge.bytes());
    let limits = ScanLimits {
        max_held_bytes: 64 * 1024,
        ..ScanLimits::default()
    };
    let err = streamed(&body, 8 * 1024, limits).unwrap_err();
    assert_eq!(err.kind, RejectKind::TooLarge);
}

#[test]
fn a_stream_cut_short_is_refused() {
    let body = poll_response(3);
    for cut in [10, body.len() / 2, body.len() - 3] {
        let err = streamed(&body[..cut], 100, ScanLimits::default()).unwrap_err();
        assert_eq!(err.kind, RejectKind::Malformed, "cut at {cut}");
    }
    let err = streamed(b"", 100, ScanLimits::default()).unwrap_err();
    assert_eq!(err.kind, RejectKind::Empty);
}

#[test]
fn hostile_content_is_refused_as_soon_as_it_is_seen() {
    let mut body = poll_response(50);
    let at = body.len() / 2;
    let at = at + body[at..].iter().position(|&b| b == b'x').unwrap();
    body.splice(at..at, b"&xxe;".iter().copied());
    let mut s = StreamScanner::new(ScanLimits::default());
    let mut refused_at = None;
    for (i, chunk) in body.chunks(4096).enumerate() {
        if let Err(e) = s.feed(chunk) {
            assert_eq!(e.kind, RejectKind::Entity);
            refused_at = Some(i);
            break;
        }
    }
    let i = refused_at.expect("the undefined entity was refused while streaming");
    assert!(
        i * 4096 <= at + 8192,
        "refused only at piece {i}, the entity is at byte {at}"
    );
}
