//! Message capture: the full messages of chosen exchanges written to a directory, one file per
//! message named by the audit record's id (`<request_id>.request.xml`,
//! `<request_id>.response.xml`), off the request path through a bounded queue, keeping the
//! newest `keep` exchanges. A full queue drops the file (the audit record still names it, and
//! `taxii_gateway_capture_dropped_total` counts it): capture is evidence on top of the audit
//! record's digests, never a reason to slow the exchange down.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;

/// A running capture directory.
pub struct CaptureLog {
    tx: SyncSender<Job>,
    dir: PathBuf,
}

enum Job {
    /// (exchange id, file name, bytes)
    Write(String, String, Vec<u8>),
    Flush(SyncSender<()>),
}

/// Queued files at most (each bounded by `max_message_bytes`).
const QUEUE: usize = 64;

impl CaptureLog {
    /// Creates `dir` if needed and starts the writer; the files already there count toward
    /// `keep`, oldest first by modification time.
    pub fn open(dir: &Path, keep: usize) -> std::io::Result<Arc<CaptureLog>> {
        std::fs::create_dir_all(dir)?;
        let mut existing: Vec<(std::time::SystemTime, String)> = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((id, _)) = name.split_once('.') else {
                continue;
            };
            let modified = entry
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            existing.push((modified, id.to_string()));
        }
        existing.sort();
        let mut kept: VecDeque<String> = VecDeque::new();
        for (_, id) in existing {
            if !kept.contains(&id) {
                kept.push_back(id);
            }
        }
        let (tx, rx) = sync_channel::<Job>(QUEUE);
        let root = dir.to_path_buf();
        std::thread::Builder::new()
            .name("capture-writer".into())
            .spawn(move || {
                let mut kept = kept;
                while let Ok(job) = rx.recv() {
                    match job {
                        Job::Write(id, name, bytes) => {
                            if let Err(e) = std::fs::write(root.join(&name), &bytes) {
                                log::error!("capture: {}: {e}", root.join(&name).display());
                            }
                            if kept.back() != Some(&id) && !kept.contains(&id) {
                                kept.push_back(id);
                            }
                            while kept.len() > keep {
                                if let Some(old) = kept.pop_front() {
                                    for suffix in ["request.xml", "response.xml"] {
                                        let _ = std::fs::remove_file(
                                            root.join(format!("{old}.{suffix}")),
                                        );
                                    }
                                }
                            }
                        }
                        Job::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            })?;
        Ok(Arc::new(CaptureLog {
            tx,
            dir: dir.to_path_buf(),
        }))
    }

    /// Queues one message; false when the queue was full and the file is dropped.
    pub fn write(&self, id: &str, name: String, bytes: Vec<u8>) -> bool {
        let ok = self
            .tx
            .try_send(Job::Write(id.to_string(), name, bytes))
            .is_ok();
        if !ok {
            if let Some(m) = crate::metrics::global() {
                m.capture_dropped.inc();
            }
        }
        ok
    }

    /// Waits until every file queued so far is written (at most `timeout`).
    pub fn flush(&self, timeout: std::time::Duration) -> bool {
        let (done_tx, done_rx) = sync_channel(1);
        if self.tx.send(Job::Flush(done_tx)).is_err() {
            return false;
        }
        done_rx.recv_timeout(timeout).is_ok()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
