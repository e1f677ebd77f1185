"""The loader on trace packs (docs/formats.md "Trace pack"): a study whose traces were packed
reads back exactly as the same study with one file per run (the same tidy frame, the same
missing runs and reasons, the same datasets per run), whatever the packs' sizes and however
the runs' columns differ. The packs are written here from the format's description, so the
test also holds the documented layout to what the loader reads; grpo's own writer is checked
against grpo's traces in tests/io/test_trace_pack.cpp and tests/e2e/test_study.py.

Run: /usr/bin/python3 -m pytest -q tests/analysis/test_trace_packs.py
"""

import json
import shutil
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

ANALYSIS = Path(__file__).resolve().parents[2] / "analysis"
sys.path.insert(0, str(ANALYSIS))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import grpo_traces  # noqa: E402
from test_study_report import make_study  # noqa: E402


def end_of_run(name):
    return name.endswith(("_final", "_avg")) or name.startswith("sft_")


def write_pack(path, runs):
    """A trace pack of `runs` [(task, hash, trace path)] as docs/formats.md describes it."""
    tasks, hashes, attributes, groups, counts = [], [], [], [], []
    records, finals = {}, {}  # name -> (rank, {run: values})
    for r, (task, digest, trace) in enumerate(runs):
        with h5py.File(trace, "r") as f:
            attrs = {k: grpo_traces._python_value(v) for k, v in f.attrs.items()}
            n = f["iteration"].shape[0]
            for name, obj in f.items():
                if not isinstance(obj, h5py.Dataset):
                    continue
                target = finals if end_of_run(name) else records
                target.setdefault(name, (obj.ndim, {}))[1][r] = obj[()]
            names = [grpo_traces._text(g) for g in f["groups/names"][()]]
        tasks.append(task)
        hashes.append(digest)
        attributes.append(json.dumps(attrs))
        groups.append(json.dumps(names))
        counts.append(n)
    with h5py.File(path, "w") as f:
        f.attrs.update({"kind": "trace_pack", "schema_version": "1.0", "runs": len(runs)})
        for name, values in (("task", tasks), ("hash", hashes), ("attributes", attributes),
                             ("groups", groups)):
            f[f"runs/{name}"] = np.array([v.encode() for v in values])
        f["runs/records"] = np.asarray(counts, dtype=np.int64)
        for group, sizes_group, columns, record in (("records", "record_widths", records, True),
                                                    ("finals", "final_sizes", finals, False)):
            f.create_group(group)
            f.create_group(sizes_group)
            for name, (rank, by_run) in columns.items():
                sizes, parts = [], []
                for r in range(len(runs)):
                    if r not in by_run:
                        sizes.append(0 if record else -1)
                        continue
                    value = np.asarray(by_run[r])
                    sizes.append((value.shape[1] if value.ndim == 2 else 1) if record
                                 else value.size)
                    parts.append(value.ravel())
                dtype = np.int64 if any(p.dtype.kind in "iu" for p in parts) else np.float64
                f[f"{group}/{name}"] = (np.concatenate(parts).astype(dtype) if parts
                                        else np.zeros(0, dtype))
                f[f"{group}/{name}"].attrs["rank"] = rank
                f[f"{sizes_group}/{name}"] = np.asarray(sizes, dtype=np.int64)


def pack_study(root, size):
    """Packs the study's traces, `size` runs a pack in plan order, and removes their files."""
    plan = json.loads((root / "plan.json").read_text())
    present = [(t["id"], t.get("hash", ""), root / t["output"]) for t in plan["tasks"]
               if t["layer"] == "train" and (root / t["output"]).exists()]
    for i in range(0, len(present), size):
        write_pack(root / "runs" / f"pack.{present[i][0]}.h5", present[i:i + size])
    for _, _, path in present:
        path.unlink()
    return len(present)


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory):
    return make_study(tmp_path_factory.mktemp("unpacked"))


@pytest.mark.parametrize("size", [1, 4, 1000])
def test_a_packed_study_reads_as_the_same_study_unpacked(unpacked, tmp_path, size):
    packed = tmp_path / "packed"
    shutil.copytree(unpacked, packed)
    assert pack_study(packed, size) > 10
    assert not [p for p in (packed / "runs").glob("*.h5") if not p.name.startswith("pack.")]
    want = grpo_traces.read_study(unpacked, theta=True)
    got = grpo_traces.read_study(packed, theta=True)
    pd.testing.assert_frame_equal(got.runs, want.runs, check_exact=True)
    assert got.group_names == want.group_names
    # The same runs are missing for the same reasons, a packed one named by its pack.
    assert [(m.task, m.reason) for m in got.missing] == [(m.task, m.reason)
                                                         for m in want.missing]
    assert any(m.reason.startswith("status: failed") for m in got.missing)
    plan = grpo_traces.read_plan(packed / "plan.json")
    for run in plan.runs:
        if not (unpacked / run.trace).exists():
            with pytest.raises(grpo_traces.TraceError, match="no trace pack holds"):
                grpo_traces.run_arrays(packed, run.task)
            continue
        attrs_want, arrays_want = grpo_traces.run_arrays(unpacked, run.task)
        attrs_got, arrays_got = grpo_traces.run_arrays(packed, run.task)
        assert attrs_got == attrs_want
        assert arrays_got.keys() == arrays_want.keys()
        for name, value in arrays_want.items():
            np.testing.assert_array_equal(arrays_got[name], value, err_msg=name)
            assert np.shape(arrays_got[name]) == np.shape(value), name


def test_a_run_found_in_two_places_is_read_from_its_own_file(unpacked, tmp_path):
    # Packing writes the pack, then removes the runs' files: a run caught in between is read
    # from its file; a pack entry whose hash is not the plan's (an older definition) is ignored.
    study = tmp_path / "both"
    shutil.copytree(unpacked, study)
    plan = json.loads((study / "plan.json").read_text())
    first = next(t for t in plan["tasks"] if t["layer"] == "train")
    trace = study / first["output"]
    write_pack(study / "runs" / "pack.old.h5", [(first["id"], "another hash", trace)])
    with h5py.File(trace, "r+") as f:
        f["worst_val_loss"][-1] = 123.0
    got = grpo_traces.read_study(study)
    assert 123.0 in got.runs["worst_val_loss"].to_numpy()
    trace.unlink()
    got = grpo_traces.read_study(study)
    assert first["id"] in [m.task for m in got.missing]


def test_a_pack_that_is_not_one_is_an_error_naming_it(unpacked, tmp_path):
    study = tmp_path / "bad"
    shutil.copytree(unpacked, study)
    with h5py.File(study / "runs" / "pack.bad.h5", "w") as f:
        f.attrs["kind"] = "trace"
    with pytest.raises(grpo_traces.TraceError, match="pack.bad.h5: not a grpo trace pack"):
        grpo_traces.read_study(study)
