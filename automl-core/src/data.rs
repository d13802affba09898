//! Loading data into Arrow: CSV/TSV files into one [`RecordBatch`], folders of images (one
//! sub-folder per class) into an [`ImageFolder`].

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use arrow::array::{Array, ArrayRef, Float64Array, StringArray};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::csv::ReaderBuilder;
use arrow::csv::reader::Format;
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;

use crate::error::{AutomlError, Result};

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
    /// Files that were not images, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "bmp", "gif", "webp"];

/// Values read as missing in CSV files, besides the empty field.
pub const MISSING_TOKENS: &[&str] = &[
    "?", "NA", "N/A", "na", "n/a", "NaN", "nan", "null", "NULL", "None",
];

static NULL_RE: LazyLock<regex::Regex> = LazyLock::new(|| {
    let alts: Vec<String> = MISSING_TOKENS.iter().map(|t| regex::escape(t)).collect();
    regex::Regex::new(&format!(r"^\s*(?:{})?\s*$", alts.join("|"))).expect("static regex")
});

/// Loads a file or folder: CSV/TSV files as a table, a folder as labelled images.
pub fn load(path: &Path) -> Result<Dataset> {
    let meta = std::fs::metadata(path).map_err(|e| AutomlError::DataFileUnreadable {
        path: path.to_path_buf(),
        source: e,
    })?;
    if meta.is_dir() {
        return load_image_folder(path).map(Dataset::Images);
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "csv" | "txt" | "data" | "" => load_csv(path, None).map(Dataset::Table),
        "tsv" | "tab" => load_csv(path, Some(b'\t')).map(Dataset::Table),
        other => Err(AutomlError::UnsupportedFormat {
            path: path.to_path_buf(),
            message: format!(
                "files ending in .{other} are not loaded yet; use CSV or TSV, or a folder of images with one sub-folder per class"
            ),
        }),
    }
}

fn sniff_delimiter(head: &str) -> u8 {
    let first = head.lines().next().unwrap_or("");
    let cands = [b',', b'\t', b';', b'|'];
    cands
        .into_iter()
        .max_by_key(|d| first.bytes().filter(|b| b == d).count())
        .filter(|d| first.bytes().any(|b| b == *d))
        .unwrap_or(b',')
}

/// Loads a delimited text file with a header row. The delimiter is sniffed from the header
/// when not given; empty fields and [`MISSING_TOKENS`] are read as missing.
pub fn load_csv(path: &Path, delimiter: Option<u8>) -> Result<TableData> {
    let unreadable = |e| AutomlError::DataFileUnreadable {
        path: path.to_path_buf(),
        source: e,
    };
    let parse_err = |m: String| AutomlError::DataParse {
        path: path.to_path_buf(),
        message: m,
    };
    let mut file = File::open(path).map_err(unreadable)?;
    let mut head = vec![0u8; 64 * 1024];
    let n = read_up_to(&mut file, &mut head).map_err(unreadable)?;
    head.truncate(n);
    if head.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(AutomlError::EmptyData {
            path: path.to_path_buf(),
            detail: " (the file is empty)".to_string(),
        });
    }
    if head.contains(&0) {
        return Err(parse_err(
            "the file holds binary data (NUL bytes), not delimited text".to_string(),
        ));
    }
    let head_text = String::from_utf8_lossy(&head);
    let delimiter = delimiter.unwrap_or_else(|| sniff_delimiter(&head_text));
    file.rewind().map_err(unreadable)?;

    let format = Format::default()
        .with_header(true)
        .with_delimiter(delimiter)
        .with_null_regex(NULL_RE.clone());
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let max_records = if size > 200 * 1024 * 1024 {
        Some(200_000)
    } else {
        None
    };
    let (schema, _) = format
        .infer_schema(BufReader::new(&mut file), max_records)
        .map_err(|e| parse_err(e.to_string()))?;
    if schema.fields().is_empty() {
        return Err(AutomlError::EmptyData {
            path: path.to_path_buf(),
            detail: " (no header)".to_string(),
        });
    }
    let mut seen = HashSet::new();
    for f in schema.fields() {
        if !seen.insert(f.name().clone()) {
            return Err(parse_err(format!(
                "duplicate column name {:?} in the header",
                f.name()
            )));
        }
    }
    file.rewind().map_err(unreadable)?;
    let schema = Arc::new(schema);
    let reader = ReaderBuilder::new(schema.clone())
        .with_format(format)
        .with_batch_size(64 * 1024)
        .build(BufReader::new(file))
        .map_err(|e| parse_err(e.to_string()))?;
    let mut batches = Vec::new();
    for b in reader {
        batches.push(b.map_err(|e| parse_err(e.to_string()))?);
    }
    let batch =
        arrow::compute::concat_batches(&schema, &batches).map_err(|e| parse_err(e.to_string()))?;
    if batch.num_rows() == 0 {
        return Err(AutomlError::EmptyData {
            path: path.to_path_buf(),
            detail: " (only a header)".to_string(),
        });
    }
    Ok(TableData {
        path: path.to_path_buf(),
        batch,
    })
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let k = f.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(n)
}

/// Scans a folder with one sub-folder per class. Files that are not images (by extension) are
/// skipped and listed with the reason; decoding is the image trainer's job.
pub fn load_image_folder(root: &Path) -> Result<ImageFolder> {
    let unreadable = |e| AutomlError::DataFileUnreadable {
        path: root.to_path_buf(),
        source: e,
    };
    let mut classes: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(root).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        if entry.file_type().map_err(unreadable)?.is_dir() {
            classes.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    classes.sort();
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for (ci, c) in classes.iter().enumerate() {
        let dir = root.join(c);
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(unreadable)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        entries.sort();
        for p in entries {
            let ext = p
                .extension()
                .and_then(|e| e.to_str())
                .map(|e| e.to_ascii_lowercase())
                .unwrap_or_default();
            if IMAGE_EXTENSIONS.contains(&ext.as_str()) {
                files.push((p, ci));
            } else {
                skipped.push((p, "not an image file (by extension)".to_string()));
            }
        }
    }
    classes.retain(|_| true);
    if files.is_empty() {
        return Err(AutomlError::EmptyData {
            path: root.to_path_buf(),
            detail: " (no images in class sub-folders)".to_string(),
        });
    }
    Ok(ImageFolder {
        root: root.to_path_buf(),
        classes,
        files,
        skipped,
    })
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
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &Path, name: &str, body: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::File::create(&p)
            .and_then(|mut f| f.write_all(body))
            .expect("write");
        p
    }

    #[test]
    fn loads_csv_with_missing_tokens() {
        let d = tempfile::tempdir().expect("tmp");
        let p = write(d.path(), "a.csv", b"x,y,c\n1,2.5,a\n?,NA,b\n3,,\n");
        let t = load_csv(&p, None).expect("load");
        assert_eq!(t.batch.num_rows(), 3);
        let x = column_f64(t.batch.column(0));
        assert_eq!(x, vec![Some(1.0), None, Some(3.0)]);
        let y = column_f64(t.batch.column(1));
        assert_eq!(y[1], None);
        assert_eq!(y[2], None);
    }

    #[test]
    fn sniffs_semicolons_and_tabs() {
        let d = tempfile::tempdir().expect("tmp");
        let p = write(d.path(), "a.csv", b"x;y\n1;2\n3;4\n");
        assert_eq!(load_csv(&p, None).expect("load").batch.num_columns(), 2);
        let p = write(d.path(), "b.tsv", b"x\ty\n1\t2\n");
        assert!(matches!(load(&p).expect("load"), Dataset::Table(t) if t.batch.num_columns() == 2));
    }

    #[test]
    fn bad_inputs_are_typed() {
        let d = tempfile::tempdir().expect("tmp");
        let empty = write(d.path(), "e.csv", b"");
        assert!(matches!(load(&empty), Err(AutomlError::EmptyData { .. })));
        let header = write(d.path(), "h.csv", b"a,b,c\n");
        assert!(
            matches!(load(&header), Err(AutomlError::EmptyData { detail, .. }) if detail.contains("header"))
        );
        let ragged = write(d.path(), "r.csv", b"a,b\n1,2\n3,4,5\n");
        assert!(matches!(load(&ragged), Err(AutomlError::DataParse { .. })));
        let bin = write(d.path(), "b.csv", b"\x00\x01\x02binary");
        assert!(matches!(load(&bin), Err(AutomlError::DataParse { .. })));
        let dup = write(d.path(), "d.csv", b"a,a\n1,2\n");
        assert!(
            matches!(load(&dup), Err(AutomlError::DataParse { message, .. }) if message.contains("duplicate"))
        );
        assert!(matches!(
            load(&d.path().join("missing.csv")),
            Err(AutomlError::DataFileUnreadable { .. })
        ));
        let pq = write(d.path(), "x.xlsx", b"PK");
        assert!(matches!(
            load(&pq),
            Err(AutomlError::UnsupportedFormat { .. })
        ));
    }
}
