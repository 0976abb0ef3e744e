//! Every exchange leaves one audit record, in a hash chain that `audit verify` accepts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{free_port, wait_for, Proc};

const BIN: &str = env!("CARGO_BIN_EXE_taxii-gateway");

fn curl(url: &str, body: &str) -> String {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
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
        .args(["--data-binary", body, url])
        .output()
        .expect("curl is needed for this test");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn each_exchange_is_recorded_in_a_verifiable_chain() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (up, gw) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("tg-audit-{}-{gw}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let audit = dir.join("logs/audit.jsonl");
    let config = format!(
        "[server]\npid_file = \"{}\"\ngrace_period_seconds = 0\n[[listener]]\naddress = \"127.0.0.1:{gw}\"\n\
         [[upstream]]\nname = \"sample\"\nurl = \"http://127.0.0.1:{up}\"\n\
         [[route]]\npath = \"/services/poll\"\nupstream = \"sample\"\n\
         [audit]\nfile = \"{}\"\n",
        dir.join("pid").display(),
        audit.display()
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
    let _gw = Proc(
        Command::new(BIN)
            .args(["run", "--config"])
            .arg(dir.join("gw.toml"))
            .current_dir(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(up);
    wait_for(gw);
    let ns = "http://taxii.mitre.org/messages/taxii_xml_binding-1.1";
    let poll = format!(
        r#"<Poll_Request xmlns="{ns}" message_id="urn:x:1" collection_name="indicators"><Poll_Parameters/></Poll_Request>"#
    );
    assert_eq!(
        curl(&format!("http://127.0.0.1:{gw}/services/poll"), &poll),
        "200"
    );
    let hostile = format!(
        r#"<!DOCTYPE x><Poll_Request xmlns="{ns}" message_id="urn:x:2" collection_name="indicators"/>"#
    );
    assert_eq!(
        curl(&format!("http://127.0.0.1:{gw}/services/poll"), &hostile),
        "200"
    );
    assert_eq!(
        curl(&format!("http://127.0.0.1:{gw}/nowhere"), &poll),
        "404"
    );

    // The writer flushes whenever its queue is empty.
    let start = Instant::now();
    let text = loop {
        let text = std::fs::read_to_string(&audit).unwrap_or_default();
        if text.lines().count() >= 3 || start.elapsed() > Duration::from_secs(10) {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 3, "{text}");
    assert_eq!(records[0]["decision"], "forwarded");
    assert_eq!(records[0]["message_type"], "Poll_Request");
    assert_eq!(records[0]["feeds"][0], "indicators");
    assert_eq!(records[0]["action"], "poll");
    assert_eq!(records[0]["response_message_type"], "Poll_Response");
    assert_eq!(records[0]["upstream_status"], 200);
    assert_eq!(records[1]["decision"], "refused");
    assert!(
        records[1]["reason"].as_str().unwrap().contains("doctype"),
        "{text}"
    );
    assert_eq!(records[2]["route"], serde_json::Value::Null);

    let out = Command::new(BIN)
        .args(["audit", "verify"])
        .arg(&audit)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.starts_with("ok: 3 records"),
        "{said}"
    );
}

/// logrotate's way: the file is moved away, SIGUSR1 makes the gateway open a new one, and the
/// two files form one chain. SIGTERM: every exchange answered before it is in the file when
/// the process has exited.
#[test]
fn sigusr1_reopens_the_file_and_sigterm_leaves_every_record_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (up, gw) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("tg-audit-rot-{}-{gw}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let audit = dir.join("audit.jsonl");
    let rotated = dir.join("audit.jsonl.1");
    let config = format!(
        "[server]\npid_file = \"{}\"\ngrace_period_seconds = 0\n[[listener]]\naddress = \"127.0.0.1:{gw}\"\n\
         [[upstream]]\nname = \"sample\"\nurl = \"http://127.0.0.1:{up}\"\n\
         [[route]]\npath = \"/services/poll\"\nupstream = \"sample\"\n\
         [audit]\nfile = \"{}\"\nwhen_full = \"block\"\n",
        dir.join("pid").display(),
        audit.display()
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
    let mut gateway = Command::new(BIN)
        .args(["run", "--config"])
        .arg(dir.join("gw.toml"))
        .current_dir(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(up);
    wait_for(gw);
    let url = format!("http://127.0.0.1:{gw}/services/poll");
    let poll = |n: usize| {
        format!(
            r#"<Poll_Request xmlns="http://taxii.mitre.org/messages/taxii_xml_binding-1.1" message_id="urn:x:{n}" collection_name="indicators"><Poll_Parameters/></Poll_Request>"#
        )
    };
    let lines = |p: &Path| {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .count()
    };
    for n in 0..5 {
        assert_eq!(curl(&url, &poll(n)), "200");
    }
    let start = Instant::now();
    while lines(&audit) < 5 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(lines(&audit), 5);

    std::fs::rename(&audit, &rotated).unwrap();
    let pid = gateway.id().to_string();
    assert!(Command::new("kill")
        .args(["-USR1", &pid])
        .status()
        .unwrap()
        .success());
    let start = Instant::now();
    while !audit.exists() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(audit.exists(), "SIGUSR1 did not reopen {}", audit.display());

    for n in 5..25 {
        assert_eq!(curl(&url, &poll(n)), "200");
    }
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = gateway.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the gateway did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    assert_eq!(lines(&rotated), 5);
    assert_eq!(lines(&audit), 20, "records lost at SIGTERM");

    let out = Command::new(BIN)
        .args(["audit", "verify"])
        .arg(&rotated)
        .arg(&audit)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.starts_with("ok: 25 records"),
        "{said}"
    );
    // The new file alone: its first line anchors on the rotated file's last line.
    let last = std::fs::read(&rotated).unwrap();
    let last = last.strip_suffix(b"\n").unwrap();
    let last = &last[last.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)..];
    let hash = taxii_gateway::audit::sha256_hex(last);
    let out = Command::new(BIN)
        .args(["audit", "verify"])
        .arg(&audit)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(&format!(
            "anchor: {hash} (the last line of an earlier file)"
        )),
        "{said}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
