//! Partners through the gateway: every credential kind (Basic, bearer token, client
//! certificate, none), right, wrong and missing, and the per-feed grants they hold, in front of
//! the sample upstream. Uses `curl` for HTTPS with client certificates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Stdio};

mod common;
use common::{free_port, wait_for, Proc};

const BIN: &str = env!("CARGO_BIN_EXE_taxii-gateway");
const NS11: &str = "http://taxii.mitre.org/messages/taxii_xml_binding-1.1";

/// The test partners: the hashes are those of `policies/opentaxii.toml` (alpha-pass,
/// beta-token), the certificate fingerprint is config/tls/gamma.crt's.
fn policy() -> String {
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/opentaxii.toml"),
    )
    .unwrap();
    let find = |key: &str| {
        let i = example
            .find(key)
            .unwrap_or_else(|| panic!("{key} in policies/opentaxii.toml"));
        let rest = &example[i + key.len()..];
        let start = rest.find('"').unwrap() + 1;
        let end = start + rest[start..].find('"').unwrap();
        rest[start..end].to_string()
    };
    format!(
        r#"
[[partner]]
id = "alpha"
basic = {{ user = "alpha", password_hash = "{alpha}" }}
[[partner.grant]]
actions = ["discover"]
[[partner.grant]]
feeds = ["indicators"]
actions = ["feed_info", "poll"]

[[partner]]
id = "beta"
tokens = ["{beta}"]
[[partner.grant]]
feeds = ["malware"]
actions = ["poll"]

[[partner]]
id = "gamma"
certificate = {{ sha256 = "{gamma}" }}
[[partner.grant]]
feeds = ["*"]
actions = ["discover", "feed_info", "poll"]

[[partner]]
id = "delta"
certificate = {{ subject = "CN=alpha,O=Alpha TEST ONLY" }}
[[partner.grant]]
feeds = ["phishing"]
actions = ["poll"]

[anonymous]
[[anonymous.grant]]
actions = ["discover"]
"#,
        alpha = find("password_hash = "),
        beta = find("tokens = ["),
        gamma = find("sha256 = "),
    )
}

struct Setup {
    _procs: Vec<Proc>,
    http: u16,
    https: u16,
}

fn start() -> Setup {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (up, http, https) = (free_port(), free_port(), free_port());
    let upstream = Proc(
        Command::new(BIN)
            .args(["sample-upstream", "--listen", &format!("127.0.0.1:{up}")])
            // The upstream advertises its own addresses: the gateway must map them to its own.
            .args(["--advertise", &format!("http://127.0.0.1:{up}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let dir = std::env::temp_dir().join(format!("tg-auth-{}-{http}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.toml"), policy()).unwrap();
    let mut config = format!(
        r#"policies = ["{policy}"]
[server]
pid_file = "{pid}"
grace_period_seconds = 0
[[listener]]
address = "127.0.0.1:{http}"
[[listener]]
address = "127.0.0.1:{https}"
tls = {{ certificate_file = "config/tls/server.crt", key_file = "config/tls/server.key", client_certificates = {{ ca_file = "config/tls/ca.crt" }} }}
[[upstream]]
name = "sample"
url = "http://127.0.0.1:{up}"
"#,
        policy = dir.join("policy.toml").display(),
        pid = dir.join("gw.pid").display()
    );
    for path in ["discovery", "feed-management", "poll", "inbox"] {
        config.push_str(&format!(
            "[[route]]\npath = \"/services/{path}\"\nupstream = \"sample\"\n"
        ));
    }
    std::fs::write(dir.join("gateway.toml"), config).unwrap();
    let gateway = Proc(
        Command::new(BIN)
            .args(["run", "--config"])
            .arg(dir.join("gateway.toml"))
            .current_dir(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(up);
    wait_for(http);
    wait_for(https);
    Setup {
        _procs: vec![gateway, upstream],
        http,
        https,
    }
}

/// curl `-i`: (status, head, body).
fn curl(args: &[&str]) -> (u16, String, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("curl")
        .args(["-s", "-i", "--max-time", "20"])
        .args(args)
        .current_dir(root)
        .output()
        .expect("curl is needed for this test");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return (0, text, String::new());
    };
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

fn h11() -> Vec<String> {
    [
        "Content-Type: application/xml",
        "X-TAXII-Content-Type: urn:taxii.mitre.org:message:xml:1.1",
        "X-TAXII-Services: urn:taxii.mitre.org:services:1.1",
    ]
    .iter()
    .flat_map(|h| ["-H".to_string(), h.to_string()])
    .collect()
}

fn post11(url: &str, body: &str, extra: &[&str], https: bool) -> (u16, String, String) {
    let protocol = if https { "https" } else { "http" };
    let mut args: Vec<String> = h11();
    args.push("-H".into());
    args.push(format!(
        "X-TAXII-Protocol: urn:taxii.mitre.org:protocol:{protocol}:1.0"
    ));
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push("--data-binary".into());
    args.push(body.to_string());
    args.push(url.to_string());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    curl(&refs)
}

fn poll(feed: &str) -> String {
    format!(
        r#"<Poll_Request xmlns="{NS11}" message_id="urn:x:1" collection_name="{feed}"><Poll_Parameters/></Poll_Request>"#
    )
}

fn discovery() -> String {
    format!(r#"<Discovery_Request xmlns="{NS11}" message_id="urn:x:2"/>"#)
}

fn status_type(body: &str) -> Option<&str> {
    let i = body.find("status_type=\"")? + "status_type=\"".len();
    body[i..].split('"').next()
}

#[test]
fn every_credential_kind_right_wrong_and_missing() {
    let s = start();
    let http = format!("http://127.0.0.1:{}", s.http);
    let https = format!("https://127.0.0.1:{}", s.https);
    let poll_url = format!("{http}/services/poll");

    // Anonymous: discovery only.
    let (st, _, body) = post11(
        &format!("{http}/services/discovery"),
        &discovery(),
        &[],
        false,
    );
    assert_eq!(st, 200);
    assert!(body.contains("Discovery_Response"), "{body}");
    let (st, _, body) = post11(&poll_url, &poll("indicators"), &[], false);
    assert_eq!(
        (st, status_type(&body)),
        (200, Some("UNAUTHORIZED")),
        "{body}"
    );

    // Basic: right, wrong, and for a feed without a grant.
    let (st, _, body) = post11(
        &poll_url,
        &poll("indicators"),
        &["-u", "alpha:alpha-pass"],
        false,
    );
    assert_eq!(st, 200);
    assert!(body.contains("Poll_Response"), "{body}");
    let (st, head, body) = post11(
        &poll_url,
        &poll("indicators"),
        &["-u", "alpha:wrong"],
        false,
    );
    assert_eq!(
        (st, status_type(&body)),
        (401, Some("UNAUTHORIZED")),
        "{body}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: basic realm="),
        "{head}"
    );
    let (st, _, body) = post11(
        &poll_url,
        &poll("indicators"),
        &["-u", "nobody:alpha-pass"],
        false,
    );
    assert_eq!(st, 401, "{body}");
    let (st, _, body) = post11(
        &poll_url,
        &poll("malware"),
        &["-u", "alpha:alpha-pass"],
        false,
    );
    assert_eq!(
        (st, status_type(&body)),
        (200, Some("UNAUTHORIZED")),
        "{body}"
    );

    // Bearer token.
    let (st, _, body) = post11(
        &poll_url,
        &poll("malware"),
        &["-H", "Authorization: Bearer beta-token"],
        false,
    );
    assert!(st == 200 && body.contains("Poll_Response"), "{body}");
    let (st, _, _) = post11(
        &poll_url,
        &poll("malware"),
        &["-H", "Authorization: Bearer nope"],
        false,
    );
    assert_eq!(st, 401);
    let (st, _, body) = post11(
        &poll_url,
        &poll("indicators"),
        &["-H", "Authorization: Bearer beta-token"],
        false,
    );
    assert_eq!(
        (st, status_type(&body)),
        (200, Some("UNAUTHORIZED")),
        "{body}"
    );

    // Client certificate on the HTTPS listener.
    let cert = [
        "--cacert",
        "config/tls/ca.crt",
        "--cert",
        "config/tls/gamma.crt",
        "--key",
        "config/tls/gamma.key",
    ];
    let (st, _, body) = post11(
        &format!("{https}/services/poll"),
        &poll("phishing"),
        &cert,
        true,
    );
    assert!(st == 200 && body.contains("Poll_Response"), "{st} {body}");
    // By subject DN: partner-alpha.crt's subject is delta's, allowed `phishing` only.
    let by_subject = [
        "--cacert",
        "config/tls/ca.crt",
        "--cert",
        "config/tls/partner-alpha.crt",
        "--key",
        "config/tls/partner-alpha.key",
    ];
    let (st, _, body) = post11(
        &format!("{https}/services/poll"),
        &poll("phishing"),
        &by_subject,
        true,
    );
    assert!(st == 200 && body.contains("Poll_Response"), "{st} {body}");
    let (st, _, body) = post11(
        &format!("{https}/services/poll"),
        &poll("indicators"),
        &by_subject,
        true,
    );
    assert_eq!(
        (st, status_type(&body)),
        (200, Some("UNAUTHORIZED")),
        "{body}"
    );
    // A certificate the CA issued but no partner holds: 401.
    let dir = std::env::temp_dir().join(format!(
        "tg-auth-stranger-{}-{}",
        std::process::id(),
        s.https
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (key, csr, crt) = (dir.join("s.key"), dir.join("s.csr"), dir.join("s.crt"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=stranger",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .stderr(Stdio::null())
        .status()
        .expect("openssl is needed for this test");
    assert!(ok.success());
    let ext = dir.join("ext");
    std::fs::write(&ext, "extendedKeyUsage=clientAuth\n").unwrap();
    let ok = Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(&csr)
        .arg("-CA")
        .arg(root.join("config/tls/ca.crt"))
        .arg("-CAkey")
        .arg(root.join("config/tls/ca.key"))
        .arg("-CAserial")
        .arg(dir.join("ca.srl"))
        .arg("-extfile")
        .arg(&ext)
        .arg("-out")
        .arg(&crt)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let stranger = [
        "--cacert".to_string(),
        "config/tls/ca.crt".to_string(),
        "--cert".to_string(),
        crt.display().to_string(),
        "--key".to_string(),
        key.display().to_string(),
    ];
    let refs: Vec<&str> = stranger.iter().map(String::as_str).collect();
    let (st, _, _) = post11(
        &format!("{https}/services/poll"),
        &poll("phishing"),
        &refs,
        true,
    );
    assert_eq!(st, 401);
    // A certificate and a header naming different partners: exactly one partner per request.
    let mut both: Vec<&str> = cert.to_vec();
    both.extend(["-u", "alpha:alpha-pass"]);
    let (st, _, _) = post11(
        &format!("{https}/services/poll"),
        &poll("indicators"),
        &both,
        true,
    );
    assert_eq!(st, 401);
}

#[test]
fn a_certificate_from_another_ca_is_refused_at_the_handshake() {
    let s = start();
    let dir = std::env::temp_dir().join(format!("tg-auth-ca-{}-{}", std::process::id(), s.https));
    std::fs::create_dir_all(&dir).unwrap();
    let (key, crt) = (dir.join("other.key"), dir.join("other.crt"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
        ])
        .args(["-subj", "/CN=intruder", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .stderr(Stdio::null())
        .status()
        .expect("openssl is needed for this test");
    assert!(ok.success());
    let args = [
        "--cacert".to_string(),
        "config/tls/ca.crt".to_string(),
        "--cert".to_string(),
        crt.display().to_string(),
        "--key".to_string(),
        key.display().to_string(),
    ];
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (st, _, _) = post11(
        &format!("https://127.0.0.1:{}/services/poll", s.https),
        &poll("indicators"),
        &refs,
        true,
    );
    assert_eq!(st, 0, "no HTTP answer: the TLS handshake fails");
}

fn services(body: &str) -> Vec<(String, String)> {
    let env = taxii_gateway::taxii::scan_body(body.as_bytes(), &Default::default())
        .unwrap_or_else(|e| panic!("{e}\n{body}"));
    env.services
        .iter()
        .map(|s| (s.service_type.clone(), s.address.value.clone()))
        .collect()
}

#[test]
fn answers_are_filtered_per_partner_and_point_at_the_gateway() {
    let s = start();
    let http = format!("http://127.0.0.1:{}", s.http);
    let disc = format!("{http}/services/discovery");

    // Anonymous may only discover: the discovery answer lists the discovery service alone,
    // at the gateway's address, never the upstream's.
    let (st, _, body) = post11(&disc, &discovery(), &[], false);
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        services(&body),
        vec![(
            "DISCOVERY".to_string(),
            format!("{http}/services/discovery")
        )]
    );

    // alpha: discover, feed_info and poll on `indicators`: no inbox.
    let (_, _, body) = post11(&disc, &discovery(), &["-u", "alpha:alpha-pass"], false);
    let mut types: Vec<String> = services(&body)
        .into_iter()
        .map(|(t, a)| {
            assert!(a.starts_with(&http), "{a} is not the gateway's");
            t
        })
        .collect();
    types.sort();
    assert_eq!(types, ["COLLECTION_MANAGEMENT", "DISCOVERY", "POLL"]);

    // Collection information lists only the collections alpha holds a grant on.
    let info = format!(r#"<Collection_Information_Request xmlns="{NS11}" message_id="urn:x:3"/>"#);
    let (st, _, body) = post11(
        &format!("{http}/services/feed-management"),
        &info,
        &["-u", "alpha:alpha-pass"],
        false,
    );
    assert_eq!(st, 200, "{body}");
    let env = taxii_gateway::taxii::scan_body(body.as_bytes(), &Default::default()).unwrap();
    let feeds: Vec<&str> = env.feeds.iter().map(|f| f.value.as_str()).collect();
    assert_eq!(feeds, ["indicators"], "{body}");
    assert!(
        env.services
            .iter()
            .all(|s| s.address.value.starts_with(&http)),
        "{body}"
    );
}
