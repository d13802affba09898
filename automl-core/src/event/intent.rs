//! What the caller asked for: the [`Intent`] that PARSE_INTENT produces.

use serde::{Deserialize, Serialize};

/// The kind of data the task is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    /// Rows and columns.
    Tabular,
    /// Pictures.
    Image,
    /// Free text.
    Text,
    /// Sound.
    Audio,
    /// Values over time.
    TimeSeries,
    /// Anything else.
    Other,
}

impl Modality {
    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Modality::Tabular => "tabular",
            Modality::Image => "image",
            Modality::Text => "text",
            Modality::Audio => "audio",
            Modality::TimeSeries => "time_series",
            Modality::Other => "other",
        }
    }
}

/// What is predicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// A class out of a fixed set.
    Classification,
    /// A number.
    Regression,
    /// Neither, or not known yet.
    Other,
}

impl Objective {
    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Objective::Classification => "classification",
            Objective::Regression => "regression",
            Objective::Other => "other",
        }
    }
}

/// Which parser produced the intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParserKind {
    /// An LLM behind an OpenAI-compatible endpoint.
    Llm,
    /// The embedded rule-based parser.
    Embedded,
}

/// Limits and preferences stated in the request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Constraints {
    /// Training time budget in seconds ("in 30 seconds").
    pub time_budget_s: Option<f64>,
    /// The metric to optimise (`accuracy`, `macro_f1`, `roc_auc`, `recall`, `r2`, `rmse`...).
    pub metric: Option<String>,
    /// A trial count ("try 5 models").
    pub max_trials: Option<u32>,
}

/// The parsed request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Intent {
    /// The kind of data.
    pub modality: Modality,
    /// Classification, regression or other.
    pub objective: Objective,
    /// A finer name, e.g. `tabular_classification`, `object_detection`.
    pub task_type: String,
    /// Whether automl can train this task.
    pub supported: bool,
    /// Why not, when `supported` is false.
    pub reason: Option<String>,
    /// The column to predict, as the request names it.
    pub target: Option<String>,
    /// Words that point at a data set ("iris", "diamond").
    pub dataset_hint: Option<String>,
    /// Content words of the request.
    pub keywords: Vec<String>,
    /// Budget, metric, trial count.
    pub constraints: Constraints,
    /// Who parsed it.
    pub parser: ParserKind,
    /// 0..1: how sure the parser is.
    pub confidence: f64,
}

impl Intent {
    /// A one-line description of what was understood, for messages.
    pub fn understood(&self) -> String {
        let mut parts = vec![format!(
            "modality {}, objective {}",
            self.modality.as_str(),
            self.objective.as_str()
        )];
        if let Some(t) = &self.target {
            parts.push(format!("target {t:?}"));
        }
        if let Some(h) = &self.dataset_hint {
            parts.push(format!("data hint {h:?}"));
        }
        if !self.keywords.is_empty() {
            parts.push(format!("keywords [{}]", self.keywords.join(", ")));
        }
        parts.join("; ")
    }

    /// The task as words, e.g. "image classification".
    pub fn task_words(&self) -> String {
        self.task_type.replace('_', " ")
    }
}
