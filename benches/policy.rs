//! Policy evaluation cost: decisions per second on a generated policy of 100 partners and 1,000
//! grants (10 per partner: exact names, `prefix-*` globs and `?`/`*` globs mixed, every action,
//! some narrowed by content bindings, delivery addresses and a poll window), for 1.1 poll,
//! push and subscribe requests, allowed and denied, spread over all partners. The envelopes are
//! scanned once beforehand: this measures [`decide`] alone.
//!
//! ```text
//! cargo bench --bench policy
//! ```
//!
//! Criterion reports elements/s: one element is one decision (or one credential lookup in the
//! group `credentials`).

use std::fmt::Write;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use taxii_gateway::policy::{decide, hash_secret, hash_token, Decision, Policy};
use taxii_gateway::taxii::{scan_body, Envelope, ScanLimits};

const NS_11: &str = "http://taxii.mitre.org/messages/taxii_xml_binding-1.1";
const PARTNERS: usize = 100;
const GRANTS_PER_PARTNER: usize = 10;
const NOW: u64 = 1_704_067_200;

fn generated_policy() -> Policy {
    let mut text = String::new();
    for p in 0..PARTNERS {
        let _ = write!(
            text,
            "[[partner]]\nid = \"partner-{p}\"\ntokens = [\"{}\"]\n\n",
            hash_token(&format!("token-{p}"))
        );
        for g in 0..GRANTS_PER_PARTNER {
            let feeds = match g % 4 {
                0 => format!("[\"feed-{p}-{g}\", \"shared-{g}\"]"),
                1 => format!("[\"org-{p}-*\"]"),
                2 => format!("[\"sector-{g}-?-{p}\", \"*-{p}-{g}-archive\"]"),
                _ => format!("[\"feed-{p}-{g}\"]"),
            };
            let actions = match g % 3 {
                0 => "[\"feed_info\", \"poll\"]",
                1 => "[\"poll\", \"push\", \"subscribe\", \"manage_subscription\"]",
                _ => "[\"discover\", \"feed_info\", \"poll\", \"push\", \"subscribe\"]",
            };
            let _ = write!(
                text,
                "[[partner.grant]]\nfeeds = {feeds}\nactions = {actions}\n"
            );
            if g % 2 == 1 {
                text.push_str(
                    "content_bindings = [\"urn:stix.mitre.org:xml:1.1.1\", \"urn:stix.mitre.org:xml:1.2\"]\n",
                );
                let _ = writeln!(
                    text,
                    "delivery_addresses = [{{ prefix = \"https://partner-{p}.example/\" }}, {{ exact = \"https://soc.example/inbox\" }}]"
                );
            }
            if g % 5 == 4 {
                text.push_str("max_poll_window_seconds = 604800\n");
            }
            text.push('\n');
        }
    }
    let policy = Policy::parse(Path::new("generated.toml"), &text)
        .unwrap_or_else(|e| panic!("generated policy: {e}"));
    let grants: usize = policy.partners().iter().map(|p| p.grants.len()).sum();
    assert_eq!(
        (policy.partners().len(), grants),
        (PARTNERS, PARTNERS * GRANTS_PER_PARTNER)
    );
    policy
}

fn scan(body: &str) -> Envelope {
    scan_body(body.as_bytes(), &ScanLimits::default()).unwrap_or_else(|r| panic!("{r}: {body}"))
}

fn poll(feed: &str) -> Envelope {
    scan(&format!(
        r#"<Poll_Request xmlns="{NS_11}" message_id="urn:uuid:1" collection_name="{feed}"><Exclusive_Begin_Timestamp>2023-12-31T00:00:00Z</Exclusive_Begin_Timestamp><Poll_Parameters><Response_Type>FULL</Response_Type><Content_Binding binding_id="urn:stix.mitre.org:xml:1.1.1"/></Poll_Parameters></Poll_Request>"#
    ))
}

fn push(destinations: &[String]) -> Envelope {
    let dest: String = destinations
        .iter()
        .map(|d| format!("<Destination_Collection_Name>{d}</Destination_Collection_Name>"))
        .collect();
    scan(&format!(
        r#"<Inbox_Message xmlns="{NS_11}" message_id="urn:uuid:2">{dest}<Content_Block><Content_Binding binding_id="urn:stix.mitre.org:xml:1.2"/><Content>x</Content></Content_Block></Inbox_Message>"#
    ))
}

fn subscribe(feed: &str, address: &str) -> Envelope {
    scan(&format!(
        r#"<Subscription_Management_Request xmlns="{NS_11}" message_id="urn:uuid:3" action="SUBSCRIBE" collection_name="{feed}"><Subscription_Parameters><Content_Binding binding_id="urn:stix.mitre.org:xml:1.1.1"/></Subscription_Parameters><Push_Parameters><Protocol_Binding>urn:taxii.mitre.org:protocol:https:1.0</Protocol_Binding><Address>{address}</Address><Message_Binding>urn:taxii.mitre.org:message:xml:1.1</Message_Binding></Push_Parameters></Subscription_Management_Request>"#
    ))
}

fn decisions(c: &mut Criterion) {
    let policy = generated_policy();
    // (partner index, envelope) pairs: for every partner a poll, a push and a subscribe that
    // are allowed (matching an exact name, a prefix glob and a `?`/`*` glob) and the same
    // denied (other partners' feeds: every grant is tried).
    let mut work: Vec<(usize, Envelope)> = Vec::new();
    for p in 0..PARTNERS {
        work.push((p, poll(&format!("feed-{p}-0"))));
        work.push((p, poll(&format!("sector-2-x-{p}"))));
        work.push((p, poll(&format!("feed-{}-0", (p + 1) % PARTNERS))));
        work.push((p, push(&[format!("org-{p}-a"), format!("x-{p}-2-archive")])));
        work.push((p, push(&[format!("org-{}-a", (p + 1) % PARTNERS)])));
        work.push((
            p,
            subscribe(
                &format!("org-{p}-b"),
                &format!("https://partner-{p}.example/in"),
            ),
        ));
        work.push((
            p,
            subscribe(&format!("org-{p}-b"), "https://evil.example/in"),
        ));
    }
    let partners = policy.partners();
    let allowed = work
        .iter()
        .filter(|(p, e)| decide(&policy, &partners[*p], e, None, NOW).is_allow())
        .count();
    assert_eq!(
        allowed,
        PARTNERS * 4,
        "the mix of allowed and denied decisions changed"
    );

    let mut g = c.benchmark_group("decide");
    g.throughput(Throughput::Elements(work.len() as u64))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    g.bench_function("100_partners_1000_grants_mixed", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for (p, env) in &work {
                if let Decision::Allow { .. } =
                    decide(&policy, &partners[*p], black_box(env), None, NOW)
                {
                    n += 1;
                }
            }
            n
        })
    });
    g.finish();

    let mut g = c.benchmark_group("credentials");
    g.throughput(Throughput::Elements(1))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g.bench_function("partner_by_token", |b| {
        b.iter(|| policy.partner_by_token(black_box("token-57")).is_some())
    });
    // Basic: a verified password is remembered (a keyed SHA-256 lookup); a wrong one costs a
    // full argon2id verification every time (19 MiB, 2 passes: the crate's defaults).
    let hash = hash_secret("pass").unwrap_or_default();
    let basic = Policy::parse(
        Path::new("basic.toml"),
        &format!(
            "[[partner]]\nid = \"b\"\nbasic = {{ user = \"u\", password_hash = \"{hash}\" }}\n"
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(basic.partner_by_basic("u", "pass").is_some());
    g.bench_function("partner_by_basic_verified", |b| {
        b.iter(|| basic.partner_by_basic("u", black_box("pass")).is_some())
    });
    g.sample_size(10);
    g.bench_function("partner_by_basic_wrong_password", |b| {
        b.iter(|| basic.partner_by_basic("u", black_box("wrong")).is_some())
    });
    g.finish();
}

criterion_group!(benches, decisions);
criterion_main!(benches);
