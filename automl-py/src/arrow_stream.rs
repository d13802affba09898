//! Tables from Python as Arrow record batches, through the Arrow PyCapsule interface.
//!
//! Any object with `__arrow_c_stream__` (a pyarrow Table or RecordBatchReader, a polars
//! DataFrame, a pandas DataFrame converted by the Python layer, DuckDB, ...) hands over an
//! `ArrowArrayStream` in a capsule named `arrow_array_stream`; this module moves the stream out
//! of the capsule and reads it with arrow's `RecordBatchStreamReader`. Column types cross as they
//! are (a pandas `category` stays a dictionary column), with no copy through text.
//!
//! This is the only module of automl-py with `unsafe` code (the workspace denies it elsewhere):
//! one pointer read, explained below. docs/decisions/0045-python-tables-through-arrow-c-stream.md
//! says why it is not a crate.
#![allow(unsafe_code)]

use arrow::compute::concat_batches;
use arrow::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
use arrow::record_batch::{RecordBatch, RecordBatchReader};
use automl_core::AutomlError;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::error::to_py_err;

/// The capsule name the Arrow PyCapsule interface gives a stream.
const STREAM_CAPSULE: &std::ffi::CStr = c"arrow_array_stream";

/// Reads every batch of `obj.__arrow_c_stream__()` into one record batch (the GIL released
/// while the stream is read).
pub fn batch_from_py(obj: &Bound<'_, PyAny>) -> PyResult<RecordBatch> {
    let py = obj.py();
    if !obj.hasattr("__arrow_c_stream__")? {
        return Err(PyTypeError::new_err(format!(
            "{} has no __arrow_c_stream__ (the Arrow PyCapsule interface)",
            obj.get_type().name()?
        )));
    }
    let capsule = obj
        .call_method0("__arrow_c_stream__")?
        .cast_into::<PyCapsule>()
        .map_err(|e| PyTypeError::new_err(format!("__arrow_c_stream__ returned {e}")))?;
    let ptr = capsule
        .pointer_checked(Some(STREAM_CAPSULE))?
        .cast::<FFI_ArrowArrayStream>();
    // SAFETY: `pointer_checked` verified that the capsule is named `arrow_array_stream`, which
    // by the Arrow PyCapsule interface means that its non-null pointer points to a valid
    // `ArrowArrayStream` C struct, whose layout `FFI_ArrowArrayStream` mirrors (`repr(C)`).
    // The GIL is held and no Python code runs between the check and this read, so the capsule
    // is alive and unchanged, and the pointer is valid for reads and writes and aligned (the
    // producer allocated the struct). `from_raw` moves the stream out (`ptr::replace` with an
    // empty stream: we now own it and release it when the reader drops) and leaves a null
    // `release` behind, which the interface defines as "moved": the capsule's destructor then
    // releases nothing, so the stream is released exactly once.
    let stream = unsafe { FFI_ArrowArrayStream::from_raw(ptr.as_ptr()) };
    py.detach(move || read_all(stream)).map_err(to_py_err)
}

fn read_all(stream: FFI_ArrowArrayStream) -> automl_core::Result<RecordBatch> {
    let bad = |e: arrow::error::ArrowError| {
        AutomlError::BadData(format!("cannot read the Arrow stream: {e}"))
    };
    let reader = RecordBatchStreamReader::try_new(stream).map_err(bad)?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(bad)?;
    concat_batches(&schema, &batches).map_err(bad)
}
