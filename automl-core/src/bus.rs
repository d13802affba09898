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

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{broadcast, watch};

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
}

struct ProjectLog {
    project_id: String,
    state: Mutex<LogState>,
    /// True while durable subscriptions wait for `durable`.
    held: AtomicBool,
    /// The highest seq known to be on disk.
    durable: watch::Sender<u64>,
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
            }),
        }
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
}

/// Appends events to one project's log. Cheap to clone; usable from any thread.
#[derive(Clone)]
pub struct Emitter {
    log: Arc<ProjectLog>,
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
}
