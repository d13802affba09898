//! DATA_SOURCE's agents: the finder's query and answer types, the caller's own data, and the
//! fallback chain that tries finders in order (wired in `conductor::defaults`):
//! Hub → local Hugging Face cache → bundled catalog → ask for an upload.
//!
//! Each step is announced with a STAGE_STATUS message; a step that fails, or finds nothing it
//! may use, is followed by a WARNING saying why and which step comes next. Rejected candidates
//! of every step are kept, so DATASET_CANDIDATES shows all the licence verdicts that were made.
//! Data supplied by the caller skips the chain.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use super::licence::{LicenceDecision, Verdict};
use super::{Agent, StageContext};
use crate::error::{AutomlError, Result};
use crate::event::{DatasetCandidate, Event, Intent, Stage, StageStatus};

pub mod catalog;
pub mod hf;
pub mod hfcache;
#[cfg(feature = "hub")]
pub mod hub;

/// What the finder is asked.
#[derive(Debug, Clone)]
pub struct DatasetQuery {
    /// The parsed request.
    pub intent: Intent,
    /// Data supplied by the caller, if any.
    pub data: Option<PathBuf>,
    /// Whether research/demo-only licences (CC-BY-NC) may be used.
    pub allow_restricted: bool,
}

/// The chosen data set.
#[derive(Debug, Clone, PartialEq)]
pub struct ChosenDataset {
    /// Id.
    pub id: String,
    /// `user`, `catalog`, `hub`, `cache`.
    pub source: String,
    /// Local path.
    pub path: PathBuf,
    /// Revision, when known.
    pub revision: Option<String>,
    /// The licence decision.
    pub license: LicenceDecision,
    /// Where the licence was read.
    pub evidence: String,
    /// Whom to credit.
    pub attribution: Option<String>,
    /// Where it comes from, in words.
    pub origin: String,
    /// The target the source names, if any.
    pub target: Option<String>,
}

/// The finder's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetChoice {
    /// The data set to use; `None` when nothing usable was found.
    pub chosen: Option<ChosenDataset>,
    /// Allowed candidates, best first (top 3).
    pub candidates: Vec<DatasetCandidate>,
    /// Candidates that may not be used, with reasons.
    pub rejected: Vec<DatasetCandidate>,
    /// Why nothing was chosen, when nothing was.
    pub why_none: Option<String>,
}

/// Rows the caller handed over in memory, taken as is (the caller answers for their licence).
pub fn caller_table(name: &str, n_rows: u64) -> DatasetChoice {
    let decision = LicenceDecision {
        license: "user-provided".to_string(),
        verdict: Verdict::Allowed,
        reason: "supplied by the caller, who answers for its licence".to_string(),
    };
    let cand = DatasetCandidate {
        id: name.to_string(),
        source: "user".to_string(),
        license: decision.license.clone(),
        verdict: decision.verdict.as_str().to_string(),
        reason: decision.reason.clone(),
        downloads: None,
        size: Some(n_rows),
        score: 1.0,
    };
    DatasetChoice {
        chosen: Some(ChosenDataset {
            id: name.to_string(),
            source: "user".to_string(),
            path: PathBuf::from(format!("memory:{name}")),
            revision: None,
            license: decision,
            evidence: "the caller's own rows, passed in memory".to_string(),
            attribution: None,
            origin: format!("{name} (in memory)"),
            target: None,
        }),
        candidates: vec![cand],
        rejected: vec![],
        why_none: None,
    }
}

/// The caller's own file or folder, taken as is (the caller answers for its licence).
pub fn caller_data(path: &Path) -> Result<DatasetChoice> {
    if !path.exists() {
        return Err(AutomlError::DataFileUnreadable {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
        });
    }
    let id = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".to_string());
    let decision = LicenceDecision {
        license: "user-provided".to_string(),
        verdict: Verdict::Allowed,
        reason: "supplied by the caller, who answers for its licence".to_string(),
    };
    let cand = DatasetCandidate {
        id: id.clone(),
        source: "user".to_string(),
        license: decision.license.clone(),
        verdict: decision.verdict.as_str().to_string(),
        reason: decision.reason.clone(),
        downloads: None,
        size: std::fs::metadata(path).ok().map(|m| m.len()),
        score: 1.0,
    };
    Ok(DatasetChoice {
        chosen: Some(ChosenDataset {
            id,
            source: "user".to_string(),
            path: path.to_path_buf(),
            revision: None,
            license: decision,
            evidence: "the caller's own file".to_string(),
            attribution: None,
            origin: path.display().to_string(),
            target: None,
        }),
        candidates: vec![cand],
        rejected: vec![],
        why_none: None,
    })
}

/// A data set finder.
pub type Finder = Arc<dyn Agent<DatasetQuery, DatasetChoice>>;

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
        if let Some(path) = &q.data {
            return caller_data(path);
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
