//! Maps [`automl_core::AutomlError`] to Python exception classes.
//!
//! Every class derives from `automl.AutomlError`; each raised exception carries `code` (the
//! core's machine-readable code, as in ERROR events) and `user_error` (true when the caller's
//! input is at fault), and its `__cause__` chain mirrors the Rust `source()` chain (I/O causes
//! become `OSError`).

use automl_core::AutomlError as CoreError;
use automl_core::ErrorCategory;
use pyo3::exceptions::{PyException, PyOSError};
use pyo3::prelude::*;

pyo3::create_exception!(
    _automl,
    AutomlError,
    PyException,
    "Base class of every automl error; `code` and `user_error` say what kind."
);
pyo3::create_exception!(
    _automl,
    DataError,
    AutomlError,
    "The data cannot be read or used (file, format, target column, rows)."
);
pyo3::create_exception!(
    _automl,
    PromptError,
    AutomlError,
    "The request is not a task automl can run."
);
pyo3::create_exception!(
    _automl,
    DatasetNotFound,
    AutomlError,
    "No data was given and no usable data set was found."
);
pyo3::create_exception!(
    _automl,
    LicenseError,
    DatasetNotFound,
    "The matching data sets have licences that the policy rejects."
);
pyo3::create_exception!(
    _automl,
    OptionError,
    AutomlError,
    "An option passed by the caller is invalid."
);
pyo3::create_exception!(
    _automl,
    TrainingError,
    AutomlError,
    "No trainer handles the task, or training or a stage failed."
);
pyo3::create_exception!(
    _automl,
    ModelLoadError,
    AutomlError,
    "A saved model cannot be read."
);
pyo3::create_exception!(
    _automl,
    Cancelled,
    AutomlError,
    "The run was cancelled (cancel() or Ctrl-C); `outcome` holds what was kept."
);

/// Converts a core error into the matching Python exception, keeping its cause chain.
pub fn to_py_err(e: CoreError) -> PyErr {
    let msg = e.to_string();
    // One table for every binding: the core's error category picks the class.
    let err = match e.category() {
        ErrorCategory::Data => DataError::new_err(msg),
        ErrorCategory::Prompt => PromptError::new_err(msg),
        ErrorCategory::Licence => LicenseError::new_err(msg),
        ErrorCategory::DatasetNotFound => DatasetNotFound::new_err(msg),
        ErrorCategory::InvalidOption => OptionError::new_err(msg),
        ErrorCategory::Training => TrainingError::new_err(msg),
        ErrorCategory::ModelLoad => ModelLoadError::new_err(msg),
        ErrorCategory::Cancelled => Cancelled::new_err(msg),
        ErrorCategory::Internal => AutomlError::new_err(msg),
    };
    Python::attach(|py| {
        let value = err.value(py);
        // Setting attributes on a fresh exception instance cannot fail in practice; if it
        // does, the exception still carries its class and message.
        let _ = value.setattr("code", e.code());
        let _ = value.setattr("user_error", e.is_user_error());
        let _ = value.setattr("category", e.category().as_str());
        err.set_cause(py, cause_chain(py, std::error::Error::source(&e)));
    });
    err
}

fn cause_chain(
    py: Python<'_>,
    source: Option<&(dyn std::error::Error + 'static)>,
) -> Option<PyErr> {
    let s = source?;
    let err = if s.downcast_ref::<std::io::Error>().is_some() {
        PyOSError::new_err(s.to_string())
    } else {
        AutomlError::new_err(s.to_string())
    };
    err.set_cause(py, cause_chain(py, s.source()));
    Some(err)
}

/// Registers the exception classes on the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("AutomlError", py.get_type::<AutomlError>())?;
    m.add("DataError", py.get_type::<DataError>())?;
    m.add("PromptError", py.get_type::<PromptError>())?;
    m.add("DatasetNotFound", py.get_type::<DatasetNotFound>())?;
    m.add("LicenseError", py.get_type::<LicenseError>())?;
    m.add("OptionError", py.get_type::<OptionError>())?;
    m.add("TrainingError", py.get_type::<TrainingError>())?;
    m.add("ModelLoadError", py.get_type::<ModelLoadError>())?;
    m.add("Cancelled", py.get_type::<Cancelled>())?;
    Ok(())
}
