//! contrib/: the systemd unit's commands are real commands of this binary, and the logrotate
//! rule signals the way the gateway reopens its audit file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_taxii-gateway");

fn unit() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(root.join("contrib/systemd/taxii-gateway.service")).unwrap()
}

fn value<'a>(unit: &'a str, key: &str) -> &'a str {
    unit.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("the unit has no {key}="))
}

/// `ExecStartPre` (check) accepts the OpenTAXII example configuration, and `ExecStart` is the
/// `run` subcommand with the same configuration.
#[test]
fn the_unit_runs_this_binarys_commands() {
    let unit = unit();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pre: Vec<&str> = value(&unit, "ExecStartPre").split_whitespace().collect();
    let start: Vec<&str> = value(&unit, "ExecStart").split_whitespace().collect();
    assert_eq!(pre[0], "/usr/local/bin/taxii-gateway");
    assert_eq!(start[0], "/usr/local/bin/taxii-gateway");
    assert_eq!(&pre[1..3], ["check", "--config"]);
    assert_eq!(&start[1..3], ["run", "--config"]);
    assert_eq!(pre[3], start[3], "check and run read the same file");
    let out = Command::new(BIN)
        .args(&pre[1..3])
        .arg(root.join("config/opentaxii.toml"))
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Reload is SIGHUP, stop is SIGTERM (graceful, audit flushed).
    assert_eq!(value(&unit, "ExecReload"), "/bin/kill -HUP $MAINPID");
    assert_eq!(value(&unit, "KillSignal"), "SIGTERM");
}

#[test]
fn logrotate_signals_usr1_and_never_truncates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rule = std::fs::read_to_string(root.join("contrib/logrotate.d/taxii-gateway")).unwrap();
    let active: Vec<&str> = rule
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    assert!(active
        .iter()
        .any(|l| l.contains("kill -s USR1 taxii-gateway.service")));
    assert!(!active.iter().any(|l| l.contains("copytruncate")));
    assert!(active.contains(&"nocompress"));
}
