//! `taxii-gateway policy explain` and `taxii-gateway hash-secret`, the real binary.
//!
//! `policy explain` runs against `config/opentaxii.toml` with `policies/opentaxii.toml` (a copy
//! of the configuration that names the policy file, while the configuration does not yet),
//! on inline messages: each partner's allowed and denied requests, with the grant (file:line)
//! that decided them; the exit codes (0 ALLOW, 3 DENY, 2 rejected message, 1 usage or
//! configuration error). Pushes decided on a route's inbox feed use a small configuration of
//! their own. `hash-secret` hashes stdin, and what it prints is checked with the argon2 crate
//! and by a policy that uses it.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::Argon2;
use serde_json::Value;
use taxii_gateway::policy::{Action, Policy};

const BIN: &str = env!("CARGO_BIN_EXE_taxii-gateway");

const NS_D1: &str = "http://taxii.mitre.org/messages/xml/1";
const NS_10: &str = "http://taxii.mitre.org/messages/taxii_xml_binding-1";
const NS_11: &str = "http://taxii.mitre.org/messages/taxii_xml_binding-1.1";

/// The 1.1 binding headers, as a client sends them.
const HEADERS_11: [&str; 4] = [
    "Content-Type: application/xml",
    "X-TAXII-Content-Type: urn:taxii.mitre.org:message:xml:1.1",
    "X-TAXII-Protocol: urn:taxii.mitre.org:protocol:http:1.0",
    "X-TAXII-Services: urn:taxii.mitre.org:services:1.1",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A file in the tests' scratch directory (each name written by one test only).
fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli_policy");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `config/opentaxii.toml`, naming `policies/opentaxii.toml` (a copy that does, if it does not
/// yet). Paths inside are relative to the repository, where the binary runs.
fn opentaxii_config() -> PathBuf {
    static CONFIG: OnceLock<PathBuf> = OnceLock::new();
    CONFIG.get_or_init(make_opentaxii_config).clone()
}

fn make_opentaxii_config() -> PathBuf {
    let path = root().join("config/opentaxii.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let names_policies = text.lines().any(|l| l.trim_start().starts_with("policies"));
    if names_policies {
        assert!(
            text.contains("policies/opentaxii.toml"),
            "config/opentaxii.toml names other policies"
        );
        return path;
    }
    scratch(
        "opentaxii.toml",
        &format!("policies = [\"policies/opentaxii.toml\"]\n{text}"),
    )
}

/// The worked example's policy, as the binary reads it.
fn example_policy() -> Policy {
    Policy::load(&[root().join("policies/opentaxii.toml")]).unwrap()
}

/// The line of the grant of `partner` that holds `action` on `feed` (`None`: a grant of
/// `action` that names no feed, such as `discover`).
fn grant_line(partner: &str, action: Action, feed: Option<&str>) -> usize {
    let policy = example_policy();
    let p = policy.partner(partner).unwrap();
    p.grants
        .iter()
        .find(|g| g.actions.contains(action) && feed.is_none_or(|f| g.covers(f)))
        .unwrap_or_else(|| panic!("{partner} holds no grant of {action} on {feed:?}"))
        .origin
        .line
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        let line = self.stdout.trim_end_matches('\n');
        assert!(
            !line.contains('\n'),
            "more than one line: {:?}",
            self.stdout
        );
        serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?} {:?}", self.stdout, self.stderr))
    }
}

fn run(args: &[&str], stdin: &[u8]) -> Run {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("taxii-gateway runs");
    let mut pipe = child.stdin.take().unwrap();
    let body = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&body);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// `policy explain --config CONFIG --partner PARTNER EXTRA… -` with `message` on stdin
/// (`EXTRA` may name the file or `--method GET` instead).
fn explain(config: &Path, partner: &str, extra: &[&str], message: &str) -> Run {
    let mut args = vec![
        "policy",
        "explain",
        "--config",
        config.to_str().unwrap(),
        "--partner",
        partner,
    ];
    args.extend_from_slice(extra);
    let reads_stdin = !extra.contains(&"--method") || extra.contains(&"POST");
    if reads_stdin && !extra.iter().any(|a| a.ends_with(".xml")) {
        args.push("-");
    }
    run(&args, message.as_bytes())
}

fn explain_json(config: &Path, partner: &str, extra: &[&str], message: &str) -> (i32, Value) {
    let mut e = vec!["--json"];
    e.extend_from_slice(extra);
    let r = explain(config, partner, &e, message);
    assert!(r.stderr.is_empty(), "stderr: {}", r.stderr);
    (r.code.unwrap(), r.json())
}

fn poll_11(feed: &str) -> String {
    format!(
        r#"<Poll_Request xmlns="{NS_11}" message_id="urn:uuid:1" collection_name="{feed}"><Poll_Parameters/></Poll_Request>"#
    )
}

fn subscribe_11(feed: &str, address: &str) -> String {
    format!(
        r#"<Subscription_Management_Request xmlns="{NS_11}" message_id="urn:uuid:2" action="SUBSCRIBE" collection_name="{feed}"><Subscription_Parameters><Response_Type>FULL</Response_Type></Subscription_Parameters><Push_Parameters><Protocol_Binding>urn:taxii.mitre.org:protocol:http:1.0</Protocol_Binding><Address>{address}</Address><Message_Binding>urn:taxii.mitre.org:message:xml:1.1</Message_Binding></Push_Parameters></Subscription_Management_Request>"#
    )
}

fn discovery_11() -> String {
    format!(r#"<Discovery_Request xmlns="{NS_11}" message_id="urn:uuid:3"/>"#)
}

fn inbox_10() -> String {
    format!(
        r#"<Inbox_Message xmlns="{NS_10}" message_id="4"><Content_Block><Content_Binding>urn:stix.mitre.org:xml:1.1.1</Content_Binding><Content>x</Content></Content_Block></Inbox_Message>"#
    )
}

fn assert_grant(v: &Value, line: usize) {
    let g = &v["grant"];
    assert_eq!(g["line"], line, "{v}");
    let file = g["file"].as_str().unwrap();
    assert!(file.ends_with("policies/opentaxii.toml"), "{v}");
    assert_eq!(g["at"], format!("{file}:{line}"), "{v}");
}

#[test]
fn alpha_polls_feed_a_and_is_shown_the_grant() {
    let config = opentaxii_config();
    let line = grant_line("alpha", Action::Poll, Some("feed-a"));

    let (code, v) = explain_json(&config, "alpha", &[], &poll_11("feed-a"));
    assert_eq!((code, v["decision"].as_str()), (0, Some("allow")), "{v}");
    assert_grant(&v, line);
    assert_eq!(v["partner"], "alpha");
    let m = &v["message"];
    assert_eq!(
        (&m["dialect"], &m["message"], &m["action"]),
        (&"1.1".into(), &"Poll_Request".into(), &"poll".into()),
        "{v}"
    );
    assert_eq!(m["feeds"], serde_json::json!(["feed-a"]));
    assert_eq!((&v["reason"], &v["missing"]), (&Value::Null, &Value::Null));

    // The report, from a file and with the full HTTP context of a 1.1 POST.
    let file = scratch("poll-a.xml", &poll_11("feed-a"));
    let mut args = vec!["--method", "POST"];
    for h in &HEADERS_11 {
        args.extend(["--header", h]);
    }
    args.push(file.to_str().unwrap());
    let r = explain(&config, "alpha", &args, "");
    assert_eq!(r.code, Some(0), "{} {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("decision  ALLOW"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains(&format!("granted by  policies/opentaxii.toml:{line}: ")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("TAXII 1.1 Poll_Request"), "{}", r.stdout);
}

#[test]
fn alpha_is_refused_feed_b_at_feed_level() {
    let config = opentaxii_config();
    let (code, v) = explain_json(&config, "alpha", &[], &poll_11("feed-b"));
    assert_eq!((code, v["decision"].as_str()), (3, Some("deny")), "{v}");
    assert_eq!(v["reason"], "feed");
    assert_eq!(v["missing"], "no grant of poll on feed \"feed-b\"");
    assert_eq!(v["grant"], Value::Null, "no grant narrowed it: {v}");
    assert_eq!(v["answer"]["status_type"], "UNAUTHORIZED", "{v}");

    // The report lists the grants alpha does hold.
    let r = explain(&config, "alpha", &[], &poll_11("feed-b"));
    assert_eq!(r.code, Some(3));
    assert!(
        r.stdout.contains("decision  DENY (feed level"),
        "{}",
        r.stdout
    );
    let line = grant_line("alpha", Action::Poll, Some("feed-a"));
    assert!(
        r.stdout
            .contains(&format!("policies/opentaxii.toml:{line}: ")),
        "{}",
        r.stdout
    );
}

#[test]
fn alpha_subscribes_only_with_its_own_push_address() {
    let config = opentaxii_config();
    let line = grant_line("alpha", Action::Subscribe, Some("feed-a"));

    let evil = subscribe_11("feed-a", "http://evil.example/inbox");
    let (code, v) = explain_json(&config, "alpha", &[], &evil);
    assert_eq!((code, v["decision"].as_str()), (3, Some("deny")), "{v}");
    assert_eq!(v["reason"], "delivery_address");
    assert_eq!(
        v["missing"],
        "delivery address \"http://evil.example/inbox\" is not allowed"
    );
    assert_eq!(v["message"]["action"], "subscribe");
    assert_eq!(v["message"]["subscription_action"], "SUBSCRIBE");
    // The grant that allows alpha to subscribe to feed-a refused the address.
    assert_grant(&v, line);

    let r = explain(&config, "alpha", &[], &evil);
    assert!(
        r.stdout
            .contains(&format!("refused by  policies/opentaxii.toml:{line}: ")),
        "{}",
        r.stdout
    );

    // Its own listener, and an address that only starts like it.
    let own = subscribe_11("feed-a", "http://127.0.0.1:9999/inbox");
    let (code, v) = explain_json(&config, "alpha", &[], &own);
    assert_eq!(code, 0, "{v}");
    assert_grant(&v, line);
    let near = subscribe_11("feed-a", "http://127.0.0.1:99990/inbox");
    assert_eq!(explain_json(&config, "alpha", &[], &near).0, 3);
}

#[test]
fn beta_polls_feed_c() {
    let config = opentaxii_config();
    let (code, v) = explain_json(&config, "beta", &[], &poll_11("feed-c"));
    assert_eq!((code, v["decision"].as_str()), (0, Some("allow")), "{v}");
    assert_grant(&v, grant_line("beta", Action::Poll, Some("feed-c")));
    assert_eq!(v["grant"]["partner"], "beta");
    // But beta may not subscribe there.
    let (code, v) = explain_json(
        &config,
        "beta",
        &[],
        &subscribe_11("feed-c", "http://127.0.0.1:9999/"),
    );
    assert_eq!((code, v["reason"].as_str()), (3, Some("service")), "{v}");
}

#[test]
fn anonymous_may_discover_and_nothing_else() {
    let config = opentaxii_config();
    let (code, v) = explain_json(&config, "anonymous", &[], &discovery_11());
    assert_eq!((code, v["decision"].as_str()), (0, Some("allow")), "{v}");
    assert_grant(&v, grant_line("anonymous", Action::Discover, None));
    assert_eq!(v["message"]["action"], "discover");

    let (code, v) = explain_json(&config, "anonymous", &[], &poll_11("feed-a"));
    assert_eq!((code, v["decision"].as_str()), (3, Some("deny")), "{v}");
    assert_eq!(v["reason"], "service");
    assert_eq!(v["missing"], "no grant of poll");
}

#[test]
fn a_draft1_get_discovery() {
    let config = opentaxii_config();
    let get = [
        "--method",
        "GET",
        "--query",
        "message_type=discovery_request&message_id=a84798beffe840ee",
        "--header",
        "X-TAXII-Protocol: TAXII_HTTP_BINDING_1.0",
    ];
    let (code, v) = explain_json(&config, "anonymous", &get, "");
    assert_eq!((code, v["decision"].as_str()), (0, Some("allow")), "{v}");
    assert_eq!(v["message"]["dialect"], "draft1");
    assert_eq!(v["message"]["message"], "TAXII_DiscoveryRequest");
    assert_grant(&v, grant_line("anonymous", Action::Discover, None));
    // OpenTAXII does not speak Draft 1: no route of this configuration serves it, which the
    // report says; at a given path the gateway refuses the message before policy.
    assert_eq!(v["route"], Value::Null, "{v}");
    assert!(
        v["route_note"]
            .as_str()
            .unwrap()
            .contains("no route serves"),
        "{v}"
    );
    let mut at_path = get.to_vec();
    at_path.extend(["--path", "/services/discovery"]);
    let (code, v) = explain_json(&config, "anonymous", &at_path, "");
    assert_eq!(code, 2, "{v}");
    assert_eq!(v["error"], "unsupported_media_type", "{v}");

    // A Draft 1 GET that is no message at all.
    let (code, v) = explain_json(
        &config,
        "anonymous",
        &["--method", "GET", "--query", "message_id=1"],
        "",
    );
    assert_eq!((code, v["error"].as_str()), (2, Some("not_taxii")), "{v}");
}

#[test]
fn a_malformed_message_is_rejected_before_policy() {
    let config = opentaxii_config();
    let bad = format!(r#"<Poll_Request xmlns="{NS_11}" message_id="1" collection_name="feed-a">"#);
    let (code, v) = explain_json(&config, "alpha", &[], &bad);
    assert_eq!((code, v["decision"].as_str()), (2, Some("reject")), "{v}");
    assert_eq!(v["error"], "malformed", "{v}");
    assert!(!v["detail"].as_str().unwrap().is_empty());

    let hostile = format!(
        r#"<!DOCTYPE x [<!ENTITY a "b">]><Poll_Request xmlns="{NS_11}" message_id="1" collection_name="feed-a"/>"#
    );
    let r = explain(&config, "alpha", &[], &hostile);
    assert_eq!(r.code, Some(2));
    assert!(
        r.stdout.contains("REJECTED before policy: doctype"),
        "{}",
        r.stdout
    );

    // Headers that disagree with the body.
    let (code, v) = explain_json(
        &config,
        "alpha",
        &[
            "--header",
            "X-TAXII-Services: urn:taxii.mitre.org:services:1.0",
        ],
        &poll_11("feed-a"),
    );
    assert_eq!(
        (code, v["error"].as_str()),
        (2, Some("dialect_mismatch")),
        "{v}"
    );
}

#[test]
fn usage_and_configuration_errors_exit_1() {
    let config = opentaxii_config();
    let r = explain(&config, "delta", &[], &poll_11("feed-a"));
    assert_eq!(r.code, Some(1), "{r:?}", r = (&r.stdout, &r.stderr));
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("no partner \"delta\""), "{}", r.stderr);
    assert!(
        r.stderr.contains("alpha, beta, gamma, anonymous"),
        "{}",
        r.stderr
    );

    let r = explain(
        &config,
        "alpha",
        &["--path", "/nowhere"],
        &poll_11("feed-a"),
    );
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("/nowhere"), "{}", r.stderr);

    let r = explain(
        &config,
        "alpha",
        &["--header", "no colon"],
        &poll_11("feed-a"),
    );
    assert_eq!(r.code, Some(1));

    let r = explain(&config, "alpha", &["/nonexistent/message.xml"], "");
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("/nonexistent/message.xml"),
        "{}",
        r.stderr
    );

    // A policy that fails validation: the file, the line and the key.
    let policy = scratch(
        "bad-policy.toml",
        "[anonymous]\n\n[[anonymous.grant]]\nactions = [\"read\"]\n",
    );
    let bad = scratch(
        "bad-config.toml",
        &format!(
            "policies = [{:?}]\n\n[[listener]]\naddress = \"127.0.0.1:1\"\n\n[[upstream]]\nname = \"u\"\nurl = \"http://127.0.0.1:2\"\n\n[[route]]\npath = \"/services/discovery\"\nupstream = \"u\"\n",
            policy.to_str().unwrap()
        ),
    );
    let r = explain(&bad, "anonymous", &[], &discovery_11());
    assert_eq!(r.code, Some(1), "{} {}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "{}:4: anonymous.grant.actions: ",
            policy.display()
        )),
        "{}",
        r.stderr
    );

    // A configuration error.
    let r = explain(Path::new("/nonexistent/gateway.toml"), "alpha", &[], "");
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("/nonexistent/gateway.toml"),
        "{}",
        r.stderr
    );
}

/// Pushes without a destination (1.0, Draft 1) are decided on the route's inbox feed.
#[test]
fn pushes_are_decided_on_the_route_inbox_feed() {
    let config = scratch(
        "inbox.toml",
        "policies = [\"policies/opentaxii.toml\"]\n\n\
         [[listener]]\naddress = \"127.0.0.1:1\"\n\n\
         [[upstream]]\nname = \"u\"\nurl = \"http://127.0.0.1:2\"\n\n\
         [[route]]\npath = \"/services/discovery\"\nupstream = \"u\"\n\n\
         [[route]]\npath = \"/services/inbox-b\"\nupstream = \"u\"\ninbox_feed = \"feed-b\"\n\n\
         [[route]]\npath = \"/services/inbox-a\"\nupstream = \"u\"\ninbox_feed = \"feed-a\"\n",
    );
    let line = grant_line("alpha", Action::Push, Some("feed-a"));
    let (code, v) = explain_json(
        &config,
        "alpha",
        &["--path", "/services/inbox-a"],
        &inbox_10(),
    );
    assert_eq!((code, v["decision"].as_str()), (0, Some("allow")), "{v}");
    assert_grant(&v, line);
    assert_eq!(v["route"]["inbox_feed"], "feed-a");

    let (code, v) = explain_json(
        &config,
        "alpha",
        &["--path", "/services/inbox-b"],
        &inbox_10(),
    );
    assert_eq!((code, v["reason"].as_str()), (3, Some("feed")), "{v}");
    assert_eq!(v["missing"], "no grant of push on feed \"feed-b\"");

    // Without --path: the first route serving the dialect that names an inbox feed.
    let (code, v) = explain_json(&config, "alpha", &[], &inbox_10());
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["route"]["path"], "/services/inbox-b", "{v}");

    // A Draft 1 push, and a Draft 1 GET at a route that serves Draft 1.
    let stix = format!(
        r#"<TAXII_STIXMessage xmlns="{NS_D1}" message-id="c0ffee01"><content-binding>urn:stix.mitre.org:xml:1.1.1</content-binding><STIX xmlns="http://stix.mitre.org"/></TAXII_STIXMessage>"#
    );
    let (code, v) = explain_json(&config, "gamma", &["--path", "/services/inbox-a"], &stix);
    assert_eq!((code, v["decision"].as_str()), (0, Some("allow")), "{v}");
    let (code, v) = explain_json(
        &config,
        "alpha",
        &[
            "--method",
            "GET",
            "--query",
            "message_type=discovery_request&message_id=a1",
            "--path",
            "/services/discovery",
        ],
        "",
    );
    assert_eq!(
        (code, v["route"]["path"].as_str()),
        (0, Some("/services/discovery")),
        "{v}"
    );
}

#[test]
fn hash_secret_round_trip() {
    let r = run(&["hash-secret"], b"s3cret\n");
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let phc = r.stdout.trim_end_matches('\n');
    assert!(!phc.contains('\n'), "{:?}", r.stdout);
    assert!(phc.starts_with("$argon2id$"), "{phc}");
    let h = PasswordHash::new(phc).unwrap();
    assert!(Argon2::default().verify_password(b"s3cret", &h).is_ok());
    assert!(Argon2::default().verify_password(b"s3cret\n", &h).is_err());

    // And a policy that uses it.
    let text = format!(
        "[[partner]]\nid = \"delta\"\nbasic = {{ user = \"delta\", password_hash = \"{phc}\" }}\n"
    );
    let policy = Policy::parse(Path::new("delta.toml"), &text).unwrap();
    assert_eq!(
        policy
            .partner_by_basic("delta", "s3cret")
            .map(|p| p.id.as_str()),
        Some("delta")
    );
    assert!(policy.partner_by_basic("delta", "s3cret ").is_none());

    // A CRLF line end is not part of the secret.
    let r = run(&["hash-secret"], b"s3cret\r\n");
    let h2 = PasswordHash::new(r.stdout.trim_end()).unwrap();
    assert!(Argon2::default().verify_password(b"s3cret", &h2).is_ok());
}

#[test]
fn hash_secret_token() {
    // The example policy's token for beta.
    let r = run(&["hash-secret", "--token"], b"beta-token\n");
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let hex = r.stdout.trim_end();
    assert_eq!(
        hex,
        "863d63c0bd3a94bfca84ed2063a7355a226faff82ca50b90158bf183aa1a9e61"
    );
    let r = run(&["hash-secret", "--token"], b"beta-token");
    assert_eq!(r.stdout.trim_end(), hex, "no line end is fine too");
    let policy = example_policy();
    assert_eq!(
        policy.partner_by_token("beta-token").map(|p| p.id.as_str()),
        Some("beta")
    );
}

#[test]
fn hash_secret_refuses_what_is_not_one_secret() {
    for (input, why) in [
        (&b""[..], "no secret"),
        (b"\n", "no secret"),
        (b"\r\n", "no secret"),
        (b"one\ntwo\n", "more than one line"),
        (b"\xff\xfe\n", "not UTF-8"),
    ] {
        for args in [&["hash-secret"][..], &["hash-secret", "--token"]] {
            let r = run(args, input);
            assert_eq!(r.code, Some(1), "{input:?}: {}", r.stdout);
            assert!(r.stdout.is_empty(), "{input:?}: {}", r.stdout);
            assert!(r.stderr.contains(why), "{input:?}: {}", r.stderr);
        }
    }
    let long = vec![b'x'; 5000];
    let r = run(&["hash-secret"], &long);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("longer than"), "{}", r.stderr);
    // No secret on the command line.
    let r = run(&["hash-secret", "s3cret"], b"");
    assert_ne!(r.code, Some(0));
}
