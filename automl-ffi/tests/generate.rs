//! The uniffi-bindgen binary generates Kotlin, Swift and Python bindings from the built
//! library, and each has the binding API (`Conductor.start`, the async `RunHandle.nextEvent`,
//! `wait`, `load`, the error enum by category). The generated Python is run under pytest by
//! scripts/test.d/50-uniffi.sh; this test keeps `cargo test` honest about all three.

use std::path::{Path, PathBuf};
use std::process::Command;

fn library() -> PathBuf {
    let bindgen = PathBuf::from(env!("CARGO_BIN_EXE_uniffi-bindgen"));
    let dir = bindgen.parent().expect("the binary has a folder");
    let name = if cfg!(target_os = "macos") {
        "libautoml_ffi.dylib"
    } else if cfg!(windows) {
        "automl_ffi.dll"
    } else {
        "libautoml_ffi.so"
    };
    // `cargo test` leaves the cdylib in deps/; `cargo build` also copies it up.
    let up = dir.join(name);
    if up.is_file() {
        up
    } else {
        dir.join("deps").join(name)
    }
}

fn generate(lang: &str, out: &Path) -> String {
    let lib = library();
    assert!(lib.is_file(), "cargo did not build {}", lib.display());
    let status = Command::new(env!("CARGO_BIN_EXE_uniffi-bindgen"))
        .args(["generate", "--library"])
        .arg(&lib)
        .args(["--language", lang, "--no-format", "--out-dir"])
        .arg(out)
        .status()
        .expect("uniffi-bindgen runs");
    assert!(
        status.success(),
        "uniffi-bindgen generate {lang} failed: {status}"
    );
    let mut text = String::new();
    for entry in walk(out) {
        if let Ok(t) = std::fs::read_to_string(&entry) {
            text.push_str(&t);
        }
    }
    assert!(!text.is_empty(), "{lang}: nothing generated");
    text
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).expect("out dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn assert_has(lang: &str, text: &str, needles: &[&str]) {
    for n in needles {
        assert!(text.contains(n), "{lang} bindings lack {n:?}");
    }
}

#[test]
fn bindings_for_kotlin_swift_and_python_have_the_api() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let py = generate("python", &tmp.path().join("python"));
    assert_has(
        "python",
        &py,
        &[
            "class Conductor",
            "def start(self, request: RunRequest)",
            "async def next_event(self, )",
            "async def wait(self, )",
            "def load(run_dir: str)",
            "async def parse(prompt: str)",
            "def shutdown()",
            "class RunRequest",
            "class EventEnvelope",
        ],
    );
    let kt = generate("kotlin", &tmp.path().join("kotlin"));
    assert_has(
        "kotlin",
        &kt,
        &[
            "suspend fun `nextEvent`()",
            "suspend fun `wait`()",
            "fun `start`(`request`: RunRequest)",
            "sealed class AutomlException",
            "class DatasetNotFound(",
        ],
    );
    let swift = generate("swift", &tmp.path().join("swift"));
    assert_has(
        "swift",
        &swift,
        &[
            "func nextEvent() async throws",
            "func wait() async throws",
            "enum AutomlError: Swift.Error",
            "case InvalidOption(",
        ],
    );
}
