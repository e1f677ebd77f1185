#!/usr/bin/env bash
# clang-tidy (the repository's .clang-tidy, warnings as errors) over every translation unit of
# core, policies, solver, io, jobs and apps in a configured build's compile_commands.json, and
# the headers of those folders that they include. Fails on any warning.
# Usage: bash scripts/tidy.sh [BUILD_DIR]     (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
if [[ ! -f "$build/compile_commands.json" ]]; then
  echo "scripts/tidy.sh: no $build/compile_commands.json (configure the build first)" >&2
  exit 2
fi
root=$(pwd)
run-clang-tidy -p "$build" -quiet -j"$(nproc)" "^$root/(core|policies|solver|io|jobs|apps)/[^/]*\.cpp\$"
