//! Response rewriting throughput (MB/s, MB = 10^6 bytes) on a generated ~10 MB TAXII 1.1
//! Collection_Information_Response: many collections, each with a push method, two polling
//! services, a subscription service and a receiving inbox; the partner holds a grant on every
//! other collection, so half of them are dropped and every address of the rest is rewritten
//! from the upstream's to the gateway's.
//!
//! ```text
//! cargo bench --bench rewrite                    # scan + rewrite, rewrite alone, scan alone
//! cargo bench --bench rewrite -- scan_rewrite
//! ```
//!
//! Issue "Partners and policy": the closing note gives the rewrite MB/s on a 10 MB collection
//! information response. `scan_rewrite` is what the gateway does to such a response (it must
//! scan it anyway to verify it); `rewrite` is the splice alone, from the envelope.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use taxii_gateway::taxii::{
    edit_message, rewrite_response, scan_body, Outcome, RewritePlan, Rules, ScanLimits,
};

const UPSTREAM: &str = "http://upstream.internal:9000";
const GATEWAY: &str = "https://gw.example:9443";

/// A 1.1 Collection_Information_Response of about `target` bytes.
fn collection_information(target: usize) -> Vec<u8> {
    let mut s = String::with_capacity(target + 4096);
    s.push_str(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<taxii_11:Collection_Information_Response \
         xmlns:taxii_11=\"http://taxii.mitre.org/messages/taxii_xml_binding-1.1\" \
         message_id=\"urn:uuid:0a9b8c7d-1111-4222-8333-944455556667\" \
         in_response_to=\"urn:uuid:6f1f3c1e-0d3a-4c55-8a4e-1a2b3c4d5e70\">\n",
    );
    let service = |s: &mut String, element: &str, path: &str, i: usize| {
        let _ = write!(
            s,
            "    <taxii_11:{element}>\n      \
             <taxii_11:Protocol_Binding>urn:taxii.mitre.org:protocol:http:1.0</taxii_11:Protocol_Binding>\n      \
             <taxii_11:Address>{UPSTREAM}/services/{path}?collection=feed-{i}</taxii_11:Address>\n      \
             <taxii_11:Message_Binding>urn:taxii.mitre.org:message:xml:1.0</taxii_11:Message_Binding>\n      \
             <taxii_11:Message_Binding>urn:taxii.mitre.org:message:xml:1.1</taxii_11:Message_Binding>\n    \
             </taxii_11:{element}>\n"
        );
    };
    let mut i = 0;
    while s.len() < target {
        let _ = write!(
            s,
            "  <taxii_11:Collection collection_name=\"feed-{i}\" collection_type=\"DATA_FEED\" available=\"true\">\n    \
             <taxii_11:Description>Collection {i}: indicators and observables shared by the community, \
             STIX 1.1.1 and 1.2.</taxii_11:Description>\n    \
             <taxii_11:Collection_Volume>{}</taxii_11:Collection_Volume>\n    \
             <taxii_11:Content_Binding binding_id=\"urn:stix.mitre.org:xml:1.1.1\"/>\n    \
             <taxii_11:Content_Binding binding_id=\"urn:stix.mitre.org:xml:1.2\"/>\n    \
             <taxii_11:Push_Method>\n      \
             <taxii_11:Protocol_Binding>urn:taxii.mitre.org:protocol:http:1.0</taxii_11:Protocol_Binding>\n      \
             <taxii_11:Message_Binding>urn:taxii.mitre.org:message:xml:1.1</taxii_11:Message_Binding>\n    \
             </taxii_11:Push_Method>\n",
            i * 7
        );
        service(&mut s, "Polling_Service", "poll", i);
        service(&mut s, "Polling_Service", "poll-auth", i);
        service(&mut s, "Subscription_Service", "collection-management", i);
        service(&mut s, "Receiving_Inbox_Service", "inbox", i);
        s.push_str("  </taxii_11:Collection>\n");
        i += 1;
    }
    s.push_str("</taxii_11:Collection_Information_Response>\n");
    s.into_bytes()
}

fn to_gateway(addr: &str) -> Option<String> {
    addr.strip_prefix(UPSTREAM)
        .map(|path| format!("{GATEWAY}{path}"))
}

/// Every other collection, by the number in its name.
fn granted(name: &str) -> bool {
    name.strip_prefix("feed-")
        .and_then(|n| n.parse::<u64>().ok())
        .is_some_and(|n| n % 2 == 0)
}

fn rewrite(c: &mut Criterion) {
    let limits = ScanLimits::default();
    let body = collection_information(10_000_000);
    let plan = RewritePlan::new(&to_gateway).keep_feeds(&granted);

    // What is measured is right: half the collections gone, every address the gateway's, and the
    // result scans again.
    let env = scan_body(&body, &limits).expect("the generated message scans");
    let r = rewrite_response(&body, &env, &plan).expect("spans fit");
    let Outcome::Rewritten(out) = &r.outcome else {
        panic!("not rewritten: {r:?}")
    };
    let after = scan_body(out, &limits).expect("the rewrite scans");
    assert_eq!(after.feed_records.len(), env.feed_records.len().div_ceil(2));
    assert_eq!(r.feeds_dropped, env.feed_records.len() / 2);
    assert_eq!(r.addresses_rewritten, after.services.len());
    assert!(after
        .services
        .iter()
        .all(|s| s.address.value.starts_with(GATEWAY)));
    eprintln!(
        "rewrite bench: {} bytes, {} collections, {} service records -> {} bytes, {} addresses rewritten",
        body.len(),
        env.feed_records.len(),
        env.services.len(),
        out.len(),
        r.addresses_rewritten
    );

    let mut g = c.benchmark_group("collection_information_1.1_10MB");
    g.throughput(Throughput::BytesDecimal(body.len() as u64))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    g.bench_function("scan_rewrite", |b| {
        b.iter(|| {
            let env = scan_body(black_box(&body), &limits).expect("scans");
            rewrite_response(&body, &env, &plan).expect("rewrites")
        })
    });
    g.bench_function("rewrite", |b| {
        b.iter(|| rewrite_response(black_box(&body), &env, &plan).expect("rewrites"))
    });
    g.bench_function("scan", |b| b.iter(|| scan_body(black_box(&body), &limits)));
    g.finish();
}

/// A 1.1 Poll_Response of about `target` bytes: STIX content blocks of ~4 KB.
fn poll_response(target: usize) -> Vec<u8> {
    let mut s = String::with_capacity(target + 8192);
    s.push_str(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<taxii_11:Poll_Response \
         xmlns:taxii_11=\"http://taxii.mitre.org/messages/taxii_xml_binding-1.1\" \
         message_id=\"urn:uuid:0a9b8c7d-1111-4222-8333-944455556668\" \
         in_response_to=\"urn:uuid:6f1f3c1e-0d3a-4c55-8a4e-1a2b3c4d5e71\" collection_name=\"feed-a\">\n  \
         <taxii_11:Inclusive_End_Timestamp>2026-12-04T10:00:00Z</taxii_11:Inclusive_End_Timestamp>\n",
    );
    let mut i = 0;
    while s.len() < target {
        let _ = write!(
            s,
            "  <taxii_11:Content_Block>\n    \
             <taxii_11:Content_Binding binding_id=\"urn:stix.mitre.org:xml:1.1.1\"/>\n    \
             <taxii_11:Content><stix:STIX_Package xmlns:stix=\"http://stix.mitre.org/stix-1\" id=\"p-{i}\">"
        );
        for j in 0..40 {
            let _ = write!(
                s,
                "<stix:Indicator id=\"i-{i}-{j}\"><stix:Title>Indicator {j} of package {i}</stix:Title></stix:Indicator>"
            );
        }
        s.push_str("</stix:STIX_Package></taxii_11:Content>\n  </taxii_11:Content_Block>\n");
        i += 1;
    }
    s.push_str("</taxii_11:Poll_Response>\n");
    s.into_bytes()
}

fn rename(name: &str) -> Option<String> {
    (name == "feed-a").then(|| "community-a".to_string())
}

/// Issue 6: the message edits on a 10 MB poll response (the collection renamed to its public
/// name, a header added): the splice alone, from the envelope.
fn edit(c: &mut Criterion) {
    let limits = ScanLimits::default();
    let body = poll_response(10_000_000);
    let headers = [("urn:example:partner".to_string(), "alpha".to_string())];
    let rules = Rules {
        rename_feed: Some(&rename),
        add_headers: &headers,
        ..Rules::default()
    };
    let env = scan_body(&body, &limits).expect("the generated message scans");
    let r = edit_message(&body, &env, &rules).expect("spans fit");
    let Outcome::Rewritten(out) = &r.outcome else {
        panic!("not edited: {r:?}")
    };
    let after = scan_body(out, &limits).expect("the edit scans");
    assert_eq!(after.feeds[0].value, "community-a");
    assert_eq!(after.content_blocks, env.content_blocks);

    let mut g = c.benchmark_group("poll_response_1.1_10MB");
    g.throughput(Throughput::BytesDecimal(body.len() as u64))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    g.bench_function("edit_message", |b| {
        b.iter(|| edit_message(black_box(&body), &env, &rules).expect("edits"))
    });
    g.finish();
}

criterion_group!(benches, rewrite, edit);
criterion_main!(benches);
