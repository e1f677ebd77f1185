"""grpo study with converted data (`[data.NAME] convert = { source = ..., input = ... }`): a tiny
MLP study on the real GlobalOpinionQA subset end to end (the conversion task, the training runs,
the markers, the traces, the report), and the plan-time checks of the conversion's options and
of the training options against the converted data's metadata.

The input is read where it lies (GRPO_GOQA_FILE, default /work/shared/data/globalopinionqa/...);
it is never copied into the repository. Without it the tests that need it are skipped.
"""
import json
import os
import pathlib
import subprocess
import sys

import h5py
import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "analysis"))
import grpo_traces  # noqa: E402  (the analysis module; traces may live in packs)

GRPO = os.environ.get("GRPO_BIN")
pytestmark = pytest.mark.skipif(not GRPO, reason="GRPO_BIN is not set (run through ctest)")

GOQA = pathlib.Path(os.environ.get(
    "GRPO_GOQA_FILE",
    "/work/shared/data/globalopinionqa/distributional_test_globalopinionqa_small.json"))
needs_goqa = pytest.mark.skipif(not GOQA.is_file(), reason=f"{GOQA} is not available")

COUNTRIES = ["Nigeria", "Egypt", "India (Current national sample)", "China", "Japan"]

TINY = """
[study]
name = "goqa"
output = "{out}"
seeds = 2

[data.goqa5]
convert = {{ source = "globalopinionqa", input = "{input}", countries = "{countries}", dim = 64 }}

[[experiment]]
name = "mlp"
methods = ["ipo", "gr-ipo"]
[experiment.options]
policy = "mlp"
iterations = 30
trace-every = 10
hidden = "16"
batch-size = 32
sft-steps = 5
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


def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()])
                     if isinstance(obj, h5py.Dataset) else None)
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    if not GOQA.is_file():
        pytest.skip(f"{GOQA} is not available")
    root = tmp_path_factory.mktemp("goqa")
    out = root / "out"
    spec = write(root / "goqa.toml", TINY.format(out=out, input=GOQA,
                                                 countries=",".join(COUNTRIES)))
    proc = study("run", spec, check=0)
    return spec, out, proc


def test_the_plan_has_a_convert_task_before_the_training(tiny):
    _, out, proc = tiny
    assert "data: 1 task(s)" in proc.stdout and "train: 4 task(s)" in proc.stdout
    plan = json.loads((out / "plan.json").read_text())
    data = [t for t in plan["tasks"] if t["layer"] == "data"]
    assert len(data) == 1
    task = data[0]
    assert task["id"] == "data.goqa5" and task["kind"] == "convert"
    assert task["source"] == "globalopinionqa" and task["deps"] == []
    assert task["output"] == "data/goqa5.h5" and task["data"] == "goqa5"
    assert task["options"] == [["input", str(GOQA)], ["countries", ",".join(COUNTRIES)],
                               ["dim", "64"]]
    train = [t for t in plan["tasks"] if t["layer"] == "train"]
    assert len(train) == 4
    for t in train:
        assert t["deps"] == ["data.goqa5"] and t["dataset"] == "data/goqa5.h5"
        assert ["policy", "mlp"] in t["options"]
    assert plan["tasks"].index(task) < min(plan["tasks"].index(t) for t in train)


def test_every_task_is_done_and_the_data_is_the_direct_conversion(tiny, tmp_path):
    spec, out, _ = tiny
    plan = json.loads((out / "plan.json").read_text())
    for task in plan["tasks"]:
        assert (out / "tasks" / f"{task['id']}.done").exists(), task["id"]
        assert (out / "logs" / f"{task['id']}.log").exists(), task["id"]
    log = (out / "logs" / "data.goqa5.log").read_text()
    assert f"convert globalopinionqa --input={GOQA} " in log and "wrote " in log
    with h5py.File(out / "data" / "goqa5.h5", "r") as f:
        assert f.attrs["source"] == "globalopinionqa"
        assert [n.decode() for n in f["groups/names"][()]] == COUNTRIES
        assert f.attrs["feature_dim"] == 64
    direct = tmp_path / "direct.h5"
    subprocess.run([GRPO, "convert", "globalopinionqa", "--input", GOQA, "--countries",
                    ",".join(COUNTRIES), "--dim", "64", "--out", direct],
                   check=True, capture_output=True)
    got, want = datasets(out / "data" / "goqa5.h5"), datasets(direct)
    assert got.keys() == want.keys()
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    status = study("status", out, check=0)
    assert "complete" in status.stdout
    again = study("resume", spec, check=0)
    assert "8 tasks, 8 already done" in again.stdout


def test_the_mlp_traces_and_the_cells(tiny):
    _, out, _ = tiny
    plan = json.loads((out / "plan.json").read_text())
    for cell in plan["cells"]:
        doc = json.loads((out / "cells" / f"{cell['id']}.json").read_text())
        assert doc["missing"] == [] and len(doc["runs"]) == 2
        for metric in ("worst_test_loss", "worst_test_reward_accuracy", "worst_val_loss"):
            values = []
            for run in cell["runs"]:
                attrs, f = grpo_traces.run_arrays(out, run)
                assert attrs["status"] == "completed" and attrs["policy"] == "mlp"
                assert f["iteration"].tolist() == [0, 10, 20, 29]
                assert f["test_reward_accuracy"].shape == (4, len(COUNTRIES))
                assert "theta" not in f
                values.append(f[metric][-1])
            np.testing.assert_allclose(doc["final"][metric]["values"], values, rtol=0, atol=0)


def test_the_report_tabulates_the_worst_group_test_metrics(tiny):
    _, out, _ = tiny
    report = (out / "report" / "report.md").read_text()
    for title in ("Final worst-group validation loss", "Final worst-group test loss",
                  "Final worst-group test reward accuracy"):
        section = report[report.index(f"### {title}"):]
        table = section[:section.index("\n\n", section.index("| method |"))]
        assert "| method | goqa5 |" in table, title
        for method in ("ipo", "gr-ipo"):
            row = next(line for line in table.splitlines() if line.startswith(f"| {method} |"))
            assert " ± " in row and "(2) |" in row, row
    assert "The 2 cell file(s) agree with the traces" in report
    assert (out / "report" / "mlp-alpha.png").stat().st_size > 1000
    assert "](mlp-alpha.png)" in report
    import csv
    with open(out / "report" / "mlp-finals.csv") as f:
        rows = list(csv.DictReader(f))
    assert {row["method"] for row in rows} == {"ipo", "gr-ipo"}
    for row in rows:
        assert 0.0 <= float(row["worst_test_reward_accuracy_mean"]) <= 1.0
        assert float(row["worst_test_loss_n"]) == 2
    # `grpo study report` redraws it.
    again = study("report", out, check=0)
    assert again.stdout.strip() == str(out / "report" / "report.md")


def test_plan_all_shows_the_convert_command_and_slurm_puts_it_in_the_data_array(tiny, tmp_path):
    spec, _, _ = tiny
    proc = study("plan", spec, "--all", "--out", tmp_path / "p", check=0)
    lines = proc.stdout.splitlines()
    command = lines[lines.index("data.goqa5") + 1]
    assert f" convert globalopinionqa --input={GOQA} " in command
    assert command.endswith(f"--out={tmp_path / 'p' / 'data' / 'goqa5.h5'}")
    out = tmp_path / "dry"
    study("run", spec, "--out", out, "--executor", "slurm", "--dry-run", check=0)
    assert (out / "slurm" / "data.tasks").read_text() == "data.goqa5\n"
    assert "afterok" not in (out / "slurm" / "data.sbatch").read_text()


def test_a_relative_input_is_taken_from_the_study_folder(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "o.json").write_text((pathlib.Path(os.environ.get(
        "GRPO_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2])) /
        "tests/corpus/convert/valid.json").read_text())
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    spec = write(tmp_path / "rel.toml", """
[study]
name = "rel"
output = "o"
[data.g]
convert = { source = "globalopinionqa", input = "in/o.json", countries = "Nigeria,Japan" }
[[experiment]]
name = "e"
methods = ["dpo"]
""")
    # valid.json has one Japanese question: the conversion fails, naming the resolved path.
    proc = study("plan", spec, cwd=elsewhere)
    assert proc.returncode == 3, proc.stderr
    assert str(tmp_path / "in" / "o.json") in proc.stderr
    assert "key 'data.g.convert'" in proc.stderr and "Japan" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (elsewhere / "o").exists()


BASE = """
[study]
name = "s"
output = "{out}"
[data.g]
convert = {{ source = "globalopinionqa", input = "{input}" }}
[data.syn]
generate = {{ preset = "even-imbalanced" }}
[[experiment]]
name = "e"
data = ["g"]
methods = ["ipo", "gr-ipo"]
[experiment.options]
policy = "mlp"
iterations = 10
"""


def convert_key(text, key_value):
    return text.replace('input = "', f'{key_value}, input = "', 1)


@pytest.mark.parametrize("edit, key, code, words", [
    (lambda s: s.replace('source = "globalopinionqa"', 'source = "csv"'),
     "data.g.convert.source", 2, ["unknown source 'csv'", "globalopinionqa"]),
    (lambda s: convert_key(s, 'colour = "red"'), "data.g.convert.colour", 2, ["colour"]),
    (lambda s: convert_key(s, "dim = 4"), "data.g.convert.dim", 2, ["option --dim", "4"]),
    (lambda s: convert_key(s, 'pairs = "some"'), "data.g.convert.pairs", 2, ["'some'"]),
    (lambda s: convert_key(s, 'out = "x.h5"'), "data.g.convert.out", 2, ["set by the study"]),
    (lambda s: convert_key(s, 'countries = "Narnia"'), "data.g.convert", 3, ["Narnia"]),
    (lambda s: s.replace("[data.syn]", "per-seed = true\n[data.syn]"), "data.g.per-seed", 2,
     ["per seed"]),
    (lambda s: s.replace('input = "', 'input = "/nonexistent/dir/', 1), "data.g.convert.input",
     2, ["no such file '/nonexistent/dir/"]),
    # The training options are checked against the converted data's metadata: the full batch
    # is the 307 training pairs of the default five countries, 5 groups, option data present.
    (lambda s: s + "batch-size = 0\nmicro-batches = 2\n", "experiment.e.options.micro-batches",
     2, ["2 does not divide the batch of 307 pairs"]),
    (lambda s: s.replace('["ipo", "gr-ipo"]', '["is-ipo"]') + "is-weights = [1, 2]\n",
     "experiment.e.options.is-weights", 2, ["is-weights", "5"]),
    (lambda s: s.replace('data = ["g"]', 'data = ["g", "syn"]') + "sft-steps = 3\n",
     "experiment.e.options.sft-steps", 2, ["needs every option"]),
], ids=["unknown-source", "unknown-option", "bad-dim", "bad-pairs", "reserved-out",
        "unknown-country", "per-seed", "missing-input", "micro-batches-307", "is-weights-groups",
        "sft-on-generated-data"])
@needs_goqa
def test_convert_errors_name_the_key(tmp_path, edit, key, code, words):
    out = tmp_path / "out"
    spec = write(tmp_path / "bad.toml", edit(BASE.format(out=out, input=GOQA)))
    proc = study("plan", spec)
    assert proc.returncode == code, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: study file"), proc.stderr
    assert f"key '{key}" in lines[0], lines[0]
    assert str(spec) in lines[0] and " line " in lines[0], lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    assert not out.exists()


@needs_goqa
def test_sft_steps_on_converted_data_plan(tmp_path):
    """The same options plan on the converted data alone (it has every option of a prompt)."""
    spec = write(tmp_path / "ok.toml", BASE.format(out=tmp_path / "out", input=GOQA)
                 + "sft-steps = 3\nbatch-size = 0\nmicro-batches = 307\n")
    proc = study("plan", spec, check=0)
    assert "data: 2 task(s)" in proc.stdout
