#!/usr/bin/env bash
# Installs what the test suites need beyond cargo, by running scripts/setup.d/*.sh in name order
# (each installs one thing: a Python venv, npm packages, Chromium...). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS
for f in scripts/setup.d/*.sh; do
  [ -e "$f" ] || continue
  echo "== setup: $f"
  t=$SECONDS
  bash "$f"
  echo "== setup: $f took $((SECONDS - t)) s"
done
echo "== setup took $((SECONDS - t0)) s"
