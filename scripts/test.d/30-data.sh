#!/usr/bin/env bash
# Data layer: a longer seeded fuzz run of CSV -> profile (no panics), then `automl profile` on
# every bundled data set (exit 0, JSON payload with the target) and on a bad file (exit 2).
set -euo pipefail
cd "$(dirname "$0")/../.."
AUTOML_FUZZ_CASES=${AUTOML_FUZZ_CASES:-3000} cargo test --quiet --locked -p automl-core --test data_fuzz -- --nocapture
cargo build --quiet --locked -p automl-server --bin automl
bin=target/debug/automl
for f in datasets/tabular/*.csv datasets/text/*.csv datasets/images/*/; do
  "$bin" profile "$f" --json > /tmp/automl-profile.$$.json
  python3 -c "import json,sys; p=json.load(open(sys.argv[1])); assert p['target'] and p['n_rows']>0, p; print(sys.argv[2], p['n_rows'], 'rows, target', p['target'])" /tmp/automl-profile.$$.json "$f"
done
rm -f /tmp/automl-profile.$$.json
bad=$(mktemp --suffix=.csv)
printf 'a,b\n1,2\n3,4,5\n' > "$bad"
set +e
"$bin" profile "$bad" 2>/dev/null
rc=$?
set -e
rm -f "$bad"
[ "$rc" = 2 ] || { echo "expected exit 2 on a ragged file, got $rc"; exit 1; }
echo "data layer checks passed"
