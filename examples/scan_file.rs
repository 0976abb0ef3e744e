//! Times the envelope scan (`scan_body`) of one message file, for comparisons with other parsers
//! on the same bytes (`scripts/bench-parse.sh`). Criterion (`cargo bench --bench scan`) is the
//! reference measurement; this is the same call in a plain loop.
//!
//! ```text
//! cargo run --release --example scan_file -- FILE [ITERATIONS]
//! ```
//!
//! Prints one line: `rust_scan bytes=… iterations=… median_s=… min_s=… mb_per_s=…` (MB = 10^6
//! bytes, from the median).

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use taxii_gateway::taxii::{scan_body, ScanLimits};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (file, iterations) = match args.as_slice() {
        [file] => (file, 21),
        [file, n] => match n.parse::<usize>() {
            Ok(n) if n > 0 => (file, n),
            _ => {
                eprintln!("ITERATIONS must be a positive number");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("usage: scan_file FILE [ITERATIONS]");
            return ExitCode::from(2);
        }
    };
    let body = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cannot read {file}: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The defaults would refuse a 100 MB body; everything else stays at its default.
    let limits = ScanLimits {
        max_total_bytes: body.len(),
        max_elements: usize::MAX,
        ..ScanLimits::default()
    };
    let blocks = match scan_body(&body, &limits) {
        Ok(env) => env.content_blocks,
        Err(r) => {
            eprintln!("{file}: rejected: {r:?}");
            return ExitCode::FAILURE;
        }
    };
    // Warm up caches and the branch predictor before timing.
    for _ in 0..3 {
        let _ = black_box(scan_body(black_box(&body), &limits));
    }
    let mut times: Vec<f64> = (0..iterations)
        .map(|_| {
            let t = Instant::now();
            let _ = black_box(scan_body(black_box(&body), &limits));
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "rust_scan bytes={} blocks={} iterations={} median_s={:.6} min_s={:.6} mb_per_s={:.1}",
        body.len(),
        blocks,
        iterations,
        median,
        times[0],
        body.len() as f64 / median / 1e6
    );
    ExitCode::SUCCESS
}
