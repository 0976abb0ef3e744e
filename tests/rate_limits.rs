//! Rate limits answer in the requester's dialect: Draft 1 429 + PENDING, 1.0 RETRY with a
//! timestamp, 1.1 RETRY with ESTIMATED_WAIT seconds; all with Retry-After.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Stdio};

mod common;
use common::{free_port, wait_for, Proc};

const BIN: &str = env!("CARGO_BIN_EXE_taxii-gateway");

/// curl -i: (status, head, body).
fn curl(args: &[&str]) -> (u16, String, String) {
    let out = Command::new("curl")
        .args(["-s", "-i", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

fn post(url: &str, version: &str, body: &str) -> (u16, String, String) {
    curl(&[
        "-H",
        "Content-Type: application/xml",
        "-H",
        &format!("X-TAXII-Content-Type: urn:taxii.mitre.org:message:xml:{version}"),
        "-H",
        "X-TAXII-Protocol: urn:taxii.mitre.org:protocol:http:1.0",
        "-H",
        &format!("X-TAXII-Services: urn:taxii.mitre.org:services:{version}"),
        "--data-binary",
        body,
        url,
    ])
}

#[test]
fn over_the_limit_every_dialect_is_told_when_to_come_back() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (up, gw) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("tg-rate-{}-{gw}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = format!(
        "[server]\npid_file = \"{}\"\ngrace_period_seconds = 0\n[[listener]]\naddress = \"127.0.0.1:{gw}\"\n\
         [[upstream]]\nname = \"sample\"\nurl = \"http://127.0.0.1:{up}\"\n\
         [limits]\nglobal = {{ per_second = 0.1, burst = 2 }}\n",
        dir.join("pid").display()
    );
    for path in ["discovery", "poll"] {
        config.push_str(&format!(
            "[[route]]\npath = \"/services/{path}\"\nupstream = \"sample\"\n"
        ));
    }
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
    let base = format!("http://127.0.0.1:{gw}/services");
    let d11 = r#"<Discovery_Request xmlns="http://taxii.mitre.org/messages/taxii_xml_binding-1.1" message_id="urn:x:1"/>"#;
    let d10 = r#"<Discovery_Request xmlns="http://taxii.mitre.org/messages/taxii_xml_binding-1" message_id="41"/>"#;

    // The burst passes.
    for _ in 0..2 {
        let (st, _, body) = post(&format!("{base}/discovery"), "1.1", d11);
        assert!(st == 200 && body.contains("Discovery_Response"), "{body}");
    }
    // 1.1: RETRY with ESTIMATED_WAIT seconds.
    let (st, head, body) = post(&format!("{base}/discovery"), "1.1", d11);
    assert_eq!(st, 200, "{body}");
    assert!(
        body.contains("status_type=\"RETRY\"") && body.contains("<Detail name=\"ESTIMATED_WAIT\">"),
        "{body}"
    );
    assert!(head.contains("retry-after: "), "{head}");
    // 1.0: RETRY with a timestamp.
    let (st, head, body) = post(&format!("{base}/discovery"), "1.0", d10);
    assert_eq!(st, 200, "{body}");
    assert!(
        body.contains("status_type=\"RETRY\"") && body.contains("<Status_Detail>20"),
        "{body}"
    );
    assert!(head.contains("retry-after: "), "{head}");
    // Draft 1: 429 with PENDING.
    let (st, head, body) = curl(&[
        "-H",
        "X-TAXII-Protocol: TAXII_HTTP_BINDING_1.0",
        &format!("{base}/discovery?message_type=discovery_request&message_id=a1"),
    ]);
    assert_eq!(st, 429, "{body}");
    assert!(body.contains("error-type=\"PENDING\""), "{body}");
    assert!(head.contains("retry-after: "), "{head}");
}
