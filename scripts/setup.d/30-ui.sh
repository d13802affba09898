#!/usr/bin/env bash
# The browser UI's toolchain: Debian's Chromium (for the Playwright end-to-end test) and the
# npm packages of ui/ (from package-lock.json). Idempotent; fast when both are there.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing chromium (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
chromium --version
cd ui
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
