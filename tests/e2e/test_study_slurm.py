"""grpo study on a real Slurm cluster (munge, slurmctld and slurmd on this host, started by
tests/slurm/cluster.sh): job arrays chained by afterok, mpirun inside a job, results equal to
the local executor's, and a failed task that `resume` resubmits alone."""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "analysis"))
import grpo_traces  # noqa: E402  (the analysis module; traces may live in packs)

GRPO = os.environ.get("GRPO_BIN")
SOURCE = pathlib.Path(os.environ.get("GRPO_SOURCE_DIR", pathlib.Path(__file__).parents[2]))
pytestmark = [
    pytest.mark.skipif(not GRPO, reason="GRPO_BIN is not set (run through ctest)"),
    pytest.mark.skipif(shutil.which("sbatch") is None, reason="Slurm is not installed"),
]

STUDY = """
[study]
name = "slurmy"
output = "{out}"
executor = "{executor}"
seeds = 2

[slurm]
partition = "debug"
time = "00:10:00"
throttle = 2

[data.small]
generate = {{ preset = "uneven-balanced", train-size = 60, val-size = 100, test-size = 100 }}

[[experiment]]
name = "grid"
methods = ["ipo", "gr-dpo"]
[experiment.options]
iterations = 100
trace-every = 25
gap = true
[experiment.grid]
theta-init = {theta_init}

[[experiment]]
name = "mpi"
methods = ["gr-ipo"]
ranks = 2
seeds = [7]
[experiment.options]
iterations = 50
"""


def grpo_study(*args, check=None):
    proc = subprocess.run([GRPO, "study", *map(str, args)], capture_output=True, text=True,
                          timeout=300)
    if check is not None and proc.returncode != check:
        raise AssertionError(f"grpo study {args}: exit {proc.returncode}\n{proc.stdout}\n"
                             f"{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def cluster():
    subprocess.run(["bash", SOURCE / "tests/slurm/cluster.sh", "start"], check=True,
                   timeout=180)


def wait_until_settled(out, timeout=600):
    """Polls `grpo study status` until nothing of the study is queued or running."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        proc = grpo_study("status", out)
        assert proc.returncode in (0, 1), proc.stderr
        if proc.returncode == 0:
            return proc
        queue = subprocess.run(["squeue", "-h", "--me", "-o", "%j"], capture_output=True,
                               text=True).stdout
        if "grpo-slurmy" not in queue:
            return grpo_study("status", out)
        time.sleep(2)
    raise AssertionError(f"study did not settle in {timeout} s:\n"
                         + grpo_study("status", out).stdout)


def numeric(study, task):
    """The run's attributes and its numeric datasets but wall-clock times."""
    attrs, arrays = grpo_traces.run_arrays(study, task)
    return attrs, {name: value for name, value in arrays.items() if name != "wall_seconds"}


def write_study(tmp, name, executor, theta_init):
    path = tmp / f"{name}.toml"
    path.write_text(STUDY.format(out=tmp / name, executor=executor,
                                 theta_init=json.dumps([str(p) for p in theta_init])))
    return path


def test_slurm_study_equals_the_local_run(cluster, tmp_path):
    init = tmp_path / "init.h5"
    subprocess.run([GRPO, "generate", "--preset", "uneven-balanced", "--out",
                    tmp_path / "d.h5"], check=True, capture_output=True)
    subprocess.run([GRPO, "train", "--dataset", tmp_path / "d.h5", "--iterations", "3",
                    "--out", init, "-q"], check=True, capture_output=True)
    slurm = write_study(tmp_path, "on-slurm", "slurm", [init])
    local = write_study(tmp_path, "on-local", "local", [init])

    submitted = grpo_study("run", slurm, check=0)
    # data, train (1 rank), train (2 ranks), aggregate, report
    assert submitted.stdout.count("submitted ") == 5, submitted.stdout
    final = wait_until_settled(tmp_path / "on-slurm")
    assert final.returncode == 0, final.stdout
    assert "complete" in final.stdout
    grpo_study("run", local, check=0)

    plan = json.loads((tmp_path / "on-slurm" / "plan.json").read_text())
    trains = [t for t in plan["tasks"] if t["layer"] == "train"]
    assert len(trains) == 5 and any(t["ranks"] == 2 for t in trains)
    for task in trains:
        attrs, got = numeric(tmp_path / "on-slurm", task["id"])
        _, want = numeric(tmp_path / "on-local", task["id"])
        assert got.keys() == want.keys()
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-12, atol=1e-14,
                                       err_msg=f"{task['id']}: {name}")
        assert attrs["num_ranks"] == task["ranks"]
    scripts = tmp_path / "on-slurm" / "slurm"
    assert "#SBATCH --ntasks=2" in (scripts / "train-n2.sbatch").read_text()
    assert "#SBATCH --array=0-3%2" in (scripts / "train-n1.sbatch").read_text()
    assert (tmp_path / "on-slurm" / "report" / "report.md").exists()


def test_failed_slurm_task_is_resubmitted_alone(cluster, tmp_path):
    init = tmp_path / "init.h5"
    later = tmp_path / "later.h5"
    subprocess.run([GRPO, "generate", "--preset", "uneven-balanced", "--out",
                    tmp_path / "d.h5"], check=True, capture_output=True)
    subprocess.run([GRPO, "train", "--dataset", tmp_path / "d.h5", "--iterations", "3",
                    "--out", init, "-q"], check=True, capture_output=True)
    spec = write_study(tmp_path, "faulty", "slurm", [init, later])
    out = tmp_path / "faulty"
    grpo_study("run", spec, check=0)
    status = wait_until_settled(out)
    assert status.returncode == 1
    # The two runs warm-started from the missing trace failed; their cells never aggregate.
    failed = [line.split(":")[0].strip() for line in status.stdout.splitlines()
              if line.startswith("  train.")]
    assert failed == ["train.grid.00002", "train.grid.00003", "train.grid.00006",
                      "train.grid.00007"], status.stdout
    assert f"log: {out}/logs/train.grid.00002.log" in status.stdout
    assert f"error: cannot open '{later}': no such file" in \
        (out / "logs" / "train.grid.00002.log").read_text()
    kept = {p.name: p.read_text() for p in (out / "tasks").glob("train.*.done")}
    assert len(kept) == 5

    later.write_bytes(init.read_bytes())
    resumed = grpo_study("resume", out, check=0)
    assert "submitted train-n1: job" in resumed.stdout and "(4 tasks" in resumed.stdout
    assert "train-n2" not in resumed.stdout  # the 2-rank run was done: not resubmitted
    final = wait_until_settled(out)
    assert final.returncode == 0, final.stdout
    for name, text in kept.items():
        assert (out / "tasks" / name).read_text() == text, name


def test_scancelled_task_shows_as_failed_and_resume_finishes(cluster, tmp_path):
    out = tmp_path / "cancelled"
    spec = tmp_path / "c.toml"
    spec.write_text(f"""
[study]
name = "slurmy"
output = "{out}"
executor = "slurm"
seeds = 1
[data.d]
generate = {{ preset = "even-imbalanced", train-size = 60, val-size = 40, test-size = 40 }}
[[experiment]]
name = "e"
methods = ["gr-dpo"]
[experiment.options]
iterations = 400000
trace-every = 100000
""")
    grpo_study("run", spec, check=0)
    marker = out / "tasks" / "train.e.00000.running"
    deadline = time.time() + 300
    while not marker.exists() and time.time() < deadline:
        time.sleep(0.1)
    job = json.loads(marker.read_text())["slurm_job"]
    assert job, "the running marker names its Slurm job"
    subprocess.run(["scancel", job.split("_")[0]], check=True)
    status = wait_until_settled(out)
    assert status.returncode == 1
    line = next(l for l in status.stdout.splitlines() if l.startswith("  train.e.00000:"))
    assert "signal 15" in line or "ended" in line, status.stdout
    assert f"log: {out}/logs/train.e.00000.log" in status.stdout
    grpo_study("resume", out, check=0)
    final = wait_until_settled(out)
    assert final.returncode == 0, final.stdout


def test_a_study_beyond_max_array_size_is_packed_into_bundles(cluster, tmp_path):
    # The test cluster allows 4 array elements (tests/slurm/cluster.sh: MaxArraySize=4); the
    # study has 10 one-rank runs: they go as 4 elements of 2 or 3 runs, with the throttle.
    limits = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True,
                            check=True).stdout
    assert any(line.split() == ["MaxArraySize", "=", "4"] for line in limits.splitlines())
    out = tmp_path / "packed"
    spec = tmp_path / "p.toml"
    spec.write_text(f"""
[study]
name = "slurmy"
output = "{out}"
executor = "slurm"
seeds = 5
[slurm]
partition = "debug"
time = "00:10:00"
throttle = 2
[data.d]
generate = {{ preset = "even-imbalanced", train-size = 60, val-size = 40, test-size = 40 }}
[[experiment]]
name = "e"
methods = ["dpo", "gr-dpo"]
[experiment.options]
iterations = 40
""")
    submitted = grpo_study("run", spec, check=0)
    assert "submitted train: job" in submitted.stdout
    assert "(10 tasks in 4 array elements" in submitted.stdout, submitted.stdout
    script = (out / "slurm" / "train.sbatch").read_text()
    assert "#SBATCH --array=0-3%2" in script
    lines = (out / "slurm" / "train.tasks").read_text().splitlines()
    assert [len(line.split()) for line in lines] == [2, 3, 2, 3]
    plan = json.loads((out / "plan.json").read_text())
    runs = [t["id"] for t in plan["tasks"] if t["layer"] == "train"]
    assert [i for line in lines for i in line.split()] == runs
    final = wait_until_settled(out)
    assert final.returncode == 0, final.stdout
    subs = json.loads((out / "slurm" / "submissions.json").read_text())
    train = next(s for s in subs if s["layer"] == "train")
    assert [len(e) for e in train["elements"]] == [2, 3, 2, 3]
    for run in runs:
        assert (out / "tasks" / f"{run}.done").exists()
        assert "# (in the study's process)" in (out / "logs" / f"{run}.log").read_text()
    # A requeued element resumes its bundle: finished runs stay done, untouched.
    before = (out / "tasks" / f"{runs[0]}.done").read_text()
    (out / "tasks" / f"{runs[1]}.done").unlink()
    grpo_study("task", out, runs[0], runs[1], check=0)
    assert (out / "tasks" / f"{runs[0]}.done").read_text() == before
    assert (out / "tasks" / f"{runs[1]}.done").exists()
