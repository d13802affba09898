//! libFuzzer target over CSV bytes → load → sample payload → profile.
//! `cargo fuzz run csv_profile -s none -- -max_total_time=60` (see docs/data.md).
#![no_main]

use std::io::Write;

use automl_core::data::{self, Dataset};
use automl_core::data::profile::{TargetHints, profile_dataset};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let path = std::env::temp_dir().join(format!("automl-fuzz-{}.csv", std::process::id()));
    let written = std::fs::File::create(&path).and_then(|mut f| f.write_all(bytes));
    if written.is_err() {
        return;
    }
    if let Ok(Dataset::Table(t)) = data::load(&path) {
        let ds = Dataset::Table(t);
        let _ = data::sample_payload(&ds, None);
        let _ = profile_dataset(&ds, &TargetHints::default(), &automl_core::agents::parser::parse(""));
    }
    let _ = std::fs::remove_file(&path);
});
