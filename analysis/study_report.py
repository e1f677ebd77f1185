#!/usr/bin/env python3
"""Report on a study written by `grpo study`: tables, figures and headline numbers.

Usage: /usr/bin/python3 analysis/study_report.py STUDY [--out DIR] [--rate-metric NAME]

Reads STUDY/plan.json, the trace of every training task and, where present, the per-cell
aggregates STUDY/cells/<id>.json (checked against the traces); writes into DIR (default
STUDY/report) report.md, its figures (PNG), its tables (CSV) and summary.json, then prints the
path of report.md. Final values are those of each run's last trace record; runs without a
completed trace are listed as missing. See docs/analysis.md.

Exit codes: 0 report written; 2 missing or malformed plan.json, or bad arguments; 3 no
completed trace in the study; 4 the report could not be written. Errors are one line
`error: ...` on stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")  # before pyplot: files only, no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import grpo_traces  # noqa: E402
from grpo_traces import Experiment, Study, StudyError, TraceError  # noqa: E402

#: The paper's methods, in the order of its tables; other methods follow alphabetically.
METHOD_ORDER = ("dpo", "ipo", "is-dpo", "is-ipo", "gr-dpo", "gr-ipo")

#: Final metrics tabulated for grid experiments (those a trace has), with their titles.
GRID_METRICS = {
    "worst_val_loss": "Final worst-group validation loss",
    "max_reward_error": "Final max reward error",
    "gap": "Final certified duality gap (averaged iterates)",
    # MLP runs (grpo train --policy mlp) on data with a test split
    "worst_test_loss": "Final worst-group test loss",
    "worst_test_reward_accuracy": "Final worst-group test reward accuracy",
}

#: Loss families: methods whose losses share a scale (the logistic DPO losses start at log 2,
#: the squared IPO losses at (1 / (2 beta))^2, near 20 with the paper's beta). A figure of losses
#: never puts two families on one axis: it has one panel per data set and family.
LOSS_FAMILIES = {"dpo": "DPO-like", "is-dpo": "DPO-like", "gr-dpo": "DPO-like",
                 "ipo": "IPO-like", "is-ipo": "IPO-like", "gr-ipo": "IPO-like"}
FAMILY_ORDER = ("DPO-like", "IPO-like")

#: Final metrics reported for a selected configuration besides the selection metric (those the
#: traces have), in this order: held-out test metrics first (MLP runs on data with a test
#: split), then validation, training, truth-based and certificate metrics.
SELECTION_REPORTED = ("worst_test_loss", "worst_test_reward_accuracy",
                      "average_test_reward_accuracy", "worst_val_loss", "worst_train_loss",
                      "max_reward_error", "max_kl", "gap")

#: Heat maps annotate their cells with values up to this many rows or columns.
MAX_ANNOTATED = 8
#: Panels of a selection figure (more are left out, with a note; the CSV has every candidate).
MAX_SELECTION_PANELS = 48
#: Candidate tables written into report.md (more groups: the CSV and the figures only).
MAX_CANDIDATE_TABLES = 36

#: Certified gaps plotted against the iteration: column, legend suffix, line style.
GAP_CURVES = (("gap", "averaged", "-"), ("gap_last", "last iterate", "--"))

#: Alpha trajectories show at most this many groups (those with the largest final weight).
MAX_ALPHA_GROUPS = 10

#: Relative tolerance when checking cells/<id>.json against the traces.
CELL_FILE_RTOL = 1e-6

#: Entries of the missing-runs table in report.md (summary.json lists all).
MAX_MISSING_LISTED = 50


# --------------------------------------------------------------------------------------------
# Statistics


@dataclass(frozen=True)
class PowerLaw:
    """y = exp(intercept) x^slope, fitted by least squares of log y on log x."""

    slope: float
    stderr: float  # standard error of the slope (NaN with two points)
    intercept: float
    points: int

    def __call__(self, x):
        return np.exp(self.intercept) * np.asarray(x, dtype=float) ** self.slope

    def describe(self) -> str:
        if math.isfinite(self.stderr):
            return f"slope {self.slope:.3f} ± {self.stderr:.2g}"
        return f"slope {self.slope:.3f}"


def fit_power_law(x, y) -> Optional[PowerLaw]:
    """Ordinary least squares of log y on log x over the points where both are positive.

    Returns None with fewer than two such points or a single x value. The slope's standard
    error is sqrt(SSR / (n - 2) / Sxx), NaN for n = 2.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    log_x, log_y = np.log(x[keep]), np.log(y[keep])
    if log_x.size < 2 or np.ptp(log_x) == 0:
        return None
    dx = log_x - log_x.mean()
    sxx = float(dx @ dx)
    slope = float(dx @ (log_y - log_y.mean())) / sxx
    intercept = float(log_y.mean() - slope * log_x.mean())
    residual = log_y - (intercept + slope * log_x)
    n = log_x.size
    stderr = math.sqrt(float(residual @ residual) / (n - 2) / sxx) if n > 2 else math.nan
    return PowerLaw(slope, stderr, intercept, n)


def fit_tail(steps, gap) -> Optional[PowerLaw]:
    """Power law of a gap curve over the upper half of its log-step range (the asymptote)."""
    steps, gap = np.asarray(steps, dtype=float), np.asarray(gap, dtype=float)
    keep = np.isfinite(steps) & np.isfinite(gap) & (steps > 0) & (gap > 0)
    if not keep.any():
        return None
    log_steps = np.log(steps[keep])
    tail = log_steps >= 0.5 * (log_steps.min() + log_steps.max())
    return fit_power_law(steps[keep][tail], gap[keep][tail])


def cell_stats(final: pd.DataFrame, metrics: Iterable[str]) -> pd.DataFrame:
    """Mean, SEM (sample standard deviation / sqrt(n)) and n of each metric per cell.

    Columns ``<metric>_mean``, ``<metric>_sem``, ``<metric>_n``, indexed by cell; NaN values
    (a metric a run could not compute) are left out of n.
    """
    metrics = [m for m in metrics if m in final.columns]
    if not metrics:
        return pd.DataFrame(index=pd.Index(final["cell"].unique(), name="cell"))
    stats = final.groupby("cell")[metrics].agg(["mean", "sem", "count"])
    stats.columns = [f"{metric}_{'n' if stat == 'count' else stat}" for metric, stat in stats]
    return stats


# --------------------------------------------------------------------------------------------
# Configurations: what a row of a table or a line of a figure stands for


@dataclass(frozen=True)
class Config:
    """A cell's method and the experiment's varied parameter values, as a label."""

    cell: str
    data: str
    label: str
    sort_key: Tuple
    method: str = ""


def configs(study: Study, experiment: Experiment, exclude: Sequence[str] = ()) -> List[Config]:
    """The experiment's cells in table order (method, then varied parameters).

    A label is the method, followed by the parameters that differ between the experiment's
    cells (except those in ``exclude``): ``gr-dpo (step-theta=0.1)``.
    """
    cells = [c for c in study.plan.cells.values() if c.experiment == experiment.name]
    keys = list(dict.fromkeys(key for cell in cells for key in cell.params))
    varied = [
        key
        for key in keys
        if key not in exclude and len({cell.params.get(key) for cell in cells}) > 1
    ]
    out = []
    for cell in cells:
        shown = [f"{key}={cell.params[key]}" for key in varied if key in cell.params]
        label = cell.method + (f" ({', '.join(shown)})" if shown else "")
        sort_key = (
            _method_rank(cell.method),
            tuple(_natural(cell.params.get(key, "")) for key in varied),
        )
        out.append(Config(cell.id, cell.data, label, sort_key, cell.method))
    return sorted(out, key=lambda config: config.sort_key)


def _method_rank(method: str) -> Tuple[int, str]:
    rank = METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)
    return rank, method


def _natural(value: str) -> Tuple[int, Any]:
    """Sort key: numbers by value, before other strings."""
    try:
        return 0, float(value)
    except ValueError:
        return 1, value


def _family_panels(items: Sequence[Config], data_sets: Sequence[str]):
    """(data, family, title) of the panels of a figure of losses: per data set, one panel per
    loss family among its configurations (the title names the family when there are two)."""
    families = {LOSS_FAMILIES.get(c.method, c.method) for c in items}
    out = []
    for data in data_sets:
        present = {LOSS_FAMILIES.get(c.method, c.method) for c in items if c.data == data}
        ordered = [f for f in FAMILY_ORDER if f in present] + sorted(present - set(FAMILY_ORDER))
        out += [(data, f, f"{data}, {f} losses" if len(families) > 1 else data)
                for f in ordered]
    return out


def _in_panel(items: Sequence[Config], data: str, family: str) -> List[Config]:
    return [c for c in items if c.data == data and LOSS_FAMILIES.get(c.method, c.method) == family]


def _labels(items: Iterable[Config]) -> List[str]:
    return list(dict.fromkeys(config.label for config in items))


# --------------------------------------------------------------------------------------------
# The report being written


@dataclass
class Report:
    """The Markdown of the report, and the files written beside it into ``out``."""

    out: Path
    lines: List[str] = field(default_factory=list)

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def figure(self, fig, name: str, caption: str) -> None:
        fig.savefig(self.out / name, dpi=110, bbox_inches="tight")
        plt.close(fig)
        self.add(f"![{name}]({name})", "", f"*{caption}.*", "")

    def csv(self, frame: pd.DataFrame, name: str) -> None:
        frame.to_csv(self.out / name, index=False)


def write_report(directory: Path, out: Optional[Path] = None, rate_metric: str = "gap") -> Path:
    """Write the report of a study; return the path of report.md."""
    study = grpo_traces.read_study(directory)
    if not study.plan.runs:
        raise TraceError(f"{study.plan.path}: no training tasks")
    if study.runs.empty:
        first = study.missing[0]
        raise TraceError(
            f"{directory / first.trace}: no completed trace in the study (all "
            f"{len(study.missing)} training runs missing; this one: {first.reason})"
        )
    out = Path(out) if out is not None else directory / "report"
    out.mkdir(parents=True, exist_ok=True)
    report = Report(out)
    final = grpo_traces.finals(study.runs)

    _header(report, study)
    report.csv(final, "finals.csv")
    experiments: Dict[str, Any] = {}
    for experiment in study.plan.experiments.values():
        runs = study.runs[study.runs["experiment"] == experiment.name]
        last = final[final["experiment"] == experiment.name]
        if runs.empty:
            report.add(f"## Experiment `{experiment.name}`", "", "No completed run.", "")
            experiments[experiment.name] = {"kind": experiment.kind, "runs": 0}
            continue
        if experiment.kind == "grid":
            section = grid_section(report, study, experiment, runs, last)
        elif experiment.kind == "rate":
            section = rate_section(report, study, experiment, last, rate_metric)
        else:
            report.add(f"## Experiment `{experiment.name}`", "",
                       f"Experiments of kind `{experiment.kind}` are not analysed here.", "")
            section = {"kind": experiment.kind}
        experiments[experiment.name] = section
    _checks(report, study, final)

    summary = {
        "study": study.plan.name,
        "directory": str(directory),
        "runs": {
            "planned": len(study.plan.runs),
            "completed": len(study.plan.runs) - len(study.missing),
            "missing": [vars(m) for m in study.missing],
        },
        "experiments": experiments,
    }
    (out / "summary.json").write_text(json.dumps(_jsonable(summary), indent=2) + "\n")
    path = out / "report.md"
    path.write_text("\n".join(report.lines).rstrip() + "\n", encoding="utf-8")
    return path


def _header(report: Report, study: Study) -> None:
    plan = study.plan
    completed = len(plan.runs) - len(study.missing)
    report.add(
        f"# Study `{plan.name}`",
        "",
        f"{completed} of {len(plan.runs)} training runs completed in `{study.directory}`, over "
        f"{len(plan.data_sets)} data set(s) and {len(plan.experiments)} experiment(s). Final "
        "values are those of each run's last trace record; \"mean ± SEM (n)\" is over the "
        "seeds of a cell (SEM: sample standard deviation / sqrt(n)). The last record of every "
        "completed run is in `finals.csv`.",
        "",
    )
    if study.missing:
        report.add("## Missing runs", "", "| task | trace | reason |", "| --- | --- | --- |")
        for entry in study.missing[:MAX_MISSING_LISTED]:
            report.add(f"| {entry.task} | `{entry.trace}` | {_cell_text(entry.reason)} |")
        if len(study.missing) > MAX_MISSING_LISTED:
            more = len(study.missing) - MAX_MISSING_LISTED
            report.add(f"| ... | | and {more} more (`summary.json` lists all) |")
        report.add("")


# --------------------------------------------------------------------------------------------
# Grid experiments: compare methods


def grid_section(
    report: Report, study: Study, experiment: Experiment, runs: pd.DataFrame, final: pd.DataFrame
) -> Dict[str, Any]:
    """Tables and figures comparing the methods of a grid experiment; its summary entry.

    ``runs`` are the experiment's records, ``final`` the last record of each of its runs.
    """
    name = experiment.name
    items = configs(study, experiment)
    data_sets = [d for d in study.plan.data_sets if any(c.data == d for c in items)]
    metrics = [m for m in GRID_METRICS if m in final.columns]
    stats = cell_stats(final, metrics)
    prefix = _file_name(name)

    report.add(
        f"## Experiment `{name}` (grid)",
        "",
        f"{final['trace'].nunique()} completed runs in {len(items)} cells over "
        f"{len(data_sets)} data set(s). Rows: methods; columns: data sets; entries: "
        "mean ± SEM (n) over seeds.",
        "",
    )
    entry: Dict[str, Any] = {"kind": "grid"}
    shown = items
    if experiment.selection is not None:
        result = selection_section(report, study, experiment, final, prefix)
        if result is not None:
            shown = _selected_configs(items, result)
            entry["selection"] = {
                **vars(experiment.selection),
                "fixed": result.fixed,
                "selected": result.selected.drop(columns=["eligible", "selected"])
                .to_dict(orient="records"),
            }
            report.add("The tables and figures below show the selected configurations "
                       f"(`{prefix}-finals.csv` has every cell).", "")
    for metric in metrics:
        report.add(f"### {GRID_METRICS[metric]}", "")
        report.add(*_grid_table(shown, data_sets, stats, metric), "")
    table = _cells_frame(study, items, stats, metrics)
    report.csv(table, f"{prefix}-finals.csv")
    report.add(f"Table: `{prefix}-finals.csv`.", "")

    palette = {label: f"C{i % 10}" for i, label in enumerate(_labels(shown))}
    report.add("### Figures", "")
    if "worst_val_loss" in runs.columns:
        _loss_curves(report, runs, shown, data_sets, palette, f"{prefix}-worst-val-loss.png")
    if "max_reward_error" in final.columns:
        _reward_bars(report, shown, data_sets, stats, palette, f"{prefix}-reward-error.png")
    _alpha_trajectories(report, study, runs, shown, data_sets, f"{prefix}-alpha.png")
    _group_val_losses(report, study, final, shown, data_sets, palette,
                      f"{prefix}-group-val-loss.png")
    slopes = []
    if "gap" in runs.columns:
        slopes = _gap_curves(report, runs, shown, data_sets, palette, f"{prefix}-gap.png")
        if slopes:
            report.csv(pd.DataFrame(slopes), f"{prefix}-gap-slopes.csv")
    entry.update({"finals": table.to_dict(orient="records"), "gap_slopes": slopes})
    return entry


def _selected_configs(items: Sequence[Config], result: "SelectionResult") -> List[Config]:
    """The selected cells of ``items``, labelled by method (and the fixed options' values):
    the over values differ from one data set to the next, the label does not."""
    chosen = result.selected.set_index("cell")
    out = []
    for config in items:
        if config.cell not in chosen.index:
            continue
        row = chosen.loc[config.cell]
        shown = [f"{key}={row[key]}" for key in result.fixed]
        label = config.method + (f" ({', '.join(shown)})" if shown else "")
        out.append(Config(config.cell, config.data, label, config.sort_key, config.method))
    return out


def _grid_table(items, data_sets, stats, metric) -> List[str]:
    """Markdown table of one metric: configurations (rows) x data sets (columns)."""
    by_place = {(c.label, c.data): c.cell for c in items}
    lines = [
        "| method | " + " | ".join(data_sets) + " |",
        "| --- |" + " --- |" * len(data_sets),
    ]
    for label in _labels(items):
        entries = []
        for data in data_sets:
            cell = by_place.get((label, data))
            entries.append(_stat_text(stats, cell, metric) if cell else "")
        lines.append(f"| {label} | " + " | ".join(entries) + " |")
    return lines


def _cells_frame(study, items, stats, metrics) -> pd.DataFrame:
    """One row per cell: identity, label and the mean, SEM and n of each metric."""
    rows = []
    for config in items:
        cell = study.plan.cells[config.cell]
        row = {"cell": cell.id, "data": cell.data, "method": cell.method, "label": config.label}
        row.update(cell.params)
        for metric in metrics:
            mean, sem, n = _stat(stats, cell.id, metric)
            row.update({f"{metric}_mean": mean, f"{metric}_sem": sem, f"{metric}_n": n})
        rows.append(row)
    return pd.DataFrame(rows)


def _loss_curves(report, runs, items, data_sets, palette, name) -> None:
    """Worst-group validation loss against the iteration, mean ± SEM over seeds."""
    curves = runs[runs["cell"].isin({c.cell for c in items})].groupby(
        ["cell", "iteration"])["worst_val_loss"].agg(["mean", "sem"])
    panels = _family_panels(items, data_sets)
    fig, axes = _panels(len(panels))
    for ax, (data, family, title) in zip(axes, panels):
        for config in (c for c in _in_panel(items, data, family) if c.cell in curves.index):
            curve = curves.loc[config.cell]
            x = curve.index.to_numpy()
            color = palette[config.label]
            ax.plot(x, curve["mean"], color=color, label=config.label)
            ax.fill_between(x, curve["mean"] - curve["sem"], curve["mean"] + curve["sem"],
                            color=color, alpha=0.2, linewidth=0)
        _decorate(ax, title, "iteration", "worst-group validation loss")
        _log_scale_if_wide(ax)
    report.figure(fig, name, "Worst-group validation loss against the iteration: mean over "
                  "seeds, band ± SEM; one panel per data set and loss family (DPO-like and "
                  "IPO-like losses differ in scale), each with its own axes (log axis when the "
                  "values span more than a factor 10)")


def _reward_bars(report, items, data_sets, stats, palette, name) -> None:
    """Final max reward error per configuration, mean ± SEM over seeds."""
    fig, axes = _panels(len(data_sets))
    for ax, data in zip(axes, data_sets):
        present = [c for c in items if c.data == data and c.cell in stats.index]
        values = [_stat(stats, c.cell, "max_reward_error") for c in present]
        x = np.arange(len(present))
        ax.bar(x, [v[0] for v in values], yerr=[np.nan_to_num(v[1]) for v in values],
               color=[palette[c.label] for c in present], capsize=3)
        ax.set_xticks(x, [c.label for c in present], rotation=30, ha="right")
        ax.set_title(data)
        ax.set_ylabel("final max reward error")
    report.figure(fig, name, "Final max reward error per method: mean over seeds ± SEM")


def _alpha_trajectories(report, study, runs, items, data_sets, name) -> None:
    """Mean group weights over the iterations, for the configurations whose weights move."""
    columns = [c for c in runs.columns if c.startswith("alpha[")]
    if not columns:
        return
    per_run = runs.groupby("trace")[columns]
    moving = (per_run.max() - per_run.min()).max(axis=1) > 0
    robust_cells = set(runs.loc[runs["trace"].isin(moving.index[moving]), "cell"])
    robust = [c for c in items if c.cell in robust_cells]
    if not robust:
        report.add("No method of this experiment moves its group weights: no alpha figure.", "")
        return
    labels = _labels(robust)
    curves = runs[runs["cell"].isin(robust_cells)].groupby(["cell", "iteration"])[columns].mean()
    # Panels in data-set-major order; long rows wrap after 4 methods.
    fig, axes = _panels(len(data_sets) * len(labels), columns=min(len(labels), 4))
    for row, data in enumerate(data_sets):
        names = study.group_names.get(data, [])
        for col, label in enumerate(labels):
            ax = axes[row * len(labels) + col]
            ax.set_title(f"{label}, {data}", fontsize="medium")
            config = next((c for c in robust if c.data == data and c.label == label), None)
            if config is None:
                ax.set_axis_off()
                continue
            curve = curves.loc[config.cell].dropna(axis=1, how="all")
            shown = curve.iloc[-1].nlargest(MAX_ALPHA_GROUPS).index
            for column in sorted(shown, key=_group_index):
                g = _group_index(column)
                ax.plot(curve.index, curve[column], label=names[g] if g < len(names) else str(g))
            if len(shown) < curve.shape[1]:
                ax.set_title(f"{label}, {data} ({len(shown)} of {curve.shape[1]} groups)",
                             fontsize="medium")
            ax.set_xlabel("iteration")
            ax.set_ylabel("alpha (mean over seeds)")
            ax.legend(fontsize="small")
    report.figure(fig, name, "Group weights alpha of the robust methods: mean over seeds")


def _group_val_losses(report, study, final, items, data_sets, palette, name) -> None:
    """Final validation loss of every group: bars per configuration, mean ± SEM over seeds."""
    columns = [c for c in final.columns if c.startswith("val_loss[")]
    if not columns:
        return
    means = final.groupby("cell")[columns].mean()
    sems = final.groupby("cell")[columns].sem()
    panels = _family_panels(items, data_sets)
    fig, axes = _panels(len(panels))
    for ax, (data, family, title) in zip(axes, panels):
        present = [c for c in _in_panel(items, data, family) if c.cell in means.index]
        cells = [config.cell for config in present]
        groups = [column for column in columns if means.loc[cells, column].notna().any()]
        width = 0.8 / max(len(present), 1)
        x = np.arange(len(groups))
        for i, config in enumerate(present):
            ax.bar(x + (i - (len(present) - 1) / 2) * width, means.loc[config.cell, groups],
                   width, yerr=np.nan_to_num(sems.loc[config.cell, groups].to_numpy(float)),
                   color=palette[config.label], label=config.label, capsize=2)
        names = study.group_names.get(data, [])
        indices = [_group_index(c) for c in groups]
        ax.set_xticks(x, [names[g] if g < len(names) else str(g) for g in indices],
                      rotation=30 if len(groups) > 4 else 0)
        _decorate(ax, title, "group", "final validation loss")
    report.figure(fig, name, "Final validation loss of each group per method: mean over "
                  "seeds ± SEM; one panel per data set and loss family")


def _gap_curves(report, runs, items, data_sets, palette, name) -> List[Dict[str, Any]]:
    """Certified gap against the step count T = iteration + 1, log-log, with fitted slopes."""
    columns = [c for c, _, _ in GAP_CURVES if c in runs.columns]
    curves = runs[runs["cell"].isin({c.cell for c in items})].groupby(
        ["cell", "iteration"])[columns].mean()
    slopes = []
    panels = _family_panels(items, data_sets)
    fig, axes = _panels(len(panels))
    for ax, (data, family, title) in zip(axes, panels):
        for config in (c for c in _in_panel(items, data, family) if c.cell in curves.index):
            curve = curves.loc[config.cell]
            steps = curve.index.to_numpy(float) + 1
            for column, kind, style in GAP_CURVES:
                if column not in curve.columns:
                    continue
                values = curve[column].to_numpy(float)
                positive = values > 0
                if not positive.any():
                    continue
                fit = fit_tail(steps, values)
                text = f"{config.label}, {kind}" + (f": {fit.describe()}" if fit else "")
                ax.loglog(steps[positive], values[positive], style,
                          color=palette[config.label], label=text)
                if fit:
                    slopes.append({"data": data, "cell": config.cell, "label": config.label,
                                   "curve": column, "slope": fit.slope, "stderr": fit.stderr,
                                   "points": fit.points})
        _decorate(ax, title, "steps T = iteration + 1", "certified duality gap")
    report.figure(fig, name, "Certified duality gap against the steps (log-log, mean over "
                  "seeds), one panel per data set and loss family; slopes fitted over the "
                  "upper half of the log-step range")
    return slopes


# --------------------------------------------------------------------------------------------
# Selection on validation ([experiment.selection], docs/studies.md)


def loss_family(method: str) -> str:
    """"DPO-like", "IPO-like", or the method itself for a method of neither family."""
    return LOSS_FAMILIES.get(method, method)


@dataclass
class SelectionResult:
    """The candidates of a selection and the one chosen in each group.

    A group is a data set, a method and a value of each option in ``fixed`` (the options other
    than ``over`` that differ between the experiment's cells); its candidates are its cells.
    """

    selection: grpo_traces.Selection
    fixed: List[str]
    candidates: pd.DataFrame  # one row per cell, groups in table order (see ``select``)
    selected: pd.DataFrame  # the selected rows of ``candidates``, one per group with one

    @property
    def group(self) -> List[str]:
        return ["data", "method", *self.fixed]


def select(study: Study, experiment: Experiment, final: pd.DataFrame) -> SelectionResult:
    """Per group, the candidate whose statistic over seeds of the final metric is best.

    ``final`` holds the last record of each completed run (it must have the metric's column).
    Every candidate has columns ``cell``, ``data``, ``method``, the options (their values as in
    the plan, "" where a cell does not set one), ``statistic`` (the selection's: mean or
    median over the runs with a value), ``mean``, ``median``, ``sem``, ``n`` (runs with a
    value), ``eligible`` and ``selected``. The rule:

    - a candidate is eligible when its ``n`` is positive and equals the largest ``n`` of its
      group (a configuration that lost seeds, e.g. to divergence, is not chosen over one that
      kept them all) and its statistic is not NaN;
    - the eligible candidate with the smallest statistic (goal "min") or the largest ("max")
      is selected;
    - ties (equal statistics) go to the candidate whose ``over`` values come first in natural
      order: numbers ascending before other strings, the first option of ``over`` the most
      significant.

    Vectorized (groupby and sort over all cells at once), so it stays fast for 10^5 runs.
    """
    selection = experiment.selection
    cells = [c for c in study.plan.cells.values() if c.experiment == experiment.name]
    keys = list(dict.fromkeys([*(k for c in cells for k in c.params), *selection.over]))
    frame = pd.DataFrame({
        "cell": [c.id for c in cells],
        "data": [c.data for c in cells],
        "method": [c.method for c in cells],
        **{key: [c.params.get(key, "") for c in cells] for key in keys},
    })
    over = list(selection.over)
    fixed = [k for k in keys if k not in over and frame[k].nunique() > 1]
    group = ["data", "method", *fixed]

    values = pd.to_numeric(final[selection.metric], errors="coerce").astype(float)
    by_cell = values.groupby(final["cell"])
    stats = pd.DataFrame({"mean": by_cell.mean(), "median": by_cell.median(),
                          "sem": by_cell.sem(), "n": by_cell.count()})
    candidates = frame.merge(stats, left_on="cell", right_index=True, how="left")
    candidates["n"] = candidates["n"].fillna(0).astype(int)
    candidates["statistic"] = candidates[selection.statistic]
    most = candidates.groupby(group, sort=False)["n"].transform("max")
    candidates["eligible"] = (
        (candidates["n"] > 0) & (candidates["n"] == most) & candidates["statistic"].notna()
    )

    # Table order: data sets as in the plan, methods as in the paper, options naturally.
    order = {"_data": candidates["data"].map({d: i for i, d in
                                               enumerate(study.plan.data_sets)}),
             "_method": candidates["method"].map(lambda m: _method_rank(m)[0]),
             "_method_name": candidates["method"]}
    for i, key in enumerate([*fixed, *over]):
        order[f"_num{i}"] = pd.to_numeric(candidates[key], errors="coerce")
        order[f"_str{i}"] = candidates[key].astype(str)
    order_frame = pd.DataFrame(order, index=candidates.index)
    nat = [c for i in range(len(fixed) + len(over)) for c in (f"_num{i}", f"_str{i}")]
    fixed_nat, over_nat = nat[: 2 * len(fixed)], nat[2 * len(fixed):]
    table_order = ["_data", "_method", "_method_name", *fixed_nat]
    candidates = candidates.loc[
        order_frame.sort_values(table_order + over_nat, kind="mergesort",
                                na_position="last").index
    ].reset_index(drop=True)

    score = candidates["statistic"] if selection.goal == "min" else -candidates["statistic"]
    ranked = candidates.assign(
        _score=score,
        **{f"_num{i}": pd.to_numeric(candidates[key], errors="coerce")
           for i, key in enumerate(over)},
        **{f"_str{i}": candidates[key].astype(str) for i, key in enumerate(over)},
    )[candidates["eligible"]]
    tie = [c for i in range(len(over)) for c in (f"_num{i}", f"_str{i}")]
    ranked = ranked.sort_values(["_score", *tie], kind="mergesort", na_position="last")
    best = ranked.groupby(group, sort=False, dropna=False).head(1)
    candidates["selected"] = candidates["cell"].isin(best["cell"])
    selected = candidates[candidates["selected"]].reset_index(drop=True)
    return SelectionResult(selection, fixed, candidates, selected)


def selection_section(report: Report, study: Study, experiment: Experiment,
                      final: pd.DataFrame, prefix: str) -> Optional[SelectionResult]:
    """The best-configuration table, the metric at every candidate and its figure."""
    selection = experiment.selection
    over = list(selection.over)
    report.add("### Selection on validation", "")
    if selection.metric not in final.columns:
        report.add(f"The traces have no `{selection.metric}` column: nothing selected.", "")
        return None
    result = select(study, experiment, final)
    goal = "smallest" if selection.goal == "min" else "largest"
    per = ", ".join(f"`{k}`" for k in result.fixed)
    report.add(
        f"Per data set and method{f' (and value of {per})' if per else ''}, the values of "
        + ", ".join(f"`{k}`" for k in over)
        + f" with the {goal} {selection.statistic} over seeds of the final "
        f"`{selection.metric}` (goal {selection.goal}), everything else fixed. A candidate "
        "needs as many runs with a value as the best-covered candidate of its group; ties go "
        "to the first values in natural order (numbers ascending, the first option of `over` "
        "the most significant). The other metrics are those of the selected configuration: "
        "mean ± SEM (n) over seeds.",
        "",
    )
    reported = [m for m in SELECTION_REPORTED if m in final.columns and m != selection.metric]
    stats = cell_stats(final, [selection.metric, *reported])
    table = _selected_frame(result, stats, reported)
    header = ["data", "method", *result.fixed, *over, f"{selection.metric} (selected on)"]
    if selection.statistic == "median":
        header.append(f"{selection.metric} median")
    header += reported
    report.add("| " + " | ".join(header) + " |", "|" + " --- |" * len(header))
    groups = result.candidates[result.group].drop_duplicates()
    chosen = {tuple(row) for row in result.selected[result.group].itertuples(index=False)}
    for row in groups.itertuples(index=False):
        if tuple(row) not in chosen:
            blanks = [""] * (len(header) - len(result.group) - 1)
            report.add("| " + " | ".join(map(str, row)) + " | "
                       + " | ".join(blanks) + " | no eligible candidate |")
    for _, row in table.iterrows():
        entries = [str(row[k]) for k in ["data", "method", *result.fixed, *over]]
        entries.append(_stat_text(stats, row["cell"], selection.metric))
        if selection.statistic == "median":
            entries.append(f"{row['median']:.4g}")
        entries += [_stat_text(stats, row["cell"], m) for m in reported]
        report.add("| " + " | ".join(_cell_text(e) for e in entries) + " |")
    report.add("")
    report.csv(table, f"{prefix}-selected.csv")
    report.csv(result.candidates, f"{prefix}-candidates.csv")
    report.add(f"Tables: `{prefix}-selected.csv` (the selected configurations and their "
               f"metrics), `{prefix}-candidates.csv` (every candidate).", "")
    _candidate_tables(report, result)
    if len(over) == 2:
        _selection_heatmaps(report, result, f"{prefix}-selection.png")
    elif len(over) == 1:
        _selection_lines(report, result, f"{prefix}-selection.png")
    else:
        report.add(f"No selection figure for {len(over)} options (heat maps take two): "
                   f"`{prefix}-candidates.csv` has every candidate.", "")
    return result


def _selected_frame(result: SelectionResult, stats: pd.DataFrame,
                    reported: Sequence[str]) -> pd.DataFrame:
    """The selected rows with the mean, SEM and n of the metric and of the reported metrics."""
    metric = result.selection.metric
    columns = ["cell", *result.group, *result.selection.over, "statistic", "median"]
    table = result.selected[columns].rename(columns={"statistic": f"{metric}_statistic",
                                                     "median": f"{metric}_median"})
    wanted = [f"{m}_{s}" for m in (metric, *reported) for s in ("mean", "sem", "n")]
    return table.merge(stats[[c for c in wanted if c in stats.columns]], left_on="cell",
                       right_index=True, how="left")


def _candidate_text(row, statistic: str) -> str:
    if statistic == "median":
        text = "–" if row.n == 0 else f"{row.median:.4g} ({row.n})"
    else:
        text = _stat_text_values(row.mean, row.sem, row.n)
    if row.selected:
        return f"**{text}**"
    return text if row.eligible or row.n == 0 else f"{text} †"


def _candidate_tables(report: Report, result: SelectionResult) -> None:
    """The metric at every candidate: one table per group (two options: a matrix; one: a row
    per group of a data set; more: a row per candidate)."""
    selection, over = result.selection, list(result.selection.over)
    candidates = result.candidates
    groups = list(candidates.groupby(result.group, sort=False, dropna=False))
    report.add(f"#### Final `{selection.metric}` at every candidate", "",
               f"{selection.statistic.capitalize()} over seeds"
               + (" ± SEM" if selection.statistic == "mean" else "")
               + " (n); **bold**: selected; †: fewer runs with a value than the best-covered "
               "candidate of its group (not eligible).", "")
    if len(groups) > MAX_CANDIDATE_TABLES:
        report.add(f"{len(groups)} groups: too many for tables here; the figure and "
                   "the candidates CSV have them all.", "")
        return
    if len(over) == 1:
        key = over[0]
        for data, frame in candidates.groupby("data", sort=False):
            values = _natural_sorted(frame[key].unique())
            report.add(f"**{data}**", "", f"| method | " + " | ".join(
                f"{key}={v}" for v in values) + " |", "| --- |" + " --- |" * len(values))
            for keys, rows in frame.groupby(result.group, sort=False, dropna=False):
                by_value = {row[key]: row for row in _rows(rows)}
                label = _group_label(keys, result.fixed, with_data=False)
                report.add(f"| {label} | " + " | ".join(
                    _candidate_text(by_value[v], selection.statistic) if v in by_value else ""
                    for v in values) + " |")
            report.add("")
        return
    for keys, frame in groups:
        report.add(f"**{_group_label(keys, result.fixed)}**", "")
        if len(over) == 2:
            rows_key, cols_key = over
            rows_values = _natural_sorted(frame[rows_key].unique())
            cols_values = _natural_sorted(frame[cols_key].unique())
            by_place = {(row[rows_key], row[cols_key]): row for row in _rows(frame)}
            report.add(f"| {rows_key} \\ {cols_key} | " + " | ".join(map(str, cols_values))
                       + " |", "| --- |" + " --- |" * len(cols_values))
            for r in rows_values:
                entries = [_candidate_text(by_place[r, c], selection.statistic)
                           if (r, c) in by_place else "" for c in cols_values]
                report.add(f"| {r} | " + " | ".join(entries) + " |")
        else:
            report.add("| " + " | ".join(over) + f" | {selection.metric} |",
                       "|" + " --- |" * (len(over) + 1))
            for row in _rows(frame):
                report.add("| " + " | ".join(str(row[k]) for k in over) + " | "
                           + _candidate_text(row, selection.statistic) + " |")
        report.add("")


class _Row(dict):
    """A candidate as a dict with attribute access (``row.mean``)."""

    __getattr__ = dict.__getitem__


def _rows(frame: pd.DataFrame) -> List["_Row"]:
    return [_Row(record) for record in frame.to_dict(orient="records")]


def _natural_sorted(values) -> List[str]:
    return sorted(values, key=lambda v: _natural(str(v)))


def _group_label(keys, fixed: Sequence[str], with_data: bool = True) -> str:
    """``even, gr-dpo, chi=0.5`` for the group key tuple (data, method, *fixed values)."""
    keys = keys if isinstance(keys, tuple) else (keys,)
    data, method, rest = keys[0], keys[1], keys[2:]
    parts = ([data] if with_data else []) + [method]
    parts += [f"{k}={v}" for k, v in zip(fixed, rest)]
    return ", ".join(map(str, parts))


def _selection_heatmaps(report: Report, result: SelectionResult, name: str) -> None:
    """One heat map per group of the statistic over the two options of ``over``.

    Each panel has its own colour scale (DPO-like and IPO-like losses differ by orders of
    magnitude), logarithmic when its positive values span more than a factor 10; the selected
    candidate is framed in red, NaN cells are grey, ineligible ones marked †.
    """
    from matplotlib.colors import LogNorm, Normalize
    from matplotlib.patches import Rectangle

    selection = result.selection
    rows_key, cols_key = selection.over
    candidates = result.candidates
    groups = list(candidates.groupby(result.group, sort=False, dropna=False))
    shown = groups[:MAX_SELECTION_PANELS]
    methods = list(dict.fromkeys(candidates["method"]))
    columns = min(len(methods), 4) if len(shown) >= len(methods) else len(shown)
    fig, axes = _panels(len(shown), columns=max(columns, 1))
    cmap = plt.get_cmap("viridis_r" if selection.goal == "min" else "viridis").copy()
    cmap.set_bad("0.85")
    for ax, (keys, frame) in zip(axes, shown):
        rows_values = _natural_sorted(frame[rows_key].unique())
        cols_values = _natural_sorted(frame[cols_key].unique())
        grid = (frame.pivot_table(index=rows_key, columns=cols_key, values="statistic",
                                  aggfunc="first", dropna=False)
                .reindex(index=rows_values, columns=cols_values))
        matrix = grid.to_numpy(float)
        finite = matrix[np.isfinite(matrix)]
        norm = Normalize()
        if finite.size and finite.min() > 0 and finite.max() > 10 * finite.min():
            norm = LogNorm(finite.min(), finite.max())
        elif finite.size:
            norm = Normalize(finite.min(), finite.max())
        image = ax.imshow(np.ma.masked_invalid(matrix), cmap=cmap, norm=norm, aspect="auto",
                          origin="lower")
        bar = fig.colorbar(image, ax=ax, shrink=0.85)
        bar.set_label(selection.statistic, fontsize="small")
        ax.set_xticks(range(len(cols_values)), cols_values, rotation=30 if len(cols_values) > 5
                      else 0)
        ax.set_yticks(range(len(rows_values)), rows_values)
        ax.set_xlabel(cols_key)
        ax.set_ylabel(rows_key)
        ax.set_title(_group_label(keys, result.fixed), fontsize="medium")
        place = {(row[rows_key], row[cols_key]): row for row in _rows(frame)}
        annotate = len(rows_values) <= MAX_ANNOTATED and len(cols_values) <= MAX_ANNOTATED
        for i, r in enumerate(rows_values):
            for j, c in enumerate(cols_values):
                row = place.get((r, c))
                if row is None:
                    continue
                if row["selected"]:
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False,
                                           edgecolor="red", linewidth=2.5))
                if annotate and math.isfinite(row["statistic"]):
                    mark = "" if row["eligible"] else " †"
                    ax.text(j, i, f"{row['statistic']:.3g}{mark}", ha="center", va="center",
                            fontsize="x-small", color="black",
                            bbox={"boxstyle": "round,pad=0.1", "fc": "white", "alpha": 0.6,
                                  "linewidth": 0})
    if len(groups) > len(shown):
        report.add(f"The figure shows the first {len(shown)} of {len(groups)} groups.", "")
    report.figure(fig, name, f"Final {selection.metric}, {selection.statistic} over seeds, at "
                  f"every ({rows_key}, {cols_key}); red frame: the selected configuration; each "
                  "panel has its own colour scale (logarithmic when its values span more than a "
                  "factor 10); grey: no run with a value; †: not eligible")


def _selection_lines(report: Report, result: SelectionResult, name: str) -> None:
    """The statistic against the one option of ``over``, one line per method (and value of the
    fixed options), one panel per data set and loss family; the selected points starred."""
    selection = result.selection
    key = selection.over[0]
    candidates = result.candidates
    numeric = pd.to_numeric(candidates[key], errors="coerce")
    is_numeric = bool(numeric.notna().all())
    categories = _natural_sorted(candidates[key].unique())
    panels = list(dict.fromkeys(zip(candidates["data"], candidates["method"].map(loss_family))))
    families = {family for _, family in panels}
    fig, axes = _panels(len(panels))
    for ax, (data, family) in zip(axes, panels):
        inside = candidates[(candidates["data"] == data)
                            & (candidates["method"].map(loss_family) == family)]
        for i, (keys, frame) in enumerate(inside.groupby(result.group, sort=False,
                                                         dropna=False)):
            values = frame[key].tolist()
            frame = frame.iloc[sorted(range(len(values)), key=lambda k: _natural(str(values[k])))]
            x = (pd.to_numeric(frame[key]).to_numpy(float) if is_numeric else
                 np.array([categories.index(v) for v in frame[key]], dtype=float))
            sem = frame["sem"].to_numpy(float) if selection.statistic == "mean" else None
            color = f"C{i % 10}"
            ax.errorbar(x, frame["statistic"].to_numpy(float),
                        yerr=None if sem is None else np.nan_to_num(sem), fmt="o-",
                        color=color, capsize=2,
                        label=_group_label(keys, result.fixed, with_data=False))
            chosen = frame[frame["selected"]]
            if not chosen.empty:
                cx = (pd.to_numeric(chosen[key]).to_numpy(float) if is_numeric else
                      np.array([categories.index(v) for v in chosen[key]], dtype=float))
                ax.plot(cx, chosen["statistic"], "*", color=color, markersize=16,
                        markeredgecolor="black")
        if is_numeric:
            positive = numeric[numeric > 0]
            if len(positive) == len(numeric) and positive.max() > 10 * positive.min():
                ax.set_xscale("log")
        else:
            ax.set_xticks(range(len(categories)), categories)
        title = f"{data}, {family}" if len(families) > 1 else data
        _decorate(ax, title, key, f"final {selection.metric} ({selection.statistic})")
        _log_scale_if_wide(ax)
    report.figure(fig, name, f"Final {selection.metric} against {key}: {selection.statistic} "
                  "over seeds" + (" ± SEM" if selection.statistic == "mean" else "")
                  + "; star: the selected value; one panel per data set and loss family")


# --------------------------------------------------------------------------------------------
# Rate experiments: regress the final gap on a parameter


def rate_section(
    report: Report, study: Study, experiment: Experiment, final: pd.DataFrame, metric: str
) -> Dict[str, Any]:
    """Final ``metric`` against the experiment's parameter x, log-log, with fitted slopes.

    ``final`` holds the last record of each of the experiment's runs.
    """
    name, x_name = experiment.name, experiment.x
    prefix = _file_name(name)
    report.add(f"## Experiment `{name}` (rate in `{x_name}`)", "")
    entry: Dict[str, Any] = {"kind": "rate", "x": x_name, "metric": metric}
    if metric not in final.columns:
        report.add(f"The traces have no `{metric}` column: no rate to fit.", "")
        return entry
    items = configs(study, experiment, exclude=[x_name, *experiment.case_keys])
    stats = cell_stats(final, [metric])
    rows, without_x = [], []
    for config in items:
        x = _x_value(study, config.cell, x_name)
        mean, sem, n = _stat(stats, config.cell, metric)
        if x is None:
            without_x.append(config.cell)
        if x is None or n == 0:
            continue
        rows.append({"data": config.data, "method": config.method, "label": config.label,
                     "cell": config.cell,
                     x_name: x, f"{metric}_mean": mean, f"{metric}_sem": sem,
                     f"{metric}_n": n})
    if not rows:
        report.add(f"No cell with a numeric `{x_name}` and a completed run.", "")
        return entry
    cells = pd.DataFrame(rows)
    fits = []
    for (data, label), series in cells.groupby(["data", "label"], sort=False):
        fit = fit_power_law(series[x_name], series[f"{metric}_mean"])
        if fit:
            fits.append({"data": data, "label": label, "slope": fit.slope,
                         "stderr": fit.stderr, "intercept": fit.intercept,
                         "cells": fit.points})

    report.add(
        f"Final `{metric}` (mean ± SEM (n) over seeds) per cell, and the least-squares slope "
        f"of log {metric} on log {x_name} over the cell means, with its standard error.",
        "",
        f"| data | method | {x_name} | {metric} |",
        "| --- | --- | --- | --- |",
    )
    for _, row in cells.iterrows():
        text = _stat_text_values(row[f"{metric}_mean"], row[f"{metric}_sem"],
                                 row[f"{metric}_n"])
        report.add(f"| {row['data']} | {row['label']} | {row[x_name]:g} | {text} |")
    report.add("", "| data | method | slope ± SE | cells |", "| --- | --- | --- | --- |")
    for fit in fits:
        se = f" ± {fit['stderr']:.2g}" if math.isfinite(fit["stderr"]) else ""
        report.add(f"| {fit['data']} | {fit['label']} | {fit['slope']:.4f}{se} | "
                   f"{fit['cells']} |")
    report.add("")
    if without_x:
        report.add(f"Cells without a numeric `{x_name}` (left out): "
                   + ", ".join(f"`{cell}`" for cell in without_x) + ".", "")
    report.csv(cells, f"{prefix}-rate.csv")
    report.csv(pd.DataFrame(fits, columns=["data", "label", "slope", "stderr", "intercept",
                                           "cells"]), f"{prefix}-rate-fits.csv")
    report.add(f"Tables: `{prefix}-rate.csv`, `{prefix}-rate-fits.csv`.", "")
    _rate_figure(report, cells, fits, x_name, metric, f"{prefix}-rate.png")
    entry.update({"cells": cells.to_dict(orient="records"), "fits": fits})
    return entry


def _x_value(study: Study, cell_id: str, x_name: str) -> Optional[float]:
    """The cell's value of x: from the cell's parameters, else from its first task's."""
    cell = study.plan.cells[cell_id]
    value = cell.params.get(x_name)
    if value is None:
        runs = [run for run in study.plan.runs if run.cell == cell_id and x_name in run.params]
        value = runs[0].params[x_name] if runs else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _rate_figure(report, cells, fits, x_name, metric, name) -> None:
    """Cell means ± SEM against x, log-log, with each line's fitted power law."""
    palette = {label: f"C{i % 10}" for i, label in enumerate(dict.fromkeys(cells["label"]))}
    fit_of = {(f["data"], f["label"]): f for f in fits}
    family = cells["method"].map(lambda m: LOSS_FAMILIES.get(m, m))
    panels = list(dict.fromkeys(zip(cells["data"], family)))
    fig, axes = _panels(len(panels))
    for ax, (data, fam) in zip(axes, panels):
        inside = cells[(cells["data"] == data) & (family == fam)]
        for label, series in inside.groupby("label", sort=False):
            x = series[x_name].to_numpy(float)
            fit = fit_of.get((data, label))
            text = label
            if fit:
                law = PowerLaw(fit["slope"], fit["stderr"], fit["intercept"], fit["cells"])
                grid = np.geomspace(x.min(), x.max(), 50)
                ax.plot(grid, law(grid), "--", color=palette[label], linewidth=1)
                text = f"{label}: {law.describe()}"
            ax.errorbar(x, series[f"{metric}_mean"],
                        yerr=np.nan_to_num(series[f"{metric}_sem"].to_numpy(float)),
                        fmt="o", color=palette[label], label=text, capsize=2)
        ax.set_xscale("log")
        ax.set_yscale("log")
        title = f"{data}, {fam} losses" if family.nunique() > 1 else data
        _decorate(ax, title, x_name, f"final {metric}")
    report.figure(fig, name, f"Final {metric} against {x_name} (log-log): cell means ± SEM "
                  "and the least-squares power law")


# --------------------------------------------------------------------------------------------
# Checks of the per-cell aggregates against the traces


def _checks(report: Report, study: Study, final: pd.DataFrame) -> None:
    """Compare cells/<id>.json with the finals recomputed from the traces."""
    if not study.cell_files and not study.cell_file_errors:
        return
    problems = list(study.cell_file_errors)
    checked = 0
    for cell_id, doc in study.cell_files.items():
        finals_doc = doc.get("final", {})
        if not isinstance(finals_doc, dict):
            problems.append(f"cells/{cell_id}.json: `final` is not an object")
            continue
        rows = final[final["cell"] == cell_id]
        for metric, entry in finals_doc.items():
            if metric not in rows.columns or not isinstance(entry, dict):
                continue
            checked += 1
            ours = rows[metric].dropna()
            mean, values = entry.get("mean"), entry.get("values")
            if isinstance(values, list) and len(values) != len(ours):
                problems.append(f"cells/{cell_id}.json: {metric}: {len(values)} values, the "
                                f"traces have {len(ours)}")
            elif isinstance(mean, (int, float)) and len(ours) and not math.isclose(
                mean, ours.mean(), rel_tol=CELL_FILE_RTOL, abs_tol=1e-12
            ):
                problems.append(f"cells/{cell_id}.json: {metric}: mean {mean:.6g}, the traces "
                                f"give {ours.mean():.6g}")
    report.add("## Checks", "")
    if problems:
        report.add(f"{len(problems)} disagreement(s) between `cells/` and the traces "
                   "(the tables use the traces):", "")
        report.add(*(f"- {_cell_text(p)}" for p in problems), "")
    else:
        report.add(f"The {len(study.cell_files)} cell file(s) agree with the traces "
                   f"({checked} final metrics compared).", "")


# --------------------------------------------------------------------------------------------
# Helpers


def _stat(stats: pd.DataFrame, cell: str, metric: str) -> Tuple[float, float, int]:
    if cell not in stats.index or f"{metric}_mean" not in stats.columns:
        return math.nan, math.nan, 0
    row = stats.loc[cell]
    return float(row[f"{metric}_mean"]), float(row[f"{metric}_sem"]), int(row[f"{metric}_n"])


def _stat_text(stats: pd.DataFrame, cell: str, metric: str) -> str:
    return _stat_text_values(*_stat(stats, cell, metric))


def _stat_text_values(mean: float, sem: float, n: int) -> str:
    """``mean ± SEM (n)``: the mean to 4 significant digits, the SEM to 2."""
    if n == 0:
        return "–"
    if not math.isfinite(sem):
        return f"{mean:.4g} ({n})"
    return f"{mean:.4g} ± {sem:.2g} ({n})"


def _panels(count: int, columns: int = 3):
    """A figure with ``count`` panels, ``columns`` to a row; the list of their axes."""
    columns = max(1, min(count, columns))
    rows = math.ceil(count / columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(4.8 * columns, 3.6 * rows), squeeze=False, layout="constrained"
    )
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:count])


def _decorate(ax, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")


def _log_scale_if_wide(ax, ratio: float = 10.0) -> None:
    """Log y axis when the positive values of a panel's lines span more than ``ratio``.

    DPO and IPO losses differ by orders of magnitude: on one linear axis, one family is flat.
    """
    lines = [np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines()]
    if not lines:
        return
    values = np.concatenate(lines)
    positive = values[np.isfinite(values) & (values > 0)]
    if positive.size and positive.max() > ratio * positive.min():
        ax.set_yscale("log")


def _group_index(column: str) -> int:
    """``val_loss[3]`` -> 3."""
    return int(column[column.index("[") + 1 : -1])


def _file_name(name: str) -> str:
    """An experiment name made safe for a file name."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "experiment"


def _cell_text(text: str) -> str:
    """Text for a Markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _jsonable(value):
    """Plain JSON values: NaN and infinities become null, numpy scalars Python numbers."""
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="Report on a study written by `grpo study`: tables, figures, summary.json."
    )
    parser.add_argument("study", type=Path, help="the study directory (holds plan.json)")
    parser.add_argument("--out", type=Path, help="report directory (default: STUDY/report)")
    parser.add_argument("--rate-metric", default="gap",
                        help="final metric regressed on x in rate experiments (default: gap)")
    args = parser.parse_args(argv)
    try:
        path = write_report(args.study, args.out, rate_metric=args.rate_metric)
    except StudyError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except OSError as error:  # writing the report
        where = error.filename or args.out or args.study / "report"
        print(f"error: {where}: cannot write the report: {error.strerror or error}",
              file=sys.stderr)
        return 4
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
