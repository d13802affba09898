//! The event bus: one append-only, sequence-numbered log per project, many subscribers.
//!
//! * `seq` starts at 1 per project and has no gaps: it is assigned under the log's lock.
//! * [`EventBus::subscribe`] with `since = N` replays every event after N, then goes live.
//! * Emitting never waits for a subscriber: live delivery goes through a bounded broadcast
//!   channel, and a subscriber that falls behind is told how much it lagged
//!   ([`Subscription::lagged`]) and catches up from the log, so it still sees every event once,
//!   in order.
//! * Durable delivery: when a run writes its events to a log file, the conductor
//!   [holds](EventBus::hold_until_durable) the project, the log's writer
//!   [marks](EventBus::mark_durable) what it has written, and a
//!   [durable subscription](EventBus::subscribe_durable) (the server's sockets) yields an event
//!   only once it is on disk: a client never sees an event that a crash could take back, so after
//!   a restart no seq means two different things.
//! * Backends ([`BusBackend`], docs/scale-out.md): by default the log lives in this process's
//!   memory only, exactly as described above. A bus made [`with_backend`](EventBus::with_backend)
//!   also appends every emitted envelope, in order and in batches, to a shared store (Redis
//!   Streams in `automl serve --redis`), which refuses an append that does not continue its log
//!   (a second writer is fenced, see [`BusError::Fenced`]); another process
//!   [follows](EventBus::follow) a project from that store: its backlog first, then one tail per
//!   process fanning out to the local subscribers. A follower's local log only ever holds what
//!   the store holds, so its subscribers see the same seq 1..N as everyone else.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, broadcast, mpsc, watch};

use crate::event::{Envelope, Event};

/// Default live-buffer size per project (events held for slow subscribers before they lag).
pub const DEFAULT_LIVE_BUFFER: usize = 1024;

/// The bus of all projects in this process.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<BusInner>,
}

struct BusInner {
    projects: Mutex<HashMap<String, Arc<ProjectLog>>>,
    live_buffer: usize,
    /// Set for a bus made with a backend.
    remote: Option<Remote>,
}

/// A bus's shared store: the writer queue of its emitters and the projects it follows.
struct Remote {
    backend: Arc<dyn BusBackend>,
    /// Emitted envelopes, in seq order per project, for the writer task.
    writer: mpsc::UnboundedSender<Envelope>,
    /// Projects whose new envelopes the tail task reads from the backend.
    follows: Mutex<std::collections::BTreeSet<String>>,
    /// Wakes an idle tail task when the first project is followed.
    followed: Notify,
    tail_started: AtomicBool,
}

struct ProjectLog {
    project_id: String,
    state: Mutex<LogState>,
    /// True while durable subscriptions wait for `durable`.
    held: AtomicBool,
    /// The highest seq known to be on disk.
    durable: watch::Sender<u64>,
    /// The highest seq known to be in the backend (0 without one).
    stored: watch::Sender<u64>,
    /// Why the backend refused or failed this project's appends; once set, nothing more of
    /// this project is written (a fenced writer stays fenced).
    store_error: Mutex<Option<BusError>>,
}

struct LogState {
    history: Vec<Envelope>,
    live: Option<broadcast::Sender<Envelope>>,
    live_buffer: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep serving it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(DEFAULT_LIVE_BUFFER)
    }
}

impl EventBus {
    /// A bus whose live buffers hold `live_buffer` events per project.
    pub fn new(live_buffer: usize) -> Self {
        Self {
            inner: Arc::new(BusInner {
                projects: Mutex::new(HashMap::new()),
                live_buffer: live_buffer.max(1),
                remote: None,
            }),
        }
    }

    /// A bus that also keeps its logs in `backend` (shared with other processes): every
    /// emitted envelope is appended there by a writer task, and [`follow`](Self::follow) reads
    /// other writers' projects from it. Must be called inside a tokio runtime (it spawns the
    /// writer task, which ends when the last clone of this bus is dropped).
    pub fn with_backend(live_buffer: usize, backend: Arc<dyn BusBackend>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let inner = Arc::new(BusInner {
            projects: Mutex::new(HashMap::new()),
            live_buffer: live_buffer.max(1),
            remote: Some(Remote {
                backend: backend.clone(),
                writer: tx,
                follows: Mutex::new(Default::default()),
                followed: Notify::new(),
                tail_started: AtomicBool::new(false),
            }),
        });
        tokio::spawn(write_to_backend(Arc::downgrade(&inner), backend, rx));
        Self { inner }
    }

    /// The backend's name, or `None` for a bus that lives in this process's memory only.
    pub fn backend_name(&self) -> Option<String> {
        self.inner
            .remote
            .as_ref()
            .map(|r| r.backend.name().to_string())
    }

    fn log(&self, project_id: &str) -> Arc<ProjectLog> {
        let mut projects = lock(&self.inner.projects);
        projects
            .entry(project_id.to_string())
            .or_insert_with(|| {
                Arc::new(ProjectLog {
                    project_id: project_id.to_string(),
                    state: Mutex::new(LogState {
                        history: Vec::new(),
                        live: Some(broadcast::channel(self.inner.live_buffer).0),
                        live_buffer: self.inner.live_buffer,
                    }),
                    held: AtomicBool::new(false),
                    durable: watch::Sender::new(0),
                    stored: watch::Sender::new(0),
                    store_error: Mutex::new(None),
                })
            })
            .clone()
    }

    fn find(&self, project_id: &str) -> Option<Arc<ProjectLog>> {
        lock(&self.inner.projects).get(project_id).cloned()
    }

    /// True when this bus holds a log for `project_id` (it has been emitted to, subscribed to,
    /// restored, or closed, and not [forgotten](Self::forget) since). Creates nothing.
    pub fn contains(&self, project_id: &str) -> bool {
        lock(&self.inner.projects).contains_key(project_id)
    }

    /// Drops `project_id`'s log from memory once its live stream is closed (its run ended), so
    /// that a long-lived process does not keep every past run; the caller keeps the events
    /// elsewhere (the JSONL sink's `events.jsonl`). Subscriptions already open keep their copy
    /// and end as before. Returns false, and keeps the log, while the stream is still open.
    /// A later emit or subscribe starts a new, empty log.
    pub fn forget(&self, project_id: &str) -> bool {
        let mut projects = lock(&self.inner.projects);
        let open = match projects.get(project_id) {
            Some(log) => lock(&log.state).live.is_some(),
            None => return false,
        };
        if open {
            return false;
        }
        projects.remove(project_id);
        true
    }

    /// An emitter that appends to `project_id`'s log.
    pub fn emitter(&self, project_id: &str) -> Emitter {
        Emitter {
            log: self.log(project_id),
            writer: self.inner.remote.as_ref().map(|r| r.writer.clone()),
        }
    }

    /// Subscribes to `project_id`: every event with `seq > since`, then live ones. The
    /// subscription ends after the last event once the project's stream is closed.
    pub fn subscribe(&self, project_id: &str, since: u64) -> Subscription {
        let log = self.log(project_id);
        let (rx, pending, closed) = {
            let st = lock(&log.state);
            let rx = st.live.as_ref().map(|tx| tx.subscribe());
            let pending: VecDeque<Envelope> = st
                .history
                .iter()
                .filter(|e| e.seq > since)
                .cloned()
                .collect();
            (rx, pending, st.live.is_none())
        };
        Subscription {
            log,
            rx,
            pending,
            // `since` may be u64::MAX (a client's "everything after the end").
            next: since.saturating_add(1),
            lagged: 0,
            closed,
            durable: None,
            held: None,
        }
    }

    /// Like [`subscribe`](Self::subscribe), but while the project is
    /// [held](Self::hold_until_durable) an event is yielded only once it is
    /// [durable](Self::mark_durable).
    pub fn subscribe_durable(&self, project_id: &str, since: u64) -> Subscription {
        let mut sub = self.subscribe(project_id, since);
        sub.durable = Some(sub.log.durable.subscribe());
        sub
    }

    /// From now on, durable subscriptions of `project_id` wait for [`mark_durable`]; the
    /// events up to `upto` count as durable already.
    ///
    /// [`mark_durable`]: Self::mark_durable
    pub fn hold_until_durable(&self, project_id: &str, upto: u64) {
        let log = self.log(project_id);
        log.durable.send_replace(upto);
        log.held.store(true, Ordering::Release);
    }

    /// Every event of `project_id` up to `seq` is on disk.
    pub fn mark_durable(&self, project_id: &str, seq: u64) {
        if let Some(log) = self.find(project_id) {
            log.durable.send_if_modified(|d| {
                let newer = seq > *d;
                if newer {
                    *d = seq;
                }
                newer
            });
        }
    }

    /// Ends the hold: durable subscriptions yield everything (the log's writer is done, or
    /// failed and will write nothing more).
    pub fn release_durable(&self, project_id: &str) {
        if let Some(log) = self.find(project_id) {
            log.held.store(false, Ordering::Release);
            log.durable.send_replace(u64::MAX);
        }
    }

    /// Every event of `project_id` so far (none for a project this bus does not hold; asking
    /// creates nothing).
    pub fn history(&self, project_id: &str) -> Vec<Envelope> {
        match self.find(project_id) {
            Some(log) => lock(&log.state).history.clone(),
            None => Vec::new(),
        }
    }

    /// The ids of the projects this bus knows.
    pub fn projects(&self) -> Vec<String> {
        let mut v: Vec<String> = lock(&self.inner.projects).keys().cloned().collect();
        v.sort();
        v
    }

    /// Loads envelopes read back from a project's event log (after a restart) into its log,
    /// keeping their `seq` and `ts`, and leaves the live stream closed. The project must have no
    /// events yet and `events` must be numbered 1..N without gaps, all for `project_id`;
    /// otherwise nothing is loaded and the error says which envelope is wrong.
    pub fn restore(&self, project_id: &str, events: Vec<Envelope>) -> crate::Result<usize> {
        let bad = |message: String| crate::AutomlError::InvalidOption {
            name: format!("event log of {project_id}"),
            message,
        };
        for (i, e) in events.iter().enumerate() {
            if e.seq != i as u64 + 1 {
                return Err(bad(format!("expected seq {}, found {}", i + 1, e.seq)));
            }
            if e.project_id != project_id {
                return Err(bad(format!(
                    "seq {} belongs to project {:?}",
                    e.seq, e.project_id
                )));
            }
        }
        let log = self.log(project_id);
        let mut st = lock(&log.state);
        if !st.history.is_empty() {
            return Err(bad(format!(
                "the project already has {} events in memory",
                st.history.len()
            )));
        }
        let n = events.len();
        st.history = events;
        st.live = None;
        Ok(n)
    }

    /// Ends the live stream of `project_id`: subscribers drain what is left and end. A later
    /// emit opens a new live stream; sequence numbers continue.
    pub fn close(&self, project_id: &str) {
        lock(&self.log(project_id).state).live = None;
    }

    /// Waits until every envelope emitted so far to `project_id` is in the backend (at once
    /// for a bus without one). Fails with the backend's refusal or failure; a writer that gets
    /// [`BusError::Fenced`] must stop, another process holds the project now.
    pub async fn flush_backend(&self, project_id: &str) -> Result<(), BusError> {
        if self.inner.remote.is_none() {
            return Ok(());
        }
        let Some(log) = self.find(project_id) else {
            return Ok(());
        };
        let want = lock(&log.state).history.last().map_or(0, |e| e.seq);
        let mut rx = log.stored.subscribe();
        loop {
            if let Some(e) = lock(&log.store_error).clone() {
                return Err(e);
            }
            if *rx.borrow_and_update() >= want {
                return Ok(());
            }
            // The sender lives in `log`, which this function holds.
            let _ = rx.changed().await;
        }
    }

    /// Why the backend refused or failed `project_id`'s appends, if it did.
    pub fn backend_error(&self, project_id: &str) -> Option<BusError> {
        self.find(project_id)
            .and_then(|log| lock(&log.store_error).clone())
    }

    /// Appends an envelope that is already in the backend (read back from it) to the local
    /// log: `Ok(true)` when it was the next one, `Ok(false)` when the log already had it. A
    /// terminal event closes the local live stream (the run is over). An envelope beyond the
    /// next seq is refused with [`BusError::Gap`]; the caller reads the missing ones first.
    pub fn ingest(&self, env: Envelope) -> Result<bool, BusError> {
        let log = self.log(&env.project_id);
        let mut st = lock(&log.state);
        let last = st.history.last().map_or(0, |e| e.seq);
        if env.seq <= last {
            return Ok(false);
        }
        if env.seq != last + 1 {
            return Err(BusError::Gap {
                project_id: env.project_id.clone(),
                expected: last + 1,
                found: env.seq,
            });
        }
        let terminal = env.event.is_terminal();
        let seq = env.seq;
        st.history.push(env.clone());
        if st.live.is_none() {
            st.live = Some(broadcast::channel(st.live_buffer).0);
        }
        if let Some(tx) = &st.live {
            let _ = tx.send(env);
        }
        if terminal {
            st.live = None;
        }
        drop(st);
        log.stored.send_replace(seq);
        Ok(true)
    }

    /// Reads `project_id`'s envelopes after the local log's last one from the backend into
    /// the local log, and returns the last seq now held. A worker that takes over a run calls
    /// this before emitting, so its seq continues the stored log. Without a backend it reads
    /// nothing.
    pub async fn load(&self, project_id: &str) -> Result<u64, BusError> {
        let Some(remote) = self.inner.remote.as_ref() else {
            return Ok(self.history_len(project_id));
        };
        let since = self.history_len(project_id);
        for env in remote.backend.range(project_id, since).await? {
            if env.project_id != project_id {
                return Err(BusError::Corrupt {
                    project_id: project_id.to_string(),
                    message: format!("seq {} names project {:?}", env.seq, env.project_id),
                });
            }
            self.ingest(env)?;
        }
        Ok(self.history_len(project_id))
    }

    fn history_len(&self, project_id: &str) -> u64 {
        self.find(project_id)
            .and_then(|log| lock(&log.state).history.last().map(|e| e.seq))
            .unwrap_or(0)
    }

    /// Follows `project_id`, written by another process, from the backend: its backlog now,
    /// then (until its terminal event) every new envelope through this process's one tail
    /// task, into the local log and so to [`subscribe`](Self::subscribe)rs. Idempotent.
    /// Without a backend there is nobody else to follow: it does nothing.
    pub async fn follow(&self, project_id: &str) -> Result<(), BusError> {
        let Some(remote) = self.inner.remote.as_ref() else {
            return Ok(());
        };
        self.load(project_id).await?;
        // A project not written yet is followed too: its first events may come any moment.
        let open = self.find(project_id).is_none_or(|log| {
            lock(&log.state)
                .history
                .last()
                .is_none_or(|e| !e.event.is_terminal())
        });
        if !open {
            self.close(project_id);
            return Ok(());
        }
        let added = lock(&remote.follows).insert(project_id.to_string());
        if !remote.tail_started.swap(true, Ordering::AcqRel) {
            tokio::spawn(tail_backend(
                Arc::downgrade(&self.inner),
                remote.backend.clone(),
            ));
        }
        if added {
            remote.followed.notify_one();
            remote.backend.wake().await;
        }
        Ok(())
    }
}

/// How long one tail read waits in the backend before the tail looks at its projects again.
const TAIL_BLOCK: Duration = Duration::from_secs(5);
/// The most envelopes the writer task sends to the backend in one append.
const WRITE_BATCH: usize = 512;

/// The writer task of a bus with a backend: appends emitted envelopes in batches, per
/// project in seq order; retries an unavailable backend, and stops writing a project whose
/// append was refused.
async fn write_to_backend(
    bus: Weak<BusInner>,
    backend: Arc<dyn BusBackend>,
    mut rx: mpsc::UnboundedReceiver<Envelope>,
) {
    let mut batch: Vec<Envelope> = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.clear();
        batch.push(first);
        while batch.len() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(e) => batch.push(e),
                Err(_) => break,
            }
        }
        // Per project, in the order emitted (the emitter sends under its log's lock).
        let mut groups: Vec<(String, Vec<Envelope>)> = Vec::new();
        for e in batch.drain(..) {
            match groups.iter_mut().find(|(p, _)| *p == e.project_id) {
                Some((_, v)) => v.push(e),
                None => groups.push((e.project_id.clone(), vec![e])),
            }
        }
        for (project_id, events) in groups {
            // The log may be forgotten already (its run ended): its events are still written.
            let log = bus
                .upgrade()
                .and_then(|b| lock(&b.projects).get(&project_id).cloned());
            if log
                .as_ref()
                .is_some_and(|log| lock(&log.store_error).is_some())
            {
                continue;
            }
            let last = events.last().map_or(0, |e| e.seq);
            let mut delay = Duration::from_millis(50);
            let outcome = loop {
                match backend.append(&project_id, &events).await {
                    Err(BusError::Unavailable {
                        backend: b,
                        message,
                    }) if delay < Duration::from_secs(5) => {
                        tracing::warn!(backend = %b, project = %project_id, error = %message, "bus backend unavailable; retrying the append");
                        tokio::time::sleep(delay).await;
                        delay *= 2;
                    }
                    // A retried append that had gone through before its reply was lost.
                    Err(BusError::Fenced { last: stored, .. })
                        if delay > Duration::from_millis(50) && stored == last =>
                    {
                        break Ok(());
                    }
                    other => break other,
                }
            };
            match (outcome, log) {
                (Ok(()), Some(log)) => {
                    log.stored.send_replace(last);
                }
                (Ok(()), None) => {}
                (Err(e), log) => {
                    tracing::error!(project = %project_id, error = %e, "bus backend refused the project's events; this process writes no more of them");
                    if let Some(log) = log {
                        *lock(&log.store_error) = Some(e);
                        // Wake `flush_backend` waiters so they see the error.
                        log.stored.send_modify(|_| {});
                    }
                }
            }
        }
    }
}

/// The tail task of a bus with a backend: one read at a time over every followed project,
/// fanned out to the local logs.
async fn tail_backend(bus: Weak<BusInner>, backend: Arc<dyn BusBackend>) {
    loop {
        let Some(inner) = bus.upgrade() else { return };
        let bus_ = EventBus { inner };
        let Some(remote) = bus_.inner.remote.as_ref() else {
            return;
        };
        let projects: Vec<String> = lock(&remote.follows).iter().cloned().collect();
        if projects.is_empty() {
            // Wake now and then to notice a dropped bus (this task holds it meanwhile).
            let _ = tokio::time::timeout(TAIL_BLOCK, remote.followed.notified()).await;
            continue;
        }
        let cursors: Vec<(String, u64)> = projects
            .iter()
            .map(|p| (p.clone(), bus_.history_len(p)))
            .collect();
        drop(bus_);
        let read = backend.read_after(&cursors, TAIL_BLOCK).await;
        let Some(inner) = bus.upgrade() else { return };
        let bus_ = EventBus { inner };
        match read {
            Ok(envs) => {
                for env in envs {
                    let p = env.project_id.clone();
                    if let Err(BusError::Gap { .. }) = bus_.ingest(env) {
                        if let Err(e) = bus_.load(&p).await {
                            tracing::warn!(project = %p, error = %e, "bus tail could not fill a gap");
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "bus tail read failed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        // A project whose run ended (terminal event ingested) is followed no more.
        if let Some(remote) = bus_.inner.remote.as_ref() {
            lock(&remote.follows).retain(|p| {
                bus_.find(p).is_none_or(|log| {
                    let st = lock(&log.state);
                    st.live.is_some() || st.history.is_empty()
                })
            });
        }
    }
}

/// Why a bus backend refused or failed an operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    /// An append that does not continue the stored log: another writer has appended since
    /// (this writer is fenced) or the caller skipped a seq.
    #[error(
        "event log of {project_id}: append of seq {seq} refused, the stored log ends at seq {last} (another writer holds this project)"
    )]
    Fenced {
        /// The project.
        project_id: String,
        /// The first seq of the refused append.
        seq: u64,
        /// The last seq the store holds.
        last: u64,
    },
    /// An envelope read back arrived before the ones it follows.
    #[error("event log of {project_id}: expected seq {expected}, found {found}")]
    Gap {
        /// The project.
        project_id: String,
        /// The seq the local log needs next.
        expected: u64,
        /// The seq that arrived.
        found: u64,
    },
    /// The store holds something that is not a well-formed envelope of this project.
    #[error("event log of {project_id} in the bus backend is corrupt: {message}")]
    Corrupt {
        /// The project.
        project_id: String,
        /// What is wrong.
        message: String,
    },
    /// The backend cannot be reached or failed the command.
    #[error("bus backend {backend} unavailable: {message}")]
    Unavailable {
        /// The backend's name (with its address).
        backend: String,
        /// The cause.
        message: String,
    },
}

/// A shared store of event logs behind an [`EventBus`] (docs/scale-out.md): Redis Streams
/// in `automl serve --redis`, [`MemoryBackend`] in tests. One log per project, envelopes in
/// seq order starting at 1.
#[async_trait]
pub trait BusBackend: Send + Sync + 'static {
    /// A short name with the store's address, for errors and logs.
    fn name(&self) -> &str;

    /// Appends `events` (one project's, consecutive seqs) to `project_id`'s log, all or
    /// none. Refused with [`BusError::Fenced`] unless the first continues the stored log.
    async fn append(&self, project_id: &str, events: &[Envelope]) -> Result<(), BusError>;

    /// Every stored envelope of `project_id` with `seq > since`, in order.
    async fn range(&self, project_id: &str, since: u64) -> Result<Vec<Envelope>, BusError>;

    /// Waits up to `block` for envelopes after the given `(project, last seq seen)` cursors
    /// and returns those that arrived (none when the time ran out), in seq order per project.
    async fn read_after(
        &self,
        cursors: &[(String, u64)],
        block: Duration,
    ) -> Result<Vec<Envelope>, BusError>;

    /// Ends a pending [`read_after`](Self::read_after) early, so that a project followed
    /// meanwhile is read from now on. The default does nothing: the read ends at its block
    /// time.
    async fn wake(&self) {}
}

/// A [`BusBackend`] in this process's memory: lets several buses (standing in for several
/// processes) share logs in tests and benchmarks. A bus without a backend needs none.
#[derive(Default)]
pub struct MemoryBackend {
    logs: Mutex<HashMap<String, Vec<Envelope>>>,
    appended: Notify,
}

impl MemoryBackend {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl BusBackend for MemoryBackend {
    fn name(&self) -> &str {
        "memory"
    }

    async fn append(&self, project_id: &str, events: &[Envelope]) -> Result<(), BusError> {
        let mut logs = lock(&self.logs);
        let log = logs.entry(project_id.to_string()).or_default();
        let last = log.last().map_or(0, |e| e.seq);
        let first = events.first().map_or(last + 1, |e| e.seq);
        let consecutive = events
            .iter()
            .enumerate()
            .all(|(i, e)| e.seq == first + i as u64 && e.project_id == project_id);
        if first != last + 1 || !consecutive {
            return Err(BusError::Fenced {
                project_id: project_id.to_string(),
                seq: first,
                last,
            });
        }
        log.extend_from_slice(events);
        drop(logs);
        self.appended.notify_waiters();
        Ok(())
    }

    async fn range(&self, project_id: &str, since: u64) -> Result<Vec<Envelope>, BusError> {
        Ok(lock(&self.logs)
            .get(project_id)
            .map(|log| log.iter().filter(|e| e.seq > since).cloned().collect())
            .unwrap_or_default())
    }

    async fn read_after(
        &self,
        cursors: &[(String, u64)],
        block: Duration,
    ) -> Result<Vec<Envelope>, BusError> {
        let deadline = tokio::time::Instant::now() + block;
        loop {
            let notified = self.appended.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let mut out = Vec::new();
            for (p, since) in cursors {
                out.extend(self.range(p, *since).await?);
            }
            if !out.is_empty() {
                return Ok(out);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(out);
            }
        }
    }
}

/// Appends events to one project's log. Cheap to clone; usable from any thread.
#[derive(Clone)]
pub struct Emitter {
    log: Arc<ProjectLog>,
    /// The bus's backend writer, when it has a backend.
    writer: Option<mpsc::UnboundedSender<Envelope>>,
}

impl std::fmt::Debug for Emitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitter")
            .field("project_id", &self.log.project_id)
            .finish()
    }
}

impl Emitter {
    /// The project this emitter writes to.
    pub fn project_id(&self) -> &str {
        &self.log.project_id
    }

    /// Appends `event` with the next sequence number and the current time; never blocks on
    /// subscribers.
    pub fn emit(&self, event: Event) -> Envelope {
        let mut st = lock(&self.log.state);
        let seq = st.history.last().map_or(1, |e| e.seq + 1);
        let env = Envelope {
            kind: "event".to_string(),
            project_id: self.log.project_id.clone(),
            seq,
            ts: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            event,
        };
        st.history.push(env.clone());
        if st.live.is_none() {
            st.live = Some(broadcast::channel(st.live_buffer).0);
        }
        if let Some(tx) = &st.live {
            // An error only means nobody is listening live right now; the log keeps the event.
            let _ = tx.send(env.clone());
        }
        if let Some(w) = &self.writer {
            // Sent under the log's lock, so the writer gets each project's events in seq
            // order. An error means the bus is gone, and its writer with it.
            let _ = w.send(env.clone());
        }
        env
    }

    /// The last sequence number emitted (0 when none).
    pub fn last_seq(&self) -> u64 {
        lock(&self.log.state).history.last().map_or(0, |e| e.seq)
    }
}

/// A replay-then-live stream of one project's envelopes.
pub struct Subscription {
    log: Arc<ProjectLog>,
    rx: Option<broadcast::Receiver<Envelope>>,
    pending: VecDeque<Envelope>,
    next: u64,
    lagged: u64,
    closed: bool,
    /// Set for a durable subscription: the log's durable mark.
    durable: Option<watch::Receiver<u64>>,
    /// An envelope taken from the stream but not yet durable (`try_next` keeps it here).
    held: Option<Envelope>,
}

impl Subscription {
    /// The next envelope, in `seq` order with no gaps; `None` once the stream is closed and
    /// drained. A durable subscription waits until the envelope is on disk.
    pub async fn next(&mut self) -> Option<Envelope> {
        let e = match self.held.take() {
            Some(e) => e,
            None => self.next_any().await?,
        };
        if let Some(rx) = self.durable.as_mut() {
            if self.log.held.load(Ordering::Acquire) {
                // The sender lives in the log this subscription holds: `wait_for` cannot fail.
                let _ = rx.wait_for(|d| *d >= e.seq).await;
            }
        }
        Some(e)
    }

    fn waits_for_disk(&self, seq: u64) -> bool {
        self.durable.as_ref().is_some_and(|rx| *rx.borrow() < seq)
            && self.log.held.load(Ordering::Acquire)
    }

    async fn next_any(&mut self) -> Option<Envelope> {
        loop {
            while let Some(e) = self.pending.pop_front() {
                if e.seq >= self.next {
                    self.next = e.seq + 1;
                    return Some(e);
                }
            }
            if self.closed {
                self.refill();
                if self.pending.is_empty() {
                    return None;
                }
                continue;
            }
            let Some(rx) = self.rx.as_mut() else {
                self.closed = true;
                continue;
            };
            match rx.recv().await {
                Ok(e) if e.seq < self.next => continue,
                Ok(e) if e.seq == self.next => {
                    self.next += 1;
                    return Some(e);
                }
                Ok(_) => self.refill(),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    self.lagged += n;
                    tracing::debug!(
                        project = %self.log.project_id,
                        lagged = n,
                        "subscriber lagged; catching up from the log"
                    );
                    self.refill();
                }
                Err(broadcast::error::RecvError::Closed) => {
                    self.closed = true;
                }
            }
        }
    }

    /// The next envelope if one is ready now (and, for a durable subscription, on disk),
    /// without waiting.
    pub fn try_next(&mut self) -> Option<Envelope> {
        let e = match self.held.take() {
            Some(e) => e,
            None => self.try_next_any()?,
        };
        if self.waits_for_disk(e.seq) {
            self.held = Some(e);
            return None;
        }
        Some(e)
    }

    fn try_next_any(&mut self) -> Option<Envelope> {
        if let Some(e) = self.pending.pop_front() {
            self.next = e.seq + 1;
            return Some(e);
        }
        self.refill();
        let e = self.pending.pop_front()?;
        self.next = e.seq + 1;
        Some(e)
    }

    fn refill(&mut self) {
        let st = lock(&self.log.state);
        self.pending = st
            .history
            .iter()
            .filter(|e| e.seq >= self.next)
            .cloned()
            .collect();
    }

    /// How many live events this subscriber missed because it was slow (each was then
    /// re-read from the log, so none was lost).
    pub fn lagged(&self) -> u64 {
        self.lagged
    }

    /// The sequence number this subscription will yield next.
    pub fn next_seq(&self) -> u64 {
        self.held.as_ref().map_or(self.next, |e| e.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    fn warn(i: u64) -> Event {
        Event::warning("t", format!("{i}"))
    }

    #[tokio::test]
    async fn seq_is_gapless_and_replay_then_live() {
        let bus = EventBus::new(4);
        let em = bus.emitter("p");
        for i in 0..3 {
            em.emit(warn(i));
        }
        let mut sub = bus.subscribe("p", 1);
        assert_eq!(sub.next().await.map(|e| e.seq), Some(2));
        assert_eq!(sub.next().await.map(|e| e.seq), Some(3));
        em.emit(warn(3));
        assert_eq!(sub.next().await.map(|e| e.seq), Some(4));
        bus.close("p");
        assert!(sub.next().await.is_none());
    }

    #[tokio::test]
    async fn slow_subscriber_lags_but_loses_nothing_and_never_blocks() {
        let bus = EventBus::new(2);
        let em = bus.emitter("p");
        let mut sub = bus.subscribe("p", 0);
        // 100 events into a live buffer of 2: emit must not wait for the subscriber.
        for i in 0..100 {
            em.emit(warn(i));
        }
        bus.close("p");
        let mut seqs = vec![];
        while let Some(e) = sub.next().await {
            seqs.push(e.seq);
        }
        assert_eq!(seqs, (1..=100).collect::<Vec<_>>());
        assert!(sub.lagged() > 0, "the subscriber is told it lagged");
    }

    #[tokio::test]
    async fn restore_keeps_seq_and_ts_and_continues_after() {
        let old = EventBus::default();
        let em = old.emitter("p");
        em.emit(warn(0));
        em.emit(warn(1));
        let saved = old.history("p");
        let bus = EventBus::default();
        assert_eq!(bus.restore("p", saved.clone()).ok(), Some(2));
        assert_eq!(bus.history("p"), saved);
        let mut sub = bus.subscribe("p", 1);
        assert_eq!(sub.next().await.map(|e| e.seq), Some(2));
        assert!(sub.next().await.is_none(), "a restored stream is closed");
        assert_eq!(bus.emitter("p").emit(warn(2)).seq, 3);
        // A gap, another project's event or a non-empty log is refused.
        let mut gap = saved.clone();
        gap.remove(0);
        assert!(EventBus::default().restore("p", gap).is_err());
        assert!(EventBus::default().restore("q", saved.clone()).is_err());
        assert!(bus.restore("p", saved).is_err());
    }

    #[tokio::test]
    async fn contains_and_forget_create_nothing_and_drop_only_closed_logs() {
        let bus = EventBus::default();
        assert!(!bus.contains("p"));
        assert!(bus.history("p").is_empty());
        assert!(
            !bus.contains("p"),
            "history of an unknown project creates nothing"
        );
        let em = bus.emitter("p");
        em.emit(warn(0));
        let mut sub = bus.subscribe("p", 0);
        assert!(!bus.forget("p"), "an open stream is kept");
        bus.close("p");
        assert!(bus.forget("p"));
        assert!(!bus.contains("p") && bus.projects().is_empty());
        // The open subscription still drains its copy and ends.
        assert_eq!(sub.next().await.map(|e| e.seq), Some(1));
        assert!(sub.next().await.is_none());
        // `since` at the integer limit: nothing after it, no overflow.
        bus.emitter("q").emit(warn(0));
        bus.close("q");
        assert!(bus.subscribe("q", u64::MAX).next().await.is_none());
    }

    #[tokio::test]
    async fn projects_are_independent() {
        let bus = EventBus::default();
        bus.emitter("a").emit(warn(0));
        bus.emitter("b").emit(warn(0));
        let e = bus.emitter("a").emit(warn(1));
        assert_eq!(e.seq, 2);
        assert_eq!(bus.history("b").len(), 1);
        assert_eq!(bus.projects(), vec!["a".to_string(), "b".to_string()]);
    }

    #[tokio::test]
    async fn emitting_from_threads_keeps_order() {
        let bus = EventBus::new(8);
        let mut handles = vec![];
        for t in 0..4 {
            let em = bus.emitter("p");
            handles.push(std::thread::spawn(move || {
                for i in 0..50 {
                    em.emit(warn(t * 100 + i));
                }
            }));
        }
        for h in handles {
            h.join().expect("thread");
        }
        let seqs: Vec<u64> = bus.history("p").iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn durable_subscriptions_yield_only_what_is_on_disk() {
        let bus = EventBus::default();
        let em = bus.emitter("d");
        em.emit(warn(0));
        bus.hold_until_durable("d", 1);
        let mut durable = bus.subscribe_durable("d", 0);
        let mut plain = bus.subscribe("d", 0);
        for i in 1..4 {
            em.emit(warn(i));
        }
        // seq 1 was durable already; 2..=4 are not yet.
        assert_eq!(durable.try_next().map(|e| e.seq), Some(1));
        assert_eq!(durable.try_next().map(|e| e.seq), None);
        assert_eq!(durable.next_seq(), 2, "the held envelope is still next");
        assert_eq!(plain.try_next().map(|e| e.seq), Some(1));
        assert_eq!(
            plain.try_next().map(|e| e.seq),
            Some(2),
            "plain ones do not wait"
        );
        bus.mark_durable("d", 3);
        assert_eq!(durable.try_next().map(|e| e.seq), Some(2));
        assert_eq!(durable.next().await.map(|e| e.seq), Some(3));
        let waiting = tokio::spawn(async move {
            let e = durable.next().await.map(|e| e.seq);
            (e, durable.next().await.map(|e| e.seq))
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "seq 4 is not on disk yet");
        bus.close("d");
        bus.mark_durable("d", 2);
        assert!(!waiting.is_finished(), "an older mark changes nothing");
        bus.release_durable("d");
        assert_eq!(waiting.await.expect("task"), (Some(4), None));
    }

    fn finished() -> Event {
        Event::RunFinished(crate::event::RunSummaryPayload {
            metrics: Default::default(),
            model: None,
            dir: None,
            duration_s: 0.0,
            message: "done".into(),
        })
    }

    fn seqs(envs: &[Envelope]) -> Vec<u64> {
        envs.iter().map(|e| e.seq).collect()
    }

    #[tokio::test]
    async fn a_follower_sees_the_writers_log_gapless_and_ends_with_the_run() {
        let store: Arc<dyn BusBackend> = Arc::new(MemoryBackend::new());
        let writer = EventBus::with_backend(4, store.clone());
        let reader = EventBus::with_backend(4, store.clone());
        assert_eq!(reader.backend_name().as_deref(), Some("memory"));
        let em = writer.emitter("p");
        for i in 0..10 {
            em.emit(warn(i));
        }
        writer.flush_backend("p").await.expect("stored");
        reader.follow("p").await.expect("follow");
        assert_eq!(reader.history("p").len(), 10, "the backlog is read at once");
        let mut sub = reader.subscribe("p", 3);
        // Live ones, more than the live buffer holds, reach the follower through its tail.
        for i in 10..40 {
            em.emit(warn(i));
        }
        em.emit(finished());
        let got = tokio::time::timeout(Duration::from_secs(10), async {
            let mut v = vec![];
            while let Some(e) = sub.next().await {
                v.push(e.seq);
            }
            v
        })
        .await
        .expect("the follower's stream ends after the terminal event");
        assert_eq!(got, (4..=41).collect::<Vec<_>>());
        assert_eq!(
            seqs(&store.range("p", 0).await.expect("range")),
            (1..=41).collect::<Vec<_>>()
        );
        // Following a finished project reads it and leaves it closed.
        let late = EventBus::with_backend(4, store);
        late.follow("p").await.expect("follow");
        let mut sub = late.subscribe("p", 40);
        assert_eq!(sub.next().await.map(|e| e.seq), Some(41));
        assert!(sub.next().await.is_none());
    }

    #[tokio::test]
    async fn a_second_writer_is_fenced_and_stays_fenced() {
        let store: Arc<dyn BusBackend> = Arc::new(MemoryBackend::new());
        let a = EventBus::with_backend(8, store.clone());
        let b = EventBus::with_backend(8, store.clone());
        a.emitter("p").emit(warn(0));
        a.flush_backend("p").await.expect("a writes first");
        // b does not load the stored log: its seq 1 collides with a's.
        let eb = b.emitter("p");
        eb.emit(warn(1));
        let err = b.flush_backend("p").await.expect_err("b is refused");
        assert_eq!(
            err,
            BusError::Fenced {
                project_id: "p".into(),
                seq: 1,
                last: 1
            }
        );
        // Even an append that would now fit (seq 2) is not written by the fenced writer.
        eb.emit(warn(2));
        assert!(b.flush_backend("p").await.is_err());
        assert_eq!(b.backend_error("p"), Some(err));
        assert_eq!(store.range("p", 0).await.expect("range").len(), 1);
        assert!(err_message_names_the_project(&b));
    }

    fn err_message_names_the_project(bus: &EventBus) -> bool {
        bus.backend_error("p")
            .is_some_and(|e| e.to_string().contains("event log of p"))
    }

    #[tokio::test]
    async fn a_worker_taking_over_loads_the_log_and_continues_its_seq() {
        let store: Arc<dyn BusBackend> = Arc::new(MemoryBackend::new());
        let dead = EventBus::with_backend(8, store.clone());
        for i in 0..3 {
            dead.emitter("p").emit(warn(i));
        }
        dead.flush_backend("p").await.expect("stored");
        drop(dead);
        let next = EventBus::with_backend(8, store.clone());
        assert_eq!(next.load("p").await.expect("load"), 3);
        assert_eq!(next.emitter("p").emit(warn(3)).seq, 4);
        next.flush_backend("p").await.expect("stored");
        assert_eq!(seqs(&store.range("p", 2).await.expect("range")), vec![3, 4]);
    }

    #[tokio::test]
    async fn ingest_refuses_a_gap_and_ignores_a_repeat() {
        let src = EventBus::default();
        let em = src.emitter("p");
        let envs: Vec<Envelope> = (0..3).map(|i| em.emit(warn(i))).collect();
        let bus = EventBus::default();
        assert_eq!(bus.ingest(envs[0].clone()), Ok(true));
        assert_eq!(bus.ingest(envs[0].clone()), Ok(false));
        assert_eq!(
            bus.ingest(envs[2].clone()),
            Err(BusError::Gap {
                project_id: "p".into(),
                expected: 2,
                found: 3
            })
        );
        assert_eq!(bus.history("p").len(), 1);
        // Without a backend, follow/load/flush do nothing and succeed.
        assert_eq!(bus.backend_name(), None);
        assert!(bus.follow("p").await.is_ok());
        assert_eq!(bus.load("p").await, Ok(1));
        assert!(bus.flush_backend("p").await.is_ok());
    }
}
