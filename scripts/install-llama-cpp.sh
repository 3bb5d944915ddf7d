#!/usr/bin/env bash
# Installs llama-cpp-python into the venv from a wheel built for this CPU, without Intel AMX.
#
# Why not a plain `pip install llama-cpp-python`: its -march=native build turns on ggml's AMX
# matrix kernel on CPUs that have AMX (Sapphire Rapids and newer Xeons), and that kernel
# crashes with a segmentation fault on the first decode of the default SmolLM2 Q4_1 model
# (llama-cpp-python 0.3.36, in ggml_backend_amx_mul_mat). pip would also reuse its cached
# native wheel on another CPU. So: build with -march=native minus AMX (measured 1.17x faster
# than a portable AVX2 build on a 10-candidate score call), and keep the wheel in a cache
# folder named after the version and a hash of this CPU's feature flags.
#
# Usage: scripts/install-llama-cpp.sh PYTHON   (the venv's python)
set -euo pipefail
PY="${1:?usage: install-llama-cpp.sh PYTHON}"
VERSION="0.3.36"
CPU_HASH="$( (grep -m1 -E '^(flags|Features)' /proc/cpuinfo 2>/dev/null || uname -m) | md5sum | cut -c1-12)"
case "$(uname -m)" in
  x86_64) NO_AMX="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
          FLAGS=(-DGGML_NATIVE=ON "-DCMAKE_C_FLAGS=$NO_AMX" "-DCMAKE_CXX_FLAGS=$NO_AMX") ;;
  *)      FLAGS=(-DGGML_NATIVE=ON) ;;
esac
CACHE="${SHELFWISE_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shelfwise/wheels}"
CACHE="$CACHE/llama-cpp-python-$VERSION-$(uname -m)-native-noamx-$CPU_HASH"
if ! ls "$CACHE"/llama_cpp_python-"$VERSION"-*.whl >/dev/null 2>&1; then
  echo "building llama-cpp-python $VERSION for this CPU (a few minutes, once per machine)" >&2
  mkdir -p "$CACHE.tmp"
  # scikit-build-core splits CMAKE_ARGS like a shell: quote each -D that holds spaces
  CMAKE_ARGS="$(printf '%q ' "${FLAGS[@]}")" "$PY" -m pip wheel -q --no-deps --no-cache-dir \
    "llama-cpp-python==$VERSION" -w "$CACHE.tmp"
  rm -rf "$CACHE" && mv "$CACHE.tmp" "$CACHE"
fi
"$PY" -m pip install -q --no-deps --force-reinstall "$CACHE"/llama_cpp_python-"$VERSION"-*.whl
