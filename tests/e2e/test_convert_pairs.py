"""End-to-end tests of `grpo convert pairs` on the example inputs of examples/pairs/ (made by
examples/pairs/make_pairs.py) and on files written here.

Checked against independent Python code: the text features (a re-implementation of the hashed
n-gram map: FNV-1a, the splitmix64 finalizer, signed buckets, L2-normalised blocks), the
precomputed features and ref_logratio (Python's csv module reads the CSV), the split column, the
split by fractions (sizes per group, one split per prompt), the same pairs in JSONL and CSV
giving the same dataset, training on the result (log-linear and --policy mlp), the run under
mpiexec -n 2, and a study over both inputs whose converted data are reused.
"""

import csv
import json
import math
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import h5py
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "analysis"))
import grpo_traces  # noqa: E402  (the analysis module; traces may live in packs)

SOURCE = Path(os.environ.get("GRPO_SOURCE_DIR", Path(__file__).resolve().parents[2]))
EXAMPLE = SOURCE / "examples" / "pairs"
SPLITS = ("train", "val", "test")
FEATURE_ARGS = ["--chosen-features", "cf_", "--rejected-features", "rf_", "--ref-chosen",
                "ref_chosen", "--ref-rejected", "ref_rejected"]

# ------------------------------------------------------------------------------------------------
# The hashed n-gram map, independently (docs/formats.md).
MASK = (1 << 64) - 1


def fnv1a64(data: bytes) -> int:
    h = 0xcbf29ce484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001b3) & MASK
    return h


def mix64(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & MASK
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & MASK
    return z ^ (z >> 31)


def ngrams(text: str):
    words, word = [], bytearray()
    for b in text.encode():
        if 97 <= b <= 122 or 48 <= b <= 57 or b >= 0x80 or 65 <= b <= 90:
            word.append(b + 32 if 65 <= b <= 90 else b)
        elif word:
            words.append(bytes(word))
            word = bytearray()
    if word:
        words.append(bytes(word))
    return words + [words[i] + b" " + words[i + 1] for i in range(len(words) - 1)]


def hashed(text: str, size: int) -> np.ndarray:
    block = np.zeros(size)
    for g in ngrams(text):
        h = mix64(fnv1a64(g))
        block[(h & 0xffffffff) % size] += -1.0 if h >> 63 else 1.0
    norm = math.sqrt(float(np.sum(block * block)))
    return (block / norm if norm > 0 else block).astype(np.float32)


def features(prompt: str, response: str, d: int) -> np.ndarray:
    r = (d + 1) // 2
    return np.concatenate([hashed(response, r), hashed(prompt, d - r)])


# ------------------------------------------------------------------------------------------------

def names(f):
    return [n.decode() if isinstance(n, bytes) else n for n in f["groups/names"][()]]


def rows_by_line(path):
    """{input line: (split, group, chosen, rejected, ref)} of a converted file."""
    out = {}
    with h5py.File(path, "r") as f:
        groups = names(f)
        for s in SPLITS:
            if s not in f:
                continue
            offsets = f[f"{s}/offsets"][()]
            for g in range(len(groups)):
                for i in range(offsets[g], offsets[g + 1]):
                    out[int(f[f"{s}/line"][i])] = (s, groups[g], f[f"{s}/chosen"][i],
                                                   f[f"{s}/rejected"][i],
                                                   float(f[f"{s}/ref_logratio"][i]))
    return out


def convert(grpo, folder, *args):
    out = folder / "out.h5"
    result = grpo("convert", "pairs", *args, "--out", out, cwd=folder)
    assert result.returncode == 0, result.describe()
    assert sorted(p.name for p in folder.iterdir() if p.suffix in (".h5", ".tmp")) == ["out.h5"]
    return out


@pytest.fixture(scope="module")
def text_file(grpo, tmp_path_factory):
    folder = tmp_path_factory.mktemp("text")
    return convert(grpo, folder, "--input", EXAMPLE / "pairs.jsonl", "--dim", "24")


@pytest.fixture(scope="module")
def feature_file(grpo, tmp_path_factory):
    folder = tmp_path_factory.mktemp("features")
    return convert(grpo, folder, "--input", EXAMPLE / "features.csv", "--group-order", "sorted",
                   *FEATURE_ARGS)


def test_text_features_are_the_documented_hashed_ngrams(text_file):
    rows = [json.loads(line) for line in (EXAMPLE / "pairs.jsonl").read_text().splitlines()]
    got = rows_by_line(text_file)
    assert len(got) == len(rows)
    for line, row in enumerate(rows, start=1):
        split, group, chosen, rejected, ref = got[line]
        assert group == row["group"]
        np.testing.assert_allclose(chosen, features(row["prompt"], row["chosen"], 24), atol=1e-6)
        np.testing.assert_allclose(rejected, features(row["prompt"], row["rejected"], 24),
                                   atol=1e-6)
        assert ref == 0.0
    with h5py.File(text_file, "r") as f:
        assert f.attrs["source"] == "pairs" and f.attrs["features"] == "text"
        assert f.attrs["feature_dim"] == 24
        assert "hashed-ngrams" in f.attrs["feature_map"]
        # Groups in first-seen order.
        first_seen = list(dict.fromkeys(r["group"] for r in rows))
        assert names(f) == first_seen
        # The MLP's option datasets: the two responses of each pair.
        n = len(f["train/chosen"])
        np.testing.assert_array_equal(f["train/option_offsets"][()], 2 * np.arange(n + 1))
        np.testing.assert_array_equal(f["train/options"][0::2], f["train/chosen"][()])
        np.testing.assert_array_equal(f["train/options"][1::2], f["train/rejected"][()])
        assert set(f["train/chosen_option"][()]) == {0} and set(f["train/rejected_option"][()]) == {1}


def test_the_split_by_fractions_is_per_group_and_per_prompt(text_file):
    rows = [json.loads(line) for line in (EXAMPLE / "pairs.jsonl").read_text().splitlines()]
    got = rows_by_line(text_file)
    prompts = defaultdict(set)
    split_of_prompt = defaultdict(set)
    for line, row in enumerate(rows, start=1):
        prompts[row["group"]].add(row["prompt"])
        split_of_prompt[(row["group"], row["prompt"])].add(got[line][0])
    assert all(len(s) == 1 for s in split_of_prompt.values())
    with h5py.File(text_file, "r") as f:
        for g, group in enumerate(names(f)):
            n = len(prompts[group])
            share = max(1, math.floor(n * 0.1 + 0.5))
            counts = [int(np.diff(f[f"{s}/offsets"][()])[g]) for s in SPLITS]
            assert counts == [n - 2 * share, share, share], group  # one pair per prompt here


def test_precomputed_features_reference_and_split_column(feature_file):
    with open(EXAMPLE / "features.csv", newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        records = []
        line = 2
        for record in reader:  # a record's line: prompts span two lines
            records.append((line, dict(zip(header, record))))
            line += 1 + sum(field.count("\n") for field in record)
    got = rows_by_line(feature_file)
    assert len(got) == len(records)
    for line, r in records:
        split, group, chosen, rejected, ref = got[line]
        assert (split, group) == (r["split"], r["group"])
        np.testing.assert_array_equal(
            chosen, np.array([float(r[f"cf_{j}"]) for j in range(8)], dtype=np.float32))
        np.testing.assert_array_equal(
            rejected, np.array([float(r[f"rf_{j}"]) for j in range(8)], dtype=np.float32))
        assert ref == pytest.approx(float(r["ref_chosen"]) - float(r["ref_rejected"]), abs=1e-5)
    with h5py.File(feature_file, "r") as f:
        assert names(f) == sorted(names(f))
        assert f.attrs["features"] == "precomputed" and f.attrs["split"] == "column split"
        assert "cf_" in f.attrs["feature_map"]


def test_the_same_pairs_in_jsonl_and_csv_give_the_same_dataset(grpo, tmp_path):
    rows = []
    for k in range(30):
        rows.append({"annotator": ["x", "y", "z"][k % 3], "prompt": f'Q{k}, "quoted"\nline 2',
                     "chosen": f"yes {k} caf\u00e9", "rejected": f"no {k}",
                     "split": "train" if k % 5 < 3 else ("val" if k % 5 == 3 else "test")})
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows),
                                      encoding="utf-8")
    with open(tmp_path / "b.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
    outs = []
    for name in ("a.jsonl", "b.csv"):
        out = tmp_path / (name + ".h5")
        result = grpo("convert", "pairs", "--input", name, "--out", out, "--group", "annotator",
                      "--dim", "16", cwd=tmp_path)
        assert result.returncode == 0, result.describe()
        outs.append(out)
    with h5py.File(outs[0], "r") as a, h5py.File(outs[1], "r") as b:
        assert names(a) == names(b) == ["x", "y", "z"]
        for s in SPLITS:
            for key in ("offsets", "chosen", "rejected", "ref_logratio", "options"):
                np.testing.assert_array_equal(a[f"{s}/{key}"][()], b[f"{s}/{key}"][()],
                                              err_msg=f"{s}/{key}")
    # The CSV's rows start on lines 2, 4, 6, ... (each prompt has a line break).
    assert sorted(l for l in rows_by_line(outs[1])) == list(range(2, 62, 2))


@pytest.mark.parametrize("policy", ["loglinear", "mlp"])
@pytest.mark.parametrize("data", ["text", "features"])
def test_both_policies_train_on_the_result(grpo, text_file, feature_file, tmp_path, policy, data):
    dataset = text_file if data == "text" else feature_file
    args = ["train", "--dataset", dataset, "--out", tmp_path / "t.h5", "--method", "gr-dpo",
            "-q", "--iterations", "40"]
    if policy == "mlp":
        args += ["--policy", "mlp", "--hidden", "8", "--sft-steps", "5", "--lr", "0.01"]
    result = grpo(*args, cwd=tmp_path)
    assert result.returncode == 0, result.describe()
    with h5py.File(tmp_path / "t.h5", "r") as f:
        assert f.attrs["status"] == "completed"
        assert np.all(np.isfinite(f["worst_val_loss"][()]))
        # gr-dpo improves the worst group on these groups that disagree
        assert f["worst_val_loss"][-1] < f["worst_val_loss"][0]


def test_two_ranks_write_the_same_file(grpo, text_file, tmp_path):
    result = grpo("convert", "pairs", "--input", EXAMPLE / "pairs.jsonl", "--dim", "24", "--out",
                  tmp_path / "two.h5", cwd=tmp_path, ranks=2)
    assert result.returncode == 0, result.describe()
    with h5py.File(text_file, "r") as a, h5py.File(tmp_path / "two.h5", "r") as b:
        for s in SPLITS:
            np.testing.assert_array_equal(a[f"{s}/chosen"][()], b[f"{s}/chosen"][()])
    bad = tmp_path / "bad.csv"
    bad.write_text("group,prompt,chosen,rejected\na,p,x,y\na,p\n")
    result = grpo("convert", "pairs", "--input", bad, "--out", tmp_path / "bad.h5",
                  cwd=tmp_path, ranks=2)
    assert result.returncode == 3 and len(result.stderr_lines) == 1, result.describe()
    assert not list(tmp_path.glob("bad.h5*"))


STUDY = """
[study]
name = "pairs"
output = "out"
seeds = 1

[data.text]
convert = {{ source = "pairs", input = "{text}", dim = 32, test-fraction = 0.15, seed = 3 }}
[data.features]
convert = {{ source = "pairs", input = "{features}", chosen-features = "cf_", rejected-features = "rf_", ref-chosen = "ref_chosen", ref-rejected = "ref_rejected", group-order = "sorted" }}

[[experiment]]
name = "loglinear"
methods = ["gr-dpo"]
[experiment.options]
iterations = 30
trace-every = 10

[[experiment]]
name = "mlp"
methods = ["gr-dpo"]
[experiment.options]
policy = "mlp"
hidden = "8"
iterations = 20
sft-steps = 5
trace-every = 10
"""


def test_a_study_converts_once_and_reuses_the_data(grpo_bin, tmp_path):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")

    def study(*args):
        return subprocess.run([grpo_bin, "study", *map(str, args)], capture_output=True,
                              text=True, timeout=600, env=env)

    # The example study plans (its conversions' first passes and every run's options checked).
    proc = study("plan", EXAMPLE / "study.toml", "--out", tmp_path / "example")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "data: 2 task(s)" in proc.stdout and "train: 24 task(s)" in proc.stdout
    # A smaller study of the same shape runs.
    spec = tmp_path / "study.toml"
    spec.write_text(STUDY.format(text=EXAMPLE / "pairs.jsonl", features=EXAMPLE / "features.csv"))
    out = tmp_path / "out"
    proc = study("run", spec, "--out", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "data: 2 task(s)" in proc.stdout and "train: 4 task(s)" in proc.stdout
    plan = json.loads((out / "plan.json").read_text())
    data = {t["id"]: t for t in plan["tasks"] if t["layer"] == "data"}
    assert set(data) == {"data.text", "data.features"}
    assert all(t["source"] == "pairs" for t in data.values())
    for t in plan["tasks"]:
        if t["layer"] == "train":
            assert t["deps"] == [f"data.{t['data']}"]
            assert grpo_traces.run_arrays(out, t["id"])[0]["status"] == "completed"
    with h5py.File(out / "data" / "features.h5", "r") as f:
        assert f.attrs["input_rows"] == 114 and f.attrs["reference"] == "given"
    # The converted data is the direct conversion's, and a rerun reuses it.
    direct = tmp_path / "direct.h5"
    subprocess.run([grpo_bin, "convert", "pairs", "--input", EXAMPLE / "pairs.jsonl", "--dim",
                    "32", "--test-fraction", "0.15", "--seed", "3", "--out", direct], check=True,
                   capture_output=True, env=env)
    with h5py.File(out / "data" / "text.h5", "r") as a, h5py.File(direct, "r") as b:
        for s in SPLITS:
            np.testing.assert_array_equal(a[f"{s}/chosen"][()], b[f"{s}/chosen"][()])
    before = (out / "data" / "text.h5").stat().st_mtime_ns
    again = study("run", spec, "--out", out)
    total = len(plan["tasks"])
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{total} tasks, {total} already done" in again.stdout, again.stdout
    assert (out / "data" / "text.h5").stat().st_mtime_ns == before


def test_the_example_inputs_are_what_their_script_makes(tmp_path):
    subprocess.run([sys.executable, EXAMPLE / "make_pairs.py", tmp_path], check=True,
                   capture_output=True)
    for name in ("pairs.jsonl", "features.csv"):
        assert (tmp_path / name).read_bytes() == (EXAMPLE / name).read_bytes(), name
