//! The binding's one error type: a variant per [`automl_core::ErrorCategory`], so a host
//! catches the category it cares about (Kotlin `AutomlException.Data`, Swift
//! `AutomlError.Data`, Python `AutomlError.Data`), with the core's machine-readable `code`,
//! the message with its cause chain (`detail`) and the stage that failed, when a run failed in
//! one.

use automl_core::{AutomlError as CoreError, ErrorCategory, Stage};

/// Everything that can go wrong, by the core's error category.
#[derive(Debug, Clone, thiserror::Error, uniffi::Error)]
pub enum AutomlError {
    /// The data: unreadable, empty, malformed, wrong target.
    #[error("[{code}] {detail}")]
    Data {
        /// The core's code, e.g. `data_file_unreadable`, `target_not_found`.
        code: String,
        /// What went wrong and how to fix it, with its causes.
        detail: String,
        /// The stage that failed (a run's ERROR event), if any.
        stage: Option<String>,
    },
    /// The request: no task recognised, or an unsupported task.
    #[error("[{code}] {detail}")]
    Prompt {
        /// The core's code.
        code: String,
        /// What went wrong.
        detail: String,
        /// The stage that failed, if any.
        stage: Option<String>,
    },
    /// Every data set found has a licence the policy rejects.
    #[error("[{code}] {detail}")]
    Licence {
        /// The core's code.
        code: String,
        /// What went wrong.
        detail: String,
        /// The stage that failed, if any.
        stage: Option<String>,
    },
    /// No data set matched.
    #[error("[{code}] {detail}")]
    DatasetNotFound {
        /// The core's code.
        code: String,
        /// What went wrong.
        detail: String,
        /// The stage that failed, if any.
        stage: Option<String>,
    },
    /// A bad option value (budget, metric, stage name, choice...).
    #[error("[{code}] {detail}")]
    InvalidOption {
        /// The core's code.
        code: String,
        /// What went wrong.
        detail: String,
        /// The stage that failed, if any.
        stage: Option<String>,
    },
    /// Training failed, or no trainer handles the task.
    #[error("[{code}] {detail}")]
    Training {
        /// The core's code.
        code: String,
        /// What went wrong.
        detail: String,
        /// The stage that failed, if any.
        stage: Option<String>,
    },
    /// A saved model could not be loaded.
    #[error("[{code}] {detail}")]
    ModelLoad {
        /// The core's code.
        code: String,
        /// What went wrong.
        detail: String,
        /// The stage that failed, if any.
        stage: Option<String>,
    },
    /// The run was cancelled.
    #[error("[{code}] {detail}")]
    Cancelled {
        /// The core's code.
        code: String,
        /// What went wrong.
        detail: String,
        /// The stage that failed, if any.
        stage: Option<String>,
    },
    /// Anything else (I/O, sinks, the runtime stopped, bugs).
    #[error("[{code}] {detail}")]
    Internal {
        /// The core's code (`runtime_stopped` after `shutdown()`).
        code: String,
        /// What went wrong.
        detail: String,
        /// The stage that failed, if any.
        stage: Option<String>,
    },
}

impl AutomlError {
    /// A core error, naming the stage that failed when known.
    pub fn from_core(e: &CoreError, stage: Option<Stage>) -> Self {
        let code = e.code().to_string();
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            detail.push_str(&format!("\nCaused by: {s}"));
            source = s.source();
        }
        let stage = stage.map(|s| s.as_str().to_string());
        match e.category() {
            ErrorCategory::Data => Self::Data {
                code,
                detail,
                stage,
            },
            ErrorCategory::Prompt => Self::Prompt {
                code,
                detail,
                stage,
            },
            ErrorCategory::Licence => Self::Licence {
                code,
                detail,
                stage,
            },
            ErrorCategory::DatasetNotFound => Self::DatasetNotFound {
                code,
                detail,
                stage,
            },
            ErrorCategory::InvalidOption => Self::InvalidOption {
                code,
                detail,
                stage,
            },
            ErrorCategory::Training => Self::Training {
                code,
                detail,
                stage,
            },
            ErrorCategory::ModelLoad => Self::ModelLoad {
                code,
                detail,
                stage,
            },
            ErrorCategory::Cancelled => Self::Cancelled {
                code,
                detail,
                stage,
            },
            ErrorCategory::Internal => Self::Internal {
                code,
                detail,
                stage,
            },
        }
    }

    /// The core's category name (`data`, `invalid_option`...), as every surface reports it.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Data { .. } => ErrorCategory::Data.as_str(),
            Self::Prompt { .. } => ErrorCategory::Prompt.as_str(),
            Self::Licence { .. } => ErrorCategory::Licence.as_str(),
            Self::DatasetNotFound { .. } => ErrorCategory::DatasetNotFound.as_str(),
            Self::InvalidOption { .. } => ErrorCategory::InvalidOption.as_str(),
            Self::Training { .. } => ErrorCategory::Training.as_str(),
            Self::ModelLoad { .. } => ErrorCategory::ModelLoad.as_str(),
            Self::Cancelled { .. } => ErrorCategory::Cancelled.as_str(),
            Self::Internal { .. } => ErrorCategory::Internal.as_str(),
        }
    }
}

impl From<CoreError> for AutomlError {
    fn from(e: CoreError) -> Self {
        Self::from_core(&e, None)
    }
}

/// A caller's value that cannot be used (not JSON, an unknown stage...), as the core's
/// `InvalidOption`.
pub fn invalid(name: &str, message: impl Into<String>) -> AutomlError {
    CoreError::InvalidOption {
        name: name.to_string(),
        message: message.into(),
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// One core error of each category.
    fn one_of_each() -> Vec<CoreError> {
        vec![
            CoreError::DataFileUnreadable {
                path: PathBuf::from("missing.csv"),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            },
            CoreError::UnusablePrompt {
                reason: "no task".into(),
                understood: "nothing".into(),
                needed: "a task".into(),
            },
            CoreError::LicenceRejected("cc-by-nc".into()),
            CoreError::NoDataset("none matched".into()),
            CoreError::InvalidOption {
                name: "seed".into(),
                message: "negative".into(),
            },
            CoreError::NoTrainer {
                task: "audio".into(),
            },
            CoreError::ModelLoad {
                path: PathBuf::from("model.json"),
                message: "truncated".into(),
            },
            CoreError::Cancelled,
            CoreError::Internal("bug".into()),
        ]
    }

    #[test]
    fn every_category_has_its_variant_with_code_detail_and_stage() {
        let errors = one_of_each();
        let mut seen = std::collections::BTreeSet::new();
        for e in &errors {
            let ffi = AutomlError::from_core(e, Some(Stage::Train));
            assert_eq!(ffi.category(), e.category().as_str(), "{e}");
            seen.insert(ffi.category());
            let (code, detail, stage) = match &ffi {
                AutomlError::Data {
                    code,
                    detail,
                    stage,
                }
                | AutomlError::Prompt {
                    code,
                    detail,
                    stage,
                }
                | AutomlError::Licence {
                    code,
                    detail,
                    stage,
                }
                | AutomlError::DatasetNotFound {
                    code,
                    detail,
                    stage,
                }
                | AutomlError::InvalidOption {
                    code,
                    detail,
                    stage,
                }
                | AutomlError::Training {
                    code,
                    detail,
                    stage,
                }
                | AutomlError::ModelLoad {
                    code,
                    detail,
                    stage,
                }
                | AutomlError::Cancelled {
                    code,
                    detail,
                    stage,
                }
                | AutomlError::Internal {
                    code,
                    detail,
                    stage,
                } => (code, detail, stage),
            };
            assert_eq!(code, e.code());
            assert!(detail.starts_with(&e.to_string()), "{detail}");
            assert_eq!(stage.as_deref(), Some(Stage::Train.as_str()));
            assert_eq!(ffi.to_string(), format!("[{code}] {detail}"));
        }
        // Nine categories, nine variants: a new core category fails `from_core` to compile.
        assert_eq!(seen.len(), errors.len());
    }

    #[test]
    fn the_cause_chain_is_kept_in_the_detail() {
        let e = CoreError::DataFileUnreadable {
            path: PathBuf::from("missing.csv"),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        };
        let AutomlError::Data { detail, stage, .. } = AutomlError::from(e) else {
            panic!("not Data");
        };
        assert!(detail.ends_with("\nCaused by: no such file"), "{detail}");
        assert_eq!(stage, None);
    }
}
