"""End-to-end tests of `grpo convert globalopinionqa` on the real data file.

The file (shared/data/globalopinionqa/distributional_test_globalopinionqa_small.json, a 20 %
sample of GlobalOpinionQA) is read in place, never copied into the repository. It is looked for
in $GRPO_GOQA_JSON, then under shared/ inside and beside the source tree; without it the tests
that need it are skipped.

Checked: per-country record counts of the paper's five groups (Nigeria 73, Egypt 91, India
(Current national sample) 79, China 37, Japan 105; ALGORITHM.md §8.1), the ten largest groups
with spelling variants merged, the schema 1.1 option datasets (chosen/rejected are the option
rows they point at), the 80/10/10 split by question, determinism (also under mpiexec -n 2),
training on the result, and bad inputs (one error line, the class's exit code, no file).
"""

import json
import os
import zlib
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pytest

FILE_NAME = "distributional_test_globalopinionqa_small.json"
PAPER_COUNTS = {"Nigeria": 73, "Egypt": 91, "India (Current national sample)": 79, "China": 37,
                "Japan": 105}
TOP10 = [("United States", 181), ("France", 168), ("Germany", 161), ("Britain", 158),
         ("Jordan", 151), ("Italy", 144), ("Turkey", 144), ("Mexico", 138), ("Pakistan", 138),
         ("Spain", 132)]
SPLITS = ("train", "val", "test")


def _find_data() -> Path:
    candidates = []
    if os.environ.get("GRPO_GOQA_JSON"):
        candidates.append(Path(os.environ["GRPO_GOQA_JSON"]))
    source = Path(os.environ.get("GRPO_SOURCE_DIR", Path(__file__).resolve().parents[2]))
    for root in (source / "shared", source.parent / "shared"):
        candidates.append(root / "data" / "globalopinionqa" / FILE_NAME)
    for c in candidates:
        if c.is_file():
            return c
    pytest.skip(f"{FILE_NAME} not found (set GRPO_GOQA_JSON)")


@pytest.fixture(scope="module")
def data_file() -> Path:
    return _find_data()


@pytest.fixture(scope="module")
def records(data_file):
    with open(data_file, encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def paper(grpo, data_file, tmp_path_factory) -> Path:
    """The default conversion (the paper's five countries, one pair per record)."""
    folder = tmp_path_factory.mktemp("paper")
    out = folder / "goqa.h5"
    result = grpo("convert", "globalopinionqa", "--input", data_file, "--out", out, cwd=folder)
    assert result.returncode == 0, result.describe()
    assert sorted(p.name for p in folder.iterdir()) == ["goqa.h5"], "leftover files"
    return out


def group_counts(path: Path):
    """{group: pairs over all splits} and the per-split offsets."""
    with h5py.File(path, "r") as f:
        names = [n.decode() if isinstance(n, bytes) else n for n in f["groups/names"][:]]
        totals = np.zeros(len(names), dtype=np.int64)
        for split in SPLITS:
            if split in f:
                totals += np.diff(f[f"{split}/offsets"][:])
    return dict(zip(names, totals.tolist())), names


def test_paper_groups_have_the_documented_record_counts(paper):
    counts, names = group_counts(paper)
    assert names == list(PAPER_COUNTS)
    assert counts == PAPER_COUNTS  # --pairs one: one pair per record


def test_info_shows_schema_and_options(grpo, paper, tmp_path):
    result = grpo("info", paper, cwd=tmp_path)
    assert result.returncode == 0, result.describe()
    assert "schema 1.1, source globalopinionqa" in result.stdout
    for split in SPLITS:
        assert f"  {split}: " in result.stdout
    assert "options (" in result.stdout and "option rows)" in result.stdout
    assert "groups: Nigeria, Egypt, India (Current national sample), China, Japan" in \
        result.stdout


def test_file_content_follows_schema_1_1(paper, data_file, records):
    by_id = {r["id"]: r for r in records}
    with h5py.File(paper, "r") as f:
        assert f.attrs["schema_version"] == "1.1"
        assert f.attrs["source"] == "globalopinionqa"
        assert f.attrs["pairs"] == "one"
        assert f.attrs["seed"] == 42
        assert f.attrs["feature_dim"] == 64
        assert "question n-grams" in f.attrs["feature_map"]
        crc = zlib.crc32(Path(data_file).read_bytes())
        assert f.attrs["input_checksum"] == f"crc32:{crc:08x}"
        for split in SPLITS:
            g = f[split]
            n = g["offsets"][-1]
            off = g["option_offsets"][:]
            options = g["options"][:]
            chosen = g["chosen_option"][:]
            rejected = g["rejected_option"][:]
            assert off[0] == 0 and len(off) == n + 1 and np.all(np.diff(off) >= 2)
            assert options.shape == (off[-1], 64)
            assert np.array_equal(g["chosen"][:], options[off[:-1] + chosen])
            assert np.array_equal(g["rejected"][:], options[off[:-1] + rejected])
            assert np.all(chosen != rejected)
            assert np.all(g["ref_logratio"][:] == 0)
            assert np.all(np.isfinite(options))
            # y_w is the option with the largest share (ties: lowest index) of its record.
            for i, rid in enumerate(g["record_id"][:]):
                r = by_id[int(rid)]
                assert off[i + 1] - off[i] == len(r["options"])
                assert chosen[i] == int(np.argmax(r["gold_distribution"]))
        # 80/10/10 per group: Nigeria 73 -> 59/7/7, China 37 -> 29/4/4.
        assert list(np.diff(f["val/offsets"][:])) == [7, 9, 8, 4, 11]
        assert list(np.diff(f["test/offsets"][:])) == [7, 9, 8, 4, 11]


def test_top10_merges_spellings(grpo, data_file, records, tmp_path):
    out = tmp_path / "top.h5"
    result = grpo("convert", "globalopinionqa", "--input", data_file, "--out", out, "--top", "10",
                  cwd=tmp_path)
    assert result.returncode == 0, result.describe()
    counts, names = group_counts(out)
    assert [(n, counts[n]) for n in names] == TOP10
    raw = Counter(r["attribute"] for r in records)
    assert counts["Britain"] == raw["Britain"] + raw["Great Britain"]
    info = grpo("info", out, cwd=tmp_path)
    assert info.returncode == 0 and "10 groups" in info.stdout, info.describe()


def test_pairs_all_and_determinism(grpo, data_file, records, tmp_path, paper):
    out = tmp_path / "all.h5"
    args = ["convert", "globalopinionqa", "--input", data_file, "--pairs", "all", "--dim", "16",
            "--seed", "7", "--countries", "Japan, S. Korea"]
    result = grpo(*args, "--out", out, cwd=tmp_path)
    assert result.returncode == 0, result.describe()
    counts, names = group_counts(out)
    assert names == ["Japan", "South Korea"]
    for name, labels in (("Japan", {"Japan"}), ("South Korea", {"S. Korea", "South Korea"})):
        expected = sum(len(r["options"]) - 1 for r in records if r["attribute"] in labels)
        assert counts[name] == expected
    # Every pair of a question lands in one split (per group: each country is split apart).
    with h5py.File(out, "r") as f:
        for g in range(len(names)):
            seen = {}
            for split in SPLITS:
                lo, hi = f[f"{split}/offsets"][g:g + 2]
                for q in set(f[f"{split}/question"][lo:hi].tolist()):
                    assert seen.setdefault(q, split) == split, (names[g], q)
    again = tmp_path / "again.h5"
    assert grpo(*args, "--out", again, cwd=tmp_path).returncode == 0
    with h5py.File(out, "r") as a, h5py.File(again, "r") as b:
        for split in SPLITS:
            for name in a[split]:
                assert np.array_equal(a[f"{split}/{name}"][:], b[f"{split}/{name}"][:]), name


def test_same_file_under_mpi(grpo, data_file, paper, tmp_path):
    out = tmp_path / "np2.h5"
    result = grpo("convert", "globalopinionqa", "--input", data_file, "--out", out, cwd=tmp_path,
                  ranks=2)
    assert result.returncode == 0, result.describe()
    assert result.stdout.count("wrote ") == 1, result.describe()
    with h5py.File(paper, "r") as a, h5py.File(out, "r") as b:
        for split in SPLITS:
            for name in a[split]:
                assert np.array_equal(a[f"{split}/{name}"][:], b[f"{split}/{name}"][:]), name


def test_training_runs_on_the_converted_data(grpo, paper, tmp_path):
    trace = tmp_path / "trace.h5"
    result = grpo("train", "--dataset", paper, "--method", "gr-ipo", "--iterations", "50",
                  "--out", trace, "-q", cwd=tmp_path)
    assert result.returncode == 0, result.describe()
    with h5py.File(trace, "r") as f:
        assert f.attrs["status"] == "completed"
        assert np.all(np.isfinite(f["worst_val_loss"][:]))


@pytest.mark.parametrize("args, usage", [
    pytest.param(["convert", "--help"], "Usage: grpo convert SOURCE", id="convert"),
    pytest.param(["convert", "globalopinionqa", "--help"], "Usage: grpo convert globalopinionqa",
                 id="globalopinionqa"),
])
def test_help(grpo, tmp_path, args, usage):
    result = grpo(*args, cwd=tmp_path)
    assert result.returncode == 0, result.describe()
    assert result.stdout.startswith(usage), result.describe()


@pytest.mark.parametrize("extra, code, words", [
    pytest.param(["--countries", "Narnia"], 3, ["option --countries", "'Narnia'"], id="unknown"),
    pytest.param(["--countries", "India"], 3, ["'India'", "India (Current national sample)"],
                 id="suggests"),
    pytest.param(["--top", "1000"], 3, ["--top", "1000"], id="top-too-large"),
    pytest.param(["--dim", "4"], 2, ["--dim", "4"], id="dim"),
    pytest.param(["--pairs", "two"], 2, ["--pairs", "two"], id="pairs"),
    pytest.param(["--top", "3", "--countries", "Japan"], 2, ["--top", "--countries"], id="both"),
])
def test_bad_options(grpo, data_file, tmp_path, extra, code, words):
    for ranks in (1, 2):
        result = grpo("convert", "globalopinionqa", "--input", data_file, "--out",
                      tmp_path / "out.h5", *extra, cwd=tmp_path, ranks=ranks)
        lines = result.stderr_lines
        assert result.returncode == code, result.describe()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.describe()
        for w in words:
            assert w in lines[0], result.describe()
        assert list(tmp_path.iterdir()) == [], "output left behind"


def test_missing_input_and_unknown_source(grpo, tmp_path):
    result = grpo("convert", "globalopinionqa", "--input", tmp_path / "none.json", "--out",
                  tmp_path / "o.h5", cwd=tmp_path)
    assert result.returncode == 4 and "none.json" in result.stderr, result.describe()
    result = grpo("convert", "opinions", cwd=tmp_path)
    assert result.returncode == 2 and "unknown source 'opinions'" in result.stderr
    result = grpo("convert", cwd=tmp_path)
    assert result.returncode == 2 and "missing SOURCE" in result.stderr
    assert list(tmp_path.iterdir()) == []
