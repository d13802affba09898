#!/usr/bin/env bash
# Runs every fuzz target for up to RUNS executions or SECONDS seconds, whichever ends first, on
# its corpus (fuzz/corpus/<target>, grown by the runs) plus the committed seeds, and prints one
# line per target: executions, seconds, exec/s, coverage, and whether it crashed.
# Usage: bash fuzz/run_all.sh [RUNS] [SECONDS] [TARGET...]   (defaults: 10000000 3600, all)
# The targets are built first with `cargo fuzz build -s none` (no sanitizer: Rust is memory safe
# outside unsafe blocks, and the sanitizer costs 2-3x in exec/s).
set -uo pipefail
cd "$(dirname "$0")"
RUNS=${1:-10000000}
SECS=${2:-3600}
shift 2 2>/dev/null || shift $#
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(csv_profile json_load ndjson_load parquet_load zip_load model_load prompt_parse server_request)
RUSTC_BOOTSTRAP=1 cargo fuzz build -s none "${TARGETS[@]/#/}" >/dev/null 2>&1 || RUSTC_BOOTSTRAP=1 cargo fuzz build -s none
BIN=target/x86_64-unknown-linux-gnu/release
printf '%-16s %12s %8s %8s %8s %s\n' target executions seconds exec/s cov result
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  seeds=()
  [ -d "seeds/$t" ] && seeds=("seeds/$t")
  log=$(mktemp)
  start=$(date +%s)
  "$BIN/$t" "corpus/$t" "${seeds[@]}" -runs="$RUNS" -max_total_time="$SECS" \
    -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"$log" 2>&1
  rc=$?
  end=$(date +%s)
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
  secs=$((end - start))
  result=ok
  [ $rc -ne 0 ] && result="CRASH (rc $rc, see artifacts/$t/, log $log)"
  printf '%-16s %12s %8s %8s %8s %s\n' "$t" "${execs:-?}" "$secs" "$(( ${execs:-0} / (secs > 0 ? secs : 1) ))" "${cov:-?}" "$result"
  [ $rc -eq 0 ] && rm -f "$log"
done
