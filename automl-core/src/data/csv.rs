//! Delimited text (CSV/TSV) to Arrow.
//!
//! 1. The first 64 KiB are sniffed: byte-order mark (UTF-8 / UTF-16), binary content, the
//!    delimiter (the candidate with the most consistent count per line), the header.
//! 2. Column types are inferred on a bounded sample ([`LoadOptions::infer_rows`]).
//! 3. The file is streamed in 64 Ki-row batches with every column read as text, and each
//!    column is then converted to its type on its own: missing tokens become nulls, values are
//!    cast, and a column whose values do not all fit its sampled type is widened
//!    (integer → float → text) with a note. Only one column is ever held twice.
//!
//! Decision record: docs/decisions/0050-csv-streaming-and-typing.md.

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, LazyLock};

use arrow::array::{Array, ArrayRef, StringArray};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::csv::ReaderBuilder;
use arrow::csv::reader::Format;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use super::{LoadOptions, TableData, TextEncoding, check_unique_names, combine_batches};
use crate::error::{AutomlError, DataErrorKind, Result};

/// Values read as missing in CSV files, besides the empty field (compared after trimming
/// spaces).
pub const MISSING_TOKENS: &[&str] = &[
    "?", "NA", "N/A", "na", "n/a", "NaN", "nan", "null", "NULL", "None",
];

/// True when `s` (trimmed) is empty or one of [`MISSING_TOKENS`].
pub fn is_missing_token(s: &str) -> bool {
    // Every token starts with one of these (or with a space before it).
    if !matches!(
        s.as_bytes().first(),
        None | Some(b'?' | b'N' | b'n' | b' ' | b'\t' | b'\r')
    ) {
        return false;
    }
    let t = s.trim();
    t.is_empty() || (t.len() <= 4 && MISSING_TOKENS.contains(&t))
}

static NULL_RE: LazyLock<regex::Regex> = LazyLock::new(|| {
    let alts: Vec<String> = MISSING_TOKENS.iter().map(|t| regex::escape(t)).collect();
    regex::Regex::new(&format!(r"^\s*(?:{})?\s*$", alts.join("|"))).expect("static regex")
});

static LINE_RE: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"line:? (\d+)").expect("static regex"));
static FIELD_RE: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"field (\d+)").expect("static regex"));
static COUNT_RE: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"expected (\d+) got (more than )?(\d+)").expect("static regex")
});
static CSV_COUNT_RE: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"Expected (\d+) records, found (\d+) records").expect("static regex")
});

const HEAD_BYTES: usize = 64 * 1024;
const BATCH_ROWS: usize = 64 * 1024;

/// Where the bytes come from: the file itself (after a byte-order mark) or a transcoded copy.
enum Source {
    File { skip: u64 },
    Memory(Arc<Vec<u8>>),
}

impl Source {
    fn open(&self, path: &Path) -> Result<Box<dyn Read + Send>> {
        match self {
            Source::File { skip } => {
                let mut f = File::open(path).map_err(|e| unreadable(path, e))?;
                f.seek(SeekFrom::Start(*skip))
                    .map_err(|e| unreadable(path, e))?;
                Ok(Box::new(BufReader::with_capacity(1 << 20, f)))
            }
            Source::Memory(b) => Ok(Box::new(Cursor::new(SharedBytes(b.clone())))),
        }
    }
}

struct SharedBytes(Arc<Vec<u8>>);
impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

fn unreadable(path: &Path, e: std::io::Error) -> AutomlError {
    AutomlError::DataFileUnreadable {
        path: path.to_path_buf(),
        source: e,
    }
}

fn read_head(path: &Path) -> Result<Vec<u8>> {
    let f = File::open(path).map_err(|e| unreadable(path, e))?;
    let mut head = Vec::with_capacity(HEAD_BYTES);
    f.take(HEAD_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(|e| unreadable(path, e))?;
    Ok(head)
}

fn decode_utf16(bytes: &[u8], little: bool) -> Vec<u8> {
    let units = bytes.chunks_exact(2).map(|c| {
        if little {
            u16::from_le_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], c[1]])
        }
    });
    char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect::<String>()
        .into_bytes()
}

fn decode_latin1(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .map(|b| char::from(*b))
        .collect::<String>()
        .into_bytes()
}

/// Splits a line into fields, honouring double quotes.
fn split_fields(line: &str, delimiter: u8) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let d = char::from(delimiter);
    for ch in line.chars() {
        match ch {
            '"' => quoted = !quoted,
            c if c == d && !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Counts `delimiter` outside double quotes on one line.
fn count_outside_quotes(line: &str, delimiter: u8) -> usize {
    let mut quoted = false;
    let mut n = 0;
    for b in line.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if b == delimiter && !quoted {
            n += 1;
        }
    }
    n
}

/// The delimiter among `, \t ; |` whose count on the first line is non-zero and repeats on the
/// most following lines (ties: the larger count). Defaults to a comma.
pub(crate) fn sniff_delimiter(head: &str) -> u8 {
    let lines: Vec<&str> = head
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(30)
        .collect();
    // The last line of the head may be cut mid-row.
    let complete = if lines.len() > 2 {
        &lines[..lines.len() - 1]
    } else {
        &lines[..]
    };
    let mut best: Option<(usize, usize, u8)> = None;
    for d in [b',', b'\t', b';', b'|'] {
        let Some(first) = complete.first() else {
            break;
        };
        let c0 = count_outside_quotes(first, d);
        if c0 == 0 {
            continue;
        }
        let consistent = complete
            .iter()
            .filter(|l| count_outside_quotes(l, d) == c0)
            .count();
        let key = (consistent, c0, d);
        if best.is_none_or(|b| (key.0, key.1) > (b.0, b.1)) {
            best = Some(key);
        }
    }
    best.map(|b| b.2).unwrap_or(b',')
}

/// A first row whose every field is a number is data, not a header.
pub(crate) fn sniff_header(head: &str, delimiter: u8) -> bool {
    let Some(first) = head.lines().next() else {
        return true;
    };
    let fields = split_fields(first, delimiter);
    !fields
        .iter()
        .all(|f| !f.trim().is_empty() && f.trim().parse::<f64>().is_ok())
}

/// Loads a delimited text file; see the module documentation for the steps.
pub fn load_csv(path: &Path, opts: &LoadOptions) -> Result<TableData> {
    let head = read_head(path)?;
    let mut notes = Vec::new();
    if head.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(AutomlError::data_input(
            path,
            DataErrorKind::EmptyFile,
            None,
            None,
            "the file is empty (zero bytes or only whitespace)",
        ));
    }
    let (source, head_text) = if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        (
            Source::File { skip: 3 },
            String::from_utf8_lossy(&head[3..]).into_owned(),
        )
    } else if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
        let little = head[0] == 0xFF;
        let all = std::fs::read(path).map_err(|e| unreadable(path, e))?;
        let text = decode_utf16(&all[2..], little);
        notes.push(format!(
            "the file is UTF-16 ({}); it was converted to UTF-8 in memory",
            if little {
                "little-endian"
            } else {
                "big-endian"
            }
        ));
        let head_text = String::from_utf8_lossy(&text[..text.len().min(HEAD_BYTES)]).into_owned();
        (Source::Memory(Arc::new(text)), head_text)
    } else {
        if let Some(pos) = binary_at(&head) {
            return Err(AutomlError::data_input(
                path,
                DataErrorKind::Binary,
                None,
                None,
                format!(
                    "byte {pos} is a control byte (0x{:02x}): this is binary data, not delimited text",
                    head[pos]
                ),
            ));
        }
        match opts.encoding {
            TextEncoding::Utf8 => (
                Source::File { skip: 0 },
                String::from_utf8_lossy(&head).into_owned(),
            ),
            TextEncoding::Latin1 => {
                let all = std::fs::read(path).map_err(|e| unreadable(path, e))?;
                let text = decode_latin1(&all);
                let head_text =
                    String::from_utf8_lossy(&text[..text.len().min(HEAD_BYTES)]).into_owned();
                (Source::Memory(Arc::new(text)), head_text)
            }
        }
    };
    let delimiter = opts
        .delimiter
        .unwrap_or_else(|| sniff_delimiter(&head_text));
    let header = opts
        .header
        .unwrap_or_else(|| sniff_header(&head_text, delimiter));
    if !header {
        notes.push(
            "the first row holds only numbers, so it was read as data; columns are named column_1, column_2, ..."
                .to_string(),
        );
    }
    let format = Format::default()
        .with_header(header)
        .with_delimiter(delimiter)
        .with_null_regex(NULL_RE.clone());
    let head_names: Vec<String> = head_text
        .lines()
        .next()
        .map(|l| split_fields(l, delimiter))
        .unwrap_or_default();
    let (inferred, _) = format
        .infer_schema(source.open(path)?, opts.infer_rows)
        .map_err(|e| map_arrow_error(path, e, &head_names, header))?;
    if inferred.fields().is_empty() {
        return Err(AutomlError::data_input(
            path,
            DataErrorKind::EmptyFile,
            None,
            None,
            "no header row",
        ));
    }
    // Name unnamed columns, then reject duplicates.
    let mut fields: Vec<Field> = Vec::with_capacity(inferred.fields().len());
    for (i, f) in inferred.fields().iter().enumerate() {
        let name = f.name().trim();
        if name.is_empty() {
            let new = format!("column_{}", i + 1);
            notes.push(format!(
                "column #{} has no name in the header; it is called {new:?}",
                i + 1
            ));
            fields.push(Field::new(new, f.data_type().clone(), true));
        } else {
            fields.push(Field::new(name, f.data_type().clone(), true));
        }
    }
    let typed: SchemaRef = Arc::new(Schema::new(fields));
    check_unique_names(path, &typed)?;
    let names: Vec<String> = typed.fields().iter().map(|f| f.name().clone()).collect();

    // Stream every column as text.
    let text_schema: SchemaRef = Arc::new(Schema::new(
        typed
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let reader = ReaderBuilder::new(text_schema.clone())
        .with_format(
            Format::default()
                .with_header(header)
                .with_delimiter(delimiter),
        )
        .with_batch_size(BATCH_ROWS)
        .build(source.open(path)?)
        .map_err(|e| map_arrow_error(path, e, &names, header))?;
    let mut batches = Vec::new();
    let mut rows_before = 0u64;
    for b in reader {
        let b = b.map_err(|e| map_arrow_error(path, e, &names, header))?;
        check_field_sizes(path, &b, rows_before, opts.max_field_bytes)?;
        rows_before += b.num_rows() as u64;
        batches.push(b);
    }
    if rows_before == 0 {
        return Err(AutomlError::data_input(
            path,
            DataErrorKind::HeaderOnly,
            None,
            None,
            "the file has only a header row, no data rows",
        ));
    }
    let text = combine_batches(text_schema, batches)?;
    drop(source);

    // Type each column on its own.
    let (_, columns, _) = text.into_parts();
    let targets: Vec<DataType> = typed
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    let converted = convert_columns(columns, &targets);
    let mut out_fields = Vec::with_capacity(converted.len());
    let mut out_cols = Vec::with_capacity(converted.len());
    for ((name, (col, note)), want) in names.iter().zip(converted).zip(&targets) {
        if let Some(n) = note {
            notes.push(format!("column {name:?}: {n}"));
        }
        let _ = want;
        out_fields.push(Field::new(name, col.data_type().clone(), true));
        out_cols.push(col);
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(out_fields)), out_cols)
        .map_err(|e| AutomlError::Internal(format!("assembling {}: {e}", path.display())))?;
    Ok(TableData {
        path: path.to_path_buf(),
        batch,
        notes,
    })
}

/// Position of the first byte that marks binary content: a NUL, or control bytes making up more
/// than 5 % of the head (at least 4 of them).
fn binary_at(head: &[u8]) -> Option<usize> {
    let pos = head.iter().position(|b| *b == 0);
    if pos.is_some() {
        return pos;
    }
    let ctrl: Vec<usize> = head
        .iter()
        .enumerate()
        .filter(|(_, b)| **b < 0x20 && !matches!(**b, b'\t' | b'\n' | b'\r' | 0x0c))
        .map(|(i, _)| i)
        .collect();
    (ctrl.len() >= 4 && ctrl.len() * 20 > head.len()).then(|| ctrl[0])
}

fn check_field_sizes(path: &Path, b: &RecordBatch, rows_before: u64, limit: usize) -> Result<()> {
    for (f, col) in b.schema().fields().iter().zip(b.columns()) {
        let Some(s) = col.as_any().downcast_ref::<StringArray>() else {
            continue;
        };
        let offs = s.value_offsets();
        if (offs[offs.len() - 1] - offs[0]) as usize <= limit {
            continue;
        }
        for i in 0..s.len() {
            let len = (offs[i + 1] - offs[i]) as usize;
            if len > limit {
                return Err(AutomlError::data_input(
                    path,
                    DataErrorKind::FieldTooLarge,
                    Some(rows_before + i as u64 + 1),
                    Some(f.name().clone()),
                    format!(
                        "the field holds {len} bytes, over the limit of {limit} (LoadOptions::max_field_bytes); an unclosed quote often causes this"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Nulls missing tokens and casts each text column to its sampled type, widening when values
/// do not fit. Runs on two threads, one column at a time each.
fn convert_columns(
    columns: Vec<ArrayRef>,
    targets: &[DataType],
) -> Vec<(ArrayRef, Option<String>)> {
    let n = columns.len();
    let mut slots: Vec<Option<ArrayRef>> = columns.into_iter().map(Some).collect();
    let mut out: Vec<Option<(ArrayRef, Option<String>)>> = (0..n).map(|_| None).collect();
    let threads = std::thread::available_parallelism()
        .map(|p| p.get())
        .unwrap_or(1)
        .clamp(1, 4);
    let work: Vec<(usize, ArrayRef, DataType)> = slots
        .iter_mut()
        .enumerate()
        .filter_map(|(i, s)| s.take().map(|c| (i, c, targets[i].clone())))
        .collect();
    let work = std::sync::Mutex::new(work);
    let results = std::sync::Mutex::new(Vec::with_capacity(n));
    std::thread::scope(|sc| {
        for _ in 0..threads {
            sc.spawn(|| {
                loop {
                    let item = work.lock().ok().and_then(|mut w| w.pop());
                    let Some((i, col, want)) = item else { break };
                    let r = convert_column(col, &want);
                    if let Ok(mut res) = results.lock() {
                        res.push((i, r));
                    }
                }
            });
        }
    });
    for (i, r) in results.into_inner().unwrap_or_default() {
        out[i] = Some(r);
    }
    out.into_iter()
        .map(|o| {
            o.unwrap_or_else(|| {
                (
                    arrow::array::new_null_array(&DataType::Utf8, 0),
                    Some("internal: column lost".to_string()),
                )
            })
        })
        .collect()
}

fn convert_column(col: ArrayRef, want: &DataType) -> (ArrayRef, Option<String>) {
    let Some(s) = col.as_any().downcast_ref::<StringArray>() else {
        return (col, None);
    };
    // Null the missing tokens (only rebuild when there are any).
    let has_token = s
        .iter()
        .any(|v| v.is_some_and(|v| v.len() <= 6 && is_missing_token(v)));
    let cleaned: StringArray = if has_token {
        s.iter()
            .map(|v| v.filter(|v| !(v.len() <= 6 && is_missing_token(v))))
            .collect()
    } else {
        s.clone()
    };
    drop(col);
    if *want == DataType::Utf8 {
        return (Arc::new(cleaned), None);
    }
    let nulls = cleaned.null_count();
    let opts = CastOptions {
        safe: true,
        ..Default::default()
    };
    let mut ladder = vec![want.clone()];
    if want.is_integer() {
        ladder.push(DataType::Float64);
    }
    for (step, t) in ladder.iter().enumerate() {
        if let Ok(c) = cast_with_options(&cleaned, t, &opts)
            && c.null_count() == nulls
        {
            let note = (step > 0).then(|| {
                format!("sampled rows looked like {want}, later rows hold {t} values; read as {t}")
            });
            return (c, note);
        }
    }
    // Find the first value that does not fit, for the note.
    let bad = cast_with_options(&cleaned, want, &opts)
        .ok()
        .and_then(|c| (0..c.len()).find(|i| c.is_null(*i) && cleaned.is_valid(*i)));
    let note = match bad {
        Some(i) => format!(
            "sampled rows looked like {want}, but row {} holds {:?}; the column is read as text",
            i + 1,
            truncate(cleaned.value(i), 40)
        ),
        None => format!("values do not all fit {want}; the column is read as text"),
    };
    (Arc::new(cleaned), Some(note))
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// Turns the CSV reader's messages into typed errors with row and column.
fn map_arrow_error(path: &Path, e: ArrowError, names: &[String], header: bool) -> AutomlError {
    let msg = e.to_string();
    let line = LINE_RE
        .captures(&msg)
        .and_then(|c| c[1].parse::<u64>().ok());
    // Lines count the header as line 1; rows count data rows from 1.
    let row = line.map(|l| if header { l.saturating_sub(1) } else { l });
    let col_name = |idx1: usize| -> String {
        names
            .get(idx1.wrapping_sub(1))
            .filter(|n| header && !n.trim().is_empty())
            .cloned()
            .unwrap_or_else(|| format!("#{idx1}"))
    };
    if msg.contains("incorrect number of fields") {
        let (column, detail) = match COUNT_RE.captures(&msg) {
            Some(c) => {
                let expected: usize = c[1].parse().unwrap_or(0);
                let got: usize = c[3].parse().unwrap_or(0);
                if c.get(2).is_some() || got > expected {
                    (
                        format!("#{}", expected + 1),
                        format!("the row has more fields than the header's {expected}"),
                    )
                } else {
                    (
                        col_name(got + 1),
                        format!("the row has {got} fields, the header has {expected}"),
                    )
                }
            }
            None => ("?".to_string(), msg.clone()),
        };
        return AutomlError::data_input(path, DataErrorKind::RaggedRow, row, Some(column), detail);
    }
    if let Some(c) = CSV_COUNT_RE.captures(&msg) {
        let expected: usize = c[1].parse().unwrap_or(0);
        let got: usize = c[2].parse().unwrap_or(0);
        let column = if got > expected {
            format!("#{}", expected + 1)
        } else {
            col_name(got + 1)
        };
        return AutomlError::data_input(
            path,
            DataErrorKind::RaggedRow,
            row,
            Some(column),
            format!("the row has {got} fields, the rows before it have {expected}"),
        );
    }
    if msg.contains("UTF-8") || msg.contains("utf-8") || msg.contains("utf8") {
        let field = FIELD_RE
            .captures(&msg)
            .and_then(|c| c[1].parse::<usize>().ok());
        // arrow counts fields from 1 ("field 1"); the csv crate from 0 ("in field 0").
        let column = field.map(|f| {
            if msg.contains("Encountered invalid") {
                col_name(f)
            } else {
                col_name(f + 1)
            }
        });
        return AutomlError::data_input(
            path,
            DataErrorKind::Encoding,
            row,
            column,
            "bytes that are not UTF-8; save the file as UTF-8, or load it with encoding latin-1",
        );
    }
    AutomlError::data_input(path, DataErrorKind::Malformed, row, None, msg)
}
