//! `GET /ws/projects/{id}?since=N`: the project's envelopes, one per text message, exactly as
//! the event contract writes them: every event after `N` from the log, then live ones.
//!
//! * Live frames are serialised once per project (the hub in [`AppState::hub`]) and shared by
//!   every client; a gap or a late start is filled from the log, so nothing is skipped.
//! * A client that falls more than `ws_live_buffer` events behind, or whose socket does not take
//!   a write within `ws_send_timeout`, is disconnected with close code 1008 and a reason that
//!   names the seq to resume from; it never slows the run or the other clients.
//! * The server pings every `ws_ping_interval`; a client silent for three intervals is dropped.
//!   Browsers, which cannot send ping frames, may send `{"type":"ping"}` and get
//!   `{"type":"pong"}` back.
//! * On shutdown every client gets close code 1001 "server shutting down".

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::error::AppError;
use super::state::{AppState, Counters, Frame, Located, ProjectId};

/// Close code for a client that was too slow (policy violation).
pub const CLOSE_TOO_SLOW: u16 = 1008;
/// Close code for a project id the server does not know (after `ws_unknown_grace`).
pub const CLOSE_NOT_FOUND: u16 = 4404;
/// Close code for a server that is going away.
pub const CLOSE_GOING_AWAY: u16 = 1001;

const MAX_BATCH: usize = 256;
/// How long the close frame may take (a slow client still gets it once it reads its backlog).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Upgrades to a WebSocket streaming the project's envelopes after `since`.
#[utoipa::path(
    get,
    path = "/ws/projects/{project_id}",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("since" = Option<u64>, Query, description = "Last seq the client has (0 = everything)"),
    ),
    responses(
        (status = 101, description = "WebSocket: one envelope per text message, replay then live"),
        (status = 400, description = "Bad project id or since", body = super::error::ErrorBody),
        (status = 503, description = "Too many live connections", body = super::error::ErrorBody),
    ),
    tag = "events"
)]
pub async fn ws_handler(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Result<Response, AppError> {
    let id = ProjectId::parse(&id)?;
    let since = match q.get("since") {
        None => 0,
        Some(s) => s.trim().parse::<u64>().map_err(|_| {
            AppError::BadRequest(format!("since must be a whole number, got {s:?}"))
        })?,
    };
    if state.shutdown_token().is_cancelled() {
        return Err(AppError::ShuttingDown);
    }
    // Taken before the upgrade, given back when the connection (or a failed upgrade) ends.
    let slot = state.reserve_slot(&id)?;
    Ok(ws
        .protocols([super::access::WS_PROTOCOL])
        .read_buffer_size(4 << 10)
        .write_buffer_size(16 << 10)
        .max_message_size(64 << 10)
        .on_upgrade(move |socket: WebSocket| async move {
            let _slot = slot;
            let (tx, rx) = socket.split();
            serve_connection(state, id, since, tx, rx).await;
        }))
}

enum SendFail {
    /// The socket did not take the write in time.
    Slow,
    /// The socket is gone.
    Closed,
}

async fn send_batch<S>(tx: &mut S, msgs: Vec<Message>, timeout: Duration) -> Result<(), SendFail>
where
    S: Sink<Message> + Unpin,
{
    let fut = async {
        for m in msgs {
            tx.feed(m).await.map_err(|_| SendFail::Closed)?;
        }
        tx.flush().await.map_err(|_| SendFail::Closed)
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(SendFail::Slow),
    }
}

async fn send_close<S>(tx: &mut S, code: u16, reason: String, timeout: Duration)
where
    S: Sink<Message> + Unpin,
{
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from(reason),
    };
    let _ = tokio::time::timeout(timeout, tx.send(Message::Close(Some(frame)))).await;
}

/// Streams one project to one client until either side leaves. Generic over the socket halves
/// so that it can be driven without a network.
pub async fn serve_connection<S, R, E>(
    state: AppState,
    id: ProjectId,
    since: u64,
    mut tx: S,
    mut rx: R,
) where
    S: Sink<Message> + Unpin,
    R: Stream<Item = Result<Message, E>> + Unpin,
{
    let counters = state.counters();
    Counters::inc(&counters.ws_accepted);
    counters
        .ws_open
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let cfg = state.config().clone();
    let shutdown = state.shutdown_token().clone();
    let mut next = since.saturating_add(1);
    let interval = cfg.ws_ping_interval;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    let mut last_heard = Instant::now();
    tracing::debug!(project = %id, since, "websocket open");

    let reason: Option<(u16, String)> = 'conn: {
        // Find the project without creating it; an id the server does not know yet may be
        // about to start (a UI follows before it posts the run), so wait a little for it.
        let deadline = tokio::time::Instant::now() + cfg.ws_unknown_grace;
        let mut created = state.watch_created();
        // With a shared bus, the project may be another server's: read and follow it.
        state.follow_shared(&id).await;
        let shared = state.shared_bus();
        let located = loop {
            if let Some(l) = state.locate(&id, since) {
                break Some(l);
            }
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => {
                    break 'conn Some((CLOSE_GOING_AWAY, "server shutting down".to_string()));
                }
                m = rx.next() => match m {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break 'conn None,
                    Some(Ok(_)) => {}
                },
                _ = tokio::time::sleep_until(deadline) => break None,
                c = created.changed() => if c.is_err() { break None },
                // Another server's project shows up in the shared log by itself.
                _ = tokio::time::sleep(Duration::from_millis(100)), if shared => {}
            }
        };
        let (mut sub, mut live) = match located {
            None => break 'conn Some((CLOSE_NOT_FOUND, format!("project {id} not found"))),
            Some(Located::OnDisk(path)) => {
                // A finished project: its log is on disk only; stream it from the file.
                match replay_file(&path, &mut next, &mut tx, cfg.ws_send_timeout, counters).await {
                    Ok(()) => {}
                    Err(SendFail::Closed) => break 'conn None,
                    Err(SendFail::Slow) => {
                        break 'conn Some(too_slow(
                            counters,
                            next,
                            "a write did not complete in time".to_string(),
                        ));
                    }
                }
                (None, None)
            }
            Some(Located::Live(sub, live)) => (Some(sub), Some(live)),
        };
        let mut live_open = live.is_some();
        // After the live stream ends, the rest of the log is read from `sub` by waiting on it:
        // an event the run emitted before the hub began may not be on disk yet (a durable
        // subscription holds it back until the log's writer marks it), and a non-blocking
        // drain at that moment would lose it for good.
        let mut draining = false;
        // Replay.
        let backlog = sub
            .as_mut()
            .map(|s| from_sub(s, &mut next))
            .unwrap_or_default();
        for chunk in backlog.chunks(MAX_BATCH) {
            match send_batch(&mut tx, chunk.to_vec(), cfg.ws_send_timeout).await {
                Ok(()) => add_sent(counters, chunk.len()),
                Err(SendFail::Closed) => break 'conn None,
                Err(SendFail::Slow) => {
                    break 'conn Some(too_slow(
                        counters,
                        next,
                        "a write did not complete in time".to_string(),
                    ));
                }
            }
        }
        drop(backlog);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => {
                    break 'conn Some((CLOSE_GOING_AWAY, "server shutting down".to_string()));
                }
                m = rx.next() => match m {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break 'conn None,
                    Some(Ok(Message::Text(t))) => {
                        last_heard = Instant::now();
                        if is_app_ping(t.as_str()) {
                            let pong = vec![Message::Text(Utf8Bytes::from_static(r#"{"type":"pong"}"#))];
                            if let Err(f) = send_batch(&mut tx, pong, cfg.ws_send_timeout).await {
                                break 'conn fail(f, counters, next);
                            }
                        }
                    }
                    Some(Ok(_)) => last_heard = Instant::now(),
                },
                _ = ping.tick() => {
                    if last_heard.elapsed() > interval * 3 {
                        Counters::inc(&counters.ws_ping_timeouts);
                        break 'conn Some((CLOSE_GOING_AWAY, format!("no answer to pings for {}s", (interval * 3).as_secs())));
                    }
                    if let Err(f) = send_batch(&mut tx, vec![Message::Ping(Default::default())], cfg.ws_send_timeout).await {
                        break 'conn fail(f, counters, next);
                    }
                }
                e = async { match sub.as_mut() { Some(s) => s.next().await, None => std::future::pending().await } }, if draining => {
                    let Some(e) = e else {
                        // The whole log has been sent: let go of the project's memory.
                        sub = None;
                        draining = false;
                        continue;
                    };
                    let mut out = Vec::new();
                    if e.seq >= next {
                        next = e.seq + 1;
                        out.push(Message::Text(Utf8Bytes::from(e.to_json_line())));
                    }
                    if let Some(s) = sub.as_mut() {
                        out.extend(from_sub(s, &mut next));
                    }
                    if let Err(why) = send_out(&mut tx, out, cfg.ws_send_timeout, counters, next).await {
                        break 'conn why;
                    }
                }
                r = async { match live.as_mut() { Some(l) => l.recv().await, None => std::future::pending().await } }, if live_open => {
                    let mut frames: Vec<Frame> = Vec::new();
                    match r {
                        Ok(f) => frames.push(f),
                        Err(RecvError::Lagged(_)) => break 'conn Some(too_slow(counters, next, behind(cfg.ws_live_buffer))),
                        Err(RecvError::Closed) => live_open = false,
                    }
                    while live_open && frames.len() < MAX_BATCH {
                        let Some(l) = live.as_mut() else { break };
                        match l.try_recv() {
                            Ok(f) => frames.push(f),
                            Err(TryRecvError::Empty) => break,
                            Err(TryRecvError::Lagged(_)) => break 'conn Some(too_slow(counters, next, behind(cfg.ws_live_buffer))),
                            Err(TryRecvError::Closed) => live_open = false,
                        }
                    }
                    let mut out = Vec::with_capacity(frames.len());
                    for f in frames {
                        if f.seq > next {
                            // A gap (the hub started after this client's replay): the log has it.
                            if let Some(s) = sub.as_mut() {
                                out.extend(from_sub(s, &mut next));
                            }
                        }
                        if f.seq < next {
                            continue;
                        }
                        next = f.seq + 1;
                        out.push(Message::Text(f.text));
                    }
                    if !live_open {
                        // The project's stream ended: whatever the hub did not carry is in the
                        // log; what is ready goes now, the rest as it reaches the disk.
                        if let Some(s) = sub.as_mut() {
                            out.extend(from_sub(s, &mut next));
                            draining = true;
                        }
                        live = None;
                    }
                    if let Err(why) = send_out(&mut tx, out, cfg.ws_send_timeout, counters, next).await {
                        break 'conn why;
                    }
                }
            }
        }
    };
    if let Some((code, text)) = reason {
        tracing::info!(project = %id, code, reason = %text, "websocket closed by the server");
        send_close(&mut tx, code, text, CLOSE_TIMEOUT).await;
        // Wait a little for the client's Close so that it reads ours before the socket goes
        // (dropping at once can reset the connection under a client still writing pongs).
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            while let Some(Ok(m)) = rx.next().await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
    counters
        .ws_open
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    tracing::debug!(project = %id, "websocket closed");
}

/// Sends `out` (nothing when it is empty), the batch ending just before `next`; on failure,
/// what to close the connection with (`None`: the socket is gone).
async fn send_out<S>(
    tx: &mut S,
    out: Vec<Message>,
    timeout: Duration,
    counters: &Counters,
    next: u64,
) -> Result<(), Option<(u16, String)>>
where
    S: Sink<Message> + Unpin,
{
    if out.is_empty() {
        return Ok(());
    }
    let n = out.len();
    match send_batch(tx, out, timeout).await {
        Ok(()) => {
            add_sent(counters, n);
            Ok(())
        }
        Err(f) => Err(fail(f, counters, next - n as u64)),
    }
}

fn add_sent(c: &Counters, n: usize) {
    c.ws_sent
        .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
}

fn too_slow(c: &Counters, next: u64, why: String) -> (u16, String) {
    Counters::inc(&c.ws_slow_disconnects);
    (
        CLOSE_TOO_SLOW,
        format!(
            "client too slow ({why}); reconnect with ?since=<last seq received>, at most {}",
            next.saturating_sub(1)
        ),
    )
}

fn behind(n: usize) -> String {
    format!("more than {n} events behind")
}

fn fail(f: SendFail, c: &Counters, next: u64) -> Option<(u16, String)> {
    match f {
        SendFail::Closed => None,
        SendFail::Slow => Some(too_slow(
            c,
            next,
            "a write did not complete in time".to_string(),
        )),
    }
}

fn is_app_ping(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(|t| t == "ping"))
        .unwrap_or(false)
}

/// Every envelope the subscription holds from `*next` on, advancing `*next`.
fn from_sub(sub: &mut automl_core::Subscription, next: &mut u64) -> Vec<Message> {
    let mut out = Vec::new();
    while let Some(env) = sub.try_next() {
        if env.seq < *next {
            continue;
        }
        *next = env.seq + 1;
        out.push(Message::Text(Utf8Bytes::from(env.to_json_line())));
    }
    out
}

/// Streams a finished project's `events.jsonl` from `*next` on, a batch at a time, without
/// loading it whole; advances `*next`.
async fn replay_file<S>(
    path: &std::path::Path,
    next: &mut u64,
    tx: &mut S,
    timeout: Duration,
    counters: &Counters,
) -> Result<(), SendFail>
where
    S: Sink<Message> + Unpin,
{
    use tokio::io::AsyncBufReadExt;
    #[derive(serde::Deserialize)]
    struct Seq {
        seq: u64,
    }
    let file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(log = %path.display(), error = %e, "event log unreadable");
            return Ok(());
        }
    };
    let mut lines = tokio::io::BufReader::new(file).lines();
    let mut batch = Vec::new();
    loop {
        let line = match lines.next_line().await {
            Ok(Some(l)) => l,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(log = %path.display(), error = %e, "event log read failed");
                break;
            }
        };
        let Ok(s) = serde_json::from_str::<Seq>(&line) else {
            continue;
        };
        if s.seq < *next {
            continue;
        }
        *next = s.seq + 1;
        batch.push(Message::Text(Utf8Bytes::from(line)));
        if batch.len() >= MAX_BATCH {
            let n = batch.len();
            send_batch(tx, std::mem::take(&mut batch), timeout).await?;
            add_sent(counters, n);
        }
    }
    if !batch.is_empty() {
        let n = batch.len();
        send_batch(tx, batch, timeout).await?;
        add_sent(counters, n);
    }
    Ok(())
}
