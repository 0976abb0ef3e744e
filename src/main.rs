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
    /// Ask a running gateway to reload its configuration and policies (SIGHUP).
    Reload {
        /// The pid file of the running gateway (`[server] pid_file`).
        #[arg(long)]
        pid_file: PathBuf,
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
    /// Hash a secret read from standard input, for a policy file.
    ///
    /// Reads one line (its line end is not part of the secret) and prints the argon2id hash
    /// (PHC string) for `basic.password_hash`, or with `--token` the SHA-256 (hex) for
    /// `tokens`. The secret is never an argument: it would land in shell history and `ps`.
    HashSecret {
        /// Print the SHA-256 (64 hex digits) of a bearer token instead.
        #[arg(long)]
        token: bool,
    },
    /// Partner policy tools (`policy explain`).
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Audit log tools (`audit verify`).
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain of audit log files and name the first broken line.
    ///
    /// The files are one chain in the order given (oldest first, across rotation): the
    /// first line of each file must carry the hash of the last line of the file before it.
    /// Prints `ok: ...` and exits 0, or `broken: FILE:LINE: why` and exits 1.
    Verify {
        /// The audit files, oldest first.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Decide one message of one partner as the gateway would, and say why.
    ///
    /// Prints the message, the decision, and the grant that allowed it (file:line), or what
    /// was missing and the grant whose narrowing refused it. Exit 0 ALLOW, 3 DENY, 2 when the
    /// message itself is rejected before policy, 1 on a usage or configuration error.
    Explain {
        /// The gateway configuration (TOML) naming the policy files.
        #[arg(long, short)]
        config: PathBuf,
        /// The partner id (`anonymous`: a request without credentials).
        #[arg(long)]
        partner: String,
        /// The message file; `-` reads standard input. Without it: standard input, or no body
        /// with `--method GET` (a Draft 1 GET carries none).
        #[arg(value_name = "MESSAGE_FILE")]
        file: Option<String>,
        /// The route path the message is sent to. Default: the first route serving the
        /// message's dialect (for a push decided on the route's inbox feed, the first such
        /// route that names an inbox feed).
        #[arg(long)]
        path: Option<String>,
        /// The HTTP method (GET for Draft 1 discovery and feed information requests). Without
        /// it, the body alone decides the dialect.
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
        /// Print one JSON object instead of the report.
        #[arg(long)]
        json: bool,
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
        Command::Reload { pid_file } => reload(&pid_file),
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
        Command::HashSecret { token } => hash_secret_command(token),
        Command::Audit {
            command: AuditCommand::Verify { files },
        } => audit_verify(&files),
        Command::Policy {
            command:
                PolicyCommand::Explain {
                    config,
                    partner,
                    file,
                    path,
                    method,
                    headers,
                    query,
                    transport,
                    json,
                },
        } => explain::run(&explain::Args {
            config,
            partner,
            file,
            path,
            method,
            headers,
            query,
            transport,
            json,
        }),
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

/// `audit verify FILE...`: exit 0 when the chain is intact, 1 when broken or unreadable.
fn audit_verify(paths: &[PathBuf]) -> ExitCode {
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        match std::fs::read(path) {
            Ok(bytes) => files.push((path.display().to_string(), bytes)),
            Err(e) => {
                eprintln!("taxii-gateway audit verify: {}: {e}", path.display());
                return ExitCode::from(1);
            }
        }
    }
    match taxii_gateway::audit::verify(&files) {
        Ok(report) => {
            println!(
                "ok: {} records in {} files, chain intact (last hash {})",
                report.records,
                report.files,
                report.last_hash.as_deref().unwrap_or("none")
            );
            match report.anchor.as_deref() {
                Some(taxii_gateway::audit::GENESIS) => println!("anchor: genesis"),
                Some(a) => println!("anchor: {a} (the last line of an earlier file)"),
                None => {}
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("broken: {e}");
            ExitCode::from(1)
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
    // The pid file `taxii-gateway reload` reads (Pingora writes one only when daemonized).
    if let Some(pid_file) = &config.server.pid_file {
        if let Err(e) = std::fs::write(pid_file, format!("{}\n", std::process::id())) {
            eprintln!("taxii-gateway run: pid file {}: {e}", pid_file.display());
            return ExitCode::from(1);
        }
    }
    let mode = if passthrough {
        taxii_gateway::server::Mode::Passthrough
    } else {
        taxii_gateway::server::Mode::Gateway
    };
    match taxii_gateway::server::build(config, mode) {
        Ok(built) => built.run(),
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
    server.run()
}

/// The longest secret `hash-secret` takes (a password or a token is far shorter).
const MAX_SECRET_BYTES: usize = 4096;

/// `hash-secret [--token]`: one line of standard input in, its hash out.
fn hash_secret_command(token: bool) -> ExitCode {
    let secret = match read_secret() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("taxii-gateway hash-secret: {e}");
            return ExitCode::from(1);
        }
    };
    if token {
        println!("{}", taxii_gateway::policy::hash_token(&secret));
        return ExitCode::SUCCESS;
    }
    match taxii_gateway::policy::hash_secret(&secret) {
        Ok(phc) => {
            println!("{phc}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("taxii-gateway hash-secret: {e}");
            ExitCode::from(1)
        }
    }
}

/// Reads the secret: the first line of standard input, without its line end (`\n` or `\r\n`).
/// From a terminal it prompts on standard error and turns echo off (with `stty`) while it
/// reads; from a pipe or a file, anything after that line is refused, so that a file holding
/// more than the secret is not half-hashed.
fn read_secret() -> Result<String, String> {
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    let echo_off = tty && stty("-echo");
    if tty {
        eprint!("secret (one line): ");
    }
    let mut lock = stdin.lock();
    let mut line = String::new();
    let read = (&mut lock)
        .take(MAX_SECRET_BYTES as u64 + 2)
        .read_line(&mut line);
    if echo_off {
        stty("echo");
        eprintln!();
    }
    match read {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            return Err("the secret is not UTF-8".into())
        }
        Err(e) => return Err(format!("cannot read standard input: {e}")),
    }
    let ended = line.ends_with('\n');
    if ended {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
    if line.len() > MAX_SECRET_BYTES {
        return Err(format!(
            "the secret is longer than {MAX_SECRET_BYTES} bytes"
        ));
    }
    if line.is_empty() {
        return Err("no secret: give it as one line on standard input (e.g. `printf %s \"$SECRET\" | taxii-gateway hash-secret`)".into());
    }
    if !tty && ended {
        let mut rest = [0u8; 1];
        match lock.read(&mut rest) {
            Ok(0) => {}
            Ok(_) => {
                return Err("standard input holds more than one line: give the secret alone".into())
            }
            Err(e) => return Err(format!("cannot read standard input: {e}")),
        }
    }
    Ok(line)
}

/// Runs `stty ARG` on the terminal; false when that did not work.
fn stty(arg: &str) -> bool {
    std::process::Command::new("stty")
        .arg(arg)
        .stdin(std::process::Stdio::inherit())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `policy explain`: one message of one partner through the gateway's protocol core, route
/// rules and policy, with the reasons.
mod explain {
    use std::path::PathBuf;
    use std::process::ExitCode;

    use serde_json::{json, Value};
    use taxii_gateway::config::{GatewayConfig, Route};
    use taxii_gateway::policy::{self, Action, Decision, DenyReason, Grant, Partner, Policy};
    use taxii_gateway::taxii::{
        refusal_reply, scan_body, scan_message, Dialect, Envelope, HttpContext, Reject, RejectKind,
        ReplyContext, ScanLimits, Transport,
    };

    pub struct Args {
        pub config: PathBuf,
        pub partner: String,
        pub file: Option<String>,
        pub path: Option<String>,
        pub method: Option<String>,
        pub headers: Vec<String>,
        pub query: Option<String>,
        pub transport: Option<String>,
        pub json: bool,
    }

    const OK: u8 = 0;
    const USAGE: u8 = 1;
    const REJECTED: u8 = 2;
    const DENIED: u8 = 3;

    fn fail(message: impl std::fmt::Display) -> ExitCode {
        eprintln!("taxii-gateway policy explain: {message}");
        ExitCode::from(USAGE)
    }

    /// How the route was picked, for the report.
    enum RouteChoice<'a> {
        /// By `--path`.
        Path(&'a Route),
        /// By default: the first route serving the dialect (with an inbox feed, for a push
        /// decided on it).
        Default(&'a Route),
        /// No route serves the dialect: the gateway would refuse the message at every path.
        None,
    }

    pub fn run(a: &Args) -> ExitCode {
        let config = match GatewayConfig::load(&a.config) {
            Ok(c) => c,
            Err(e) => return fail(e),
        };
        // No policy files: the gateway serves every request as an anonymous partner allowed
        // everything (inspection only).
        let (policy, permissive): (&Policy, bool) = match config.policy.as_deref() {
            Some(p) => (p, false),
            None => (Policy::permissive(), true),
        };
        let Some(partner) = policy.partner(&a.partner) else {
            return fail(unknown_partner(policy, permissive, &a.partner));
        };
        let by_path = match &a.path {
            None => None,
            Some(p) => match route_by_path(&config, p) {
                Some(r) => Some(r),
                None => {
                    let paths: Vec<&str> = config.routes.iter().map(|r| r.path.as_str()).collect();
                    return fail(format!(
                        "no route has the path {p:?} (routes: {})",
                        paths.join(", ")
                    ));
                }
            },
        };

        let mut ctx = HttpContext {
            method: a.method.clone(),
            query: a
                .query
                .as_ref()
                .map(|q| q.trim_start_matches('?').to_string()),
            transport: a.transport.as_deref().map(|t| {
                if t == "https" {
                    Transport::Https
                } else {
                    Transport::Http
                }
            }),
            ..HttpContext::default()
        };
        for h in &a.headers {
            let Some((name, value)) = h.split_once(':') else {
                return fail(format!("--header {h:?} is not `Name: value`"));
            };
            if let Err(r) = ctx.header(name.trim(), value.trim()) {
                return rejected(a.json, &r);
            }
        }

        let limits = &config.xml_limits;
        let file = match (a.file.as_deref(), a.method.as_deref()) {
            (None, Some(m)) if m.eq_ignore_ascii_case("GET") => None,
            (None, _) => Some("-"),
            (Some(f), _) => Some(f),
        };
        let body = match file {
            None => Vec::new(),
            Some(f) => match super::read_input(Some(f), limits.max_total_bytes) {
                Ok(b) => b,
                Err(e) => return fail(format!("{f}: {e}")),
            },
        };
        if let Some(route) = by_path {
            // The gateway refuses a body over the route's limit before reading it.
            if body.len() > route.max_body_bytes {
                let r = Reject::new(
                    RejectKind::TooLarge,
                    format!(
                        "the body is larger than the route's max_body_bytes ({})",
                        route.max_body_bytes
                    ),
                );
                return rejected(a.json, &r);
            }
        }
        let envelope = match scan_message(&ctx, &body, limits) {
            Ok(e) => e,
            Err(r) => return rejected(a.json, &r),
        };

        let choice = match by_path {
            Some(route) => {
                if !route.dialects.contains(&envelope.dialect) {
                    let r = Reject::new(
                        RejectKind::UnsupportedMediaType,
                        format!(
                            "TAXII {} is not served at {} (the route serves {})",
                            envelope.dialect,
                            route.path,
                            dialect_names(&route.dialects)
                        ),
                    );
                    return rejected(a.json, &r);
                }
                RouteChoice::Path(route)
            }
            None => default_route(&config, &envelope),
        };
        let route = match &choice {
            RouteChoice::Path(r) | RouteChoice::Default(r) => Some(*r),
            RouteChoice::None => None,
        };
        let inbox_feed = route.and_then(|r| r.inbox_feed.as_deref());

        let decision = policy::decide(policy, partner, &envelope, inbox_feed, now_unix());
        // The operator's rewrites the allowed message would get on its way to the upstream.
        let plan = match (&decision, route) {
            (Decision::Allow { grant, clamp_begin }, Some(route)) => {
                Some(taxii_gateway::rules::plan_request(
                    &config,
                    route,
                    partner,
                    policy.grant(*grant),
                    *clamp_begin,
                    &envelope,
                    &body,
                    ctx.query.as_deref(),
                ))
            }
            _ => None,
        };

        let report = Report {
            policy,
            permissive,
            partner,
            envelope: &envelope,
            choice: &choice,
            decision: &decision,
            plan: plan.as_ref(),
            config: &config,
        };
        if a.json {
            println!("{}", report.json());
        } else {
            print!("{}", report.text());
        }
        let refused_by_rule = matches!(plan, Some(Err(_)));
        ExitCode::from(if decision.is_allow() && !refused_by_rule {
            OK
        } else {
            DENIED
        })
    }

    fn unknown_partner(policy: &Policy, permissive: bool, id: &str) -> String {
        if permissive {
            return format!(
                "the configuration names no policy files: every request is served as the anonymous partner, allowed everything; there is no partner {id:?}"
            );
        }
        let sources: Vec<String> = policy
            .sources()
            .iter()
            .map(|s| s.display().to_string())
            .collect();
        if id == "anonymous" {
            return format!(
                "the policy ({}) has no [anonymous] partner: requests without credentials are refused",
                sources.join(", ")
            );
        }
        let mut ids: Vec<&str> = policy.partners().iter().map(|p| p.id.as_str()).collect();
        if policy.anonymous().is_some() {
            ids.push("anonymous");
        }
        format!(
            "no partner {id:?} in {} (partners: {})",
            sources.join(", "),
            ids.join(", ")
        )
    }

    /// The route with that path: the host-less one, else the first host-specific one.
    fn route_by_path<'a>(config: &'a GatewayConfig, path: &str) -> Option<&'a Route> {
        config
            .route(None, path)
            .or_else(|| config.routes.iter().find(|r| r.path == path))
    }

    /// Whether the decision rests on the route's inbox feed: a push that names no destination
    /// (policy::decide).
    fn needs_inbox_feed(e: &Envelope) -> bool {
        policy::action_of(e) == Some(Action::Push)
            && (e.dialect != Dialect::V11 || e.destinations.is_empty())
    }

    fn default_route<'a>(config: &'a GatewayConfig, e: &Envelope) -> RouteChoice<'a> {
        let mut serving = config
            .routes
            .iter()
            .filter(|r| r.dialects.contains(&e.dialect));
        let with_inbox = needs_inbox_feed(e)
            .then(|| serving.clone().find(|r| r.inbox_feed.is_some()))
            .flatten();
        match with_inbox.or_else(|| serving.next()) {
            Some(r) => RouteChoice::Default(r),
            None => RouteChoice::None,
        }
    }

    fn dialect_names(ds: &[Dialect]) -> String {
        ds.iter().map(|d| d.as_str()).collect::<Vec<_>>().join(", ")
    }

    fn dialect_title(d: Dialect) -> &'static str {
        match d {
            Dialect::Draft1 => "TAXII Draft 1",
            Dialect::V10 => "TAXII 1.0",
            Dialect::V11 => "TAXII 1.1",
        }
    }

    fn reason_name(r: DenyReason) -> &'static str {
        match r {
            DenyReason::NotARequest => "not_a_request",
            DenyReason::Service => "service",
            DenyReason::Feed => "feed",
            DenyReason::ContentBinding => "content_binding",
            DenyReason::DeliveryAddress => "delivery_address",
            DenyReason::PollWindow => "poll_window",
        }
    }

    fn reason_words(r: DenyReason) -> &'static str {
        match r {
            DenyReason::NotARequest => "not a request",
            DenyReason::Service => "service level",
            DenyReason::Feed => "feed level",
            DenyReason::ContentBinding => "narrowing: content bindings",
            DenyReason::DeliveryAddress => "narrowing: delivery addresses",
            DenyReason::PollWindow => "narrowing: poll window",
        }
    }

    /// What the gateway answers a denial with, in the message's dialect: the HTTP status and
    /// the status type of the status message, if it sends one.
    fn answer(e: &Envelope, reason: DenyReason, conceal: bool) -> (u16, Option<String>) {
        let reply = refusal_reply(
            &ReplyContext {
                dialect: e.dialect,
                transport: Transport::Http,
                in_response_to: Some(e.message_id.value.clone()),
                id_seed: 1,
                now_unix: now_unix(),
                message: None,
            },
            &reason.refusal(conceal),
        );
        let status_type = scan_body(&reply.body, &ScanLimits::default())
            .ok()
            .and_then(|s| s.status_type)
            .map(|f| f.value);
        (reply.status, status_type)
    }

    /// The message was refused before policy: exit 2.
    fn rejected(json: bool, r: &Reject) -> ExitCode {
        let detail = match r.offset {
            Some(at) => format!("{} (at byte {at})", r.detail),
            None => r.detail.clone(),
        };
        if json {
            println!(
                "{}",
                json!({ "decision": "reject", "error": r.kind.as_str(), "detail": detail })
            );
        } else {
            println!(
                "decision  REJECTED before policy: {}\n  detail  {detail}",
                r.kind
            );
        }
        ExitCode::from(REJECTED)
    }

    fn now_unix() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    /// One grant in words: `actions on [feeds]; narrowing`.
    fn describe(g: &Grant) -> String {
        let feeds: Vec<&str> = g.feeds.iter().map(|f| f.as_str()).collect();
        let mut s = if feeds.is_empty() {
            g.actions.to_string()
        } else {
            format!("{} on [{}]", g.actions, feeds.join(", "))
        };
        if !g.content_bindings.is_empty() {
            s.push_str(&format!(
                "; content bindings [{}]",
                g.content_bindings.join(", ")
            ));
        }
        if !g.delivery_addresses.is_empty() {
            let a: Vec<String> = g.delivery_addresses.iter().map(|a| a.to_string()).collect();
            s.push_str(&format!("; delivery addresses [{}]", a.join(", ")));
        }
        if let Some(w) = g.max_poll_window_seconds {
            s.push_str(&format!(
                "; poll window {w} s{}",
                if g.clamp_poll_window {
                    " (clamped)"
                } else {
                    ""
                }
            ));
        }
        if !g.headers.strip.is_empty() {
            s.push_str(&format!("; strip headers [{}]", g.headers.strip.join(", ")));
        }
        if let Some(h) = &g.headers.partner_header {
            s.push_str(&format!("; partner header {h}"));
        }
        s
    }

    fn grant_json(partner: &Partner, g: &Grant) -> Value {
        json!({
            "at": g.origin.to_string(),
            "file": g.origin.file.display().to_string(),
            "line": g.origin.line,
            "partner": partner.id,
            "actions": g.actions.iter().map(Action::name).collect::<Vec<_>>(),
            "feeds": g.feeds.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
            "content_bindings": g.content_bindings,
            "delivery_addresses": g.delivery_addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "max_poll_window_seconds": g.max_poll_window_seconds,
        })
    }

    struct Report<'a> {
        policy: &'a Policy,
        permissive: bool,
        partner: &'a Partner,
        envelope: &'a Envelope,
        choice: &'a RouteChoice<'a>,
        decision: &'a Decision,
        plan: Option<
            &'a Result<taxii_gateway::rules::RequestPlan, taxii_gateway::rules::RuleRefusal>,
        >,
        config: &'a GatewayConfig,
    }

    impl Report<'_> {
        /// The grant the decision names, with its partner.
        fn grant(&self) -> Option<(&Partner, &Grant)> {
            let r = match self.decision {
                Decision::Allow { grant, .. } => *grant,
                Decision::Deny { grant, .. } => (*grant)?,
            };
            Some((self.policy.partner_of(r)?, self.policy.grant(r)?))
        }

        fn route(&self) -> Option<&Route> {
            match self.choice {
                RouteChoice::Path(r) | RouteChoice::Default(r) => Some(r),
                RouteChoice::None => None,
            }
        }

        fn route_note(&self) -> String {
            let e = self.envelope;
            match self.choice {
                RouteChoice::Path(_) => "given by --path".into(),
                RouteChoice::Default(_) if needs_inbox_feed(e) => format!(
                    "the first route serving TAXII {} that names an inbox feed, else the first serving it; --path picks another",
                    e.dialect
                ),
                RouteChoice::Default(_) => format!(
                    "the first route serving TAXII {}; --path picks another (a route matters for a push without destinations: its inbox feed)",
                    e.dialect
                ),
                RouteChoice::None => format!(
                    "no route serves TAXII {}: the gateway would refuse this message at every path (unsupported_media_type); policy decided without a route",
                    e.dialect
                ),
            }
        }

        fn json(&self) -> Value {
            let e = self.envelope;
            let (reason, missing, answer) = match self.decision {
                Decision::Allow { .. } => (None, None, None),
                Decision::Deny {
                    reason, missing, ..
                } => {
                    let (status, status_type) = answer(e, *reason, self.partner.conceal);
                    (
                        Some(reason_name(*reason)),
                        Some(missing.as_str()),
                        Some(json!({ "http_status": status, "status_type": status_type })),
                    )
                }
            };
            json!({
                "decision": if self.decision.is_allow() { "allow" } else { "deny" },
                "partner": self.partner.id,
                "partner_at": self.partner.origin.to_string(),
                "permissive": self.permissive,
                "message": {
                    "dialect": e.dialect.as_str(),
                    "message": e.message,
                    "message_id": e.message_id.value,
                    "feeds": e.feeds.iter().map(|f| f.value.as_str()).collect::<Vec<_>>(),
                    "action": policy::action_of(e).map(Action::name),
                    "subscription_action": e.action.as_ref().map(|f| f.value.as_str()),
                    "content_bindings": e.content_bindings,
                    "delivery_addresses": e.delivery_addresses.iter().map(|f| f.value.as_str()).collect::<Vec<_>>(),
                },
                "route": self.route().map(|r| json!({
                    "path": r.path,
                    "host": r.host,
                    "inbox_feed": r.inbox_feed,
                })),
                "route_note": self.route_note(),
                "reason": reason,
                "missing": missing,
                "answer": answer,
                "grant": self.grant().map(|(p, g)| grant_json(p, g)),
                "rules": match self.plan {
                    None => Value::Null,
                    Some(Ok(plan)) => json!({
                        "upstream": self.config.upstreams[plan.upstream].name,
                        "rewrites": plan.rewrites,
                        "signed_passed_unchanged": plan.signed_passed,
                    }),
                    Some(Err(refusal)) => json!({ "refused": refusal.0 }),
                },
            })
        }

        fn text(&self) -> String {
            let e = self.envelope;
            let mut s = format!(
                "message   {} {} (message id {})\n",
                dialect_title(e.dialect),
                e.message,
                e.message_id.value
            );
            if !e.feeds.is_empty() {
                let feeds: Vec<&str> = e.feeds.iter().map(|f| f.value.as_str()).collect();
                s.push_str(&format!("  feeds   {}\n", feeds.join(", ")));
            }
            let action = policy::action_of(e).map_or("none (not a request)", Action::name);
            match &e.action {
                Some(a) => s.push_str(&format!("  action  {action} ({})\n", a.value)),
                None => s.push_str(&format!("  action  {action}\n")),
            }
            if !e.content_bindings.is_empty() {
                s.push_str(&format!(
                    "  content bindings  {}\n",
                    e.content_bindings.join(", ")
                ));
            }
            if !e.delivery_addresses.is_empty() {
                let a: Vec<&str> = e
                    .delivery_addresses
                    .iter()
                    .map(|f| f.value.as_str())
                    .collect();
                s.push_str(&format!("  delivery addresses  {}\n", a.join(", ")));
            }
            if self.permissive {
                s.push_str("partner   anonymous (no policy files: the permissive policy, everything allowed)\n");
            } else {
                s.push_str(&format!(
                    "partner   {} ({})\n",
                    self.partner.id, self.partner.origin
                ));
            }
            match self.route() {
                Some(r) => s.push_str(&format!(
                    "route     {}{}, inbox feed {}\n  chosen  {}\n",
                    r.host.as_deref().unwrap_or(""),
                    r.path,
                    r.inbox_feed
                        .as_deref()
                        .map_or_else(|| "none".to_string(), |f| format!("{f:?}")),
                    self.route_note()
                )),
                None => s.push_str(&format!("route     none: {}\n", self.route_note())),
            }
            match self.decision {
                Decision::Allow { .. } => {
                    match self.plan {
                        Some(Err(refusal)) => s.push_str(&format!(
                            "decision  ALLOWED by policy, REFUSED by a rule (answer DENIED)\n  rule    {}\n",
                            refusal.0
                        )),
                        _ => s.push_str("decision  ALLOW\n"),
                    }
                    if let Some((_, g)) = self.grant() {
                        s.push_str(&format!("  granted by  {}: {}\n", g.origin, describe(g)));
                    }
                    if let Some(Ok(plan)) = self.plan {
                        s.push_str(&format!(
                            "upstream  {}\n",
                            self.config.upstreams[plan.upstream].name
                        ));
                        if plan.rewrites.is_empty() {
                            s.push_str("rewrites  none\n");
                        } else {
                            s.push_str("rewrites\n");
                            for r in &plan.rewrites {
                                s.push_str(&format!("  - {r}\n"));
                            }
                        }
                    }
                }
                Decision::Deny {
                    reason, missing, ..
                } => {
                    let (status, status_type) = answer(e, *reason, self.partner.conceal);
                    s.push_str(&format!(
                        "decision  DENY ({}, reason {})\n  missing  {missing}\n  answer   HTTP {status}{}\n",
                        reason_words(*reason),
                        reason_name(*reason),
                        status_type.map_or_else(String::new, |t| format!(", status {t}"))
                    ));
                    match self.grant() {
                        Some((_, g)) => s.push_str(&format!(
                            "  refused by  {}: {} (it allows the action on the feed; its narrowing refused the message)\n",
                            g.origin,
                            describe(g)
                        )),
                        None if self.partner.grants.is_empty() => {
                            s.push_str(&format!("  {} holds no grant\n", self.partner.id));
                        }
                        None => {
                            s.push_str(&format!("  grants of {}:\n", self.partner.id));
                            for g in &self.partner.grants {
                                s.push_str(&format!("    {}: {}\n", g.origin, describe(g)));
                            }
                        }
                    }
                }
            }
            s
        }
    }
}

/// `reload`: SIGHUP to the pid in the pid file.
fn reload(pid_file: &std::path::Path) -> ExitCode {
    let pid = match std::fs::read_to_string(pid_file) {
        Ok(text) => text.trim().to_string(),
        Err(e) => {
            eprintln!("taxii-gateway reload: {}: {e}", pid_file.display());
            return ExitCode::from(1);
        }
    };
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        eprintln!("taxii-gateway reload: {} holds no pid", pid_file.display());
        return ExitCode::from(1);
    }
    match std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
    {
        Ok(s) if s.success() => {
            println!(
                "sent SIGHUP to {pid}: the gateway logs whether the new configuration was taken"
            );
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("taxii-gateway reload: could not signal process {pid}");
            ExitCode::from(1)
        }
    }
}
