#!/usr/bin/env bash
# The Node addon: the npm packages of automl-node and examples/node-backend (npm ci from their
# lockfiles, only when missing or stale), the native addon built with the dev profile into the
# workspace's target/debug (automl-node/scripts/build-native.mjs: plain `cargo build -p
# automl-node --profile dev`, so it shares the dependencies `cargo test --workspace` builds;
# `napi build` would rebuild them all under target/<triple>/), and the TypeScript layer (dist/).
# Idempotent: cargo and tsc redo only what changed.
set -euo pipefail
cd "$(dirname "$0")/../.."
node --version
for d in automl-node examples/node-backend; do
  if [ ! -d "$d/node_modules" ] || [ "$d/package-lock.json" -nt "$d/node_modules/.package-lock.json" ]; then
    (cd "$d" && npm ci --no-audit --no-fund)
  fi
done
cd automl-node
node scripts/build-native.mjs
npm run --silent build:ts
