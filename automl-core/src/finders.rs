//! The default agents and DATA_SOURCE's fallback chain:
//! Hub → local Hugging Face cache → bundled catalog → ask for an upload.
//!
//! Each step is announced with a STAGE_STATUS message; a step that fails, or finds nothing it
//! may use, is followed by a WARNING saying why and which step comes next. Rejected candidates
//! of every step are kept, so DATASET_CANDIDATES shows all the licence verdicts that were made.
//! Data supplied by the caller skips the chain.

use std::sync::Arc;

use async_trait::async_trait;

use crate::agent::{Agent, Prompt, StageContext};
use crate::catalog::{CatalogFinder, DatasetChoice, DatasetQuery};
use crate::error::{AutomlError, Result};
use crate::event::{Event, ModelCandidate, Stage, StageStatus};
use crate::hfcache::HfCacheFinder;
use crate::intent::Intent;
use crate::selector::{CostFirstSelector, SelectionInput};

type Finder = Arc<dyn Agent<DatasetQuery, DatasetChoice>>;

/// One step of the chain.
#[derive(Clone)]
struct Step {
    code: String,
    label: String,
    agent: Option<Finder>,
    skip: Option<String>,
}

/// Tries finders in order until one chooses an allowed data set.
#[derive(Clone, Default)]
pub struct FinderChain {
    steps: Vec<Step>,
}

impl FinderChain {
    /// An empty chain.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a step. `code` names it in WARNING codes (`hub`, `hf_cache`, `catalog`), `label`
    /// in messages.
    pub fn step(mut self, code: &str, label: impl Into<String>, agent: Finder) -> Self {
        self.steps.push(Step {
            code: code.to_string(),
            label: label.into(),
            agent: Some(agent),
            skip: None,
        });
        self
    }

    /// Adds a step that is announced as skipped, with the reason.
    pub fn skipped(
        mut self,
        code: &str,
        label: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        self.steps.push(Step {
            code: code.to_string(),
            label: label.into(),
            agent: None,
            skip: Some(reason.into()),
        });
        self
    }

    /// The default chain from the environment: the Hub when configured
    /// ([`crate::hub::HubConfig::from_env`], feature `hub`), the local HF cache, the bundled
    /// catalog.
    pub fn from_env() -> Self {
        let mut c = FinderChain::new();
        #[cfg(feature = "hub")]
        {
            c = match crate::hub::HubConfig::from_env() {
                crate::hub::HubSetting::Enabled(cfg) => {
                    let label = format!("the Hugging Face Hub at {}", cfg.endpoint);
                    c.step("hub", label, Arc::new(crate::hub::HubFinder::new(cfg)))
                }
                crate::hub::HubSetting::Disabled(why) => {
                    c.skipped("hub", "the Hugging Face Hub", why)
                }
            };
        }
        #[cfg(not(feature = "hub"))]
        {
            c = c.skipped(
                "hub",
                "the Hugging Face Hub",
                "automl-core was built without the `hub` feature",
            );
        }
        let cache = HfCacheFinder::default();
        let label = match cache.dir() {
            Some(d) => format!("the local Hugging Face cache ({})", d.display()),
            None => "the local Hugging Face cache".to_string(),
        };
        c.step("hf_cache", label, Arc::new(cache)).step(
            "catalog",
            "the bundled catalog",
            Arc::new(CatalogFinder::default()),
        )
    }

    /// The step labels, in order.
    pub fn labels(&self) -> Vec<String> {
        self.steps.iter().map(|s| s.label.clone()).collect()
    }
}

#[async_trait]
impl Agent<DatasetQuery, DatasetChoice> for FinderChain {
    fn name(&self) -> &str {
        "chain"
    }

    async fn run(&self, q: DatasetQuery, cx: &StageContext) -> Result<DatasetChoice> {
        if q.data.is_some() {
            return CatalogFinder::default().run(q, cx).await;
        }
        let mut rejected = Vec::new();
        let mut reasons: Vec<String> = Vec::new();
        let n = self.steps.len();
        for (i, step) in self.steps.iter().enumerate() {
            let next = self
                .steps
                .get(i + 1)
                .map(|s| format!("trying {}", s.label))
                .unwrap_or_else(|| "no source left".to_string());
            if let Some(why) = &step.skip {
                cx.emitter.emit(Event::stage(
                    Stage::DataSource,
                    StageStatus::Running,
                    format!("step {}/{n}: skipping {}: {why}", i + 1, step.label),
                ));
                reasons.push(format!("{}: skipped ({why})", step.label));
                continue;
            }
            let Some(agent) = &step.agent else { continue };
            cx.check_cancelled()?;
            cx.emitter.emit(Event::stage(
                Stage::DataSource,
                StageStatus::Running,
                format!("step {}/{n}: searching {}", i + 1, step.label),
            ));
            match agent.run(q.clone(), cx).await {
                Err(AutomlError::Cancelled) => return Err(AutomlError::Cancelled),
                Err(e) => {
                    cx.emitter.emit(Event::warning(
                        format!("{}_unavailable", step.code),
                        format!("{} failed: {e}; {next}", step.label),
                    ));
                    reasons.push(format!("{}: {e}", step.label));
                }
                Ok(mut choice) => {
                    if choice.chosen.is_some() {
                        rejected.append(&mut choice.rejected);
                        choice.rejected = rejected;
                        return Ok(choice);
                    }
                    let why = choice
                        .why_none
                        .clone()
                        .unwrap_or_else(|| "nothing usable".to_string());
                    cx.emitter.emit(Event::warning(
                        format!("{}_no_dataset", step.code),
                        format!("{}: {why}; {next}", step.label),
                    ));
                    reasons.push(format!("{}: {why}", step.label));
                    rejected.append(&mut choice.rejected);
                }
            }
        }
        let why = format!(
            "no allowed data set was found ({}); upload your data (--data FILE)",
            reasons.join("; ")
        );
        cx.emitter
            .emit(Event::warning("upload_needed", why.clone()));
        Ok(DatasetChoice {
            chosen: None,
            candidates: vec![],
            rejected,
            why_none: Some(why),
        })
    }
}

/// The agents a [`crate::Conductor`] uses unless told otherwise, read from the environment.
pub struct DefaultAgents {
    /// PARSE_INTENT: the LLM parser when `AUTOML_LLM_BASE_URL` is set (feature `hub`), falling
    /// back to the embedded parser; the embedded parser otherwise.
    pub parser: Arc<dyn Agent<Prompt, Intent>>,
    /// DATA_SOURCE: [`FinderChain::from_env`].
    pub finder: Arc<dyn Agent<DatasetQuery, DatasetChoice>>,
    /// MODEL_SELECT: cheapest first, explained by the LLM when one is configured (same client
    /// and call budget as the parser).
    pub selector: Arc<dyn Agent<SelectionInput, Vec<ModelCandidate>>>,
}

/// Builds the [`DefaultAgents`] from the environment.
pub fn default_agents() -> DefaultAgents {
    let finder: Arc<dyn Agent<DatasetQuery, DatasetChoice>> = Arc::new(FinderChain::from_env());
    #[cfg(feature = "hub")]
    {
        let parser = crate::llm::LlmParser::from_env();
        let selector: Arc<dyn Agent<SelectionInput, Vec<ModelCandidate>>> = match parser.client() {
            Some(c) => Arc::new(crate::llm::ExplainingSelector::new(
                Arc::new(CostFirstSelector),
                c.clone(),
            )),
            None => Arc::new(CostFirstSelector),
        };
        DefaultAgents {
            parser: Arc::new(parser),
            finder,
            selector,
        }
    }
    #[cfg(not(feature = "hub"))]
    {
        DefaultAgents {
            parser: Arc::new(crate::parser::EmbeddedParser),
            finder,
            selector: Arc::new(CostFirstSelector),
        }
    }
}
