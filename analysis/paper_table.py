#!/usr/bin/env python3
"""Summarise the traces of a paper experiment: the final worst-group validation loss and max
reward error of every run, as mean and standard error over seeds per (feature type, setting,
method). Writes a Markdown report and a CSV, and prints the table.

Usage: python3 analysis/paper_table.py RUN_DIR [--report FILE.md] [--csv FILE.csv]
"""
import argparse
import pathlib
import sys

import h5py
import numpy as np
import pandas as pd

METHODS = ["dpo", "is-dpo", "gr-dpo", "ipo", "is-ipo", "gr-ipo"]
SETTINGS = ["even-imbalanced", "uneven-balanced", "uneven-imbalanced"]


def text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def load_runs(root):
    """One row per completed trace under root: its identity and its final metrics."""
    rows = []
    for path in sorted(pathlib.Path(root).rglob("*.h5")):
        try:
            with h5py.File(path, "r") as f:
                if text(f.attrs.get("kind", "")) != "trace":
                    continue
                if text(f.attrs.get("status", "")) != "completed":
                    continue
                rows.append({
                    "feature": text(f.attrs.get("dataset_feature_type", "?")),
                    "setting": text(f.attrs.get("dataset_preset", "?")),
                    "method": text(f.attrs["method"]),
                    "seed": int(f.attrs["seed"]),
                    "worst_val_loss": float(f["worst_val_loss"][-1]),
                    "max_reward_error": float(f["max_reward_error"][-1]),
                    "trace": str(path),
                })
        except OSError as error:
            print(f"paper_table: skipping unreadable {path}: {error}", file=sys.stderr)
    return pd.DataFrame(rows)


def summarise(runs):
    """Mean, SEM and count per (feature, setting, method)."""
    grouped = runs.groupby(["feature", "setting", "method"])
    table = grouped[["worst_val_loss", "max_reward_error"]].agg(["mean", "sem", "count"])
    table.columns = [f"{metric}_{stat}" for metric, stat in table.columns]
    return table.reset_index()


def markdown(table):
    lines = []
    for (feature, setting), block in table.groupby(["feature", "setting"], sort=False):
        lines += [f"### {setting}, {feature} features", "",
                  "| method | worst-group val loss | max reward error | seeds |",
                  "| --- | --- | --- | --- |"]
        order = {m: i for i, m in enumerate(METHODS)}
        for _, row in block.sort_values("method", key=lambda s: s.map(order)).iterrows():
            lines.append(
                f"| {row['method']} | {row['worst_val_loss_mean']:.4f} ± "
                f"{np.nan_to_num(row['worst_val_loss_sem']):.4f} | "
                f"{row['max_reward_error_mean']:.4f} ± "
                f"{np.nan_to_num(row['max_reward_error_sem']):.4f} | "
                f"{int(row['worst_val_loss_count'])} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--report", help="Markdown report to write")
    parser.add_argument("--csv", help="CSV table to write")
    args = parser.parse_args(argv)
    runs = load_runs(args.run_dir)
    if runs.empty:
        print(f"paper_table: no completed traces under {args.run_dir}", file=sys.stderr)
        return 1
    table = summarise(runs)
    order = {s: i for i, s in enumerate(SETTINGS)}
    table = table.sort_values(["feature", "setting"], key=lambda s: s.map(order) if s.name ==
                              "setting" else s)
    body = markdown(table)
    report = ("# GRPO on the paper's synthetic group bandit\n\n"
              f"{len(runs)} runs from `{args.run_dir}`; final worst-group validation loss and "
              "max reward error (argmax policy), mean ± standard error over seeds.\n\n" + body)
    if args.report:
        pathlib.Path(args.report).write_text(report)
    if args.csv:
        table.to_csv(args.csv, index=False)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
