#!/usr/bin/env bash
# Creates bench/image/.venv with PyTorch from PyPI for the image benchmark (idempotent).
# Run: bash bench/image/setup.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ ! -x "$here/.venv/bin/python" ]; then
    python3 -m venv "$here/.venv"
fi
if ! "$here/.venv/bin/python" -c "import torch" 2>/dev/null; then
    "$here/.venv/bin/pip" install --no-cache-dir torch
fi
"$here/.venv/bin/python" -c "import torch; print('torch', torch.__version__, 'cuda build' if torch.version.cuda else 'cpu build')"
