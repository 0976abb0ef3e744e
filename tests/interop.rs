//! Interop with the real TAXII 1.x peers the gateway sits between: OpenTAXII 0.9.3 upstream,
//! cabby 0.1.23 and libtaxii 1.1.119 clients, all from the venv `tests/interop/setup.sh` makes
//! (`scripts/test.sh` runs it first). A missing venv fails this test; it never skips.
//!
//! One test, start to end:
//! 1. three free loopback ports: OpenTAXII, the gateway's HTTP and HTTPS listeners;
//! 2. `tests/interop/start.sh`: a fresh, seeded OpenTAXII (feed-a 1 block, feed-b 1, feed-c 12)
//!    whose advertised addresses name the gateway's HTTP listener (`--domain`), so that a direct
//!    and a gateway run advertise the same addresses;
//! 3. the gateway binary with a copy of `config/opentaxii.toml` whose listener addresses, upstream
//!    URL and pid file are rewritten (run from the repository: its TLS paths are relative); the
//!    audit log and the capture directory in the run folder;
//! 4. the matrix, TAXII 1.0 and 1.1 × cabby and libtaxii × discovery, feed/collection
//!    information, poll (1.1 multi-part with Poll_Fulfillment), inbox push, subscribe / status /
//!    unsubscribe, each run direct and then through the gateway against the same server, and the
//!    two outputs compared after normalisation (message ids, subscription and result ids,
//!    timestamps, the request URL of cabby's log line); plus HTTPS through the gateway's TLS
//!    listener (test CA `config/tls/ca.crt`) compared with the direct HTTP run; plus a final check
//!    that what was pushed through the gateway was stored. This gateway runs without the
//!    config's `policies` (inspection only): the matrix's clients send no credentials; and
//!    without its virtual feeds (`[[feed]]`) and `[capture]`, so that it is compared like with
//!    like with OpenTAXII, which knows no community-* names;
//! 5. the partners (issue 4 item 8): the gateway restarted on the same ports with
//!    `config/opentaxii.toml` as it is (partners of `policies/opentaxii.toml`), and per TAXII
//!    version what alpha (Basic, cabby and libtaxii), beta (bearer token: no client CLI sends a
//!    static one, so `tests/interop/partner_client.py`), gamma (client certificate over HTTPS,
//!    cabby and libtaxii) and anonymous clients see and may do, checked on the gateway's answers
//!    alone; every address of every discovery answer names the gateway; subscriptions of alpha
//!    pushing outside `http://127.0.0.1:9999/` are refused and never reach OpenTAXII (its access
//!    log).
//! 6. virtual feeds (issue 6), same gateway: alpha (Basic) and gamma (certificate) list
//!    `community-a` beside `feed-a`; cabby's poll of `community-a` (1.0, 1.1) returns the content
//!    blocks a direct poll of `feed-a` does, and the answer names `community-a`; subscriptions
//!    under `community-a` (cabby, partner_client.py) are answered under that name and stored by
//!    OpenTAXII on `feed-a` (its data.db, `tests/interop/opentaxii_db.py`); beta, without a
//!    grant on it, is refused; 1.1 pushes to `community-a` (cabby, and a compact one from
//!    partner_client.py) are stored into `feed-a` with the `urn:taxii-gateway:partner` header;
//!    the audit records' `content_digests` are checked against the Content_Block bytes OpenTAXII
//!    stored (`inbox_messages.original_message`), and the capture directory holds the
//!    `<request_id>.request.xml` each community record lists.
//!
//! Reads run before writes, so that both runs of a case see the same collections. Every process
//! started here is stopped by a guard, every wait is bounded, all traffic is on 127.0.0.1. On
//! failure (or with INTEROP_KEEP=1) the run folder is kept and named: OpenTAXII's and the
//! gateway's logs, and per client call its raw (`.txt`) and normalised (`.norm`) output.

// A test: a panic is how it reports a broken set-up.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod common;

/// Longest a single client call may take.
const CLIENT_LIMIT: Duration = Duration::from_secs(60);
/// Longest OpenTAXII's start (sync-data, gunicorn, seeding) may take.
const START_LIMIT: Duration = Duration::from_secs(120);
/// Longest the gateway may take to listen.
const GATEWAY_LIMIT: Duration = Duration::from_secs(30);

const STIX111: &str = "urn:stix.mitre.org:xml:1.1.1";

#[test]
fn gateway_answers_as_opentaxii_does() {
    let t0 = Instant::now();
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let kit = repo.join("tests/interop");
    let venv = std::env::var_os("INTEROP_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join(".venv-interop"));
    let bin = venv.join("bin");
    for exe in [
        "python",
        "gunicorn",
        "opentaxii-sync-data",
        "taxii-discovery",
        "discovery_client",
        "poll_client_10",
    ] {
        assert!(
            bin.join(exe).exists(),
            "the interop venv is missing or incomplete ({} not found): run tests/interop/setup.sh \
             (scripts/test.sh runs it) to create {}",
            bin.join(exe).display(),
            venv.display()
        );
    }

    let run = RunDir::new();
    let [upstream_port, gw_port, gw_tls_port, admin_port] = free_ports();

    // OpenTAXII, advertising the gateway's HTTP listener.
    let upstream = Upstream {
        stop: kit.join("stop.sh"),
        run: run.path.join("opentaxii"),
    };
    let started = bounded(
        Command::new(kit.join("start.sh"))
            .args(["--port", &upstream_port.to_string()])
            .args(["--domain", &format!("127.0.0.1:{gw_port}")])
            .arg("--run")
            .arg(&upstream.run)
            .env("INTEROP_VENV", &venv),
        &run.path.join("start"),
        START_LIMIT,
    );
    assert!(
        started.code == Some(0),
        "tests/interop/start.sh failed ({}):\n{}\n{}",
        started.status(),
        started.stdout,
        started.stderr
    );
    let t_upstream = t0.elapsed();

    // The gateway, with config/opentaxii.toml on this run's ports, without its partners
    // (inspection only, what the gateway did before policies): the matrix's clients send no
    // credentials. Nor its virtual feeds and capture: compared with OpenTAXII itself, the
    // gateway must answer as OpenTAXII does (no community-* records).
    let config = gateway_config(
        &repo.join("config/opentaxii.toml"),
        &run.path,
        upstream_port,
        gw_port,
        gw_tls_port,
        0,
        false,
    );
    let mut gateway = Gateway::start(&repo, &config, &run.path.join("gateway.log"));
    gateway.wait_ready(&[gw_port, gw_tls_port]);
    let t_ready = t0.elapsed();

    let it = Interop {
        bin,
        kit,
        work: run.path.join("clients"),
        ca: repo.join("config/tls/ca.crt"),
        tls_dir: repo.join("config/tls"),
        upstream_log: upstream.run.join("gunicorn.log"),
        upstream_db: upstream.run.join("data.db"),
        upstream_port,
        gw_port,
        gw_tls_port,
        seq: Cell::new(0),
        results: RefCell::new(Vec::new()),
        partners_from: Cell::new(None),
        beta_last: Cell::new(None),
        admin_port,
        run_dir: run.path.clone(),
    };
    fs::create_dir_all(&it.work).expect("client folder");

    it.reads("1.1");
    it.reads("1.0");
    it.https();
    it.subscriptions("1.1");
    it.subscriptions("1.0");
    it.pushes();
    it.stored();

    // Then config/opentaxii.toml as it is, with its partners, on the same ports (OpenTAXII
    // advertises the gateway's HTTP listener; an address of another host:port would be dropped).
    drop(gateway);
    let config = gateway_config(
        &repo.join("config/opentaxii.toml"),
        &run.path,
        upstream_port,
        gw_port,
        gw_tls_port,
        admin_port,
        true,
    );
    let mut gateway = Gateway::start(&repo, &config, &run.path.join("gateway-partners.log"));
    gateway.wait_ready(&[gw_port, gw_tls_port]);
    let t_partners = t0.elapsed();
    it.partners_from.set(Some(it.results.borrow().len()));
    it.partners("1.1");
    it.partners("1.0");
    it.refused_subscriptions();
    // Virtual feeds (issue 6): round trips under the public names, then pushes, their digests
    // against what OpenTAXII stored, and the capture.
    it.community("1.1");
    it.community("1.0");
    it.community_pushes();
    it.captures();
    it.operations();
    let t_partners = t0.elapsed() - t_partners;

    drop(gateway);
    drop(upstream);
    let report = it.report();
    eprintln!(
        "{report}\ninterop: OpenTAXII ready after {:.1?}, gateway after {:.1?}, partner cases \
         {:.1?}, total {:.1?}",
        t_upstream,
        t_ready,
        t_partners,
        t0.elapsed()
    );
    let failed = it.results.borrow().iter().filter(|r| !r.ok()).count();
    if failed > 0 {
        run.keep();
        panic!(
            "{failed} interop case(s) failed (run folder kept: {}):\n{}",
            run.path.display(),
            it.failures()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The matrix

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Via {
    /// Straight to OpenTAXII.
    Direct,
    /// Through the gateway's HTTP listener.
    Gateway,
    /// Through the gateway's HTTPS listener.
    GatewayTls,
}

/// One client invocation.
struct Call {
    program: PathBuf,
    args: Vec<String>,
    tls: bool,
    /// Where libtaxii writes polled content blocks; their names and contents are compared too.
    dest_dir: Option<PathBuf>,
}

struct Output {
    raw: String,
    normal: String,
    code: Option<i32>,
}

struct CaseResult {
    name: String,
    same: bool,
    problems: Vec<String>,
    detail: String,
}

impl CaseResult {
    fn ok(&self) -> bool {
        self.same && self.problems.is_empty()
    }
}

/// What a case's output must show, so that two identical failures are not taken for success.
struct Expect<'a> {
    contains: &'a [&'a str],
    exit: Option<i32>,
    /// A Python traceback is the expected ending (libtaxii's poll_client_10 bug).
    traceback: bool,
}

fn expect<'a>(contains: &'a [&'a str]) -> Expect<'a> {
    Expect {
        contains,
        exit: Some(0),
        traceback: false,
    }
}

struct Interop {
    bin: PathBuf,
    kit: PathBuf,
    work: PathBuf,
    ca: PathBuf,
    /// config/tls: gamma's client certificate and key.
    tls_dir: PathBuf,
    /// OpenTAXII's gunicorn log (its access log): what reached the upstream.
    upstream_log: PathBuf,
    /// OpenTAXII's sqlite database (read by tests/interop/opentaxii_db.py).
    upstream_db: PathBuf,
    upstream_port: u16,
    gw_port: u16,
    gw_tls_port: u16,
    seq: Cell<u32>,
    results: RefCell<Vec<CaseResult>>,
    /// Where the partner cases (checks, not comparisons) begin in `results`.
    partners_from: Cell<Option<usize>>,
    /// When beta's last call started (see `run`).
    beta_last: Cell<Option<Instant>>,
    admin_port: u16,
    /// The run folder (the partner gateway's audit log is there).
    run_dir: PathBuf,
}

impl Interop {
    // ----- the cases

    /// Discovery, feed/collection information and polls of one version, both clients.
    fn reads(&self, v: &str) {
        // cabby
        let (d, g) = self.pair(
            &format!("{v} cabby discovery"),
            |via| self.cabby(via, "taxii-discovery", v, "/services/discovery", &[]),
            &expect(&["8 services discovered", "Service Type: INBOX"]),
        );
        self.advertises_gateway(&format!("{v} cabby discovery"), &d, &g);
        self.pair(
            &format!(
                "{v} cabby {}",
                if v == "1.0" { "feeds" } else { "collections" }
            ),
            |via| {
                self.cabby(
                    via,
                    "taxii-collections",
                    v,
                    "/services/collection-management",
                    &[],
                )
            },
            &expect(&["feed-a", "feed-b", "feed-c", "feed-unavailable"]),
        );
        self.pair(
            &format!("{v} cabby poll feed-a"),
            |via| self.cabby(via, "taxii-poll", v, "/services/poll", &["-c", "feed-a"]),
            &expect(&["C2 domain watchlist", "1 blocks polled"]),
        );
        if v == "1.1" {
            // 12 blocks, 10 a part: Poll_Request, then Poll_Fulfillment part 2 (and a third one
            // cabby sends after part 2 said more="false").
            self.pair(
                "1.1 cabby poll feed-c (multi-part)",
                |via| {
                    self.cabby(
                        via,
                        "taxii-poll",
                        v,
                        "/services/poll",
                        &["-c", "feed-c", "-r", "-x"],
                    )
                },
                &expect(&[
                    "Sending Poll_Fulfillment",
                    "phishing URL 10",
                    "12 blocks polled",
                ]),
            );
        } else {
            // 1.0 has no multi-part: OpenTAXII answers the first 10 blocks.
            self.pair(
                "1.0 cabby poll feed-c (first 10)",
                |via| {
                    self.cabby(
                        via,
                        "taxii-poll",
                        v,
                        "/services/poll",
                        &["-c", "feed-c", "-r", "-x"],
                    )
                },
                &expect(&["dropper hash", "10 blocks polled"]),
            );
        }

        // libtaxii's scripts
        let (disc, info) = if v == "1.0" {
            ("discovery_client_10", "feed_information_client_10")
        } else {
            ("discovery_client", "collection_information_client")
        };
        self.pair(
            &format!("{v} libtaxii {disc}"),
            |via| self.libtaxii(via, disc, "/services/discovery", &[]),
            &expect(&["Discovery_Response", "/services/inbox-all<"]),
        );
        self.pair(
            &format!("{v} libtaxii {info}"),
            |via| self.libtaxii(via, info, "/services/collection-management", &[]),
            &expect(&["feed-a", "feed-b", "feed-c", "feed-unavailable"]),
        );
        if v == "1.1" {
            self.pair(
                "1.1 libtaxii poll_client feed-a",
                |via| self.libtaxii_poll(via, "poll_client", &["--collection", "feed-a"]),
                &expect(&[
                    "Poll_Response",
                    "more=\"false\"",
                    "C2 domain watchlist",
                    "--- file feed-a_STIX111_t<time>.xml",
                ]),
            );
            let (d, g) = self.pair(
                "1.1 libtaxii poll_client feed-c (part 1)",
                |via| self.libtaxii_poll(via, "poll_client", &["--collection", "feed-c"]),
                &expect(&[
                    "more=\"true\"",
                    "result_part_number=\"1\"",
                    ">12</taxii_11:Record_Count>",
                ]),
            );
            let ids = [
                value_after(&d.raw, "result_id=\""),
                value_after(&g.raw, "result_id=\""),
            ];
            self.pair(
                "1.1 libtaxii fulfillment_client feed-c (part 2)",
                |via| {
                    let id = if via == Via::Direct { &ids[0] } else { &ids[1] };
                    self.libtaxii_poll(
                        via,
                        "fulfillment_client",
                        &[
                            "--collection",
                            "feed-c",
                            "--result-id",
                            id.as_deref().unwrap_or("missing"),
                            "--result-part-number",
                            "2",
                        ],
                    )
                },
                &expect(&[
                    "Poll_Fulfillment",
                    "more=\"false\"",
                    "result_part_number=\"2\"",
                    "phishing URL 10",
                ]),
            );
        } else {
            // poll_client_10 prints the response, then dies on its own bug (AttributeError:
            // 'PollResponse' object has no attribute 'collection_name'), exit 1.
            self.pair(
                "1.0 libtaxii poll_client_10 feed-a",
                |via| self.libtaxii_poll(via, "poll_client_10", &["--feed", "feed-a"]),
                &Expect {
                    contains: &["Poll_Response", "C2 domain watchlist", "AttributeError"],
                    exit: Some(1),
                    traceback: true,
                },
            );
        }
    }

    /// The gateway's TLS listener, compared with the direct HTTP run of the same client.
    fn https(&self) {
        self.pair_tls(
            "1.1 cabby discovery over HTTPS",
            |via| self.cabby(via, "taxii-discovery", "1.1", "/services/discovery", &[]),
            &expect(&["8 services discovered"]),
        );
        self.pair_tls(
            "1.1 cabby poll feed-a over HTTPS",
            |via| {
                self.cabby(
                    via,
                    "taxii-poll",
                    "1.1",
                    "/services/poll",
                    &["-c", "feed-a"],
                )
            },
            &expect(&["C2 domain watchlist", "1 blocks polled"]),
        );
        self.pair_tls(
            "1.1 libtaxii discovery_client over HTTPS",
            |via| self.libtaxii(via, "discovery_client", "/services/discovery", &[]),
            &expect(&["Discovery_Response"]),
        );
        self.pair_tls(
            "1.0 libtaxii feed_information_client_10 over HTTPS",
            |via| {
                self.libtaxii(
                    via,
                    "feed_information_client_10",
                    "/services/collection-management",
                    &[],
                )
            },
            &expect(&["Feed_Information_Response", "feed-c"]),
        );
    }

    /// Subscribe, status, unsubscribe on feed-a: cabby's CLI, and libtaxii through
    /// tests/interop/libtaxii_subscription.py (libtaxii ships no subscription script).
    fn subscriptions(&self, v: &str) {
        let path = "/services/collection-management";
        // cabby
        let (d, g) = self.pair(
            &format!("{v} cabby subscribe"),
            |via| {
                self.cabby(
                    via,
                    "taxii-subscription",
                    v,
                    path,
                    &["-a", "subscribe", "-c", "feed-a"],
                )
            },
            &expect(if v == "1.1" {
                &["Subscription ID: <id>", "Status: ACTIVE"]
            } else {
                &["Subscription ID: <id>", "Feed Name: feed-a"]
            }),
        );
        let ids = [
            value_after(&d.raw, "Subscription ID: "),
            value_after(&g.raw, "Subscription ID: "),
        ];
        for (action, shows) in [
            (
                "status",
                if v == "1.1" {
                    "Status: ACTIVE"
                } else {
                    "Subscription ID: <id>"
                },
            ),
            (
                "unsubscribe",
                if v == "1.1" {
                    "Status: UNSUBSCRIBED"
                } else {
                    "Subscription ID: <id>"
                },
            ),
        ] {
            self.pair(
                &format!("{v} cabby {action}"),
                |via| {
                    let id = if via == Via::Direct { &ids[0] } else { &ids[1] };
                    self.cabby(
                        via,
                        "taxii-subscription",
                        v,
                        path,
                        &[
                            "-a",
                            action,
                            "-c",
                            "feed-a",
                            "-s",
                            id.as_deref().unwrap_or("missing"),
                        ],
                    )
                },
                &expect(&[shows, "Message: taxii-gateway interop subscription"]),
            );
        }

        // libtaxii
        let key = if v == "1.1" {
            "Subscription_ID>"
        } else {
            "subscription_id=\""
        };
        let (d, g) = self.pair(
            &format!("{v} libtaxii subscribe"),
            |via| self.libtaxii_subscription(via, v, "subscribe", None),
            &expect(if v == "1.1" {
                &["Subscription_Management_Response", "status=\"ACTIVE\""]
            } else {
                &[
                    "Subscription_Management_Response",
                    "subscription_id=\"<id>\"",
                ]
            }),
        );
        let ids = [value_after(&d.raw, key), value_after(&g.raw, key)];
        for (action, shows) in [
            (
                "status",
                if v == "1.1" {
                    "status=\"ACTIVE\""
                } else {
                    "Poll_Instance"
                },
            ),
            (
                "unsubscribe",
                if v == "1.1" {
                    "status=\"UNSUBSCRIBED\""
                } else {
                    "Poll_Instance"
                },
            ),
        ] {
            self.pair(
                &format!("{v} libtaxii {action}"),
                |via| {
                    let id = if via == Via::Direct { &ids[0] } else { &ids[1] };
                    self.libtaxii_subscription(via, v, action, id.as_deref())
                },
                &expect(&["Subscription_Management_Response", shows]),
            );
        }
    }

    /// Inbox pushes: 1.1 to /services/inbox with destination feed-a; 1.0 (no destination) to
    /// /services/inbox-all, which stores into feed-c.
    fn pushes(&self) {
        let content = self.kit.join("content/push-email.xml");
        let content = content.to_string_lossy().to_string();
        self.pair(
            "1.1 cabby push (inbox, --dest feed-a)",
            |via| {
                self.cabby(
                    via,
                    "taxii-push",
                    "1.1",
                    "/services/inbox",
                    &["-f", &content, "--dest", "feed-a", "--binding", STIX111],
                )
            },
            &expect(&["Content block successfully pushed"]),
        );
        // cabby's `taxii-push -t 1.0` is broken (Client10.push has no collection_names): its API.
        self.pair(
            "1.0 cabby push (API driver, inbox-all)",
            |via| {
                let (_, port) = self.endpoint(via);
                self.python(
                    via,
                    "cabby_push10.py",
                    vec![
                        "127.0.0.1".into(),
                        port.to_string(),
                        "/services/inbox-all".into(),
                        content.clone(),
                        STIX111.into(),
                    ],
                )
            },
            &expect(&["TAXII 1.0 content block pushed"]),
        );
        self.pair(
            "1.1 libtaxii inbox_client (--dcn feed-a)",
            |via| {
                self.libtaxii(
                    via,
                    "inbox_client",
                    "/services/inbox",
                    &[
                        "--content-file",
                        &content,
                        "--content-binding",
                        STIX111,
                        "--dcn",
                        "feed-a",
                    ],
                )
            },
            &expect(&["Inbox_Message", "status_type=\"SUCCESS\""]),
        );
        self.pair(
            "1.0 libtaxii inbox_client_10 (inbox-all)",
            |via| {
                self.libtaxii(
                    via,
                    "inbox_client_10",
                    "/services/inbox-all",
                    &["--content-file", &content, "--content-binding", STIX111],
                )
            },
            &expect(&["Inbox_Message", "status_type=\"SUCCESS\""]),
        );
    }

    /// What was pushed through the gateway was stored: feed-a got 4 blocks (two 1.1 pushes each
    /// way), feed-c 4 (two 1.0 pushes each way); the counts read alike both ways.
    fn stored(&self) {
        for (feed, n) in [("feed-a", 5), ("feed-c", 16)] {
            let want = format!("Content blocks count: {n}, is partial: False");
            self.pair(
                &format!("1.1 cabby count {feed} after the pushes"),
                |via| {
                    self.cabby(
                        via,
                        "taxii-poll",
                        "1.1",
                        "/services/poll",
                        &["-c", feed, "--count-only"],
                    )
                },
                &Expect {
                    contains: &[want.as_str()],
                    exit: Some(0),
                    traceback: false,
                },
            );
        }
        self.pair(
            "1.0 cabby poll feed-a after the pushes",
            |via| {
                self.cabby(
                    via,
                    "taxii-poll",
                    "1.0",
                    "/services/poll",
                    &["-c", "feed-a"],
                )
            },
            &expect(&["billing@invoices-portal.example", "5 blocks polled"]),
        );
    }

    // ----- partners: config/opentaxii.toml as it is (policies/opentaxii.toml)

    /// What each partner sees and may do, one version: alpha (Basic), beta (bearer token),
    /// gamma (client certificate, HTTPS), anonymous. Checked on the gateway's answers alone.
    fn partners(&self, v: &str) {
        let (disc, info, poll) = if v == "1.0" {
            (
                "discovery_client_10",
                "feed_information_client_10",
                "poll_client_10",
            )
        } else {
            (
                "discovery_client",
                "collection_information_client",
                "poll_client",
            )
        };
        let cm = "/services/collection-management";
        let alpha_cabby = ["--username", "alpha", "--password", "alpha-pass"];
        let alpha_libtaxii = ["--username", "alpha", "--pass", "alpha-pass"];
        let gamma_crt = self.tls_dir.join("gamma.crt").to_string_lossy().to_string();
        let gamma_key = self.tls_dir.join("gamma.key").to_string_lossy().to_string();
        let gamma = ["--cert", gamma_crt.as_str(), "--key", gamma_key.as_str()];
        let with = |a: &[&str], b: &[&str]| -> Vec<String> {
            a.iter().chain(b).map(|s| s.to_string()).collect()
        };
        fn strs(v: &[String]) -> Vec<&str> {
            v.iter().map(String::as_str).collect()
        }
        let services_but_discovery = ["Service Type: POLL", "Service Type: INBOX", "_MANAGEMENT"];
        let instances_but_discovery = [
            "service_type=\"POLL\"",
            "service_type=\"INBOX\"",
            "_MANAGEMENT\"",
        ];
        let all_feeds = ["feed-a", "feed-b", "feed-c", "feed-unavailable"];

        // Discovery: anonymous sees only the discovery service; every address is the gateway's.
        let out = self.verify(
            &format!("{v} anonymous cabby discovery: only discovery"),
            self.cabby(
                Via::Gateway,
                "taxii-discovery",
                v,
                "/services/discovery",
                &[],
            ),
            &["Service Type: DISCOVERY"],
            &services_but_discovery,
        );
        self.addresses_at_gateway(&format!("{v} anonymous cabby discovery"), &out);
        let out = self.verify(
            &format!("{v} anonymous libtaxii {disc}: only discovery"),
            self.libtaxii(Via::Gateway, disc, "/services/discovery", &[]),
            &["Discovery_Response", "service_type=\"DISCOVERY\""],
            &instances_but_discovery,
        );
        self.addresses_at_gateway(&format!("{v} anonymous libtaxii {disc}"), &out);
        let out = self.verify(
            &format!("{v} alpha cabby discovery"),
            self.cabby(
                Via::Gateway,
                "taxii-discovery",
                v,
                "/services/discovery",
                &alpha_cabby,
            ),
            &["Service Type: POLL", "Service Type: INBOX"],
            &[],
        );
        self.addresses_at_gateway(&format!("{v} alpha cabby discovery"), &out);
        let out = self.verify(
            &format!("{v} alpha libtaxii {disc}"),
            self.libtaxii(Via::Gateway, disc, "/services/discovery", &alpha_libtaxii),
            &["service_type=\"POLL\"", "service_type=\"INBOX\""],
            &[],
        );
        self.addresses_at_gateway(&format!("{v} alpha libtaxii {disc}"), &out);
        let out = self.verify(
            &format!("{v} beta discovery (bearer, partner_client.py): no inbox"),
            self.partner_client(Via::Gateway, v, "/services/discovery", "discovery", &[]),
            &["HTTP 200", "service_type=\"POLL\""],
            &["service_type=\"INBOX\""],
        );
        self.addresses_at_gateway(&format!("{v} beta discovery"), &out);
        let out = self.verify(
            &format!("{v} gamma cabby discovery over HTTPS"),
            self.cabby(
                Via::GatewayTls,
                "taxii-discovery",
                v,
                "/services/discovery",
                &gamma,
            ),
            &["Service Type: POLL", "Service Type: INBOX"],
            &[],
        );
        self.addresses_at_gateway(&format!("{v} gamma cabby discovery over HTTPS"), &out);
        let out = self.verify(
            &format!("{v} gamma libtaxii {disc} over HTTPS"),
            self.libtaxii(Via::GatewayTls, disc, "/services/discovery", &gamma),
            &["service_type=\"POLL\"", "service_type=\"INBOX\""],
            &[],
        );
        self.addresses_at_gateway(&format!("{v} gamma libtaxii {disc} over HTTPS"), &out);

        // Feed / collection information: each partner's feeds only.
        let listing = if v == "1.0" { "feeds" } else { "collections" };
        self.verify(
            &format!("{v} alpha cabby {listing}: only feed-a"),
            self.cabby(Via::Gateway, "taxii-collections", v, cm, &alpha_cabby),
            &["feed-a"],
            &["feed-b", "feed-c", "feed-unavailable"],
        );
        self.verify(
            &format!("{v} alpha libtaxii {info}: only feed-a"),
            self.libtaxii(Via::Gateway, info, cm, &alpha_libtaxii),
            &["feed-a"],
            &["feed-b", "feed-c", "feed-unavailable"],
        );
        self.verify(
            &format!("{v} beta {listing} (bearer): feed-b and feed-c"),
            self.partner_client(Via::Gateway, v, cm, "info", &[]),
            &["HTTP 200", "feed-b", "feed-c"],
            &["feed-a", "feed-unavailable"],
        );
        self.verify(
            &format!("{v} gamma cabby {listing} over HTTPS: all four"),
            self.cabby(Via::GatewayTls, "taxii-collections", v, cm, &gamma),
            &all_feeds,
            &[],
        );
        self.verify(
            &format!("{v} gamma libtaxii {info} over HTTPS: all four"),
            self.libtaxii(Via::GatewayTls, info, cm, &gamma),
            &all_feeds,
            &[],
        );
        self.verify(
            &format!("{v} anonymous cabby {listing}: refused"),
            self.cabby(Via::Gateway, "taxii-collections", v, cm, &[]),
            &["UNAUTHORIZED"],
            &["feed-a"],
        );

        // Polls.
        self.verify(
            &format!("{v} alpha cabby poll feed-a"),
            self.cabby(
                Via::Gateway,
                "taxii-poll",
                v,
                "/services/poll",
                &strs(&with(&alpha_cabby, &["-c", "feed-a"])),
            ),
            &["C2 domain watchlist", "5 blocks polled"],
            &["UNAUTHORIZED"],
        );
        self.verify(
            &format!("{v} alpha libtaxii {poll} feed-a"),
            self.libtaxii_poll(
                Via::Gateway,
                poll,
                &strs(&with(
                    &alpha_libtaxii,
                    &[if v == "1.0" { "--feed" } else { "--collection" }, "feed-a"],
                )),
            ),
            &["Poll_Response", "C2 domain watchlist"],
            &["UNAUTHORIZED"],
        );
        for feed in ["feed-b", "feed-c"] {
            self.verify(
                &format!("{v} alpha cabby poll {feed}: refused"),
                self.cabby(
                    Via::Gateway,
                    "taxii-poll",
                    v,
                    "/services/poll",
                    &strs(&with(&alpha_cabby, &["-c", feed])),
                ),
                &["UNAUTHORIZED"],
                &["blocks polled", "Content_Block", "watchlist", "phishing"],
            );
            self.verify(
                &format!("{v} alpha libtaxii {poll} {feed}: refused"),
                self.libtaxii_poll(
                    Via::Gateway,
                    poll,
                    &strs(&with(
                        &alpha_libtaxii,
                        &[if v == "1.0" { "--feed" } else { "--collection" }, feed],
                    )),
                ),
                &["status_type=\"UNAUTHORIZED\""],
                &["Poll_Response", "Content_Block", "watchlist", "phishing"],
            );
        }
        // feed-b is a data set, which TAXII 1.0 cannot poll (OpenTAXII even fails with a 500 on
        // it): in 1.0 beta polls its other feed, feed-c.
        let (beta_feed, beta_shows) = if v == "1.0" {
            ("feed-c", "phishing URL")
        } else {
            ("feed-b", "C2 domain watchlist")
        };
        self.verify(
            &format!("{v} beta poll {beta_feed} (bearer)"),
            self.partner_client(
                Via::Gateway,
                v,
                "/services/poll",
                "poll",
                &["--collection", beta_feed],
            ),
            &["HTTP 200", "Poll_Response", beta_shows],
            &["UNAUTHORIZED"],
        );
        self.verify(
            &format!("{v} beta poll feed-a (bearer): refused"),
            self.partner_client(
                Via::Gateway,
                v,
                "/services/poll",
                "poll",
                &["--collection", "feed-a"],
            ),
            &["status_type=\"UNAUTHORIZED\""],
            &["Poll_Response", "watchlist"],
        );
        self.verify(
            &format!("{v} gamma cabby poll feed-c over HTTPS"),
            self.cabby(
                Via::GatewayTls,
                "taxii-poll",
                v,
                "/services/poll",
                &strs(&with(&gamma, &["-c", "feed-c"])),
            ),
            &[
                "phishing URL",
                if v == "1.0" {
                    "10 blocks polled"
                } else {
                    "16 blocks polled"
                },
            ],
            &["UNAUTHORIZED"],
        );
    }

    /// Alpha may subscribe only with push addresses under http://127.0.0.1:9999/: any other is
    /// refused by the gateway, and OpenTAXII never sees the request (its access log).
    fn refused_subscriptions(&self) {
        let cm = "/services/collection-management";
        for v in ["1.1", "1.0"] {
            for address in [
                "http://127.0.0.1:9998/inbox",
                "http://127.0.0.1:99990/inbox",
                "https://soc.example/inbox",
            ] {
                let before = self.upstream_hits(cm);
                self.verify(
                    &format!("{v} alpha subscribe feed-a pushing to {address}: refused"),
                    self.partner_client(
                        Via::Gateway,
                        v,
                        cm,
                        "subscribe",
                        &["--collection", "feed-a", "--address", address],
                    ),
                    &["status_type=\"UNAUTHORIZED\""],
                    &["Subscription_Management_Response"],
                );
                let after = self.upstream_hits(cm);
                self.results.borrow_mut().push(CaseResult {
                    name: format!("{v} ... and OpenTAXII never saw it"),
                    same: true,
                    problems: if after == before {
                        Vec::new()
                    } else {
                        vec![format!(
                            "OpenTAXII logged {} more request(s) to {cm}",
                            after - before
                        )]
                    },
                    detail: String::new(),
                });
            }
            // The allowed prefix gets through (so the refusals above are the address's doing).
            let before = self.upstream_hits(cm);
            self.verify(
                &format!("{v} alpha subscribe feed-a pushing to http://127.0.0.1:9999/inbox"),
                self.partner_client(
                    Via::Gateway,
                    v,
                    cm,
                    "subscribe",
                    &[
                        "--collection",
                        "feed-a",
                        "--address",
                        "http://127.0.0.1:9999/inbox",
                    ],
                ),
                &["HTTP 200", "Subscription_Management_Response"],
                &["UNAUTHORIZED"],
            );
            let after = self.upstream_hits(cm);
            self.results.borrow_mut().push(CaseResult {
                name: format!("{v} ... and OpenTAXII saw it"),
                same: true,
                problems: if after == before + 1 {
                    Vec::new()
                } else {
                    vec![format!(
                        "OpenTAXII logged {} request(s) to {cm}, expected 1",
                        after - before
                    )]
                },
                detail: String::new(),
            });
        }
    }

    // ----- virtual feeds (issue 6): community-a is feed-a, community-c is feed-c

    /// Round trips under the public name community-a, one version: listings, a poll compared
    /// with a direct poll of feed-a, subscriptions (stored by OpenTAXII on feed-a), and beta's
    /// refusal.
    fn community(&self, v: &str) {
        let cm = "/services/collection-management";
        let alpha = ["--username", "alpha", "--password", "alpha-pass"];
        let gamma_crt = self.tls_dir.join("gamma.crt").to_string_lossy().to_string();
        let gamma_key = self.tls_dir.join("gamma.key").to_string_lossy().to_string();
        let gamma = ["--cert", gamma_crt.as_str(), "--key", gamma_key.as_str()];
        let with = |a: &[&str], b: &[&str]| -> Vec<String> {
            a.iter().chain(b).map(|s| s.to_string()).collect()
        };
        fn strs(v: &[String]) -> Vec<&str> {
            v.iter().map(String::as_str).collect()
        }
        let listing = if v == "1.0" { "feeds" } else { "collections" };
        let attr = if v == "1.0" {
            "feed_name"
        } else {
            "collection_name"
        };
        let public = format!("{attr}=\"community-a\"");
        let real = format!("{attr}=\"feed-a\"");

        // Listings: a record under each name the partner holds a grant on.
        self.verify(
            &format!("{v} alpha cabby {listing}: community-a and feed-a"),
            self.cabby(Via::Gateway, "taxii-collections", v, cm, &alpha),
            &["Name: community-a", "Name: feed-a"],
            &["community-c", "feed-b", "feed-c", "feed-unavailable"],
        );
        self.verify(
            &format!("{v} gamma cabby {listing} over HTTPS: community-a, community-c too"),
            self.cabby(Via::GatewayTls, "taxii-collections", v, cm, &gamma),
            &[
                "Name: community-a",
                "Name: community-c",
                "Name: feed-a",
                "Name: feed-b",
                "Name: feed-c",
            ],
            &[],
        );

        // Poll: the content blocks of feed-a, as OpenTAXII itself answers them.
        let direct = self.run(&self.cabby(
            Via::Direct,
            "taxii-poll",
            v,
            "/services/poll",
            &["-c", "feed-a", "-r", "-x"],
        ));
        let gateway = self.run(&self.cabby(
            Via::Gateway,
            "taxii-poll",
            v,
            "/services/poll",
            &strs(&with(&alpha, &["-c", "community-a", "-r", "-x"])),
        ));
        let (want, got) = (
            elements(&direct.raw, "Content_Block"),
            elements(&gateway.raw, "Content_Block"),
        );
        let mut problems = Vec::new();
        if want.is_empty() {
            problems.push("the direct poll of feed-a shows no Content_Block".to_string());
        }
        if want != got {
            problems.push(format!(
                "{} Content_Block(s) polling feed-a at OpenTAXII, {} polling community-a through \
                 the gateway, not the same",
                want.len(),
                got.len()
            ));
        }
        for (label, out) in [("direct", &direct), ("gateway", &gateway)] {
            if out.normal.contains("ERROR:") || !out.normal.contains("blocks polled") {
                let tail: String = out.raw.chars().take(3000).collect();
                problems.push(format!("{label}: no poll result:\n{tail}"));
            }
        }
        self.results.borrow_mut().push(CaseResult {
            name: format!(
                "{v} alpha cabby poll community-a: the {} content block(s) of a direct poll of feed-a",
                want.len()
            ),
            same: true,
            problems,
            detail: String::new(),
        });
        self.verify(
            &format!(
                "{v} alpha poll community-a (partner_client.py): the answer names community-a"
            ),
            self.partner_client(
                Via::Gateway,
                v,
                "/services/poll",
                "poll",
                &["--basic", "alpha:alpha-pass", "--collection", "community-a"],
            ),
            &["HTTP 200", "Poll_Response", &public, "C2 domain watchlist"],
            &[&real, "UNAUTHORIZED"],
        );
        self.verify(
            &format!("{v} beta poll community-a (bearer): refused"),
            self.partner_client(
                Via::Gateway,
                v,
                "/services/poll",
                "poll",
                &["--collection", "community-a"],
            ),
            &["status_type=\"UNAUTHORIZED\""],
            &["Poll_Response", "watchlist"],
        );

        // Subscriptions: answered under community-a, kept by OpenTAXII on feed-a.
        let key = if v == "1.1" {
            "Subscription_ID>"
        } else {
            "subscription_id=\""
        };
        let out = self.verify(
            &format!("{v} alpha cabby subscribe community-a: answered under community-a"),
            self.cabby(
                Via::Gateway,
                "taxii-subscription",
                v,
                cm,
                &strs(&with(
                    &alpha,
                    &["-a", "subscribe", "-c", "community-a", "-x"],
                )),
            ),
            &["Subscription_Management_Response", &public],
            &[&real, "UNAUTHORIZED", "ERROR:"],
        );
        self.stored_subscription(
            &format!("{v} ... OpenTAXII's subscription (cabby) is on feed-a"),
            value_after(&out.raw, key),
        );
        let out = self.verify(
            &format!(
                "{v} alpha subscribe community-a pushing to http://127.0.0.1:9999/inbox \
                 (partner_client.py): answered under community-a"
            ),
            self.partner_client(
                Via::Gateway,
                v,
                cm,
                "subscribe",
                &[
                    "--collection",
                    "community-a",
                    "--address",
                    "http://127.0.0.1:9999/inbox",
                ],
            ),
            &["HTTP 200", "Subscription_Management_Response", &public],
            &[&real, "UNAUTHORIZED"],
        );
        self.stored_subscription(
            &format!("{v} ... OpenTAXII's subscription (partner_client.py) is on feed-a"),
            value_after(&out.raw, key),
        );
    }

    /// OpenTAXII's data.db row of subscription `id` points at feed-a's collection.
    fn stored_subscription(&self, name: &str, id: Option<String>) {
        let mut problems = Vec::new();
        match id {
            None => problems.push("no subscription id in the answer".to_string()),
            Some(id) => match self.opentaxii_db(&["subscription", &id]) {
                Err(e) => problems.push(e),
                Ok(j) if j["collection"].as_str() != Some("feed-a") => problems.push(format!(
                    "OpenTAXII's subscription {id}: {j}; expected its collection to be feed-a"
                )),
                Ok(_) => {}
            },
        }
        self.results.borrow_mut().push(CaseResult {
            name: name.to_string(),
            same: true,
            problems,
            detail: String::new(),
        });
    }

    /// TAXII 1.1 pushes to community-a (1.0 pushes name no destination): cabby's CLI, and a
    /// compact one from partner_client.py. Both stored into feed-a, and each audit record's
    /// `content_digests` checked against the Content_Block bytes OpenTAXII stored.
    fn community_pushes(&self) {
        let template = fs::read_to_string(self.kit.join("content/push-email.xml"))
            .expect("tests/interop/content/push-email.xml");
        let title = "pushed by the test (sender address)";
        assert!(
            template.contains(title),
            "push-email.xml no longer has the title {title:?}"
        );
        let marked = |marker: &str, name: &str| {
            let path = self.work.join(name);
            fs::write(&path, template.replace(title, marker)).expect("content file");
            path.to_string_lossy().to_string()
        };
        let (by_cabby, compact) = (
            "pushed to community-a by cabby",
            "pushed to community-a compact",
        );
        let cabby_file = marked(by_cabby, "push-community-cabby.xml");
        let compact_file = marked(compact, "push-community-compact.xml");
        self.verify(
            "1.1 alpha cabby push to community-a",
            self.cabby(
                Via::Gateway,
                "taxii-push",
                "1.1",
                "/services/inbox",
                &[
                    "--username",
                    "alpha",
                    "--password",
                    "alpha-pass",
                    "-f",
                    &cabby_file,
                    "--dest",
                    "community-a",
                    "--binding",
                    STIX111,
                ],
            ),
            &["Content block successfully pushed"],
            &["ERROR:", "Traceback"],
        );
        let out = self.verify(
            "1.1 alpha push to community-a (partner_client.py, compact)",
            self.partner_client(
                Via::Gateway,
                "1.1",
                "/services/inbox",
                "push",
                &[
                    "--collection",
                    "community-a",
                    "--content-file",
                    &compact_file,
                ],
            ),
            &["HTTP 200", "status_type=\"SUCCESS\""],
            &["Traceback"],
        );
        let compact_id = value_after(&out.raw, "sent message_id: ");
        self.verify(
            "1.1 ... both stored into feed-a (direct cabby poll of feed-a at OpenTAXII)",
            self.cabby(
                Via::Direct,
                "taxii-poll",
                "1.1",
                "/services/poll",
                &["-c", "feed-a"],
            ),
            &[by_cabby, compact],
            &["ERROR:"],
        );

        // The writer flushes when its queue is empty; a moment for the last record.
        std::thread::sleep(Duration::from_millis(300));
        let pushes: Vec<serde_json::Value> = self
            .audit_records()
            .into_iter()
            .filter(|r| {
                r["partner"] == "alpha"
                    && r["message_type"] == "Inbox_Message"
                    && strings(&r["feeds"]).iter().any(|f| f == "community-a")
            })
            .collect();
        if pushes.len() != 2 {
            self.results.borrow_mut().push(CaseResult {
                name: "1.1 audit: one record per push to community-a".into(),
                same: true,
                problems: vec![format!(
                    "{} audit record(s) of alpha's Inbox_Message to community-a, expected 2 \
                     (cabby's, partner_client.py's)",
                    pushes.len()
                )],
                detail: String::new(),
            });
        }
        for r in &pushes {
            let id = r["message_id"].as_str().unwrap_or_default().to_string();
            let is_compact = compact_id.as_deref() == Some(id.as_str());
            self.push_digests(r, is_compact);
        }
    }

    /// One push's audit record against what OpenTAXII stored (data.db `inbox_messages`, the
    /// row of its message id): destination feed-a, the partner header, and the digests.
    fn push_digests(&self, r: &serde_json::Value, compact: bool) {
        let id = r["message_id"].as_str().unwrap_or_default();
        let digests = strings(&r["content_digests"]);
        let rewrites = strings(&r["rewrites"]);
        let mut problems = Vec::new();
        if digests.is_empty() {
            problems.push("the audit record lists no content_digests".to_string());
        }
        if !rewrites
            .iter()
            .any(|w| w.contains("feed \"community-a\" -> \"feed-a\""))
        {
            problems.push(format!(
                "the audit record's rewrites name no rename community-a -> feed-a: {rewrites:?}"
            ));
        }
        let captured: Vec<String> = strings(&r["capture"])
            .into_iter()
            .filter(|n| n.ends_with(".request.xml"))
            .map(|n| {
                self.run_dir
                    .join("capture")
                    .join(n)
                    .to_string_lossy()
                    .into()
            })
            .collect();
        let mut args = vec!["inbox", id];
        args.extend(captured.iter().map(String::as_str));
        match self.opentaxii_db(&args) {
            Err(e) => problems.push(e),
            Ok(db) if db["rows"] != 1 => problems.push(format!(
                "OpenTAXII stored {} inbox message(s) with message id {id}, expected 1",
                db["rows"]
            )),
            Ok(db) => {
                let only_feed_a = vec!["feed-a".to_string()];
                for (key, what) in [
                    ("destination_collections", "its destination collections"),
                    ("stored_collections", "the collections of its stored blocks"),
                    (
                        "destination_names",
                        "the stored Destination_Collection_Name(s)",
                    ),
                ] {
                    if strings(&db[key]) != only_feed_a {
                        problems.push(format!(
                            "{what}: {:?}, expected [\"feed-a\"]",
                            strings(&db[key])
                        ));
                    }
                }
                if strings(&db["partner_headers"]) != ["alpha"] {
                    problems.push(format!(
                        "the stored message's urn:taxii-gateway:partner extended header(s): \
                         {:?}, expected [\"alpha\"]",
                        strings(&db["partner_headers"])
                    ));
                }
                let stored = strings(&db["digests"]);
                if compact {
                    // Sent in libtaxii's own compact form: OpenTAXII's re-serialisation keeps
                    // every byte, so the digests must be those of the stored elements.
                    if stored != digests {
                        problems.push(format!(
                            "audit content_digests {digests:?} differ from the SHA-256 of the \
                             Content_Block(s) in OpenTAXII's stored original_message {stored:?}"
                        ));
                    }
                } else {
                    // cabby pretty-prints; OpenTAXII stores libtaxii's compact re-serialisation
                    // of what it parsed (not the received bytes), without the white space
                    // between envelope tags. So: the digests are those of the partner's bytes
                    // (the capture), and those bytes are the stored blocks but for that space.
                    match captured.first().map(|f| &db["files"][f.as_str()]) {
                        None => problems.push("the audit record lists no captured request".into()),
                        Some(file) => {
                            if strings(&file["digests"]) != digests {
                                problems.push(format!(
                                    "audit content_digests {digests:?} differ from the SHA-256 \
                                     of the Content_Block(s) of the captured request {:?}",
                                    strings(&file["digests"])
                                ));
                            }
                            if strings(&file["squeezed"]) != strings(&db["squeezed"]) {
                                problems.push(
                                    "the stored Content_Block(s) are not the captured ones \
                                     (white space between tags aside)"
                                        .into(),
                                );
                            }
                        }
                    }
                }
            }
        }
        self.results.borrow_mut().push(CaseResult {
            name: format!(
                "1.1 audit of the {} push: {} content digest(s) = the Content_Block(s) OpenTAXII \
                 stored{}, under feed-a, partner header alpha",
                if compact { "compact" } else { "cabby" },
                digests.len(),
                if compact {
                    ""
                } else {
                    " (as captured; stored re-serialised)"
                }
            ),
            same: true,
            problems,
            detail: String::new(),
        });
    }

    /// Every forwarded exchange naming a community-* feed lists `<request_id>.request.xml`
    /// in its audit record, and the capture directory holds what the records list.
    fn captures(&self) {
        let dir = self.run_dir.join("capture");
        let records: Vec<serde_json::Value> = self
            .audit_records()
            .into_iter()
            .filter(|r| {
                !r["upstream_status"].is_null()
                    && strings(&r["feeds"])
                        .iter()
                        .any(|f| f.starts_with("community-"))
            })
            .collect();
        let mut problems = Vec::new();
        // Per version 2 polls and 2 subscriptions, and the 2 pushes.
        if records.len() < 10 {
            problems.push(format!(
                "{} forwarded community-* exchange(s) in the audit log, expected at least 10",
                records.len()
            ));
        }
        for r in &records {
            let rid = r["request_id"].as_str().unwrap_or_default();
            let what = r["message_type"].as_str().unwrap_or("?");
            let listed = strings(&r["capture"]);
            let want = format!("{rid}.request.xml");
            if !listed.contains(&want) {
                problems.push(format!(
                    "{what} {rid}: capture lists {listed:?}, not {want}"
                ));
            }
            for name in listed.iter().filter(|n| n.ends_with(".xml")) {
                match fs::read(dir.join(name)) {
                    Err(e) => problems.push(format!("{what} {rid}: {name}: {e}")),
                    Ok(bytes) if name.ends_with(".request.xml") => {
                        if memchr::memmem::find(&bytes, b"community-a").is_none() {
                            problems.push(format!(
                                "{what} {rid}: {name} does not name community-a (the partner's \
                                 request)"
                            ));
                        }
                    }
                    Ok(_) => {}
                }
            }
        }
        self.results.borrow_mut().push(CaseResult {
            name: format!(
                "capture: {} community exchange(s), each <request_id>.request.xml in the run's \
                 capture dir",
                records.len()
            ),
            same: true,
            problems,
            detail: String::new(),
        });
    }

    /// The partner gateway's audit log, one JSON value a line.
    fn audit_records(&self) -> Vec<serde_json::Value> {
        fs::read_to_string(self.run_dir.join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// tests/interop/opentaxii_db.py on OpenTAXII's data.db: `args[0]` the command, then its
    /// arguments.
    fn opentaxii_db(&self, args: &[&str]) -> Result<serde_json::Value, String> {
        let base = self.fresh("opentaxii_db");
        let mut cmd = Command::new(self.bin.join("python"));
        cmd.arg(self.kit.join("opentaxii_db.py"))
            .arg(args[0])
            .arg(&self.upstream_db)
            .args(&args[1..]);
        let ran = bounded(&mut cmd, &base, CLIENT_LIMIT);
        if ran.code != Some(0) {
            return Err(format!(
                "opentaxii_db.py {}: {}\n{}",
                args.join(" "),
                ran.status(),
                ran.stderr
            ));
        }
        serde_json::from_str(&ran.stdout)
            .map_err(|e| format!("opentaxii_db.py printed no JSON ({e}): {}", ran.stdout))
    }

    /// Requests to `path` in OpenTAXII's access log so far.
    fn upstream_hits(&self, path: &str) -> usize {
        // gunicorn writes its access log line after the answer; a moment for it to land.
        std::thread::sleep(Duration::from_millis(200));
        let log = fs::read_to_string(&self.upstream_log).unwrap_or_default();
        let needle = format!("\"POST {path} ");
        log.lines().filter(|l| l.contains(&needle)).count()
    }

    /// config/opentaxii.toml's operations: `/readyz` ready with OpenTAXII up, `/metrics`
    /// counting each partner's exchanges, and the audit log holding a verifiable chain with
    /// a record for each partner.
    fn operations(&self) {
        let mut problems = Vec::new();
        let get = |path: &str| {
            let out = Command::new("curl")
                .args(["-s", "--max-time", "10", "-w", "\n%{http_code}"])
                .arg(format!("http://127.0.0.1:{}{path}", self.admin_port))
                .output()
                .expect("curl");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let ready = get("/readyz");
        if ready != "ready\n\n200" {
            problems.push(format!("/readyz: {ready:?}"));
        }
        let metrics = get("/metrics");
        for partner in ["alpha", "beta", "gamma"] {
            let label = format!("partner=\"{partner}\"");
            let counted = metrics.lines().any(|l| {
                l.starts_with("taxii_gateway_requests_total{")
                    && l.contains("decision=\"forwarded\"")
                    && l.contains(&label)
            });
            if !counted {
                problems.push(format!(
                    "/metrics counts no forwarded exchange of {partner}"
                ));
            }
        }
        // The writer flushes when its queue is empty; a moment for the last record.
        std::thread::sleep(Duration::from_millis(300));
        let audit = self.run_dir.join("audit.jsonl");
        let text = fs::read_to_string(&audit).unwrap_or_default();
        for partner in ["alpha", "beta", "gamma"] {
            if !text.contains(&format!("\"partner\":\"{partner}\"")) {
                problems.push(format!("the audit log has no record of {partner}"));
            }
        }
        let out = Command::new(env!("CARGO_BIN_EXE_taxii-gateway"))
            .args(["audit", "verify"])
            .arg(&audit)
            .output()
            .expect("taxii-gateway audit verify");
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() || !said.starts_with("ok: ") {
            problems.push(format!("audit verify: {said}"));
        }
        self.results.borrow_mut().push(CaseResult {
            name: "operations: /readyz, /metrics per partner, audit chain".into(),
            same: true,
            problems,
            detail: String::new(),
        });
    }

    /// tests/interop/partner_client.py: beta's bearer token (no client CLI sends a static one),
    /// alpha's Basic credentials for subscriptions with push addresses and compact pushes, or
    /// the credentials in `extra`.
    fn partner_client(&self, via: Via, v: &str, path: &str, action: &str, extra: &[&str]) -> Call {
        let (scheme, port) = self.endpoint(via);
        let mut args: Vec<String> = vec![
            "--taxii".into(),
            v.into(),
            "-u".into(),
            format!("{scheme}://127.0.0.1:{port}{path}"),
            action.into(),
        ];
        if extra
            .iter()
            .any(|a| matches!(*a, "--basic" | "--bearer" | "--cert"))
        {
            // the case's own credentials
        } else if action == "subscribe" || action == "push" {
            args.extend(["--basic".into(), "alpha:alpha-pass".into()]);
        } else {
            args.extend(["--bearer".into(), "beta-token".into()]);
        }
        if scheme == "https" {
            args.push("--ca".into());
            args.push(self.ca.to_string_lossy().into());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        self.python(via, "partner_client.py", args)
    }

    /// Runs one partner case: its output must hold every `contains` and none of `lacks`.
    fn verify(&self, name: &str, call: Call, contains: &[&str], lacks: &[&str]) -> Output {
        let out = self.run(&call);
        let mut problems = Vec::new();
        for needle in contains {
            if !out.normal.contains(needle) {
                problems.push(format!("output lacks {needle:?}"));
            }
        }
        for needle in lacks {
            if out.normal.contains(needle) {
                problems.push(format!("output has {needle:?}"));
            }
        }
        if !problems.is_empty() {
            let tail: String = out.raw.chars().take(3000).collect();
            problems.push(format!("output:\n{tail}"));
        }
        self.results.borrow_mut().push(CaseResult {
            name: name.to_string(),
            same: true,
            problems,
            detail: String::new(),
        });
        out
    }

    /// Every address of a discovery answer (cabby's `Address: `, libtaxii's `<…Address>`) names
    /// the gateway's listener of its scheme: `http://` the plain one, `https://` the TLS one
    /// (OpenTAXII advertises `https://` twins on its one domain, the gateway's plain port; the
    /// gateway moves them to its TLS listener).
    fn addresses_at_gateway(&self, case: &str, out: &Output) {
        let ok = [
            format!("http://127.0.0.1:{}/", self.gw_port),
            format!("https://127.0.0.1:{}/", self.gw_tls_port),
        ];
        let mut found = Vec::new();
        for line in out.raw.lines().filter(|l| !l.contains("Sending ")) {
            for key in ["Address: ", "Address>"] {
                let mut rest = line;
                while let Some(i) = rest.find(key) {
                    // not a closing tag
                    let closing = rest[..i]
                        .rfind('<')
                        .is_some_and(|j| rest[j..].starts_with("</"));
                    rest = &rest[i + key.len()..];
                    if closing {
                        continue;
                    }
                    let end = rest
                        .find(|c: char| c == '<' || c.is_whitespace())
                        .unwrap_or(rest.len());
                    if end > 0 {
                        found.push(rest[..end].to_string());
                    }
                }
            }
        }
        let mut problems = Vec::new();
        if found.is_empty() {
            problems.push("no address found".to_string());
        }
        for a in &found {
            let at = a.split_once("://").map_or("", |(scheme, _)| scheme);
            if !matches!(at, "http" | "https") || !ok.iter().any(|p| a.starts_with(p.as_str())) {
                problems.push(format!(
                    "{a} is not at the gateway ({} or {})",
                    ok[0], ok[1]
                ));
            }
        }
        self.results.borrow_mut().push(CaseResult {
            name: format!("{case}: {} address(es), all the gateway's", found.len()),
            same: true,
            problems,
            detail: String::new(),
        });
    }

    // ----- the clients

    fn endpoint(&self, via: Via) -> (&'static str, u16) {
        match via {
            Via::Direct => ("http", self.upstream_port),
            Via::Gateway => ("http", self.gw_port),
            Via::GatewayTls => ("https", self.gw_tls_port),
        }
    }

    /// A cabby CLI call (always with --path: cabby's --discovery mode goes its own ways).
    fn cabby(&self, via: Via, tool: &str, v: &str, path: &str, extra: &[&str]) -> Call {
        let (scheme, port) = self.endpoint(via);
        let mut args: Vec<String> = vec![
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "-t".into(),
            v.into(),
            "--path".into(),
            path.into(),
            "--timeout".into(),
            "30".into(),
        ];
        if scheme == "https" {
            args.push("--https".into());
            args.push("--ca-cert".into());
            args.push(self.ca.to_string_lossy().into());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        Call {
            program: self.bin.join(tool),
            args,
            tls: scheme == "https",
            dest_dir: None,
        }
    }

    /// A libtaxii client script, with its raw-XML output.
    fn libtaxii(&self, via: Via, script: &str, path: &str, extra: &[&str]) -> Call {
        let (scheme, port) = self.endpoint(via);
        let mut args: Vec<String> = vec![
            "-u".into(),
            format!("{scheme}://127.0.0.1:{port}{path}"),
            "--xml-output".into(),
        ];
        if scheme == "https" {
            args.push("--verify-server".into());
            args.push(self.ca.to_string_lossy().into());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        Call {
            program: self.bin.join(script),
            args,
            tls: scheme == "https",
            dest_dir: None,
        }
    }

    /// A libtaxii poll or fulfillment script writing into a fresh folder.
    fn libtaxii_poll(&self, via: Via, script: &str, extra: &[&str]) -> Call {
        let dest = self.fresh("dest");
        fs::create_dir_all(&dest).expect("dest folder");
        let dest_s = dest.to_string_lossy().to_string();
        let mut all: Vec<&str> = extra.to_vec();
        all.extend(["--dest-dir", dest_s.as_str()]);
        let mut call = self.libtaxii(via, script, "/services/poll", &all);
        call.dest_dir = Some(dest);
        call
    }

    fn libtaxii_subscription(&self, via: Via, v: &str, action: &str, id: Option<&str>) -> Call {
        let (scheme, port) = self.endpoint(via);
        let mut args = vec![
            "--taxii".into(),
            v.into(),
            "-u".into(),
            format!("{scheme}://127.0.0.1:{port}/services/collection-management"),
            "--xml-output".into(),
            "--action".into(),
            action.into(),
            "--collection".into(),
            "feed-a".into(),
        ];
        if let Some(id) = id {
            args.push("--subscription-id".into());
            args.push(id.into());
        }
        self.python(via, "libtaxii_subscription.py", args)
    }

    /// One of the project's Python drivers in tests/interop, with the venv's interpreter.
    fn python(&self, via: Via, script: &str, args: Vec<String>) -> Call {
        let mut all = vec![self.kit.join(script).to_string_lossy().to_string()];
        all.extend(args);
        Call {
            program: self.bin.join("python"),
            args: all,
            tls: via == Via::GatewayTls,
            dest_dir: None,
        }
    }

    fn fresh(&self, what: &str) -> PathBuf {
        let n = self.seq.get() + 1;
        self.seq.set(n);
        self.work.join(format!("{n:03}-{what}"))
    }

    fn run(&self, call: &Call) -> Output {
        // beta may send one request per second, two in a burst (policies/opentaxii.toml): its
        // calls are paced so that no case meets the limiter by accident.
        if call.args.iter().any(|a| a == "beta-token") {
            if let Some(last) = self.beta_last.get() {
                let gap = Duration::from_millis(1100);
                if last.elapsed() < gap {
                    std::thread::sleep(gap - last.elapsed());
                }
            }
            self.beta_last.set(Some(Instant::now()));
        }
        let base = self.fresh(
            call.program
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("client"),
        );
        let mut cmd = Command::new(&call.program);
        cmd.args(&call.args).current_dir(&self.work);
        // Only loopback, never a proxy; the test CA only where asked (requests prefers
        // REQUESTS_CA_BUNDLE from the environment over cabby's --ca-cert).
        for var in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
            "REQUESTS_CA_BUNDLE",
            "CURL_CA_BUNDLE",
            "SSL_CERT_FILE",
            "SSL_CERT_DIR",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .env("PYTHONDONTWRITEBYTECODE", "1");
        if call.tls {
            cmd.env("REQUESTS_CA_BUNDLE", &self.ca)
                .env("SSL_CERT_FILE", &self.ca);
        }
        let ran = bounded(&mut cmd, &base, CLIENT_LIMIT);
        let mut raw = format!(
            "{}\n--- stderr\n{}\n--- {}\n",
            ran.stdout,
            ran.stderr,
            ran.status()
        );
        if let Some(dir) = &call.dest_dir {
            let mut files: Vec<PathBuf> = fs::read_dir(dir)
                .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            files.sort();
            for f in files {
                let name = f.file_name().map(|n| n.to_string_lossy().to_string());
                let body = fs::read_to_string(&f).unwrap_or_else(|e| format!("<unreadable: {e}>"));
                let _ = write!(raw, "--- file {}\n{body}\n", name.unwrap_or_default());
            }
        }
        fs::write(base.with_extension("txt"), &raw).ok();
        // libtaxii names the files it writes: the folder is per call.
        let mut comparable = raw.clone();
        if let Some(dir) = &call.dest_dir {
            comparable = comparable.replace(dir.to_string_lossy().as_ref(), "<dest>");
        }
        let normal = normalize(&comparable);
        fs::write(base.with_extension("norm"), &normal).ok();
        Output {
            normal,
            raw,
            code: ran.code,
        }
    }

    // ----- comparing

    fn pair(&self, name: &str, make: impl Fn(Via) -> Call, want: &Expect) -> (Output, Output) {
        self.compare(name, Via::Gateway, make, want)
    }

    fn pair_tls(&self, name: &str, make: impl Fn(Via) -> Call, want: &Expect) -> (Output, Output) {
        self.compare(name, Via::GatewayTls, make, want)
    }

    fn compare(
        &self,
        name: &str,
        via: Via,
        make: impl Fn(Via) -> Call,
        want: &Expect,
    ) -> (Output, Output) {
        let direct = self.run(&make(Via::Direct));
        let gateway = self.run(&make(via));
        let mut problems = Vec::new();
        for (label, out) in [("direct", &direct), ("gateway", &gateway)] {
            for needle in want.contains {
                if !out.normal.contains(needle) {
                    problems.push(format!("{label}: output lacks {needle:?}"));
                }
            }
            if want.exit.is_some() && out.code != want.exit {
                problems.push(format!(
                    "{label}: exit {:?}, expected {:?}",
                    out.code, want.exit
                ));
            }
            // The cabby CLI exits 0 on errors: its output tells.
            if out.normal.contains("ERROR:") {
                problems.push(format!("{label}: the client logged an ERROR"));
            }
            if !want.traceback && out.normal.contains("Traceback (most recent call last)") {
                problems.push(format!("{label}: the client died with a traceback"));
            }
            for bad in [
                "status_type=\"FAILURE\"",
                "status_type=\"BAD_MESSAGE\"",
                "Status Type: FAILURE",
                "Status Type: BAD_MESSAGE",
            ] {
                if out.normal.contains(bad) {
                    problems.push(format!("{label}: answer has {bad}"));
                }
            }
        }
        let same = direct.normal == gateway.normal;
        let detail = if same {
            String::new()
        } else {
            first_difference(&direct.normal, &gateway.normal)
        };
        self.results.borrow_mut().push(CaseResult {
            name: name.to_string(),
            same,
            problems,
            detail,
        });
        (direct, gateway)
    }

    /// Both runs advertise the gateway's addresses (OpenTAXII's --domain), never the upstream's.
    fn advertises_gateway(&self, case: &str, direct: &Output, gateway: &Output) {
        let address = format!("Address: http://127.0.0.1:{}/services/poll", self.gw_port);
        let upstream = format!("127.0.0.1:{}/", self.upstream_port);
        let mut problems = Vec::new();
        for (label, out) in [("direct", direct), ("gateway", gateway)] {
            if !out.raw.contains(&address) {
                problems.push(format!("{label}: lacks {address:?}"));
            }
            // (cabby's own "Sending ... to URL" log line names where the request went)
            let mut advertised = out.raw.lines().filter(|l| !l.contains("Sending "));
            if advertised.any(|l| l.contains(&upstream)) {
                problems.push(format!("{label}: advertises the upstream's own address"));
            }
        }
        self.results.borrow_mut().push(CaseResult {
            name: format!("{case}: advertised addresses name the gateway"),
            same: true,
            problems,
            detail: String::new(),
        });
    }

    fn report(&self) -> String {
        let mut s = String::from("interop matrix (direct vs gateway):\n");
        for (i, r) in self.results.borrow().iter().enumerate() {
            let partners = self.partners_from.get().is_some_and(|from| i >= from);
            if self.partners_from.get() == Some(i) {
                s.push_str("partners (config/opentaxii.toml as it is; the gateway's answers):\n");
            }
            let verdict = match (r.same, r.problems.is_empty()) {
                (true, true) if partners => "ok",
                (true, true) => "same",
                (false, _) => "DIFFERENT",
                (true, false) => "FAILED CHECK",
            };
            let _ = writeln!(s, "  {verdict:<13} {}", r.name);
        }
        s
    }

    fn failures(&self) -> String {
        let mut s = String::new();
        for r in self.results.borrow().iter().filter(|r| !r.ok()) {
            let _ = writeln!(s, "== {}", r.name);
            for p in &r.problems {
                let _ = writeln!(s, "   {p}");
            }
            if !r.same {
                let _ = writeln!(s, "{}", r.detail);
            }
        }
        s
    }
}

/// The value after `key` up to a quote, `<`, `;` or white space.
fn value_after(text: &str, key: &str) -> Option<String> {
    let start = text.find(key)? + key.len();
    let rest = &text[start..];
    let end = rest
        .find(|c: char| c == '"' || c == '<' || c == ';' || c == '\'' || c.is_whitespace())
        .unwrap_or(rest.len());
    (end > 0).then(|| rest[..end].to_string())
}

/// The strings of a JSON array (empty for anything else).
fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Every `local` element of `text`, start tag (any namespace prefix, or none) to its end tag,
/// in document order, not nested.
fn elements(text: &str, local: &str) -> Vec<String> {
    let name_char = |c: char| c.is_alphanumeric() || matches!(c, '_' | '.' | '-');
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = text[at..].find(local).map(|i| at + i) {
        at = i + local.len();
        let Some(lt) = text[..i].rfind('<') else {
            continue;
        };
        let prefix = &text[lt + 1..i];
        let prefixed = prefix.is_empty()
            || (prefix.len() > 1
                && prefix.ends_with(':')
                && prefix[..prefix.len() - 1].chars().all(name_char));
        let ends = text[at..]
            .chars()
            .next()
            .is_some_and(|c| c.is_whitespace() || c == '>' || c == '/');
        if !prefixed || !ends {
            continue;
        }
        // An empty element: its start tag alone.
        if let Some(gt) = text[at..].find('>') {
            if text[..at + gt].ends_with('/') {
                out.push(text[lt..at + gt + 1].to_string());
                at += gt + 1;
                continue;
            }
        }
        let end_tag = format!("</{prefix}{local}>");
        match text[at..].find(&end_tag) {
            Some(e) => {
                let end = at + e + end_tag.len();
                out.push(text[lt..end].to_string());
                at = end;
            }
            None => {
                out.push(text[lt..].to_string());
                break;
            }
        }
    }
    out
}

fn first_difference(a: &str, b: &str) -> String {
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let at = la
        .iter()
        .zip(&lb)
        .position(|(x, y)| x != y)
        .unwrap_or(la.len().min(lb.len()));
    let show = |lines: &[&str]| {
        let from = at.saturating_sub(3);
        let to = (at + 4).min(lines.len());
        lines[from..to]
            .iter()
            .map(|l| {
                let l: String = l.chars().take(300).collect();
                format!("     | {l}\n")
            })
            .collect::<String>()
    };
    format!(
        "   first difference at line {} (normalised; {} vs {} lines)\n   direct:\n{}   gateway:\n{}",
        at + 1,
        la.len(),
        lb.len(),
        show(&la),
        show(&lb)
    )
}

// ---------------------------------------------------------------------------------------------
// Normalisation: what differs between two runs of one exchange and says nothing about it.

/// Masks message ids, in-response-to, result and subscription ids, timestamps (ISO 8601 with
/// `-`/`:` or libtaxii's `_` file-name separators, cabby's log stamps), ANSI colours, and the URL
/// of cabby's "Sending X to URL" log line (the one place a client names the port it used).
fn normalize(text: &str) -> String {
    let s = strip_ansi(text);
    let s = mask_target(&s);
    // Direct, OpenTAXII advertises `https://` twins at its one domain (the gateway's plain
    // port); through the gateway they name its TLS listener. Same services, other port.
    let s = mask_https_ports(&s);
    let s = mask_timestamps(&s);
    let mut s = s;
    for key in [
        "message_id=\"",
        "in_response_to=\"",
        "result_id=\"",
        "subscription_id=\"",
        "Subscription_ID>",
        "Message ID: ",
        "In Response To: ",
        "Result ID: ",
        "Subscription ID: ",
        "--result-id ",
    ] {
        s = mask_after(&s, key);
    }
    s
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn mask_target(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    loop {
        let hit = ["to http://127.0.0.1:", "to https://127.0.0.1:"]
            .iter()
            .filter_map(|k| rest.find(k).map(|i| (i, k.len())))
            .min();
        let Some((i, len)) = hit else { break };
        out.push_str(&rest[..i]);
        out.push_str("to <target>");
        rest = rest[i + len..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

fn mask_https_ports(s: &str) -> String {
    let key = "https://127.0.0.1:";
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(key) {
        out.push_str(&rest[..i + key.len()]);
        rest = rest[i + key.len()..].trim_start_matches(|c: char| c.is_ascii_digit());
        out.push_str("<tls-port>");
    }
    out.push_str(rest);
    out
}

fn mask_after(s: &str, key: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(key) {
        out.push_str(&rest[..i + key.len()]);
        rest = &rest[i + key.len()..];
        let end = rest
            .find(|c: char| matches!(c, '"' | '\'' | '<' | '>' | ';' | ',') || c.is_whitespace())
            .unwrap_or(rest.len());
        if end > 0 {
            out.push_str("<id>");
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn mask_timestamps(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_digit()) {
            if let Some(n) = timestamp_len(b, i) {
                out.push_str(&s[copied..i]);
                out.push_str("<time>");
                i += n;
                copied = i;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&s[copied..]);
    out
}

/// `YYYY-MM-DD(T| )hh:mm:ss[.frac][zone]`, also with `_` for every separator (libtaxii's file
/// names) and `,` before the fraction (Python logging).
fn timestamp_len(b: &[u8], i: usize) -> Option<usize> {
    let digits =
        |at: usize, n: usize| at + n <= b.len() && b[at..at + n].iter().all(u8::is_ascii_digit);
    let at = |j: usize, set: &[u8]| j < b.len() && set.contains(&b[j]);
    if !(digits(i, 4)
        && at(i + 4, b"-_")
        && digits(i + 5, 2)
        && at(i + 7, b"-_")
        && digits(i + 8, 2)
        && at(i + 10, b"T ")
        && digits(i + 11, 2)
        && at(i + 13, b":_")
        && digits(i + 14, 2)
        && at(i + 16, b":_")
        && digits(i + 17, 2))
    {
        return None;
    }
    let mut j = i + 19;
    if at(j, b".,_") && digits(j + 1, 1) {
        j += 1;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
    }
    if at(j, b"Z") {
        j += 1;
    } else if at(j, b"+-_") && digits(j + 1, 2) {
        if at(j + 3, b":_") && digits(j + 4, 2) {
            j += 6;
        } else if digits(j + 3, 2) {
            j += 5;
        }
    }
    Some(j - i)
}

// ---------------------------------------------------------------------------------------------
// Processes and guards

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    timed_out: bool,
}

impl Ran {
    fn status(&self) -> String {
        match (self.timed_out, self.code) {
            (true, _) => "timed out (killed)".into(),
            (false, Some(c)) => format!("exit {c}"),
            (false, None) => "killed by a signal".into(),
        }
    }
}

/// Runs `cmd` to its end or `limit`, with stdout/stderr in `<base>.out` / `<base>.err`.
fn bounded(cmd: &mut Command, base: &Path, limit: Duration) -> Ran {
    let out_path = base.with_extension("out");
    let err_path = base.with_extension("err");
    let out = fs::File::create(&out_path).expect("stdout file");
    let err = fs::File::create(&err_path).expect("stderr file");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
    let deadline = Instant::now() + limit;
    let mut timed_out = false;
    let code = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status.code(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().ok().and_then(|s| s.code());
            }
        }
    };
    Ran {
        code,
        stdout: fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
        timed_out,
    }
}

/// Four distinct free loopback ports (`common::free_port` never gives one twice in a run).
fn free_ports() -> [u16; 4] {
    [0; 4].map(|_| common::free_port())
}

/// config/opentaxii.toml with this run's listeners, upstream URL and pid file; checked to have
/// exactly the listeners and upstream the test expects.
/// Without `policies`, its `policies` key is removed: inspection only, every request allowed;
/// its virtual feeds and capture go too. With them, the audit log and the capture directory
/// move into the run folder.
fn gateway_config(
    src: &Path,
    run: &Path,
    upstream: u16,
    http: u16,
    https: u16,
    admin_port: u16,
    policies: bool,
) -> PathBuf {
    let text = fs::read_to_string(src).expect("config/opentaxii.toml");
    let mut t: toml::Table = text.parse().expect("config/opentaxii.toml is TOML");
    if policies {
        assert!(
            t.contains_key("policies"),
            "config/opentaxii.toml names no policies"
        );
    } else {
        t.remove("policies");
    }
    let server = t
        .entry("server")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let Some(server) = server.as_table_mut() {
        server.insert(
            "pid_file".into(),
            toml::Value::String(run.join("gateway.pid").to_string_lossy().into()),
        );
    }
    let listeners = t
        .get_mut("listener")
        .and_then(|l| l.as_array_mut())
        .expect("config/opentaxii.toml has [[listener]]s");
    let (mut plain, mut tls) = (0, 0);
    for l in listeners.iter_mut() {
        let l = l.as_table_mut().expect("listener table");
        let port = if l.contains_key("tls") {
            tls += 1;
            https
        } else {
            plain += 1;
            http
        };
        l.insert(
            "address".into(),
            toml::Value::String(format!("127.0.0.1:{port}")),
        );
    }
    assert_eq!(
        (plain, tls),
        (1, 1),
        "config/opentaxii.toml: one HTTP and one HTTPS listener expected"
    );
    let upstreams = t
        .get_mut("upstream")
        .and_then(|u| u.as_array_mut())
        .expect("config/opentaxii.toml has an [[upstream]]");
    let mut found = false;
    for u in upstreams.iter_mut() {
        let u = u.as_table_mut().expect("upstream table");
        if u.get("name").and_then(|n| n.as_str()) == Some("opentaxii") {
            u.insert(
                "url".into(),
                toml::Value::String(format!("http://127.0.0.1:{upstream}")),
            );
            found = true;
        }
    }
    assert!(found, "config/opentaxii.toml: no upstream named opentaxii");
    // The admin listener on this run's port; the audit log in the run folder.
    if policies {
        let admin = t
            .get_mut("admin")
            .and_then(|a| a.as_table_mut())
            .expect("config/opentaxii.toml has an [admin] listener");
        admin.insert(
            "address".into(),
            toml::Value::String(format!("127.0.0.1:{admin_port}")),
        );
        let audit = t
            .get_mut("audit")
            .and_then(|a| a.as_table_mut())
            .expect("config/opentaxii.toml has an [audit] file");
        audit.insert(
            "file".into(),
            toml::Value::String(run.join("audit.jsonl").to_string_lossy().into()),
        );
        // Captured messages of the community feeds in the run folder too.
        let capture = t
            .get_mut("capture")
            .and_then(|c| c.as_table_mut())
            .expect("config/opentaxii.toml has a [capture] section");
        capture.insert(
            "dir".into(),
            toml::Value::String(run.join("capture").to_string_lossy().into()),
        );
        assert!(
            t.get("feed")
                .and_then(|f| f.as_array())
                .is_some_and(|f| !f.is_empty()),
            "config/opentaxii.toml has no [[feed]] (virtual feeds community-a, community-c)"
        );
    } else {
        t.remove("admin");
        t.remove("audit");
        // Neither virtual feeds nor capture: the matrix compares the gateway with OpenTAXII
        // itself, which knows no community-* names (a virtual feed adds a record to every
        // collection information answer) and captures nothing. Like with like.
        t.remove("feed");
        t.remove("capture");
    }
    let path = run.join(if policies {
        "gateway-partners.toml"
    } else {
        "gateway.toml"
    });
    fs::write(&path, t.to_string()).expect("write the gateway's config");
    path
}

/// The run folder; removed at the end unless something failed.
struct RunDir {
    path: PathBuf,
    keep: Cell<bool>,
}

impl RunDir {
    fn new() -> RunDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "taxii-gateway-interop-{}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&path).expect("run folder");
        RunDir {
            path,
            keep: Cell::new(false),
        }
    }

    fn keep(&self) {
        self.keep.set(true);
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if self.keep.get() || std::thread::panicking() || std::env::var_os("INTEROP_KEEP").is_some()
        {
            eprintln!("interop: run folder kept: {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// OpenTAXII of one run folder; stopped by tests/interop/stop.sh (master, then its group).
struct Upstream {
    stop: PathBuf,
    run: PathBuf,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let ran = bounded(
            Command::new(&self.stop)
                .args(["--grace", "10"])
                .arg("--run")
                .arg(&self.run),
            &self.run.with_extension("stop"),
            Duration::from_secs(30),
        );
        if ran.code != Some(0) {
            eprintln!(
                "interop: stop.sh --run {} failed ({}): {}",
                self.run.display(),
                ran.status(),
                ran.stderr
            );
        }
    }
}

/// The gateway process; SIGINT (Pingora's fast shutdown), then SIGKILL after 5 s.
struct Gateway {
    child: Child,
    log: PathBuf,
}

impl Gateway {
    fn start(repo: &Path, config: &Path, log: &Path) -> Gateway {
        let out = fs::File::create(log).expect("gateway log");
        let err = out.try_clone().expect("gateway log");
        let child = Command::new(env!("CARGO_BIN_EXE_taxii-gateway"))
            .arg("run")
            .arg("--config")
            .arg(config)
            .current_dir(repo)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start taxii-gateway");
        Gateway {
            child,
            log: log.to_path_buf(),
        }
    }

    fn wait_ready(&mut self, ports: &[u16]) {
        let deadline = Instant::now() + GATEWAY_LIMIT;
        let up = |p: u16| {
            let addr = SocketAddr::from(([127, 0, 0, 1], p));
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        };
        loop {
            if ports.iter().all(|&p| up(p)) {
                return;
            }
            let exited = !matches!(self.child.try_wait(), Ok(None));
            if exited || Instant::now() > deadline {
                panic!(
                    "the gateway did not listen on {ports:?} ({}); its log:\n{}",
                    if exited { "it exited" } else { "timed out" },
                    fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn normalisation_masks_only_per_run_values() {
    let a = "2026-12-04 21:05:17,599 \u{1b}[32mINFO:\u{1b}[0m Sending Poll_Request to \
             http://127.0.0.1:55067/services/poll\nMessage ID: 123; In Response To: \
             0e3cc308-f83e-42d6-88c8-2f3b33bea7e2\n<x message_id=\"9\" result_id=\"77\">\
             <Subscription_ID>42</Subscription_ID>2026-12-04T21:05:07.903150+00:00 \
             feed-c_STIX111_t2026_12_04T21_05_07_792237_00_00.xml \
             Address: http://127.0.0.1:19080/services/poll";
    assert_eq!(
        normalize(a),
        "<time> INFO: Sending Poll_Request to <target>/services/poll\nMessage ID: <id>; In \
         Response To: <id>\n<x message_id=\"<id>\" result_id=\"<id>\"><Subscription_ID><id>\
         </Subscription_ID><time> feed-c_STIX111_t<time>.xml Address: \
         http://127.0.0.1:19080/services/poll"
    );
    assert_eq!(
        value_after(
            "Subscription ID: 8445124058919194318\n",
            "Subscription ID: "
        )
        .as_deref(),
        Some("8445124058919194318")
    );
}

#[test]
fn elements_are_found_under_any_prefix() {
    let text = "<a:Content_Blocks/><a:Content_Block x=\"1\"><a:Content>Content_Block</a:Content>\
                </a:Content_Block> <Content_Block>b</Content_Block><t:Content_Block/><Content_Block />x";
    assert_eq!(
        elements(text, "Content_Block"),
        [
            "<a:Content_Block x=\"1\"><a:Content>Content_Block</a:Content></a:Content_Block>",
            "<Content_Block>b</Content_Block>",
            "<t:Content_Block/>",
            "<Content_Block />",
        ]
    );
}
