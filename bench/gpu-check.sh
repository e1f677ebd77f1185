#!/usr/bin/env bash
# The device check (bench/README.md, "On a GPU: gpu-check.sh"): from the working tree alone,
# builds Kokkos 3.4.01 with CUDA for the GPU it finds, GoogleTest, Google Benchmark and grpo's
# kernels (no MPI, no HDF5), runs the kernel unit tests on the GPU, then the log-linear and MLP
# benchmarks, and prints the achieved bandwidth of the GR-DPO step against the device-to-device
# copy bandwidth measured in the same program. Budget: under 8 minutes on the GPU machine (16
# cores); each phase has its own time limit and the whole check stops at 450 s
# (GRPO_GPU_CHECK_SECONDS), so a slow phase still leaves a report.
#
# The GPU machine has nvcc, CMake, a host compiler and python3, but no MPI, HDF5, Boost,
# GoogleTest, Google Benchmark, Kokkos or network. Prepare the sources once, here (needs the
# network and Debian's archive):
#   bash bench/gpu-check.sh --prepare
# which fills third_party/ (ignored by git, about 13 MB): kokkos-3.4.01 (patched, from
# scripts/build-kokkos.sh), googletest (Debian's /usr/src/googletest) and benchmark (Debian's
# source package of Google Benchmark 1.7.1). Then one call of the device tool:
#   command: bash bench/gpu-check.sh        timeout_s: 480 (the check stops itself at 450 s)
#   carry:   ["third_party/kokkos-3.4.01", "third_party/googletest", "third_party/benchmark"]
# Results go to $OUT (the device tool's) or else to WORK/out: gpu-check.log, summary.txt,
# ctest.log, bench.json, bench_mlp.json, build.log.
#
# Without a GPU (no nvidia-smi) the same steps run with an OpenMP Kokkos: the rehearsal.
# Usage: bash bench/gpu-check.sh [--prepare] [--backend cuda|openmp] [--build-only] [--work DIR]
#   --backend     force the Kokkos backend (default: cuda when nvidia-smi sees a GPU)
#   --build-only  stop after the build (with --backend cuda: rehearses the GPU build, sm_90,
#                 on a machine without a GPU)
#   --work        build directory (default build-gpu-check in the repository)
set -euo pipefail
export LC_ALL=C # the same glob and sort order on every machine
cd "$(dirname "$0")/.."
root=$(pwd)
t_start=$(date +%s)

prepare=0
build_only=0
backend=""
work="$root/build-gpu-check"
while [ $# -gt 0 ]; do
  case "$1" in
    --prepare) prepare=1; shift ;;
    --backend) backend=$2; shift 2 ;;
    --build-only) build_only=1; shift ;;
    --work) work=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

gtest_src="$root/third_party/googletest"
bench_src="$root/third_party/benchmark"

if [ "$prepare" -eq 1 ]; then
  bash scripts/build-kokkos.sh --source-only
  if [ ! -f "$gtest_src/CMakeLists.txt" ]; then
    cp -r /usr/src/googletest "$gtest_src" # Debian's libgtest-dev (scripts/setup.sh)
  fi
  if [ ! -f "$bench_src/CMakeLists.txt" ]; then
    dl=$(mktemp -d "$root/third_party/.benchmark-src.XXXXXX")
    if ! (cd "$dl" && apt-get source --download-only -qq benchmark > apt.log 2>&1); then
      cat "$dl/apt.log" >&2
      exit 1
    fi
    mkdir -p "$dl/x"
    tar -xzf "$dl"/benchmark_*.orig.tar.gz -C "$dl/x" --strip-components=1
    rm -rf "$dl/x/test" "$dl/x/docs" "$dl/x/.github"
    mv "$dl/x" "$bench_src"
    rm -rf "$dl"
  fi
  du -sh "$root/third_party/kokkos-3.4.01" "$gtest_src" "$bench_src"
  echo "gpu-check: prepared; on the GPU machine run 'bash bench/gpu-check.sh' with carry" \
    '["third_party/kokkos-3.4.01", "third_party/googletest", "third_party/benchmark"]'
  exit 0
fi

for d in "$root/third_party/kokkos-3.4.01" "$gtest_src" "$bench_src"; do
  if [ ! -f "$d/CMakeLists.txt" ]; then
    echo "gpu-check: $d is missing: run 'bash bench/gpu-check.sh --prepare' first and carry it" >&2
    exit 1
  fi
done

out=${OUT:-$work/out}
mkdir -p "$work" "$out"
log="$out/gpu-check.log"
exec > >(tee "$log") 2>&1
jobs=$(nproc)
export CMAKE_POLICY_VERSION_MINIMUM=3.5 # CMake 4 and the older CMakeLists of the dependencies
if ! command -v nvcc > /dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi

deadline=$((t_start + ${GRPO_GPU_CHECK_SECONDS:-450})) # the whole check, within 8 minutes
phase() { # phase NAME: announces NAME with the seconds since the start
  echo "gpu-check: [$(($(date +%s) - t_start)) s] $1"
}
limit() { # limit N: N seconds, or what is left before the deadline if that is less (>= 1)
  local left=$((deadline - $(date +%s)))
  if [ "$left" -lt "$1" ]; then echo $((left > 1 ? left : 1)); else echo "$1"; fi
}

# --- 0. the machine -------------------------------------------------------------------------
phase "machine"
for tool in cmake g++ python3; do
  command -v "$tool" > /dev/null || { echo "gpu-check: $tool is missing" >&2; exit 1; }
done
gpu=""
if command -v nvidia-smi > /dev/null && nvidia-smi -L > /dev/null 2>&1; then
  gpu=$(nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv,noheader |
    head -n 1)
fi
if [ -z "$backend" ]; then
  backend=$([ -n "$gpu" ] && echo cuda || echo openmp)
fi
echo "host: $(uname -srm), $jobs cores; $(cmake --version | head -n 1); $(g++ --version | head -n 1)"
if [ "$backend" = cuda ]; then
  echo "GPU: ${gpu:-none found}; $(nvcc --version | tail -n 1)"
  cap=$(echo "$gpu" | cut -d, -f2 | tr -d ' .')
  case "$cap" in
    90) arch=HOPPER90 sm=sm_90 ;;
    80) arch=AMPERE80 sm=sm_80 ;;
    *) echo "gpu-check: compute capability '$cap' is neither 8.0 nor 9.0; building for sm_90"
      arch=HOPPER90 sm=sm_90 ;;
  esac
else
  echo "no GPU: rehearsal with the OpenMP backend ($jobs threads)"
  export OMP_PROC_BIND=spread OMP_PLACES=threads
fi

# --- 1. Kokkos, GoogleTest, Google Benchmark ------------------------------------------------
phase "Kokkos 3.4.01 ($backend)"
if [ "$backend" = cuda ]; then
  timeout "$(limit 180)" bash scripts/build-kokkos.sh --backend cuda --arch "$arch" --prefix "$work/kokkos" \
    --jobs "$jobs"
  cxx=("-DCMAKE_CXX_COMPILER=$work/kokkos/bin/nvcc_wrapper" "-DCMAKE_CXX_FLAGS=-arch=$sm"
    -DGRPO_REQUIRE_KOKKOS_DEVICES=Cuda)
else
  timeout "$(limit 180)" bash scripts/build-kokkos.sh --backend openmp,serial --prefix "$work/kokkos" \
    --jobs "$jobs"
  cxx=(-DGRPO_REQUIRE_KOKKOS_DEVICES=OpenMP)
fi

phase "GoogleTest and Google Benchmark (host compiler)"
deps="$work/deps"
if [ ! -f "$deps/.done" ]; then
  export gtest_src bench_src work deps jobs
  # shellcheck disable=SC2016 # the variables are exported, the inner shell expands them
  timeout "$(limit 150)" bash -c '
    cmake -S "$gtest_src" -B "$work/gtest-build" -DCMAKE_BUILD_TYPE=Release -DBUILD_GMOCK=OFF \
      -DCMAKE_INSTALL_PREFIX="$deps" &&
      cmake --build "$work/gtest-build" -j"$jobs" && cmake --install "$work/gtest-build" &&
      cmake -S "$bench_src" -B "$work/benchmark-build" -DCMAKE_BUILD_TYPE=Release \
        -DBENCHMARK_ENABLE_TESTING=OFF -DBENCHMARK_ENABLE_GTEST_TESTS=OFF \
        -DBENCHMARK_ENABLE_WERROR=OFF -DBENCHMARK_ENABLE_LIBPFM=OFF -DBENCHMARK_INSTALL_DOCS=OFF \
        -DCMAKE_INSTALL_PREFIX="$deps" &&
      cmake --build "$work/benchmark-build" -j"$jobs" && cmake --install "$work/benchmark-build"
  ' > "$work/deps.log" 2>&1 || { tail -n 30 "$work/deps.log"; exit 1; }
  touch "$deps/.done"
fi

# --- 2. grpo's kernels, their unit tests and the benchmarks ---------------------------------
phase "grpo kernels, unit tests, benchmarks"
build="$work/grpo"
if ! timeout "$(limit 60)" cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DGRPO_ENABLE_MPI=OFF \
  -DGRPO_ENABLE_HDF5=OFF -DGRPO_ENABLE_KOKKOSKERNELS=OFF -DKokkos_ROOT="$work/kokkos" \
  -DGTest_ROOT="$deps" -Dbenchmark_ROOT="$deps" -DCMAKE_PREFIX_PATH="$deps" "${cxx[@]}" \
  > "$out/build.log" 2>&1 || ! timeout "$(limit 240)" cmake --build "$build" -j"$jobs" >> "$out/build.log" 2>&1; then
  grep -E "error|Error" "$out/build.log" | head -n 30
  tail -n 20 "$out/build.log"
  exit 1
fi
grep -E "^-- (Enabled Kokkos devices|grpo )" "$out/build.log" || true
grep -E "^(Kokkos|GTest|benchmark)_DIR:|^CMAKE_CXX_COMPILER:" "$build/CMakeCache.txt" || true
if [ "$build_only" -eq 1 ]; then
  echo "gpu-check: built in $(($(date +%s) - t_start)) s (--build-only); logs in $out"
  exit 0
fi

# --- 3. the kernel unit tests, on the device ------------------------------------------------
phase "unit tests (ctest -L unit)"
tests_status=0
(cd "$build" && timeout "$(limit 120)" ctest -L unit -j 4 --timeout 120 --output-on-failure) \
  > "$out/ctest.log" 2>&1 || tests_status=$?
grep -E "tests passed|tests failed|\*\*\*|Failed|Timeout" "$out/ctest.log" || true

# --- 4. benchmarks --------------------------------------------------------------------------
phase "log-linear benchmarks (grpo_bench)"
# Two runs, so that a failure in the second still leaves the first's JSON; their output goes to
# $out/bench.txt, whose last lines are shown when a run fails.
: > "$out/bench.txt"
run_bench() { # json filter
  local status=0
  timeout "$(limit 120)" "$build/bin/grpo_bench" --benchmark_filter="$2" \
    --benchmark_report_aggregates_only=true --benchmark_out_format=json \
    --benchmark_out="$out/$1" >> "$out/bench.txt" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    echo "gpu-check: grpo_bench --benchmark_filter='$2': exit $status; its last lines:"
    tail -n 15 "$out/bench.txt"
  fi
}
run_bench bench.json 'BM_CopyBandwidth|BM_ReadBandwidth|BM_GrDpoStep/N:[0-9]+/d:32/K:(8|4096)/weak:0'
run_bench bench_ipo.json 'BM_GrIpoStatisticsStep'
grep -E "median" "$out/bench.txt" || true

phase "MLP benchmark (grpo_bench_mlp)"
if [ -x "$build/bin/grpo_bench_mlp" ]; then
  # The rehearsal keeps the smallest network: the others take minutes on a CPU.
  mlp_filter=$([ "$backend" = cuda ] && echo MlpTrainStep || echo 'MlpTrainStep/width:64/')
  timeout "$(limit 90)" "$build/bin/grpo_bench_mlp" --benchmark_filter="$mlp_filter" \
    --benchmark_report_aggregates_only=true --benchmark_out_format=json \
    --benchmark_out="$out/bench_mlp.json" > "$work/bench_mlp.txt" 2>&1 ||
    echo "gpu-check: grpo_bench_mlp: exit $?"
  grep -E "median" "$work/bench_mlp.txt" || tail -n 20 "$work/bench_mlp.txt"
fi

# --- 5. summary -----------------------------------------------------------------------------
phase "summary"
python3 - "$out" "$backend" "${gpu:-CPU$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)}" \
  "$tests_status" << 'EOF' | tee "$out/summary.txt"
import json, pathlib, re, sys

out, backend, device, tests_status = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]


def medians(path):
    try:
        benchmarks = json.loads(path.read_text()).get("benchmarks", [])
    except (OSError, ValueError):  # missing, or cut short by a time limit
        return {}
    rows = {}
    for b in benchmarks:
        if b.get("aggregate_name") != "median":
            continue
        scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
        name = re.sub(r"/iterations:\d+/repeats:\d+.*|/manual_time.*", "", b["run_name"])
        rows[name] = (b["real_time"] * scale, b.get("bytes_per_second", 0.0), b)
    return rows


bench = medians(out / "bench.json") | medians(out / "bench_ipo.json")
mlp = medians(out / "bench_mlp.json")
print(f"device check, backend {backend}: {device.strip()}")
print(f"kernel unit tests: {'passed' if tests_status == '0' else 'FAILED (exit ' + tests_status + ')'}")
copy = bench.get("BM_CopyBandwidth/134217728")
ceiling = copy[1] if copy else 0.0
if copy:
    print(f"copy bandwidth (deep_copy of 512 MiB, read + write): {ceiling / 1e9:8.1f} GB/s")
read = bench.get("BM_ReadBandwidth/134217728")
if read:
    print(f"read bandwidth (streaming sum, 512 MiB):               {read[1] / 1e9:8.1f} GB/s")
for name, (t, bps, _) in sorted(bench.items()):
    if not name.startswith("BM_GrDpoStep"):
        continue
    frac = f" = {100 * bps / ceiling:5.1f} % of the copy" if ceiling else ""
    print(f"{name}: {t * 1e3:8.3f} ms, {bps / 1e9:8.1f} GB/s{frac}")
for name, (t, _, _) in sorted(bench.items()):
    if name.startswith("BM_GrIpoStatisticsStep"):
        print(f"{name}: {t * 1e6:8.2f} us")
for name, (t, _, b) in sorted(mlp.items()):
    pairs = b.get("pairs_per_s")
    extra = f", {pairs:,.0f} pairs/s" if pairs else ""
    print(f"{name}: {t * 1e3:8.3f} ms per step{extra}")
step = bench.get("BM_GrDpoStep/N:4194304/d:32/K:8/weak:0")
big = bench.get("BM_GrDpoStep/N:16777216/d:32/K:8/weak:0")
best = max([s for s in (step, big) if s], key=lambda s: s[1], default=None)
if best and ceiling and backend == "cuda":
    frac = best[1] / ceiling
    verdict = "holds" if frac >= 0.5 else "does not hold"
    print(f"target: GR-DPO step >= 50 % of the copy bandwidth: {100 * frac:.1f} % ({verdict})")
EOF
echo "gpu-check: done in $(($(date +%s) - t_start)) s; logs in $out"
exit "$tests_status"
