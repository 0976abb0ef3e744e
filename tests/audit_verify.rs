//! `taxii-gateway audit verify`, the real binary, on files the library writes: an intact
//! chain across two rotated files, and tamper detection (a changed byte, a deleted line, two
//! lines swapped, a truncated last line), each named at its line, with exit 1.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use taxii_gateway::audit::{last_line_hash, AuditRecord, Chain};

const BIN: &str = env!("CARGO_BIN_EXE_taxii-gateway");

fn record(i: usize) -> AuditRecord {
    let denied = i.is_multiple_of(3);
    AuditRecord {
        time: format!("2026-12-04T22:00:{:02}.000Z", i % 60),
        request_id: format!("req-{i:04}"),
        partner: Some(if i.is_multiple_of(2) { "alpha" } else { "beta" }.into()),
        credential: Some("basic".into()),
        client_addr: "192.0.2.7:41000".into(),
        route: Some("/services/inbox".into()),
        dialect: Some("1.0".into()),
        message_type: Some("Inbox_Message".into()),
        message_id: Some(format!("{i}")),
        in_response_to: None,
        feeds: vec!["indicators".into()],
        action: Some("push".into()),
        decision: if denied { "deny" } else { "allow" }.into(),
        reason: denied.then(|| "feed".to_string()),
        upstream_status: (!denied).then_some(200),
        response_message_type: Some("Status_Message".into()),
        response_status_type: Some(if denied { "UNAUTHORIZED" } else { "SUCCESS" }.into()),
        request_bytes: 1000 + i as u64,
        response_bytes: 200,
        content_blocks: Some(1),
        latency_ms: 3,
        content_digests: Vec::new(),
        rewrites: Vec::new(),
        signed: None,
        capture: Vec::new(),
    }
}

/// A fresh directory for one test.
fn dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("audit_verify_{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `n` sealed lines, each with its newline.
fn lines(chain: &mut Chain, from: usize, n: usize) -> Vec<String> {
    (from..from + n)
        .map(|i| format!("{}\n", chain.seal(&record(i))))
        .collect()
}

/// Writes the lines to `dir/name`; returns its path.
fn write(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, lines.concat()).unwrap();
    p
}

fn verify(files: &[&Path]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(["audit", "verify"])
        .args(files)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn intact_chain_across_rotation() {
    let d = dir("intact");
    let mut chain = Chain::genesis();
    let old = write(&d, "audit.jsonl.1", &lines(&mut chain, 0, 5));
    // The writer reopens after rotation: it resumes from the old file's last line.
    let anchor = last_line_hash(&std::fs::read(&old).unwrap()).unwrap();
    let mut chain = Chain::resume(anchor.clone());
    let new = write(&d, "audit.jsonl", &lines(&mut chain, 5, 4));

    let (code, out) = verify(&[&old, &new]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.lines().next().unwrap(),
        format!(
            "ok: 9 records in 2 files, chain intact (last hash {})",
            chain.last_hash()
        )
    );
    assert!(out.contains("anchor: genesis"), "{out}");

    // The newer file alone: intact, anchored on the older file's last hash.
    let (code, out) = verify(&[&new]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("ok: 4 records in 1 files"), "{out}");
    assert!(out.contains(&format!("anchor: {anchor}")), "{out}");

    // The files in the wrong order: the rotation link is broken.
    let (code, out) = verify(&[&new, &old]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with(&format!("broken: {}:1: ", old.display())),
        "{out}"
    );
}

#[test]
fn changed_byte() {
    let d = dir("changed");
    let mut l = lines(&mut Chain::genesis(), 0, 6);
    // One byte of line 3: the partner `alpha` becomes `alphb`.
    assert!(l[2].contains("\"alpha\""));
    l[2] = l[2].replacen("\"alpha\"", "\"alphb\"", 1);
    let p = write(&d, "audit.jsonl", &l);
    let (code, out) = verify(&[&p]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with(&format!("broken: {}:3: changed", p.display())),
        "{out}"
    );
    // In the second of two rotated files.
    let mut chain = Chain::genesis();
    let a = write(&d, "a.jsonl", &lines(&mut chain, 0, 3));
    let mut l = lines(&mut chain, 3, 4);
    l[1] = l[1].replacen("\"req-0004\"", "\"req-0005\"", 1);
    let b = write(&d, "b.jsonl", &l);
    let (code, out) = verify(&[&a, &b]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with(&format!("broken: {}:2: changed", b.display())),
        "{out}"
    );
}

#[test]
fn deleted_line() {
    let d = dir("deleted");
    let mut l = lines(&mut Chain::genesis(), 0, 6);
    l.remove(3); // line 4
    let p = write(&d, "audit.jsonl", &l);
    let (code, out) = verify(&[&p]);
    assert_eq!(code, 1, "{out}");
    // Named at the last intact line before the gap.
    assert!(
        out.starts_with(&format!("broken: {}:3: ", p.display())),
        "{out}"
    );
    assert!(out.contains("deleted"), "{out}");
}

#[test]
fn swapped_lines() {
    let d = dir("swapped");
    let mut l = lines(&mut Chain::genesis(), 0, 6);
    l.swap(3, 4); // lines 4 and 5
    let p = write(&d, "audit.jsonl", &l);
    let (code, out) = verify(&[&p]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with(&format!("broken: {}:4: reordered", p.display())),
        "{out}"
    );
    assert!(out.contains("line 5"), "{out}");
}

#[test]
fn truncated_last_line() {
    let d = dir("truncated");
    let l = lines(&mut Chain::genesis(), 0, 6);
    let mut bytes = l.concat().into_bytes();
    bytes.truncate(bytes.len() - l[5].len() / 2);
    let p = d.join("audit.jsonl");
    std::fs::write(&p, bytes).unwrap();
    let (code, out) = verify(&[&p]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with(&format!("broken: {}:6: truncated", p.display())),
        "{out}"
    );
}

#[test]
fn unreadable_file_and_no_files() {
    let d = dir("unreadable");
    let out = Command::new(BIN)
        .args(["audit", "verify"])
        .arg(d.join("missing.jsonl"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.jsonl"));
    let out = Command::new(BIN)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
}
