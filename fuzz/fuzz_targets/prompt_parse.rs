//! libFuzzer target over request text → sections → embedded parser → explanation: any text
//! (long briefs, odd Unicode, markdown) gives an `Intent`, never a panic or a hang.
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run prompt_parse -s none -- -max_total_time=60`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    let intent = automl_core::agents::parser::parse(&text);
    let _ = serde_json::to_string(&intent);
    let _ = automl_core::agents::parser::explain(&text);
});
