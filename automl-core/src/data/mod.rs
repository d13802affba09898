//! DATA_SOURCE: loading what a user hands us into Arrow.
//!
//! Tables (CSV/TSV, Parquet, JSON and NDJSON, Arrow IPC) become one [`RecordBatch`] in a
//! [`TableData`]; folders of images (one sub-folder per class), zips of such folders and
//! Hugging Face-style Parquet files whose image column holds encoded bytes become an
//! [`ImageFolder`]. Malformed input gives [`AutomlError::DataInput`] naming the file, and the
//! row and column where they apply. See `docs/data.md`.

mod csv;
mod formats;
mod images;
pub mod preprocess;
pub mod profile;
pub mod text;
pub mod timeseries;

use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, Float64Array, StringArray};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;

pub use self::csv::{MISSING_TOKENS, is_missing_token, load_csv};
pub use self::formats::{load_ipc, load_json, load_parquet};
pub use self::images::{
    ZipLimits, decode_image, extract_zip, load_image_folder, load_image_parquet, write_thumbnails,
};
use crate::error::{AutomlError, DataErrorKind, Result};
use crate::event::{ColumnType, DatasetSamplePayload};

/// Loaded data: a table or a folder of labelled images.
#[derive(Debug, Clone)]
pub enum Dataset {
    /// Rows and columns.
    Table(TableData),
    /// Images, one sub-folder per class.
    Images(ImageFolder),
}

/// A table loaded from a file.
#[derive(Debug, Clone)]
pub struct TableData {
    /// Where it came from.
    pub path: PathBuf,
    /// All rows.
    pub batch: RecordBatch,
    /// What the loader noticed and worked around (each one becomes a WARNING event).
    pub notes: Vec<String>,
}

/// A folder of images, one sub-folder per class.
#[derive(Debug, Clone)]
pub struct ImageFolder {
    /// The folder.
    pub root: PathBuf,
    /// Class names (sub-folder names), sorted.
    pub classes: Vec<String>,
    /// Image files with their class index.
    pub files: Vec<(PathBuf, usize)>,
    /// Files that were not used, with the reason (not an image, does not decode).
    pub skipped: Vec<(PathBuf, String)>,
}

/// How to load. `LoadOptions::default()` suits almost every file.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// CSV delimiter; sniffed from the first lines when `None`.
    pub delimiter: Option<u8>,
    /// Whether the first CSV row is a header; sniffed when `None`.
    pub header: Option<bool>,
    /// Text encoding when the file has no byte-order mark: `utf-8` (default, strict) or
    /// `latin-1` (ISO-8859-1, every byte is a character).
    pub encoding: TextEncoding,
    /// Rows read to infer column types before streaming the rest (types are widened and the
    /// file re-read if a later row does not fit). `None`: the whole file.
    pub infer_rows: Option<usize>,
    /// Largest accepted field, in bytes.
    pub max_field_bytes: usize,
    /// Where zips and Parquet image columns are unpacked; default: a folder under the system
    /// temporary directory keyed by the source's path, size and modification time.
    pub extract_dir: Option<PathBuf>,
    /// Limits for zip archives.
    pub zip: ZipLimits,
    /// Decode every image while scanning a folder (undecodable ones are skipped and listed).
    pub verify_images: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            delimiter: None,
            header: None,
            encoding: TextEncoding::Utf8,
            infer_rows: Some(100_000),
            max_field_bytes: 1 << 20,
            extract_dir: None,
            zip: ZipLimits::default(),
            verify_images: true,
        }
    }
}

/// Text encodings the CSV loader reads (besides UTF-16, recognised by its byte-order mark).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    /// UTF-8; invalid bytes are an error naming row and column.
    Utf8,
    /// ISO-8859-1: each byte is the code point of the same value.
    Latin1,
}

/// The formats [`load`] recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Delimited text.
    Csv,
    /// Apache Parquet.
    Parquet,
    /// A JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// Arrow IPC file or stream.
    ArrowIpc,
    /// A zip of image class folders.
    Zip,
    /// A folder of image class folders.
    ImageFolder,
}

/// Loads a file or folder with default options.
pub fn load(path: &Path) -> Result<Dataset> {
    load_with(path, &LoadOptions::default())
}

/// Decides the format from the extension, then from the first bytes.
pub fn detect_format(path: &Path) -> Result<Format> {
    let meta = std::fs::metadata(path).map_err(|e| AutomlError::DataFileUnreadable {
        path: path.to_path_buf(),
        source: e,
    })?;
    if meta.is_dir() {
        return Ok(Format::ImageFolder);
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default();
    Ok(match ext.as_str() {
        "csv" | "tsv" | "tab" | "txt" | "data" => Format::Csv,
        "parquet" | "pq" => Format::Parquet,
        "json" => Format::Json,
        "ndjson" | "jsonl" => Format::Ndjson,
        "arrow" | "ipc" | "feather" | "arrows" => Format::ArrowIpc,
        "zip" => Format::Zip,
        _ => {
            let mut head = [0u8; 8];
            let n = std::fs::File::open(path)
                .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
                .map_err(|e| AutomlError::DataFileUnreadable {
                    path: path.to_path_buf(),
                    source: e,
                })?;
            let head = &head[..n];
            if head.starts_with(b"PAR1") {
                Format::Parquet
            } else if head.starts_with(b"ARROW1") || head.starts_with(&[0xff, 0xff, 0xff, 0xff]) {
                Format::ArrowIpc
            } else if head.starts_with(b"PK\x03\x04") {
                Format::Zip
            } else if ext.is_empty() {
                Format::Csv
            } else {
                return Err(AutomlError::UnsupportedFormat {
                    path: path.to_path_buf(),
                    message: format!(
                        "files ending in .{ext} are not loaded; use CSV/TSV, Parquet, JSON/NDJSON, Arrow IPC, a zip of image folders, or a folder of images with one sub-folder per class"
                    ),
                });
            }
        }
    })
}

/// Loads a file or folder: tables into one [`RecordBatch`], images into an [`ImageFolder`].
pub fn load_with(path: &Path, opts: &LoadOptions) -> Result<Dataset> {
    match detect_format(path)? {
        Format::ImageFolder => load_image_folder(path, opts).map(Dataset::Images),
        Format::Csv => {
            let mut o = opts.clone();
            if o.delimiter.is_none()
                && path
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("tsv") || e.eq_ignore_ascii_case("tab"))
            {
                o.delimiter = Some(b'\t');
            }
            load_csv(path, &o).map(Dataset::Table)
        }
        Format::Parquet => guard_decoder(path, "Parquet", || load_parquet(path, opts)),
        Format::Json => load_json(path, false).map(Dataset::Table),
        Format::Ndjson => load_json(path, true).map(Dataset::Table),
        Format::ArrowIpc => guard_decoder(path, "Arrow IPC", || load_ipc(path).map(Dataset::Table)),
        Format::Zip => {
            let dir = extract_zip(path, opts)?;
            load_image_folder(&dir, opts).map(Dataset::Images)
        }
    }
}

/// Runs a third-party decoder and turns a panic inside it into a typed
/// [`DataErrorKind::CorruptFile`] error naming the file: parquet-rs panics on some malformed
/// files instead of returning an error (the `parquet_load` fuzz target found "Decoder for dict
/// should have been set" in parquet 60.1), and one bad upload must not take the server down.
/// The panic message still reaches stderr through the panic hook.
fn guard_decoder<T>(path: &Path, format: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "the decoder failed".to_string());
            Err(AutomlError::data_input(
                path,
                DataErrorKind::CorruptFile,
                None,
                None,
                format!("not a readable {format} file: the decoder broke on it ({why})"),
            ))
        }
    }
}

/// A unique folder for unpacking `source`, under the system temporary directory unless
/// `opts.extract_dir` names one.
pub(crate) fn extract_dir_for(source: &Path, opts: &LoadOptions) -> PathBuf {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let abs = std::fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf());
    h.update(abs.to_string_lossy().as_bytes());
    if let Ok(m) = std::fs::metadata(source) {
        h.update(m.len().to_le_bytes());
        if let Ok(t) = m.modified()
            && let Ok(d) = t.duration_since(std::time::UNIX_EPOCH)
        {
            h.update(d.as_nanos().to_le_bytes());
        }
    }
    let key: String = h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let stem = source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".to_string());
    opts.extract_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("automl-extract"))
        .join(format!("{stem}-{key}"))
}

/// Joins batches into one without holding two full copies: the batches are taken apart into
/// columns and each column is concatenated then its pieces freed before the next one.
pub fn combine_batches(schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<RecordBatch> {
    if batches.len() == 1 {
        return batches
            .into_iter()
            .next()
            .ok_or_else(|| AutomlError::Internal("batch vanished".to_string()));
    }
    let n_cols = schema.fields().len();
    let mut pieces: Vec<Vec<ArrayRef>> = vec![Vec::with_capacity(batches.len()); n_cols];
    for b in batches {
        for (i, c) in b.columns().iter().enumerate() {
            pieces[i].push(c.clone());
        }
    }
    let mut columns = Vec::with_capacity(n_cols);
    for parts in pieces.iter_mut() {
        let parts = std::mem::take(parts);
        let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
        let joined = if refs.is_empty() {
            arrow::array::new_empty_array(&DataType::Null)
        } else {
            arrow::compute::concat(&refs).map_err(|e| AutomlError::Internal(e.to_string()))?
        };
        drop(refs);
        drop(parts);
        columns.push(joined);
    }
    RecordBatch::try_new(schema, columns).map_err(|e| AutomlError::Internal(e.to_string()))
}

/// Rows handed over in memory (a DataFrame or Arrow table from Python or Node) as a table,
/// with the same checks and column normalisation as a file: unique names, at least one row,
/// categorical (dictionary) columns kept categorical.
pub fn table_from_batch(name: &str, batch: RecordBatch) -> Result<TableData> {
    let path = PathBuf::from(format!("memory:{name}"));
    check_unique_names(&path, &batch.schema())?;
    if batch.num_columns() == 0 || batch.num_rows() == 0 {
        return Err(AutomlError::EmptyData {
            path,
            detail: " (the table has no rows or no columns)".to_string(),
        });
    }
    let (batch, notes) = normalise_columns(batch)?;
    Ok(TableData { path, batch, notes })
}

/// Rows handed over as JSON objects of `column: value` (a JavaScript array of objects, a list
/// of Python dicts) as one record batch, column types inferred as for a JSON file: numbers,
/// text, booleans, `null` for missing. `name` names the rows in errors (`memory:<name>`).
pub fn table_from_json_rows(name: &str, rows: &[serde_json::Value]) -> Result<RecordBatch> {
    let path = PathBuf::from(format!("memory:{name}"));
    let bad = |row: Option<u64>, e: String| {
        AutomlError::data_input(&path, DataErrorKind::Malformed, row, None, e)
    };
    if let Some(i) = rows.iter().position(|v| !v.is_object()) {
        let msg = "every row must be an object of column: value".to_string();
        return Err(bad(Some(i as u64 + 1), msg));
    }
    if rows.is_empty() {
        return Err(AutomlError::EmptyData {
            path,
            detail: " (no rows were given)".to_string(),
        });
    }
    let schema = arrow::json::reader::infer_json_schema_from_iterator(rows.iter().map(Ok))
        .map_err(|e| bad(None, e.to_string()))?;
    let mut decoder = arrow::json::ReaderBuilder::new(std::sync::Arc::new(schema))
        .with_batch_size(rows.len())
        .build_decoder()
        .map_err(|e| bad(None, e.to_string()))?;
    decoder
        .serialize(rows)
        .map_err(|e| bad(None, e.to_string()))?;
    decoder
        .flush()
        .map_err(|e| bad(None, e.to_string()))?
        .ok_or_else(|| AutomlError::Internal("the JSON decoder gave no batch".to_string()))
}

/// Brings columns to the types the profile reads: dictionary-encoded columns (pandas
/// `category`, Arrow dictionaries, Parquet dictionary pages) become text, so that a category
/// of integer codes stays a category instead of being read as a number; large and view
/// strings become plain strings. Returns notes for what was converted.
pub fn normalise_columns(batch: RecordBatch) -> Result<(RecordBatch, Vec<String>)> {
    let schema = batch.schema();
    let mut notes = Vec::new();
    let mut changed = false;
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (f, col) in schema.fields().iter().zip(batch.columns()) {
        let to = match f.data_type() {
            DataType::Dictionary(_, value) => {
                if !matches!(value.as_ref(), DataType::Utf8 | DataType::LargeUtf8) {
                    notes.push(format!(
                        "column {:?} is categorical with {value} codes: treated as categories, not numbers",
                        f.name()
                    ));
                }
                Some(DataType::Utf8)
            }
            DataType::LargeUtf8 | DataType::Utf8View => Some(DataType::Utf8),
            _ => None,
        };
        match to {
            Some(t) => {
                changed = true;
                let c = arrow::compute::cast(col, &t).map_err(|e| {
                    AutomlError::BadData(format!(
                        "column {:?} cannot be read as text: {e}",
                        f.name()
                    ))
                })?;
                fields.push(arrow::datatypes::Field::new(f.name(), t, true));
                columns.push(c);
            }
            None => {
                fields.push(f.as_ref().clone());
                columns.push(col.clone());
            }
        }
    }
    if !changed {
        return Ok((batch, notes));
    }
    let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(fields));
    let batch =
        RecordBatch::try_new(schema, columns).map_err(|e| AutomlError::Internal(e.to_string()))?;
    Ok((batch, notes))
}

/// Rejects a table with duplicate column names, naming the second one.
pub(crate) fn check_unique_names(path: &Path, schema: &SchemaRef) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for f in schema.fields() {
        if !seen.insert(f.name().as_str()) {
            return Err(AutomlError::data_input(
                path,
                DataErrorKind::DuplicateColumn,
                Some(0),
                Some(f.name().clone()),
                "two columns have this name; rename one",
            ));
        }
    }
    Ok(())
}

/// What the loader noticed and worked around, one line each (for WARNING events): the table's
/// notes, or the image files that were skipped.
pub fn load_notes(dataset: &Dataset) -> Vec<String> {
    match dataset {
        Dataset::Table(t) => t.notes.clone(),
        Dataset::Images(f) => {
            let mut v: Vec<String> = f
                .skipped
                .iter()
                .take(10)
                .map(|(p, why)| format!("skipped {}: {why}", p.display()))
                .collect();
            if f.skipped.len() > 10 {
                v.push(format!(
                    "... and {} more files skipped",
                    f.skipped.len() - 10
                ));
            }
            v
        }
    }
}

/// The DATASET_SAMPLE_READY payload: columns with types, the row count, the first rows, and
/// for images 1-3 thumbnails written as PNG files under `thumbs_dir`.
pub fn sample_payload(dataset: &Dataset, thumbs_dir: Option<&Path>) -> DatasetSamplePayload {
    match dataset {
        Dataset::Table(t) => DatasetSamplePayload {
            images: vec![],
            columns: t
                .batch
                .schema()
                .fields()
                .iter()
                .map(|f| ColumnType {
                    name: f.name().clone(),
                    dtype: f.data_type().to_string(),
                })
                .collect(),
            n_rows: t.batch.num_rows() as u64,
            rows: preview_rows(&t.batch, 5),
        },
        Dataset::Images(f) => {
            let images = match thumbs_dir {
                Some(dir) => write_thumbnails(f, dir, 3)
                    .map(|v| v.into_iter().map(|p| p.display().to_string()).collect())
                    .unwrap_or_default(),
                None => vec![],
            };
            DatasetSamplePayload {
                images,
                columns: vec![
                    ColumnType {
                        name: "image".into(),
                        dtype: "image".into(),
                    },
                    ColumnType {
                        name: "label".into(),
                        dtype: "Utf8".into(),
                    },
                ],
                n_rows: f.files.len() as u64,
                rows: f
                    .files
                    .iter()
                    .take(5)
                    .map(|(p, c)| {
                        let mut m = serde_json::Map::new();
                        m.insert("image".into(), p.display().to_string().into());
                        m.insert("label".into(), f.classes[*c].clone().into());
                        m
                    })
                    .collect(),
            }
        }
    }
}

/// A column as optional floats; values that do not parse as numbers become `None`.
pub fn column_f64(col: &ArrayRef) -> Vec<Option<f64>> {
    let opts = CastOptions {
        safe: true,
        ..Default::default()
    };
    let casted = match col.data_type() {
        DataType::Boolean => cast_with_options(
            &cast_with_options(col, &DataType::UInt8, &opts).unwrap_or_else(|_| col.clone()),
            &DataType::Float64,
            &opts,
        ),
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _) => {
            cast_with_options(col, &DataType::Int64, &opts)
                .and_then(|c| cast_with_options(&c, &DataType::Float64, &opts))
        }
        _ => cast_with_options(col, &DataType::Float64, &opts),
    };
    match casted {
        Ok(a) => match a.as_any().downcast_ref::<Float64Array>() {
            Some(f) => f.iter().map(|v| v.filter(|x| x.is_finite())).collect(),
            None => vec![None; col.len()],
        },
        Err(_) => vec![None; col.len()],
    }
}

/// A column as optional strings (numbers rendered as text).
pub fn column_str(col: &ArrayRef) -> Vec<Option<String>> {
    let opts = CastOptions {
        safe: true,
        ..Default::default()
    };
    match cast_with_options(col, &DataType::Utf8, &opts) {
        Ok(a) => match a.as_any().downcast_ref::<StringArray>() {
            Some(s) => s.iter().map(|v| v.map(str::to_string)).collect(),
            None => vec![None; col.len()],
        },
        Err(_) => vec![None; col.len()],
    }
}

/// True for Arrow types we treat as numbers.
pub fn is_numeric_type(t: &DataType) -> bool {
    t.is_numeric()
}

/// The first `n` rows as JSON objects, for previews.
pub fn preview_rows(
    batch: &RecordBatch,
    n: usize,
) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let n = n.min(batch.num_rows());
    let schema = batch.schema();
    let cols: Vec<(String, bool, Vec<Option<String>>, Vec<Option<f64>>)> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| {
            let sliced = c.slice(0, n);
            let numeric = is_numeric_type(f.data_type());
            (
                f.name().clone(),
                numeric,
                column_str(&sliced),
                if numeric { column_f64(&sliced) } else { vec![] },
            )
        })
        .collect();
    (0..n)
        .map(|i| {
            cols.iter()
                .map(|(name, numeric, s, f)| {
                    let v = if *numeric {
                        f[i].and_then(serde_json::Number::from_f64)
                            .map(serde_json::Value::Number)
                            .unwrap_or(serde_json::Value::Null)
                    } else {
                        s[i].clone()
                            .map(serde_json::Value::String)
                            .unwrap_or(serde_json::Value::Null)
                    };
                    (name.clone(), v)
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod json_rows_tests {
    use super::*;

    #[test]
    fn json_rows_become_a_typed_batch() {
        let rows: Vec<serde_json::Value> = serde_json::from_str(
            r#"[{"a": 1.5, "b": "x", "c": 2}, {"a": null, "b": "y", "c": 3}]"#,
        )
        .expect("json");
        let b = table_from_json_rows("rows", &rows).expect("batch");
        assert_eq!((b.num_rows(), b.num_columns()), (2, 3));
        assert_eq!(b.schema().field(0).data_type(), &DataType::Float64);
        assert_eq!(b.schema().field(1).data_type(), &DataType::Utf8);
        assert_eq!(b.column(0).null_count(), 1);
        let err = table_from_json_rows("rows", &[]).expect_err("empty");
        assert_eq!(err.category(), crate::error::ErrorCategory::Data);
        let err = table_from_json_rows("rows", &[serde_json::json!(3)]).expect_err("not an object");
        assert!(err.to_string().contains("memory:rows, row 1"), "{err}");
    }
}
