#!/usr/bin/env bash
# GPU check for the image trainer (needs an NVIDIA GPU and the CUDA toolkit; not run in CI).
# Builds automl-core with `cuda` and runs the image trainer's tests, whose from-scratch nets
# then train on the first GPU (`Device::cuda_if_available(0)`). The pretrained backbone's trunk
# runs on the CPU (its depthwise op has no CUDA kernel yet: decision record 0072).
# Run from the repository root: bash bench/image/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
bash scripts/setup.d/50-weights.sh || echo "weights not installed: the transfer test will skip"
timeout 540 cargo test -p automl-core --features cuda --lib -- train::image --nocapture 2>&1 | tail -40
