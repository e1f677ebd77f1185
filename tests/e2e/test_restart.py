"""Checkpoints and exact restart: a run of either policy (log-linear; MLP with an SFT stage, a
frozen reference network and Adam moments) killed with SIGKILL in the middle and resumed equals
the uninterrupted run bit for bit (every trace dataset and attribute but the wall-clock ones), at
1 and 2 ranks; a numerical fault leaves the last good checkpoint intact; a checkpoint of another
run is refused."""
import os
import subprocess
import time

import h5py
import numpy as np
import pytest
from sessions import kill_session
from survey_data import COUNTRIES, write_survey

GRPO = os.environ.get("GRPO_BIN")
MPIEXEC = os.environ.get("GRPO_MPIEXEC")
pytestmark = pytest.mark.skipif(not GRPO, reason="GRPO_BIN is not set (run through ctest)")


def command(args, ranks=1):
    cmd = [GRPO] + [str(a) for a in args]
    if ranks > 1:
        if not MPIEXEC:
            pytest.skip("this build has no MPI")
        cmd = [MPIEXEC, "-n", str(ranks)] + cmd
    return cmd


def run(args, ranks=1, check=True):
    proc = subprocess.run(command(args, ranks), capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args}: exit {proc.returncode}: {proc.stderr}")
    return proc


def datasets(path):
    with h5py.File(path, "r") as f:
        return {name: obj[()] for name, obj in f.items() if isinstance(obj, h5py.Dataset)}


WALL_CLOCK = {"wall_seconds", "train_seconds", "sft_seconds"}


def attributes(path):
    with h5py.File(path, "r") as f:
        return {k: v for k, v in f.attrs.items() if k not in WALL_CLOCK and k != "config"}


def assert_same_trace(got_path, want_path):
    """Every dataset and attribute equal bit for bit but the wall-clock ones; returns the
    reference's datasets and attributes."""
    got, want = datasets(got_path), datasets(want_path)
    assert got.keys() == want.keys()
    for name in want:
        if name not in WALL_CLOCK:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    got_attrs, want_attrs = attributes(got_path), attributes(want_path)
    assert got_attrs.keys() == want_attrs.keys()
    for name in want_attrs:
        np.testing.assert_array_equal(got_attrs[name], want_attrs[name], err_msg=name)
    return want, want_attrs


def kill_after_first_checkpoint(args, ranks, checkpoint):
    """Starts `grpo args`, waits for its first checkpoint, kills its whole session (mpirun and
    every rank at once, as a node failure would); returns the checkpoint's step count."""
    proc = subprocess.Popen(command(args, ranks), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not os.path.exists(checkpoint) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before its first checkpoint: make it longer"
    kill_session(proc.pid)
    proc.wait()
    with h5py.File(checkpoint, "r") as f:
        return int(f.attrs["iteration"])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("restart") / "d.h5"
    run(["generate", "--preset", "uneven-imbalanced", "--train-size", 40000, "--out", path])
    return path


def train_args(dataset, out, *extra):
    return ["train", "--dataset", dataset, "--out", out, "--method", "gr-dpo", "--iterations",
            6000, "--trace-every", 250, "--gap", "--batch-size", 4096, "--batch-mode",
            "group-weighted", "--checkpoint-every", 1000, "-q", *extra]


@pytest.mark.parametrize("ranks", [1, 2])
def test_killed_run_resumes_bit_for_bit(dataset, tmp_path, ranks):
    reference = tmp_path / "reference.h5"
    run(train_args(dataset, reference), ranks)
    assert not os.path.exists(f"{reference}.ckpt")  # removed once the run completes

    trace = tmp_path / "killed.h5"
    checkpoint = f"{trace}.ckpt"
    done = kill_after_first_checkpoint(train_args(dataset, trace), ranks, checkpoint)
    with h5py.File(trace, "r") as f:
        assert f.attrs["status"] == "running"
    assert 0 < done < 6000

    resumed = run([a for a in train_args(dataset, trace, "--resume") if a != "-q"], ranks)
    assert f"resuming from '{checkpoint}' after step {done}" in resumed.stdout
    assert not os.path.exists(checkpoint)
    got, want = datasets(trace), datasets(reference)
    assert got.keys() == want.keys()
    for name in want:
        if name == "wall_seconds":
            assert np.all(np.diff(got[name]) >= 0)  # continues the interrupted run's clock
            continue
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    with h5py.File(trace, "r") as f:
        assert f.attrs["status"] == "completed"
        assert f.attrs["records"] == len(want["iteration"])


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """Survey pairs with options (for the SFT stage), written and converted here."""
    folder = tmp_path_factory.mktemp("restart_mlp")
    write_survey(folder / "survey.json")
    path = folder / "survey.h5"
    run(["convert", "globalopinionqa", "--input", folder / "survey.json", "--out", path,
         "--countries", ",".join(COUNTRIES), "--dim", 32])
    return path


#: Steps of the MLP runs killed after their first checkpoint: long enough in Release that the
#: run is still going when the test sees the checkpoint (and the first plateau drops come before
#: it); under the sanitizers, where a step is some 50x slower, a fifth of that is as safe.
MLP_STEPS = 8000 if os.environ.get("GRPO_SANITIZED") == "1" else 40000


def mlp_args(data, out, *extra):
    return ["train", "--policy", "mlp", "--dataset", data, "--out", out, "--method", "gr-dpo",
            "--hidden", "32", "--beta", "0.5", "--batch-size", "32", "--micro-batches", "2",
            "--alpha-update", "micro-batch", "--optimizer", "adam", "--iterations", MLP_STEPS,
            "--sft-steps", 50, "--sft-lr", "0.001", "--step-alpha", "0.1", "--trace-every", 500,
            "--checkpoint-every", 1000, "-q", *extra]


@pytest.mark.parametrize("ranks", [1, 2])
def test_killed_mlp_run_resumes_bit_for_bit(survey, tmp_path, monkeypatch, ranks):
    monkeypatch.chdir(tmp_path)  # the same relative --out in both runs: their configs match
    os.makedirs("a")
    os.makedirs("b")
    run(mlp_args(survey, "a/t.h5"), ranks)
    assert not os.path.exists("a/t.h5.ckpt")
    done = kill_after_first_checkpoint(mlp_args(survey, "b/t.h5"), ranks, "b/t.h5.ckpt")
    assert 0 < done < MLP_STEPS
    with h5py.File("b/t.h5.ckpt", "r") as f:
        assert f.attrs["policy"] == "mlp"
        assert f["reference_params"].shape == f["theta"].shape  # the post-SFT network
        assert "sft_train_nll" in f["finals"]
    resumed = run([a for a in mlp_args(survey, "b/t.h5", "--resume") if a != "-q"], ranks)
    assert f"resuming from 'b/t.h5.ckpt' after step {done}" in resumed.stdout
    assert not os.path.exists("b/t.h5.ckpt")
    _, want_attrs = assert_same_trace("b/t.h5", "a/t.h5")
    assert want_attrs["status"] == "completed"


def test_mlp_resume_refuses_a_log_linear_checkpoint(survey, tmp_path):
    checkpoint = tmp_path / "linear.ckpt"
    args = ["train", "--dataset", survey, "--out", tmp_path / "l.h5", "--iterations", 200000,
            "--checkpoint-every", 100, "--checkpoint", checkpoint, "-q"]
    kill_after_first_checkpoint(args, 1, checkpoint)
    other = run(mlp_args(survey, tmp_path / "m.h5", "--resume", "--checkpoint", checkpoint),
                check=False)
    assert other.returncode == 2, other.stderr
    line = other.stderr.strip()
    assert "\n" not in line and "option --resume" in line and str(checkpoint) in line
    assert not os.path.exists(tmp_path / "m.h5")


def test_resume_without_checkpoint_starts_over(dataset, tmp_path):
    trace = tmp_path / "t.h5"
    proc = run(["train", "--dataset", dataset, "--out", trace, "--iterations", 50, "--resume"])
    assert "no checkpoint" in proc.stdout
    with h5py.File(trace, "r") as f:
        assert f.attrs["status"] == "completed"


def test_resume_refuses_other_options_and_other_data(dataset, tmp_path):
    trace = tmp_path / "t.h5"
    args = ["train", "--dataset", dataset, "--out", trace, "--iterations", 3000,
            "--checkpoint-every", 1000, "-q"]
    proc = subprocess.Popen(command(args), start_new_session=True)
    while not os.path.exists(f"{trace}.ckpt") and proc.poll() is None:
        time.sleep(0.01)
    kill_session(proc.pid)
    proc.wait()
    if not os.path.exists(f"{trace}.ckpt"):
        pytest.skip("the run finished before it could be killed")
    other = run(args + ["--resume", "--beta", "2"], check=False)
    assert other.returncode == 2
    line = other.stderr.strip()
    assert "\n" not in line and "option --resume" in line and f"{trace}.ckpt" in line
    assert "beta = 1" in line and "beta = 2" in line
    other_data = tmp_path / "other.h5"
    run(["generate", "--preset", "uneven-imbalanced", "--train-size", 40000, "--seed", 5,
         "--out", other_data])
    wrong = run(["train", "--dataset", other_data] + args[3:] + ["--resume"], check=False)
    assert wrong.returncode in (2, 3)  # the config names the dataset path: refused either way
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint")
    bad = run(args + ["--resume", "--checkpoint", garbage], check=False)
    assert bad.returncode in (3, 4) and str(garbage) in bad.stderr


def test_numerical_fault_keeps_the_last_good_checkpoint(dataset, tmp_path):
    trace = tmp_path / "diverge.h5"
    checkpoint = tmp_path / "diverge.ckpt"
    proc = run(["train", "--dataset", dataset, "--out", trace, "--method", "ipo",
                "--step-theta", "1e40", "--iterations", 500, "--checkpoint-every", 2,
                "--checkpoint", checkpoint, "-q"], check=False)
    assert proc.returncode == 5
    line = proc.stderr.strip()
    assert "\n" not in line and "non-finite" in line and "at iteration" in line
    failed_at = int(line.split("at iteration ")[1].split(",")[0].split()[0])
    with h5py.File(checkpoint, "r") as f:
        assert f.attrs["kind"] == "checkpoint"
        assert 0 < int(f.attrs["iteration"]) <= failed_at
        assert np.all(np.isfinite(f["theta"][()]))
    assert not os.path.exists(f"{checkpoint}.tmp")
    with h5py.File(trace, "r") as f:
        assert f.attrs["status"].startswith("failed: ")


# patience 0 and no threshold: the rate drops at every record whose validation loss is not the
# lowest so far, so both runs below drop several times before their checkpoint and after it.
PLATEAU = ["--lr-schedule", "plateau", "--plateau-patience", 0, "--plateau-threshold", 0,
           "--plateau-stop-lr", 0]


def plateau_args(policy, dataset, survey, out, *extra):
    if policy == "loglinear":
        return ["train", "--dataset", dataset, "--out", out, "--method", "gr-dpo", "--iterations",
                6000, "--trace-every", 100, "--batch-size", 4096, "--batch-mode",
                "group-weighted", "--checkpoint-every", 3500, "-q", *PLATEAU, *extra]
    args = [a for a in mlp_args(survey, out, *PLATEAU, *extra)]
    at = args.index("--checkpoint-every")
    args[at + 1] = 2000
    return args


@pytest.mark.parametrize("policy,ranks", [("loglinear", 1), ("loglinear", 2), ("mlp", 1),
                                          ("mlp", 2)])
def test_killed_run_with_a_plateau_schedule_resumes_bit_for_bit(dataset, survey, tmp_path,
                                                                monkeypatch, policy, ranks):
    """The plateau rule's state (best loss, bad records, drops, the scaled alpha step) is in the
    checkpoint: the resumed run drops its rate at the same records as the uninterrupted one."""
    monkeypatch.chdir(tmp_path)
    os.makedirs("a")
    os.makedirs("b")
    run(plateau_args(policy, dataset, survey, "a/t.h5"), ranks)
    done = kill_after_first_checkpoint(plateau_args(policy, dataset, survey, "b/t.h5"), ranks,
                                       "b/t.h5.ckpt")
    with h5py.File("b/t.h5.ckpt", "r") as f:
        assert f.attrs["schema_version"] == "1.2"
        state = f["schedule_state"][()]
        assert state[6] >= 1, "no drop before the checkpoint: the test would prove little"
    resumed = run([a for a in plateau_args(policy, dataset, survey, "b/t.h5", "--resume")
                   if a != "-q"], ranks)
    assert f"after step {done}" in resumed.stdout
    want, want_attrs = assert_same_trace("b/t.h5", "a/t.h5")
    assert want_attrs["lr_drops"] > state[6]  # drops after the checkpoint too
    step_alpha = want["step_alpha"]
    assert step_alpha[-1] == step_alpha[0] * 0.5 ** want_attrs["lr_drops"]  # the alpha tie


def test_resume_refuses_a_tampered_schedule_state(dataset, tmp_path):
    trace = tmp_path / "t.h5"
    checkpoint = f"{trace}.ckpt"
    args = ["train", "--dataset", dataset, "--out", trace, "--iterations", 200000,
            "--trace-every", 100, "--checkpoint-every", 500, "-q", *PLATEAU]
    kill_after_first_checkpoint(args, 1, checkpoint)
    with h5py.File(checkpoint, "r+") as f:
        state = f["schedule_state"][()]
        state[7] = 0.5  # the stopped flag
        del f["schedule_state"]
        f["schedule_state"] = state
    before = datasets(trace)
    bad = run(args + ["--resume"], check=False)
    assert bad.returncode == 3, bad.stderr
    line = bad.stderr.strip()
    assert "\n" not in line and checkpoint in line and "schedule_state" in line and "0.5" in line
    after = datasets(trace)
    assert after.keys() == before.keys()
    for name in before:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)
