"""End-to-end checks of grpo's files: traces readable with h5py, identical across rank counts,
readable after SIGKILL, warm starts, presets and config files."""
import os
import signal
import subprocess
import time
import zlib

import h5py
import numpy as np
import pytest

GRPO = os.environ.get("GRPO_BIN")
MPIEXEC = os.environ.get("GRPO_MPIEXEC", "")  # empty: a build without MPI
pytestmark = pytest.mark.skipif(not GRPO, reason="GRPO_BIN is not set (run through ctest)")


def run(args, ranks=None, timeout=300, check=True):
    cmd = [GRPO] + [str(a) for a in args]
    if ranks and ranks > 1 and not MPIEXEC:
        pytest.skip("this build has no MPI")
    if ranks and MPIEXEC:
        cmd = [MPIEXEC, "-n", str(ranks)] + cmd
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}): {proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "even.h5"
    run(["generate", "--preset", "even-imbalanced", "--seed", 7, "--out", path])
    return path


def read_all(path):
    """Every dataset of a file as numpy arrays, keyed by name."""
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()])
                     if isinstance(obj, h5py.Dataset) else None)
    return out


def test_trace_has_the_documented_layout(dataset, tmp_path):
    trace = tmp_path / "t.h5"
    run(["train", "--dataset", dataset, "--method", "gr-dpo", "--iterations", 250,
         "--trace-every", 100, "--out", trace, "-q"])
    with h5py.File(trace, "r") as f:
        assert f.attrs["kind"] == "trace"
        assert f.attrs["status"] == "completed"
        assert f.attrs["schema_version"] == "1.0"
        assert f.attrs["num_ranks"] == 1
        assert f.attrs["method"] == "gr-dpo"
        assert f.attrs["kokkos_backend"]
        assert f.attrs["git_revision"]
        assert "method = gr-dpo" in f.attrs["config"]
        crc = zlib.crc32(open(dataset, "rb").read())
        assert f.attrs["dataset_checksum"] == f"crc32:{crc:08x}"
        assert list(f["iteration"][()]) == [0, 100, 200, 249]
        k, p = 2, 4
        for name in ["alpha", "train_loss", "val_loss", "reward_error", "kl", "weights"]:
            assert f[name].shape == (4, k), name
        assert f["theta"].shape == (4, p)
        for name in ["worst_val_loss", "max_reward_error", "grad_norm", "param_norm",
                     "step_theta", "step_alpha", "wall_seconds"]:
            assert f[name].shape == (4,), name
        assert f["theta_final"].shape == (p,)
        assert f["theta_avg"].shape == (p,)
        np.testing.assert_allclose(f["theta"][-1], f["theta_final"][()], rtol=0, atol=0)
        np.testing.assert_allclose(f["worst_val_loss"][()], f["val_loss"][()].max(axis=1))
        np.testing.assert_allclose(f["alpha"][()].sum(axis=1), 1.0, rtol=1e-12)
        assert [n.decode() if isinstance(n, bytes) else n for n in f["groups/names"][()]] == \
            ["group_0", "group_1"]
        assert f["theta"].chunks is not None and f["theta"].maxshape[0] is None


@pytest.mark.parametrize("method", ["gr-dpo", "gr-ipo", "dpo"])
def test_gap_columns_bracket_the_robust_objective(dataset, tmp_path, method):
    trace = tmp_path / "gap.h5"
    run(["train", "--dataset", dataset, "--method", method, "--iterations", 2000,
         "--trace-every", 200, "--gap", "--out", trace, "-q"])
    with h5py.File(trace, "r") as f:
        assert "gap = true" in f.attrs["config"]
        upper, lower, gap = f["gap_upper"][()], f["gap_lower"][()], f["gap"][()]
        assert upper.shape == (11,)
        np.testing.assert_allclose(gap, upper - lower, rtol=0, atol=1e-15)
        assert np.all(gap >= -1e-9) and np.all(f["gap_last"][()] >= -1e-9)
        # The last-iterate upper bound is the robust objective of the last theta (chi = 1).
        np.testing.assert_allclose(f["gap_upper_last"][()], f["worst_train_loss"][()],
                                   rtol=1e-12)
        if method.startswith("gr-"):
            assert gap[-1] < 0.5 * gap[1]
        assert np.all(f["gap_residual"][()] < 1e-10)


def test_gap_is_absent_unless_asked(dataset, tmp_path):
    trace = tmp_path / "nogap.h5"
    run(["train", "--dataset", dataset, "--iterations", 10, "--out", trace, "-q"])
    with h5py.File(trace, "r") as f:
        assert "gap" not in f and "gap_upper" not in f


@pytest.mark.parametrize("extra", [
    ["--method", "gr-dpo"],
    ["--method", "gr-ipo", "--beta", "0.5", "--step-theta", "0.01"],
    ["--method", "is-dpo", "--batch-size", 32],
    ["--method", "gr-dpo", "--batch-size", 16, "--batch-mode", "group-weighted"],
    ["--method", "gr-dpo", "--sampling", "paper_single", "--step-theta", "0.05"],
    ["--method", "gr-ipo", "--closed-form", "--beta", "0.1"],
    ["--method", "gr-dpo", "--gap", "--projection-radius", "3"],
], ids=["gr-dpo", "gr-ipo", "is-dpo-batch", "weighted-batch", "paper-single", "closed-form",
        "gap-on-ball"])
def test_traces_agree_across_rank_counts(dataset, tmp_path, extra):
    traces = []
    for ranks in (1, 2, 3):
        trace = tmp_path / f"np{ranks}.h5"
        args = ["train", "--dataset", dataset, "--iterations", 400, "--trace-every", 50,
                "--param-limit", 5, "--out", trace, "-q"] + extra
        run(args, ranks=ranks)
        traces.append(read_all(trace))
    reference = traces[0]
    for other in traces[1:]:
        assert other.keys() == reference.keys()
        for name, value in reference.items():
            if name in ("wall_seconds",) or value.dtype.kind not in "fi":
                continue
            scale = np.maximum(1.0, np.abs(value))
            assert np.max(np.abs(other[name] - value) / scale, initial=0.0) < 1e-10, name


def test_generate_is_rank_invariant(tmp_path):
    files = []
    for ranks in (1, 3):
        out = tmp_path / f"g{ranks}.h5"
        run(["generate", "--preset", "uneven-imbalanced", "--groups", 3, "--proportions",
             "0.2,0.3,0.5", "--train-size", 1001, "--out", out], ranks=ranks)
        files.append(read_all(out))
    assert files[0].keys() == files[1].keys()
    for name in files[0]:
        np.testing.assert_array_equal(files[0][name], files[1][name], err_msg=name)


def test_killed_run_leaves_a_readable_trace(dataset, tmp_path):
    trace = tmp_path / "killed.h5"
    env = dict(os.environ, HDF5_USE_FILE_LOCKING="FALSE")
    proc = subprocess.Popen([GRPO, "train", "--dataset", str(dataset), "--iterations", "50000000",
                             "--trace-every", "2000", "--out", str(trace), "-q"], env=env)
    try:
        deadline = time.time() + 60
        records = 0
        while time.time() < deadline and records < 3:
            time.sleep(0.3)
            try:
                with h5py.File(trace, "r") as f:
                    records = f["iteration"].shape[0]
            except (OSError, KeyError):
                pass
        assert records >= 3, "the run wrote no records"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with h5py.File(trace, "r") as f:
        assert f.attrs["status"] == "running"
        n = f["iteration"].shape[0]
        assert n >= 3
        assert f["theta"].shape[0] >= n - 1
        assert np.all(np.isfinite(f["worst_val_loss"][: n - 1]))


def test_warm_start_from_a_trace(dataset, tmp_path):
    first = tmp_path / "first.h5"
    run(["train", "--dataset", dataset, "--iterations", 100, "--out", first, "-q"])
    second = tmp_path / "second.h5"
    run(["train", "--dataset", dataset, "--iterations", 1, "--step-theta", 0,
         "--theta-init", first, "--out", second, "-q"])
    with h5py.File(first, "r") as a, h5py.File(second, "r") as b:
        np.testing.assert_array_equal(a["theta_final"][()], b["theta_final"][()])
    explicit = tmp_path / "explicit.h5"
    run(["train", "--dataset", dataset, "--iterations", 1, "--step-theta", 0,
         "--theta-init", "1,2,3,4", "--out", explicit, "-q"])
    with h5py.File(explicit, "r") as f:
        np.testing.assert_array_equal(f["theta_final"][()], [1, 2, 3, 4])


def test_explicit_options_override_the_preset_and_the_config_file(dataset, tmp_path):
    config = tmp_path / "run.ini"
    config.write_text("method = is-dpo\niterations = 30\nbeta = 3\n")
    trace = tmp_path / "p.h5"
    run(["train", "--dataset", dataset, "--preset", "paper", "--config", config,
         "--iterations", 12, "--out", trace, "-q"])
    with h5py.File(trace, "r") as f:
        cfg = f.attrs["config"]
        assert "method = is-dpo" in cfg          # from the config file
        assert "iterations = 12" in cfg          # command line beats config file
        assert "beta = 3" in cfg                 # config file beats preset (beta 1)
        assert "step-theta = 0.5" in cfg         # preset (even-imbalanced) where nobody else says
        assert "param-limit = 5" in cfg
        assert f.attrs["iterations"] == 12


def test_info_summarises_datasets_and_traces(dataset, tmp_path):
    out = run(["info", dataset]).stdout
    assert "train: 300 pairs (per group 60/240)" in out
    assert "preset: even-imbalanced" in out
    trace = tmp_path / "i.h5"
    run(["train", "--dataset", dataset, "--iterations", 5, "--out", trace, "-q"])
    out = run(["info", trace]).stdout
    assert "grpo trace" in out and "status completed" in out and "records 2" in out


def test_divergence_stops_with_a_numerical_error_and_a_failed_trace(dataset, tmp_path):
    trace = tmp_path / "diverged.h5"
    proc = run(["train", "--dataset", dataset, "--method", "ipo", "--step-theta", "1e200",
                "--iterations", 100, "--trace-every", 1, "--out", trace, "-q"], check=False)
    assert proc.returncode == 5, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: non-finite"), proc.stderr
    assert "iteration" in lines[0]
    with h5py.File(trace, "r") as f:
        assert f.attrs["status"].startswith("failed: non-finite")
        assert f["iteration"].shape[0] >= 1
        assert np.all(np.isfinite(f["theta"][()]))
