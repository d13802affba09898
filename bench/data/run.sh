#!/usr/bin/env bash
# Benchmark: load + profile a 1 M-row CSV (adult.csv rows repeated) with automl-core, pandas
# (read_csv + describe) and polars (read_csv + describe); prints a table of rows/s and peak RSS.
#
#   bash bench/data/run.sh [ROWS]        (default 1000000; REPEAT=3 runs each tool 3 times, best kept)
#
# Creates bench/.venv with pandas and polars from PyPI on first use.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS="${1:-1000000}"
REPEAT="${REPEAT:-3}"
OUT=bench/data/out
mkdir -p "$OUT"
CSV="$OUT/adult_${ROWS}.csv"
[ -f "$CSV" ] || python3 bench/data/gen.py "$CSV" "$ROWS"
if [ ! -x bench/.venv/bin/python ]; then
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install -q pandas polars
fi
cargo build --release --locked -p bench-data -q
BIN=target/release/bench-data
: > "$OUT/results.jsonl"
for tool in automl pandas polars; do
  for _ in $(seq "$REPEAT"); do
    if [ "$tool" = automl ]; then "$BIN" "$CSV"; else bench/.venv/bin/python bench/data/peers.py "$tool" "$CSV"; fi
  done >> "$OUT/results.jsonl"
done
python3 - "$OUT/results.jsonl" "$CSV" <<'PY'
import json, sys, os
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
best = {}
for r in runs:
    if r["tool"] not in best or r["total_s"] < best[r["tool"]]["total_s"]:
        best[r["tool"]] = r
size = os.path.getsize(sys.argv[2]) / 2**20
print(f"file: {sys.argv[2]} ({size:.0f} MiB, {best['automl']['rows']} rows); best of {len(runs)//len(best)} runs; nproc={os.cpu_count()}")
print("| tool | load s | profile s | total s | rows/s | peak RSS MiB |")
print("|---|---|---|---|---|---|")
for t in ["automl", "polars", "pandas"]:
    r = best[t]
    print(f"| {t} | {r['load_s']:.2f} | {r['profile_s']:.2f} | {r['total_s']:.2f} | {r['rows_per_s']:,.0f} | {r['peak_rss_mib']:.0f} |")
a = best["automl"]["rows_per_s"]
print(f"automl / polars = {a / best['polars']['rows_per_s']:.2f}x (goal >= 0.9x); automl / pandas = {a / best['pandas']['rows_per_s']:.2f}x (goal >= 3x)")
PY
