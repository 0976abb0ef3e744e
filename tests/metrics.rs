//! The admin listener: `/metrics` in Prometheus text with the exchanges counted, `/healthz`,
//! `/readyz`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Stdio};

mod common;
use common::{free_port, wait_for, Proc};

const BIN: &str = env!("CARGO_BIN_EXE_taxii-gateway");

fn get(url: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10", url])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn post11(url: &str, body: &str) {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "--max-time", "10"])
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
        .status()
        .expect("curl");
    assert!(out.success());
}

/// The value of the one sample of `name` whose labels include every `labels` pair.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| labels.iter().all(|p| l.contains(p)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn exchanges_are_counted_and_scraped() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (up, gw, admin) = (free_port(), free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("tg-metrics-{}-{gw}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = format!(
        "[server]\npid_file = \"{}\"\ngrace_period_seconds = 0\n[admin]\naddress = \"127.0.0.1:{admin}\"\n\
         [[listener]]\naddress = \"127.0.0.1:{gw}\"\n\
         [[upstream]]\nname = \"sample\"\nurl = \"http://127.0.0.1:{up}\"\n\
         [[route]]\npath = \"/services/poll\"\nupstream = \"sample\"\n",
        dir.join("pid").display()
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
    wait_for(admin);
    // The first probe of the upstream makes the gateway ready.
    let start = std::time::Instant::now();
    while get(&format!("http://127.0.0.1:{admin}/readyz")) != "ready\n"
        && start.elapsed() < std::time::Duration::from_secs(10)
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let ns = "http://taxii.mitre.org/messages/taxii_xml_binding-1.1";
    let url = format!("http://127.0.0.1:{gw}/services/poll");
    post11(
        &url,
        &format!(
            r#"<Poll_Request xmlns="{ns}" message_id="urn:x:1" collection_name="indicators"><Poll_Parameters/></Poll_Request>"#
        ),
    );
    post11(
        &url,
        &format!(
            r#"<!DOCTYPE x><Poll_Request xmlns="{ns}" message_id="urn:x:2" collection_name="x"/>"#
        ),
    );

    let text = get(&format!("http://127.0.0.1:{admin}/metrics"));
    let forwarded = sample(
        &text,
        "taxii_gateway_requests_total",
        &[
            "decision=\"forwarded\"",
            "message=\"Poll_Request\"",
            "dialect=\"1.1\"",
        ],
    );
    assert_eq!(forwarded, Some(1.0), "{text}");
    assert_eq!(
        sample(
            &text,
            "taxii_gateway_requests_total",
            &["decision=\"refused\""]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "taxii_gateway_rejections_total",
            &["kind=\"doctype\""]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "taxii_gateway_request_duration_seconds_count",
            &["dialect=\"1.1\""]
        ),
        Some(2.0),
        "{text}"
    );
    assert!(
        sample(&text, "taxii_gateway_response_bytes_total", &[]).unwrap() > 0.0,
        "{text}"
    );
    assert_eq!(get(&format!("http://127.0.0.1:{admin}/healthz")), "ok\n");
    assert_eq!(get(&format!("http://127.0.0.1:{admin}/readyz")), "ready\n");
    assert_eq!(
        sample(&text, "taxii_gateway_upstream_up", &["upstream=\"sample\""]),
        Some(1.0),
        "{text}"
    );
}

/// `/readyz` says 503 and names the upstream while it does not answer its probes, and turns
/// ready once it does (probes every second here).
#[test]
fn readyz_follows_the_upstream_probes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (up, gw, admin) = (free_port(), free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("tg-readyz-{}-{gw}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = format!(
        "[server]\npid_file = \"{}\"\ngrace_period_seconds = 0\n\
         [admin]\naddress = \"127.0.0.1:{admin}\"\nprobe_interval_seconds = 1\n\
         [[listener]]\naddress = \"127.0.0.1:{gw}\"\n\
         [[upstream]]\nname = \"sample\"\nurl = \"http://127.0.0.1:{up}\"\nconnect_timeout_ms = 500\n\
         [[route]]\npath = \"/services/poll\"\nupstream = \"sample\"\n",
        dir.join("pid").display()
    );
    std::fs::write(dir.join("gw.toml"), config).unwrap();
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
    wait_for(admin);
    let status = |path: &str| {
        let out = Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}", "--max-time", "10"])
            .arg(format!("http://127.0.0.1:{admin}{path}"))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Before its first probe the upstream is "not probed yet" (also not ready); wait for a
    // probe's own verdict.
    let until = |want: &str| {
        let start = std::time::Instant::now();
        loop {
            let got = status("/readyz");
            if (got.ends_with(want) && !got.contains("not probed yet"))
                || start.elapsed() > std::time::Duration::from_secs(15)
            {
                return got;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    let down = until("503");
    assert!(down.ends_with("503"), "{down}");
    assert!(down.contains("upstream sample"), "{down}");
    assert_eq!(status("/healthz"), "ok\n\n200");
    let text = get(&format!("http://127.0.0.1:{admin}/metrics"));
    assert_eq!(
        sample(&text, "taxii_gateway_upstream_up", &["upstream=\"sample\""]),
        Some(0.0),
        "{text}"
    );

    let _up = Proc(
        Command::new(BIN)
            .args(["sample-upstream", "--listen", &format!("127.0.0.1:{up}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(up);
    let ready = until("200");
    assert_eq!(ready, "ready\n\n200");
}
