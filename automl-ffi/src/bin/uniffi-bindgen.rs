//! uniffi's command line (`uniffi-bindgen generate --library ...`), built from the same uniffi
//! as the library so the generated bindings always match its scaffolding. scripts/uniffi.sh
//! runs it; so does `tests/generate.rs`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
