#!/usr/bin/env bash
# The Python package: makes sure the installed wheel matches the sources (the setup fragment is
# a quick no-op when nothing changed), checks the type stubs against the built module
# (mypy.stubtest) and the package's own annotations (mypy), runs pytest (API, estimators with
# cross_val_score, Ctrl-C, notebooks executed by nbclient), then prints the per-event cost of
# crossing into Python.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${AUTOML_PY_VENV:-target/py-venv}
bash scripts/setup.d/20-python.sh
py="$venv/bin/python"
echo "== stubtest automl._automl"
"$py" -m mypy.stubtest automl._automl --mypy-config-file automl-py/mypy.ini
echo "== mypy automl"
"$py" -m mypy --config-file automl-py/mypy.ini -p automl
echo "== pytest automl-py/tests"
"$py" -m pytest -q -p no:cacheprovider automl-py/tests
echo "== events/s crossing into Python (short form; the full one: no arguments)"
"$py" automl-py/bench/events_overhead.py --runs 1 --repeat 20 --budget 3
