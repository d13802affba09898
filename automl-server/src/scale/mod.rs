//! Scale-out (docs/scale-out.md): the pieces that let several `automl` processes share work
//! through Redis. [`RedisStreams`] is the event bus backend: one stream per project whose
//! entry IDs are the event seqs.

mod redis_bus;

pub use redis_bus::RedisStreams;

/// The prefix of every key `automl serve --redis` writes.
pub const KEY_PREFIX: &str = "automl:";
