#!/usr/bin/env bash
# The uniffi bindings (automl-ffi): generates Kotlin, Swift and Python into target/uniffi/
# (scripts/uniffi.sh; after `cargo test --workspace` it compiles nothing), then runs the
# generated Python under pytest in the Python venv: iris end to end, gapless events, cancel,
# typed errors, and 20 interpreters exiting mid-run without a crash. Kotlin and Swift are
# generated only (docs/bindings.md says why).
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${AUTOML_PY_VENV:-target/py-venv}
if [ ! -x "$venv/bin/python" ]; then
  bash scripts/setup.d/20-python.sh
fi
bash scripts/uniffi.sh
echo "== pytest automl-ffi/tests/python"
"$venv/bin/python" -m pytest -q -p no:cacheprovider automl-ffi/tests/python
