#!/usr/bin/env bash
# Threads against ranks (bench/README.md, "OpenMP: threads against ranks"): with a build against
# an OpenMP Kokkos, runs grpo_bench as one rank with 1 thread, one rank with 2 threads and 2 ranks
# with 1 thread each, alternated over two rounds (1/2/2, 1/2/2) against the drift of a shared
# machine, and writes OUT/report.md (printed at the end). About 2 minutes on 2 cores.
# Usage: bash bench/threads_vs_ranks.sh [OPENMP_BUILD (build-omp)] [OUT (run/bench-openmp)]
# The build:  bash scripts/build-kokkos.sh --backend openmp,serial
#             cmake -S . -B build-omp -DKokkos_ROOT=third_party/kokkos-openmp-serial \
#               -DGRPO_ENABLE_HDF5=OFF && cmake --build build-omp -j --target grpo_bench
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-omp}
out=${2:-run/bench-openmp}
bin="$build/bin/grpo_bench"
mkdir -p "$out"
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_rmaps_base_oversubscribe=1 OMP_PROC_BIND=spread OMP_PLACES=threads
filter='BM_CopyBandwidth|BM_ReadBandwidth|BM_GrDpoStep/N:(4194304|32768)/d:32/K:8/weak:0'
json=(--benchmark_filter="$filter" --benchmark_report_aggregates_only=true
  --benchmark_out_format=json)

for round in a b; do
  echo "threads_vs_ranks: round $round: 1 rank x 1 thread, 1 rank x 2 threads, 2 ranks x 1 thread"
  OMP_NUM_THREADS=1 "$bin" "${json[@]}" --benchmark_out="$out/r1t1_$round.json" > "$out/log.txt" 2>&1
  OMP_NUM_THREADS=2 "$bin" "${json[@]}" --benchmark_out="$out/r1t2_$round.json" >> "$out/log.txt" 2>&1
  OMP_NUM_THREADS=1 mpiexec -n 2 --bind-to core "$bin" "${json[@]}" \
    --benchmark_out="$out/r2t1_$round.json" >> "$out/log.txt" 2>&1
done

/usr/bin/python3 - "$out" "$build" << 'EOF' > "$out/report.md"
import json, pathlib, re, sys

out, build = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
configs = {"r1t1": ("1 rank x 1 thread", 1), "r1t2": ("1 rank x 2 threads", 1),
           "r2t1": ("2 ranks x 1 thread", 2)}


def medians(path):
    rows = {}
    for b in json.loads(path.read_text())["benchmarks"]:
        if b.get("aggregate_name") == "median":
            scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
            name = re.sub(r"/iterations:\d+/repeats:\d+.*", "", b["run_name"])
            rows[name] = (b["real_time"] * scale, b.get("bytes_per_second", 0.0))
    return rows


data = {}
for key in configs:
    runs = [medians(out / f"{key}_{r}.json") for r in ("a", "b")]
    data[key] = {n: tuple(sum(run[n][i] for run in runs) / len(runs) for i in (0, 1))
                 for n in runs[0]}
kokkos = "?"
cache = build / "CMakeCache.txt"
if cache.exists():
    for line in cache.read_text().splitlines():
        if line.startswith("Kokkos_DIR:"):
            kokkos = line.split("=", 1)[1]
rows = [("copy bandwidth (512 MiB, read + write)", "BM_CopyBandwidth/134217728"),
        ("read bandwidth (streaming sum, 512 MiB)", "BM_ReadBandwidth/134217728"),
        ("GR-DPO step, N = 2^22, d = 32, K = 8", "BM_GrDpoStep/N:4194304/d:32/K:8/weak:0"),
        ("GR-DPO step, N = 2^15 (in cache)", "BM_GrDpoStep/N:32768/d:32/K:8/weak:0")]
print(f"Kokkos: {kokkos}; each figure is the mean of the medians of two alternated rounds.")
print("Bandwidths are totals over all ranks (a rank's bytes times the ranks); with 2 ranks the")
print("bandwidth benchmarks stream one 512 MiB array per rank, the step splits its N rows.\n")
print("| benchmark | " + " | ".join(label for label, _ in configs.values()) +
      " | throughput, 2 threads / 2 ranks |")
print("| --- |" + " --- |" * (len(configs) + 1))
for label, name in rows:
    cells = []
    for key, (_, ranks) in configs.items():
        t, bps = data[key].get(name, (0.0, 0.0))
        cells.append(f"{t * 1e3:.2f} ms, {bps * ranks / 1e9:.1f} GB/s")
    ratio = data["r1t2"][name][1] / (2 * data["r2t1"][name][1])
    print(f"| {label} | " + " | ".join(cells) + f" | {ratio:.2f} |")
EOF
cat "$out/report.md"
