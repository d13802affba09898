//! automl-core: turns a plain-language request into a trained, evaluated, exported and
//! licence-audited model, and streams every step as typed events.
//!
//! The [`Conductor`] drives eight stages (see [`event::Stage`]) through plug points:
//! [`Agent`] (prompt parser, data set finder, model selector), [`Trainer`] and [`EventSink`].
//! Every state change is an [`Event`] in an [`Envelope`] on the per-project [`EventBus`].
//! See `docs/architecture.md` for the flow and `docs/events.md` for the contract.

pub mod agent;
pub mod boost;
pub mod bus;
pub mod catalog;
pub mod conductor;
pub mod data;
pub mod error;
pub mod event;
pub mod export;
pub mod finders;
pub mod gbdt;
pub mod hfcache;
#[cfg(feature = "hub")]
pub mod hub;
#[cfg(feature = "image")]
pub mod image;
pub mod intent;
pub mod licence;
pub mod linear;
#[cfg(feature = "hub")]
pub mod llm;
pub mod metrics;
pub mod notebook;
pub mod parser;
pub mod path;
pub mod preprocess;
pub mod profile;
pub mod selector;
pub mod sink;
pub mod trainer;

pub use agent::{Agent, Prompt, RunSettings, StageContext};
pub use bus::{Emitter, EventBus, Subscription};
pub use conductor::{
    Choice, Conductor, ConductorBuilder, RunControl, RunHandle, RunOutcome, RunRequest, RunStatus,
};
pub use error::{AutomlError, Result};
pub use event::{Envelope, Event, Stage, StageStatus};
pub use intent::{Intent, Modality, Objective};
pub use sink::{ChannelSink, EventSink, JsonlSink, SinkReport};
pub use trainer::{TrainContext, TrainedModel, Trainer, load_model};

/// The version of automl (crate, wheel and npm package share it).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
