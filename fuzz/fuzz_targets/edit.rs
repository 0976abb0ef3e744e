//! Fuzz target `edit`: the operator rules' editor ([`edit_message`]) on any message the scan
//! accepts, with rules chosen by the input. It never panics; an edited message always scans
//! back in the same dialect as the same kind of message; its feeds are the renamed ones; its
//! extended headers are the kept ones plus the added ones; a signed message is never changed;
//! and the content blocks (what digests cover) are byte-identical after the edit.
//!
//! Input layout: byte 0 picks the rules (bit 0 rename, bit 1 strip all, bit 2 strip one name,
//! bit 3 add a header, bit 4 set the push message, bit 5 clamp the begin); byte 1 a length for
//! the new feed name suffix; the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taxii_gateway::taxii::edit::{content_digests, edit_message, Rules, StripHeaders};
use taxii_gateway::taxii::{scan_body, Outcome, ScanLimits};

fuzz_target!(|data: &[u8]| {
    let [b0, b1, body @ ..] = data else {
        return;
    };
    let limits = ScanLimits::default();
    let Ok(env) = scan_body(body, &limits) else {
        return;
    };
    let suffix = "x&<\"'".repeat(usize::from(*b1 % 4));
    let rename = |name: &str| Some(format!("pub-{name}{suffix}"));
    let strip_one = ["urn:fuzz:a".to_string()];
    let add = [("urn:fuzz:partner".to_string(), "alpha&<".to_string())];
    let rules = Rules {
        rename_feed: (b0 & 1 != 0).then_some(&rename as _),
        strip_headers: if b0 & 2 != 0 {
            StripHeaders::All
        } else if b0 & 4 != 0 {
            StripHeaders::Named(&strip_one)
        } else {
            StripHeaders::None
        },
        add_headers: if b0 & 8 != 0 { &add } else { &[] },
        set_message: (b0 & 16 != 0).then_some("relayed & <checked>"),
        begin_not_before: (b0 & 32 != 0).then_some(1_700_000_000),
    };
    let Ok(edited) = edit_message(body, &env, &rules) else {
        return;
    };
    match &edited.outcome {
        Outcome::Unchanged => {}
        Outcome::Signed => assert!(env.signed, "Signed outcome for an unsigned message"),
        Outcome::Rewritten(new) => {
            assert!(!env.signed, "a signed message was rewritten");
            let back = scan_body(new, &limits)
                .unwrap_or_else(|r| panic!("the edited message does not scan: {r}"));
            assert_eq!(back.dialect, env.dialect);
            assert_eq!(back.kind, env.kind);
            assert_eq!(back.message_id.value, env.message_id.value);
            assert_eq!(back.content_blocks, env.content_blocks);
            assert_eq!(
                content_digests(new, &back),
                content_digests(body, &env),
                "content blocks changed"
            );
            if b0 & 1 != 0 {
                // Every feed name that came from the body now carries the new prefix.
                assert_eq!(back.feeds.len(), env.feeds.len(), "feeds count");
                for (f, g) in env.feeds.iter().zip(&back.feeds) {
                    if !f.span.is_empty() {
                        assert!(
                            g.value.starts_with("pub-"),
                            "feed {:?} not renamed",
                            f.value
                        );
                    }
                }
            }
            if b0 & 2 != 0 && b0 & 8 == 0 {
                assert!(back.extended_headers.is_empty(), "strip all left headers");
            }
        }
    }
});
