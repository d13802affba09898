#!/usr/bin/env bash
# The browser UI: type-check and build it, run its unit tests (vitest), then drive the real
# server and the built UI in Debian's Chromium (playwright-core): the iris run end to end, and a
# socket killed mid-run. Screenshots land in ui/e2e/artifacts/ (the CI artifact).
set -euo pipefail
cd "$(dirname "$0")/../.."
# The same cargo invocation as scripts/test.sh, so the binary it built is reused as is.
cargo test --workspace --locked --no-run --quiet
bin="$(pwd)/${CARGO_TARGET_DIR:-target}/debug/automl"
cd ui
npm run --silent build
npx vitest run
AUTOML_BIN="$bin" node --test e2e/
ls -l e2e/artifacts/*.png
