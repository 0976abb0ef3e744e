//! The audit log, pure part: one JSON object per line per exchange, hash-chained.
//!
//! Each line is the record's JSON object with a leading `"prev"` field: the SHA-256 (64
//! lowercase hex digits) of the previous line's exact bytes, without its newline. The first
//! line of a new log anchors on 64 zeros ([`GENESIS`]); the first line of a rotated file
//! anchors on the last line of the file before it, so the files of one log form one chain.
//! [`verify`] checks such a chain and names the first broken line.
//!
//! Writing (the queue, the file, rotation on SIGUSR1) lives elsewhere; this module only
//! seals records into lines and checks lines.

#[cfg(feature = "gateway")]
pub mod capture;
#[cfg(feature = "gateway")]
pub mod writer;

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The anchor of a new chain: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One exchange, as the audit log records it (DESIGN.md, "Audit record").
///
/// Fields are serialized in declaration order; absent values are `null` so that every line
/// has the same keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When the exchange started, RFC 3339 UTC (see [`rfc3339_utc`]).
    pub time: String,
    pub request_id: String,
    /// The partner id (`anonymous` without credentials), if identification got that far.
    pub partner: Option<String>,
    /// How the partner was identified: `basic`, `bearer`, `certificate`, `none`.
    pub credential: Option<String>,
    /// The client address (`ip:port`).
    pub client_addr: String,
    /// The route path the request was sent to.
    pub route: Option<String>,
    /// `draft1`, `1.0`, `1.1`, if the message was recognised.
    pub dialect: Option<String>,
    pub message_type: Option<String>,
    pub message_id: Option<String>,
    pub in_response_to: Option<String>,
    #[serde(default)]
    pub feeds: Vec<String>,
    /// The policy action (`discover`, `poll`, `push`, ...).
    pub action: Option<String>,
    /// `forwarded`, `refused` (by the gateway: rejected, denied, rate limited, unauthenticated;
    /// `reason` says why), `response_refused` (the upstream's answer was refused), `error`.
    pub decision: String,
    /// Why it was denied or rejected.
    pub reason: Option<String>,
    /// The upstream's HTTP status, if the request reached it.
    pub upstream_status: Option<u16>,
    pub response_message_type: Option<String>,
    pub response_status_type: Option<String>,
    pub request_bytes: u64,
    pub response_bytes: u64,
    /// Content blocks of the push (inbox messages) or of the answer (everything else).
    pub content_blocks: Option<u64>,
    pub latency_ms: u64,
    /// The SHA-256 (hex) of each content block of a push (as the partner sent it) or of a poll
    /// answer (as the partner received it), exactly as on the wire, in document order.
    #[serde(default)]
    pub content_digests: Vec<String>,
    /// The operator's rewrites applied to the exchange, in words (virtual feed names, header
    /// rules, push message, poll window).
    #[serde(default)]
    pub rewrites: Vec<String>,
    /// A signed message a rule would have changed: `refused` or `passed_unchanged`.
    #[serde(default)]
    pub signed: Option<String>,
    /// The captured messages' file names in the capture directory (`<request_id>.request.xml`,
    /// `<request_id>.response.xml`), or why one was not captured.
    #[serde(default)]
    pub capture: Vec<String>,
}

/// SHA-256 of `bytes`, as 64 lowercase hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A time as RFC 3339 UTC with milliseconds: `2026-12-04T22:21:31.123Z`.
pub fn rfc3339_utc(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Days to civil date (Howard Hinnant's algorithm), for days since 1970-01-01 >= 0.
    let z = days as i64 + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// The state of a hash chain: the hash of the last line written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    last_hash: String,
}

impl Chain {
    /// A new chain, anchored on [`GENESIS`].
    pub fn genesis() -> Chain {
        Chain {
            last_hash: GENESIS.to_string(),
        }
    }

    /// A chain that continues after a line whose hash is `last_hash` (e.g. the last line of
    /// the file before a rotation, from [`last_line_hash`]).
    pub fn resume(last_hash: impl Into<String>) -> Chain {
        Chain {
            last_hash: last_hash.into(),
        }
    }

    /// The hash the next line will carry as `prev`.
    pub fn last_hash(&self) -> &str {
        &self.last_hash
    }

    /// Seals `record` into one line (without its newline: the writer appends `\n`):
    /// `{"prev":"<last hash>",<the record's fields>}`, and moves the chain onto it.
    pub fn seal(&mut self, record: &AuditRecord) -> String {
        // A struct of named fields always serializes to a non-empty object: `{"time":...}`.
        let body = serde_json::to_string(record).unwrap_or_else(|_| "{}".to_string());
        let rest = body.strip_prefix('{').unwrap_or(&body);
        let mut line = String::with_capacity(body.len() + 80);
        line.push_str("{\"prev\":\"");
        line.push_str(&self.last_hash);
        line.push('"');
        if rest != "}" {
            line.push(',');
        }
        line.push_str(rest);
        self.last_hash = sha256_hex(line.as_bytes());
        line
    }
}

/// The hash of the last complete line of an audit file (the anchor for the next file), or
/// `None` when it holds no complete line.
pub fn last_line_hash(bytes: &[u8]) -> Option<String> {
    let body = bytes.strip_suffix(b"\n")?;
    let start = body.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line = &body[start..];
    (!line.is_empty()).then(|| sha256_hex(line))
}

/// An intact chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Lines (records) checked, over all files.
    pub records: usize,
    pub files: usize,
    /// The `prev` of the very first line ([`GENESIS`] for a log that starts there, else the
    /// last hash of a file not given), `None` without records.
    pub anchor: Option<String>,
    /// The hash of the last line: the anchor of the next file. `None` without records.
    pub last_hash: Option<String>,
}

impl VerifyReport {
    /// Whether the chain starts at [`GENESIS`].
    pub fn from_genesis(&self) -> bool {
        self.anchor.as_deref() == Some(GENESIS)
    }
}

/// What is wrong with the first broken line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Break {
    /// Not a JSON object (or not UTF-8).
    NotJson,
    /// A JSON object without a `prev` of 64 lowercase hex digits.
    NoPrev,
    /// An empty line.
    Empty,
    /// The last line of a file has no newline: a write cut short.
    Truncated,
    /// The line's hash is not what the next line was chained to: the line was changed (or
    /// the line after it deleted; the chain cannot tell these apart).
    Changed,
    /// The line is chained after a later line, or after an earlier line than the one before
    /// it: lines were reordered, or lines inserted.
    Reordered,
    /// The first line of a file is not chained to the last line of the file before it.
    Rotation,
}

impl Break {
    pub fn as_str(self) -> &'static str {
        match self {
            Break::NotJson => "not_json",
            Break::NoPrev => "no_prev",
            Break::Empty => "empty",
            Break::Truncated => "truncated",
            Break::Changed => "changed",
            Break::Reordered => "reordered",
            Break::Rotation => "rotation",
        }
    }
}

/// The first broken line: `file:line: why`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    pub file: String,
    /// 1-based.
    pub line: usize,
    pub kind: Break,
    pub why: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.why)
    }
}

impl std::error::Error for VerifyError {}

struct Line<'a> {
    file: usize,
    /// 1-based within its file.
    number: usize,
    bytes: &'a [u8],
    hash: String,
    /// The last line of its file, without a newline.
    unterminated: bool,
}

/// Checks the files, in order, as one chain: within a file each line's `prev` is the hash of
/// the line before it; the first line of each file after the first is chained to the last
/// line of the file before it; the very first line may anchor on anything (reported as
/// [`VerifyReport::anchor`]). Empty files are allowed (a file just rotated).
pub fn verify<N: AsRef<str>, B: AsRef<[u8]>>(
    files: &[(N, B)],
) -> Result<VerifyReport, VerifyError> {
    let mut lines: Vec<Line> = Vec::new();
    for (f, (_, bytes)) in files.iter().enumerate() {
        let bytes = bytes.as_ref();
        if bytes.is_empty() {
            continue;
        }
        let terminated = bytes.ends_with(b"\n");
        let body = if terminated {
            &bytes[..bytes.len() - 1]
        } else {
            bytes
        };
        let count = body.split(|&b| b == b'\n').count();
        for (i, l) in body.split(|&b| b == b'\n').enumerate() {
            lines.push(Line {
                file: f,
                number: i + 1,
                bytes: l,
                hash: sha256_hex(l),
                unterminated: !terminated && i + 1 == count,
            });
        }
    }
    let name = |f: usize| files[f].0.as_ref().to_string();
    let err = |l: &Line, kind: Break, why: String| VerifyError {
        file: name(l.file),
        line: l.number,
        kind,
        why,
    };
    let at = |l: &Line, from: usize| {
        if l.file == from {
            format!("line {}", l.number)
        } else {
            format!("{}:{}", name(l.file), l.number)
        }
    };

    for (k, line) in lines.iter().enumerate() {
        if line.unterminated {
            return Err(err(
                line,
                Break::Truncated,
                "truncated: the last line has no newline (a write cut short)".into(),
            ));
        }
        if line.bytes.is_empty() {
            return Err(err(line, Break::Empty, "empty line".into()));
        }
        let value: serde_json::Value = match serde_json::from_slice(line.bytes) {
            Ok(v) => v,
            Err(e) => return Err(err(line, Break::NotJson, format!("not JSON: {e}"))),
        };
        let Some(object) = value.as_object() else {
            return Err(err(line, Break::NotJson, "not a JSON object".into()));
        };
        let prev = match object.get("prev").and_then(|p| p.as_str()) {
            Some(p) if is_sha256_hex(p) => p,
            Some(_) => {
                return Err(err(
                    line,
                    Break::NoPrev,
                    "`prev` is not a SHA-256 (64 lowercase hex digits)".into(),
                ))
            }
            None => return Err(err(line, Break::NoPrev, "no `prev` field".into())),
        };
        let Some(before) = k.checked_sub(1).map(|j| &lines[j]) else {
            continue; // the very first line: any anchor
        };
        if prev == before.hash {
            continue;
        }
        // Broken between `before` and `line`: say how.
        if let Some(later) = lines[k + 1..].iter().find(|l| l.hash == prev) {
            return Err(err(
                line,
                Break::Reordered,
                format!(
                    "reordered: chained after {}, a line that comes later",
                    at(later, line.file)
                ),
            ));
        }
        if let Some(earlier) = lines[..k].iter().find(|l| l.hash == prev) {
            return Err(err(
                line,
                Break::Reordered,
                format!(
                    "reordered: chained after {}, not after the line before it (lines moved or inserted)",
                    at(earlier, line.file)
                ),
            ));
        }
        if before.file != line.file {
            return Err(err(
                line,
                Break::Rotation,
                format!(
                    "not chained to the last line of {} (a file missing or out of order between them, or that line changed)",
                    name(before.file)
                ),
            ));
        }
        return Err(err(
            before,
            Break::Changed,
            format!(
                "changed, or the line after it deleted: its SHA-256 is not the `prev` of line {}",
                line.number
            ),
        ));
    }

    let anchor = lines.first().and_then(|l| {
        serde_json::from_slice::<serde_json::Value>(l.bytes)
            .ok()?
            .get("prev")?
            .as_str()
            .map(str::to_string)
    });
    Ok(VerifyReport {
        records: lines.len(),
        files: files.len(),
        anchor,
        last_hash: lines.last().map(|l| l.hash.clone()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn record(i: usize) -> AuditRecord {
        AuditRecord {
            time: format!("2026-12-04T22:00:{:02}.000Z", i % 60),
            request_id: format!("req-{i}"),
            partner: Some("alpha".into()),
            credential: Some("bearer".into()),
            client_addr: "127.0.0.1:50000".into(),
            route: Some("/services/poll".into()),
            dialect: Some("1.1".into()),
            message_type: Some("Poll_Request".into()),
            message_id: Some(format!("m{i}")),
            in_response_to: None,
            feeds: vec!["indicators".into()],
            action: Some("poll".into()),
            decision: "allow".into(),
            reason: None,
            upstream_status: Some(200),
            response_message_type: Some("Poll_Response".into()),
            response_status_type: None,
            request_bytes: 321,
            response_bytes: 4567,
            content_blocks: Some(3),
            latency_ms: 12,
            content_digests: Vec::new(),
            rewrites: Vec::new(),
            signed: None,
            capture: Vec::new(),
        }
    }

    /// `n` sealed lines, each with its newline.
    fn log(chain: &mut Chain, from: usize, n: usize) -> Vec<String> {
        (from..from + n)
            .map(|i| format!("{}\n", chain.seal(&record(i))))
            .collect()
    }

    fn one(lines: &[String]) -> Vec<(&'static str, Vec<u8>)> {
        vec![("a.jsonl", lines.concat().into_bytes())]
    }

    #[test]
    fn seal_writes_prev_first_and_chains() {
        let mut chain = Chain::genesis();
        let first = chain.seal(&record(1));
        assert!(first.starts_with(&format!("{{\"prev\":\"{GENESIS}\",\"time\":")));
        assert_eq!(chain.last_hash(), sha256_hex(first.as_bytes()));
        let second = chain.seal(&record(2));
        assert!(second.starts_with(&format!("{{\"prev\":\"{}\",", sha256_hex(first.as_bytes()))));
        // Deterministic: the same record on the same chain state gives the same line.
        let mut again = Chain::genesis();
        assert_eq!(again.seal(&record(1)), first);
        // The line is the record plus `prev`.
        let back: AuditRecord = serde_json::from_str(&second).unwrap();
        assert_eq!(back, record(2));
        assert!(!first.contains('\n'));
    }

    #[test]
    fn sha256_of_empty() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn rfc3339() {
        use std::time::{Duration, UNIX_EPOCH};
        assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_251_199_123); // 2024-02-29T23:59:59.123Z
        assert_eq!(rfc3339_utc(t), "2024-02-29T23:59:59.123Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339_utc(t), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn intact_chain_across_rotation() {
        let mut chain = Chain::genesis();
        let a = log(&mut chain, 0, 4);
        let anchor = last_line_hash(a.concat().as_bytes()).unwrap();
        assert_eq!(anchor, chain.last_hash());
        // A writer reopening after rotation resumes from the old file's last line.
        let mut resumed = Chain::resume(anchor);
        let b = log(&mut resumed, 4, 3);
        let files = vec![
            ("a.jsonl", a.concat()),
            ("empty.jsonl", String::new()),
            ("b.jsonl", b.concat()),
        ];
        let report = verify(&files).unwrap();
        assert_eq!(report.records, 7);
        assert_eq!(report.files, 3);
        assert!(report.from_genesis());
        assert_eq!(report.last_hash.as_deref(), Some(resumed.last_hash()));
        // The second file alone anchors on the first's last hash.
        let report = verify(&files[2..]).unwrap();
        let a_last = sha256_hex(a[3].trim_end_matches('\n').as_bytes());
        assert_eq!(report.anchor, Some(a_last));
        assert!(!report.from_genesis());
        // Files in the wrong order.
        let e = verify(&[files[2].clone(), files[0].clone()]).unwrap_err();
        assert_eq!(
            (e.file.as_str(), e.line, e.kind),
            ("a.jsonl", 1, Break::Rotation)
        );
        // A missing file in the middle.
        let mut c = resumed.clone();
        let cfile = log(&mut c, 7, 2).concat();
        let e = verify(&[files[0].clone(), ("c.jsonl", cfile)]).unwrap_err();
        assert_eq!(
            (e.file.as_str(), e.line, e.kind),
            ("c.jsonl", 1, Break::Rotation)
        );
    }

    #[test]
    fn empty_input() {
        let none: [(&str, &[u8]); 0] = [];
        let r = verify(&none).unwrap();
        assert_eq!((r.records, r.files, r.anchor), (0, 0, None));
        assert_eq!(last_line_hash(b""), None);
    }

    #[test]
    fn changed_byte_names_the_changed_line() {
        let mut lines = log(&mut Chain::genesis(), 0, 5);
        lines[2] = lines[2].replace("req-2", "req-X");
        let e = verify(&one(&lines)).unwrap_err();
        assert_eq!((e.line, e.kind), (3, Break::Changed), "{e}");
        // A change that breaks the JSON itself.
        let mut lines = log(&mut Chain::genesis(), 0, 5);
        lines[1] = lines[1].replacen("\"time\"", "\"time", 1);
        let e = verify(&one(&lines)).unwrap_err();
        assert_eq!((e.line, e.kind), (2, Break::NotJson), "{e}");
        // A change in the last line is invisible to the chain alone (nothing follows it),
        // but a change in its `prev` is not.
        let mut lines = log(&mut Chain::genesis(), 0, 3);
        lines[2] = lines[2].replacen("\"prev\":\"", "\"prev\":\"f", 1);
        let e = verify(&one(&lines)).unwrap_err();
        assert_eq!(e.kind, Break::NoPrev, "{e}");
    }

    #[test]
    fn deleted_line() {
        let mut lines = log(&mut Chain::genesis(), 0, 5);
        lines.remove(2);
        let e = verify(&one(&lines)).unwrap_err();
        // The last intact line before the gap.
        assert_eq!((e.line, e.kind), (2, Break::Changed), "{e}");
        assert!(e.why.contains("deleted"), "{e}");
    }

    #[test]
    fn swapped_lines() {
        let mut lines = log(&mut Chain::genesis(), 0, 5);
        lines.swap(1, 2);
        let e = verify(&one(&lines)).unwrap_err();
        assert_eq!((e.line, e.kind), (2, Break::Reordered), "{e}");
        assert!(e.why.contains("line 3"), "{e}");
    }

    #[test]
    fn truncated_last_line() {
        let lines = log(&mut Chain::genesis(), 0, 4);
        let mut bytes = lines.concat().into_bytes();
        bytes.truncate(bytes.len() - 20);
        let e = verify(&[("a.jsonl", bytes)]).unwrap_err();
        assert_eq!((e.line, e.kind), (4, Break::Truncated), "{e}");
        // Only the newline missing.
        let mut bytes = lines.concat().into_bytes();
        bytes.pop();
        let e = verify(&[("a.jsonl", bytes)]).unwrap_err();
        assert_eq!((e.line, e.kind), (4, Break::Truncated), "{e}");
        assert_eq!(e.to_string(), format!("a.jsonl:4: {}", e.why));
    }

    #[test]
    fn garbage_and_empty_lines() {
        let mut lines = log(&mut Chain::genesis(), 0, 3);
        lines.insert(1, "hello\n".into());
        let e = verify(&one(&lines)).unwrap_err();
        assert_eq!((e.line, e.kind), (2, Break::NotJson), "{e}");
        let mut lines = log(&mut Chain::genesis(), 0, 3);
        lines.insert(1, "\n".into());
        let e = verify(&one(&lines)).unwrap_err();
        assert_eq!((e.line, e.kind), (2, Break::Empty), "{e}");
        let e = verify(&[("x", "{\"a\":1}\n")]).unwrap_err();
        assert_eq!((e.line, e.kind), (1, Break::NoPrev), "{e}");
    }
}
