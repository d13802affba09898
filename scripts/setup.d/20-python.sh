#!/usr/bin/env bash
# Python binding: a venv at target/py-venv with maturin and the test tools, then the automl
# wheel built from automl-py (dev profile, so it reuses the cargo cache of `cargo test`) and
# installed into it. Idempotent: pip skips what is there; the wheel is rebuilt when the Rust
# sources changed (cargo decides) and reinstalled.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${AUTOML_PY_VENV:-target/py-venv}
py=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
  "$py" -m venv "$venv"
fi
pip="$venv/bin/python -m pip --disable-pip-version-check -q"
stamp="$venv/.deps-installed"
deps="maturin>=1.9,<2 pytest nbclient nbformat ipykernel pandas pyarrow polars scikit-learn matplotlib mypy"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$deps" ]; then
  $pip install $deps
  echo "$deps" > "$stamp"
fi
# The wheel: dev profile (the workspace's dev profile optimises dependencies at opt-level 2).
rm -rf target/wheels/automl-*.whl
"$venv/bin/maturin" build --profile dev -m automl-py/Cargo.toml --out target/wheels --quiet 2>&1 | grep -v "^\s*$" | tail -n 5
$pip install --force-reinstall --no-deps target/wheels/automl-*.whl
"$venv/bin/python" -c "import automl; print('automl', automl.__version__, 'installed in', '$venv')"
