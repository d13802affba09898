#!/usr/bin/env bash
# Generates the uniffi bindings of automl-ffi: Kotlin, Swift and Python, into
# target/uniffi/{kotlin,swift,python} (not committed). The Python and Kotlin folders get a copy
# of the library beside the bindings, so `sys.path`/`jna.library.path` pointing there is enough.
#
# The library and the uniffi-bindgen binary come from the same cargo invocation as CI's
# `cargo test --workspace --locked` (same profile, same feature set), so after that command this
# one compiles nothing; run alone, it builds what the test build would. Usage:
#   bash scripts/uniffi.sh            # all three languages
#   bash scripts/uniffi.sh python     # some of them
set -euo pipefail
cd "$(dirname "$0")/.."
langs=("$@")
[ ${#langs[@]} -gt 0 ] || langs=(kotlin swift python)
target=${CARGO_TARGET_DIR:-target}
start=$(date +%s)
cargo test --workspace --locked --no-run --quiet 2>&1 | grep -v "^\s*Executable\|^\s*$" || true
case "$(uname -s)" in
  Darwin) lib="$target/debug/libautoml_ffi.dylib" ;;
  MINGW*|MSYS*|CYGWIN*) lib="$target/debug/automl_ffi.dll" ;;
  *) lib="$target/debug/libautoml_ffi.so" ;;
esac
# `cargo test` leaves the cdylib in deps/ (only `cargo build` copies it up).
[ -f "$lib" ] || lib="$(dirname "$lib")/deps/$(basename "$lib")"
bindgen="$target/debug/uniffi-bindgen"
for f in "$lib" "$bindgen"; do
  if [ ! -f "$f" ]; then
    echo "scripts/uniffi.sh: $f was not built by cargo test --workspace --no-run" >&2
    exit 1
  fi
done
for lang in "${langs[@]}"; do
  out="$target/uniffi/$lang"
  rm -rf "$out"
  mkdir -p "$out"
  "$bindgen" generate --library "$lib" --language "$lang" --out-dir "$out" --no-format
  case "$lang" in
    python|kotlin) cp "$lib" "$out/" ;;
  esac
  echo "uniffi: $lang -> $out ($(find "$out" -type f | wc -l) files)"
done
echo "uniffi: done in $(( $(date +%s) - start )) s"
