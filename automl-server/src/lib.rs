//! automl-server: the reference HTTP/WebSocket server of automl (`automl serve`).
//!
//! HTTP is for commands, the WebSocket is for state: see [`server`] and `docs/server.md`.

pub mod scale;
pub mod server;
