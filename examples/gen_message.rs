//! Writes one generated demo message to a file, so that other tools (libtaxii, curl, the
//! comparison script `scripts/bench-parse.sh`) work on the exact bytes the benches scan.
//!
//! ```text
//! cargo run --release --example gen_message -- DIALECT SIZE FILE
//!   DIALECT  draft1 | 1.0 | 1.1
//!   SIZE     target size in bytes of a Poll Response (e.g. 10000000), or `request` for the
//!            ~1 KB Poll Request
//!   FILE     output path, `-` for standard output
//! ```
//!
//! Prints the size and the content block count to standard error.

use std::io::Write;
use std::process::ExitCode;

use taxii_gateway::demo;
use taxii_gateway::taxii::{scan_body, Dialect, ScanLimits};

const USAGE: &str = "usage: gen_message DIALECT (SIZE|request) FILE   (DIALECT: draft1, 1.0, 1.1)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dialect, size, file] = args.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let Some(dialect) = Dialect::from_name(dialect) else {
        eprintln!("unknown dialect {dialect:?}\n{USAGE}");
        return ExitCode::from(2);
    };
    let message = if size == "request" {
        demo::poll_request(dialect)
    } else {
        match size.replace('_', "").parse::<usize>() {
            Ok(n) => demo::poll_response(dialect, n),
            Err(_) => {
                eprintln!("SIZE must be a number of bytes or `request`\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    };
    let written = if file == "-" {
        std::io::stdout().write_all(&message)
    } else {
        std::fs::write(file, &message)
    };
    if let Err(e) = written {
        eprintln!("cannot write {file}: {e}");
        return ExitCode::FAILURE;
    }
    let limits = ScanLimits {
        max_total_bytes: message.len(),
        max_elements: usize::MAX,
        ..ScanLimits::default()
    };
    match scan_body(&message, &limits) {
        Ok(env) => {
            eprintln!(
                "{file}: {dialect} {:?}, {} bytes, {} content blocks",
                env.kind,
                message.len(),
                env.content_blocks
            );
            ExitCode::SUCCESS
        }
        Err(r) => {
            eprintln!("{file}: the scanner rejects the generated message: {r:?}");
            ExitCode::FAILURE
        }
    }
}
