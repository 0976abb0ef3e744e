//! Audit throughput: sealing records into the hash chain (JSON + SHA-256), and through the
//! queue and writer thread to a flushed file, records per second.

#![allow(clippy::expect_used)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use taxii_gateway::audit::{AuditRecord, Chain};

fn record(i: u64) -> AuditRecord {
    AuditRecord {
        time: "2026-12-04T22:21:31.123Z".into(),
        request_id: format!("{i:032x}"),
        partner: Some("alpha".into()),
        credential: Some("basic".into()),
        client_addr: "127.0.0.1:50000".into(),
        route: Some("/services/poll".into()),
        dialect: Some("1.1".into()),
        message_type: Some("Poll_Request".into()),
        message_id: Some(format!("urn:uuid:{i}")),
        in_response_to: None,
        feeds: vec!["feed-a".into()],
        action: Some("poll".into()),
        decision: "forwarded".into(),
        reason: None,
        upstream_status: Some(200),
        response_message_type: Some("Poll_Response".into()),
        response_status_type: None,
        request_bytes: 1306,
        response_bytes: 6707,
        content_blocks: Some(1),
        latency_ms: 2,
        content_digests: Vec::new(),
        rewrites: Vec::new(),
        signed: None,
        capture: Vec::new(),
    }
}

fn seal(c: &mut Criterion) {
    let records: Vec<AuditRecord> = (0..1000).map(record).collect();
    let mut group = c.benchmark_group("audit");
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function("seal_1000_records", |b| {
        b.iter(|| {
            let mut chain = Chain::genesis();
            let mut bytes = 0;
            for r in &records {
                bytes += chain.seal(r).len();
            }
            bytes
        })
    });
    // Through the log as the gateway uses it: the bounded queue, the writer thread sealing and
    // appending to a file, until every record is flushed.
    let dir = std::env::temp_dir().join(format!("tg-audit-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let log = taxii_gateway::audit::writer::AuditLog::open(&dir.join("audit.jsonl"), 10_000, true)
        .expect("audit log");
    group.bench_function("log_1000_records_to_file", |b| {
        b.iter(|| {
            for r in &records {
                log.record(r.clone());
            }
            assert!(log.flush(std::time::Duration::from_secs(10)));
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, seal);
criterion_main!(benches);
