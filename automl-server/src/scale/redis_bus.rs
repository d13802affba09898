//! The Redis Streams backend of the event bus.
//!
//! * One stream per project, `<prefix>events:<project id>`; each entry's ID is `0-<seq>` and
//!   its one field `e` holds the envelope as JSON.
//! * Appends go through one Lua script that checks the stream's last ID is `0-<first seq - 1>`
//!   and then `XADD`s the batch with explicit IDs: all or nothing, gapless, and a writer that
//!   does not continue the log (a stale worker after a takeover) is refused
//!   ([`BusError::Fenced`]). Redis itself also refuses any ID not above the last one.
//! * Replay is `XRANGE key (0-<since> +`; the tail is `XREAD BLOCK` over every followed
//!   project on a connection of its own with the response timeout lifted (the crate's default
//!   would cut a blocking read short), plus this process's wake stream so that a project
//!   followed meanwhile is read at once.

use std::sync::Mutex as StdMutex;
use std::time::Duration;

use async_trait::async_trait;
use automl_core::event::Envelope;
use automl_core::{BusBackend, BusError};
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamRangeReply, StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, AsyncConnectionConfig};
use tokio::sync::Mutex;

/// The fenced append: KEYS[1] the stream; ARGV[1] the first seq; ARGV[2..] the envelopes.
/// Returns the stream's last seq before the append, negated when the append was refused.
const APPEND: &str = r#"
local first = tonumber(ARGV[1])
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local last = 0
if #top > 0 then
  local s = string.match(top[1][1], '^0%-(%d+)$')
  if not s then return redis.error_reply('stream entry id ' .. top[1][1] .. ' is not 0-<seq>') end
  last = tonumber(s)
end
if last ~= first - 1 then return -last - 1 end
for i = 2, #ARGV do
  redis.call('XADD', KEYS[1], '0-' .. (first + i - 2), 'e', ARGV[i])
end
return last
"#;

/// The most entries one read returns per stream.
const READ_COUNT: usize = 1000;

/// Event logs in Redis Streams, shared by every process that names the same server.
pub struct RedisStreams {
    name: String,
    prefix: String,
    client: redis::Client,
    /// Appends and ranges (multiplexed: many in flight on one socket).
    conn: MultiplexedConnection,
    /// The tail's blocking reads, one at a time.
    tail: Mutex<Option<MultiplexedConnection>>,
    append: redis::Script,
    /// This process's wake stream, read with the tail.
    wake_key: String,
    /// The ID of the last wake entry the tail has seen.
    wake_seen: StdMutex<String>,
}

fn unavailable(name: &str, e: impl std::fmt::Display) -> BusError {
    BusError::Unavailable {
        backend: name.to_string(),
        message: e.to_string(),
    }
}

/// Why a project's stream could not be read: Redis failed, or an entry is not what this
/// backend writes.
pub(crate) enum StreamError {
    Redis(redis::RedisError),
    Corrupt(String),
}

/// Every entry of project `project_id`'s stream `key` after seq `after`, read
/// `READ_COUNT` at a time (`XRANGE key (0-<after> + COUNT n`), decoded and checked.
pub(crate) async fn read_stream(
    conn: &mut MultiplexedConnection,
    key: &str,
    project_id: &str,
    after: u64,
) -> Result<Vec<Envelope>, StreamError> {
    let mut out = Vec::new();
    let mut after = after;
    loop {
        let reply: StreamRangeReply = redis::cmd("XRANGE")
            .arg(key)
            .arg(format!("(0-{after}"))
            .arg("+")
            .arg("COUNT")
            .arg(READ_COUNT)
            .query_async(conn)
            .await
            .map_err(StreamError::Redis)?;
        let n = reply.ids.len();
        for entry in &reply.ids {
            let env = decode_entry(project_id, entry).map_err(StreamError::Corrupt)?;
            after = env.seq;
            out.push(env);
        }
        if n < READ_COUNT {
            return Ok(out);
        }
    }
}

/// One stream entry of project `project_id`: its ID is `0-<seq>` and its field `e` the
/// envelope of that seq and project.
pub(crate) fn decode_entry(
    project_id: &str,
    entry: &redis::streams::StreamId,
) -> Result<Envelope, String> {
    let id = &entry.id;
    let seq = id
        .strip_prefix("0-")
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| format!("entry id {id} is not 0-<seq>"))?;
    let raw: String = entry
        .get("e")
        .ok_or_else(|| format!("entry {id} has no field e"))?;
    let env: Envelope =
        serde_json::from_str(&raw).map_err(|e| format!("entry {id} is not an envelope: {e}"))?;
    if env.seq != seq || env.project_id != project_id {
        return Err(format!(
            "entry {id} holds seq {} of project {:?}",
            env.seq, env.project_id
        ));
    }
    Ok(env)
}

impl RedisStreams {
    /// Connects to `url` (`redis://HOST:PORT[/DB]`); keys start with `prefix` (e.g.
    /// `automl:`). Fails with [`BusError::Unavailable`] when the server cannot be reached.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, BusError> {
        let name = format!("redis {url}");
        let client = redis::Client::open(url).map_err(|e| unavailable(&name, e))?;
        let conn = client
            .get_multiplexed_async_connection_with_config(
                &AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(5)))
                    .set_response_timeout(Some(Duration::from_secs(30))),
            )
            .await
            .map_err(|e| unavailable(&name, e))?;
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let wake_key = format!("{prefix}wake:{}-{nonce}", std::process::id());
        Ok(Self {
            name,
            prefix: prefix.to_string(),
            client,
            conn,
            tail: Mutex::new(None),
            append: redis::Script::new(APPEND),
            wake_key,
            wake_seen: StdMutex::new("0-0".to_string()),
        })
    }

    fn key(&self, project_id: &str) -> String {
        format!("{}events:{project_id}", self.prefix)
    }

    /// Removes `project_id`'s stream (after its log is archived elsewhere).
    pub async fn trim(&self, project_id: &str) -> Result<(), BusError> {
        let mut conn = self.conn.clone();
        redis::cmd("DEL")
            .arg(self.key(project_id))
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| unavailable(&self.name, e))
    }

    /// Lets `project_id`'s stream expire `after` from now (its log is archived in the
    /// object store): followers that are behind have that long to read the end from Redis;
    /// later ones read the archive. An expiry survives the process that set it.
    pub async fn expire(&self, project_id: &str, after: Duration) -> Result<(), BusError> {
        let mut conn = self.conn.clone();
        redis::cmd("PEXPIRE")
            .arg(self.key(project_id))
            .arg(after.as_millis().max(1) as u64)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| unavailable(&self.name, e))
    }

    async fn tail_conn(&self) -> Result<MultiplexedConnection, BusError> {
        let mut slot = self.tail.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        // Blocking reads: no response timeout (the read's own BLOCK bounds it).
        let c = self
            .client
            .get_multiplexed_async_connection_with_config(
                &AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(5)))
                    .set_response_timeout(None),
            )
            .await
            .map_err(|e| unavailable(&self.name, e))?;
        *slot = Some(c.clone());
        Ok(c)
    }
}

#[async_trait]
impl BusBackend for RedisStreams {
    fn name(&self) -> &str {
        &self.name
    }

    async fn append(&self, project_id: &str, events: &[Envelope]) -> Result<(), BusError> {
        let Some(first) = events.first().map(|e| e.seq) else {
            return Ok(());
        };
        let mut inv = self.append.key(self.key(project_id));
        inv.arg(first);
        for (i, e) in events.iter().enumerate() {
            if e.seq != first + i as u64 || e.project_id != project_id {
                return Err(BusError::Fenced {
                    project_id: project_id.to_string(),
                    seq: e.seq,
                    last: first + i as u64 - 1,
                });
            }
            let json = serde_json::to_string(e).map_err(|e| BusError::Corrupt {
                project_id: project_id.to_string(),
                message: format!("envelope not serialisable: {e}"),
            })?;
            inv.arg(json);
        }
        let mut conn = self.conn.clone();
        let r: i64 = inv
            .invoke_async(&mut conn)
            .await
            .map_err(|e| unavailable(&self.name, e))?;
        if r < 0 {
            return Err(BusError::Fenced {
                project_id: project_id.to_string(),
                seq: first,
                last: (-r - 1) as u64,
            });
        }
        Ok(())
    }

    async fn range(&self, project_id: &str, since: u64) -> Result<Vec<Envelope>, BusError> {
        let mut conn = self.conn.clone();
        read_stream(&mut conn, &self.key(project_id), project_id, since)
            .await
            .map_err(|e| match e {
                StreamError::Redis(e) => unavailable(&self.name, e),
                StreamError::Corrupt(message) => BusError::Corrupt {
                    project_id: project_id.to_string(),
                    message,
                },
            })
    }

    async fn read_after(
        &self,
        cursors: &[(String, u64)],
        block: Duration,
    ) -> Result<Vec<Envelope>, BusError> {
        let mut keys: Vec<String> = cursors.iter().map(|(p, _)| self.key(p)).collect();
        let mut ids: Vec<String> = cursors.iter().map(|(_, s)| format!("0-{s}")).collect();
        keys.push(self.wake_key.clone());
        ids.push(
            self.wake_seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        );
        let opts = StreamReadOptions::default()
            .count(READ_COUNT)
            .block(block.as_millis().max(1) as usize);
        let mut conn = self.tail_conn().await?;
        let reply: Option<StreamReadReply> = match conn.xread_options(&keys, &ids, &opts).await {
            Ok(r) => r,
            Err(e) => {
                // A broken connection is made anew on the next read.
                *self.tail.lock().await = None;
                return Err(unavailable(&self.name, e));
            }
        };
        let mut out = Vec::new();
        for stream in reply.map(|r| r.keys).unwrap_or_default() {
            if stream.key == self.wake_key {
                if let Some(last) = stream.ids.last() {
                    *self.wake_seen.lock().unwrap_or_else(|p| p.into_inner()) = last.id.clone();
                }
                continue;
            }
            let Some((project_id, _)) = cursors.iter().find(|(p, _)| self.key(p) == stream.key)
            else {
                continue;
            };
            for entry in &stream.ids {
                out.push(
                    decode_entry(project_id, entry).map_err(|message| BusError::Corrupt {
                        project_id: project_id.to_string(),
                        message,
                    })?,
                );
            }
        }
        Ok(out)
    }

    async fn wake(&self) {
        let mut conn = self.conn.clone();
        let r: redis::RedisResult<()> = redis::pipe()
            .cmd("XADD")
            .arg(&self.wake_key)
            .arg("MAXLEN")
            .arg(16)
            .arg("*")
            .arg("w")
            .arg(1)
            .ignore()
            .cmd("EXPIRE")
            .arg(&self.wake_key)
            .arg(3600)
            .ignore()
            .query_async(&mut conn)
            .await;
        if let Err(e) = r {
            tracing::warn!(backend = %self.name, error = %e, "could not wake the bus tail; it reads the new project after its block time");
        }
    }
}
