#!/usr/bin/env bash
# Peak memory and throughput of `grpo convert pairs` against the input size (issue 17): for a
# JSON Lines text input (d = 64) and a CSV of precomputed features (DIM values per response,
# with reference log-probs), a small input and a large one are generated (bench/
# make_pairs_input.py), converted under /usr/bin/time -v, and the peak RSS, the wall time and
# the input MB/s printed as a Markdown table. The inputs and outputs are removed afterwards.
# Usage: bash bench/convert_pairs_memory.sh [BUILD] [LARGE_BYTES] [DIM] [SCRATCH]
#        (defaults: build, 2147483648 = 2 GiB, 256, a fresh folder under /tmp)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
large=${2:-2147483648}
dim=${3:-256}
scratch=${4:-$(mktemp -d /tmp/grpo-pairs-bench.XXXXXX)}
grpo="$build/bin/grpo"
python=/usr/bin/python3
small=$((64 * 1024 * 1024))
mkdir -p "$scratch"
trap 'rm -f "$scratch"/in.* "$scratch"/out.h5 "$scratch"/out.h5.tmp "$scratch"/time.txt' EXIT

echo "| input | bytes | pairs | peak RSS | RSS / input | wall | input MB/s | output bytes |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
run() { # kind size extension args...
  local kind=$1 size=$2 ext=$3
  shift 3
  local input="$scratch/in.$ext" rows
  if [ "$kind" = text ]; then
    rows=$("$python" bench/make_pairs_input.py text "$input" "$size")
  else
    rows=$("$python" bench/make_pairs_input.py features "$input" "$size" "$dim")
  fi
  local bytes
  bytes=$(stat -c %s "$input")
  rm -f "$scratch/out.h5"
  /usr/bin/time -v "$grpo" convert pairs --input "$input" --out "$scratch/out.h5" "$@" \
    > /dev/null 2> "$scratch/time.txt"
  local rss_kb wall out_bytes
  rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$scratch/time.txt")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$scratch/time.txt")
  out_bytes=$(stat -c %s "$scratch/out.h5")
  "$python" - "$kind" "$bytes" "$rows" "$rss_kb" "$wall" "$out_bytes" "$*" <<'PY'
import sys
kind, size, rows, rss_kb, wall, out, args = sys.argv[1:]
parts = [float(p) for p in wall.split(":")]
seconds = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
rss = int(rss_kb) * 1024
print(f"| {kind} {args} | {int(size) / 2**20:.0f} MiB | {rows} | {rss / 2**20:.0f} MiB | "
      f"{rss / int(size):.3f} | {seconds:.1f} s | {int(size) / 1e6 / seconds:.0f} | "
      f"{int(out) / 2**20:.0f} MiB |")
PY
  rm -f "$input" "$scratch/out.h5"
}
features=(--chosen-features cf_ --rejected-features rf_ --ref-chosen ref_chosen
          --ref-rejected ref_rejected)
run text "$small" jsonl
run text "$large" jsonl
run features "$small" csv "${features[@]}"
run features "$large" csv "${features[@]}"
run features "$large" csv "${features[@]}" --options none
