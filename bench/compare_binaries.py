#!/usr/bin/env python3
"""Side-by-side speed of two builds of grpo (a refactor keeps the speed).

Usage: python3 bench/compare_binaries.py OLD_BIN_DIR NEW_BIN_DIR [--rounds 5] [--work DIR]

Alternates the two builds (ABAB..., against the drift of a shared machine) over:
- the log-linear GR-DPO full-batch step at N = 2^22, d = 32, K = 8 (grpo_bench BM_GrDpoStep,
  bench/run.sh (b)): the median of each round's repetitions;
- the MLP training step through `grpo train --policy mlp` (NeuralSolver: margins, losses, group
  weights, coefficients, gradient, Allreduce, AdamW): hidden 256,256, 4096 pairs a step from
  an 8192-pair training split, 30 steps; train_seconds / 30 (two records included).
Prints per-round times, the medians over rounds, their ratio new / old, and the median of the
rounds' own ratios (robust against drift between rounds).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

import h5py


def bench_step(bin_dir, work, tag):
    out = os.path.join(work, f"step-{tag}.json")
    subprocess.run([os.path.join(bin_dir, "grpo_bench"),
                    "--benchmark_filter=GrDpoStep/N:4194304/d:32/K:8/",
                    "--benchmark_repetitions=5", "--benchmark_report_aggregates_only=true",
                    "--benchmark_out_format=json", f"--benchmark_out={out}"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(out) as f:
        runs = json.load(f)["benchmarks"]
    median = [r for r in runs if r.get("aggregate_name") == "median"][0]
    scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[median["time_unit"]]
    return median["real_time"] * scale  # ms


def mlp_step(bin_dir, work, tag, data):
    out = os.path.join(work, f"mlp-{tag}.h5")
    subprocess.run([os.path.join(bin_dir, "grpo"), "train", "--policy", "mlp", "--dataset", data,
                    "--out", out, "--hidden", "256,256", "--batch-size", "4096",
                    "--iterations", "30", "--trace-every", "1000", "-q"], check=True)
    with h5py.File(out, "r") as f:
        return float(f.attrs["train_seconds"]) / 30 * 1e3  # ms


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--work", default="run/compare-binaries")
    ap.add_argument("--only", choices=["step", "mlp"], help="one of the two measurements")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    data = os.path.join(args.work, "mlp-data.h5")
    subprocess.run([os.path.join(args.old, "grpo"), "generate", "--preset", "even-imbalanced",
                    "--train-size", "8192", "--out", data], check=True, stdout=subprocess.DEVNULL)
    kinds = [args.only] if args.only else ["step", "mlp"]
    results = {(kind, tag): [] for kind in kinds for tag in ("old", "new")}
    for r in range(args.rounds):
        order = [("old", args.old), ("new", args.new)]
        if r % 2:
            order.reverse()
        for tag, bin_dir in order:
            if args.only in (None, "step"):
                results[("step", tag)].append(bench_step(bin_dir, args.work, tag))
            if args.only in (None, "mlp"):
                results[("mlp", tag)].append(mlp_step(bin_dir, args.work, tag, data))
        print(f"round {r + 1}: " + ", ".join(
            f"{kind} {tag} {results[(kind, tag)][-1]:.2f} ms"
            for kind in kinds for tag in ("old", "new")), flush=True)
    for kind, name in [("step", "log-linear GR-DPO step, N = 2^22 (grpo_bench)"),
                       ("mlp", "MLP step, 256,256, 4096 pairs (grpo train)")]:
        if kind not in kinds:
            continue
        old = statistics.median(results[(kind, "old")])
        new = statistics.median(results[(kind, "new")])
        paired = statistics.median(
            n / o for o, n in zip(results[(kind, "old")], results[(kind, "new")]))
        print(f"{name}: old {old:.2f} ms, new {new:.2f} ms, new/old {new / old:.3f} "
              f"(medians of {args.rounds} rounds); median of the rounds' ratios {paired:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
