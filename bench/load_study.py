#!/usr/bin/python3
"""How long `grpo_traces.read_study` takes on a study of many runs, with traces packed one file
per bundle (docs/studies.md "Trace packs") and, for comparison, one file per run.

    /usr/bin/python3 bench/load_study.py build/bin/grpo --runs 100000 --per-pack 250

It runs a small real study with GRPO (one data set, the six methods with the `paper` preset and
the certified gap, 101 records a run: the main job's traces), then writes a study directory of
--runs runs whose packs repeat those six runs' columns under new task ids (--per-pack runs a
pack, written with the layout of docs/formats.md) and a plan.json naming them, and times
`read_study` on it (--repeat times, median). With --files N it also times N runs stored as one
trace file each (the six traces copied), the layout before packs. Prints one line per
measurement; --work keeps the directories (default: a temporary one).
"""

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "analysis"))
import grpo_traces  # noqa: E402

TEMPLATE = """
[study]
name = "template"
output = "{out}"
seeds = 1
[data.d]
generate = {{ preset = "even-imbalanced", feature-type = "swapped" }}
[[experiment]]
name = "paper"
methods = ["dpo", "ipo", "is-dpo", "is-ipo", "gr-dpo", "gr-ipo"]
[experiment.options]
preset = "paper"
gap = true
"""


def template_study(grpo: str, work: Path) -> Path:
    out = work / "template"
    spec = work / "template.toml"
    spec.write_text(TEMPLATE.format(out=out))
    subprocess.run([grpo, "study", "run", str(spec), "--bundle", "6"], check=True,
                   capture_output=True)
    return out


def plan_doc(name, runs, output_of):
    tasks = [{"id": "data.d", "layer": "data", "kind": "generate", "deps": [],
              "output": "data/d.h5", "hash": "d"}]
    for i, (method, hash_) in enumerate(runs):
        task = f"train.paper.{i:06d}"
        tasks.append({"id": task, "layer": "train", "kind": "train", "deps": ["data.d"],
                      "experiment": "paper", "data": "d", "method": method,
                      "params": {"step-theta": str(0.1 * (1 + i % 10))}, "seed": i,
                      "cell": f"paper.c{i % 5000:05d}", "output": output_of(task),
                      "hash": hash_})
    return {"format": "grpo-study-plan", "version": 1, "name": name, "tasks": tasks,
            "cells": [], "experiments": [{"name": "paper", "kind": "grid", "x": ""}]}


def packed_study(template: Path, work: Path, runs: int, per_pack: int) -> Path:
    """A study of `runs` runs in packs of `per_pack`, repeating the template's six runs."""
    source = next((template / "runs").glob("pack.*.h5"))
    with h5py.File(source, "r") as f:
        n = int(f.attrs["runs"])
        records = f["runs/records"][()]
        table = {k: f[f"runs/{k}"][()] for k in ("attributes", "groups", "hash")}
        methods = [json.loads(a)["method"] for a in table["attributes"]]
        columns = {}
        for group, sizes_group in (("records", "record_widths"), ("finals", "final_sizes")):
            for name in f[group]:
                columns[(group, sizes_group, name)] = (
                    f[f"{group}/{name}"][()], f[f"{sizes_group}/{name}"][()],
                    int(f[f"{group}/{name}"].attrs["rank"]))
    study = work / f"packed-{runs}"
    shutil.rmtree(study, ignore_errors=True)
    (study / "runs").mkdir(parents=True)
    plan = plan_doc("packed", [(methods[i % n], table["hash"][i % n].decode())
                               for i in range(runs)],
                    lambda task: f"runs/{task}.h5")
    (study / "plan.json").write_text(json.dumps(plan))
    ids = [t["id"] for t in plan["tasks"] if t["layer"] == "train"]
    for first in range(0, runs, per_pack):
        count = min(per_pack, runs - first)
        pick = np.arange(first, first + count) % n  # template run of each packed run
        with h5py.File(study / "runs" / f"pack.{ids[first]}.h5", "w") as f:
            f.attrs.update({"kind": "trace_pack", "schema_version": "1.0", "runs": count})
            f["runs/task"] = np.array([t.encode() for t in ids[first:first + count]])
            for key in ("attributes", "groups", "hash"):
                f[f"runs/{key}"] = table[key][pick]
            f["runs/records"] = records[pick]
            for (group, sizes_group, name), (values, sizes, rank) in columns.items():
                ends = np.cumsum(np.concatenate([[0], np.maximum(sizes, 0) *
                                                 (records if group == "records" else 1)]))
                f[f"{group}/{name}"] = np.concatenate([values[ends[i]:ends[i + 1]]
                                                       for i in pick])
                f[f"{group}/{name}"].attrs["rank"] = rank
                f[f"{sizes_group}/{name}"] = sizes[pick]
    return study


def file_study(template: Path, work: Path, runs: int) -> Path:
    """The same runs stored as one trace file each (the layout before packs)."""
    import grpo_traces as gt
    study = work / f"files-{runs}"
    shutil.rmtree(study, ignore_errors=True)
    (study / "runs").mkdir(parents=True)
    plan = json.loads((template / "plan.json").read_text())
    template_runs = [t for t in plan["tasks"] if t["layer"] == "train"]
    traces = []
    for t in template_runs:  # unpack the template's runs into files once
        attrs, arrays = gt.run_arrays(template, t["id"])
        path = work / f"template-{t['id']}.h5"
        with h5py.File(path, "w") as f:
            names = attrs.pop("group_names")
            f.attrs.update(attrs)
            for name, value in arrays.items():
                f[name] = value
            f["groups/names"] = np.array([n.encode() for n in names])
        traces.append((t["method"], path))
    doc = plan_doc("files", [(traces[i % 6][0], "") for i in range(runs)],
                   lambda task: f"runs/{task}.h5")
    (study / "plan.json").write_text(json.dumps(doc))
    for i, t in enumerate(x for x in doc["tasks"] if x["layer"] == "train"):
        shutil.copyfile(traces[i % 6][1], study / t["output"])
    return study


def timed(study: Path, repeat: int):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = grpo_traces.read_study(study)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grpo")
    parser.add_argument("--runs", type=int, default=100000)
    parser.add_argument("--per-pack", type=int, default=250)
    parser.add_argument("--files", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work")
    args = parser.parse_args()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="grpo-load-"))
    work.mkdir(parents=True, exist_ok=True)
    template = template_study(args.grpo, work)
    study = packed_study(template, work, args.runs, args.per_pack)
    seconds, result = timed(study, args.repeat)
    packs = len(list((study / "runs").glob("pack.*.h5")))
    runs = result.runs["task"].nunique()
    assert runs == args.runs and not result.missing, (runs, result.missing[:3])
    print(f"packed: {runs} runs, {len(result.runs)} records, {packs} packs of "
          f"{args.per_pack}: read_study {seconds:.1f} s (median of {args.repeat}), "
          f"{1e6 * seconds / runs:.0f} us a run")
    if args.files:
        study = file_study(template, work, args.files)
        seconds, result = timed(study, args.repeat)
        runs = result.runs["task"].nunique()
        print(f"files: {runs} runs, one trace file each: read_study {seconds:.1f} s "
              f"(median of {args.repeat}), {1e6 * seconds / runs:.0f} us a run")
    if not args.work:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
