#!/usr/bin/env bash
# Runs every benchmark of bench/README.md and writes OUT/report.md (printed at the end).
# Usage: bash bench/run.sh [BUILD_DIR (build)] [OUT_DIR (run/bench)]
# Needs a build with -DGRPO_ENABLE_BENCH=ON (the default). Takes about 5 minutes on 2 cores and
# needs 1.3 GB of scratch disk under OUT_DIR (removed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
out=${2:-run/bench}
bin="$build/bin"
mkdir -p "$out"
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_rmaps_base_oversubscribe=1
json=(--benchmark_report_aggregates_only=true --benchmark_out_format=json)

echo "bench: (a) roofline, (b) GR-DPO step, (c) GR-IPO statistics, (f) groups: one rank"
"$bin/grpo_bench" "${json[@]}" --benchmark_out="$out/one_rank.json" > "$out/one_rank.txt"
echo "bench: (a') read bandwidth per core with both cores streaming (shared memory bandwidth)"
mpiexec -n 2 --bind-to core "$bin/grpo_bench" "${json[@]}" --benchmark_filter='ReadBandwidth' \
  --benchmark_out="$out/roofline_np2.json" > "$out/roofline_np2.txt"
echo "bench: (d) strong and weak scaling: 1 and 2 ranks, alternated (ABAB) against drift"
for round in a b; do
  for ranks in 1 2; do
    mpiexec -n "$ranks" --bind-to core "$bin/grpo_bench" "${json[@]}" \
      --benchmark_filter='GrDpoStep/N:4194304/d:32/K:8/' \
      --benchmark_out="$out/scaling_np${ranks}_${round}.json" > "$out/scaling_np${ranks}_${round}.txt"
  done
done

echo "bench: (e) peak memory: a 2^22 x 32 dataset (+ 2^19 validation pairs), loaded fresh"
data="$out/bench-dataset.h5"
trap 'rm -f "$data" "$data.tmp"' EXIT
"$bin/grpo_bench_memory" write "$data" 4194304 32 8 524288
"$bin/grpo_bench_memory" load "$data" 3 > "$out/memory_np1.json"
mpiexec -n 2 --bind-to core "$bin/grpo_bench_memory" load "$data" 3 > "$out/memory_np2.json"

echo "bench: tracing overhead: grpo train, 500 steps, --trace-every 100 vs records only at the ends"
for round in a b; do
  for every in 100 1000000; do
    "$bin/grpo" train --dataset "$data" --method gr-dpo --iterations 500 --trace-every "$every" \
      --step-theta 0.001 --step-alpha 0.001 --out "$out/trace_${every}_${round}.h5" -q
  done
done

/usr/bin/python3 bench/summarize.py "$out" "$build" > "$out/report.md"
cat "$out/report.md"
