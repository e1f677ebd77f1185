#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, no MPI) and fuzzes each for SECONDS
# (default 60): the dataset reader (structure-aware), the INI config checks, the study-file
# parser, the GlobalOpinionQA converter (JSON) and the pairs readers and converter (JSON Lines
# and CSV; fuzzed for at most 30 s, to keep CI within its time). Every
# target first replays its regression inputs (fuzz/regressions/TARGET/: crashes found earlier,
# fixed). Seeds: fuzz/seeds/TARGET/ plus the bad-input corpus and the examples. New crashes
# are written to BUILD/fuzz/artifacts/ and make the script fail.
# Usage: bash scripts/fuzz.sh [SECONDS]      (GRPO_FUZZ_BUILD_DIR overrides build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${1:-60}
build=${GRPO_FUZZ_BUILD_DIR:-build-fuzz}

CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DGRPO_ENABLE_FUZZ=ON -DGRPO_ENABLE_MPI=OFF -DGRPO_ENABLE_TESTS=OFF -DGRPO_ENABLE_BENCH=OFF \
  -DGRPO_ENABLE_WERROR=ON -DGRPO_SANITIZE="address;undefined;fuzzer-no-link" > /dev/null
cmake --build "$build" -j"$(nproc)" --target fuzz_dataset fuzz_config fuzz_study fuzz_convert fuzz_pairs grpo

work="$build/fuzz/work"
artifacts="$build/fuzz/artifacts"
rm -rf "$work"
mkdir -p "$artifacts"
for target in dataset config study convert pairs; do
  mkdir -p "$work/$target"
done
# Seeds: valid and bad configs and studies (the example studies, the bad-input corpus). The
# dataset target is structure-aware (its bytes choose a file's layout): it starts from nothing.
cp fuzz/seeds/config/* "$work/config/"
cp examples/*.toml fuzz/seeds/study/* "$work/study/"
cp fuzz/seeds/convert/* "$work/convert/"
cp fuzz/seeds/pairs/* "$work/pairs/"
if [ -d tests/corpus ]; then # file names flattened: corpus folders may reuse a name
  while IFS= read -r f; do
    { printf '\001'; cat "$f"; } > "$work/config/${f//\//_}"
  done < <(find tests/corpus -name '*.ini' -type f)
  while IFS= read -r f; do
    cp "$f" "$work/study/${f//\//_}"
  done < <(find tests/corpus -name '*.toml' -not -name 'cases.toml' -type f)
  while IFS= read -r f; do # the first byte picks the converter's spec: 'P' the paper's five
    { printf 'P'; cat "$f"; } > "$work/convert/${f//\//_}"
  done < <(find tests/corpus/convert -name '*.json' -type f)
  while IFS= read -r f; do # the first byte picks the spec: 0 JSON Lines, 1 CSV, +2 features
    case "$f" in *.csv) spec=1 ;; *) spec=0 ;; esac
    case "$f" in *feature* | *nan* | *ragged* | *ref-*) spec=$((spec + 2)) ;; esac
    { printf '%b' "\\00$spec"; cat "$f"; } > "$work/pairs/${f//\//_}"
  done < <(find tests/corpus/pairs -type f)
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
status=0
for target in dataset config study convert pairs; do
  binary="$build/fuzz/fuzz_$target"
  mapfile -t regressions < <(find "fuzz/regressions/$target" -type f ! -name .keep | sort)
  if [ "${#regressions[@]}" -gt 0 ]; then
    echo "fuzz_$target: replaying ${#regressions[@]} regression input(s)"
    if ! (cd "$work" && "$root/$binary" -runs=0 "${regressions[@]/#/$root/}" \
        > "$root/$artifacts/$target-regressions.log" 2>&1); then
      echo "fuzz_$target: a regression input fails again:"
      tail -n 40 "$artifacts/$target-regressions.log"
      status=1
    fi
  fi
  budget=$seconds
  if [ "$target" = pairs ] && [ "$budget" -gt 30 ]; then
    budget=30
  fi
  echo "fuzz_$target: fuzzing for $budget s"
  mkdir -p "$artifacts/$target"
  if ! (cd "$work" && "$root/$binary" -max_total_time="$budget" -timeout=20 -rss_limit_mb=4096 \
      -print_final_stats=1 -artifact_prefix="$root/$artifacts/$target/" \
      "$target" > "$root/$artifacts/$target.log" 2>&1); then
    echo "fuzz_$target: FAILED; reproducer and log in $artifacts/ :"
    tail -n 40 "$artifacts/$target.log"
    status=1
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$artifacts/$target.log" \
    | sed "s/^/fuzz_$target: /"
done
exit "$status"
