//! The operator's rewriting rules through the running gateway: virtual feeds both ways in every
//! dialect, feed information under public names, header rules, the push message, poll window
//! clamping, signed messages, content digests in the audit record, capture, feeds on two
//! upstreams, bodies over 64 KiB, Draft 1 GET headers, and `policy explain` showing rewrites.
//!
//! The upstream is the embedded sample upstream (round trips), or a recorder that keeps every
//! request's bytes and answers a canned message (exact bytes the upstream receives).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

mod common;
use common::{free_port, wait_for, Proc};

const BIN: &str = env!("CARGO_BIN_EXE_taxii-gateway");
const NS10: &str = "http://taxii.mitre.org/messages/taxii_xml_binding-1";
const NS11: &str = "http://taxii.mitre.org/messages/taxii_xml_binding-1.1";
const NSD1: &str = "http://taxii.mitre.org/messages/xml/1";

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// A scratch directory removed at the end.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let p = std::env::temp_dir().join(format!(
            "tg-rules-{tag}-{}-{}",
            std::process::id(),
            free_port()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The gateway with `config` (listener, pid file and audit file added), in `dir`.
struct Gw {
    port: u16,
    audit: PathBuf,
    _p: Proc,
}

fn gateway(dir: &Path, config: &str) -> Gw {
    let port = free_port();
    let audit = dir.join("audit.jsonl");
    let text = format!(
        "{config}\n[server]\npid_file = \"{}\"\ngrace_period_seconds = 0\n\n[[listener]]\naddress = \"127.0.0.1:{port}\"\n\n[audit]\nfile = \"{}\"\n",
        dir.join("gw.pid").display(),
        audit.display()
    );
    let path = dir.join("gw.toml");
    std::fs::write(&path, text).unwrap();
    let check = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let p = Proc(
        Command::new(BIN)
            .args(["run", "--config"])
            .arg(&path)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("gw.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for(port);
    Gw { port, audit, _p: p }
}

impl Gw {
    /// The audit records written so far (waits until at least `n`).
    fn records(&self, n: usize) -> Vec<serde_json::Value> {
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(&self.audit).unwrap_or_default();
            let recs: Vec<serde_json::Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            if recs.len() >= n || start.elapsed() > Duration::from_secs(10) {
                return recs;
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    }
}

fn sample_upstream() -> (u16, Proc) {
    let port = free_port();
    let p = Proc(
        Command::new(BIN)
            .args(["sample-upstream", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--advertise", &format!("http://127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(port);
    (port, p)
}

/// The binding headers of a dialect's POST (Draft 1: its TAXII media type).
fn headers(dialect: &str) -> Vec<String> {
    match dialect {
        "draft1" => vec![
            "Content-Type: application/xml".into(),
            "X-TAXII-Content-Type: TAXII_1.0/TAXII_XML_BINDING_1.0".into(),
            "X-TAXII-Protocol: TAXII_HTTP_BINDING_1.0".into(),
        ],
        v => vec![
            "Content-Type: application/xml".into(),
            format!("X-TAXII-Content-Type: urn:taxii.mitre.org:message:xml:{v}"),
            "X-TAXII-Protocol: urn:taxii.mitre.org:protocol:http:1.0".into(),
            format!("X-TAXII-Services: urn:taxii.mitre.org:services:{v}"),
        ],
    }
}

/// POSTs `body` with the dialect's headers: (HTTP status, body).
fn post(port: u16, path: &str, dialect: &str, body: &str) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-w", "\n%{http_code}", "--max-time", "10"]);
    for h in headers(dialect) {
        cmd.args(["-H", &h]);
    }
    let out = cmd
        .args(["--data-binary", "@-"])
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(body.as_bytes())?;
            c.wait_with_output()
        })
        .expect("curl is needed for this test");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn poll(dialect: &str, feed: &str) -> String {
    match dialect {
        "draft1" => format!(
            r#"<TAXII_PollRequest xmlns="{NSD1}" message-id="0123456789abcdef0123456789abcdef"><feed-name>{feed}</feed-name><content-binding>urn:stix.mitre.org:xml:1.1.1</content-binding></TAXII_PollRequest>"#
        ),
        "1.0" => format!(r#"<Poll_Request xmlns="{NS10}" message_id="4242" feed_name="{feed}"/>"#),
        _ => format!(
            r#"<Poll_Request xmlns="{NS11}" message_id="urn:x:poll" collection_name="{feed}"><Poll_Parameters/></Poll_Request>"#
        ),
    }
}

/// The `name="value"` / `<name>value</name>` feed name an answer carries.
fn feed_attr(dialect: &str) -> &'static str {
    match dialect {
        "draft1" => "feed-name",
        "1.0" => "feed_name",
        _ => "collection_name",
    }
}

/// Every element `<…local …>…</…local>` in `text`, exactly as written (no nesting of the same
/// name), found by plain text search.
fn elements<'a>(text: &'a str, local: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = text[at..].find('<').map(|i| i + at) {
        let rest = &text[i + 1..];
        let name_end = rest
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .unwrap_or(rest.len());
        let qname = &rest[..name_end];
        let is = qname == local || qname.ends_with(&format!(":{local}"));
        if is && !qname.starts_with('/') {
            let close = format!("</{qname}>");
            let end = text[i..].find(&close).map(|e| i + e + close.len()).unwrap();
            out.push(&text[i..end]);
            at = end;
        } else {
            at = i + 1;
        }
    }
    out
}

const COMMUNITY: &str =
    "[[feed]]\npublic = \"community-indicators\"\nupstream = \"up\"\nname = \"indicators\"\n";

#[test]
fn virtual_feed_polls_round_trip_in_every_dialect_with_digests() {
    let dir = Dir::new("poll");
    let (up, _u) = sample_upstream();
    let gw = gateway(
        &dir.0,
        &format!(
            "{COMMUNITY}\n[[upstream]]\nname = \"up\"\nurl = \"http://127.0.0.1:{up}\"\n\n[[route]]\npath = \"/services/poll\"\nupstream = \"up\"\n"
        ),
    );
    let mut n = 0;
    for d in ["draft1", "1.0", "1.1"] {
        let (status, public) = post(
            gw.port,
            "/services/poll",
            d,
            &poll(d, "community-indicators"),
        );
        assert_eq!(status, 200, "{d}: {public}");
        let (_, real) = post(gw.port, "/services/poll", d, &poll(d, "indicators"));
        n += 2;
        // The same answer, but for the name the partner used.
        let attr = feed_attr(d);
        let (public_name, real_name) = if d == "draft1" {
            (
                "<feed-name>community-indicators</feed-name>".to_string(),
                "<feed-name>indicators</feed-name>".to_string(),
            )
        } else {
            (
                format!("{attr}=\"community-indicators\""),
                format!("{attr}=\"indicators\""),
            )
        };
        assert!(
            public.contains(&public_name) || d == "draft1",
            "{d}: {public}"
        );
        assert!(!public.contains(&real_name), "{d}: {public}");
        let blocks = if d == "draft1" {
            "STIX_Package"
        } else {
            "Content_Block"
        };
        let got = elements(&public, blocks);
        assert!(!got.is_empty(), "{d}: no blocks in {public}");
        assert_eq!(got, elements(&real, blocks), "{d}: other content");

        let recs = gw.records(n);
        let rec = &recs[n - 2];
        assert_eq!(rec["feeds"][0], "community-indicators", "{d}: {rec}");
        let rewrites: Vec<&str> = rec["rewrites"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(
            rewrites
                .iter()
                .any(|r| r.contains(r#""community-indicators" -> "indicators""#)),
            "{d}: {rewrites:?}"
        );
        // Every block the partner received, digested as on the wire.
        let want: Vec<String> = got.iter().map(|b| sha256_hex(b.as_bytes())).collect();
        let digests: Vec<String> = rec["content_digests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(digests, want, "{d}");
        // The real name is not renamed.
        assert!(recs[n - 1]["rewrites"].as_array().unwrap().is_empty());
    }
}

#[test]
fn feed_information_lists_each_public_name_the_partner_holds_a_grant_on() {
    let dir = Dir::new("info");
    let (up, _u) = sample_upstream();
    std::fs::write(
        dir.0.join("policy.toml"),
        "[anonymous]\n[[anonymous.grant]]\nfeeds = [\"community-indicators\", \"malware\"]\nactions = [\"feed_info\", \"poll\"]\n",
    )
    .unwrap();
    let gw = gateway(
        &dir.0,
        &format!(
            "policies = [\"{}\"]\n{COMMUNITY}\n[[upstream]]\nname = \"up\"\nurl = \"http://127.0.0.1:{up}\"\n\n[[route]]\npath = \"/services/feed-management\"\nupstream = \"up\"\n\n[[route]]\npath = \"/services/poll\"\nupstream = \"up\"\n",
            dir.0.join("policy.toml").display()
        ),
    );
    let (status, body) = post(
        gw.port,
        "/services/feed-management",
        "1.1",
        &format!(r#"<Collection_Information_Request xmlns="{NS11}" message_id="urn:x:ci"/>"#),
    );
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = elements(&body, "Collection")
        .iter()
        .map(|c| {
            let i = c.find("collection_name=\"").unwrap() + 17;
            &c[i..i + c[i..].find('"').unwrap()]
        })
        .collect();
    assert_eq!(names, ["community-indicators", "malware"], "{body}");
    // The renamed record keeps the original's services, mapped to the gateway's address.
    let community = elements(&body, "Collection")[0];
    assert!(
        community.contains(&format!("http://127.0.0.1:{}/services/poll", gw.port)),
        "{community}"
    );
    assert!(!body.contains(&format!("127.0.0.1:{up}")), "{body}");

    let (_, d1) = post(
        gw.port,
        "/services/feed-management",
        "1.0",
        &format!(r#"<Feed_Information_Request xmlns="{NS10}" message_id="7"/>"#),
    );
    assert!(d1.contains("feed_name=\"community-indicators\""), "{d1}");
    assert!(!d1.contains("feed_name=\"indicators\""), "{d1}");
}

/// The requests an upstream received: (head, body).
type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A recorder upstream: keeps each request (head, body) and answers `answer` (a full HTTP
/// response) to every one.
struct Recorder {
    port: u16,
    seen: Seen,
}

fn recorder(answer: String) -> Recorder {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let keep = keep.clone();
            let answer = answer.clone();
            std::thread::spawn(move || {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                loop {
                    let mut head = String::new();
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        head.push_str(&line);
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let lower = head.to_ascii_lowercase();
                    let mut body = Vec::new();
                    if lower.contains("transfer-encoding: chunked") {
                        loop {
                            let mut size = String::new();
                            reader.read_line(&mut size).unwrap();
                            let n = usize::from_str_radix(size.trim(), 16).unwrap();
                            let mut chunk = vec![0; n + 2];
                            reader.read_exact(&mut chunk).unwrap();
                            if n == 0 {
                                break;
                            }
                            body.extend_from_slice(&chunk[..n]);
                        }
                    } else if let Some(i) = lower.find("content-length:") {
                        let n: usize = lower[i + 15..]
                            .lines()
                            .next()
                            .unwrap()
                            .trim()
                            .parse()
                            .unwrap();
                        body = vec![0; n];
                        reader.read_exact(&mut body).unwrap();
                    }
                    keep.lock().unwrap().push((head, body));
                    let mut w = conn.try_clone().unwrap();
                    if w.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    Recorder { port, seen }
}

impl Recorder {
    fn last(&self) -> (String, Vec<u8>) {
        let start = Instant::now();
        loop {
            if let Some(x) = self.seen.lock().unwrap().last().cloned() {
                return x;
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "nothing reached the upstream"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

/// An HTTP answer carrying a TAXII message of `dialect`.
fn answer(dialect: &str, body: &str) -> String {
    let mut h = String::from("HTTP/1.1 200 OK\r\n");
    for line in headers(dialect) {
        h.push_str(&line);
        h.push_str("\r\n");
    }
    format!("{h}Content-Length: {}\r\n\r\n{body}", body.len())
}

fn success11() -> String {
    answer(
        "1.1",
        &format!(
            r#"<Status_Message xmlns="{NS11}" message_id="urn:x:s" in_response_to="urn:x:push" status_type="SUCCESS"/>"#
        ),
    )
}

fn route(path: &str, up: &str, extra: &str) -> String {
    format!("[[route]]\npath = \"{path}\"\nupstream = \"{up}\"\n{extra}\n")
}

#[test]
fn header_rules_and_the_push_message_reach_the_upstream_exactly() {
    let dir = Dir::new("headers");
    let rec = recorder(success11());
    let gw = gateway(
        &dir.0,
        &format!(
            "{COMMUNITY}\n[[upstream]]\nname = \"up\"\nurl = \"http://127.0.0.1:{}\"\n\n{}",
            rec.port,
            route(
                "/services/inbox",
                "up",
                "strip_headers = [\"urn:x:secret\", \"urn:taxii-gateway:partner\"]\npartner_header = \"urn:taxii-gateway:partner\"\npush_message = \"Relayed by the community gateway\"",
            )
        ),
    );
    let block = "<Content_Block><Content_Binding binding_id=\"urn:stix.mitre.org:xml:1.1.1\"/><Content>hello &amp; goodbye</Content></Content_Block>";
    let sent = format!(
        "<taxii_11:Inbox_Message xmlns:taxii_11=\"{NS11}\" message_id=\"urn:x:push\">\n  <taxii_11:Extended_Headers><taxii_11:Extended_Header name=\"urn:x:secret\">s3cret</taxii_11:Extended_Header><taxii_11:Extended_Header name=\"urn:x:keep\">kept</taxii_11:Extended_Header><taxii_11:Extended_Header name=\"urn:taxii-gateway:partner\">forged</taxii_11:Extended_Header></taxii_11:Extended_Headers>\n  <taxii_11:Destination_Collection_Name>community-indicators</taxii_11:Destination_Collection_Name>\n  <taxii_11:Message>mine</taxii_11:Message>\n  {}\n</taxii_11:Inbox_Message>",
        block.replace("<Content", "<taxii_11:Content").replace("</Content", "</taxii_11:Content")
    );
    let (status, body) = post(gw.port, "/services/inbox", "1.1", &sent);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("SUCCESS"), "{body}");
    let (head, got) = rec.last();
    let got = String::from_utf8(got).unwrap();
    let want = sent
        .replace(
            "<taxii_11:Extended_Header name=\"urn:x:secret\">s3cret</taxii_11:Extended_Header>",
            "",
        )
        .replace(
            "<taxii_11:Extended_Header name=\"urn:taxii-gateway:partner\">forged</taxii_11:Extended_Header>",
            "<taxii_11:Extended_Header name=\"urn:taxii-gateway:partner\">anonymous</taxii_11:Extended_Header>",
        )
        .replace(">community-indicators<", ">indicators<")
        .replace(">mine<", ">Relayed by the community gateway<");
    // The stripped and added headers may be laid out differently; compare the rest exactly.
    assert!(
        got.contains(
            "<taxii_11:Extended_Header name=\"urn:x:keep\">kept</taxii_11:Extended_Header>"
        ),
        "{got}"
    );
    assert!(!got.contains("s3cret") && !got.contains("forged"), "{got}");
    assert!(got.contains("<taxii_11:Extended_Header name=\"urn:taxii-gateway:partner\">anonymous</taxii_11:Extended_Header>"), "{got}");
    let tail = |s: &str| s[s.find("<taxii_11:Destination_Collection_Name>").unwrap()..].to_string();
    assert_eq!(
        tail(&got),
        tail(&want),
        "everything after the headers as sent, but for the rules"
    );
    assert!(got.starts_with(&format!("<taxii_11:Inbox_Message xmlns:taxii_11=\"{NS11}\" message_id=\"urn:x:push\">\n  <taxii_11:Extended_Headers>")), "{got}");
    let len: usize = head
        .to_ascii_lowercase()
        .lines()
        .find_map(|l| {
            l.strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .expect("an exact Content-Length");
    assert_eq!(len, got.len());

    // The audit record: the push's block digested as the partner sent it; the rewrites named.
    let rec0 = &gw.records(1)[0];
    let pushed = elements(&sent, "Content_Block");
    assert_eq!(
        rec0["content_digests"],
        serde_json::json!([sha256_hex(pushed[0].as_bytes())])
    );
    let rewrites = rec0["rewrites"].to_string();
    for needle in [
        "indicators",
        "extended headers stripped: 2",
        "urn:taxii-gateway:partner",
        "push message set",
    ] {
        assert!(rewrites.contains(needle), "{needle}: {rewrites}");
    }
}

#[test]
fn feeds_on_two_upstreams_are_refused_and_each_feed_goes_to_its_own() {
    let dir = Dir::new("two");
    let a = recorder(success11());
    let b = recorder(success11());
    let gw = gateway(
        &dir.0,
        &format!(
            "[[feed]]\npublic = \"partner-x-indicators\"\nupstream = \"b\"\nname = \"indicators\"\n\n[[feed]]\npublic = \"internal-indicators\"\nupstream = \"a\"\nname = \"indicators\"\n\n[[upstream]]\nname = \"a\"\nurl = \"http://127.0.0.1:{}\"\n\n[[upstream]]\nname = \"b\"\nurl = \"http://127.0.0.1:{}\"\n\n{}",
            a.port,
            b.port,
            route("/services/inbox", "a", "")
        ),
    );
    let push = |dests: &[&str]| {
        let d: String = dests
            .iter()
            .map(|d| format!("<Destination_Collection_Name>{d}</Destination_Collection_Name>"))
            .collect();
        format!(r#"<Inbox_Message xmlns="{NS11}" message_id="urn:x:push">{d}</Inbox_Message>"#)
    };
    let (status, body) = post(
        gw.port,
        "/services/inbox",
        "1.1",
        &push(&["partner-x-indicators", "internal-indicators"]),
    );
    assert_eq!(status, 200);
    assert!(body.contains("status_type=\"DENIED\""), "{body}");
    assert!(body.contains("different upstreams"), "{body}");
    assert_eq!(a.count() + b.count(), 0, "nothing may reach an upstream");

    // Each public name to its own upstream, under the upstream's name.
    let (status, body) = post(
        gw.port,
        "/services/inbox",
        "1.1",
        &push(&["partner-x-indicators"]),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!((a.count(), b.count()), (0, 1));
    assert!(String::from_utf8(b.last().1)
        .unwrap()
        .contains(">indicators<"));
    let (status, _) = post(
        gw.port,
        "/services/inbox",
        "1.1",
        &push(&["internal-indicators"]),
    );
    assert_eq!(status, 200);
    assert_eq!((a.count(), b.count()), (1, 1));
    let recs = gw.records(3);
    assert_eq!(recs[0]["decision"], "refused");
}

#[test]
fn signed_messages_are_refused_or_passed_unchanged_as_configured() {
    let signed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/1.0/Inbox_Message-signed.xml"),
    )
    .unwrap();
    let success10 = answer(
        "1.0",
        &format!(
            r#"<Status_Message xmlns="{NS10}" message_id="2" in_response_to="1020" status_type="SUCCESS"/>"#
        ),
    );
    for (mode, refused) in [("refuse", true), ("pass", false)] {
        let dir = Dir::new(mode);
        let rec = recorder(success10.clone());
        let gw = gateway(
            &dir.0,
            &format!(
                "[[upstream]]\nname = \"up\"\nurl = \"http://127.0.0.1:{}\"\n\n{}",
                rec.port,
                route(
                    "/services/inbox",
                    "up",
                    &format!("partner_header = \"urn:taxii-gateway:partner\"\nsigned_messages = \"{mode}\"")
                )
            ),
        );
        let (status, body) = post(gw.port, "/services/inbox", "1.0", &signed);
        assert_eq!(status, 200);
        let rec0 = &gw.records(1)[0];
        if refused {
            assert!(body.contains("status_type=\"DENIED\""), "{body}");
            assert!(body.contains("signed"), "{body}");
            assert_eq!(rec.count(), 0);
            assert_eq!(rec0["signed"], "refused");
        } else {
            assert!(body.contains("SUCCESS"), "{body}");
            assert_eq!(
                rec.last().1,
                signed.as_bytes(),
                "a signed message is never rewritten"
            );
            assert_eq!(rec0["signed"], "passed_unchanged");
        }
    }
}

/// RFC 3339 UTC of a Unix time, to the second (what the gateway writes).
fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil from days (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[test]
fn a_poll_asking_too_far_back_is_clamped_and_the_answer_says_the_window_served() {
    let dir = Dir::new("clamp");
    let poll_response = answer(
        "1.1",
        &format!(
            r#"<Poll_Response xmlns="{NS11}" message_id="urn:x:r" in_response_to="urn:x:poll" collection_name="indicators" more="false"><Inclusive_End_Timestamp>2030-01-01T00:00:00Z</Inclusive_End_Timestamp></Poll_Response>"#
        ),
    );
    let rec = recorder(poll_response);
    std::fs::write(
        dir.0.join("policy.toml"),
        "[anonymous]\n[[anonymous.grant]]\nfeeds = [\"community-*\"]\nactions = [\"poll\"]\nmax_poll_window_seconds = 3600\npoll_window = \"clamp\"\n",
    )
    .unwrap();
    let gw = gateway(
        &dir.0,
        &format!(
            "policies = [\"{}\"]\n{COMMUNITY}\n[[upstream]]\nname = \"up\"\nurl = \"http://127.0.0.1:{}\"\n\n{}",
            dir.0.join("policy.toml").display(),
            rec.port,
            route("/services/poll", "up", "")
        ),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (status, body) = post(
        gw.port,
        "/services/poll",
        "1.1",
        &format!(
            r#"<Poll_Request xmlns="{NS11}" message_id="urn:x:poll" collection_name="community-indicators"><Exclusive_Begin_Timestamp>2001-01-01T00:00:00Z</Exclusive_Begin_Timestamp><Poll_Parameters/></Poll_Request>"#
        ),
    );
    assert_eq!(status, 200, "{body}");
    let sent = String::from_utf8(rec.last().1).unwrap();
    let begin = |s: &str| {
        let i = s.find("<Exclusive_Begin_Timestamp>").expect("a begin") + 27;
        s[i..i + s[i..].find('<').unwrap()].to_string()
    };
    let served = begin(&sent);
    let allowed = (now - 3600 - 5..=now - 3600 + 5)
        .map(rfc3339)
        .collect::<Vec<_>>();
    assert!(
        allowed.contains(&served),
        "{served} not about an hour ago: {sent}"
    );
    assert!(sent.contains("collection_name=\"indicators\""), "{sent}");
    // The answer says what was served, under the partner's name.
    assert_eq!(begin(&body), served, "{body}");
    assert!(
        body.contains("collection_name=\"community-indicators\""),
        "{body}"
    );
    let rec0 = &gw.records(1)[0];
    assert!(
        rec0["rewrites"].to_string().contains("poll window clamped"),
        "{rec0}"
    );
}

#[test]
fn capture_writes_messages_named_by_the_audit_id_and_keeps_the_newest() {
    let dir = Dir::new("capture");
    let (up, _u) = sample_upstream();
    let cap = dir.0.join("capture");
    let gw = gateway(
        &dir.0,
        &format!(
            "{COMMUNITY}\n[capture]\ndir = \"{}\"\nkeep = 2\nfeeds = [\"community-*\"]\n\n[[upstream]]\nname = \"up\"\nurl = \"http://127.0.0.1:{up}\"\n\n{}",
            cap.display(),
            route("/services/poll", "up", "")
        ),
    );
    let mut bodies = Vec::new();
    for _ in 0..3 {
        let (status, body) = post(
            gw.port,
            "/services/poll",
            "1.1",
            &poll("1.1", "community-indicators"),
        );
        assert_eq!(status, 200);
        bodies.push(body);
    }
    // Not a community feed: not captured.
    post(gw.port, "/services/poll", "1.1", &poll("1.1", "malware"));
    let recs = gw.records(4);
    let start = Instant::now();
    let files = loop {
        let mut files: Vec<String> = std::fs::read_dir(&cap)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        if files.len() == 4 || start.elapsed() > Duration::from_secs(5) {
            break files;
        }
        std::thread::sleep(Duration::from_millis(30));
    };
    let mut want: Vec<String> = recs[1..3]
        .iter()
        .flat_map(|r| {
            let id = r["request_id"].as_str().unwrap();
            [format!("{id}.request.xml"), format!("{id}.response.xml")]
        })
        .collect();
    want.sort();
    assert_eq!(files, want, "the newest two exchanges");
    for (r, body) in recs[1..3].iter().zip(&bodies[1..3]) {
        let id = r["request_id"].as_str().unwrap();
        assert_eq!(
            r["capture"],
            serde_json::json!([format!("{id}.request.xml"), format!("{id}.response.xml")])
        );
        assert_eq!(
            std::fs::read_to_string(cap.join(format!("{id}.request.xml"))).unwrap(),
            poll("1.1", "community-indicators"),
            "the request as the partner sent it"
        );
        assert_eq!(
            &std::fs::read_to_string(cap.join(format!("{id}.response.xml"))).unwrap(),
            body,
            "the answer as the partner received it"
        );
    }
    assert_eq!(recs[3]["capture"], serde_json::json!([]));
}

#[test]
fn a_push_over_64_kib_is_renamed_on_its_way_and_framed_anew() {
    let dir = Dir::new("big");
    let rec = recorder(success11());
    let gw = gateway(
        &dir.0,
        &format!(
            "{COMMUNITY}\n[[upstream]]\nname = \"up\"\nurl = \"http://127.0.0.1:{}\"\n\n{}",
            rec.port,
            route("/services/inbox", "up", "")
        ),
    );
    let filler = "x".repeat(100_000);
    let push = format!(
        r#"<Inbox_Message xmlns="{NS11}" message_id="urn:x:push"><Destination_Collection_Name>community-indicators</Destination_Collection_Name><Content_Block><Content_Binding binding_id="urn:x:text"/><Content>{filler}</Content></Content_Block></Inbox_Message>"#
    );
    let (status, body) = post(gw.port, "/services/inbox", "1.1", &push);
    assert_eq!(status, 200, "{body}");
    let (head, got) = rec.last();
    assert_eq!(
        String::from_utf8(got).unwrap(),
        push.replace(">community-indicators<", ">indicators<")
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
}

#[test]
fn draft1_get_headers_are_query_parameters() {
    let dir = Dir::new("get");
    let discovery = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/fixtures/draft1/TAXII_DiscoveryResponse-empty.xml"),
    )
    .unwrap();
    let rec = recorder(answer("draft1", &discovery));
    let gw = gateway(
        &dir.0,
        &format!(
            "[[upstream]]\nname = \"up\"\nurl = \"http://127.0.0.1:{}\"\n\n{}",
            rec.port,
            route(
                "/services/discovery",
                "up",
                "dialects = [\"draft1\"]\nstrip_headers = [\"secret\"]\npartner_header = \"partner\""
            )
        ),
    );
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10"])
        .args(["-H", "X-TAXII-Protocol: TAXII_HTTP_BINDING_1.0"])
        .arg(format!(
            "http://127.0.0.1:{}/services/discovery?message_type=discovery_request&message_id=a84798beffe840ee&secret=x&keep=y",
            gw.port
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    let (head, _) = rec.last();
    let line = head.lines().next().unwrap();
    assert!(line.contains("keep=y"), "{line}");
    assert!(line.contains("partner=anonymous"), "{line}");
    assert!(!line.contains("secret"), "{line}");
}

#[test]
fn policy_explain_shows_the_rewrites_a_message_would_get() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = Dir::new("explain");
    let push = dir.0.join("push.xml");
    std::fs::write(
        &push,
        format!(
            r#"<Inbox_Message xmlns="{NS11}" message_id="urn:x:push"><Destination_Collection_Name>community-a</Destination_Collection_Name></Inbox_Message>"#
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args([
            "policy",
            "explain",
            "--config",
            "config/opentaxii.toml",
            "--partner",
            "alpha",
            "--path",
            "/services/inbox",
        ])
        .arg(&push)
        .current_dir(root)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("upstream  opentaxii"), "{text}");
    assert!(
        text.contains(r#"feed "community-a" -> "feed-a" (upstream opentaxii)"#),
        "{text}"
    );
    assert!(
        text.contains(r#"extended header "urn:taxii-gateway:partner" = "alpha" added"#),
        "{text}"
    );

    let json = Command::new(BIN)
        .args([
            "policy",
            "explain",
            "--json",
            "--config",
            "config/opentaxii.toml",
            "--partner",
            "alpha",
            "--path",
            "/services/inbox",
        ])
        .arg(&push)
        .current_dir(root)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["rules"]["upstream"], "opentaxii");
    assert_eq!(v["rules"]["rewrites"].as_array().unwrap().len(), 2, "{v}");
}

#[test]
fn a_grants_push_message_takes_the_place_of_the_routes() {
    let dir = Dir::new("pushmsg");
    let success10 = answer(
        "1.0",
        &format!(
            r#"<Status_Message xmlns="{NS10}" message_id="2" in_response_to="5" status_type="SUCCESS"/>"#
        ),
    );
    let rec = recorder(success10);
    std::fs::write(
        dir.0.join("policy.toml"),
        "[anonymous]\n[[anonymous.grant]]\nfeeds = [\"*\"]\nactions = [\"push\"]\npush_message = \"Shared under TLP:GREEN\"\n",
    )
    .unwrap();
    let gw = gateway(
        &dir.0,
        &format!(
            "policies = [\"{}\"]\n[[upstream]]\nname = \"up\"\nurl = \"http://127.0.0.1:{}\"\n\n{}",
            dir.0.join("policy.toml").display(),
            rec.port,
            route("/services/inbox", "up", "push_message = \"route message\"")
        ),
    );
    let block = "<Content_Block><Content_Binding>urn:stix.mitre.org:xml:1.0.1</Content_Binding><Content>x</Content></Content_Block>";
    let sent = format!(r#"<Inbox_Message xmlns="{NS10}" message_id="5">{block}</Inbox_Message>"#);
    let (status, body) = post(gw.port, "/services/inbox", "1.0", &sent);
    assert_eq!(status, 200, "{body}");
    let got = String::from_utf8(rec.last().1).unwrap();
    assert_eq!(
        got,
        format!(
            r#"<Inbox_Message xmlns="{NS10}" message_id="5"><Message>Shared under TLP:GREEN</Message>{block}</Inbox_Message>"#
        )
    );
}

/// An answer over `responses.hold_bytes` streams: its first bytes still leave with the
/// partner's feed name and the window served, and every block is digested as it passes.
#[test]
fn a_streamed_poll_answer_gets_the_same_edits_in_its_first_bytes() {
    let dir = Dir::new("streamed");
    let blocks: String = (0..40)
        .map(|i| {
            format!(
                "<Content_Block><Content_Binding binding_id=\"urn:x:text\"/><Content>block {i} {}</Content></Content_Block>\n",
                "z".repeat(150)
            )
        })
        .collect();
    let upstream_body = format!(
        "<Poll_Response xmlns=\"{NS11}\" message_id=\"urn:x:r\" in_response_to=\"urn:x:poll\" collection_name=\"indicators\" more=\"false\">\n<Inclusive_End_Timestamp>2030-01-01T00:00:00Z</Inclusive_End_Timestamp>\n{blocks}</Poll_Response>"
    );
    let rec = recorder(answer("1.1", &upstream_body));
    std::fs::write(
        dir.0.join("policy.toml"),
        "[anonymous]\n[[anonymous.grant]]\nfeeds = [\"community-*\"]\nactions = [\"poll\"]\nmax_poll_window_seconds = 3600\npoll_window = \"clamp\"\n",
    )
    .unwrap();
    let gw = gateway(
        &dir.0,
        &format!(
            "policies = [\"{}\"]\n{COMMUNITY}\n[responses]\nhold_bytes = 2048\n\n[[upstream]]\nname = \"up\"\nurl = \"http://127.0.0.1:{}\"\n\n{}",
            dir.0.join("policy.toml").display(),
            rec.port,
            route("/services/poll", "up", "")
        ),
    );
    let (status, body) = post(
        gw.port,
        "/services/poll",
        "1.1",
        &poll("1.1", "community-indicators"),
    );
    assert_eq!(status, 200, "{body}");
    let sent = String::from_utf8(rec.last().1).unwrap();
    let i = sent.find("<Exclusive_Begin_Timestamp>").expect("clamped") + 27;
    let served = &sent[i..i + sent[i..].find('<').unwrap()];
    let want = upstream_body
        .replace(
            "collection_name=\"indicators\"",
            "collection_name=\"community-indicators\"",
        )
        .replace(
            "\n<Inclusive_End_Timestamp>",
            &format!("\n<Exclusive_Begin_Timestamp>{served}</Exclusive_Begin_Timestamp>\n<Inclusive_End_Timestamp>"),
        );
    assert_eq!(body, want);
    let rec0 = &gw.records(1)[0];
    let digests: Vec<String> = elements(&body, "Content_Block")
        .iter()
        .map(|b| sha256_hex(b.as_bytes()))
        .collect();
    assert_eq!(digests.len(), 40);
    assert_eq!(rec0["content_digests"], serde_json::json!(digests));
    assert!(
        rec0["rewrites"].to_string().contains("(streamed answer)"),
        "{rec0}"
    );
}

/// Found in review: a public name padded with white space (which a validating upstream
/// collapses) must go where the name goes, never to the route's upstream renamed.
#[test]
fn a_padded_public_name_goes_to_its_own_upstream() {
    let dir = Dir::new("padded");
    let a = recorder(success11());
    let b = recorder(success11());
    let gw = gateway(
        &dir.0,
        &format!(
            "[[feed]]\npublic = \"partner-x-indicators\"\nupstream = \"b\"\nname = \"indicators\"\n\n[[upstream]]\nname = \"a\"\nurl = \"http://127.0.0.1:{}\"\n\n[[upstream]]\nname = \"b\"\nurl = \"http://127.0.0.1:{}\"\n\n{}",
            a.port,
            b.port,
            route("/services/inbox", "a", "")
        ),
    );
    let push = format!(
        "<Inbox_Message xmlns=\"{NS11}\" message_id=\"urn:x:push\"><Destination_Collection_Name>\n partner-x-indicators \n</Destination_Collection_Name></Inbox_Message>"
    );
    let (status, body) = post(gw.port, "/services/inbox", "1.1", &push);
    assert_eq!(status, 200, "{body}");
    assert_eq!((a.count(), b.count()), (0, 1), "to upstream b only");
    let got = String::from_utf8(b.last().1).unwrap();
    assert!(
        got.contains("<Destination_Collection_Name>indicators</Destination_Collection_Name>"),
        "{got}"
    );
}

/// Found in review: a client's own header named like the partner header never reaches the
/// upstream, even when the route does not list it in strip_headers.
#[test]
fn a_forged_partner_header_is_always_removed() {
    let dir = Dir::new("forged");
    let rec = recorder(success11());
    let gw = gateway(
        &dir.0,
        &format!(
            "[[upstream]]\nname = \"up\"\nurl = \"http://127.0.0.1:{}\"\n\n{}",
            rec.port,
            route(
                "/services/inbox",
                "up",
                "partner_header = \"urn:taxii-gateway:partner\""
            )
        ),
    );
    let push = format!(
        "<Inbox_Message xmlns=\"{NS11}\" message_id=\"urn:x:push\"><Extended_Headers><Extended_Header name=\"urn:taxii-gateway:partner\">victim</Extended_Header></Extended_Headers></Inbox_Message>"
    );
    let (status, body) = post(gw.port, "/services/inbox", "1.1", &push);
    assert_eq!(status, 200, "{body}");
    let got = String::from_utf8(rec.last().1).unwrap();
    assert!(!got.contains("victim"), "{got}");
    assert_eq!(
        got.matches("name=\"urn:taxii-gateway:partner\"").count(),
        1,
        "{got}"
    );
    assert!(got.contains(">anonymous</Extended_Header>"), "{got}");
}

fn clamp_policy(dir: &Path) -> PathBuf {
    let p = dir.join("policy.toml");
    std::fs::write(
        &p,
        "[anonymous]\n[[anonymous.grant]]\nfeeds = [\"*\"]\nactions = [\"poll\"]\nmax_poll_window_seconds = 3600\npoll_window = \"clamp\"\n",
    )
    .unwrap();
    p
}

/// Found in review: with `signed_messages = "pass"`, a signature (never checked) must not get
/// a poll past its window.
#[test]
fn a_signature_does_not_get_a_poll_past_its_window() {
    let dir = Dir::new("signed-clamp");
    let rec = recorder(success11());
    let gw = gateway(
        &dir.0,
        &format!(
            "policies = [\"{}\"]\n[[upstream]]\nname = \"up\"\nurl = \"http://127.0.0.1:{}\"\n\n{}",
            clamp_policy(&dir.0).display(),
            rec.port,
            route("/services/poll", "up", "signed_messages = \"pass\"")
        ),
    );
    let poll = format!(
        r#"<Poll_Request xmlns="{NS11}" message_id="urn:x:poll" collection_name="indicators"><Poll_Parameters/><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/></Poll_Request>"#
    );
    let (status, body) = post(gw.port, "/services/poll", "1.1", &poll);
    assert_eq!(status, 200);
    assert!(body.contains("status_type=\"DENIED\""), "{body}");
    assert_eq!(rec.count(), 0);
    assert_eq!(gw.records(1)[0]["signed"], "refused");
}

/// Found in review: a Draft 1 begin without a zone may be local time anywhere within 14 hours
/// of UTC; a clamped poll gets the served begin, in UTC.
#[test]
fn a_draft1_begin_without_a_zone_is_clamped() {
    let dir = Dir::new("d1-clamp");
    let d1_response = answer(
        "draft1",
        &format!(
            r#"<TAXII_PollResponse xmlns="{NSD1}" message-id="0123456789abcdef0123456789abcdee" in-response-to="0123456789abcdef0123456789abcdef"><end-timestamp>2030-01-01T00:00:00Z</end-timestamp><content-binding>urn:stix.mitre.org:xml:1.1.1</content-binding></TAXII_PollResponse>"#
        ),
    );
    let rec = recorder(d1_response);
    let gw = gateway(
        &dir.0,
        &format!(
            "policies = [\"{}\"]\n[[upstream]]\nname = \"up\"\nurl = \"http://127.0.0.1:{}\"\n\n{}",
            clamp_policy(&dir.0).display(),
            rec.port,
            route("/services/poll", "up", "dialects = [\"draft1\"]")
        ),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Half an hour ago in UTC, but without its zone.
    let begin = rfc3339(now - 1800).trim_end_matches('Z').to_string();
    let poll = format!(
        r#"<TAXII_PollRequest xmlns="{NSD1}" message-id="0123456789abcdef0123456789abcdef"><feed-name>indicators</feed-name><begin-timestamp>{begin}</begin-timestamp><content-binding>urn:stix.mitre.org:xml:1.1.1</content-binding></TAXII_PollRequest>"#
    );
    let (status, body) = post(gw.port, "/services/poll", "draft1", &poll);
    assert_eq!(status, 200, "{body}");
    let sent = String::from_utf8(rec.last().1).unwrap();
    let i = sent.find("<begin-timestamp>").unwrap() + 17;
    let served = &sent[i..i + sent[i..].find('<').unwrap()];
    let allowed: Vec<String> = (now - 3600 - 5..=now - 3600 + 5).map(rfc3339).collect();
    assert!(allowed.iter().any(|a| a == served), "{served}: {sent}");
}

/// Found in review: a streamed answer whose first bytes left rewritten and which turns out to
/// be signed is cut, never completed with a broken signature, and the record says so.
#[test]
fn a_signed_streamed_answer_rewritten_in_its_head_is_cut() {
    let dir = Dir::new("signed-stream");
    let blocks: String = (0..40)
        .map(|i| {
            format!(
                "<Content_Block><Content_Binding binding_id=\"urn:x:text\"/><Content>block {i} {}</Content></Content_Block>\n",
                "z".repeat(150)
            )
        })
        .collect();
    let upstream_body = format!(
        "<Poll_Response xmlns=\"{NS11}\" xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" message_id=\"urn:x:r\" in_response_to=\"urn:x:poll\" collection_name=\"indicators\" more=\"false\">\n<Inclusive_End_Timestamp>2030-01-01T00:00:00Z</Inclusive_End_Timestamp>\n{blocks}<ds:Signature><ds:SignatureValue>c2ln</ds:SignatureValue></ds:Signature></Poll_Response>"
    );
    let rec = recorder(answer("1.1", &upstream_body));
    let gw = gateway(
        &dir.0,
        &format!(
            "{COMMUNITY}\n[responses]\nhold_bytes = 2048\n\n[[upstream]]\nname = \"up\"\nurl = \"http://127.0.0.1:{}\"\n\n{}",
            rec.port,
            route("/services/poll", "up", "")
        ),
    );
    let (_, body) = post(
        gw.port,
        "/services/poll",
        "1.1",
        &poll("1.1", "community-indicators"),
    );
    assert!(
        !body.contains("SignatureValue"),
        "a rewritten signed answer was completed"
    );
    let rec0 = &gw.records(1)[0];
    assert_eq!(rec0["signed"], "refused", "{rec0}");
    assert_eq!(rec0["decision"], "response_refused", "{rec0}");
    // Here nothing had left when the signature showed: the partner gets a FAILURE instead.
    if !body.is_empty() {
        assert!(body.contains("status_type=\"FAILURE\""), "{body}");
    }
}
