#!/usr/bin/env bash
# Runs every test of automl: the cargo workspace, then each suite in scripts/test.d/ in name
# order (Python, Node, browser...). This is the command README.md gives and .ci/run calls.
# Prerequisites (venvs, npm packages, Chromium) are installed by scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# Hermetic: the Hugging Face Hub is searched by default, so every suite (Python, Node, browser)
# runs with it skipped; the Hub's own tests use fake Hubs on 127.0.0.1 with explicit settings.
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}
# The machine's own Hugging Face cache is not searched either: a data set cached there (say, one
# about house prices) changes which data a prompt finds, and a test that expects "no data set
# matches" then trains on it. Tests of the cache build their own and name it explicitly.
hf_cache=$(mktemp -d)
trap 'rm -rf "$hf_cache"' EXIT
export HF_HUB_CACHE="$hf_cache"
unset HUGGINGFACE_HUB_CACHE
t0=$SECONDS
echo "== cargo test --workspace"
cargo test --workspace --locked
echo "== cargo test --workspace took $((SECONDS - t0)) s"
for f in scripts/test.d/*.sh; do
  [ -e "$f" ] || continue
  echo "== $f"
  t=$SECONDS
  bash "$f"
  echo "== $f took $((SECONDS - t)) s"
done
echo "== all test suites passed in $((SECONDS - t0)) s"
