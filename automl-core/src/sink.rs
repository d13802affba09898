//! Event sinks: where envelopes go besides the in-memory log.
//!
//! Each sink runs in its own task on its own [`Subscription`], so a slow or failing sink never
//! stalls the conductor or the other sinks; a slow one lags and catches up from the log, a
//! failing one has its failures counted and reported in its [`SinkReport`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Mutex, mpsc};

use crate::bus::Subscription;
use crate::error::{AutomlError, Result};
use crate::event::Envelope;

/// Receives every envelope of a project, in order.
#[async_trait]
pub trait EventSink: Send + Sync {
    /// A short name for reports and logs.
    fn name(&self) -> &str;

    /// Takes one envelope. An error is counted and reported; the sink keeps receiving.
    async fn emit(&self, event: &Envelope) -> Result<()>;

    /// Called once after the last envelope of a run.
    async fn flush(&self) -> Result<()> {
        Ok(())
    }
}

#[async_trait]
impl<T: EventSink + ?Sized> EventSink for Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    async fn emit(&self, event: &Envelope) -> Result<()> {
        (**self).emit(event).await
    }
    async fn flush(&self) -> Result<()> {
        (**self).flush().await
    }
}

/// What a sink did during a run.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SinkReport {
    /// The sink's name.
    pub name: String,
    /// Envelopes it accepted.
    pub delivered: u64,
    /// Envelopes it failed to take (each logged with its error).
    pub failed: u64,
    /// Live events it fell behind on and re-read from the log.
    pub lagged: u64,
    /// The first error it reported, if any.
    pub first_error: Option<String>,
    /// True when it did not finish within the drain timeout and was abandoned.
    pub timed_out: bool,
}

/// Spawns the task that feeds `sink` from `sub` until the stream closes.
/// `on_written` hears the seq of every envelope the sink took (the run's log uses it to mark
/// what is on disk).
pub(crate) fn spawn_sink(
    sink: Arc<dyn EventSink>,
    mut sub: Subscription,
    on_written: Option<Box<dyn Fn(u64) + Send>>,
) -> tokio::task::JoinHandle<SinkReport> {
    tokio::spawn(async move {
        let mut report = SinkReport {
            name: sink.name().to_string(),
            ..Default::default()
        };
        while let Some(env) = sub.next().await {
            match sink.emit(&env).await {
                Ok(()) => {
                    report.delivered += 1;
                    if let Some(f) = &on_written {
                        f(env.seq);
                    }
                }
                Err(e) => {
                    report.failed += 1;
                    tracing::warn!(sink = %report.name, seq = env.seq, error = %e, "event sink dropped an event");
                    report.first_error.get_or_insert_with(|| e.to_string());
                }
            }
        }
        if let Err(e) = sink.flush().await {
            report.failed += 1;
            report.first_error.get_or_insert_with(|| e.to_string());
        }
        report.lagged = sub.lagged();
        report
    })
}

/// Waits for a sink task until `deadline`; a sink still busy then is aborted and reported as
/// timed out (its remaining events are counted as failed).
pub(crate) async fn join_sink(
    name: String,
    mut handle: tokio::task::JoinHandle<SinkReport>,
    deadline: tokio::time::Instant,
    total: u64,
) -> SinkReport {
    match tokio::time::timeout_at(deadline, &mut handle).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => SinkReport {
            name,
            first_error: Some(format!("sink task panicked: {e}")),
            failed: 1,
            ..Default::default()
        },
        Err(_) => {
            handle.abort();
            SinkReport {
                name,
                timed_out: true,
                failed: total,
                first_error: Some(
                    "did not drain before the run's end timeout; aborted".to_string(),
                ),
                ..Default::default()
            }
        }
    }
}

/// Sends every envelope into a bounded tokio channel (for in-process listeners).
pub struct ChannelSink {
    name: String,
    tx: mpsc::Sender<Envelope>,
}

impl ChannelSink {
    /// A sink and the receiver of its channel, holding up to `capacity` envelopes.
    pub fn new(capacity: usize) -> (Self, mpsc::Receiver<Envelope>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (
            Self {
                name: "channel".to_string(),
                tx,
            },
            rx,
        )
    }
}

#[async_trait]
impl EventSink for ChannelSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn emit(&self, event: &Envelope) -> Result<()> {
        // Waiting here only holds up this sink's own task.
        self.tx
            .send(event.clone())
            .await
            .map_err(|_| AutomlError::Sink {
                sink: self.name.clone(),
                message: "receiver dropped".to_string(),
            })
    }
}

/// The durable event log: one JSON envelope per line, appended and flushed per event.
///
/// The file only ever holds whole lines: when a write fails (a full disk, say), the torn tail
/// is cut off again and the sink stops writing for good, so a later write can never glue a new
/// line onto half of an old one. The conductor reads [`JsonlSink::fault`] at every stage
/// boundary and fails the run instead of training on without its record.
pub struct JsonlSink {
    path: PathBuf,
    /// A hidden file of [`TERMINAL_RESERVE`] bytes beside the log, removed just before the
    /// log's terminal event is written (and when the sink is dropped).
    reserve: Option<PathBuf>,
    file: Mutex<LogFile>,
    fault: std::sync::Mutex<Option<(std::io::ErrorKind, String)>>,
    written: AtomicU64,
}

struct LogFile {
    file: tokio::fs::File,
    /// Bytes of whole lines in the file.
    len: u64,
}

/// Disk space set aside beside an event log for its terminal event (RUN_FINISHED,
/// RUN_CANCELLED, ERROR). On a disk that fills up during a run, the export's files or the log's
/// ordinary events run out first and the run fails cleanly with `disk_full`; without the
/// reserve, a disk with room for everything but the last line let a run export, print
/// RUN_FINISHED and exit 0 over a log that lacked it. One page: a terminal line is under 4 KiB.
pub const TERMINAL_RESERVE: usize = 4096;

impl JsonlSink {
    /// Opens (creating or appending to) `path`, and sets [`TERMINAL_RESERVE`] bytes aside beside
    /// it (a warning, not an error, when even that does not fit: the run then fails on its first
    /// write).
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| AutomlError::io(dir, e))?;
        }
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .await
            .map_err(|e| AutomlError::io(&path, e))?;
        let len = file
            .metadata()
            .await
            .map_err(|e| AutomlError::io(&path, e))?
            .len();
        let reserve = path
            .file_name()
            .map(|n| path.with_file_name(format!(".{}.reserve", n.to_string_lossy())));
        let reserve = match reserve {
            Some(r) => match tokio::fs::write(&r, vec![0u8; TERMINAL_RESERVE]).await {
                Ok(()) => Some(r),
                Err(e) => {
                    let _ = tokio::fs::remove_file(&r).await;
                    tracing::warn!(path = %r.display(), error = %e, "no room to set space aside for the log's last event");
                    None
                }
            },
            None => None,
        };
        Ok(Self {
            path,
            reserve,
            file: Mutex::new(LogFile { file, len }),
            fault: std::sync::Mutex::new(None),
            written: AtomicU64::new(0),
        })
    }

    /// Where the log is written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The seq of the last envelope written whole (0 before the first).
    pub fn written_seq(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// The error that stopped the log, if one did: an [`AutomlError::Io`] on the log's path
    /// with the original error kind (so a full disk reads as `disk_full`).
    pub fn fault(&self) -> Option<AutomlError> {
        let f = self.fault.lock().unwrap_or_else(|p| p.into_inner());
        f.as_ref().map(|(kind, message)| {
            AutomlError::io(
                &self.path,
                std::io::Error::new(
                    *kind,
                    format!(
                        "the event log stopped after seq {}: {message}",
                        self.written_seq()
                    ),
                ),
            )
        })
    }

    /// Gives the reserved space back to the file system (idempotent).
    fn release_reserve(&self) {
        if let Some(r) = &self.reserve {
            match std::fs::remove_file(r) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %r.display(), error = %e, "could not remove the log's reserve")
                }
            }
        }
    }

    fn stopped(&self) -> bool {
        self.fault
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }
}

impl Drop for JsonlSink {
    fn drop(&mut self) {
        self.release_reserve();
    }
}

#[async_trait]
impl EventSink for JsonlSink {
    fn name(&self) -> &str {
        "jsonl"
    }

    async fn emit(&self, event: &Envelope) -> Result<()> {
        if self.stopped() {
            return Err(self.fault().unwrap_or_else(|| {
                AutomlError::Internal("event log stopped without a cause".to_string())
            }));
        }
        let mut line = event.to_json_line();
        line.push('\n');
        let mut log = self.file.lock().await;
        if event.event.is_terminal() {
            self.release_reserve();
        }
        let wrote = async {
            log.file.write_all(line.as_bytes()).await?;
            log.file.flush().await
        }
        .await;
        match wrote {
            Ok(()) => {
                log.len += line.len() as u64;
                self.written.store(event.seq, Ordering::Release);
                Ok(())
            }
            Err(e) => {
                // Cut the torn tail: the file keeps only whole lines. If even that fails the
                // reader skips the one bad line (see `read_jsonl`'s callers).
                let good = log.len;
                if let Err(cut) = log.file.set_len(good).await {
                    tracing::warn!(path = %self.path.display(), error = %cut, "could not cut a torn event line");
                }
                *self.fault.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((e.kind(), e.to_string()));
                Err(AutomlError::io(&self.path, e))
            }
        }
    }

    async fn flush(&self) -> Result<()> {
        let log = self.file.lock().await;
        log.file
            .sync_all()
            .await
            .map_err(|e| AutomlError::io(&self.path, e))
    }
}

/// Reads a JSONL event log back into envelopes (to rebuild state or check a run).
pub fn read_jsonl(path: impl AsRef<Path>) -> Result<Vec<Envelope>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| AutomlError::io(path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| AutomlError::DataParse {
                path: path.to_path_buf(),
                message: format!("line {}: {e}", i + 1),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, RunSummaryPayload};

    fn envelope(seq: u64, event: Event) -> Envelope {
        Envelope {
            kind: "event".to_string(),
            project_id: "p".to_string(),
            seq,
            ts: "2026-11-30T00:00:00.000Z".to_string(),
            event,
        }
    }

    #[tokio::test]
    async fn the_log_keeps_room_for_its_terminal_event_until_it_writes_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("events.jsonl");
        let reserve = dir.path().join(".events.jsonl.reserve");
        let sink = JsonlSink::open(&path).await.expect("open");
        assert_eq!(
            std::fs::metadata(&reserve).expect("reserve").len(),
            TERMINAL_RESERVE as u64
        );
        sink.emit(&envelope(1, Event::warning("w", "an ordinary event")))
            .await
            .expect("emit");
        assert!(
            reserve.exists(),
            "ordinary events leave the reserve in place"
        );
        let finished = Event::RunFinished(RunSummaryPayload {
            metrics: Default::default(),
            model: None,
            dir: None,
            duration_s: 1.0,
            message: "done".to_string(),
        });
        sink.emit(&envelope(2, finished)).await.expect("emit");
        assert!(
            !reserve.exists(),
            "the terminal event is written into the freed space"
        );
        assert_eq!(read_jsonl(&path).expect("log").len(), 2);
        assert_eq!(sink.written_seq(), 2);

        // A sink dropped before its terminal event (a failed or abandoned run) gives it back too.
        let other = dir.path().join("other.jsonl");
        let sink = JsonlSink::open(&other).await.expect("open");
        assert!(dir.path().join(".other.jsonl.reserve").exists());
        drop(sink);
        assert!(!dir.path().join(".other.jsonl.reserve").exists());
    }
}
