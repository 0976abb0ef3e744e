//! The audit log writer: records go through a bounded queue to one thread that seals and
//! appends them, off the request path. A full queue either makes the exchange wait (`block`)
//! or drops the record and counts the drop (`drop`), as the operator chose.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;

use super::{last_line_hash, AuditRecord, Chain};

/// What the writer thread is asked to do. Nearly every job is a record: boxing it would cost
/// an allocation per exchange to shrink the two rare ones.
#[allow(clippy::large_enum_variant)]
enum Job {
    Record(AuditRecord),
    /// Close the file and open `path` again (logrotate moved it away: SIGUSR1). The chain
    /// goes on: the new file's first line anchors on the old file's last.
    Reopen,
    /// Write out everything queued before this, flush, and answer.
    Flush(SyncSender<()>),
}

/// A running audit log.
pub struct AuditLog {
    tx: SyncSender<Job>,
    block: bool,
    dropped: AtomicU64,
    path: PathBuf,
}

impl AuditLog {
    /// Opens (appends to) `path`, resuming its chain from its last line, and starts the writer.
    pub fn open(path: &Path, queue_records: usize, block: bool) -> std::io::Result<Arc<AuditLog>> {
        let mut file = open_append(path)?;
        let mut chain = match last_hash_of(&mut file)? {
            Some(hash) => Chain::resume(hash),
            None => Chain::genesis(),
        };
        let (tx, rx) = sync_channel::<Job>(queue_records.max(1));
        let reopen_path = path.to_path_buf();
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || {
                let mut out = std::io::BufWriter::new(file);
                let mut write = |out: &mut std::io::BufWriter<File>, job: Job| match job {
                    Job::Record(record) => {
                        let mut line = chain.seal(&record);
                        line.push('\n');
                        if out.write_all(line.as_bytes()).is_err() {
                            log::error!("audit log: write failed");
                        }
                    }
                    Job::Reopen => {
                        if out.flush().is_err() {
                            log::error!("audit log: flush failed");
                        }
                        match open_append(&reopen_path) {
                            Ok(f) => {
                                *out = std::io::BufWriter::new(f);
                                log::info!("audit log: reopened {}", reopen_path.display());
                            }
                            Err(e) => log::error!(
                                "audit log: cannot reopen {}, writing on to the old file: {e}",
                                reopen_path.display()
                            ),
                        }
                    }
                    Job::Flush(done) => {
                        if out.flush().is_err() {
                            log::error!("audit log: flush failed");
                        }
                        let _ = done.send(());
                    }
                };
                while let Ok(job) = rx.recv() {
                    write(&mut out, job);
                    // Flush whenever the queue is empty: records reach the file promptly, and
                    // bursts are written in batches.
                    while let Ok(job) = rx.try_recv() {
                        write(&mut out, job);
                    }
                    if out.flush().is_err() {
                        log::error!("audit log: flush failed");
                    }
                }
            })?;
        Ok(Arc::new(AuditLog {
            tx,
            block,
            dropped: AtomicU64::new(0),
            path: path.to_path_buf(),
        }))
    }

    /// Queues one record.
    pub fn record(&self, record: AuditRecord) {
        if self.block {
            if self.tx.send(Job::Record(record)).is_err() {
                self.count_drop();
            }
            return;
        }
        match self.tx.try_send(Job::Record(record)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => self.count_drop(),
        }
    }

    fn count_drop(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        if let Some(m) = crate::metrics::global() {
            m.audit_dropped.inc();
        }
    }

    /// Asks the writer to reopen the file (after the records already queued).
    pub fn reopen(&self) {
        let _ = self.tx.send(Job::Reopen);
    }

    /// Waits until every record queued so far is written and flushed (at most `timeout`).
    /// Returns false when the writer did not answer in time.
    pub fn flush(&self, timeout: std::time::Duration) -> bool {
        let (done_tx, done_rx) = sync_channel(1);
        if self.tx.send(Job::Flush(done_tx)).is_err() {
            return false;
        }
        done_rx.recv_timeout(timeout).is_ok()
    }

    /// Records dropped because the queue was full (`when_full = "drop"`).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)
}

/// The hash of the file's last line, reading at most its last 1 MiB.
fn last_hash_of(file: &mut File) -> std::io::Result<Option<String>> {
    let len = file.seek(SeekFrom::End(0))?;
    let start = len.saturating_sub(1024 * 1024);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)?;
    Ok(last_line_hash(&tail))
}
