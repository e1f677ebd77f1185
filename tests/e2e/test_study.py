"""grpo study on the local executor: a tiny study end to end, a failing task and `resume`,
study-file errors that name their key, and hostile names and values that run nothing."""
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "analysis"))
import grpo_traces  # noqa: E402  (the analysis module; traces may live in packs)

GRPO = os.environ.get("GRPO_BIN")
pytestmark = pytest.mark.skipif(not GRPO, reason="GRPO_BIN is not set (run through ctest)")

TINY = """
[study]
name = "tiny"
output = "{out}"
seeds = 2

[data.small]
generate = {{ preset = "even-imbalanced", train-size = 60, val-size = 100, test-size = 100 }}

[[experiment]]
name = "grid"
methods = ["dpo", "gr-dpo"]
[experiment.options]
iterations = 120
trace-every = 40
gap = true
[experiment.grid]
step-theta = [0.1, 0.5]
[experiment.selection]
metric = "worst_val_loss"
goal = "min"
over = ["step-theta"]

[[experiment]]
name = "rate"
kind = "rate"
x = "iterations"
methods = ["gr-ipo"]
seeds = [3, 4]
[experiment.options]
sampling = "paper_single"
projection-radius = 2
gap = true
beta = 0.5
[[experiment.cases]]
iterations = 100
step-theta = 0.1
[[experiment.cases]]
iterations = 400
step-theta = 0.05
"""


def study(*args, cwd=None, check=None):
    proc = subprocess.run([GRPO, "study", *map(str, args)], capture_output=True, text=True,
                          timeout=600, cwd=cwd)
    if check is not None and proc.returncode != check:
        raise AssertionError(f"grpo study {args}: exit {proc.returncode}\n{proc.stdout}\n"
                             f"{proc.stderr}")
    return proc


def write(path, text):
    path.write_text(text)
    return path


def numeric_datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        for name, obj in f.items():
            if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "fi" and name != "wall_seconds":
                out[name] = obj[()]
    return out


def run_datasets(study, task):
    """numeric_datasets of a study's run, wherever its trace lives (its file or a pack)."""
    _, arrays = grpo_traces.run_arrays(study, task)
    return {name: value for name, value in arrays.items() if name != "wall_seconds"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    out = root / "out"
    spec = write(root / "tiny.toml", TINY.format(out=out))
    proc = study("run", spec, check=0)
    return spec, out, proc


def test_tiny_study_runs_every_layer(tiny):
    spec, out, proc = tiny
    assert f"report: {out}/report/report.md" in proc.stdout
    plan = json.loads((out / "plan.json").read_text())
    layers = [t["layer"] for t in plan["tasks"]]
    assert layers.count("data") == 1 and layers.count("train") == 12
    assert layers.count("aggregate") == 6 and layers.count("report") == 1
    for task in plan["tasks"]:
        assert (out / "tasks" / f"{task['id']}.done").exists(), task["id"]
        assert (out / "logs" / f"{task['id']}.log").exists(), task["id"]
    for path in ["report/report.md", "report/summary.json", "report/grid-gap.png",
                 "report/rate-rate.png", "study.toml"]:
        assert (out / path).stat().st_size > 0, path
    status = study("status", out, check=0)
    assert "complete" in status.stdout
    trains = sum(1 for t in json.loads((out / "plan.json").read_text())["tasks"]
                 if t["layer"] == "train")
    packs = len(list((out / "runs").glob("pack.*.h5")))
    assert f"runs: {trains} of {trains} done; traces in {packs} pack(s)\n" in status.stdout
    # Resuming a finished study runs nothing.
    again = study("resume", spec, check=0)
    assert "20 tasks, 20 already done" in again.stdout


def test_cells_aggregate_the_last_records(tiny):
    _, out, _ = tiny
    plan = json.loads((out / "plan.json").read_text())
    for cell in plan["cells"]:
        doc = json.loads((out / "cells" / f"{cell['id']}.json").read_text())
        values = []
        for run in cell["runs"]:
            attrs, arrays = grpo_traces.run_arrays(out, run)
            assert attrs["status"] == "completed"
            values.append(arrays["worst_val_loss"][-1])
        stats = doc["final"]["worst_val_loss"]
        np.testing.assert_allclose(stats["values"], values, rtol=0, atol=0)
        np.testing.assert_allclose(stats["mean"], np.mean(values), rtol=1e-14)
        np.testing.assert_allclose(stats["sem"], np.std(values, ddof=1) / np.sqrt(len(values)),
                                   rtol=1e-12)
        assert doc["missing"] == []


def test_a_study_run_equals_the_direct_command(tiny, tmp_path):
    _, out, _ = tiny
    plan = json.loads((out / "plan.json").read_text())
    task = next(t for t in plan["tasks"] if t["id"] == "train.grid.00005")
    trace = tmp_path / "direct.h5"
    cmd = [GRPO, "train", f"--dataset={out / task['dataset']}", f"--out={trace}", "-q"]
    cmd += [f"--{k}={v}" for k, v in task["options"]]
    subprocess.run(cmd, check=True, capture_output=True)
    got = run_datasets(out, task["id"])
    want = numeric_datasets(trace)
    assert got.keys() == want.keys()
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_rate_report_fits_the_gap(tiny):
    _, out, _ = tiny
    summary = json.loads((out / "report" / "summary.json").read_text())
    text = json.dumps(summary)
    assert "slope" in text
    report = (out / "report" / "report.md").read_text()
    assert "## Experiment `rate`" in report and "slope" in report


def selected_from_traces(out, goal):
    """(data, method) -> the step-theta whose mean final worst_val_loss over seeds is best,
    computed from the traces directly."""
    plan = json.loads((out / "plan.json").read_text())
    best = {}
    for cell in (c for c in plan["cells"] if c["experiment"] == "grid"):
        values = []
        for run in cell["runs"]:
            values.append(grpo_traces.run_arrays(out, run)[1]["worst_val_loss"][-1])
        key = (cell["data"], cell["method"])
        mean = float(np.mean(values)) * (1 if goal == "min" else -1)
        if key not in best or mean < best[key][0]:
            best[key] = (mean, cell["params"]["step-theta"])
    return {key: value for key, (_, value) in best.items()}


def test_selection_is_planned_and_reported(tiny, tmp_path):
    spec, out, _ = tiny
    plan = json.loads((out / "plan.json").read_text())
    grid = next(e for e in plan["experiments"] if e["name"] == "grid")
    assert grid["selection"] == {"metric": "worst_val_loss", "goal": "min",
                                 "over": ["step-theta"], "statistic": "mean"}
    assert "selection" not in next(e for e in plan["experiments"] if e["name"] == "rate")
    report = (out / "report" / "report.md").read_text()
    assert "### Selection on validation" in report
    want = selected_from_traces(out, "min")
    assert len(set(want.values())) >= 1 and len(want) == 2
    for (data, method), theta in want.items():
        assert f"| {data} | {method} | {theta} | " in report, (method, theta)
    assert (out / "report" / "grid-selection.png").stat().st_size > 0
    # An edited selection redraws the report and reruns nothing else (on a copy of the study).
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    edited = write(tmp_path / "edited.toml",
                   spec.read_text().replace('goal = "min"', 'goal = "max"'))
    again = study("run", edited, "--out", copy, check=0)
    assert "20 tasks, 19 already done" in again.stdout
    report = (copy / "report" / "report.md").read_text()
    for (data, method), theta in selected_from_traces(copy, "max").items():
        assert f"| {data} | {method} | {theta} | " in report, (method, theta)


def test_a_failed_task_is_reported_and_resume_reruns_only_it(tmp_path):
    # One grid point warm-starts from a trace that does not exist yet: only its runs fail.
    seed_trace = tmp_path / "init.h5"
    missing = tmp_path / "later.h5"
    spec = write(tmp_path / "s.toml", f"""
[study]
name = "faulty"
output = "{tmp_path / 'out'}"
seeds = 1
[data.d]
generate = {{ preset = "even-imbalanced", train-size = 40, val-size = 40, test-size = 40 }}
[[experiment]]
name = "e"
methods = ["gr-dpo"]
[experiment.options]
iterations = 30
[experiment.grid]
theta-init = ["{seed_trace}", "{missing}"]
""")
    subprocess.run([GRPO, "generate", "--preset", "even-imbalanced", "--train-size", "40",
                    "--out", tmp_path / "d.h5"], check=True, capture_output=True)
    subprocess.run([GRPO, "train", "--dataset", tmp_path / "d.h5", "--iterations", "5",
                    "--out", seed_trace, "-q"], check=True, capture_output=True)
    first = study("run", spec, check=1)
    assert "failed: train.e.00001" in first.stdout
    out = tmp_path / "out"
    status = study("status", out, check=1)
    assert "train.e.00001" in status.stdout
    assert f"log: {out}/logs/train.e.00001.log" in status.stdout
    assert f"error: cannot open '{missing}': no such file" in \
        (out / "logs" / "train.e.00001.log").read_text()
    assert (out / "tasks" / "train.e.00000.done").exists()
    assert (out / "tasks" / "aggregate.e.c0000.done").exists()
    assert not (out / "tasks" / "aggregate.e.c0001.done").exists()
    done_before = (out / "tasks" / "train.e.00000.done").read_text()
    # The bundle packed the finished run's trace (docs/studies.md "Trace packs").
    done = json.loads(done_before)
    assert done["trace"].startswith("runs/pack.") and not (out / "runs/train.e.00000.h5").exists()
    trace_before = (out / done["trace"]).stat().st_mtime_ns

    missing.write_bytes(seed_trace.read_bytes())
    second = study("resume", out, check=0)
    assert "already done" in second.stdout
    assert (out / "tasks" / "train.e.00001.done").exists()
    assert not (out / "tasks" / "train.e.00001.failed").exists()
    assert (out / "tasks" / "train.e.00000.done").read_text() == done_before
    assert (out / done["trace"]).stat().st_mtime_ns == trace_before
    assert study("status", out, check=0).returncode == 0


BASE = """
[study]
name = "{name}"
output = "{out}"
[data.d]
generate = {{ preset = "even-imbalanced" }}
[[experiment]]
name = "e"
methods = ["dpo"]
"""


#: A valid selection over the grid of BASE's experiment (appended to BASE, edited by a case).
SELECTION = """[experiment.grid]
step-theta = [0.1, 0.5]
[experiment.selection]
metric = "worst_val_loss"
goal = "min"
over = ["step-theta"]
"""


@pytest.mark.parametrize("edit, key", [
    (lambda s: s.replace('[data.d]', 'colour = "red"\n[data.d]'), "study.colour"),
    (lambda s: s + "[experiment.options]\nbetta = 2\n", "experiment.e.options.betta"),
    (lambda s: s + "[experiment.options]\nbeta = \"abc\"\n", "experiment.e.options.beta"),
    (lambda s: s + "[experiment.grid]\nchi = [0.5, 2]\n", "experiment.e.grid.chi"),
    (lambda s: s + "[experiment.grid]\nstep-theta = 0.1\n", "experiment.e.grid.step-theta"),
    (lambda s: s.replace('["dpo"]', '["dpo", "sgd"]'), "experiment.e.methods"),
    (lambda s: s.replace('preset = "even-imbalanced"', 'preset = "odd"'),
     "data.d.generate.preset"),
    (lambda s: s + 'seeds = -1\n', "experiment.e.seeds"),
    (lambda s: s + 'data = ["nope"]\n', "experiment.e.data"),
    (lambda s: s + "[experiment.options]\nout = \"x.h5\"\n", "experiment.e.options.out"),
    (lambda s: s + '[slurm]\ntime = "1:00; rm -rf /"\n', "slurm.time"),
    (lambda s: s + '[slurm]\nsbatch = ["--qos=a\\n#SBATCH --x"]\n', "slurm.sbatch"),
    (lambda s: s.replace('name = "e"', 'name = "e e"'), "experiment[0].name"),
    (lambda s: s.replace('[data.d]', '[data."d d"]'), "data.d d"),
    (lambda s: s.replace('[study]', '[study]\nexecutor = "cloud"'), "study.executor"),
    (lambda s: s + SELECTION.replace('"worst_val_loss"', '"val_accuracy"'),
     "experiment.e.selection.metric"),
    (lambda s: s + SELECTION.replace('"worst_val_loss"', '["worst_val_loss"]'),
     "experiment.e.selection.metric"),
    (lambda s: s + SELECTION.replace('"min"', '"lowest"'), "experiment.e.selection.goal"),
    (lambda s: s + SELECTION.replace('["step-theta"]', '["chi"]'),
     "experiment.e.selection.over"),
    (lambda s: s + SELECTION.replace('["step-theta"]', '[]'), "experiment.e.selection.over"),
    (lambda s: s + SELECTION + 'statistic = "mode"\n', "experiment.e.selection.statistic"),
], ids=["unknown-key", "unknown-option", "bad-value", "bad-grid-value", "grid-not-list", "unknown-method",
        "bad-generate", "bad-seeds", "unknown-data", "reserved", "slurm-time", "sbatch-newline",
        "experiment-name", "data-name", "executor", "selection-metric", "selection-metric-type",
        "selection-goal", "selection-over-not-varied", "selection-over-empty",
        "selection-statistic"])
def test_study_file_errors_name_the_key(tmp_path, edit, key):
    out = tmp_path / "out"
    spec = write(tmp_path / "bad.toml", edit(BASE.format(name="s", out=out)))
    proc = study("plan", spec)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: study file"), proc.stderr
    assert f"'{key}" in lines[0], lines[0]
    assert str(spec) in lines[0]
    assert not out.exists()


def test_malformed_toml_names_the_line(tmp_path):
    spec = write(tmp_path / "bad.toml", "[study\nname = 1\n")
    proc = study("plan", spec)
    assert proc.returncode == 2
    assert "line 1" in proc.stderr and str(spec) in proc.stderr


@pytest.mark.parametrize("value", ["$(touch {pwned})", "`touch {pwned}`", "a; touch {pwned}",
                                   "x\" && touch {pwned} #"])
def test_hostile_values_run_nothing(tmp_path, value):
    pwned = tmp_path / "pwned"
    hostile = value.format(pwned=pwned)
    for text in [
        BASE.format(name="s", out=tmp_path / "o1").replace('"even-imbalanced"',
                                                           json.dumps(hostile)),
        BASE.format(name="s", out=tmp_path / "o2") + f"[experiment.options]\nmethod-x = 1\n",
        BASE.format(name="s", out=tmp_path / "o3") +
        f"[experiment.options]\ntheta-init = {json.dumps(hostile)}\n",
        BASE.format(name="s", out=tmp_path / "o4").replace('name = "s"',
                                                           f"name = {json.dumps(hostile)}"),
    ]:
        spec = write(tmp_path / "h.toml", text)
        for action in ("plan", "run"):
            study(action, spec)
    assert not pwned.exists()


def test_hostile_output_directory_is_used_literally(tmp_path):
    pwned = tmp_path / "pwned"
    out = tmp_path / f"we ird '$(touch {pwned})' \"q\" `touch {pwned}`"
    spec = write(tmp_path / "h.toml", (BASE + "[experiment.options]\niterations = 5\n")
                 .format(name="s", out=str(out).replace("\\", "\\\\").replace('"', '\\"')))
    study("run", spec, check=0)
    assert (out / "report" / "report.md").exists()
    assert not pwned.exists()
    # The Slurm scripts quote it too (dry run: nothing is submitted).
    dry = study("resume", out, "--executor", "slurm", "--dry-run", check=0)
    assert "nothing to submit" in dry.stdout
    (out / "tasks" / "report.done").unlink()
    dry = study("resume", out, "--executor", "slurm", "--dry-run", check=0)
    script = (out / "slurm" / "report.sbatch").read_text()
    assert script in dry.stdout
    result = subprocess.run(["bash", "-n", out / "slurm" / "report.sbatch"], capture_output=True)
    assert result.returncode == 0
    # The quoted directory survives the shell as one literal word.
    line = next(l for l in script.splitlines() if l.startswith("cd "))
    echoed = subprocess.run(["bash", "-c", line.replace("cd ", "printf %s ", 1)],
                            capture_output=True, text=True)
    assert echoed.stdout == str(out)
    assert not pwned.exists()


def slurm_max_array_size():
    """MaxArraySize of this machine's Slurm (`scontrol show config`), else Slurm's default."""
    try:
        text = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True,
                              timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 1001
    for line in text.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "MaxArraySize" and words[2].isdigit():
            return int(words[2])
    return 1001


def test_slurm_dry_run_chains_the_layers(tiny, tmp_path):
    spec, _, _ = tiny
    out = tmp_path / "dry"
    proc = study("plan", spec, "--out", out, check=0)
    assert "train: 12 task(s)" in proc.stdout
    text = pathlib.Path(spec).read_text().replace('seeds = 2', 'seeds = 2\nexecutor = "slurm"')
    text += '\n[slurm]\npartition = "debug"\ntime = "00:05:00"\nthrottle = 3\nmemory = "1G"\n'
    spec2 = write(tmp_path / "slurm.toml", text)
    proc = study("run", spec2, "--out", out, "--dry-run", check=0)
    scripts = sorted(p.name for p in (out / "slurm").glob("*.sbatch"))
    assert scripts == ["aggregate.sbatch", "data.sbatch", "report.sbatch", "train.sbatch"]
    train = (out / "slurm" / "train.sbatch").read_text()
    # The 12 runs in as many array elements as this machine's Slurm allows (the test cluster of
    # tests/slurm/cluster.sh allows 4; without Slurm, the default 1001).
    elements = min(12, slurm_max_array_size())
    assert f"#SBATCH --array=0-{elements - 1}%3" in train
    assert "#SBATCH --partition=debug" in train and "#SBATCH --time=00:05:00" in train
    assert "#SBATCH --mem=1G" in train
    lines = (out / "slurm" / "train.tasks").read_text().splitlines()
    assert len(lines) == elements
    assert lines[0].split()[0] == "train.grid.00000"
    assert sum(len(line.split()) for line in lines) == 12
    assert "'--dependency=afterok:<data>' slurm/train.sbatch" in proc.stdout
    assert "'--dependency=afterok:<data>:<train>' slurm/aggregate.sbatch" in proc.stdout
    assert not (out / "slurm" / "submissions.json").exists()


def test_per_seed_data_gives_each_seed_its_own_dataset(tmp_path):
    out = tmp_path / "out"
    spec = write(tmp_path / "ps.toml", f"""
[study]
name = "ps"
output = "{out}"
seeds = {{ first = 2021, count = 2 }}
[data.d]
generate = {{ preset = "even-imbalanced", train-size = 40, val-size = 40, test-size = 40 }}
per-seed = true
[[experiment]]
name = "e"
methods = ["dpo", "gr-dpo"]
[experiment.options]
iterations = 20
""")
    study("run", spec, check=0)
    plan = json.loads((out / "plan.json").read_text())
    data = {t["id"]: t for t in plan["tasks"] if t["layer"] == "data"}
    assert sorted(data) == ["data.d.s2021", "data.d.s2022"]
    assert ["seed", "2022"] in data["data.d.s2022"]["options"]
    for task in plan["tasks"]:
        if task["layer"] == "train":
            assert task["dataset"] == f"data/d/seed-{task['seed']}.h5"
            assert task["deps"] == [f"data.d.s{task['seed']}"]
    with h5py.File(out / "data/d/seed-2022.h5", "r") as f:
        assert f.attrs["seed"] == 2022
    bad = write(tmp_path / "bad.toml", spec.read_text().replace(
        'test-size = 40 }', 'test-size = 40, seed = 3 }'))
    proc = study("plan", bad)
    assert proc.returncode == 2 and "'data.d.generate.seed'" in proc.stderr


def test_a_killed_task_shows_as_failed_and_resume_reruns_only_it(tmp_path):
    out = tmp_path / "out"
    spec = write(tmp_path / "k.toml", f"""
[study]
name = "killed"
output = "{out}"
seeds = 1
jobs = 1
[data.d]
generate = {{ preset = "even-imbalanced", train-size = 60, val-size = 40, test-size = 40 }}
[[experiment]]
name = "e"
methods = ["gr-dpo", "dpo"]
[experiment.options]
iterations = 300000
trace-every = 100000
""")
    executor = subprocess.Popen([GRPO, "study", "run", str(spec)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    marker = out / "tasks" / "train.e.00000.running"
    deadline = time.time() + 120
    while not marker.exists() and time.time() < deadline:
        time.sleep(0.02)
    runner = json.loads(marker.read_text())["pid"]
    os.kill(runner, signal.SIGKILL)  # the task runner dies without a word
    stdout, _ = executor.communicate(timeout=300)
    assert executor.returncode == 1
    assert "failed: train.e.00000" in stdout
    status = study("status", out, check=1)
    assert "train.e.00000: process" in status.stdout and "is gone" in status.stdout
    assert f"log: {out}/logs/train.e.00000.log" in status.stdout
    assert (out / "tasks" / "train.e.00001.done").exists()
    done_before = (out / "tasks" / "train.e.00001.done").read_text()
    resumed = study("resume", out, check=0)
    assert "already done" in resumed.stdout
    assert (out / "tasks" / "train.e.00000.done").exists()
    assert (out / "tasks" / "train.e.00001.done").read_text() == done_before


BUNDLED = """
[study]
name = "bundled"
output = "{out}"
seeds = 3
jobs = 1
[data.d]
generate = {{ preset = "even-imbalanced", train-size = 60, val-size = 40, test-size = 40 }}
[[experiment]]
name = "e"
methods = ["gr-dpo"]
[experiment.options]
iterations = {iterations}
trace-every = {every}
[experiment.grid]
theta-init = ["{good}", "{missing}"]
"""


def bundled_study(tmp_path, iterations, every, missing):
    seed_trace = tmp_path / "init.h5"
    subprocess.run([GRPO, "generate", "--preset", "even-imbalanced", "--train-size", "60",
                    "--out", tmp_path / "d.h5"], check=True, capture_output=True)
    subprocess.run([GRPO, "train", "--dataset", tmp_path / "d.h5", "--iterations", "5",
                    "--out", seed_trace, "-q"], check=True, capture_output=True)
    return write(tmp_path / "b.toml", BUNDLED.format(
        out=tmp_path / "out", iterations=iterations, every=every, good=seed_trace,
        missing=missing))


def test_runs_of_a_bundle_share_a_process_and_fail_alone(tmp_path):
    # Six runs in one process (--bundle 6); the three that warm-start from a missing trace fail
    # with their own error, the other three are done.
    missing = tmp_path / "missing.h5"
    spec = bundled_study(tmp_path, 50, 25, missing)
    first = study("run", spec, "--bundle", "6", check=1)
    assert "up to 6 run(s) a process" in first.stdout
    out = tmp_path / "out"
    plan = json.loads((out / "plan.json").read_text())
    runs = [t for t in plan["tasks"] if t["kind"] == "train"]
    assert len(runs) == 6
    failed = [t["id"] for t in runs if dict(t["options"]).get("theta-init") == str(missing)]
    assert len(failed) == 3
    assert "# (in the study's process)" in (out / "logs" / "data.d.log").read_text()
    bundles = sorted((out / "logs").glob("bundle.*.log"))
    assert bundles == [out / "logs" / "bundle.train.e.00000.log"]
    for t in runs:
        log = (out / "logs" / f"{t['id']}.log").read_text()
        assert "# (in the study's process)" in log
        if t["id"] in failed:
            assert f"failed: {t['id']}: train exit code 4" in first.stdout
            assert f"error: cannot open '{missing}': no such file" in log
            assert (out / "tasks" / f"{t['id']}.failed").exists()
        else:
            assert (out / "tasks" / f"{t['id']}.done").exists()
            assert grpo_traces.run_arrays(out, t["id"])[0]["status"] == "completed"
    # One trace file for the bundle: the three finished runs' traces, packed once it was through
    # (docs/studies.md "Trace packs"); the done markers name it; `grpo info` lists its runs.
    pack = out / "runs" / "pack.train.e.00000.h5"
    assert sorted(p.name for p in (out / "runs").iterdir()) == [pack.name]
    assert "packed the traces of the bundle into runs/pack.train.e.00000.h5" in \
        (out / "logs" / "bundle.train.e.00000.log").read_text()
    for t in runs:
        if t["id"] not in failed:
            done = json.loads((out / "tasks" / f"{t['id']}.done").read_text())
            assert done["trace"] == "runs/pack.train.e.00000.h5"
    info = subprocess.run([GRPO, "info", pack], capture_output=True, text=True, check=True)
    assert f"{pack}: grpo trace pack, 3 runs (3 completed)" in info.stdout
    for t in runs:
        assert (t["id"] in info.stdout) == (t["id"] not in failed)
    assert len(grpo_traces.load_study(out)["task"].unique()) == 3
    # The runs that succeeded equal the same command run alone.
    t = next(t for t in runs if t["id"] not in failed)
    alone = tmp_path / "alone.h5"
    subprocess.run([GRPO, "train", f"--dataset={out / t['dataset']}", f"--out={alone}", "-q"]
                   + [f"--{k}={v}" for k, v in t["options"]], check=True, capture_output=True)
    got, want = run_datasets(out, t["id"]), numeric_datasets(alone)
    assert got.keys() == want.keys()
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_an_interrupted_bundle_resumes_only_its_unfinished_runs(tmp_path):
    # One bundle of four runs, the second one long: SIGTERM during it leaves that run failed
    # ("interrupted"), the first done; the executor runs the two it never started in a new
    # bundle, and resume reruns the interrupted one alone. (Only one run is long: 200000 steps
    # take about 0.9 s in Release and 40 s under the sanitizers.)
    out = tmp_path / "out"
    spec = write(tmp_path / "i.toml", f"""
[study]
name = "interrupted"
output = "{out}"
seeds = 1
jobs = 1
[data.d]
generate = {{ preset = "even-imbalanced", train-size = 60, val-size = 40, test-size = 40 }}
[[experiment]]
name = "e"
methods = ["gr-dpo"]
[experiment.options]
trace-every = 100000
[experiment.grid]
iterations = [40, 200000, 41, 42]
""")
    executor = subprocess.Popen([GRPO, "study", "run", str(spec), "--bundle", "4"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    plan_path = out / "plan.json"
    deadline = time.time() + 120
    while not plan_path.exists() and time.time() < deadline:
        time.sleep(0.02)
    tasks = json.loads(plan_path.read_text())["tasks"]
    runs = [t["id"] for t in tasks if t["kind"] == "train"]
    long_run = next(t["id"] for t in tasks
                    if t["kind"] == "train" and dict(t["options"])["iterations"] == "200000")
    assert long_run == runs[1]
    marker = out / "tasks" / f"{long_run}.running"
    log = out / "logs" / f"{long_run}.log"
    # Inside the run: its first step is in its log (the run's output goes there as it comes).
    while time.time() < deadline and not (
            marker.exists() and log.exists() and "step 1/200000" in log.read_text()):
        time.sleep(0.005)
    bundle = json.loads(marker.read_text())["pid"]
    os.kill(bundle, signal.SIGTERM)
    stdout, _ = executor.communicate(timeout=600)
    assert executor.returncode == 1, stdout
    assert f"failed: {long_run}: interrupted: the task received signal 15" in stdout
    assert not marker.exists()
    for r in runs:
        assert (out / "tasks" / f"{r}.done").exists() == (r != long_run), r
    # The killed bundle could not pack its first run: the executor packed it at the end.
    assert "packed the traces of runs that were not yet packed into runs/pack." in stdout
    done_before = {r: (out / "tasks" / f"{r}.done").read_text() for r in runs if r != long_run}
    for text in done_before.values():
        assert json.loads(text)["trace"].startswith("runs/pack.")
    resumed = study("resume", out, check=0)
    assert "already done" in resumed.stdout
    assert (out / "tasks" / f"{long_run}.done").exists()
    for r, text in done_before.items():
        assert (out / "tasks" / f"{r}.done").read_text() == text
    # Every trace is in a pack, and the study reads whole.
    assert all(p.name.startswith("pack.") for p in (out / "runs").iterdir())
    assert sorted(grpo_traces.load_study(out)["task"].unique()) == sorted(runs)


@pytest.mark.parametrize("example, runs", [("paper.toml", 800), ("sweep.toml", 13200)])
def test_the_example_studies_plan(example, runs):
    # The examples of README.md and docs/studies.md stay valid study files of their stated size
    # (planning only: the main job and the sweep take minutes). examples/goqa.toml reads the
    # survey data beside the repository (../shared/data), which a clone elsewhere lacks.
    source = pathlib.Path(os.environ.get("GRPO_SOURCE_DIR", pathlib.Path(__file__).parents[2]))
    result = subprocess.run([GRPO, "study", "plan", source / "examples" / example],
                            capture_output=True, text=True, cwd=source)
    assert result.returncode == 0, result.stderr
    assert f"train: {runs} task(s)" in result.stdout
