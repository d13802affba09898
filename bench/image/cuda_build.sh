#!/usr/bin/env bash
# Builds bench-image (or any binary: pass cargo arguments) with `--features cuda` on a machine
# WITHOUT the CUDA toolkit or a GPU, to carry the binary to a GPU machine:
# - nvcc, its headers and libcudart come from NVIDIA's PyPI wheels (CUDA 13.0);
# - candle's kernels are compiled for CUDA_COMPUTE_CAP (default 90: H100/H200);
# - the driver and the math libraries (libcuda, libcublas, libcurand, libnvrtc) are linked
#   against stubs carrying only the sonames and symbol names; the real ones are loaded on the
#   GPU machine (set LD_LIBRARY_PATH to e.g. PyTorch's nvidia/*/lib folders there).
# Usage: bash bench/image/cuda_build.sh [cargo build arguments]
# (default: -p automl-bench-image --features cuda --bins). About 15 min of 2 cores the first
# time: candle's quantized kernels take most of it.
set -euo pipefail
cd "$(dirname "$0")/../.."
CUDA_HOME=${CUDA_HOME:-$HOME/.cache/automl/cuda13}
if [ ! -x "$CUDA_HOME/nvidia/cu13/bin/nvcc" ]; then
  mkdir -p "$CUDA_HOME/wheels"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_27_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_12_x86_64 --platform manylinux2010_x86_64 \
    "nvidia-cuda-nvcc==13.0.*" "nvidia-cuda-runtime==13.0.*" "nvidia-cuda-crt==13.0.*" \
    "nvidia-cuda-cccl==13.0.*" "nvidia-nvvm==13.0.*" -d "$CUDA_HOME/wheels"
  for w in "$CUDA_HOME"/wheels/*.whl; do python3 -m zipfile -e "$w" "$CUDA_HOME"; done
  chmod +x "$CUDA_HOME"/nvidia/cu13/bin/* "$CUDA_HOME"/nvidia/cu13/nvvm/bin/* 2>/dev/null || true
fi
ROOT=$CUDA_HOME/nvidia/cu13
export CUDA_ROOT=$ROOT CUDA_PATH=$ROOT CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
export PATH=$ROOT/bin:$PATH
ln -sf libcudart.so.13 "$ROOT/lib/libcudart.so"
args=("$@"); [ ${#args[@]} -gt 0 ] || args=(-p automl-bench-image --features cuda --bins)
# First pass: compiles everything; the link needs the stubs, made from the symbols cudarc and
# candle import.
stub() { # lib soname regex [exclude]
  local syms
  syms=$(nm -u --format=just-symbols target/debug/deps/libcudarc-*.rlib target/debug/deps/libcandle_core-*.rlib 2>/dev/null \
    | grep -E "$3" | { if [ -n "${4:-}" ]; then grep -vE "$4"; else cat; fi; } | sort -u || true)
  # Before the first pass no rlib exists yet: an empty stub still carries the soname.
  : > "/tmp/automl-stub-$1.c"
  for s in $syms; do printf 'void %s(void){}\n' "$s" >> "/tmp/automl-stub-$1.c"; done
  gcc -shared -fPIC -o "$ROOT/lib/lib$1.so" "/tmp/automl-stub-$1.c" -Wl,-soname,"$2"
}
make_stubs() {
  stub cuda libcuda.so.1 '^cu[A-Z]'
  stub cublas libcublas.so.13 '^cublas' '^cublasLt'
  stub cublasLt libcublasLt.so.13 '^cublasLt'
  stub curand libcurand.so.10 '^curand'
  stub nvrtc libnvrtc.so.13 '^nvrtc'
}
make_stubs
cargo build "${args[@]}" || { make_stubs; cargo build "${args[@]}"; }
