//! Maps [`automl_core::AutomlError`] to JavaScript errors (the Node twin of automl-py's
//! `error.rs`).
//!
//! The core's category, code and stage travel in a tag at the start of the message,
//! `[automl category=data code=data_file_unreadable stage=- user=true]`, which the TypeScript layer
//! (`lib/errors.ts`) reads to throw the matching `AutomlError` subclass with `code`, `category`
//! and `stage`. The Rust `source()` chain becomes "Caused by:" lines (as lancedb's Node binding
//! writes them) and the error's `cause` chain.

use automl_core::{AutomlError as CoreError, Stage};

/// Converts a core error, keeping its cause chain.
pub fn to_napi_err(e: CoreError) -> napi::Error {
    to_napi_err_at(e, None)
}

/// As [`to_napi_err`], naming the stage that failed (from the run's ERROR event).
pub fn to_napi_err_at(e: CoreError, stage: Option<Stage>) -> napi::Error {
    ErrorParts::new(&e, stage).to_napi()
}

/// An error's text, kept so that a second `wait()` on a failed run throws it again.
#[derive(Debug, Clone)]
pub struct ErrorParts {
    /// The tagged message with its "Caused by:" lines.
    message: String,
    /// The `source()` chain, outermost first.
    causes: Vec<String>,
}

impl ErrorParts {
    /// Reads a core error.
    pub fn new(e: &CoreError, stage: Option<Stage>) -> Self {
        // The one table for every binding: the core's category.
        let tag = format!(
            "[automl category={} code={} stage={} user={}]",
            e.category().as_str(),
            e.code(),
            stage.map_or("-", |s| s.as_str()),
            e.is_user_error()
        );
        let mut message = format!("{tag} {e}");
        let mut causes = Vec::new();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            message.push_str(&format!("\nCaused by: {s}"));
            causes.push(s.to_string());
            source = s.source();
        }
        Self { message, causes }
    }

    /// The JavaScript error, with the chain as nested `cause` errors.
    pub fn to_napi(&self) -> napi::Error {
        let mut chain: Option<napi::Error> = None;
        for c in self.causes.iter().rev() {
            let mut link = napi::Error::from_reason(c.clone());
            if let Some(inner) = chain.take() {
                link.set_cause(inner);
            }
            chain = Some(link);
        }
        let mut err = napi::Error::from_reason(self.message.clone());
        if let Some(c) = chain {
            err.set_cause(c);
        }
        err
    }
}

/// A caller's value that cannot be converted (not JSON, a negative seed...), as the core's
/// `InvalidOption`.
pub fn invalid(name: &str, message: impl Into<String>) -> napi::Error {
    to_napi_err(CoreError::InvalidOption {
        name: name.to_string(),
        message: message.into(),
    })
}
