#!/usr/bin/env bash
# Builds `trainer` with candle's CUDA backend (release, stripped) on a machine with neither a
# CUDA toolkit nor a GPU, from NVIDIA's CUDA 13 wheels on PyPI. The CPU build is untouched: this
# one goes to target/cuda/. Result: target/cuda/trainer-cuda.
#
#   scripts/cuda-build.sh                      # sm_90 (H100/H200); CUDA_COMPUTE_CAP=80 for A100
#
# On a workstation with a system CUDA toolkit (nvcc on PATH, driver installed) none of this is
# needed:  cargo build --release -p trainer --features cuda
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${CUDA_VENV:-$PWD/target/cuda-venv}
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
export CARGO_TARGET_DIR=$PWD/target/cuda

echo "== CUDA 13 toolchain from PyPI into $venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q nvidia-cuda-nvcc==13.0.88 nvidia-cuda-runtime==13.0.96 \
  nvidia-cublas==13.0.2.14 nvidia-curand==10.4.0.35 nvidia-cuda-nvrtc==13.0.88 \
  nvidia-cuda-cccl==13.0.85 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88
cuda=$("$venv/bin/python" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')
export PATH=$cuda/bin:$PATH CUDA_ROOT=$cuda CUDA_PATH=$cuda CUDA_HOME=$cuda
nvcc --version | tail -2

# The wheels ship only versioned libraries; the linker looks for the unversioned names.
for lib in cudart cublas cublasLt nvrtc; do ln -sf "lib$lib.so.13" "$cuda/lib/lib$lib.so"; done
ln -sf libcurand.so.10 "$cuda/lib/libcurand.so"

# libcuda comes with the GPU driver, which this machine lacks: link against a stub exporting the
# driver functions cudarc binds (SONAME libcuda.so.1, so the real driver is loaded at run time).
cargo fetch -q
cudarc=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-"$(grep -A1 'name = "cudarc"' Cargo.lock | sed -n 's/version = "\(.*\)"/\1/p')" | head -1)
stubs=$CARGO_TARGET_DIR/stubs
mkdir -p "$stubs"
grep -ohE 'pub unsafe fn cu[A-Za-z0-9_]+' "$cudarc/src/driver/sys/mod.rs" | awk '{print $4}' | sort -u |
  sed 's/.*/int &(void) { return 34; } \/\/ CUDA_ERROR_STUB_LIBRARY/' > "$stubs/libcuda.c"
gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$stubs/libcuda.so" "$stubs/libcuda.c"

echo "== cargo build --release -p trainer --features cuda (sm_$CUDA_COMPUTE_CAP; build time: BENCHMARKS.md)"
RUSTFLAGS="-L native=$stubs -L native=$cuda/lib" cargo build --release -p trainer --features cuda
strip -o "$CARGO_TARGET_DIR/trainer-cuda" "$CARGO_TARGET_DIR/release/trainer"
ls -l "$CARGO_TARGET_DIR/trainer-cuda"
echo "needs at run time: $(ldd "$CARGO_TARGET_DIR/trainer-cuda" | grep -oE 'lib(cuda|cublas|cublasLt|curand|cudart|nvrtc)\.so[.0-9]*' | sort -u | tr '\n' ' ')"
