//! The [`Agent`] plug point, its input and output types, and the context every stage gets.
//!
//! Implementations live beside this file (`parser`, `llm`, `selector`, `finders/`) and are
//! wired together in `conductor::defaults`; this module names none of them.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::bus::Emitter;
use crate::error::Result;
use crate::event::ModelCandidate;
use crate::train::TaskSpec;

pub mod brief;
pub mod finders;
pub mod licence;
#[cfg(feature = "hub")]
pub mod llm;
pub mod parser;
pub mod selector;

/// Settings of one run, shared by every stage.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Seed for splits and searches.
    pub seed: u64,
    /// Training budget in seconds.
    pub time_budget_s: f64,
    /// Trial count, when the caller asked for one (makes runs reproducible).
    pub max_trials: Option<u32>,
    /// The folder this run writes into.
    pub run_dir: PathBuf,
    /// Where the bundled data set catalog lives.
    pub catalog_dir: Option<PathBuf>,
}

/// What a stage gets: the emitter, cancellation and the run's settings.
#[derive(Clone)]
pub struct StageContext {
    /// Emits events into the project's bus.
    pub emitter: Emitter,
    /// Cancelled when the caller cancels the run.
    pub cancel: CancellationToken,
    /// The run's settings.
    pub settings: Arc<RunSettings>,
}

impl StageContext {
    /// Fails with [`crate::AutomlError::Cancelled`] when the run was cancelled.
    pub fn check_cancelled(&self) -> Result<()> {
        if self.cancel.is_cancelled() {
            Err(crate::AutomlError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// A pluggable step that turns an input into an output: the prompt parser
/// (`Agent<Prompt, Intent>`), the data set finder (`Agent<DatasetQuery, DatasetChoice>`) and the
/// model selector (`Agent<SelectionInput, Vec<ModelCandidate>>`).
#[async_trait]
pub trait Agent<In, Out>: Send + Sync
where
    In: Send + 'static,
    Out: Send + 'static,
{
    /// A short name for events and logs.
    fn name(&self) -> &str;

    /// Does the work.
    async fn run(&self, input: In, cx: &StageContext) -> Result<Out>;
}

#[async_trait]
impl<In, Out, T> Agent<In, Out> for Arc<T>
where
    In: Send + 'static,
    Out: Send + 'static,
    T: Agent<In, Out> + ?Sized,
{
    fn name(&self) -> &str {
        (**self).name()
    }

    async fn run(&self, input: In, cx: &StageContext) -> Result<Out> {
        (**self).run(input, cx).await
    }
}

/// The input of the prompt parser.
#[derive(Debug, Clone)]
pub struct Prompt {
    /// The request text.
    pub text: String,
    /// True when the caller supplies data (so the prompt need not name any).
    pub has_data: bool,
}

/// The model selector's input.
#[derive(Debug, Clone)]
pub struct SelectionInput {
    /// The task.
    pub spec: TaskSpec,
    /// Every candidate the registered trainers offer.
    pub candidates: Vec<ModelCandidate>,
}

/// The wait a `Retry-After` header asks for, in either of its forms (RFC 9110 §10.2.3):
/// delta-seconds (`120`, and the fractional `0.2` some servers send) or an HTTP date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`, also the obsolete RFC 850 and asctime forms), measured
/// from `now`. A date in the past asks for no wait; anything else unreadable is `None`
/// (the caller's own backoff applies). Shared by the network agents (LLM, Hub).
#[cfg(feature = "hub")]
pub(crate) fn retry_after(
    headers: &reqwest::header::HeaderMap,
    now: std::time::SystemTime,
) -> Option<std::time::Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(s) = v.parse::<f64>() {
        return (s.is_finite() && s >= 0.0).then(|| std::time::Duration::from_secs_f64(s));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(std::time::Duration::ZERO))
}
