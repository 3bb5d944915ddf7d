#!/usr/bin/env bash
# Installs llama-cpp-python into the venv from a wheel built for a portable CPU baseline.
#
# Why not a plain `pip install llama-cpp-python`: it compiles llama.cpp with -march=native.
# On CPUs with Intel AMX (Sapphire Rapids and newer Xeons) that build's AMX matrix kernel
# crashes with a segmentation fault on the first decode of the default SmolLM2 Q4_1 model
# (llama-cpp-python 0.3.36; seen in ggml_backend_amx_mul_mat). A native wheel is also unsafe
# to reuse from pip's cache on another CPU. So: build once with AVX2/FMA/F16C (every x86-64-v3
# CPU), no AMX, and keep the wheel in a cache folder named after the version and flags.
#
# Usage: scripts/install-llama-cpp.sh PYTHON   (the venv's python)
set -euo pipefail
PY="${1:?usage: install-llama-cpp.sh PYTHON}"
VERSION="0.3.36"
case "$(uname -m)" in
  x86_64) FLAGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
          TAG="x86-64-v3" ;;
  *)      FLAGS="-DGGML_NATIVE=OFF"; TAG="$(uname -m)-generic" ;;
esac
CACHE="${SHELFWISE_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shelfwise/wheels}/llama-cpp-python-$VERSION-$TAG"
if ! ls "$CACHE"/llama_cpp_python-"$VERSION"-*.whl >/dev/null 2>&1; then
  echo "building llama-cpp-python $VERSION for $TAG (a few minutes, once per machine)" >&2
  mkdir -p "$CACHE"
  CMAKE_ARGS="$FLAGS" "$PY" -m pip wheel -q --no-deps --no-cache-dir \
    "llama-cpp-python==$VERSION" -w "$CACHE"
fi
"$PY" -m pip install -q --no-deps --force-reinstall "$CACHE"/llama_cpp_python-"$VERSION"-*.whl
