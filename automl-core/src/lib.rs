//! automl-core: turns a plain-language request into a trained, evaluated, exported and
//! licence-audited model, and streams every step as typed events.
//!
//! The [`Conductor`] drives eight stages (see [`event::Stage`]) through plug points:
//! [`Agent`] (prompt parser, data set finder, model selector), [`Trainer`] and [`EventSink`].
//! Every state change is an [`Event`] in an [`Envelope`] on the per-project [`EventBus`].
//!
//! The modules form layers; a module imports only from its own layer or below (checked by
//! `tests/architecture.rs`, table in `docs/architecture.md`):
//!
//! | layer | modules | holds |
//! |---|---|---|
//! | 0 contract | [`event`], [`error`], [`words`] | events, payloads, intent, summaries, errors |
//! | 1 transport | [`bus`], [`sink`], [`metrics`] | the per-project log, sinks, metrics |
//! | 2 data | [`data`] | loaders, profile, preprocessing |
//! | 3 train | [`train`] | the `Trainer` plug point and the linear, GBDT and image trainers |
//! | 4 agents | [`agents`] | the `Agent` plug point, parsers, selector, finders, licences |
//! | 5 export | [`export`] | artifacts, model card, notebook |
//! | 6 conductor | [`conductor`] | the run: one file per stage, and the default wiring |
//! | 7 api | [`api`] | the one API every surface (CLI, server, Python, Node) calls |

pub mod agents;
pub mod api;
pub mod bus;
pub mod conductor;
pub mod data;
pub mod error;
pub mod event;
pub mod export;
pub mod metrics;
pub mod sink;
pub mod train;
pub mod words;

pub use agents::{Agent, Prompt, RunSettings, StageContext};
pub use api::{load_model, parse_prompt, predict_file};
pub use bus::{BusBackend, BusError, Emitter, EventBus, MemoryBackend, Subscription};
pub use conductor::{
    Choice, Conductor, ConductorBuilder, RunControl, RunHandle, RunOutcome, RunRequest, RunStatus,
};
pub use error::{AutomlError, ErrorCategory, Result};
pub use event::{Envelope, Event, Intent, Modality, Objective, Stage, StageStatus};
pub use sink::{ChannelSink, EventSink, JsonlSink, SinkReport};
pub use train::{Predictions, TrainContext, TrainedModel, Trainer};

/// The version of automl (crate, wheel and npm package share it).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
