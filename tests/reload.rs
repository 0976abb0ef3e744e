//! SIGHUP reload, 50 times while requests run: a valid change is in force right after its reload, an invalid one is refused
//! (the running snapshot stays), and requests running meanwhile never fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::{free_port, wait_for, Proc};

const BIN: &str = env!("CARGO_BIN_EXE_taxii-gateway");

/// (HTTP status, status_type or message name) of a 1.1 poll of `feed`.
fn poll(port: u16, feed: &str) -> (u16, String) {
    let body = format!(
        r#"<Poll_Request xmlns="http://taxii.mitre.org/messages/taxii_xml_binding-1.1" message_id="urn:x:1" collection_name="{feed}"><Poll_Parameters/></Poll_Request>"#
    );
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "--max-time", "10"])
        .args(["-H", "Content-Type: application/xml"])
        .args([
            "-H",
            "X-TAXII-Content-Type: urn:taxii.mitre.org:message:xml:1.1",
        ])
        .args([
            "-H",
            "X-TAXII-Protocol: urn:taxii.mitre.org:protocol:http:1.0",
        ])
        .args(["-H", "X-TAXII-Services: urn:taxii.mitre.org:services:1.1"])
        .args([
            "--data-binary",
            &body,
            &format!("http://127.0.0.1:{port}/services/poll"),
        ])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    let what = if body.contains("Poll_Response") {
        "Poll_Response".to_string()
    } else if let Some(i) = body.find("status_type=\"") {
        body[i + 13..].split('"').next().unwrap_or("").to_string()
    } else {
        body.to_string()
    };
    (code.trim().parse().unwrap_or(0), what)
}

fn policy(feed: &str) -> String {
    format!("[anonymous]\n[[anonymous.grant]]\nfeeds = [\"{feed}\"]\nactions = [\"poll\"]\n")
}

#[test]
fn reloads_take_valid_changes_refuse_invalid_ones_and_drop_nothing() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (up, gw, admin) = (free_port(), free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("tg-reload-{}-{gw}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy_path = dir.join("policy.toml");
    std::fs::write(&policy_path, policy("indicators")).unwrap();
    let pid_file = dir.join("gw.pid");
    let config = format!(
        "policies = [\"{}\"]\n[server]\npid_file = \"{}\"\ngrace_period_seconds = 0\n[admin]\naddress = \"127.0.0.1:{admin}\"\n[[listener]]\naddress = \"127.0.0.1:{gw}\"\n\
         [[upstream]]\nname = \"sample\"\nurl = \"http://127.0.0.1:{up}\"\n\
         [[route]]\npath = \"/services/poll\"\nupstream = \"sample\"\n",
        policy_path.display(),
        pid_file.display()
    );
    std::fs::write(dir.join("gw.toml"), config).unwrap();
    let _up = Proc(
        Command::new(BIN)
            .args(["sample-upstream", "--listen", &format!("127.0.0.1:{up}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let log_path = dir.join("gw.log");
    let _gw = Proc(
        Command::new(BIN)
            .args(["run", "--config"])
            .arg(dir.join("gw.toml"))
            .current_dir(root)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for(up);
    wait_for(gw);
    wait_for(admin);
    let start = Instant::now();
    while !pid_file.exists() {
        assert!(start.elapsed() < Duration::from_secs(10), "no pid file");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(poll(gw, "indicators"), (200, "Poll_Response".to_string()));
    assert_eq!(poll(gw, "malware"), (200, "UNAUTHORIZED".to_string()));

    // Requests run continuously while the policy is reloaded.
    let stop = Arc::new(AtomicBool::new(false));
    let (done, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load: Vec<_> = (0..2)
        .map(|_| {
            let (stop, done, failed) = (stop.clone(), done.clone(), failed.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let (status, what) = poll(gw, "phishing");
                    // Allowed or refused by policy, but always a TAXII answer in a 200.
                    if status != 200 || !(what == "Poll_Response" || what == "UNAUTHORIZED") {
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    // The reloads by result, from /metrics: a reload has been handled once its count moved.
    let reloads = |result: &str| -> u64 {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "10"])
            .arg(format!("http://127.0.0.1:{admin}/metrics"))
            .output()
            .expect("curl");
        let needle = format!("taxii_gateway_reloads_total{{result=\"{result}\"}} ");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| {
                l.strip_prefix(&needle)
                    .map(|v| v.trim().parse().unwrap_or(0))
            })
            .unwrap_or(0)
    };
    let reload = |result: &str| {
        let before = reloads(result);
        let out = Command::new(BIN)
            .args(["reload", "--pid-file"])
            .arg(&pid_file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let start = Instant::now();
        while reloads(result) == before {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "no {result} reload counted"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    // Broken in different ways, each with where it is broken.
    let invalid = [
        (
            "[anonymous]\n[[anonymous.grant]]\nactions = [\"fly\"]\n",
            "policy.toml:3",
        ),
        ("[anonymous]\n[[anonymous.grant]\n", "policy.toml:2"),
        (
            "[anonymous]\nratee = 3\n[[anonymous.grant]]\nactions = [\"poll\"]\n",
            "policy.toml:2",
        ),
    ];
    let feeds = ["malware", "phishing", "indicators"];
    let mut in_force = "indicators";
    let (mut valid_count, mut invalid_count) = (0, 0);
    for i in 0..50 {
        if i % 3 == 2 {
            // An invalid one: refused, the running snapshot stays, the log says where.
            let (text, place) = invalid[invalid_count % invalid.len()];
            invalid_count += 1;
            std::fs::write(&policy_path, text).unwrap();
            reload("error");
            assert_eq!(
                poll(gw, in_force).1,
                "Poll_Response",
                "invalid reload {i} was taken"
            );
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            assert!(
                log.lines()
                    .filter(|l| l.contains("reload refused"))
                    .nth(invalid_count - 1)
                    .is_some_and(|l| l.contains(place)),
                "reload {i}: the refusal does not name {place}:\n{log}"
            );
        } else {
            // A valid change, in force on the very next request after its reload.
            let feed = feeds[valid_count % feeds.len()];
            let old = in_force;
            valid_count += 1;
            std::fs::write(&policy_path, policy(feed)).unwrap();
            reload("ok");
            assert_eq!(
                poll(gw, feed).1,
                "Poll_Response",
                "reload {i} of {feed} not in force"
            );
            if old != feed {
                assert_eq!(
                    poll(gw, old).1,
                    "UNAUTHORIZED",
                    "reload {i}: {old} still allowed"
                );
            }
            in_force = feed;
        }
    }
    assert_eq!((valid_count, invalid_count), (34, 16));
    stop.store(true, Ordering::SeqCst);
    for l in load {
        l.join().unwrap();
    }
    assert!(done.load(Ordering::SeqCst) > 50, "the load ran");
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "requests failed during reloads"
    );
    assert_eq!(reloads("ok"), 34);
    assert_eq!(reloads("error"), 16);
}

/// A reload that changes a listener: the rest of the snapshot is taken, the listener change
/// is reported as needing a restart, and the running listeners stay as they were.
#[test]
fn listener_changes_are_reported_as_needing_a_restart() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (up, gw, other) = (free_port(), free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("tg-reload-listen-{}-{gw}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy_path = dir.join("policy.toml");
    std::fs::write(&policy_path, policy("indicators")).unwrap();
    let pid_file = dir.join("gw.pid");
    let config = |listen: u16| {
        format!(
            "policies = [\"{}\"]\n[server]\npid_file = \"{}\"\ngrace_period_seconds = 0\n[[listener]]\naddress = \"127.0.0.1:{listen}\"\n\
             [[upstream]]\nname = \"sample\"\nurl = \"http://127.0.0.1:{up}\"\n\
             [[route]]\npath = \"/services/poll\"\nupstream = \"sample\"\n",
            policy_path.display(),
            pid_file.display()
        )
    };
    std::fs::write(dir.join("gw.toml"), config(gw)).unwrap();
    let _up = Proc(
        Command::new(BIN)
            .args(["sample-upstream", "--listen", &format!("127.0.0.1:{up}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let log_path = dir.join("gw.log");
    let _gw = Proc(
        Command::new(BIN)
            .args(["run", "--config"])
            .arg(dir.join("gw.toml"))
            .current_dir(root)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for(up);
    wait_for(gw);
    while !pid_file.exists() {
        std::thread::sleep(Duration::from_millis(20));
    }
    // A new listener address and a new policy in the same reload.
    std::fs::write(dir.join("gw.toml"), config(other)).unwrap();
    std::fs::write(&policy_path, policy("malware")).unwrap();
    let out = Command::new(BIN)
        .args(["reload", "--pid-file"])
        .arg(&pid_file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let start = Instant::now();
    while poll(gw, "malware").1 != "Poll_Response" {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the new policy was not taken"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        log.contains("listener changes take effect only after a restart"),
        "{log}"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", other)).is_err(),
        "a listener was opened without a restart"
    );
}
