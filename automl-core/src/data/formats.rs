//! Parquet, JSON / NDJSON and Arrow IPC to Arrow.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{
    Dataset, LoadOptions, TableData, check_unique_names, combine_batches, load_image_parquet,
};
use crate::error::{AutomlError, DataErrorKind, Result};

const BATCH_ROWS: usize = 64 * 1024;

fn unreadable(path: &Path, e: std::io::Error) -> AutomlError {
    AutomlError::DataFileUnreadable {
        path: path.to_path_buf(),
        source: e,
    }
}

fn corrupt(path: &Path, what: &str, e: impl std::fmt::Display) -> AutomlError {
    AutomlError::data_input(
        path,
        DataErrorKind::CorruptFile,
        None,
        None,
        format!("not a readable {what} file: {e}"),
    )
}

fn finish(path: &Path, schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<TableData> {
    check_unique_names(path, &schema)?;
    if schema.fields().is_empty() {
        return Err(AutomlError::data_input(
            path,
            DataErrorKind::EmptyFile,
            None,
            None,
            "the file has no columns",
        ));
    }
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if rows == 0 {
        return Err(AutomlError::data_input(
            path,
            DataErrorKind::HeaderOnly,
            None,
            None,
            "the file has a schema and no rows",
        ));
    }
    let batch = combine_batches(schema, batches)?;
    let (batch, notes) = super::normalise_columns(batch)?;
    Ok(TableData {
        path: path.to_path_buf(),
        batch,
        notes,
    })
}

/// The index of a column holding encoded images: a struct with a binary `bytes` field (the
/// Hugging Face `Image` feature) or a binary column.
pub(crate) fn image_column(schema: &SchemaRef) -> Option<usize> {
    schema.fields().iter().position(|f| match f.data_type() {
        DataType::Struct(children) => children.iter().any(|c| {
            c.name() == "bytes" && matches!(c.data_type(), DataType::Binary | DataType::LargeBinary)
        }),
        DataType::Binary | DataType::LargeBinary => true,
        _ => false,
    })
}

/// Loads a Parquet file: a table, or labelled images when a column holds encoded images.
pub fn load_parquet(path: &Path, opts: &LoadOptions) -> Result<Dataset> {
    // Read whole into memory before decoding: parquet-rs skips unknown thrift fields of a
    // page header by reading their declared size from the source, and on a file that declares
    // gigabytes that is millions of 8 KB reads past the end (a 5 KB fuzz input took 55 s);
    // from memory each of those reads returns at once. The decoded table is held in memory
    // anyway, and is larger than the file.
    let bytes = std::fs::read(path).map_err(|e| unreadable(path, e))?;
    let len = bytes.len();
    if len == 0 {
        return Err(AutomlError::data_input(
            path,
            DataErrorKind::EmptyFile,
            None,
            None,
            "the file is empty",
        ));
    }
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .map_err(|e| corrupt(path, "Parquet", e))?;
    let schema = builder.schema().clone();
    check_unique_names(path, &schema)?;
    if image_column(&schema).is_some() {
        return load_image_parquet(path, opts).map(Dataset::Images);
    }
    let reader = builder
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| corrupt(path, "Parquet", e))?;
    let mut batches = Vec::new();
    for b in reader {
        batches.push(b.map_err(|e| corrupt(path, "Parquet", e))?);
    }
    finish(path, schema, batches).map(Dataset::Table)
}

/// Loads JSON: `ndjson` true for one object per line, false for an array of objects (a file
/// that starts with `{` is read as NDJSON either way).
pub fn load_json(path: &Path, ndjson: bool) -> Result<TableData> {
    let mut file = File::open(path).map_err(|e| unreadable(path, e))?;
    let mut first = [0u8; 1];
    let mut skipped = 0u64;
    loop {
        let n = file.read(&mut first).map_err(|e| unreadable(path, e))?;
        if n == 0 {
            return Err(AutomlError::data_input(
                path,
                DataErrorKind::EmptyFile,
                None,
                None,
                "the file is empty",
            ));
        }
        if !first[0].is_ascii_whitespace() {
            break;
        }
        skipped += 1;
    }
    file.seek(SeekFrom::Start(skipped))
        .map_err(|e| unreadable(path, e))?;
    if first[0] == b'[' {
        return load_json_array(path, file);
    }
    if first[0] != b'{' {
        return Err(AutomlError::data_input(
            path,
            DataErrorKind::Malformed,
            Some(1),
            None,
            format!(
                "expected {}, found {:?}",
                if ndjson {
                    "one JSON object per line"
                } else {
                    "a JSON array of objects"
                },
                char::from(first[0])
            ),
        ));
    }
    let (schema, _) =
        arrow::json::reader::infer_json_schema(BufReader::new(&mut file), Some(100_000))
            .map_err(|e| json_error(path, e))?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| unreadable(path, e))?;
    let schema = Arc::new(schema);
    let reader = arrow::json::ReaderBuilder::new(schema.clone())
        .with_batch_size(BATCH_ROWS)
        .build(BufReader::new(file))
        .map_err(|e| json_error(path, e))?;
    let mut batches = Vec::new();
    for b in reader {
        batches.push(b.map_err(|e| json_error(path, e))?);
    }
    finish(path, schema, batches)
}

fn json_error(path: &Path, e: impl std::fmt::Display) -> AutomlError {
    AutomlError::data_input(path, DataErrorKind::Malformed, None, None, e.to_string())
}

fn load_json_array(path: &Path, file: File) -> Result<TableData> {
    let values: Vec<serde_json::Value> =
        serde_json::from_reader(BufReader::new(file)).map_err(|e| {
            AutomlError::data_input(
                path,
                DataErrorKind::Malformed,
                None,
                None,
                format!("line {}, column {}: {e}", e.line(), e.column()),
            )
        })?;
    if let Some(i) = values.iter().position(|v| !v.is_object()) {
        return Err(AutomlError::data_input(
            path,
            DataErrorKind::Malformed,
            Some(i as u64 + 1),
            None,
            "every element of the array must be an object of column: value",
        ));
    }
    if values.is_empty() {
        return Err(AutomlError::data_input(
            path,
            DataErrorKind::HeaderOnly,
            None,
            None,
            "the array is empty",
        ));
    }
    let schema = arrow::json::reader::infer_json_schema_from_iterator(values.iter().map(Ok))
        .map_err(|e| json_error(path, e))?;
    let schema = Arc::new(schema);
    let mut decoder = arrow::json::ReaderBuilder::new(schema.clone())
        .with_batch_size(BATCH_ROWS)
        .build_decoder()
        .map_err(|e| json_error(path, e))?;
    let mut batches = Vec::new();
    for chunk in values.chunks(BATCH_ROWS) {
        decoder.serialize(chunk).map_err(|e| json_error(path, e))?;
        if let Some(b) = decoder.flush().map_err(|e| json_error(path, e))? {
            batches.push(b);
        }
    }
    drop(values);
    finish(path, schema, batches)
}

/// Loads an Arrow IPC file (`ARROW1` magic) or stream.
pub fn load_ipc(path: &Path) -> Result<TableData> {
    let file = File::open(path).map_err(|e| unreadable(path, e))?;
    let mut r = BufReader::new(file);
    let head = r.fill_buf().map_err(|e| unreadable(path, e))?;
    if head.is_empty() {
        return Err(AutomlError::data_input(
            path,
            DataErrorKind::EmptyFile,
            None,
            None,
            "the file is empty",
        ));
    }
    let is_file = head.starts_with(b"ARROW1");
    let mut file = r.into_inner();
    file.seek(SeekFrom::Start(0))
        .map_err(|e| unreadable(path, e))?;
    let (schema, batches) = if is_file {
        let reader = arrow::ipc::reader::FileReader::try_new(BufReader::new(file), None)
            .map_err(|e| corrupt(path, "Arrow IPC", e))?;
        let schema = reader.schema();
        let mut v = Vec::new();
        for b in reader {
            v.push(b.map_err(|e| corrupt(path, "Arrow IPC", e))?);
        }
        (schema, v)
    } else {
        let reader = arrow::ipc::reader::StreamReader::try_new(BufReader::new(file), None)
            .map_err(|e| corrupt(path, "Arrow IPC", e))?;
        let schema = reader.schema();
        let mut v = Vec::new();
        for b in reader {
            v.push(b.map_err(|e| corrupt(path, "Arrow IPC", e))?);
        }
        (schema, v)
    };
    finish(path, schema, batches)
}
