#!/usr/bin/env bash
# The README's main job, checked with the shared contract checker: the eight stages complete in
# order with seq 1..N, and the held-out accuracy on iris is at least 0.9.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cargo run --quiet -p automl-server --bin automl -- run "classify iris species" --time-budget 10s --out "$out/iris" --json > "$out/stream.jsonl"
checker=../shared/checks/events.py
if [ -f "$checker" ]; then
  python3 "$checker" "$out/iris/events.jsonl" stages
  python3 "$checker" "$out/stream.jsonl" stages
  acc=$(python3 "$checker" "$out/iris/events.jsonl" metric accuracy)
  python3 -c "import sys; a=float('$acc'); print('iris test accuracy', a); sys.exit(0 if a >= 0.9 else 1)"
else
  echo "shared/checks/events.py not found; skipped the shared contract check"
fi
