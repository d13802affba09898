//! The default wiring, and the only module that names concrete agents, finders, trainers and
//! model formats: it maps the environment to what a [`super::Conductor`] uses unless told
//! otherwise, and to the formats [`crate::api::load_model`] reads.

use std::sync::Arc;

use crate::agents::finders::catalog::CatalogFinder;
use crate::agents::finders::hfcache::HfCacheFinder;
use crate::agents::finders::{DatasetChoice, DatasetQuery, FinderChain};
use crate::agents::parser::EmbeddedParser;
use crate::agents::selector::CostFirstSelector;
use crate::agents::{Agent, Prompt, SelectionInput};
use crate::event::{Intent, ModelCandidate};
use crate::train::gbdt::{self, GbdtTrainer};
use crate::train::linear::{self, LinearTrainer};
use crate::train::{ModelFormats, TrainedModel, Trainer};
use crate::train::{decision, ensemble};

/// The default DATA_SOURCE chain from the environment: the Hub unless offline
/// (`HubConfig::from_env`, feature `hub`), the local HF cache, the bundled catalog.
pub fn finder_chain() -> FinderChain {
    finder_chain_with(None)
}

/// [`finder_chain`], with the Hub skipped for `offline`'s reason when given (`--offline`).
pub fn finder_chain_with(offline: Option<&str>) -> FinderChain {
    let mut c = FinderChain::new();
    #[cfg(feature = "hub")]
    {
        use crate::agents::finders::hub::{HubConfig, HubFinder, HubSetting};
        c = match HubConfig::from_env_or_offline(offline) {
            HubSetting::Enabled(cfg) => {
                let label = format!("the Hugging Face Hub at {}", cfg.endpoint);
                c.step("hub", label, Arc::new(HubFinder::new(cfg)))
            }
            HubSetting::Disabled(why) => c.skipped("hub", "the Hugging Face Hub", why),
        };
    }
    #[cfg(not(feature = "hub"))]
    {
        c = c.skipped(
            "hub",
            "the Hugging Face Hub",
            offline.unwrap_or("automl-core was built without the `hub` feature"),
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

/// The agents a [`super::Conductor`] uses unless told otherwise, read from the environment.
pub struct DefaultAgents {
    /// PARSE_INTENT: the LLM parser when `AUTOML_LLM_BASE_URL` is set (feature `hub`), falling
    /// back to the embedded parser; the embedded parser otherwise.
    pub parser: Arc<dyn Agent<Prompt, Intent>>,
    /// DATA_SOURCE: [`finder_chain`].
    pub finder: Arc<dyn Agent<DatasetQuery, DatasetChoice>>,
    /// MODEL_SELECT: cheapest first, explained by the LLM when one is configured (same client
    /// and call budget as the parser).
    pub selector: Arc<dyn Agent<SelectionInput, Vec<ModelCandidate>>>,
}

/// The prompt parser from the environment: [`DefaultAgents::parser`]. Every surface parses
/// through this, so `automl parse`, the server's `/parse`, Python and Node agree.
pub fn parser() -> Arc<dyn Agent<Prompt, Intent>> {
    #[cfg(feature = "hub")]
    {
        Arc::new(crate::agents::llm::LlmParser::from_env(Arc::new(
            EmbeddedParser,
        )))
    }
    #[cfg(not(feature = "hub"))]
    {
        Arc::new(EmbeddedParser)
    }
}

/// The intent of an empty request, as the embedded parser reads it: what profiling a file
/// outside a run (`automl profile`, `api::profile_file`) works from.
pub fn no_request() -> Intent {
    crate::agents::parser::parse("")
}

/// Builds the [`DefaultAgents`] from the environment.
pub fn agents() -> DefaultAgents {
    let finder: Arc<dyn Agent<DatasetQuery, DatasetChoice>> = Arc::new(finder_chain());
    #[cfg(feature = "hub")]
    {
        use crate::agents::llm::{ExplainingSelector, LlmParser};
        let parser = LlmParser::from_env(Arc::new(EmbeddedParser));
        let selector: Arc<dyn Agent<SelectionInput, Vec<ModelCandidate>>> = match parser.client() {
            Some(c) => Arc::new(ExplainingSelector::new(
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
            parser: Arc::new(EmbeddedParser),
            finder,
            selector: Arc::new(CostFirstSelector),
        }
    }
}

/// The built-in trainers, cheapest family first.
pub fn trainers() -> Vec<Arc<dyn Trainer>> {
    let tabular: Vec<Arc<dyn Trainer>> = vec![
        Arc::new(LinearTrainer),
        Arc::new(gbdt::forest::ForestTrainer),
        Arc::new(GbdtTrainer),
        Arc::new(gbdt::forecast::ForecastTrainer),
    ];
    #[cfg(feature = "image")]
    let tabular = {
        let mut t = tabular;
        t.push(Arc::new(crate::train::image::ImageTrainer::default()));
        t
    };
    tabular
}

/// The model formats the built-in trainers save, for loading a run folder.
pub fn model_formats() -> ModelFormats {
    let f = ModelFormats::new()
        .register(linear::FORMAT, linear::load)
        .register(gbdt::FORMAT, gbdt::load)
        .register(gbdt::FORMAT_TRANSFORMED, gbdt::load)
        .register(gbdt::forest::FORMAT, gbdt::forest::load)
        .register(ensemble::FORMAT, load_ensemble)
        .register(decision::FORMAT, load_decision)
        .register(gbdt::forecast::FORMAT, gbdt::forecast::ForecastModel::load);
    #[cfg(feature = "image")]
    let f = f.register(crate::train::image::FORMAT, crate::train::image::load);
    f
}

/// Loads a saved decision model, its base through the same registry.
fn load_decision(
    file: &std::path::Path,
    json: serde_json::Value,
) -> crate::error::Result<Box<dyn TrainedModel>> {
    decision::load_with(&model_formats(), file, json)
}

/// Loads a saved ensemble, its members through the same registry.
fn load_ensemble(
    file: &std::path::Path,
    json: serde_json::Value,
) -> crate::error::Result<Box<dyn TrainedModel>> {
    ensemble::load_with(&model_formats(), file, json)
}
