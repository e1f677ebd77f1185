#!/usr/bin/env bash
# A study end to end with two grpo binaries, one after the other in one invocation (compare the
# executables of two commits on the same machine state): wall time of `grpo study run` and its
# phases (data, train, aggregate, report: first start to last end of each layer's tasks, as the
# local executor prints them; a binary older than that line prints none).
#
# Usage: bash bench/study_end_to_end.sh OLD_GRPO NEW_GRPO [STUDY_FILE] [JOBS]
#   STUDY_FILE  default examples/paper.toml (the main job); JOBS default: all cores
# Each binary runs in a fresh directory under ${GRPO_BENCH_DIR:-/tmp/grpo-study-bench}.
set -euo pipefail
cd "$(dirname "$0")/.."
old=$(realpath "$1")
new=$(realpath "$2")
study=$(realpath "${3:-examples/paper.toml}")
jobs=${4:-$(nproc)}
root=${GRPO_BENCH_DIR:-/tmp/grpo-study-bench}
for tag in old new; do
  bin=$old
  [ "$tag" = new ] && bin=$new
  dir=$root/$tag
  rm -rf "$dir" && mkdir -p "$dir"
  cp "$study" "$dir/study.toml"
  start=$(date +%s%N)
  (cd "$dir" && "$bin" study run study.toml --jobs "$jobs" > run.log 2>&1) || {
    echo "$tag: grpo study run failed (see $dir/run.log)" >&2
    exit 1
  }
  end=$(date +%s%N)
  printf '%s: %.1f s  %s\n' "$tag" "$(awk -v a="$start" -v b="$end" 'BEGIN { print (b - a) / 1e9 }')" \
    "$(grep '^phases:' "$dir/run.log" || echo '(no phases line)')"
done
