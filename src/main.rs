//! `taxii-gateway`: the command line. Only argument handling lives here.

#![forbid(unsafe_code)]

use std::io::Read;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use taxii_gateway::config::GatewayConfig;
use taxii_gateway::taxii::{scan_message, HttpContext, ScanLimits, Transport};

#[derive(Parser)]
#[command(
    name = "taxii-gateway",
    version,
    about = "A security gateway for TAXII 1.x threat-intelligence sharing"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Run {
        /// The gateway configuration (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// Serve the routes as a plain Pingora passthrough, with no inspection at all: the
        /// baseline of the load benchmark, never for production.
        #[arg(long)]
        passthrough: bool,
    },
    /// Start the embedded sample TAXII upstream and the gateway in front of it
    /// (config/demo.toml: gateway on 127.0.0.1:8080), and print curl commands to try.
    Demo {
        #[arg(long, short, default_value = "config/demo.toml")]
        config: PathBuf,
    },
    /// Run the embedded sample TAXII upstream alone (a demo backend for tests and benchmarks).
    SampleUpstream {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: String,
        /// Base URL to advertise in discovery answers.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        advertise: String,
    },
    /// Load and validate a configuration and everything it names; print a summary.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Read one TAXII message and print its envelope as one JSON object (exit 0), or
    /// {"error": KIND, "detail": TEXT} when the gateway would reject it (exit 2).
    Inspect {
        /// The message file; `-` or nothing reads standard input.
        file: Option<String>,
        /// The HTTP method the message came with (GET for Draft 1 discovery and feed
        /// information requests). Without it, the body alone decides the dialect.
        #[arg(long)]
        method: Option<String>,
        /// An HTTP header, `Name: value`; repeatable.
        #[arg(long = "header", value_name = "NAME: VALUE")]
        headers: Vec<String>,
        /// The query string, without `?`.
        #[arg(long)]
        query: Option<String>,
        /// The transport the message used (`http` or `https`); X-TAXII-Protocol must match it.
        #[arg(long, value_parser = ["http", "https"])]
        transport: Option<String>,
    },
}

fn main() -> ExitCode {
    // Exit 2 means "rejected" for `inspect`; usage errors get 64 (EX_USAGE) instead of clap's 2.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 64 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Run {
            config,
            passthrough,
        } => run(&config, passthrough),
        Command::Demo { config } => demo(&config),
        Command::SampleUpstream { listen, advertise } => {
            init_logging();
            taxii_gateway::server::build_sample_upstream(&listen, &advertise).run_forever()
        }
        Command::Check { config } => match GatewayConfig::load(&config) {
            Ok(c) => {
                print!("{}", c.summary());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("taxii-gateway check: {e}");
                ExitCode::from(1)
            }
        },
        Command::Inspect {
            file,
            method,
            headers,
            query,
            transport,
        } => inspect(
            file.as_deref(),
            method,
            &headers,
            query,
            transport.as_deref(),
        ),
    }
}

fn inspect(
    file: Option<&str>,
    method: Option<String>,
    headers: &[String],
    query: Option<String>,
    transport: Option<&str>,
) -> ExitCode {
    let limits = ScanLimits::default();
    let body = match read_input(file, limits.max_total_bytes) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("taxii-gateway inspect: {e}");
            return ExitCode::from(1);
        }
    };
    let mut ctx = HttpContext {
        method,
        query: query.map(|q| q.trim_start_matches('?').to_string()),
        transport: transport.map(|t| {
            if t == "https" {
                Transport::Https
            } else {
                Transport::Http
            }
        }),
        ..HttpContext::default()
    };
    let result = headers
        .iter()
        .try_for_each(|h| match h.split_once(':') {
            Some((name, value)) => ctx.header(name.trim(), value.trim()),
            None => Err(taxii_gateway::taxii::Reject::new(
                taxii_gateway::taxii::RejectKind::Malformed,
                format!("header {h:?} is not `Name: value`"),
            )),
        })
        .and_then(|()| scan_message(&ctx, &body, &limits));
    match result {
        Ok(envelope) => {
            println!("{}", envelope.to_json());
            ExitCode::SUCCESS
        }
        Err(reject) => {
            let detail = match reject.offset {
                Some(at) => format!("{} (at byte {at})", reject.detail),
                None => reject.detail.clone(),
            };
            println!(
                "{}",
                serde_json::json!({ "error": reject.kind.as_str(), "detail": detail })
            );
            ExitCode::from(2)
        }
    }
}

/// Reads at most `limit + 1` bytes, so that an oversized input is refused by the scan's size
/// limit without being read whole.
fn read_input(file: Option<&str>, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let cap = limit as u64 + 1;
    match file {
        None | Some("-") => std::io::stdin().lock().take(cap).read_to_end(&mut body)?,
        Some(path) => std::fs::File::open(path)?
            .take(cap)
            .read_to_end(&mut body)?,
    };
    Ok(body)
}

/// `run`: validate, then serve until SIGTERM (graceful) or SIGINT (fast).
fn run(path: &std::path::Path, passthrough: bool) -> ExitCode {
    init_logging();
    let config = match GatewayConfig::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("taxii-gateway run: {e}");
            return ExitCode::from(1);
        }
    };
    let mode = if passthrough {
        taxii_gateway::server::Mode::Passthrough
    } else {
        taxii_gateway::server::Mode::Gateway
    };
    match taxii_gateway::server::build(config, mode) {
        Ok(server) => server.run_forever(),
        Err(e) => {
            eprintln!("taxii-gateway run: {e}");
            ExitCode::from(1)
        }
    }
}

fn init_logging() {
    let env = env_logger::Env::default().default_filter_or("info");
    let _ = env_logger::Builder::from_env(env).try_init();
}

/// `demo`: the sample upstream and the gateway in front of it, with commands to paste.
fn demo(path: &std::path::Path) -> ExitCode {
    init_logging();
    let config = match GatewayConfig::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("taxii-gateway demo: {e}");
            return ExitCode::from(1);
        }
    };
    let (server, public, feeds) = match taxii_gateway::server::build_demo(config) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("taxii-gateway demo: {e}");
            return ExitCode::from(1);
        }
    };
    let feed = feeds.first().copied().unwrap_or("indicators");
    let v10 = "-H 'Content-Type: application/xml' -H 'X-TAXII-Content-Type: urn:taxii.mitre.org:message:xml:1.0' \\\n    -H 'X-TAXII-Protocol: urn:taxii.mitre.org:protocol:http:1.0' -H 'X-TAXII-Services: urn:taxii.mitre.org:services:1.0'";
    let v11 = "-H 'Content-Type: application/xml' -H 'X-TAXII-Content-Type: urn:taxii.mitre.org:message:xml:1.1' \\\n    -H 'X-TAXII-Protocol: urn:taxii.mitre.org:protocol:http:1.0' -H 'X-TAXII-Services: urn:taxii.mitre.org:services:1.1'";
    println!(
        "taxii-gateway demo: the gateway on {public}, in front of the sample upstream (feeds: {feeds}).\n\n\
         # Draft 1 discovery (a GET):\n\
         curl -s '{public}/services/discovery?message_type=discovery_request&message_id=a84798beffe840ee' \\\n    -H 'X-TAXII-Protocol: TAXII_HTTP_BINDING_1.0'\n\n\
         # TAXII 1.0 feed information:\n\
         curl -s {public}/services/feed-management {v10} \\\n    --data '<Feed_Information_Request xmlns=\"http://taxii.mitre.org/messages/taxii_xml_binding-1\" message_id=\"41236\"/>'\n\n\
         # TAXII 1.1 poll of {feed}:\n\
         curl -s {public}/services/poll {v11} \\\n    --data '<Poll_Request xmlns=\"http://taxii.mitre.org/messages/taxii_xml_binding-1.1\" message_id=\"urn:uuid:6f1f3c1e-0d3a-4c55-8a4e-1a2b3c4d5e70\" collection_name=\"{feed}\"><Poll_Parameters/></Poll_Request>'\n\n\
         # A hostile message, refused before it reaches the upstream:\n\
         curl -s {public}/services/poll {v11} \\\n    --data '<!DOCTYPE x [<!ENTITY a \"b\">]><Poll_Request xmlns=\"http://taxii.mitre.org/messages/taxii_xml_binding-1.1\" message_id=\"1\" collection_name=\"{feed}\"/>'\n\n\
         Ctrl-C stops it.",
        feeds = feeds.join(", ")
    );
    server.run_forever()
}
