//! The project list shared by every `automl serve --redis` of one Redis, so that any server
//! lists the projects any server queued (`GET /api/projects`).
//!
//! * `<prefix>projects`: a sorted set of project ids, scored by the time the run was queued
//!   (milliseconds since the epoch), written when a server queues a run.
//! * `<prefix>project:<id>`: a hash with `prompt` and `queued` (RFC 3339, as written), and
//!   `summary` (the project's [`ProjectSummary`] as JSON) once its log has a terminal event:
//!   written by the server that queued it when it sees that event, or by whichever server lists
//!   the project first after it ended.
//!
//! A project without a `summary` is summarised from its event stream's first and last
//! entries (two reads), or, once the last one is terminal, from the whole log (once: the
//! summary is then stored).

use redis::aio::MultiplexedConnection;
use redis::streams::StreamRangeReply;

use automl_core::event::Envelope;

use crate::scale::redis_bus::{StreamError, decode_entry, read_stream};
use crate::server::state::ProjectSummary;

/// One project of the shared list, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedProject {
    /// The project id.
    pub id: String,
    /// The request text, as queued.
    pub prompt: Option<String>,
    /// When the run was queued (RFC 3339, milliseconds, UTC: the format of event times).
    pub queued: Option<String>,
    /// The summary stored at the terminal event, if any.
    pub summary: Option<ProjectSummary>,
}

/// The shared project list in Redis.
#[derive(Clone)]
pub struct ProjectIndex {
    conn: MultiplexedConnection,
    prefix: String,
}

fn redis_err(what: &str, e: redis::RedisError) -> String {
    format!("{what}: {e}")
}

impl ProjectIndex {
    /// The list on the Redis of `conn`; keys start with `prefix`.
    pub fn new(conn: MultiplexedConnection, prefix: &str) -> Self {
        Self {
            conn,
            prefix: prefix.to_string(),
        }
    }

    fn set_key(&self) -> String {
        format!("{}projects", self.prefix)
    }

    fn hash_key(&self, id: &str) -> String {
        format!("{}project:{id}", self.prefix)
    }

    fn stream_key(&self, id: &str) -> String {
        format!("{}events:{id}", self.prefix)
    }

    /// Records a project whose run is being queued now.
    pub async fn register(&self, id: &str, prompt: &str) -> Result<(), String> {
        let now = chrono::Utc::now();
        let mut conn = self.conn.clone();
        redis::pipe()
            .atomic()
            .cmd("HSET")
            .arg(self.hash_key(id))
            .arg("prompt")
            .arg(prompt)
            .arg("queued")
            .arg(now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .ignore()
            .cmd("ZADD")
            .arg(self.set_key())
            .arg(now.timestamp_millis())
            .arg(id)
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| redis_err("cannot record the project in the shared list", e))
    }

    /// Takes back a registration whose run could not be queued.
    pub async fn unregister(&self, id: &str) -> Result<(), String> {
        let mut conn = self.conn.clone();
        redis::pipe()
            .atomic()
            .cmd("ZREM")
            .arg(self.set_key())
            .arg(id)
            .ignore()
            .cmd("DEL")
            .arg(self.hash_key(id))
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| redis_err("cannot remove the project from the shared list", e))
    }

    /// Stores the summary of a project whose log has ended. Only for projects in the list: a
    /// summary is never the first thing written about a project.
    pub async fn record_end(&self, summary: &ProjectSummary) -> Result<(), String> {
        let json = serde_json::to_string(summary)
            .map_err(|e| format!("summary of {} not serialisable: {e}", summary.id))?;
        let mut conn = self.conn.clone();
        let listed: Option<f64> = redis::cmd("ZSCORE")
            .arg(self.set_key())
            .arg(&summary.id)
            .query_async(&mut conn)
            .await
            .map_err(|e| redis_err("cannot read the shared project list", e))?;
        if listed.is_none() {
            return Err(format!(
                "project {} is not in the shared list; its summary is not stored",
                summary.id
            ));
        }
        redis::cmd("HSET")
            .arg(self.hash_key(&summary.id))
            .arg("summary")
            .arg(json)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| redis_err("cannot store the project's summary", e))
    }

    /// Every listed project, newest queued first.
    pub async fn list(&self) -> Result<Vec<IndexedProject>, String> {
        let mut conn = self.conn.clone();
        let ids: Vec<String> = redis::cmd("ZREVRANGE")
            .arg(self.set_key())
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .map_err(|e| redis_err("cannot read the shared project list", e))?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HMGET")
                .arg(self.hash_key(id))
                .arg("prompt")
                .arg("queued")
                .arg("summary");
        }
        let rows: Vec<(Option<String>, Option<String>, Option<String>)> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| redis_err("cannot read the shared project list", e))?;
        ids.into_iter()
            .zip(rows)
            .map(|(id, (prompt, queued, summary))| {
                let summary = match summary {
                    None => None,
                    Some(s) => Some(serde_json::from_str::<ProjectSummary>(&s).map_err(|e| {
                        format!("the stored summary of project {id} is not a project summary: {e}")
                    })?),
                };
                Ok(IndexedProject {
                    id,
                    prompt,
                    queued,
                    summary,
                })
            })
            .collect()
    }

    /// The first and the last entry of each project's event stream (`None`: no events yet).
    pub async fn ends(&self, ids: &[String]) -> Result<Vec<Option<(Envelope, Envelope)>>, String> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            let key = self.stream_key(id);
            pipe.cmd("XRANGE")
                .arg(&key)
                .arg("-")
                .arg("+")
                .arg("COUNT")
                .arg(1);
            pipe.cmd("XREVRANGE")
                .arg(&key)
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1);
        }
        let mut conn = self.conn.clone();
        let replies: Vec<StreamRangeReply> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| redis_err("cannot read the projects' event streams", e))?;
        let mut out = Vec::with_capacity(ids.len());
        for (id, pair) in ids.iter().zip(replies.chunks(2)) {
            let one = |r: &StreamRangeReply| {
                r.ids
                    .first()
                    .map(|e| decode_entry(id, e).map_err(|m| format!("project {id}: {m}")))
                    .transpose()
            };
            let first = pair.first().map(one).transpose()?.flatten();
            let last = pair.get(1).map(one).transpose()?.flatten();
            out.push(first.zip(last));
        }
        Ok(out)
    }

    /// A project's whole event log from its stream.
    pub async fn log(&self, id: &str) -> Result<Vec<Envelope>, String> {
        let mut conn = self.conn.clone();
        read_stream(&mut conn, &self.stream_key(id), id, 0)
            .await
            .map_err(|e| match e {
                StreamError::Redis(e) => redis_err("cannot read the project's event stream", e),
                StreamError::Corrupt(m) => format!("project {id}: {m}"),
            })
    }
}
