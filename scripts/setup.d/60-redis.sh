#!/usr/bin/env bash
# Scale-out suite: a real redis-server (Debian package; the tests start their own instance on a
# free loopback port, so the service itself is never started here). Idempotent.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
  redis-server --version
  exit 0
fi
sudo_=""
if [ "$(id -u)" != 0 ]; then sudo_="sudo"; fi
$sudo_ apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends redis-server >/dev/null
# The package may start a system instance; the tests do not use it.
redis-server --version
