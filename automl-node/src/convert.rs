//! What crosses between JavaScript and the core: rows (a JSON array of objects or an Arrow IPC
//! buffer) into a record batch, and predictions into the JSON the TypeScript layer reads.

use std::io::Cursor;

use arrow::record_batch::RecordBatch;
use automl_core::api::FilePredictions;
use automl_core::{AutomlError, Predictions};
use serde_json::{Value, json};

/// Rows as JavaScript sends them (`JSON.stringify` of an array of objects) as a batch.
pub fn rows_to_batch(name: &str, rows_json: &str) -> automl_core::Result<RecordBatch> {
    let rows: Vec<Value> = serde_json::from_str(rows_json)
        .map_err(|e| AutomlError::BadData(format!("{name}: the rows are not a JSON array: {e}")))?;
    automl_core::data::table_from_json_rows(name, &rows)
}

/// An Arrow IPC buffer (stream or file format, as `apache-arrow`'s `tableToIPC` writes) as
/// one batch.
pub fn ipc_to_batch(name: &str, bytes: &[u8]) -> automl_core::Result<RecordBatch> {
    let corrupt = |e: arrow::error::ArrowError| {
        AutomlError::data_input(
            format!("memory:{name}"),
            automl_core::error::DataErrorKind::CorruptFile,
            None,
            None,
            format!("not a readable Arrow IPC buffer: {e}"),
        )
    };
    let (schema, batches) = if bytes.starts_with(b"ARROW1") {
        let r =
            arrow::ipc::reader::FileReader::try_new(Cursor::new(bytes), None).map_err(corrupt)?;
        let schema = r.schema();
        (schema, r.collect::<Result<Vec<_>, _>>().map_err(corrupt)?)
    } else {
        let r =
            arrow::ipc::reader::StreamReader::try_new(Cursor::new(bytes), None).map_err(corrupt)?;
        let schema = r.schema();
        (schema, r.collect::<Result<Vec<_>, _>>().map_err(corrupt)?)
    };
    if batches.is_empty() {
        return Ok(RecordBatch::new_empty(schema));
    }
    automl_core::data::combine_batches(schema, batches)
}

/// Predictions as JSON: `{labels, classes, proba}` or `{values}`, with `items` (image
/// models), `report` and `reportText` — the keys of automl-py's `predict_file` dict, in
/// JavaScript's case.
pub fn predictions_json(p: &FilePredictions) -> String {
    let mut out = match &p.predictions {
        Predictions::Classes { classes, proba } => json!({
            "labels": p.predictions.labels().unwrap_or_default(),
            "classes": classes,
            "proba": proba.outer_iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
        }),
        Predictions::Values(v) => json!({ "values": v }),
    };
    if !p.items.is_empty() {
        out["items"] = json!(
            p.items
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
        );
    }
    out["report"] = serde_json::to_value(&p.report).unwrap_or(Value::Null);
    out["reportText"] = json!(p.report.summary());
    out.to_string()
}

/// Any serialisable core value (outcome, parsed prompt, profile) as JSON text.
pub fn to_json<T: serde::Serialize>(v: &T) -> napi::Result<String> {
    serde_json::to_string(v)
        .map_err(|e| crate::error::to_napi_err(AutomlError::Internal(e.to_string())))
}

/// A forecast batch as JSON `{columns, rows}`: each row the series ids and the time as text,
/// then the prediction (the shape of automl-py's `forecast_file` dict).
pub fn forecast_json(t: &RecordBatch) -> String {
    let f = automl_core::api::ForecastRows::from_batch(t);
    let rows: Vec<Value> = f
        .rows
        .into_iter()
        .map(|r| {
            let mut row: Vec<Value> = r.keys.into_iter().map(|k| json!(k)).collect();
            row.push(json!(r.prediction));
            Value::Array(row)
        })
        .collect();
    json!({ "columns": f.columns, "rows": rows }).to_string()
}
