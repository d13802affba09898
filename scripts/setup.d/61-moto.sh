#!/usr/bin/env bash
# Scale-out suite, S3 path: moto_server (PyPI `moto[server]`), an S3-compatible server that the
# object-store tests start on a free loopback port (automl-server/tests/s3_fixture). Installed
# into its own small venv, target/moto-venv (AUTOML_MOTO_VENV), so no other Python environment
# is touched. Idempotent: pip runs only when the pinned requirement changed.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${AUTOML_MOTO_VENV:-target/moto-venv}
py=${PYTHON:-python3}
req="moto[server]==5.2.5"
if [ ! -x "$venv/bin/python" ]; then
  "$py" -m venv "$venv"
fi
stamp="$venv/.deps-installed"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$req" ] || [ ! -x "$venv/bin/moto_server" ]; then
  "$venv/bin/python" -m pip --disable-pip-version-check -q install "$req"
  echo "$req" > "$stamp"
fi
"$venv/bin/moto_server" --help >/dev/null
echo "moto_server $("$venv/bin/python" -c 'import moto; print(moto.__version__)') in $venv"
