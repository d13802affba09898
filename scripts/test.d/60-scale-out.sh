#!/usr/bin/env bash
# Scale-out (docs/scale-out.md): the Redis Streams event bus and the two-server scenario
# against a real redis-server and, for the object store, a real S3-compatible moto_server,
# both started by the tests on free loopback ports. These tests are #[ignore]d in the plain
# `cargo test` (which needs neither) and run here with --ignored, where a missing redis-server
# or moto_server FAILS them: install them with scripts/setup.d/60-redis.sh and 61-moto.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v "${REDIS_SERVER:-redis-server}" >/dev/null 2>&1; then
  echo "redis-server not found: run scripts/setup.d/60-redis.sh" >&2
  exit 1
fi
moto="${MOTO_SERVER:-${AUTOML_MOTO_VENV:-target/moto-venv}/bin/moto_server}"
if [ ! -x "$moto" ]; then
  echo "moto_server not found at $moto: run scripts/setup.d/61-moto.sh" >&2
  exit 1
fi
# The same package selection as `cargo test --workspace --locked` (scripts/test.sh), so the
# features unify the same way and nothing is rebuilt in another configuration; only the
# scale_redis test target (in automl-server) runs.
cargo test --workspace --locked --test scale_redis -- --ignored
