//! Envelope scan throughput (MB/s, MB = 10^6 bytes): a ~1 KB 1.1 Poll Request and 1 MB, 10 MB
//! and 100 MB 1.1 Poll Responses of ~5.9 KB STIX 1.1.1 content blocks, all from
//! [`taxii_gateway::demo`]. The payload of each block is skipped, not decoded.
//!
//! ```text
//! cargo bench --bench scan                 # all groups, about two minutes on 2 cores
//! cargo bench --bench scan -- response/10MB
//! ```
//!
//! Goal (issue "Benchmark"): at least 1 GB/s per core on the large responses.
//! `scripts/bench-parse.sh` runs this and compares with libtaxii on the same 10 MB message.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use taxii_gateway::demo;
use taxii_gateway::taxii::{scan_body, Dialect, ScanLimits};

/// The defaults, except that a 100 MB body and its ~1.5 million elements are allowed.
fn limits() -> ScanLimits {
    ScanLimits {
        max_total_bytes: 128 * 1024 * 1024,
        max_elements: 10_000_000,
        ..ScanLimits::default()
    }
}

fn request(c: &mut Criterion) {
    let limits = limits();
    let body = demo::poll_request(Dialect::V11);
    assert!(scan_body(&body, &limits).is_ok());
    let mut g = c.benchmark_group("request");
    g.throughput(Throughput::BytesDecimal(body.len() as u64))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g.bench_function("poll_1.1_1KB", |b| {
        b.iter(|| scan_body(black_box(&body), &limits))
    });
    g.finish();
}

fn responses(c: &mut Criterion) {
    let limits = limits();
    let mut g = c.benchmark_group("response");
    for (label, target, samples, seconds) in [
        ("1MB", 1_000_000, 30, 4),
        ("10MB", 10_000_000, 10, 5),
        ("100MB", 100_000_000, 10, 10),
    ] {
        let body = demo::poll_response(Dialect::V11, target);
        let blocks = scan_body(&body, &limits).map(|e| e.content_blocks);
        assert!(matches!(blocks, Ok(n) if n > 100), "{label}: {blocks:?}");
        g.throughput(Throughput::BytesDecimal(body.len() as u64))
            .sample_size(samples)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(seconds));
        g.bench_with_input(BenchmarkId::new("poll_1.1", label), &body, |b, body| {
            b.iter(|| scan_body(black_box(body), &limits))
        });
    }
    g.finish();
}

criterion_group!(benches, request, responses);
criterion_main!(benches);
