//! The README's first command: `taxii-gateway demo` starts the sample upstream and the gateway,
//! and the curl commands it prints work as printed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{free_port, Proc};

#[test]
fn demo_starts_and_its_commands_work() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (gw, up) = (free_port(), free_port());
    let text = std::fs::read_to_string(root.join("config/demo.toml"))
        .unwrap()
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{gw}"))
        .replace("127.0.0.1:8081", &format!("127.0.0.1:{up}"));
    let dir = std::env::temp_dir().join(format!("tg-demo-{}-{gw}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("demo.toml");
    std::fs::write(
        &config,
        text.replace(
            "[server]",
            &format!("[server]\npid_file = \"{}\"", dir.join("pid").display()),
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_taxii-gateway"))
        .args(["demo", "--config"])
        .arg(&config)
        .current_dir(root)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _guard = Proc(child);

    // Read what demo prints, up to its last line.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut printed = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let last = line.contains("Ctrl-C stops it");
            printed.push_str(&line);
            printed.push('\n');
            if last {
                break;
            }
        }
        let _ = tx.send(printed);
    });
    let printed = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("demo prints its commands");
    assert!(
        printed.contains(&format!("http://127.0.0.1:{gw}")),
        "{printed}"
    );

    // The commands: each starts with `curl` and goes on over lines ending in `\`.
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in printed.lines() {
        if line.starts_with("curl") || !current.is_empty() {
            current.push_str(line.trim_end_matches('\\'));
            current.push(' ');
            if !line.ends_with('\\') {
                commands.push(std::mem::take(&mut current));
            }
        }
    }
    assert_eq!(commands.len(), 4, "{printed}");
    let want = [
        "<TAXII_DiscoveryResponse",
        "Feed_Information_Response",
        "Poll_Response",
        "status_type=\"BAD_MESSAGE\"",
    ];
    let start = Instant::now();
    for (cmd, want) in commands.iter().zip(want) {
        let out = loop {
            let out = Command::new("bash")
                .arg("-c")
                .arg(format!("{cmd} --max-time 10"))
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            // The upstream and the gateway start together: retry until both listen.
            if !text.is_empty() || start.elapsed() > Duration::from_secs(20) {
                break text;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(out.contains(want), "`{cmd}` answered:\n{out}");
    }
}
