//! Scale-out (docs/scale-out.md): the pieces that let several `automl` processes share work
//! through Redis. [`RedisStreams`] is the event bus backend: one stream per project whose
//! entry IDs are the event seqs. [`RunQueue`] and [`worker_cli`] are the run queue of
//! `automl serve --redis` and `automl worker` (apalis on the same Redis); [`ProjectIndex`] is
//! the project list every server of one Redis shares. [`ArtifactStore`] keeps ended runs'
//! folders in an object store (`--store`) that every server serves downloads from.

mod projects;
mod queue;
mod redis_bus;
mod store;

pub use projects::{IndexedProject, ProjectIndex};
pub use queue::{RunJob, RunQueue, WorkerArgs, worker_cli};
pub use redis_bus::RedisStreams;
pub use store::{ARCHIVED_LOG, ArtifactStore, StoreError};

/// The prefix of every key `automl serve --redis` writes.
pub const KEY_PREFIX: &str = "automl:";
