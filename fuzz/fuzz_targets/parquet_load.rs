//! libFuzzer target over Parquet bytes → load → sample payload → profile: a hostile or corrupt
//! file must give a typed data error, never a panic, a hang or a huge allocation.
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run parquet_load -s none -- -max_total_time=60` (docs/reliability.md).
#![no_main]

use std::io::Write;

use automl_core::data::profile::{TargetHints, profile_dataset};
use automl_core::data::{self, Dataset};
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        // automl-core catches a panic inside the Parquet decoder and answers a typed
        // CorruptFile error (data::load's decoder guard); libfuzzer-sys's hook would abort at
        // the panic itself, before the guard sees it. This hook only prints: a panic that no
        // guard catches still ends the input as a crash (libfuzzer-sys aborts after unwinding).
        std::panic::set_hook(Box::new(|info| eprintln!("panic (caught or not): {info}")));
    },
    |bytes: &[u8]| {
    let path = std::env::temp_dir().join(format!("automl-fuzz-{}.parquet", std::process::id()));
    let written = std::fs::File::create(&path).and_then(|mut f| f.write_all(bytes));
    if written.is_err() {
        return;
    }
    if let Ok(ds) = data::load(&path) {
        let _ = data::sample_payload(&ds, None);
        if matches!(ds, Dataset::Table(_)) {
            let _ = profile_dataset(&ds, &TargetHints::default(), &automl_core::agents::parser::parse(""));
        }
    }
    let _ = std::fs::remove_file(&path);
});
