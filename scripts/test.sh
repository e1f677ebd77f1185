#!/usr/bin/env bash
# The test command: installs missing Debian packages, builds with warnings as errors, runs the
# whole suite (unit, MPI at 1/2/3 ranks, I/O, end-to-end, studies on the local executor and on
# a single-node Slurm cluster it starts, the bad-input corpus, science, install), builds and
# tests the kernels-only variant (no MPI, no HDF5), reruns the suite under ASan + UBSan (with
# LeakSanitizer), fuzzes the readers and parsers, checks formatting and clang-tidy, and compiles
# the kernels for CUDA against a Kokkos built with nvcc (scripts/test-cuda.sh; skipped without
# nvcc).
# Usage: bash scripts/test.sh        (GRPO_BUILD_DIR overrides the build directory "build")
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc)

bash scripts/setup.sh

# ccache (CMake's compiler launcher, GRPO_USE_CCACHE): with the paths taken relative to the
# clone, a clean clone in another directory reuses the objects of earlier runs on this machine.
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1

build=${GRPO_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DGRPO_ENABLE_WERROR=ON
cmake --build "$build" -j"$jobs"
(cd "$build" && ctest --output-on-failure -j"$jobs")

# The kernels (core, policies, solver) alone: no MPI, no HDF5, only Kokkos. This variant runs
# the fused step through its device kernel (one team per chunk), so the unit tests check it here.
cmake -S . -B "$build-kernels" -DCMAKE_BUILD_TYPE=Release -DGRPO_ENABLE_WERROR=ON \
  -DGRPO_ENABLE_MPI=OFF -DGRPO_ENABLE_HDF5=OFF -DGRPO_FUSED_TEAM_ON_HOST=ON
cmake --build "$build-kernels" -j"$jobs"
(cd "$build-kernels" && ctest --output-on-failure -j"$jobs" -L unit)

# AddressSanitizer + UndefinedBehaviorSanitizer: everything but the install test, the analysis
# tests (pure Python on traces written with h5py: no grpo binary to sanitize; they ran above) and
# the Slurm end-to-end test (it ran above; under the sanitizers it spent 169 s mostly waiting on
# the cluster, and the executor's code it runs is the local executor's plus sbatch calls).
# Built for the baseline x86-64 (no -march=native), so the suite also runs the portable paths of
# the host kernels that the Release build replaces with AVX-512 code.
cmake -S . -B "$build-asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGRPO_ENABLE_WERROR=ON \
  -DGRPO_SANITIZE="address;undefined" -DGRPO_ENABLE_NATIVE=OFF -DGRPO_ENABLE_HEADER_CHECK=OFF \
  -DGRPO_ENABLE_BENCH=OFF
cmake --build "$build-asan" -j"$jobs"
(cd "$build-asan" && ctest --output-on-failure -j"$jobs" -LE "install|analysis|slurm")

# clang-tidy 14 with the repository's .clang-tidy (every exclusion justified there), warnings as
# errors, over the Release build's compile_commands.json. It runs in the background while the
# fuzzers run: each libFuzzer campaign below keeps only one of the cores busy.
tidy_log="$build/clang-tidy.log"
bash scripts/tidy.sh "$build" > "$tidy_log" 2>&1 &
tidy_pid=$!
trap 'kill "$tidy_pid" 2> /dev/null || true' EXIT

# libFuzzer (clang, ASan + UBSan): the dataset reader, the config checks, the study parser, the
# GlobalOpinionQA converter and the pairs readers, 30 s each after replaying the regression
# inputs (CI's budget; GRPO_FUZZ_SECONDS=600 for a longer campaign, fuzz_pairs at most 30 s).
bash scripts/fuzz.sh "${GRPO_FUZZ_SECONDS:-30}"

# Formatting (clang-format 14, the repository's .clang-format).
if git -C "$root" rev-parse --git-dir > /dev/null 2>&1; then
  mapfile -t sources < <(git -C "$root" ls-files '*.cpp' '*.hpp')
else
  mapfile -t sources < <(find core policies solver io jobs apps fuzz tests bench -name '*.[ch]pp' 2>/dev/null)
fi
clang-format --dry-run -Werror "${sources[@]}"

if ! wait "$tidy_pid"; then
  cat "$tidy_log"
  echo "scripts/test.sh: clang-tidy found warnings (above; log: $tidy_log)" >&2
  exit 1
fi
trap - EXIT
echo "scripts/test.sh: clang-tidy passed (log: $tidy_log)"

# The GPU build, compile and link only (CI has no GPU): Kokkos with CUDA, then the kernels, their
# unit tests and the benchmarks with nvcc; the portability probes must fail to compile. Prints
# a SKIP line where there is no nvcc.
bash scripts/test-cuda.sh "$build-cuda"
echo "scripts/test.sh: all tests passed"
