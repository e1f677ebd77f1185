"""Tests of analysis/grpo_traces.py and analysis/study_report.py on studies with known content.

The traces are written here with h5py (no grpo executable needed), with values chosen so that
every number of the report is known exactly: final losses base + 0.1 * seed (mean base + 0.1,
SEM 0.1 / sqrt(3) over seeds 0, 1, 2), certified gaps c * T^-0.5 (slope -0.5).

Run: /usr/bin/python3 -m pytest -q tests/analysis
"""

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

ANALYSIS = Path(__file__).resolve().parents[2] / "analysis"
sys.path.insert(0, str(ANALYSIS))

import grpo_traces  # noqa: E402
import study_report  # noqa: E402

SCRIPT = ANALYSIS / "study_report.py"

#: Records of the grid traces: steps T = iteration + 1 = 1, 10, 100, 1000.
ITERATIONS = np.array([0, 9, 99, 999])
SEEDS = (0, 1, 2)
DATA = ("even", "uneven")
METHODS = ("dpo", "gr-dpo")
#: Final worst-group validation loss of seed 0 per (data, method); seed s adds 0.1 s.
BASE_LOSS = {("even", "dpo"): 0.7, ("even", "gr-dpo"): 0.5,
             ("uneven", "dpo"): 0.9, ("uneven", "gr-dpo"): 0.6}
#: Final max reward error of seed 0; seed s adds 0.01 s.
BASE_REWARD = {("even", "dpo"): 0.08, ("even", "gr-dpo"): 0.04,
               ("uneven", "dpo"): 0.10, ("uneven", "gr-dpo"): 0.05}
#: Rate experiment: iterations T of its cells, and gap = RATE_C * factor(seed) * T^-0.5.
RATE_T = (10, 100, 1000, 10000)
RATE_C = 3.0
RATE_FACTOR = {0: 1.0, 1: 1.5}
SEM3 = 0.1 / math.sqrt(3)  # SEM of (x, x + 0.1, x + 0.2)


def write_trace(path, *, method, seed, iteration, scalars, per_group, status="completed",
                names=(b"young", b"old"), extra=None):
    """A trace with the layout of docs/formats.md and the given record columns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.attrs.update({"kind": "trace", "schema_version": "1.0", "status": status,
                        "method": method, "seed": seed, "iterations": int(iteration[-1]) + 1,
                        "num_groups": len(names), "config": f"method = {method}\n",
                        "train_seconds": 0.01})
        f.create_dataset("iteration", data=np.asarray(iteration, dtype=np.int64),
                         maxshape=(None,))
        for name, values in {**scalars, **per_group}.items():
            values = np.asarray(values, dtype=float)
            f.create_dataset(name, data=values, maxshape=(None,) + values.shape[1:])
        f["groups/names"] = np.array(names)
        for name, values in (extra or {}).items():
            f[name] = values


def grid_columns(data, method, seed):
    """Record columns of one grid run: finals known exactly, gap = 2 T^-0.5."""
    steps = ITERATIONS + 1.0
    loss = BASE_LOSS[data, method] + 0.1 * seed
    reward = BASE_REWARD[data, method] + 0.01 * seed
    ramp = np.linspace(2.0, 1.0, len(ITERATIONS))  # decreasing to 1 at the last record
    if method.startswith("gr-"):
        alpha = np.column_stack([np.linspace(0.5, 0.8, len(steps)),
                                 np.linspace(0.5, 0.2, len(steps))])
    else:
        alpha = np.tile([0.2, 0.8], (len(steps), 1))  # ERM: N_g / N, constant
    val_loss = np.column_stack([loss * ramp, (loss - 0.05) * ramp])
    scalars = {"worst_val_loss": loss * ramp, "max_reward_error": reward * ramp,
               "objective": loss * ramp, "gap": 2.0 * steps ** -0.5,
               "gap_last": 4.0 * steps ** -0.25}
    return scalars, {"alpha": alpha, "val_loss": val_loss, "theta": np.ones((len(steps), 3))}


def make_study(root):
    """A study with a grid experiment (2 data x 2 methods x 3 seeds, one failed and one absent
    run besides) and a rate experiment (4 values of T x 2 seeds)."""
    tasks = [{"id": f"data.{d}", "layer": "data", "kind": "generate", "deps": [],
              "output": f"data/{d}.h5"} for d in DATA]
    cells = []

    def add_run(experiment, cell, data, method, params, seed):
        task = f"train.{experiment}.{len(tasks):05d}"
        tasks.append({"id": task, "layer": "train", "kind": "train", "deps": [f"data.{data}"],
                      "experiment": experiment, "data": data, "method": method,
                      "params": dict(params, **{"iterations": params.get("iterations",
                                                                          "1000")}),
                      "seed": seed, "cell": cell["id"], "output": f"runs/{task}.h5"})
        cell["runs"].append(task)
        return root / "runs" / f"{task}.h5"

    for data in DATA:
        for method in METHODS:
            cell = {"id": f"paper.c{len(cells):04d}", "experiment": "paper", "data": data,
                    "method": method, "params": {"step-theta": "0.1"}, "runs": []}
            cells.append(cell)
            for seed in SEEDS:
                scalars, per_group = grid_columns(data, method, seed)
                write_trace(add_run("paper", cell, data, method, cell["params"], seed),
                            method=method, seed=seed, iteration=ITERATIONS, scalars=scalars,
                            per_group=per_group, extra={"theta_avg": np.zeros(len(ITERATIONS)),
                                                        "alpha_final": per_group["alpha"][-1]})
            if (data, method) == ("uneven", "dpo"):
                failed = add_run("paper", cell, data, method, cell["params"], 3)
                write_trace(failed, method=method, seed=3, iteration=ITERATIONS[:2],
                            scalars={"worst_val_loss": [9.0, 9.0]}, per_group={},
                            status="failed: non-finite loss at iteration 12")
                add_run("paper", cell, data, method, cell["params"], 4)  # never written
    for T in RATE_T:
        cell = {"id": f"rate.c{len(cells):04d}", "experiment": "rate", "data": "even",
                "method": "gr-dpo", "params": {"iterations": str(T)}, "runs": []}
        cells.append(cell)
        for seed, factor in RATE_FACTOR.items():
            iteration = np.array([0, T // 2 - 1, T - 1])
            gap = RATE_C * factor * (iteration + 1.0) ** -0.5
            write_trace(add_run("rate", cell, "even", "gr-dpo", cell["params"], seed),
                        method="gr-dpo", seed=seed, iteration=iteration,
                        scalars={"worst_val_loss": [0.7, 0.6, 0.5], "gap": gap},
                        per_group={"alpha": np.full((3, 2), 0.5)})
    tasks.append({"id": "report", "layer": "report", "kind": "report", "deps": [],
                  "output": "report/report.md"})
    plan = {"format": "grpo-study-plan", "version": 1, "name": "known", "tasks": tasks,
            "cells": cells, "experiments": [{"name": "paper", "kind": "grid", "x": ""},
                                            {"name": "rate", "kind": "rate",
                                             "x": "iterations"}]}
    (root / "plan.json").write_text(json.dumps(plan, indent=1))

    # Per-cell aggregates: one agreeing with the traces, one not, one garbled.
    (root / "cells").mkdir()
    values = [BASE_LOSS["even", "dpo"] + 0.1 * s for s in SEEDS]
    agree = {"cell": "paper.c0000", "final": {"worst_val_loss": {
        "values": values, "mean": float(np.mean(values)), "sem": SEM3}}}
    (root / "cells" / "paper.c0000.json").write_text(json.dumps(agree))
    disagree = {"cell": "paper.c0001", "final": {"worst_val_loss": {
        "values": [1.0, 1.0, 1.0], "mean": 1.0, "sem": 0.0}}}
    (root / "cells" / "paper.c0001.json").write_text(json.dumps(disagree))
    (root / "cells" / "paper.c0002.json").write_text("{not json")
    return root


def run_report(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return make_study(tmp_path_factory.mktemp("study"))


@pytest.fixture(scope="module")
def report(study):
    """The report directory of the known study, written by the command line."""
    result = run_report(study)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.strip() == str(study / "report" / "report.md")
    return study / "report"


@pytest.fixture(scope="module")
def summary(report):
    return json.loads((report / "summary.json").read_text())


# --- the loader --------------------------------------------------------------------------


def test_load_trace_has_one_row_per_record_and_a_column_per_group(study):
    frame = grpo_traces.load_trace(next((study / "runs").glob("*.h5")))
    assert list(frame.columns[:4]) == ["trace", "method", "seed", "iteration"]
    assert frame["iteration"].tolist() == ITERATIONS.tolist()
    assert {"worst_val_loss", "gap", "alpha[0]", "alpha[1]", "val_loss[1]"} <= set(frame)
    # End-of-run arrays are not records, even with R entries; theta only on request.
    assert not {"theta_avg", "alpha_final", "theta[0]"} & set(frame)
    with_theta = grpo_traces.load_trace(next((study / "runs").glob("*.h5")), theta=True)
    assert {"theta[0]", "theta[2]"} <= set(with_theta)


def test_read_trace_gives_group_names_and_status(study):
    trace = grpo_traces.read_trace(next((study / "runs").glob("*.h5")))
    assert trace.group_names == ["young", "old"]
    assert trace.completed and trace.attrs["method"] in METHODS


def test_read_trace_names_the_file_of_a_garbled_trace(tmp_path):
    path = tmp_path / "garbled.h5"
    path.write_bytes(b"not hdf5 at all")
    with pytest.raises(grpo_traces.TraceError, match="garbled.h5: cannot read"):
        grpo_traces.read_trace(path)


def test_load_study_is_tidy_with_identity_columns(study):
    frame = grpo_traces.load_study(study)
    completed = len(DATA) * len(METHODS) * len(SEEDS) + len(RATE_T) * len(RATE_FACTOR)
    assert frame["trace"].nunique() == completed
    identity = ["experiment", "data", "method", "step-theta", "iterations", "seed", "task",
                "cell", "trace", "iteration"]
    assert list(frame.columns[: len(identity)]) == identity
    paper = frame[frame["experiment"] == "paper"]
    assert len(paper) == len(DATA) * len(METHODS) * len(SEEDS) * len(ITERATIONS)
    assert set(paper["step-theta"]) == {"0.1"}
    assert not (frame["seed"] >= 3).any()  # the failed and the absent run


def test_finals_keeps_the_last_record_of_each_run(study):
    frame = grpo_traces.load_study(study)
    last = grpo_traces.finals(frame.sample(frac=1.0, random_state=1))  # order must not matter
    assert len(last) == frame["trace"].nunique()
    paper = last[last["experiment"] == "paper"].set_index(["data", "method", "seed"])
    for (data, method), base in BASE_LOSS.items():
        for seed in SEEDS:
            row = paper.loc[(data, method, seed)]
            assert row["iteration"] == ITERATIONS[-1]
            assert row["worst_val_loss"] == pytest.approx(base + 0.1 * seed, abs=1e-15)


def test_read_study_lists_failed_and_absent_runs(study):
    missing = {m.reason for m in grpo_traces.read_study(study).missing}
    assert missing == {"status: failed: non-finite loss at iteration 12", "no such file"}


# --- statistics --------------------------------------------------------------------------


def test_fit_power_law_recovers_exponent_and_standard_error():
    x = np.array([1.0, 10.0, 100.0, 1000.0])
    exact = study_report.fit_power_law(x, 5.0 * x**-0.5)
    assert exact.slope == pytest.approx(-0.5, abs=1e-12)
    assert exact.stderr == pytest.approx(0.0, abs=1e-12)
    # log10 y = 1, 0, 0, -2 over log10 x = 0..3: slope -0.9, residuals -0.1 -0.2 0.7 -0.4
    noisy = study_report.fit_power_law(x, 10.0 ** np.array([1.0, 0.0, 0.0, -2.0]))
    assert noisy.slope == pytest.approx(-0.9, abs=1e-12)
    assert noisy.stderr == pytest.approx(math.sqrt(0.70 / 2 / 5), abs=1e-12)
    assert math.isnan(study_report.fit_power_law(x[:2], x[:2]).stderr)
    assert study_report.fit_power_law(x[:1], x[:1]) is None


# --- the report --------------------------------------------------------------------------


def test_grid_csv_has_exact_means_sems_and_counts(report):
    table = pd.read_csv(report / "paper-finals.csv").set_index(["data", "method"])
    for (data, method), base in BASE_LOSS.items():
        row = table.loc[(data, method)]
        assert row["worst_val_loss_mean"] == pytest.approx(base + 0.1, abs=1e-12)
        assert row["worst_val_loss_sem"] == pytest.approx(SEM3, abs=1e-12)
        assert row["worst_val_loss_n"] == 3
        assert row["max_reward_error_mean"] == pytest.approx(BASE_REWARD[data, method] + 0.01,
                                                             abs=1e-12)
        assert row["max_reward_error_sem"] == pytest.approx(SEM3 / 10, abs=1e-12)
        assert row["gap_mean"] == pytest.approx(2.0 / math.sqrt(1000), abs=1e-12)


def test_grid_tables_in_markdown(report):
    text = (report / "report.md").read_text()
    assert "| method | even | uneven |" in text
    # mean to 4 significant digits, SEM to 2 (0.1 / sqrt(3) = 0.0577...), n
    assert "| dpo | 0.8 ± 0.058 (3) | 1 ± 0.058 (3) |" in text
    assert "| gr-dpo | 0.6 ± 0.058 (3) | 0.7 ± 0.058 (3) |" in text
    assert "| dpo | 0.09 ± 0.0058 (3) | 0.11 ± 0.0058 (3) |" in text  # max reward error


def test_grid_gap_slopes(summary):
    slopes = summary["experiments"]["paper"]["gap_slopes"]
    assert len(slopes) == 2 * len(DATA) * len(METHODS)
    for entry in slopes:
        expected = -0.5 if entry["curve"] == "gap" else -0.25
        assert entry["slope"] == pytest.approx(expected, abs=1e-9)


def test_rate_slope_is_minus_one_half(report, summary):
    rate = summary["experiments"]["rate"]
    assert rate["x"] == "iterations" and rate["metric"] == "gap"
    (fit,) = rate["fits"]
    assert fit["slope"] == pytest.approx(-0.5, abs=1e-9)
    assert fit["stderr"] == pytest.approx(0.0, abs=1e-9)
    assert fit["cells"] == len(RATE_T)
    cells = pd.read_csv(report / "rate-rate.csv").set_index("iterations")
    for T in RATE_T:
        mean = RATE_C * np.mean(list(RATE_FACTOR.values())) * T**-0.5
        assert cells.loc[T, "gap_mean"] == pytest.approx(mean, rel=1e-12)
        assert cells.loc[T, "gap_n"] == len(RATE_FACTOR)
    assert "| even | gr-dpo | -0.5000 ± " in (report / "report.md").read_text()


def test_summary_has_headline_numbers(summary):
    finals = {(row["data"], row["method"]): row
              for row in summary["experiments"]["paper"]["finals"]}
    assert finals["uneven", "gr-dpo"]["worst_val_loss_mean"] == pytest.approx(0.7, abs=1e-12)
    assert finals["uneven", "gr-dpo"]["worst_val_loss_sem"] == pytest.approx(SEM3, abs=1e-12)
    assert summary["runs"]["planned"] == summary["runs"]["completed"] + 2


@pytest.mark.parametrize("name", ["paper-worst-val-loss.png", "paper-reward-error.png",
                                  "paper-alpha.png", "paper-group-val-loss.png",
                                  "paper-gap.png", "rate-rate.png"])
def test_figures_are_written(report, name):
    data = (report / name).read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 1000
    assert f"]({name})" in (report / "report.md").read_text()


def test_failed_and_absent_traces_are_reported_missing(report, summary):
    text = (report / "report.md").read_text()
    assert "## Missing runs" in text
    assert "failed: non-finite loss at iteration 12" in text
    assert "no such file" in text
    assert {m["reason"] for m in summary["runs"]["missing"]} == {
        "status: failed: non-finite loss at iteration 12", "no such file"}


def test_cell_files_are_checked_against_the_traces(report):
    text = (report / "report.md").read_text()
    checks = text[text.index("## Checks"):]
    assert "paper.c0001.json: worst_val_loss: mean 1" in checks
    assert "paper.c0002.json" in checks  # garbled
    assert "paper.c0000" not in checks  # agrees


def test_out_option_and_traces_without_optional_columns(tmp_path):
    """Only `iteration` and `worst_val_loss` in the traces, no cells/: still a report."""
    root = tmp_path / "bare"
    tasks = []
    for seed in (0, 1):
        tasks.append({"id": f"t{seed}", "layer": "train", "experiment": "e", "data": "d",
                      "method": "dpo", "params": {}, "seed": seed, "cell": "c",
                      "output": f"runs/t{seed}.h5"})
        write_trace(root / "runs" / f"t{seed}.h5", method="dpo", seed=seed,
                    iteration=[0, 1], scalars={"worst_val_loss": [1.0, 0.5 + seed]},
                    per_group={})
    (root / "plan.json").write_text(json.dumps(
        {"format": "grpo-study-plan", "version": 1, "tasks": tasks}))
    result = run_report(root, "--out", tmp_path / "elsewhere")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "elsewhere" / "report.md").read_text()
    assert "| dpo | 1 ± 0.5 (2) |" in text
    assert (tmp_path / "elsewhere" / "e-worst-val-loss.png").stat().st_size > 0
    assert not (tmp_path / "elsewhere" / "e-gap.png").exists()


# --- MLP runs: test metrics, per-group accuracies, no theta ------------------------------


def make_mlp_study(root):
    """A grid experiment of MLP-like traces (grpo train --policy mlp): 2 methods x 3 seeds on
    one data set of 3 groups, 3 records each; final worst test loss 0.6 + 0.1 seed (ipo) and
    0.4 + 0.1 seed (gr-ipo), worst test reward accuracy 0.5 + 0.1 seed (ipo) and 0.7 + 0.1 seed
    (gr-ipo). SFT-stage arrays have R entries, like records, but are not records."""
    iteration = np.array([0, 10, 19])
    names = (b"Nigeria", b"Egypt", b"Japan")
    tasks, cells = [], []
    for method, loss, accuracy in (("ipo", 0.6, 0.5), ("gr-ipo", 0.4, 0.7)):
        cell = {"id": f"mlp.c{len(cells):04d}", "experiment": "mlp", "data": "goqa",
                "method": method, "params": {}, "runs": []}
        cells.append(cell)
        for seed in SEEDS:
            task = f"train.mlp.{len(tasks):05d}"
            tasks.append({"id": task, "layer": "train", "kind": "train", "deps": ["data.goqa"],
                          "experiment": "mlp", "data": "goqa", "method": method,
                          "params": {}, "seed": seed, "cell": cell["id"],
                          "output": f"runs/{task}.h5"})
            cell["runs"].append(task)
            ramp = np.array([2.0, 1.5, 1.0])
            robust = method.startswith("gr-")
            alpha = np.array([[1 / 3] * 3, [0.3, 0.3, 0.4], [0.2, 0.3, 0.5]]) if robust \
                else np.full((3, 3), 1 / 3)
            write_trace(root / "runs" / f"{task}.h5", method=method, seed=seed,
                        iteration=iteration, names=names,
                        scalars={"worst_val_loss": (loss + 0.1 * seed + 0.05) * ramp,
                                 "worst_test_loss": (loss + 0.1 * seed) * ramp,
                                 "worst_test_reward_accuracy": (accuracy + 0.1 * seed) / ramp,
                                 "average_test_reward_accuracy": np.full(3, 0.8),
                                 "sft_worst_test_loss": np.full(3, 7.0)},
                        per_group={"alpha": alpha, "val_loss": np.full((3, 3), loss),
                                   "test_reward_accuracy": np.full((3, 3), accuracy),
                                   "test_logprob_accuracy": np.full((3, 3), 0.5)},
                        extra={"theta_final": np.zeros(7), "alpha_final": alpha[-1],
                               "sft_test_reward_accuracy": np.full(3, 0.25)})
    tasks.append({"id": "data.goqa", "layer": "data", "kind": "convert", "deps": [],
                  "output": "data/goqa.h5", "source": "globalopinionqa",
                  "options": [["input", "/x.json"]], "data": "goqa"})
    plan = {"format": "grpo-study-plan", "version": 1, "name": "mlp", "tasks": tasks,
            "cells": cells, "experiments": [{"name": "mlp", "kind": "grid", "x": ""}]}
    (root / "plan.json").write_text(json.dumps(plan, indent=1))
    return root


def test_mlp_traces_load_without_theta_and_sft_arrays(tmp_path):
    frame = grpo_traces.load_study(make_mlp_study(tmp_path))
    assert len(frame) == 2 * len(SEEDS) * 3
    assert {"worst_test_loss", "worst_test_reward_accuracy", "test_reward_accuracy[2]",
            "test_logprob_accuracy[0]", "alpha[2]"} <= set(frame)
    assert not [c for c in frame.columns if c.startswith(("sft_", "theta"))]


def test_mlp_report_tabulates_worst_group_test_metrics(tmp_path):
    root = make_mlp_study(tmp_path)
    result = run_report(root)
    assert result.returncode == 0, result.stderr
    text = (root / "report" / "report.md").read_text()
    loss = text[text.index("### Final worst-group test loss"):]
    assert "| ipo | 0.7 ± 0.058 (3) |" in loss.split("###")[1]
    assert "| gr-ipo | 0.5 ± 0.058 (3) |" in loss.split("###")[1]
    accuracy = text[text.index("### Final worst-group test reward accuracy"):]
    assert "| ipo | 0.6 ± 0.058 (3) |" in accuracy.split("###")[1]
    assert "| gr-ipo | 0.8 ± 0.058 (3) |" in accuracy.split("###")[1]
    table = pd.read_csv(root / "report" / "mlp-finals.csv").set_index("method")
    assert table.loc["gr-ipo", "worst_test_reward_accuracy_mean"] == pytest.approx(0.8)
    assert table.loc["ipo", "worst_test_loss_sem"] == pytest.approx(SEM3)
    assert "Final max reward error" not in text and "gap" not in table.columns
    # The robust method's weights move: its alpha trajectories are drawn, ERM's are not.
    assert (root / "report" / "mlp-alpha.png").read_bytes().startswith(b"\x89PNG")
    assert "](mlp-alpha.png)" in text


# --- selection on validation ([experiment.selection]) ------------------------------------

#: The 3 x 3 grid of the sweep: step-theta (rows) x step-alpha (columns).
SWEEP_THETA = ("0.01", "0.1", "1")
SWEEP_ALPHA = ("0.001", "0.01", "0.1")
#: Known best (step-theta, step-alpha) index per method, and the scale of its loss (IPO's
#: losses are ~40 times DPO's, as in the paper's runs).
SWEEP_BEST = {"dpo": (2, 0), "gr-dpo": (1, 2), "ipo": (0, 1)}
SWEEP_SCALE = {"dpo": 0.5, "gr-dpo": 0.5, "ipo": 20.0}


def sweep_loss(data, method, i, j, seed):
    """Final worst val loss: the method's scale at its best point, growing quadratically away
    from it (data set "hard" adds 0.1 everywhere), plus 0.01 seed. Seed noise is the same at
    every candidate, so the best mean is the best point."""
    bi, bj = SWEEP_BEST[method]
    base = SWEEP_SCALE[method] * (1.0 + 0.3 * (i - bi) ** 2 + 0.2 * (j - bj) ** 2)
    return base + (0.1 if data == "hard" else 0.0) + 0.01 * seed


def make_sweep(root, *, selection, methods=("dpo", "gr-dpo", "ipo"), data_sets=("easy", "hard"),
               loss=sweep_loss, skip=frozenset(), chi=None):
    """A grid experiment `sweep` over SWEEP_THETA x SWEEP_ALPHA (x chi, if given) x SEEDS; the
    final worst val loss is `loss(data, method, i, j, seed)` (plus chi where given), worst
    train loss that minus 0.05, max reward error 0.01 (i + 1) + 0.001 seed. Runs whose
    (data, method, i, j, seed) is in `skip` are planned but never written."""
    tasks, cells = [], []
    iteration = np.array([0, 4, 9])
    ramp = np.array([3.0, 2.0, 1.0])
    for data in data_sets:
        for method in methods:
            for c in (chi or [None]):
                for i, theta in enumerate(SWEEP_THETA):
                    for j, alpha in enumerate(SWEEP_ALPHA):
                        params = {"step-alpha": alpha, "step-theta": theta}
                        if c is not None:
                            params["chi"] = c
                        cell = {"id": f"sweep.c{len(cells):04d}", "experiment": "sweep",
                                "data": data, "method": method, "params": params, "runs": []}
                        cells.append(cell)
                        for seed in SEEDS:
                            task = f"train.sweep.{len(tasks):05d}"
                            tasks.append({"id": task, "layer": "train", "kind": "train",
                                          "experiment": "sweep", "data": data,
                                          "method": method, "params": params, "seed": seed,
                                          "cell": cell["id"], "output": f"runs/{task}.h5"})
                            cell["runs"].append(task)
                            if (data, method, i, j, seed) in skip:
                                continue
                            final = loss(data, method, i, j, seed) + float(c or 0)
                            write_trace(root / "runs" / f"{task}.h5", method=method, seed=seed,
                                        iteration=iteration,
                                        scalars={"worst_val_loss": final * ramp,
                                                 "worst_train_loss": (final - 0.05) * ramp,
                                                 "max_reward_error": np.full(
                                                     3, 0.01 * (i + 1) + 0.001 * seed)},
                                        per_group={"val_loss": np.column_stack(
                                            [final * ramp, final * ramp - 0.01])})
    experiment = {"name": "sweep", "kind": "grid", "x": "", "case_keys": []}
    if selection is not None:
        experiment["selection"] = selection
    plan = {"format": "grpo-study-plan", "version": 1, "name": "sweep", "tasks": tasks,
            "cells": cells, "experiments": [experiment]}
    (root / "plan.json").write_text(json.dumps(plan, indent=1))
    return root


SELECT_MIN = {"metric": "worst_val_loss", "goal": "min", "over": ["step-theta", "step-alpha"],
              "statistic": "mean"}


def selected_of(root):
    """(data, method) -> (step-theta, step-alpha) of the report's selected CSV."""
    table = pd.read_csv(root / "report" / "sweep-selected.csv", dtype=str)
    return {(r["data"], r["method"]): (r["step-theta"], r["step-alpha"])
            for _, r in table.iterrows()}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = make_sweep(tmp_path_factory.mktemp("sweep"), selection=SELECT_MIN)
    result = run_report(root)
    assert result.returncode == 0, result.stderr
    return root


def test_selection_plan_field_is_read(sweep):
    experiment = grpo_traces.read_plan(sweep / "plan.json").experiments["sweep"]
    assert experiment.selection == grpo_traces.Selection(
        "worst_val_loss", "min", ("step-theta", "step-alpha"), "mean")


def test_selection_finds_the_known_best_point_per_method_and_data_set(sweep):
    want = {(data, method): (SWEEP_THETA[i], SWEEP_ALPHA[j])
            for data in ("easy", "hard") for method, (i, j) in SWEEP_BEST.items()}
    assert selected_of(sweep) == want
    assert len(set(want.values())) == 3  # the methods' best points differ


def test_selection_tables_in_markdown(sweep):
    text = (sweep / "report" / "report.md").read_text()
    section = text[text.index("### Selection on validation"):]
    # Best-configuration table: selected values, the metric and the other final metrics.
    # gr-dpo on "hard": 0.5 + 0.1 + 0.01 seed -> 0.61 ± 0.0058 (3); train loss 0.05 less;
    # max reward error 0.01 (i + 1) + 0.001 seed with i = 1 -> 0.021 ± 0.00058.
    assert ("| data | method | step-theta | step-alpha | worst_val_loss (selected on) | "
            "worst_train_loss | max_reward_error |") in section
    assert "| hard | gr-dpo | 0.1 | 0.1 | 0.61 ± 0.0058 (3) | 0.56 ± 0.0058 (3) | " \
        "0.021 ± 0.00058 (3) |" in section
    assert "| easy | ipo | 0.01 | 0.01 | 20.01 ± 0.0058 (3) |" in section
    # The metric at every candidate: a 3 x 3 matrix per group, the selected one in bold.
    block = section[section.index("**easy, dpo**"):].split("\n\n")[1].splitlines()
    assert block[0] == "| step-theta \\ step-alpha | 0.001 | 0.01 | 0.1 |"
    # dpo's best is (1, 0.001): 0.5 + 0.01; (0.01, 0.1): 0.5 (1 + 1.2 + 0.8) + 0.01 = 1.51
    assert block[2] == ("| 0.01 | 1.11 ± 0.0058 (3) | 1.21 ± 0.0058 (3) | "
                        "1.51 ± 0.0058 (3) |")
    assert block[4] == "| 1 | **0.51 ± 0.0058 (3)** | 0.61 ± 0.0058 (3) | 0.91 ± 0.0058 (3) |"
    assert section.count("**0.") + section.count("**20.") == 6  # one bold per group


def test_selection_candidates_csv_has_every_cell(sweep):
    candidates = pd.read_csv(sweep / "report" / "sweep-candidates.csv", dtype={
        "step-theta": str, "step-alpha": str})
    assert len(candidates) == 2 * 3 * 9
    assert candidates["n"].eq(3).all() and candidates["eligible"].all()
    for _, row in candidates.iterrows():
        i, j = SWEEP_THETA.index(row["step-theta"]), SWEEP_ALPHA.index(row["step-alpha"])
        assert row["mean"] == pytest.approx(sweep_loss(row["data"], row["method"], i, j, 1))
    assert candidates["selected"].sum() == 6


def test_selection_figures_and_summary(sweep):
    report = sweep / "report"
    assert (report / "sweep-selection.png").read_bytes().startswith(b"\x89PNG")
    summary = json.loads((report / "summary.json").read_text())
    entry = summary["experiments"]["sweep"]["selection"]
    assert entry["metric"] == "worst_val_loss" and entry["goal"] == "min"
    picked = {(r["data"], r["method"]): r["step-theta"] for r in entry["selected"]}
    assert picked[("easy", "ipo")] == "0.01" and picked[("hard", "dpo")] == "1"
    # The curves show the selected configurations, one panel per data set and loss family.
    text = (report / "report.md").read_text()
    curves = text[text.index("### Final worst-group validation loss"):].split("###")[1]
    assert "| dpo | 0.51 ± 0.0058 (3) | 0.61 ± 0.0058 (3) |" in curves
    assert "| ipo | 20.01 ± 0.0058 (3) | 20.11 ± 0.0058 (3) |" in curves


def selection_of(root, **selection):
    """The SelectionResult of the sweep study at `root` under the given selection."""
    study = grpo_traces.read_study(root)
    experiment = dataclasses.replace(
        study.plan.experiments["sweep"],
        selection=grpo_traces.Selection(**{**SELECT_MIN, **selection,
                                           "over": tuple(selection.get("over",
                                                                       SELECT_MIN["over"]))}))
    return study_report.select(study, experiment, grpo_traces.finals(study.runs))


def picked(result):
    return {(r["data"], r["method"]): (r["step-theta"], r["step-alpha"])
            for _, r in result.selected.iterrows()}


def test_selection_goal_max_picks_the_largest(sweep):
    # The loss grows with the distance from the best point: the farthest corner is largest.
    result = selection_of(sweep, goal="max")
    assert picked(result)[("easy", "dpo")] == ("0.01", "0.1")  # from (2, 0): corner (0, 2)
    assert picked(result)[("easy", "gr-dpo")] == ("0.01", "0.001")  # from (1, 2): (0, 0)
    # gr-dpo ties at (0, 0) and (2, 0): the smaller step-theta wins (the first key of over).
    # ipo: from (0, 1), (2, 0) and (2, 2) tie at 0.3 * 4 + 0.2 * 1.
    assert result.selected.set_index(["data", "method"]).loc[("hard", "ipo"), "statistic"] \
        == pytest.approx(20.0 * (1 + 1.2 + 0.2) + 0.1 + 0.01)


def test_selection_goal_max_tie_goes_to_the_first_natural_values(sweep):
    result = selection_of(sweep, goal="max")
    # ipo's largest losses tie at (1, 0.001) and (1, 0.1): the smaller step-alpha wins.
    assert picked(result)[("hard", "ipo")] == ("1", "0.001")


def test_selection_ties_use_numeric_not_string_order(tmp_path):
    # A loss that ignores step-alpha (as DPO's does) ties every step-alpha; the values 0.001,
    # 0.01 and 0.1 sort alike as text and as numbers, so step-theta gets the test: it ties too,
    # and its values are relabelled so that text order ("10" < "9") differs from numbers.
    global SWEEP_THETA
    saved = SWEEP_THETA
    SWEEP_THETA = ("9", "10", "100")
    try:
        root = make_sweep(tmp_path, selection=SELECT_MIN, methods=("dpo",), data_sets=("d",),
                          loss=lambda data, method, i, j, seed: 1.0 + 0.01 * seed)
        result = selection_of(root)
    finally:
        SWEEP_THETA = saved
    assert picked(result) == {("d", "dpo"): ("9", "0.001")}
    assert len(result.candidates) == 9 and result.candidates["statistic"].nunique() == 1


def test_selection_median_and_one_key(sweep):
    result = selection_of(sweep, statistic="median", over=["step-alpha"])
    # step-theta is not selected over: one selection per value of it.
    assert result.fixed == ["step-theta"]
    assert len(result.selected) == 2 * 3 * 3
    best = result.selected.set_index(["data", "method", "step-theta"])
    assert best.loc[("easy", "gr-dpo", "0.01"), "step-alpha"] == "0.1"
    assert best.loc[("easy", "dpo", "1"), "statistic"] == pytest.approx(0.51)  # median seed 1


def test_selection_skips_candidates_that_lost_seeds(tmp_path):
    # dpo's best point lost seed 2 (its mean over seeds 0 and 1 would be lower still): the
    # next best, (1, 0.01), is selected, and the incomplete candidate is marked.
    root = make_sweep(tmp_path, selection=SELECT_MIN, methods=("dpo",), data_sets=("d",),
                      skip={("d", "dpo", 2, 0, 2)})
    result = run_report(root)
    assert result.returncode == 0, result.stderr
    assert selected_of(root) == {("d", "dpo"): ("1", "0.01")}
    text = (root / "report" / "report.md").read_text()
    assert "| 1 | 0.505 ± 0.005 (2) † | **0.61 ± 0.0058 (3)** | 0.91 ± 0.0058 (3) |" in text


def test_selection_per_value_of_a_fixed_option(tmp_path):
    root = make_sweep(tmp_path, selection=SELECT_MIN, methods=("dpo", "gr-dpo"),
                      data_sets=("d",), chi=["0", "0.5"])
    result = run_report(root)
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(root / "report" / "sweep-selected.csv", dtype=str)
    assert sorted(zip(table["method"], table["chi"], table["step-theta"],
                      table["step-alpha"])) == [("dpo", "0", "1", "0.001"),
                                                ("dpo", "0.5", "1", "0.001"),
                                                ("gr-dpo", "0", "0.1", "0.1"),
                                                ("gr-dpo", "0.5", "0.1", "0.1")]
    text = (root / "report" / "report.md").read_text()
    assert "**d, gr-dpo, chi=0.5**" in text
    assert "| d | dpo | 0.5 | 1 | 0.001 | 1.01 ± 0.0058 (3) |" in text


def test_selection_without_its_metric_in_the_traces(tmp_path):
    root = make_sweep(tmp_path, selection={**SELECT_MIN, "metric": "gap"}, methods=("dpo",),
                      data_sets=("d",))
    result = run_report(root)
    assert result.returncode == 0, result.stderr
    assert "The traces have no `gap` column: nothing selected." in \
        (root / "report" / "report.md").read_text()


def test_selection_over_one_key_draws_lines(tmp_path):
    root = make_sweep(tmp_path, selection={**SELECT_MIN, "over": ["step-theta"]},
                      methods=("dpo", "ipo"), data_sets=("d",))
    result = run_report(root)
    assert result.returncode == 0, result.stderr
    assert (root / "report" / "sweep-selection.png").read_bytes().startswith(b"\x89PNG")
    text = (root / "report" / "report.md").read_text()
    assert "| method | step-theta=0.01 | step-theta=0.1 | step-theta=1 |" in text


def test_loss_figures_never_mix_families():
    Config = study_report.Config
    items = [Config("a", "d", "dpo", (), "dpo"), Config("b", "d", "ipo", (), "ipo"),
             Config("c", "e", "gr-dpo", (), "gr-dpo"), Config("f", "e", "gr-ipo", (), "gr-ipo")]
    panels = study_report._family_panels(items, ["d", "e"])
    assert [(d, f) for d, f, _ in panels] == [("d", "DPO-like"), ("d", "IPO-like"),
                                              ("e", "DPO-like"), ("e", "IPO-like")]
    assert panels[1][2] == "d, IPO-like losses"
    # One family: one panel a data set, titled by the data set.
    assert study_report._family_panels(items[:1], ["d"]) == [("d", "DPO-like", "d")]


@pytest.mark.parametrize("selection, field", [
    ({**SELECT_MIN, "goal": "down"}, "selection.goal"),
    ({**SELECT_MIN, "statistic": "mode"}, "selection.statistic"),
    ({**SELECT_MIN, "over": []}, "selection.over"),
    ({**SELECT_MIN, "over": ["seed"]}, "selection.over"),
    ({**SELECT_MIN, "metric": 3}, "selection.metric"),
    ("worst_val_loss", "selection"),
])
def test_bad_selection_in_plan_exits_2_with_one_line(tmp_path, selection, field):
    root = make_sweep(tmp_path, selection=selection, methods=("dpo",), data_sets=("d",))
    result = run_report(root)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert f"experiments[0].{field}" in lines[0]


# --- bad input: one line on stderr, the exit code of its class ---------------------------


BAD_PLANS = {
    "absent": None,
    "not JSON": "{\"format\": ",
    "wrong format": json.dumps({"format": "something-else", "version": 1, "tasks": []}),
    "unknown version": json.dumps({"format": "grpo-study-plan", "version": 7, "tasks": []}),
    "bad seed": json.dumps({"format": "grpo-study-plan", "version": 1, "tasks": [
        {"id": "t", "layer": "train", "experiment": "e", "data": "d", "method": "dpo",
         "seed": "zero", "output": "runs/t.h5"}]}),
    "no output": json.dumps({"format": "grpo-study-plan", "version": 1, "tasks": [
        {"id": "t", "layer": "train", "experiment": "e", "data": "d", "method": "dpo",
         "seed": 0}]}),
}


@pytest.mark.parametrize("case", sorted(BAD_PLANS))
def test_bad_plan_exits_2_with_one_line(tmp_path, case):
    if BAD_PLANS[case] is not None:
        (tmp_path / "plan.json").write_text(BAD_PLANS[case])
    result = run_report(tmp_path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert str(tmp_path / "plan.json") in lines[0]
    assert result.stdout == ""


def test_study_without_completed_trace_exits_3_with_one_line(tmp_path):
    task = {"id": "t", "layer": "train", "experiment": "e", "data": "d", "method": "dpo",
            "params": {}, "seed": 0, "output": "runs/t.h5"}
    (tmp_path / "plan.json").write_text(json.dumps(
        {"format": "grpo-study-plan", "version": 1, "tasks": [task]}))
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "t.h5").write_bytes(b"garbage")
    result = run_report(tmp_path)
    assert result.returncode == 3
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "runs/t.h5" in lines[0]
    assert not (tmp_path / "report").exists()
