//! Maps [`automl_core::AutomlError`] to Python exception classes.
//!
//! One table ([`exception_type`]) maps the core's [`ErrorCategory`] to a class. Every class
//! derives from `automl.AutomlError`; each raised exception carries `code` (the core's
//! machine-readable code, as in ERROR events), `user_error` (true when the caller's input is at
//! fault) and `category` (the [`ErrorCategory`] wire name), and its `__cause__` chain mirrors the
//! Rust `source()` chain (I/O causes become `OSError`). Each class also holds its category's
//! `category`, `user_error` and a default `code` as class attributes, so an exception raised by
//! the Python layer carries them too.

use automl_core::AutomlError as CoreError;
use automl_core::ErrorCategory;
use pyo3::exceptions::{PyException, PyOSError};
use pyo3::prelude::*;
use pyo3::types::PyType;

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

/// Every category, for the class attributes.
const CATEGORIES: [ErrorCategory; 9] = [
    ErrorCategory::Data,
    ErrorCategory::Prompt,
    ErrorCategory::Licence,
    ErrorCategory::DatasetNotFound,
    ErrorCategory::InvalidOption,
    ErrorCategory::Training,
    ErrorCategory::ModelLoad,
    ErrorCategory::Cancelled,
    ErrorCategory::Internal,
];

/// The exception class of a category: the one table every error goes through.
fn exception_type(py: Python<'_>, category: ErrorCategory) -> Bound<'_, PyType> {
    match category {
        ErrorCategory::Data => py.get_type::<DataError>(),
        ErrorCategory::Prompt => py.get_type::<PromptError>(),
        ErrorCategory::Licence => py.get_type::<LicenseError>(),
        ErrorCategory::DatasetNotFound => py.get_type::<DatasetNotFound>(),
        ErrorCategory::InvalidOption => py.get_type::<OptionError>(),
        ErrorCategory::Training => py.get_type::<TrainingError>(),
        ErrorCategory::ModelLoad => py.get_type::<ModelLoadError>(),
        ErrorCategory::Cancelled => py.get_type::<Cancelled>(),
        ErrorCategory::Internal => py.get_type::<AutomlError>(),
    }
}

/// Converts a core error into the matching Python exception, keeping its cause chain.
pub fn to_py_err(e: CoreError) -> PyErr {
    let msg = e.to_string();
    Python::attach(|py| {
        let err = PyErr::from_type(exception_type(py, e.category()), msg);
        let value = err.value(py);
        // Setting attributes on a fresh exception instance cannot fail in practice; if it
        // does, the exception still carries its class and message.
        let _ = value.setattr("code", e.code());
        let _ = value.setattr("user_error", e.is_user_error());
        let _ = value.setattr("category", e.category().as_str());
        err.set_cause(py, cause_chain(py, std::error::Error::source(&e)));
        err
    })
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
    for c in CATEGORIES {
        let ty = exception_type(py, c);
        ty.setattr("category", c.as_str())?;
        ty.setattr("user_error", c.is_user_error())?;
        ty.setattr("code", c.as_str())?;
    }
    Ok(())
}
