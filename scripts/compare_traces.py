#!/usr/bin/env python3
"""Bit-for-bit comparison of the traces of two grpo binaries (a refactor keeps the numbers).

Usage: python3 scripts/compare_traces.py OLD_GRPO NEW_GRPO [--work DIR] [--mpiexec CMD]
                                          [--goqa JSON] [--quick]

Runs the same matrix of `grpo train` runs with both binaries and compares every dataset and
attribute of the traces exactly (NaNs equal to NaNs), except the wall-clock columns
(wall_seconds, train_seconds, sft_seconds) and the build's identity (git_revision,
grpo_version). The matrix: the six methods x both sampling modes (code_batch full batch and
mini-batch, paper_single), with and without --gap, at 1 and 2 ranks; closed-form GR-IPO, the
adaptive step sizes, chi, adj, L2, projection; MLP runs of every method and alpha-update on the
synthetic data (K = 2) and, with --goqa, on GlobalOpinionQA (K = 5). Prints one line per run
and exits 1 if any trace differs.
"""
import argparse
import os
import re
import subprocess
import sys

import h5py
import numpy as np

IGNORED = {"wall_seconds", "train_seconds", "sft_seconds", "git_revision", "grpo_version"}

METHODS = ["dpo", "ipo", "is-dpo", "is-ipo", "gr-dpo", "gr-ipo"]


def runs(quick, goqa):
    """(name, dataset key, ranks, options) of every run in the matrix."""
    out = []
    ranks = [1] if quick else [1, 2]
    for np_ in ranks:
        for m in METHODS:
            base = ["--method", m, "--preset", "paper", "--iterations", "300",
                    "--trace-every", "50"]
            out.append((f"{m}-full-np{np_}", "even", np_, base))
            out.append((f"{m}-gap-np{np_}", "even", np_, base + ["--gap"]))
            # The paper preset solves IPO in closed form, which needs full batches.
            gradient = base + (["--closed-form=false"] if "ipo" in m else [])
            out.append((f"{m}-batch-np{np_}", "uneven", np_,
                        gradient + ["--batch-size", "64", "--batch-mode", "group-weighted"]))
            out.append((f"{m}-paper-np{np_}", "uneven", np_,
                        gradient + ["--sampling", "paper_single", "--batch-size", "8"]))
            if not quick:
                out.append((f"{m}-paper-gap-np{np_}", "even", np_,
                            gradient + ["--sampling", "paper_single", "--gap"]))
        extra = [
            ("gr-ipo-closed", ["--method", "gr-ipo", "--closed-form", "--iterations", "50"]),
            ("gr-dpo-adaptive", ["--method", "gr-dpo", "--ada-coef", "0.5", "--exp-adaptive",
                                 "2", "--iterations", "200"]),
            ("gr-dpo-chi-adj-l2", ["--method", "gr-dpo", "--chi", "0.4", "--adj", "0.5",
                                   "--l2", "0.01", "--projection-radius", "3",
                                   "--iterations", "200"]),
            ("is-dpo-chi-group", ["--method", "is-dpo", "--chi", "0.6", "--is-normalization",
                                  "group", "--batch-size", "50", "--iterations", "200"]),
        ]
        for name, opts in extra:
            out.append((f"{name}-np{np_}", "uneven", np_, opts + ["--trace-every", "25"]))
        for m in METHODS:
            mlp = ["--policy", "mlp", "--method", m, "--hidden", "16", "--iterations", "60",
                   "--batch-size", "64", "--trace-every", "20"]
            out.append((f"mlp-{m}-np{np_}", "even", np_, mlp))
        out.append((f"mlp-gr-ipo-micro-np{np_}", "even", np_,
                    ["--policy", "mlp", "--method", "gr-ipo", "--hidden", "16,8",
                     "--iterations", "40", "--batch-size", "64", "--micro-batches", "4",
                     "--alpha-update", "micro-batch", "--optimizer", "adam"]))
        # Parts that span epochs of the pass (a batch larger than the training split).
        out.append((f"mlp-gr-dpo-epochs-np{np_}", "even", np_,
                    ["--policy", "mlp", "--method", "gr-dpo", "--hidden", "8", "--iterations",
                     "6", "--batch-size", "2500", "--micro-batches", "5", "--trace-every", "2"]))
        if goqa:
            out.append((f"goqa-mlp-sft-batch-np{np_}", "goqa", np_,
                        ["--policy", "mlp", "--method", "gr-ipo", "--hidden", "16",
                         "--batch-size", "24", "--iterations", "20", "--sft-steps", "12",
                         "--sft-batch", "10", "--sft-lr", "0.001"]))
            for m in ["gr-dpo", "is-ipo"]:
                out.append((f"goqa-mlp-{m}-np{np_}", "goqa", np_,
                            ["--policy", "mlp", "--method", m, "--hidden", "32", "--beta",
                             "0.5", "--batch-size", "32", "--iterations", "40",
                             "--sft-steps", "20", "--sft-lr", "0.001", "--step-alpha", "0.1"]))
    return out


def equal(a, b):
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":
        return a.tobytes() == b.tobytes()
    return np.array_equal(a, b)


def compare(old, new):
    """Names of what differs between two HDF5 files."""
    diffs = []
    with h5py.File(old, "r") as fa, h5py.File(new, "r") as fb:
        def attrs(obj_a, obj_b, where):
            keys = (set(obj_a.attrs) | set(obj_b.attrs)) - IGNORED
            for k in sorted(keys):
                if k not in obj_a.attrs or k not in obj_b.attrs:
                    diffs.append(f"{where}@{k} (only in one)")
                elif not equal(obj_a.attrs[k], obj_b.attrs[k]):
                    diffs.append(f"{where}@{k}")

        names_a, names_b = [], []
        fa.visit(names_a.append)
        fb.visit(names_b.append)
        attrs(fa, fb, "/")
        for name in sorted(set(names_a) | set(names_b)):
            if name.split("/")[-1] in IGNORED:
                continue
            if name not in fa or name not in fb:
                diffs.append(f"{name} (only in one)")
                continue
            oa, ob = fa[name], fb[name]
            attrs(oa, ob, name)
            if isinstance(oa, h5py.Dataset) and not equal(oa[()], ob[()]):
                diffs.append(name)
    return diffs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--work", default="compare-traces")
    ap.add_argument("--mpiexec", default="mpiexec")
    ap.add_argument("--goqa", default="", help="GlobalOpinionQA JSON (adds MLP runs, K = 5)")
    ap.add_argument("--quick", action="store_true", help="one rank, fewer runs")
    ap.add_argument("--only", default="", help="a regular expression: the runs whose names match")
    args = ap.parse_args()
    for key, value in [("OMPI_ALLOW_RUN_AS_ROOT", "1"), ("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"),
                       ("OMPI_MCA_rmaps_base_oversubscribe", "1")]:
        os.environ.setdefault(key, value)  # as in the test environment: root, 2 cores
    os.makedirs(args.work, exist_ok=True)
    old, new = os.path.abspath(args.old), os.path.abspath(args.new)
    data = {}
    for key, preset in [("even", "even-imbalanced"), ("uneven", "uneven-imbalanced")]:
        path = os.path.join(args.work, f"{key}.h5")
        subprocess.run([old, "generate", "--preset", preset, "--out", path],
                       check=True, stdout=subprocess.DEVNULL)
        data[key] = path
    if args.goqa:
        path = os.path.join(args.work, "goqa.h5")
        subprocess.run([old, "convert", "globalopinionqa", "--input", args.goqa, "--out", path],
                       check=True, stdout=subprocess.DEVNULL)
        data["goqa"] = path
    failed = 0
    selected = [r for r in runs(args.quick, bool(args.goqa)) if re.search(args.only, r[0])]
    for name, key, np_, opts in selected:
        outs = []
        for tag, binary in [("old", old), ("new", new)]:
            # The same relative paths in both runs, so that the stored configurations match.
            cwd = os.path.join(args.work, tag)
            os.makedirs(cwd, exist_ok=True)
            out = f"{name}.h5"
            cmd = [binary, "train", "--dataset", os.path.join("..", os.path.basename(data[key])),
                   "--out", out, "--quiet"] + opts
            if np_ > 1:
                cmd = args.mpiexec.split() + ["-n", str(np_)] + cmd
            r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               cwd=cwd)
            if r.returncode != 0:
                first = (r.stderr.strip().splitlines() or [""])[0]
                print(f"{name}: {tag} failed ({r.returncode}): {first}")
                failed += 1
                break
            outs.append(os.path.join(cwd, out))
        if len(outs) != 2:
            continue
        diffs = compare(*outs)
        print(f"{name}: {'identical' if not diffs else 'DIFFERS in ' + ', '.join(diffs[:8])}")
        failed += bool(diffs)
    print(f"{failed} of {len(selected)} runs differ or failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
