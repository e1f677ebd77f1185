#!/usr/bin/env bash
# The GPU build of CI (the last phase of scripts/test.sh), compile and link only: CI has no GPU.
# Builds Kokkos 3.4.01 with CUDA (sm_80) from Debian's trilinos source (scripts/build-kokkos.sh;
# installed once under BUILD_DIR/kokkos, a rerun reuses it), then grpo's kernels (core, policies,
# solver), their unit tests and the benchmarks with nvcc (no MPI, no HDF5, warnings as errors).
# A kernel that could not run on a device breaks this build (cmake/GrpoKokkos.cmake), and the
# portability probes (tests/portability, `ctest -L portability`) check that it still does.
# Without a CUDA compiler it prints a SKIP line and succeeds.
# Usage: bash scripts/test-cuda.sh [BUILD_DIR (build-cuda)]   (GRPO_NVCC: the nvcc to use,
#        default /usr/local/cuda/bin/nvcc)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${1:-build-cuda}
case "$build" in /*) ;; *) build="$root/$build" ;; esac
nvcc=${GRPO_NVCC:-/usr/local/cuda/bin/nvcc}
if [ ! -x "$nvcc" ]; then
  echo "scripts/test-cuda.sh: SKIP the CUDA build: no CUDA compiler at $nvcc" \
    "(install the CUDA toolkit or set GRPO_NVCC)"
  exit 0
fi
PATH="$(dirname "$nvcc"):$PATH"
export PATH
jobs=$(nproc)
start=$(date +%s)

kokkos="$build/kokkos"
bash scripts/build-kokkos.sh --backend cuda --arch AMPERE80 --prefix "$kokkos" --jobs "$jobs"
kokkos_done=$(date +%s)

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DGRPO_ENABLE_WERROR=ON \
  -DGRPO_ENABLE_MPI=OFF -DGRPO_ENABLE_HDF5=OFF -DGRPO_ENABLE_NATIVE=OFF \
  -DKokkos_ROOT="$kokkos" -DCMAKE_CXX_COMPILER="$kokkos/bin/nvcc_wrapper" \
  -DCMAKE_CXX_FLAGS=-arch=sm_80 -DGRPO_REQUIRE_KOKKOS_DEVICES=Cuda -DGRPO_USE_CCACHE=OFF \
  -DGRPO_ENABLE_HEADER_CHECK=OFF
cmake --build "$build" -j"$jobs"
(cd "$build" && ctest --output-on-failure -L portability)
end=$(date +%s)
echo "scripts/test-cuda.sh: CUDA build passed in $((end - start)) s" \
  "(Kokkos $((kokkos_done - start)) s, grpo $((end - kokkos_done)) s)"
