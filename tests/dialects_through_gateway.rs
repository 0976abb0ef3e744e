//! Every message type of every dialect through the gateway to the embedded sample upstream,
//! over HTTP and HTTPS (the gateway's TLS listener with the TEST-ONLY certificate): each answer
//! is the right message, in the request's dialect, with `X-TAXII-Protocol` naming the transport
//! the client used.
//!
//! Uses `curl` (for HTTPS with a CA file); the test fails with a message if it is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use taxii_gateway::taxii::{scan_message, Dialect, HttpContext, ScanLimits, Transport};

mod common;
use common::{free_port, wait_for, Proc};

const BIN: &str = env!("CARGO_BIN_EXE_taxii-gateway");

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
            .args(["--advertise", &format!("http://127.0.0.1:{http}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let dir = std::env::temp_dir().join(format!("tg-dialects-{}-{http}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("gateway.toml");
    let mut text = format!(
        r#"[server]
pid_file = "{pid}"
grace_period_seconds = 0
[[listener]]
address = "127.0.0.1:{http}"
[[listener]]
address = "127.0.0.1:{https}"
tls = {{ certificate_file = "config/tls/server.crt", key_file = "config/tls/server.key" }}
[[upstream]]
name = "sample"
url = "http://127.0.0.1:{up}"
"#,
        pid = dir.join("gw.pid").display()
    );
    for path in ["discovery", "feed-management", "poll", "inbox"] {
        text.push_str(&format!(
            "[[route]]\npath = \"/services/{path}\"\nupstream = \"sample\"\n"
        ));
    }
    std::fs::write(&config, text).unwrap();
    let gateway = Proc(
        Command::new(BIN)
            .args(["run", "--config"])
            .arg(&config)
            .current_dir(root)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
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

/// A second gateway whose upstream is the first gateway's HTTPS listener: an HTTPS upstream
/// verified against `ca_file` (or, with `ca_file = None`, against the system roots, which do
/// not know the test CA).
fn chained(https_upstream: u16, ca_file: Option<&str>) -> (Proc, u16) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("tg-chain-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tls = match ca_file {
        Some(ca) => format!("tls = {{ ca_file = \"{ca}\", sni = \"localhost\" }}\n"),
        None => "tls = { sni = \"localhost\" }\n".to_string(),
    };
    let mut text = format!(
        "[server]\npid_file = \"{}\"\ngrace_period_seconds = 0\n[[listener]]\naddress = \"127.0.0.1:{port}\"\n[[upstream]]\nname = \"first\"\nurl = \"https://127.0.0.1:{https_upstream}\"\n{tls}",
        dir.join("gw.pid").display()
    );
    for path in ["discovery", "feed-management", "poll", "inbox"] {
        text.push_str(&format!(
            "[[route]]\npath = \"/services/{path}\"\nupstream = \"first\"\n"
        ));
    }
    let config = dir.join("gateway.toml");
    std::fs::write(&config, text).unwrap();
    let p = Proc(
        Command::new(BIN)
            .args(["run", "--config"])
            .arg(&config)
            .current_dir(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(port);
    (p, port)
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request with curl: `-i` output parsed into status, headers, body.
fn curl(url: &str, headers: &[(&str, String)], body: Option<&str>) -> Answer {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-i", "--max-time", "20", "--cacert"])
        .arg(root.join("config/tls/ca.crt"))
        .arg(url);
    for (n, v) in headers {
        cmd.arg("-H").arg(format!("{n}: {v}"));
    }
    if let Some(b) = body {
        cmd.args(["--data-binary", b]);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("curl is needed for this test (apt-get install curl): {e}"));
    assert!(
        out.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let raw = out.stdout;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let mut lines = BufReader::new(&raw[..split]).lines().map(Result::unwrap);
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    Answer {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

fn taxii_headers(d: Dialect, t: Transport) -> Vec<(&'static str, String)> {
    let mut h = vec![
        ("Content-Type", "application/xml".to_string()),
        ("X-TAXII-Content-Type", d.content_type_id().to_string()),
        ("X-TAXII-Protocol", d.protocol_id(t).to_string()),
    ];
    if let Some(s) = d.services_id() {
        h.push(("X-TAXII-Services", s.to_string()));
    }
    h
}

/// Reads an answer as a TAXII message with its own headers; returns (dialect, message name).
fn read(a: &Answer) -> (Dialect, String, String) {
    let mut ctx = HttpContext::default();
    for (n, v) in &a.headers {
        ctx.header(n, v).unwrap();
    }
    let env = scan_message(&ctx, &a.body, &ScanLimits::default()).unwrap_or_else(|e| {
        panic!(
            "the answer does not scan: {e}\n{}",
            String::from_utf8_lossy(&a.body)
        )
    });
    (
        env.dialect,
        env.message.to_string(),
        env.in_response_to.map(|f| f.value).unwrap_or_default(),
    )
}

fn draft1(base: &str, t: Transport) {
    let h = taxii_headers(Dialect::Draft1, t);
    let protocol = Dialect::Draft1.protocol_id(t);
    let get_h = vec![("X-TAXII-Protocol", protocol.to_string())];

    // Draft 1 HTTP binding §5.1.1, §5.1.2: GETs.
    for (path, q, want) in [
        ("discovery", "discovery_request", "TAXII_DiscoveryResponse"),
        (
            "feed-management",
            "feed_information_request",
            "TAXII_FeedInformationResponse",
        ),
    ] {
        let a = curl(
            &format!("{base}/services/{path}?message_type={q}&message_id=a847%2098be"),
            &get_h,
            None,
        );
        assert_eq!(a.status, 200, "{path}");
        assert_eq!(a.header("X-TAXII-Protocol"), Some(protocol));
        assert_eq!(
            read(&a),
            (Dialect::Draft1, want.to_string(), "a847 98be".to_string())
        );
    }

    let ns = "http://taxii.mitre.org/messages/xml/1";
    let sub = |id: &str, action: &str, extra: &str| {
        format!(
            r#"<TAXII_SubscriptionManagementRequest xmlns="{ns}" message-id="{id}"><feed-name>indicators</feed-name><action>{action}</action>{extra}</TAXII_SubscriptionManagementRequest>"#
        )
    };
    let params = "<subscription><delivery-method>POLL</delivery-method><message-binding>TAXII_XML_BINDING_1.0</message-binding><content-binding>STIX_XML_1.0</content-binding><send-to></send-to></subscription>";
    let a = curl(
        &format!("{base}/services/feed-management"),
        &h,
        Some(&sub("a1", "SUBSCRIBE", params)),
    );
    assert_eq!(read(&a).1, "TAXII_SubscriptionManagementResponse");
    assert_eq!(a.header("X-TAXII-Protocol"), Some(protocol));
    let body = String::from_utf8_lossy(&a.body).into_owned();
    let id = body
        .split("subscription-id=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a subscription id")
        .to_string();
    for (action, extra) in [
        ("STATUS", String::new()),
        ("PAUSE", format!("<subscription-id>{id}</subscription-id>")),
        ("RESUME", format!("<subscription-id>{id}</subscription-id>")),
        (
            "MODIFY",
            format!("<subscription-id>{id}</subscription-id>{params}"),
        ),
        (
            "UNSUBSCRIBE",
            format!("<subscription-id>{id}</subscription-id>"),
        ),
    ] {
        let a = curl(
            &format!("{base}/services/feed-management"),
            &h,
            Some(&sub("a2", action, &extra)),
        );
        assert_eq!(a.status, 200, "{action}");
        assert_eq!(
            read(&a),
            (
                Dialect::Draft1,
                "TAXII_SubscriptionManagementResponse".to_string(),
                "a2".to_string()
            ),
            "{action}"
        );
    }

    let poll = format!(
        r#"<TAXII_PollRequest xmlns="{ns}" message-id="a3"><feed-name>indicators</feed-name><content-binding>STIX_XML_1.0</content-binding></TAXII_PollRequest>"#
    );
    let a = curl(&format!("{base}/services/poll"), &h, Some(&poll));
    assert_eq!(
        read(&a),
        (
            Dialect::Draft1,
            "TAXII_PollResponse".to_string(),
            "a3".to_string()
        )
    );

    // Draft 1 Services §5.1.1: the inbox answers nothing, not even an error: 200, empty.
    let push = format!(
        r#"<TAXII_STIXMessage xmlns="{ns}" xmlns:stix="http://stix.mitre.org" message-id="a4"><content-binding>STIX_XML_1.0</content-binding><stix:STIX id="x"/></TAXII_STIXMessage>"#
    );
    let a = curl(&format!("{base}/services/inbox"), &h, Some(&push));
    assert_eq!((a.status, a.body.len()), (200, 0));
    assert_eq!(a.header("X-TAXII-Protocol"), Some(protocol));

    // Errors found while parsing are HTTP statuses in Draft 1 (HTTP binding §7).
    let a = curl(
        &format!("{base}/services/poll"),
        &h,
        Some(
            "<TAXII_PollRequest xmlns=\"http://taxii.mitre.org/messages/xml/1\" message-id=\"a5\">",
        ),
    );
    assert_eq!((a.status, a.body.len()), (400, 0));
    let a = curl(
        &format!("{base}/services/discovery"),
        &h,
        Some(&format!(
            r#"<TAXII_DiscoveryRequest xmlns="{ns}" message-id="a6"/>"#
        )),
    );
    assert_eq!(a.status, 405, "a POSTed Draft 1 discovery request");
}

fn v1x(base: &str, d: Dialect, t: Transport) {
    let h = taxii_headers(d, t);
    let (ns, id, feed_attr, info) = match d {
        Dialect::V10 => (
            "http://taxii.mitre.org/messages/taxii_xml_binding-1",
            "7",
            "feed_name",
            "Feed_Information",
        ),
        _ => (
            "http://taxii.mitre.org/messages/taxii_xml_binding-1.1",
            "urn:x:7",
            "collection_name",
            "Collection_Information",
        ),
    };
    let cases = [
        (
            "discovery",
            format!(r#"<Discovery_Request xmlns="{ns}" message_id="{id}"/>"#),
            "Discovery_Response",
        ),
        (
            "feed-management",
            format!(r#"<{info}_Request xmlns="{ns}" message_id="{id}"/>"#),
            "_Information_Response",
        ),
        (
            "poll",
            match d {
                Dialect::V10 => format!(
                    r#"<Poll_Request xmlns="{ns}" message_id="{id}" {feed_attr}="indicators"/>"#
                ),
                _ => format!(
                    r#"<Poll_Request xmlns="{ns}" message_id="{id}" {feed_attr}="indicators"><Poll_Parameters/></Poll_Request>"#
                ),
            },
            "Poll_Response",
        ),
        (
            "feed-management",
            match d {
                Dialect::V10 => format!(
                    r#"<Subscription_Management_Request xmlns="{ns}" message_id="{id}" action="STATUS" {feed_attr}="indicators"/>"#
                ),
                _ => format!(
                    r#"<Subscription_Management_Request xmlns="{ns}" message_id="{id}" action="STATUS" {feed_attr}="indicators"/>"#
                ),
            },
            "Subscription_Management_Response",
        ),
        (
            "inbox",
            format!(
                r#"<Inbox_Message xmlns="{ns}" message_id="{id}"><Content_Block><Content_Binding{}</Content_Binding><Content><s:STIX_Package xmlns:s="http://stix.mitre.org/stix-1"/></Content></Content_Block></Inbox_Message>"#,
                if d == Dialect::V10 {
                    ">urn:stix.mitre.org:xml:1.1.1".to_string()
                } else {
                    " binding_id=\"urn:stix.mitre.org:xml:1.1.1\">".to_string()
                }
            ),
            "Status_Message",
        ),
    ];
    for (path, body, want) in cases {
        let a = curl(&format!("{base}/services/{path}"), &h, Some(&body));
        assert_eq!(
            a.status,
            200,
            "{d} {path}: {}",
            String::from_utf8_lossy(&a.body)
        );
        assert_eq!(
            a.header("X-TAXII-Protocol"),
            Some(d.protocol_id(t)),
            "{d} {path}"
        );
        let (got_d, got, irt) = read(&a);
        assert_eq!(got_d, d);
        assert!(got.ends_with(want), "{d} {path}: {got}");
        assert_eq!(irt, id);
    }
    // A hostile body never gets past the gateway: BAD_MESSAGE in a 200 (1.0 HTTP binding §4).
    let a = curl(
        &format!("{base}/services/poll"),
        &h,
        Some(&format!(
            r#"<!DOCTYPE x><Poll_Request xmlns="{ns}" message_id="{id}"/>"#
        )),
    );
    assert_eq!(a.status, 200);
    assert!(String::from_utf8_lossy(&a.body).contains("status_type=\"BAD_MESSAGE\""));
}

#[test]
fn every_dialect_through_the_gateway_over_http_and_https() {
    let s = start();
    for (base, t) in [
        (format!("http://127.0.0.1:{}", s.http), Transport::Http),
        (format!("https://127.0.0.1:{}", s.https), Transport::Https),
    ] {
        draft1(&base, t);
        v1x(&base, Dialect::V10, t);
        v1x(&base, Dialect::V11, t);
    }
}

#[test]
fn an_https_upstream_is_verified_against_its_ca() {
    let s = start();
    let (_verified, port) = chained(s.https, Some("config/tls/ca.crt"));
    // Through two gateways, the second one talking TLS to the first.
    v1x(
        &format!("http://127.0.0.1:{port}"),
        Dialect::V11,
        Transport::Http,
    );
    draft1(&format!("http://127.0.0.1:{port}"), Transport::Http);

    // Verification is on by default: an upstream certificate from an unknown CA is a 502.
    let (_unverified, port) = chained(s.https, None);
    let d = Dialect::V11;
    let a = curl(
        &format!("http://127.0.0.1:{port}/services/discovery"),
        &taxii_headers(d, Transport::Http),
        Some(
            r#"<Discovery_Request xmlns="http://taxii.mitre.org/messages/taxii_xml_binding-1.1" message_id="urn:x:9"/>"#,
        ),
    );
    assert_eq!(a.status, 502, "{}", String::from_utf8_lossy(&a.body));
    let body = String::from_utf8_lossy(&a.body);
    assert!(
        body.contains("status_type=\"FAILURE\"") && body.contains("in_response_to=\"urn:x:9\""),
        "{body}"
    );
}
