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

/// A running audit log.
pub struct AuditLog {
    tx: SyncSender<AuditRecord>,
    block: bool,
    dropped: AtomicU64,
    path: PathBuf,
}

impl AuditLog {
    /// Opens (appends to) `path`, resuming its chain from its last line, and starts the writer.
    pub fn open(path: &Path, queue_records: usize, block: bool) -> std::io::Result<Arc<AuditLog>> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)?;
        let mut chain = match last_hash_of(&mut file)? {
            Some(hash) => Chain::resume(hash),
            None => Chain::genesis(),
        };
        let (tx, rx) = sync_channel::<AuditRecord>(queue_records.max(1));
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || {
                let mut out = std::io::BufWriter::new(file);
                while let Ok(record) = rx.recv() {
                    let mut line = chain.seal(&record);
                    line.push('\n');
                    if out.write_all(line.as_bytes()).is_err() {
                        log::error!("audit log: write failed");
                    }
                    // Flush whenever the queue is empty: records reach the file promptly, and
                    // bursts are written in batches.
                    let mut next = rx.try_recv();
                    while let Ok(record) = next {
                        let mut line = chain.seal(&record);
                        line.push('\n');
                        let _ = out.write_all(line.as_bytes());
                        next = rx.try_recv();
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
            if self.tx.send(record).is_err() {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        match self.tx.try_send(record) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Records dropped because the queue was full (`when_full = "drop"`).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
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
