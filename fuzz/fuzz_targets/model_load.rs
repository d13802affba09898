//! libFuzzer target over saved-model bytes → load → predict: a hostile or corrupt
//! `model.json` must give a `ModelLoad` error, never a panic, a hang or a huge allocation.
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run model_load -s none -- -max_total_time=60` (seed the corpus
//! with real run folders' model.json files; see docs/architecture.md).
#![no_main]

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use libfuzzer_sys::fuzz_target;

fn rows() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("sepal_length", DataType::Float64, true),
        Field::new("sepal_width", DataType::Float64, true),
        Field::new("petal_length", DataType::Float64, true),
        Field::new("petal_width", DataType::Float64, true),
        Field::new("species", DataType::Utf8, true),
        Field::new("text", DataType::Utf8, true),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Float64Array::from(vec![Some(5.1), None, Some(6.3)])),
        Arc::new(Float64Array::from(vec![Some(3.5), Some(2.9), Some(f64::NAN)])),
        Arc::new(Float64Array::from(vec![Some(1.4), Some(4.5), Some(6.0)])),
        Arc::new(Float64Array::from(vec![Some(0.2), Some(1.5), Some(2.5)])),
        Arc::new(StringArray::from(vec![Some("setosa"), None, Some("virginica")])),
        Arc::new(StringArray::from(vec![Some("free text"), Some(""), None])),
    ];
    RecordBatch::try_new(schema, cols).expect("fixed rows")
}

fuzz_target!(|bytes: &[u8]| {
    let dir = std::env::temp_dir().join(format!("automl-fuzz-model-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_err() || std::fs::write(dir.join("model.json"), bytes).is_err() {
        return;
    }
    if let Ok(model) = automl_core::load_model(&dir) {
        let _ = automl_core::api::predict_table(model.as_ref(), &rows());
        let _ = model.feature_importance();
        let _ = model.classes();
    }
});
