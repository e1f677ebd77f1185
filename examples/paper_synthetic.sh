#!/usr/bin/env bash
# The paper's synthetic experiment (ALGORITHM.md §5.5, §7): three settings x two feature types
# x six methods x SEEDS seeds, each run with `--preset paper`. Runs on this machine with one
# process per core; tasks whose trace is already complete are skipped, so an interrupted
# experiment resumes where it stopped.
# Usage: examples/paper_synthetic.sh GRPO_BINARY OUT_DIR [SEEDS] [JOBS]
set -euo pipefail
grpo=$(realpath "$1")
out=$2
seeds=${3:-20}
jobs=${4:-$(nproc)}
mkdir -p "$out/data" "$out/traces" "$out/logs"

settings=(even-imbalanced uneven-balanced uneven-imbalanced)
features=(swapped flipped)
methods=(dpo ipo is-dpo is-ipo gr-dpo gr-ipo)

complete() { # a trace or dataset that exists and was finished
  [ -f "$1" ] && ! [ -f "$1.tmp" ] && [ -s "$1" ]
}

data_tasks=$(mktemp)
train_tasks=$(mktemp)
trap 'rm -f "$data_tasks" "$train_tasks"' EXIT
for feature in "${features[@]}"; do
  for setting in "${settings[@]}"; do
    for ((i = 0; i < seeds; i++)); do
      seed=$((2021 + i))
      data="$out/data/$feature-$setting-$seed.h5"
      if ! complete "$data"; then
        printf '%q generate --preset %q --feature-type %q --seed %q --out %q > %q 2>&1\n' \
          "$grpo" "$setting" "$feature" "$seed" "$data" "$out/logs/data-$feature-$setting-$seed.log" \
          >> "$data_tasks"
      fi
      for method in "${methods[@]}"; do
        name="$feature-$setting-$method-$seed"
        trace="$out/traces/$name.h5"
        if ! grep -q '"completed"' <(h5dump -a /status "$trace" 2>/dev/null); then
          printf '%q train --dataset %q --method %q --preset paper --seed %q --out %q -q > %q 2>&1\n' \
            "$grpo" "$data" "$method" "$seed" "$trace" "$out/logs/$name.log" >> "$train_tasks"
        fi
      done
    done
  done
done

run_layer() { # name, task file
  local n
  n=$(wc -l < "$2")
  echo "paper_synthetic: $1: $n tasks on $jobs cores"
  if [ "$n" -gt 0 ]; then
    xargs -P "$jobs" -d '\n' -n 1 bash -c < "$2"
  fi
}
run_layer "datasets" "$data_tasks"
run_layer "training" "$train_tasks"
