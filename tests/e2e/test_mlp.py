"""End-to-end tests of `grpo train --policy mlp` (ALGORITHM.md §8).

The data are a survey-like JSON written here (3 countries, 40 questions each) and converted with
`grpo convert globalopinionqa`, so the tests need nothing outside the repository. Checked: every
method runs with an SFT stage and writes the §8.6 metrics per record; the trace of a 2-rank run
equals the 1-rank run; the model after SFT is recorded; options of the other policy and
inconsistent options are one-line errors with the configuration exit code and no trace.
"""

import h5py
import numpy as np
import pytest

from survey_data import COUNTRIES, write_survey


@pytest.fixture(scope="module")
def survey_data(grpo, tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlp")
    write_survey(folder / "survey.json")
    result = grpo("convert", "globalopinionqa", "--input", "survey.json", "--out", "survey.h5",
                  "--countries", ",".join(COUNTRIES), "--dim", 32, cwd=folder)
    assert result.returncode == 0, result.describe()
    return folder / "survey.h5"


def _train_args(data, out, method, *extra):
    return ["train", "--policy", "mlp", "--dataset", data, "--out", out, "--method", method,
            "--hidden", "16,8", "--activation", "gelu", "--iterations", 40, "--batch-size", 16,
            "--micro-batches", 2, "--beta", 0.5, "--lr", 3e-3, "--sft-steps", 10,
            "--sft-lr", 1e-3, "--trace-every", 10, "-q", *extra]


def _minimal_args(data, out, *extra):
    return ["train", "--policy", "mlp", "--dataset", data, "--out", out, "--iterations", 5,
            "--batch-size", 16, "-q", *extra]


@pytest.mark.parametrize("method", ["dpo", "ipo", "is-dpo", "is-ipo", "gr-dpo", "gr-ipo"])
def test_every_method_writes_the_metrics(grpo, survey_data, tmp_path, method):
    result = grpo(*_train_args(survey_data, "t.h5", method), cwd=tmp_path)
    assert result.returncode == 0, result.describe()
    with h5py.File(tmp_path / "t.h5", "r") as f:
        assert f.attrs["status"] == "completed"
        assert f.attrs["policy"] == "mlp"
        assert f.attrs["network"] == "32-16-8-1 gelu"
        assert list(f["iteration"][()]) == [0, 10, 20, 30, 39]
        K = len(COUNTRIES)
        for name in ("alpha", "train_loss", "val_loss", "test_loss", "test_reward_accuracy",
                     "test_logprob_accuracy", "test_nll", "val_reward_accuracy"):
            assert f[name].shape == (5, K), name
        for name in ("worst_test_loss", "worst_test_reward_accuracy", "average_test_loss",
                     "worst_test_logprob_accuracy", "grad_norm", "wall_seconds"):
            assert f[name].shape == (5,), name
        acc = f["test_reward_accuracy"][()]
        assert np.all((acc >= 0) & (acc <= 1))
        assert np.allclose(f["worst_test_reward_accuracy"][()], acc.min(axis=1))
        assert np.allclose(f["worst_test_loss"][()], f["test_loss"][()].max(axis=1))
        assert np.allclose(f["alpha"][()].sum(axis=1), 1.0)
        # The model after the SFT stage, before preference training.
        assert f["sft_test_logprob_accuracy"].shape == (K,)
        assert f["theta_final"].shape == (f.attrs["num_params"],)
        if method.startswith("gr-"):
            assert np.ptp(f["alpha"][-1]) > 1e-6  # the robust weights moved
        else:
            assert np.allclose(f["alpha"][0], f["alpha"][-1])  # fixed weights


def test_preference_training_improves_on_sft(grpo, survey_data, tmp_path):
    args = _train_args(survey_data, "t.h5", "gr-ipo")
    args[args.index("--iterations") + 1] = 300
    result = grpo(*args, cwd=tmp_path)
    assert result.returncode == 0, result.describe()
    with h5py.File(tmp_path / "t.h5", "r") as f:
        first, last = f["train_loss"][0], f["train_loss"][-1]
        assert last.max() < 0.5 * first.max(), (first, last)
        assert f["average_train_reward_accuracy"][-1] > 0.7


def test_two_ranks_give_the_one_rank_trace(grpo, survey_data, tmp_path):
    one = grpo(*_train_args(survey_data, "one.h5", "gr-dpo"), cwd=tmp_path)
    assert one.returncode == 0, one.describe()
    two = grpo(*_train_args(survey_data, "two.h5", "gr-dpo"), cwd=tmp_path, ranks=2)
    assert two.returncode == 0, two.describe()
    with h5py.File(tmp_path / "one.h5", "r") as a, h5py.File(tmp_path / "two.h5", "r") as b:
        assert b.attrs["num_ranks"] == 2
        for name in a:
            if name == "wall_seconds" or not isinstance(a[name], h5py.Dataset):
                continue
            np.testing.assert_allclose(b[name][()], a[name][()], rtol=1e-9, atol=1e-12,
                                       err_msg=name)


@pytest.mark.parametrize("extra, words", [
    (["--closed-form"], ["option --closed-form", "not available with --policy mlp"]),
    (["--checkpoint-every", "-1"], ["option --checkpoint-every", "-1"]),
    (["--gap"], ["option --gap", "not available with --policy mlp"]),
    (["--micro-batches", "3"], ["option --micro-batches", "does not divide"]),
    (["--hidden", "16,x"], ["option --hidden"]),
    (["--activation", "sigmoid"], ["option --activation", "sigmoid"]),
    (["--optimizer", "lbfgs"], ["option --optimizer", "lbfgs"]),
    (["--reference", "sft"], ["option --reference"]),
    (["--sft-steps", "-1"], ["option --sft-steps"]),
    (["--lr", "nan"], ["option --lr", "nan"]),
    (["--alpha-update", "often"], ["option --alpha-update", "often"]),
])
def test_bad_options(grpo, survey_data, tmp_path, extra, words):
    result = grpo(*_minimal_args(survey_data, "t.h5", *extra), cwd=tmp_path)
    assert result.returncode == 2, result.describe()
    assert len(result.stderr_lines) == 1, result.describe()
    for word in words:
        assert word in result.stderr_lines[0], result.describe()
    assert not (tmp_path / "t.h5").exists()


def test_mlp_options_need_the_mlp_policy(grpo, valid_dataset, tmp_path):
    result = grpo("train", "--dataset", valid_dataset, "--out", "t.h5", "--hidden", "8",
                  cwd=tmp_path)
    assert result.returncode == 2, result.describe()
    assert "option --hidden: only with --policy mlp" in result.stderr_lines[0]
    assert not (tmp_path / "t.h5").exists()


def test_sft_needs_option_data(grpo, valid_dataset, tmp_path):
    # The synthetic bandit data has pair features but not every option of each prompt.
    result = grpo("train", "--policy", "mlp", "--dataset", valid_dataset, "--out", "t.h5",
                  "--sft-steps", 5, cwd=tmp_path)
    assert result.returncode == 2, result.describe()
    assert "option --sft-steps" in result.stderr_lines[0]
    ok = grpo("train", "--policy", "mlp", "--dataset", valid_dataset, "--out", "t.h5",
              "--iterations", 5, "--method", "gr-dpo", "-q", cwd=tmp_path)
    assert ok.returncode == 0, ok.describe()
    with h5py.File(tmp_path / "t.h5", "r") as f:
        assert "test_nll" not in f  # no options: no full-softmax metric
        assert f["test_reward_accuracy"].shape[1] == 2
