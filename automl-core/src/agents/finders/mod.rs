//! DATA_SOURCE's agents: the finder's query and answer types, the caller's own data, and the
//! fallback chain that tries finders in order (wired in `conductor::defaults`):
//! Hub → local Hugging Face cache → bundled catalog → ask for an upload.
//!
//! Each step is announced with a STAGE_STATUS message; a step that fails, or finds nothing it
//! may use, is followed by a WARNING saying why and which step comes next. Rejected candidates
//! of every step are kept, so DATASET_CANDIDATES shows all the licence verdicts that were made.
//! Data supplied by the caller skips the chain.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use super::licence::{LicenceDecision, Verdict};
use super::{Agent, StageContext};
use crate::error::{AutomlError, Result};
use crate::event::{DatasetCandidate, Event, Intent, Stage, StageStatus};
use crate::words::singular;

pub mod catalog;
pub mod hf;
pub mod hfcache;
#[cfg(feature = "hub")]
pub mod hub;

/// The share of the request's subject words a data set must match to be chosen (see
/// [`Topic::relevant`]): one word in three. Below it, a data set that merely has a column of
/// the asked-for name ("price" in diamonds for "predict house prices") is not used.
pub const RELEVANCE_FLOOR: f64 = 1.0 / 3.0;

/// Matching this many distinct subject words is enough whatever the share (a long request
/// names many words no data set description repeats).
pub const ENOUGH_SUBJECT_MATCHES: usize = 2;

/// Words that say nothing about a data set's subject: request verbs, task words, data words
/// and function words.
const NOT_SUBJECT: &[&str] = &[
    // data words
    "data",
    "dataset",
    "datum",
    "table",
    "file",
    "csv",
    "tsv",
    "record",
    "row",
    "column",
    "value",
    "set",
    "sample",
    "example",
    "feature",
    "label",
    "target",
    "class",
    "category",
    "score",
    "spreadsheet",
    "folder",
    "upload",
    "uploaded",
    "attribute",
    "variable",
    "field",
    "input",
    "output",
    "information",
    "info",
    "entry",
    "list",
    "collection",
    "database",
    // task words
    "predict",
    "prediction",
    "predicting",
    "forecast",
    "forecasting",
    "estimate",
    "estimating",
    "classify",
    "classifying",
    "classification",
    "classifier",
    "regression",
    "regressor",
    "model",
    "train",
    "training",
    "build",
    "make",
    "create",
    "learn",
    "detect",
    "detection",
    "recognise",
    "recognize",
    "recognition",
    "identify",
    "tell",
    "apart",
    "determine",
    "guess",
    "task",
    "accuracy",
    "metric",
    "rmse",
    "mae",
    "auc",
    "f1",
    "binary",
    "multiclass",
    "type",
    "kind",
    "image",
    "photo",
    "picture",
    "text",
    "based",
    "using",
    "use",
    "given",
    "whether",
    "which",
    "what",
    "how",
    "many",
    "much",
    "level",
    "amount",
    "number",
    "good",
    "bad",
    "high",
    "low",
    "new",
    "quick",
    "small",
    "simple",
    "best",
    // function words
    "the",
    "and",
    "for",
    "from",
    "with",
    "into",
    "onto",
    "about",
    "above",
    "below",
    "over",
    "under",
    "this",
    "that",
    "these",
    "those",
    "its",
    "their",
    "our",
    "your",
    "my",
    "of",
    "in",
    "on",
    "to",
    "by",
    "at",
    "an",
    "or",
    "is",
    "are",
    "be",
    "it",
    "as",
    "per",
    "each",
    "some",
    "any",
    "all",
    "me",
    "we",
    "you",
    "want",
    "need",
    "would",
    "like",
    "please",
    "can",
    "could",
    "should",
    "will",
    "do",
    "does",
    "get",
    "one",
    "two",
    "three",
];

/// Content words of `text`, lower-cased and singular (`"House-Prices"` → {house, price}).
pub fn words(text: &str) -> BTreeSet<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| t.len() > 1)
        .map(singular)
        .collect()
}

/// The request's subject: the words of its data set hint and its keywords, less the target's
/// name, words that name no subject ([`NOT_SUBJECT`]) and numbers.
pub fn subject_terms(intent: &Intent) -> BTreeSet<String> {
    let target: BTreeSet<String> = intent.target.as_deref().map(words).unwrap_or_default();
    let mut terms: BTreeSet<String> = intent
        .dataset_hint
        .as_deref()
        .map(words)
        .unwrap_or_default();
    for k in &intent.keywords {
        terms.extend(words(k));
    }
    terms.retain(|t| {
        !target.contains(t)
            && !NOT_SUBJECT.contains(&t.as_str())
            && !t.chars().all(|c| c.is_ascii_digit())
    });
    terms
}

/// How a data set's words meet the request's subject.
#[derive(Debug, Clone, PartialEq)]
pub struct Topic {
    /// The request's subject words ([`subject_terms`]).
    pub subject: Vec<String>,
    /// Those found among the data set's words.
    pub matched: Vec<String>,
}

impl Topic {
    /// Compares the request's subject with the words of a data set (its name, title,
    /// description, keywords or tags, and columns).
    pub fn of(intent: &Intent, dataset_text: &str) -> Topic {
        let have = words(dataset_text);
        let subject: Vec<String> = subject_terms(intent).into_iter().collect();
        let matched = subject
            .iter()
            .filter(|t| have.contains(*t))
            .cloned()
            .collect();
        Topic { subject, matched }
    }

    /// The share of subject words matched, 0..1; 1 when the request names no subject (then the
    /// target's name and the task are all there is to go on).
    pub fn relevance(&self) -> f64 {
        if self.subject.is_empty() {
            1.0
        } else {
            self.matched.len() as f64 / self.subject.len() as f64
        }
    }

    /// Whether the data set is about what the request is about: it matches at least
    /// [`RELEVANCE_FLOOR`] of the subject words, or [`ENOUGH_SUBJECT_MATCHES`] of them.
    pub fn relevant(&self) -> bool {
        self.subject.is_empty()
            || self.matched.len() >= ENOUGH_SUBJECT_MATCHES
            || (!self.matched.is_empty() && self.relevance() + 1e-9 >= RELEVANCE_FLOOR)
    }

    /// The subject words, for messages: `"house"`, `"employee, salary"`.
    pub fn subject_words(&self) -> String {
        self.subject.join(", ")
    }
}

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
