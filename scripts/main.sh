#!/usr/bin/env bash
# The main job: installs missing Debian packages, builds grpo, and runs the paper's synthetic
# experiment (three settings x two feature types x six methods x 20 seeds) on this machine's
# cores, then prints the summary table and where the report is.
# Environment: GRPO_BUILD_DIR (build), GRPO_OUT (run/paper), GRPO_SEEDS (20), GRPO_JOBS (nproc).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

build=${GRPO_BUILD_DIR:-build}
out=${GRPO_OUT:-run/paper}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j"$(nproc)" --target grpo

start=$(date +%s)
bash examples/paper_synthetic.sh "$build/bin/grpo" "$out" "${GRPO_SEEDS:-20}" \
  "${GRPO_JOBS:-$(nproc)}"
/usr/bin/python3 analysis/paper_table.py "$out" --report "$out/report.md" --csv "$out/table.csv"
echo
echo "main job finished in $(($(date +%s) - start)) s; report: $out/report.md"
