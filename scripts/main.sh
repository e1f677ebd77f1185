#!/usr/bin/env bash
# The main job: installs missing Debian packages, builds grpo, and runs the study
# examples/paper.toml on this machine's cores (local executor): the paper's synthetic
# experiment (three settings x two feature types x six methods x 20 seeds) and a
# convergence-rate study of the certified duality gap. Ends by printing where the report is.
# Environment: GRPO_BUILD_DIR (build), GRPO_JOBS (all cores). Rerunning resumes: finished
# tasks are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

build=${GRPO_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j"$(nproc)" --target grpo

start=$(date +%s)
"$build/bin/grpo" study run examples/paper.toml --jobs "${GRPO_JOBS:-$(nproc)}"
echo
echo "main job finished in $(($(date +%s) - start)) s"
echo "report: $(pwd)/run/paper/report/report.md"
