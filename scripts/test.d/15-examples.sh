#!/usr/bin/env bash
# Every example builds and runs (examples nobody runs rot).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo run --quiet -p automl-example-quickstart -- "classify iris species" | tail -3
