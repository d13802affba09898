#!/usr/bin/env bash
# GPU figures of docs/image.md ("Measured on an NVIDIA H200"), on a GPU machine WITHOUT cargo
# or the CUDA toolkit. Carry a folder holding: this script, bench-image.xz (`bash
# bench/image/cuda_build.sh`, then `strip` and `xz` target/debug/bench-image), the
# EfficientNet-Lite0 .pth (scripts/setup.d/50-weights.sh) and images/{cats_dogs,mnist_5k}; the
# folder sits in the repository root there (torch_bench.py is read from bench/image). Needs
# PyTorch with CUDA on that machine (python3). Run: bash FOLDER/gpu_carried_run.sh
set -u
cd "$(dirname "$0")"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
nproc
# bench-image reads torch_bench.py from the path it was built in.
built_in=/work/main/bench/image
[ -e "$built_in/torch_bench.py" ] || { mkdir -p "$built_in" && ln -sf "$PWD/../bench/image/torch_bench.py" "$built_in/"; }
[ -x bench-image ] || { xz -d bench-image.xz && chmod +x bench-image; }
LIBDIRS=$(find /opt /usr/local /usr/lib/x86_64-linux-gnu /usr/lib64 -maxdepth 10 \( -name 'libcublas.so.13' -o -name 'libcublasLt.so.13' -o -name 'libcurand.so.10' -o -name 'libnvrtc.so.13' -o -name 'libcudart.so.13' -o -name 'libcuda.so.1' \) 2>/dev/null | xargs -r -n1 dirname | sort -u | tr '\n' ':')
export LD_LIBRARY_PATH=${LIBDIRS}${LD_LIBRARY_PATH:-}
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
ldd ./bench-image | grep -E "not found|cuda|cublas|curand|nvrtc"
PY=$(command -v python3)
export BENCH_TORCH_DEVICE=cuda AUTOML_IMAGE_PRETRAINED=$PWD/efficientnet-lite0-57934424.pth HF_HUB_OFFLINE=1 HF_HUB_CACHE=/tmp/empty-hf
echo "== throughput (images/s, 50 steps, GPU both sides)"
for spec in \
  '{"arch":"small_cnn","width":12,"in_channels":1,"side":28,"n_classes":10,"flat_head":true} 64' \
  '{"arch":"small_cnn","width":32,"in_channels":1,"side":28,"n_classes":10} 128' \
  '{"arch":"resnet","width":32,"in_channels":3,"side":64,"n_classes":2} 64' \
  '{"arch":"small_cnn","width":32,"in_channels":3,"side":64,"n_classes":2} 64'; do
  set -- $spec
  echo "-- $1 batch $2"
  timeout 90 ./bench-image --python "$PY" --steps 50 --only "$1" "$2" 2>&1 | tail -3
done
echo "== full runs, 60 s budget each"
timeout 300 ./bench-image --python "$PY" --data-root images --sets cats_dogs,mnist_5k --budget 60 --out "${OUT:-.}/bench.json" 2>&1 | tee "${OUT:-.}/full.log" | tail -60
