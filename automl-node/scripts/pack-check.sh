#!/usr/bin/env bash
# The "done when" check: `npm pack` the package (with the built addon), install the tarball in a
# fresh temporary folder outside the repository, compile scripts/pack-check/usage.ts there with
# tsc --strict against the installed package's types, and run it. Needs the addon built
# (node scripts/build-native.mjs) and npm ci done in automl-node/.
set -euo pipefail
pkg="$(cd "$(dirname "$0")/.." && pwd)"
repo="$(dirname "$pkg")"
work="$(mktemp -d "${TMPDIR:-/tmp}/automl-pack-check-XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$pkg"
tgz="$(npm pack --silent --pack-destination "$work" | tail -n 1)"
echo "packed $tgz ($(du -h "$work/$tgz" | cut -f1))"
cd "$work"
npm init -y >/dev/null
npm install --no-audit --no-fund --silent "./$tgz"
cp "$pkg/scripts/pack-check/usage.ts" .
node "$pkg/node_modules/typescript/bin/tsc" --strict --target es2022 --module commonjs \
  --esModuleInterop --types node --typeRoots "$pkg/node_modules/@types" usage.ts
AUTOML_CATALOG="$repo/datasets" node usage.js
