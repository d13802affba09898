#!/usr/bin/env bash
# The agents (issue 5): `automl parse --json` prints every Intent field, offline, without
# waiting on the network; and the embedded parser's accuracy on its corpus is printed (the
# cargo test asserts the floors).
set -euo pipefail
cd "$(dirname "$0")/../.."
brief=$(mktemp)
trap 'rm -f "$brief"' EXIT
cat > "$brief" <<'TXT'
Our support desk receives thousands of emails a day.

Route each ticket to the right team (billing, technical, account, shipping) based on the
subject and body of the email. Optimise macro F1.
TXT
start=$(date +%s)
json=$(env -u AUTOML_LLM_BASE_URL -u AUTOML_HUB -u HF_ENDPOINT \
  cargo run --quiet -p automl-server --bin automl -- parse --file "$brief" --json)
took=$(( $(date +%s) - start ))
python3 - "$json" <<'PY'
import json, sys
i = json.loads(sys.argv[1])
need = ["modality", "objective", "task_type", "supported", "reason", "target", "dataset_hint",
        "keywords", "constraints", "parser", "confidence"]
missing = [k for k in need if k not in i]
assert not missing, f"missing fields {missing}: {i}"
assert i["modality"] == "text" and i["objective"] == "classification", i
assert i["parser"] == "embedded", i
assert i["constraints"]["metric"] == "macro_f1", i
print("automl parse --file: ok", i["task_type"], i["confidence"])
PY
echo "automl parse took ${took}s (including cargo's check)"
cargo test --quiet -p automl-core --test parser_corpus -- --nocapture 2>&1 | grep -E "accuracy|n=" || true
