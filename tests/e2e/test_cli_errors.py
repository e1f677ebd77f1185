"""End-to-end tests of the grpo command line on bad input.

The project's rule: every bad input gives exactly ONE line on stderr, starting "error:", that
names the file (when there is one), the field or option and the value; the exit code of the
error's class (core/error.hpp: 2 configuration, 3 data, 4 I/O); no crash (signal, "internal
error", core dump, hang); and no output file (neither --out nor a leftover <out>.tmp). Under
mpiexec -n 2 the same holds: rank 0 prints the one line, the exit code is the same.

Bad datasets are copies of a valid generated one, changed with h5py (conftest.make_dataset).
Cases are pytest.param(...) lists with ids; `pytest -k beta` runs a few of them.
"""

from pathlib import Path
from typing import Callable, List, Sequence, Tuple

import h5py
import numpy as np
import pytest

CONFIG, DATA, IO = 2, 3, 4

# ---------------------------------------------------------------------------------------------
# Helpers


def files_in(folder: Path) -> List[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


class Ctx:
    """Paths of one test (all under its tmp_path) and builders of bad inputs."""

    def __init__(self, tmp: Path, dataset: Path, trace: Path, make_h5: Callable):
        self.tmp = tmp
        self.dataset = dataset  # valid, shared by the session: never changed
        self.trace = trace  # valid completed trace, shared: never changed
        self.out = tmp / "out.h5"
        self.gen_out = tmp / "gen.h5"
        self._make_h5 = make_h5

    def train(self, *extra, dataset=None, out=None) -> List:
        return ["train", "--dataset", dataset or self.dataset, "--out", out or self.out, "-q",
                *extra]

    def bad_dataset(self, mutate, name="bad_dataset.h5") -> Path:
        return self._make_h5(self.dataset, mutate, name)

    def bad_trace(self, mutate, name="bad_trace.h5") -> Path:
        return self._make_h5(self.trace, mutate, name)

    def text_file(self, name: str, text: str) -> Path:
        path = self.tmp / name
        path.write_text(text)
        return path

    def truncated_dataset(self, name="truncated.h5") -> Path:
        data = self.dataset.read_bytes()
        path = self.tmp / name
        path.write_bytes(data[: len(data) // 2])
        return path


@pytest.fixture
def ctx(tmp_path, valid_dataset, valid_trace, make_h5) -> Ctx:
    return Ctx(tmp_path, valid_dataset, valid_trace, make_h5)


@pytest.fixture
def expect_error(grpo, tmp_path):
    """expect_error(args, code, names, ranks=1): run grpo in tmp_path and check the rule."""

    def check(args: Sequence, code, names: Sequence[str], ranks: int = 1):
        before = files_in(tmp_path)
        result = grpo(*args, cwd=tmp_path, ranks=ranks)
        report = result.describe()
        assert result.returncode >= 0, f"killed by signal {-result.returncode}\n{report}"
        assert "internal error" not in result.stderr, report
        assert "core dumped" not in result.stderr.lower(), report
        codes = code if isinstance(code, tuple) else (code,)
        assert result.returncode in codes, report
        lines = result.stderr_lines
        assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}\n{report}"
        assert lines[0].startswith("error: "), report
        for name in names:
            assert str(name) in lines[0], f"{name!r} not named in the error\n{report}"
        # No output file, no <out>.tmp, no core file: nothing new in the test's folder.
        assert files_in(tmp_path) == before, report
        return result

    return check


# h5py mutations of a dataset (each returns a function of the open file).


def huge_train(rows: int):
    """Declares train/ with `rows` rows in unwritten chunked datasets (a tiny file)."""
    def mutate(f):
        for name in ("chosen", "rejected", "ref_logratio"):
            del f["train/" + name]
        f.create_dataset("train/chosen", shape=(rows, 4), dtype="f4", chunks=(1024, 4))
        f.create_dataset("train/rejected", shape=(rows, 4), dtype="f4", chunks=(1024, 4))
        offsets = f["train/offsets"][()]
        offsets[-1] = rows
        del f["train/offsets"]
        f["train/offsets"] = offsets
    return mutate


def replace(name: str, data, dtype=None):
    def mutate(f):
        del f[name]
        f.create_dataset(name, data=data, dtype=dtype)

    return mutate


def offsets(split: str, values: Sequence[int], dtype=np.int64):
    return replace(f"{split}/offsets", np.array(values, dtype=dtype))


def set_attr(key: str, value):
    def mutate(f):
        f.attrs[key] = value

    return mutate


def del_attr(key: str):
    def mutate(f):
        del f.attrs[key]

    return mutate


def delete(name: str):
    def mutate(f):
        del f[name]

    return mutate


def set_entry(name: str, index: Tuple[int, ...], value: float):
    def mutate(f):
        values = f[name][...]
        values[index] = value
        f[name][...] = values

    return mutate


def group_names(values):
    """groups/names replaced by `values`: str -> variable-length UTF-8 (h5py's default),
    a numpy bytes array -> fixed-length ASCII."""
    dtype = h5py.string_dtype() if isinstance(values, list) else None
    return replace("groups/names", values, dtype)


def unchanged(f):
    pass


# ---------------------------------------------------------------------------------------------
# Positive checks: help and version


@pytest.mark.parametrize("args, usage", [
    pytest.param(["--help"], "Usage: grpo <command>", id="grpo--help"),
    pytest.param(["-h"], "Usage: grpo <command>", id="grpo-h"),
    pytest.param(["help"], "Usage: grpo <command>", id="grpo-help"),
    pytest.param(["train", "--help"], "Usage: grpo train", id="train--help"),
    pytest.param(["generate", "--help"], "Usage: grpo generate", id="generate--help"),
    pytest.param(["info", "--help"], "Usage: grpo info", id="info--help"),
])
def test_help(grpo, tmp_path, args, usage):
    result = grpo(*args, cwd=tmp_path)
    assert result.returncode == 0, result.describe()
    assert result.stdout.startswith(usage), result.describe()
    assert result.stderr == "", result.describe()


def test_version(grpo, tmp_path):
    result = grpo("--version", cwd=tmp_path)
    assert result.returncode == 0, result.describe()
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("grpo "), result.describe()


def test_no_arguments_is_a_one_line_error(expect_error):
    expect_error([], CONFIG, ["missing command", "--help"])


@pytest.mark.parametrize("args, text", [
    pytest.param(["--help"], "Usage: grpo <command>", id="grpo--help"),
    pytest.param(["train", "--help"], "Usage: grpo train", id="train--help"),
    pytest.param(["--version"], "grpo ", id="version"),
])
def test_help_under_mpi_printed_once(grpo, tmp_path, args, text):
    result = grpo(*args, cwd=tmp_path, ranks=2)
    assert result.returncode == 0, result.describe()
    assert result.stdout.count(text) == 1, result.describe()
    assert result.stdout.startswith(text), result.describe()


# ---------------------------------------------------------------------------------------------
# Bad command lines, config files, paths and theta-init files: build(ctx) -> (args, names)

CLI_CASES = [
    # --- configuration (exit 2): grpo train options
    pytest.param(CONFIG, lambda c: (c.train("--bogus", "1"), ["--bogus"]), id="unknown-option"),
    pytest.param(CONFIG, lambda c: (c.train("--beta", "1", "--beta", "2"), ["--beta"]),
                 id="option-twice"),
    pytest.param(CONFIG, lambda c: (["train", "--out", c.out, "-q"], ["--dataset"]),
                 id="missing-dataset"),
    pytest.param(CONFIG, lambda c: (["train", "--dataset", c.dataset, "-q"], ["--out"]),
                 id="missing-out"),
    pytest.param(CONFIG, lambda c: (c.train("--beta", "0"), ["--beta", "0"]), id="beta-zero"),
    pytest.param(CONFIG, lambda c: (c.train("--beta", "-0.5"), ["--beta", "-0.5"]),
                 id="beta-negative"),
    pytest.param(CONFIG, lambda c: (c.train("--beta", "nan"), ["--beta", "nan"]), id="beta-nan"),
    pytest.param(CONFIG, lambda c: (c.train("--beta", "abc"), ["--beta", "abc"]),
                 id="beta-not-a-number"),
    pytest.param(CONFIG, lambda c: (c.train("--chi", "1.5"), ["--chi", "1.5"]), id="chi-above-1"),
    pytest.param(CONFIG, lambda c: (c.train("--chi", "-0.1"), ["--chi", "-0.1"]),
                 id="chi-negative"),
    pytest.param(CONFIG, lambda c: (c.train("--step-theta", "-0.1"), ["--step-theta", "-0.1"]),
                 id="step-theta-negative"),
    pytest.param(CONFIG, lambda c: (c.train("--step-alpha", "-0.1"), ["--step-alpha", "-0.1"]),
                 id="step-alpha-negative"),
    pytest.param(CONFIG, lambda c: (c.train("--batch-size", "301"), ["--batch-size", "301", "300"]),
                 id="batch-size-above-N"),
    pytest.param(CONFIG, lambda c: (c.train("--batch-size", "-1"), ["--batch-size", "-1"]),
                 id="batch-size-negative"),
    pytest.param(CONFIG, lambda c: (c.train("--method", "sgd"), ["--method", "sgd"]),
                 id="unknown-method"),
    pytest.param(CONFIG, lambda c: (c.train("--theta-init", "1,x"), ["--theta-init", "1,x"]),
                 id="theta-init-malformed-list"),
    pytest.param(CONFIG, lambda c: (c.train("--theta-init", "1,2,3,nan"),
                                    ["--theta-init", "nan"]), id="theta-init-nan"),
    pytest.param(CONFIG, lambda c: (c.train("--theta-init", "1,2"), ["--theta-init", "2 values"]),
                 id="theta-init-wrong-length"),
    pytest.param(CONFIG, lambda c: (c.train("--iterations", "0"), ["--iterations", "0"]),
                 id="iterations-zero"),
    pytest.param(CONFIG, lambda c: (c.train("--iterations", "1.5"), ["--iterations", "1.5"]),
                 id="iterations-not-integer"),
    pytest.param(CONFIG, lambda c: (c.train("--trace-every", "0"), ["--trace-every", "0"]),
                 id="trace-every-zero"),
    pytest.param(CONFIG, lambda c: (c.train("--preset", "nope"), ["--preset", "nope"]),
                 id="unknown-preset"),
    pytest.param(CONFIG, lambda c: (c.train("--closed-form", "--method", "gr-dpo"),
                                    ["--closed-form", "gr-dpo"]), id="closed-form-gr-dpo"),
    pytest.param(CONFIG, lambda c: (c.train("--closed-form", "--method", "dpo"),
                                    ["--closed-form", "dpo"]), id="closed-form-dpo"),
    pytest.param(CONFIG, lambda c: (c.train("--closed-form", "maybe"), ["--closed-form", "maybe"]),
                 id="closed-form-not-a-bool"),
    pytest.param(CONFIG, lambda c: (c.train("--adj", "1,2,3"), ["--adj", "3"]),
                 id="adj-wrong-length"),
    pytest.param(CONFIG, lambda c: (c.train("--seed", "-1"), ["--seed", "-1"]),
                 id="seed-negative"),
    pytest.param(CONFIG, lambda c: (["frobnicate"], ["frobnicate"]), id="unknown-command"),
    # --- configuration (exit 2): learning-rate schedules
    pytest.param(CONFIG, lambda c: (c.train("--lr-schedule", "linear"),
                                    ["--lr-schedule", "linear"]), id="lr-schedule-unknown"),
    pytest.param(CONFIG, lambda c: (c.train("--plateau-factor", "0.5"),
                                    ["--plateau-factor", "plateau"]),
                 id="plateau-option-without-plateau"),
    pytest.param(CONFIG, lambda c: (c.train("--policy", "mlp", "--lr-schedule", "cosine",
                                            "--plateau-patience", "3"),
                                    ["--plateau-patience", "plateau"]),
                 id="mlp-plateau-option-with-cosine"),
    pytest.param(CONFIG, lambda c: (c.train("--lr-schedule", "plateau", "--plateau-factor", "1"),
                                    ["--plateau-factor", "1"]), id="plateau-factor-one"),
    pytest.param(CONFIG, lambda c: (c.train("--lr-warmup", "2000", "--iterations", "100"),
                                    ["--lr-warmup", "2000"]), id="lr-warmup-above-iterations"),
    pytest.param(CONFIG, lambda c: (c.train("--lr-schedule", "cosine", "--closed-form",
                                            "--method", "ipo"),
                                    ["--lr-schedule", "--closed-form"]),
                 id="lr-schedule-with-closed-form"),
    pytest.param(CONFIG, lambda c: (c.train("--lr-schedule", "plateau",
                                            dataset=c.bad_dataset(delete("val"))),
                                    ["--lr-schedule", "bad_dataset.h5", "validation"]),
                 id="plateau-without-validation-split"),
    # --- configuration (exit 2): grpo generate and grpo info
    pytest.param(CONFIG, lambda c: (["generate", "--out", c.gen_out, "--groups", "0"],
                                    ["--groups", "0"]), id="generate-groups-zero"),
    pytest.param(CONFIG, lambda c: (["generate", "--out", c.gen_out, "--groups", "3",
                                     "--proportions", "0.5,0.5"], ["--proportions", "3", "2"]),
                 id="generate-proportions-wrong-length"),
    pytest.param(CONFIG, lambda c: (["generate", "--out", c.gen_out, "--train-size", "0"],
                                    ["--train-size", "0"]), id="generate-train-size-zero"),
    pytest.param(CONFIG, lambda c: (["generate", "--out", c.gen_out, "--preset", "nope"],
                                    ["--preset", "nope"]), id="generate-unknown-preset"),
    pytest.param(CONFIG, lambda c: (["generate", "--out", c.gen_out, "--bogus"], ["--bogus"]),
                 id="generate-unknown-option"),
    pytest.param(CONFIG, lambda c: (["generate", "--groups", "2"], ["--out"]),
                 id="generate-missing-out"),
    pytest.param(CONFIG, lambda c: (["info"], ["FILE"]), id="info-missing-file-argument"),
    pytest.param(CONFIG, lambda c: (["info", c.dataset, "--bogus"], ["--bogus"]),
                 id="info-unknown-option"),
    # --- I/O (exit 4)
    pytest.param(IO, lambda c: (c.train(dataset=c.tmp / "missing.h5"), ["missing.h5"]),
                 id="dataset-does-not-exist"),
    pytest.param(IO, lambda c: (c.train(dataset=c.tmp), [c.tmp.name]),
                 id="dataset-is-a-directory"),
    pytest.param(IO, lambda c: (c.train(out=c.tmp / "no_such_dir" / "out.h5"),
                                ["no_such_dir/out.h5"]), id="out-in-missing-directory"),
    pytest.param(IO, lambda c: (c.train(out=c.tmp), [c.tmp.name]), id="out-is-a-directory"),
    pytest.param(IO, lambda c: (c.train("--config", c.tmp / "missing.ini"),
                                ["config", "missing.ini"]),
                 id="config-does-not-exist"),
    pytest.param(IO, lambda c: (c.train("--theta-init", c.tmp / "missing.h5"), ["missing.h5"]),
                 id="theta-init-file-does-not-exist"),
    pytest.param(IO, lambda c: (["generate", "--out", c.tmp / "no_such_dir" / "gen.h5"],
                                ["no_such_dir/gen.h5"]), id="generate-out-in-missing-directory"),
    pytest.param(IO, lambda c: (["info", c.tmp / "missing.h5"], ["missing.h5"]),
                 id="info-file-does-not-exist"),
    # --- data (exit 3): files that are not grpo datasets
    pytest.param(DATA, lambda c: (c.train(dataset=c.text_file("text.h5", "not hdf5\n")),
                                  ["text.h5", "not an HDF5 file"]), id="dataset-is-text"),
    pytest.param(DATA, lambda c: (c.train(dataset=c.text_file("empty.h5", "")), ["empty.h5"]),
                 id="dataset-is-empty-file"),
    pytest.param((DATA, IO), lambda c: (c.train(dataset=c.truncated_dataset()), ["truncated.h5"]),
                 id="dataset-truncated"),
    pytest.param(DATA, lambda c: (c.train(dataset=c.trace), [c.trace.name, "kind", "trace"]),
                 id="dataset-is-a-trace"),
    pytest.param(DATA, lambda c: (["info", c.text_file("text.h5", "not hdf5\n")], ["text.h5"]),
                 id="info-text-file"),
    # --- --theta-init FILE.h5 with the wrong content
    pytest.param(DATA, lambda c: (c.train("--theta-init", c.dataset),
                                  [c.dataset.name, "--theta-init", "theta_final"]),
                 id="theta-init-file-without-theta-final"),
    pytest.param(DATA, lambda c: (c.train("--theta-init", c.text_file("theta.h5", "1,2,3,4\n")),
                                  ["theta.h5"]), id="theta-init-file-is-text"),
    pytest.param(DATA, lambda c: (c.train("--theta-init",
                                          c.bad_trace(set_entry("theta_final", (2,), np.nan))),
                                  ["bad_trace.h5", "theta_final[2]"]),
                 id="theta-init-file-nan"),
    pytest.param(DATA, lambda c: (c.train("--theta-init",
                                          c.bad_trace(replace("theta_final", np.ones((2, 2))))),
                                  ["bad_trace.h5", "theta_final"]), id="theta-init-file-2d"),
    pytest.param(DATA, lambda c: (c.train("--theta-init",
                                          c.bad_trace(replace("theta_final", np.ones(3)))),
                                  ["bad_trace.h5", "theta_final"]),
                 id="theta-init-file-wrong-length"),
]


@pytest.mark.parametrize("code, build", CLI_CASES)
def test_bad_input(expect_error, ctx, code, build):
    args, names = build(ctx)
    expect_error(args, code, names)


# ---------------------------------------------------------------------------------------------
# Config files (--config): the text of the file; "{config}" in names is the file's name

CONFIG_FILE_CASES = [
    pytest.param("bogus = 1\n", ["{config}", "bogus"], id="unknown-key"),
    pytest.param("beta = abc\n", ["--beta", "abc"], id="bad-value"),
    pytest.param("beta = -1\n", ["--beta", "-1"], id="out-of-range-value"),
    pytest.param("beta = -1\n", ["{config}", "--beta", "-1"], id="bad-value-names-the-file"),
    pytest.param("beta\n", ["{config}", "beta"], id="line-without-value"),
    pytest.param("beta = 1\nbeta = 2\n", ["{config}", "beta"], id="duplicate-key"),
    pytest.param("[train]\nbeta = 1\n", ["{config}", "train.beta"], id="section"),
    pytest.param("config = other.ini\n", ["{config}", "config", "nested"], id="nested-config"),
]


@pytest.mark.parametrize("text, names", CONFIG_FILE_CASES)
def test_bad_config_file(expect_error, ctx, text, names):
    config = ctx.text_file("bad.ini", text)
    names = [n.replace("{config}", config.name) for n in names]
    expect_error(ctx.train("--config", config), CONFIG, names)


def test_config_is_a_directory(expect_error, ctx):
    folder = ctx.tmp / "conf.d"
    folder.mkdir()
    expect_error(ctx.train("--config", folder, "--iterations", "2"), IO, ["conf.d"])


def test_out_is_the_dataset(grpo, ctx):
    dataset = ctx.bad_dataset(unchanged, "same.h5")
    content = dataset.read_bytes()
    result = grpo(*ctx.train("--iterations", "2", dataset=dataset, out=dataset), cwd=ctx.tmp)
    assert dataset.read_bytes() == content, "the input dataset was overwritten"
    assert result.returncode == CONFIG, result.describe()


# ---------------------------------------------------------------------------------------------
# Bad datasets: a copy of the valid one changed by mutate(h5py.File); names besides the file's

DATA_CASES = [
    pytest.param(huge_train(2**40), ["train/chosen", "1099511627776", "memory"],
                 id="huge-declared-train"),
    pytest.param(del_attr("schema_version"), ["schema_version"], id="missing-schema-version"),
    pytest.param(set_attr("schema_version", "2.0"), ["schema_version", "2.0"],
                 id="schema-version-2.0"),
    pytest.param(set_attr("schema_version", "one"), ["schema_version", "one"],
                 id="schema-version-not-a-version"),
    pytest.param(set_attr("schema_version", 1), ["schema_version", "integer"],
                 id="schema-version-not-a-string"),
    pytest.param(set_attr("schema_version", "99999999999.0"), ["schema_version", "99999999999.0"],
                 id="schema-version-huge-major"),
    pytest.param(set_attr("kind", "model"), ["kind", "model"], id="kind-not-dataset"),
    pytest.param(set_attr("feature_dim", 0), ["feature_dim", "0"], id="feature-dim-zero"),
    pytest.param(set_attr("feature_dim", 3), ["train/chosen", "[300, 4]", "[300, 3]"],
                 id="feature-dim-mismatch"),
    pytest.param(set_attr("num_groups", 0), ["num_groups", "0"], id="num-groups-zero"),
    pytest.param(del_attr("source"), ["source"], id="missing-source"),
    pytest.param(offsets("train", [0, 60, 200, 300]), ["train/offsets", "[4]", "[3]"],
                 id="offsets-wrong-length"),
    pytest.param(offsets("train", [0, 200, 100]), ["train/offsets", "monotone", "100"],
                 id="offsets-not-monotone"),
    pytest.param(offsets("train", [5, 60, 300]), ["train/offsets", "offsets[0] = 5"],
                 id="offsets-not-starting-at-0"),
    pytest.param(offsets("train", [0, 60, 299]), ["train/chosen", "[300, 4]", "[299, 4]"],
                 id="last-offset-below-N"),
    pytest.param(offsets("train", [0, 60, 301]), ["train/chosen", "[300, 4]", "[301, 4]"],
                 id="last-offset-above-N"),
    pytest.param(offsets("train", [0, 60, 300], np.float64), ["train/offsets", "float"],
                 id="offsets-float"),
    pytest.param(offsets("train", [0, 0, 300]), ["train/offsets", "group 0", "empty"],
                 id="empty-group-in-train"),
    pytest.param(offsets("val", [0, 1000, 1000]), ["val/offsets", "group 1", "empty"],
                 id="empty-group-in-val"),
    pytest.param(replace("train/chosen", np.zeros((300, 3), np.float32)),
                 ["train/chosen", "[300, 3]", "[300, 4]"], id="chosen-wrong-shape"),
    pytest.param(replace("train/chosen", np.zeros(300, np.float32)),
                 ["train/chosen", "[300]"], id="chosen-1d"),
    pytest.param(replace("train/chosen", np.zeros((300, 4), np.int32)),
                 ["train/chosen", "integer"], id="chosen-int32"),
    pytest.param(replace("train/rejected", np.zeros((300, 4), "S4")),
                 ["train/rejected", "string"], id="rejected-strings"),
    pytest.param(replace("train/ref_logratio", np.zeros(299, np.float32)),
                 ["train/ref_logratio", "[299]", "[300]"], id="ref-logratio-wrong-shape"),
    pytest.param(set_entry("train/chosen", (5, 1), np.nan), ["train/chosen", "row 5"],
                 id="nan-in-train-chosen"),
    pytest.param(set_entry("val/rejected", (700, 0), np.inf), ["val/rejected", "row 700"],
                 id="inf-in-val-rejected"),
    pytest.param(set_entry("train/ref_logratio", (7,), np.nan), ["train/ref_logratio", "row 7"],
                 id="nan-in-ref-logratio"),
    pytest.param(lambda f: (set_entry("train/chosen", (9, 0), 3e38)(f),
                            set_entry("train/rejected", (9, 0), -3e38)(f)),
                 ["chosen - rejected", "row 9"], id="chosen-minus-rejected-overflows"),
    pytest.param(group_names(["a", "b", "c"]), ["groups/names", "3", "2"],
                 id="group-names-wrong-length"),
    pytest.param(delete("groups"), ["groups/names"], id="missing-group-names"),
    pytest.param(delete("train"), ["train", "missing"], id="missing-train"),
    pytest.param(delete("train/chosen"), ["train/chosen"], id="missing-train-chosen"),
    pytest.param(replace("env/reward_params", np.zeros((3, 4))),
                 ["env/reward_params", "[3, 4]", "[2, 4]"], id="env-reward-params-wrong-shape"),
    pytest.param(replace("env/action_features", np.zeros((10, 2, 8, 3))),
                 ["env/action_features", "[10, 2, 8, 3]"], id="env-action-features-wrong-shape"),
    pytest.param(set_entry("env/action_features", (3, 0, 0, 0), np.nan),
                 ["env/action_features", "state 3"], id="nan-in-env-action-features"),
]


@pytest.mark.parametrize("mutate, names", DATA_CASES)
def test_bad_dataset(expect_error, ctx, mutate, names):
    dataset = ctx.bad_dataset(mutate)
    expect_error(ctx.train(dataset=dataset), DATA, [dataset.name, *names])


def test_bad_dataset_info(expect_error, ctx):
    """grpo info validates a dataset the same way."""
    dataset = ctx.bad_dataset(offsets("train", [0, 200, 100]))
    expect_error(["info", dataset], DATA, [dataset.name, "train/offsets"])


# Variants the schema allows: the mutation helper itself must not break a dataset.
ACCEPTED_CASES = [
    pytest.param(unchanged, id="unchanged-copy"),
    pytest.param(set_attr("schema_version", "1.7"), id="schema-version-1.7"),
    pytest.param(replace("train/chosen", np.ones((300, 4))), id="chosen-float64"),
    pytest.param(delete("train/ref_logratio"), id="no-ref-logratio"),
    pytest.param(delete("val"), id="no-val"),
    pytest.param(delete("env"), id="no-env"),
    pytest.param(offsets("test", [0, 1000, 1000]), id="empty-group-in-test"),
    pytest.param(group_names(["a", "b"]), id="group-names-variable-length"),
    pytest.param(group_names(np.array([b"a", b"b"])),
                 id="group-names-fixed-length-ascii"),
    pytest.param(set_attr("schema_version", np.bytes_(b"1.0")),
                 id="schema-version-fixed-length-ascii"),
]


@pytest.mark.parametrize("mutate", ACCEPTED_CASES)
def test_accepted_dataset_variant(grpo, ctx, mutate):
    dataset = ctx.bad_dataset(mutate, "variant.h5")
    result = grpo(*ctx.train("--iterations", "2", dataset=dataset), cwd=ctx.tmp)
    assert result.returncode == 0, result.describe()
    assert ctx.out.is_file(), result.describe()


# ---------------------------------------------------------------------------------------------
# The same under mpiexec -n 2: same exit code, one line (rank 0), nothing written


def _subset(cases, ids):
    chosen = [pytest.param(*p.values, marks=p.marks, id=p.id) for p in cases if p.id in ids]
    assert len(chosen) == len(ids), "unknown id in an MPI subset"
    return chosen


@pytest.mark.parametrize("code, build", _subset(CLI_CASES, {
    "unknown-option", "beta-zero", "batch-size-above-N", "closed-form-gr-dpo",
    "generate-groups-zero", "dataset-does-not-exist", "out-in-missing-directory",
    "generate-out-in-missing-directory", "dataset-is-text", "dataset-truncated",
    "dataset-is-a-trace", "theta-init-file-without-theta-final"}))
def test_bad_input_mpi(expect_error, ctx, code, build):
    args, names = build(ctx)
    expect_error(args, code, names, ranks=2)


@pytest.mark.parametrize("mutate, names", _subset(DATA_CASES, {
    "schema-version-2.0", "offsets-not-monotone", "nan-in-train-chosen", "inf-in-val-rejected",
    "empty-group-in-train", "missing-train"}))
def test_bad_dataset_mpi(expect_error, ctx, mutate, names):
    dataset = ctx.bad_dataset(mutate)
    expect_error(ctx.train(dataset=dataset), DATA, [dataset.name, *names], ranks=2)


def test_bad_config_file_mpi(expect_error, ctx):
    config = ctx.text_file("bad.ini", "bogus = 1\n")
    expect_error(ctx.train("--config", config), CONFIG, [config.name, "bogus"], ranks=2)
