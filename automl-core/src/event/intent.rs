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

/// The embedded parser's answer beside an LLM's, when both ran on the same request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ParserComparison {
    /// The embedded parser's modality.
    pub embedded_modality: Modality,
    /// The embedded parser's objective.
    pub embedded_objective: Objective,
    /// The embedded parser's task type.
    pub embedded_task_type: String,
    /// Whether the embedded parser found the task trainable.
    pub embedded_supported: bool,
    /// True when modality, objective and `supported` are the same in both answers.
    pub agree: bool,
    /// What differs, e.g. `modality: llm image, embedded tabular`; empty when they agree.
    pub differences: Vec<String>,
}

impl ParserComparison {
    /// Compares the answer `llm` with the embedded parser's answer `embedded`.
    pub fn between(llm: &Intent, embedded: &Intent) -> Self {
        let mut differences = Vec::new();
        if llm.modality != embedded.modality {
            differences.push(format!(
                "modality: llm {}, embedded {}",
                llm.modality.as_str(),
                embedded.modality.as_str()
            ));
        }
        if llm.objective != embedded.objective {
            differences.push(format!(
                "objective: llm {}, embedded {}",
                llm.objective.as_str(),
                embedded.objective.as_str()
            ));
        }
        if llm.supported != embedded.supported {
            differences.push(format!(
                "supported: llm {}, embedded {}",
                llm.supported, embedded.supported
            ));
        }
        Self {
            embedded_modality: embedded.modality,
            embedded_objective: embedded.objective,
            embedded_task_type: embedded.task_type.clone(),
            embedded_supported: embedded.supported,
            agree: differences.is_empty(),
            differences,
        }
    }
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
    /// When an LLM answered and the embedded parser ran beside it: the embedded answer and
    /// whether the two agree. Absent otherwise (and never asked of the LLM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<ParserComparison>,
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
