#!/usr/bin/python3
"""Builds the HDF5 cases of the bad-input corpus (tests/corpus/README.md).

Binary files are hard to review, so the HDF5 cases are not committed: each is a copy of a valid
file, changed by one short function below. The valid files are made by grpo itself:

  valid.h5        grpo generate --preset even-imbalanced --train-size 60 --val-size 40
                                --test-size 40  (2 groups of 12/48 train pairs, d = 4, env/)
  valid-trace.h5  grpo train --dataset valid.h5 --method gr-dpo --iterations 5 -q

Usage (also what test_corpus.py does once per session):

  /usr/bin/python3 tests/corpus/make_datasets.py --grpo build/bin/grpo OUTDIR

writes OUTDIR/valid.h5, OUTDIR/valid-trace.h5, OUTDIR/datasets/NAME.h5 and OUTDIR/traces/NAME.h5,
one per entry of DATASETS and TRACES. cases.toml names them as datasets/NAME.h5 and
traces/NAME.h5 (a committed file of that name in tests/corpus/ would win; names are unique).

Adding a case: add `"NAME": mutation` to DATASETS or TRACES (a function of the h5py.File opened
"r+", or a `Raw` function of the bytes), then a [[case]] in cases.toml.
"""

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, Iterable, Union

import h5py
import numpy as np



class Raw:
    """A mutation of the file's bytes (truncations, corrupted chunks) instead of its objects."""

    def __init__(self, function: Callable[[Path, bytes], bytes]):
        self.function = function


Mutation = Union[Callable[[h5py.File], None], Raw]

# ---------------------------------------------------------------------------------------------
# Small building blocks


def replace(name: str, data, dtype=None, **kwargs) -> Mutation:
    def mutate(f):
        del f[name]
        f.create_dataset(name, data=data, dtype=dtype, **kwargs)
    return mutate


def declare(name: str, shape, dtype, chunks) -> Mutation:
    """`name` replaced by a chunked dataset of `shape` whose chunks are never written: a file of
    a few KiB that declares an enormous array."""
    def mutate(f):
        del f[name]
        f.create_dataset(name, shape=shape, dtype=dtype, chunks=chunks)
    return mutate


def set_attr(key: str, value, dtype=None, on: str = "/") -> Mutation:
    def mutate(f):
        if dtype is None:
            f[on].attrs[key] = value
        else:
            f[on].attrs.create(key, value, dtype=dtype)
    return mutate


def del_attr(key: str) -> Mutation:
    def mutate(f):
        del f.attrs[key]
    return mutate


def delete(name: str) -> Mutation:
    def mutate(f):
        del f[name]
    return mutate


def set_entry(name: str, index, value) -> Mutation:
    def mutate(f):
        values = f[name][...]
        values[index] = value
        f[name][...] = values
    return mutate


def offsets(split: str, values, dtype=np.int64) -> Mutation:
    return replace(f"{split}/offsets", np.array(values, dtype=dtype))


def both(*mutations: Mutation) -> Mutation:
    def mutate(f):
        for m in mutations:
            m(f)
    return mutate


def declared_rows(split: str, rows: int) -> Mutation:
    """`split` declares `rows` pairs: chosen/rejected as unwritten chunked [rows, 4] arrays and
    offsets ending at rows (the last group gets them all): consistent, only enormous."""
    def mutate(f):
        for name in ("chosen", "rejected", "ref_logratio"):
            del f[f"{split}/{name}"]
        for name in ("chosen", "rejected"):
            f.create_dataset(f"{split}/{name}", shape=(rows, 4), dtype="f4", chunks=(1024, 4))
        values = f[f"{split}/offsets"][()]
        values[-1] = rows
        del f[f"{split}/offsets"]
        f[f"{split}/offsets"] = values
    return mutate


def soft_link(name: str, target: str) -> Mutation:
    def mutate(f):
        del f[name]
        f[name] = h5py.SoftLink(target)
    return mutate


def external_link(name: str, file: str, target: str) -> Mutation:
    def mutate(f):
        del f[name]
        f[name] = h5py.ExternalLink(file, target)
    return mutate


def as_group(name: str) -> Mutation:
    def mutate(f):
        del f[name]
        f.create_group(name)
    return mutate


def as_dataset(name: str) -> Mutation:
    def mutate(f):
        del f[name]
        f[name] = np.zeros(3)
    return mutate


def widen_to_float64(name: str, index, value) -> Mutation:
    """`name` stored as float64 with one value that float32 cannot hold."""
    def mutate(f):
        data = f[name][()].astype(np.float64)
        data[index] = value
        del f[name]
        f[name] = data
    return mutate


def truncate(fraction: float) -> Raw:
    return Raw(lambda path, data: data[: int(len(data) * fraction)])


def corrupt_compressed_chunks(name: str) -> Raw:
    """`name` rewritten gzip-compressed, then every compressed chunk overwritten with 0xAA: the
    file opens, the read of `name` fails in zlib."""
    def function(path: Path, data: bytes) -> bytes:
        path.write_bytes(data)
        with h5py.File(path, "r+") as f:
            values = f[name][()]
            del f[name]
            f.create_dataset(name, data=values, compression="gzip", chunks=(30, values.shape[1]))
        with h5py.File(path, "r") as f:
            dset = f[name].id
            chunks = [dset.get_chunk_info(i) for i in range(dset.get_num_chunks())]
        out = bytearray(path.read_bytes())
        for chunk in chunks:
            out[chunk.byte_offset:chunk.byte_offset + chunk.size] = b"\xaa" * chunk.size
        return bytes(out)
    return Raw(function)


def empty_hdf5(f):
    """Every object and attribute removed: a valid, empty HDF5 file."""
    for key in list(f.attrs):
        del f.attrs[key]
    for key in list(f):
        del f[key]


def vlen_strings(n: int, text: str = "x"):
    return [text] * n


# ---------------------------------------------------------------------------------------------
# The cases. The valid dataset has train 60 pairs (groups 12/48), val 40 (20/20), test 40,
# feature_dim 4, 2 groups, env/ with 40 evaluation states x 8 actions.

DATASETS: Dict[str, Mutation] = {
    # files that are not (whole) grpo datasets
    "truncated-half": truncate(0.5),
    "empty-hdf5": empty_hdf5,
    "corrupt-compressed-chunk": corrupt_compressed_chunks("train/chosen"),
    # root attributes: missing, wrong type, wrong rank, out of range
    "missing-schema-version": del_attr("schema_version"),
    "schema-version-2.0": set_attr("schema_version", "2.0"),
    "schema-version-integer": set_attr("schema_version", 1),
    "schema-version-string-array": set_attr("schema_version", np.array([b"1.0"] * 100)),
    "source-string-array": set_attr("source", vlen_strings(2000), h5py.string_dtype()),
    "preset-string-array": set_attr("preset", np.array([b"even-imbalanced"] * 2)),
    "kind-model": set_attr("kind", "model"),
    "kind-with-newline": set_attr("kind", "data\nset"),
    "feature-dim-float": set_attr("feature_dim", 4.0),
    "feature-dim-array": set_attr("feature_dim", np.array([4, 4])),
    "feature-dim-uint64-max": set_attr("feature_dim", np.uint64(2**64 - 1)),
    "num-groups-negative": set_attr("num_groups", -1),
    "num-groups-2pow40": set_attr("num_groups", 2**40),
    # groups/names
    "group-names-missing": delete("groups"),
    "group-names-integers": replace("groups/names", np.array([1, 2])),
    "group-names-2d": replace("groups/names", np.array([[b"a", b"b"]])),
    "group-names-declared-2pow40": declare("groups/names", (2**40,), h5py.string_dtype(),
                                           (1024,)),
    "group-name-newline-empty-group": both(
        replace("groups/names", ["evil\nname", "b"], h5py.string_dtype()),
        offsets("train", [0, 0, 60])),
    # offsets: huge claims, wrong types, shapes, values
    "offsets-claim-2pow62": offsets("train", [0, 12, 2**62]),
    "train-declares-2pow62-rows": declared_rows("train", 2**62),
    "val-declares-2pow62-rows": declared_rows("val", 2**62),
    "offsets-uint64-max": offsets("train", [0, 12, 2**64 - 1], np.uint64),
    "offsets-negative": offsets("train", [0, -5, 60]),
    "offsets-2d": offsets("train", [[0], [12], [60]]),
    "offsets-scalar": replace("train/offsets", np.int64(60)),
    "offsets-float": offsets("train", [0, 12, 60], np.float64),
    "offsets-not-monotone": offsets("train", [0, 50, 40]),
    "offsets-wrong-length": offsets("train", [0, 12, 30, 60]),
    "offsets-not-starting-at-0": offsets("train", [3, 12, 60]),
    "empty-group-train": offsets("train", [0, 0, 60]),
    "empty-group-val": offsets("val", [0, 40, 40]),
    "empty-train-split": both(offsets("train", [0, 0, 0]),
                              replace("train/chosen", np.zeros((0, 4), np.float32)),
                              replace("train/rejected", np.zeros((0, 4), np.float32)),
                              replace("train/ref_logratio", np.zeros(0, np.float32))),
    # splits and their members: missing, wrong kind of object, dangling links
    "missing-train": delete("train"),
    "train-is-a-dataset": as_dataset("train"),
    "chosen-is-a-group": as_group("train/chosen"),
    "chosen-dangling-soft-link": soft_link("train/chosen", "/nowhere"),
    "chosen-external-link-missing-file": external_link("train/chosen", "no-such-file.h5", "/x"),
    "missing-train-rejected": delete("train/rejected"),
    # features: wrong rank, shape, type
    "chosen-3d": replace("train/chosen", np.zeros((60, 4, 1), np.float32)),
    "chosen-1d": replace("train/chosen", np.zeros(60, np.float32)),
    "chosen-wrong-width": replace("train/chosen", np.zeros((60, 3), np.float32)),
    "chosen-int32": replace("train/chosen", np.zeros((60, 4), np.int32)),
    "chosen-compound": replace("train/chosen", np.zeros((60, 4), dtype=[("a", "f4")])),
    "chosen-bool": replace("train/chosen", np.zeros((60, 4), bool)),
    "rejected-strings": replace("train/rejected", np.zeros((60, 4), "S4")),
    "ref-logratio-wrong-length": replace("train/ref_logratio", np.zeros(59, np.float32)),
    "ref-logratio-2d": replace("train/ref_logratio", np.zeros((60, 1), np.float32)),
    # NaN / Inf / overflow
    "nan-in-train-chosen": set_entry("train/chosen", (5, 1), np.nan),
    "inf-in-val-rejected": set_entry("val/rejected", (30, 0), np.inf),
    "nan-in-ref-logratio": set_entry("train/ref_logratio", (7,), np.nan),
    "float64-chosen-overflows-float32": widen_to_float64("train/chosen", (3, 2), 1e300),
    "chosen-minus-rejected-overflows": both(set_entry("train/chosen", (9, 0), 3e38),
                                            set_entry("train/rejected", (9, 0), -3e38)),
    # env/
    "nan-in-env-action-features": set_entry("env/action_features", (3, 0, 0, 0), np.nan),
    "nan-in-env-reward-params": set_entry("env/reward_params", (0, 0), np.nan),
    "env-missing-reward-params": delete("env/reward_params"),
    "env-action-features-3d": replace("env/action_features", np.zeros((40, 2, 8))),
    "env-action-features-declared-2pow40-states": declare(
        "env/action_features", (2**40, 2, 8, 4), "f8", (16, 2, 8, 4)),
    "env-action-features-declared-2pow31-actions": declare(
        "env/action_features", (40, 2, 2**31, 4), "f8", (1, 1, 1024, 4)),
}

TRACES: Dict[str, Mutation] = {
    # --theta-init TRACE.h5: theta_final missing, of the wrong type, rank, length, values
    "theta-final-missing": delete("theta_final"),
    "theta-final-integers": replace("theta_final", np.arange(4)),
    "theta-final-scalar": replace("theta_final", np.float64(1.0)),
    "theta-final-2d": replace("theta_final", np.ones((2, 2))),
    "theta-final-strings": replace("theta_final", np.array([b"1", b"2", b"3", b"4"])),
    "theta-final-nan": set_entry("theta_final", (2,), np.nan),
    "theta-final-inf": set_entry("theta_final", (0,), -np.inf),
    "theta-final-empty": replace("theta_final", np.zeros(0)),
    "theta-final-wrong-length": replace("theta_final", np.ones(3)),
    "theta-final-declared-2pow40": declare("theta_final", (2**40,), "f8", (1024,)),
    # grpo info TRACE.h5: records and attributes that do not fit together
    "worst-val-loss-no-rows": replace("worst_val_loss", np.zeros(0)),
    "alpha-no-rows": replace("alpha", np.zeros((0, 2))),
    "iteration-declared-2pow40": declare("iteration", (2**40,), "i8", (1024,)),
    "worst-val-loss-strings": replace("worst_val_loss", np.array([b"x", b"y"])),
    "iteration-strings": replace("iteration", np.array([b"x", b"y"])),
    "kind-string-array": set_attr("kind", np.array([b"trace"] * 5000)),
    "status-integer": set_attr("status", 5),
    "num-ranks-string": set_attr("num_ranks", "two"),
    "num-ranks-array": set_attr("num_ranks", np.array([1, 2])),
    "schema-version-integer": set_attr("schema_version", 1),
    # a complete, valid trace: bad only where a dataset is expected
    "valid-trace": lambda f: None,
}

# ---------------------------------------------------------------------------------------------


def _environment() -> dict:
    env = dict(os.environ)
    env.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    return env


def _grpo(grpo: str, *args, cwd: Path) -> None:
    result = subprocess.run([grpo, *map(str, args)], cwd=str(cwd), env=_environment(),
                            capture_output=True, text=True, timeout=120,
                            stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise RuntimeError(f"grpo {' '.join(map(str, args))}: exit {result.returncode}\n"
                           f"{result.stdout}{result.stderr}")


def make_valid(grpo: str, outdir: Path) -> Dict[str, Path]:
    """valid.h5 and valid-trace.h5 in outdir."""
    outdir.mkdir(parents=True, exist_ok=True)
    dataset = outdir / "valid.h5"
    trace = outdir / "valid-trace.h5"
    _grpo(grpo, "generate", "--preset", "even-imbalanced", "--train-size", "60", "--val-size",
          "40", "--test-size", "40", "--out", dataset.name, cwd=outdir)
    _grpo(grpo, "train", "--dataset", dataset.name, "--method", "gr-dpo", "--iterations", "5",
          "-q", "--out", trace.name, cwd=outdir)
    return {"dataset": dataset, "trace": trace}


def apply(source: Path, target: Path, mutation: Mutation) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(mutation, Raw):
        data = mutation.function(target, source.read_bytes())
        target.write_bytes(data)
        return target
    shutil.copyfile(source, target)
    with h5py.File(target, "r+") as f:
        mutation(f)
    return target


def build(grpo: str, outdir: Path, names: Iterable[str] = ()) -> Dict[str, Path]:
    """Builds the valid files and every case (or only `names`, as "datasets/NAME.h5") under
    outdir; returns {"datasets/NAME.h5": path, "traces/NAME.h5": path, "valid": ..., ...}."""
    outdir = Path(outdir)
    valid = make_valid(grpo, outdir)
    wanted = set(names)
    built: Dict[str, Path] = {"valid/dataset": valid["dataset"], "valid/trace": valid["trace"]}
    for folder, cases, source in (("datasets", DATASETS, valid["dataset"]),
                                  ("traces", TRACES, valid["trace"])):
        for name, mutation in cases.items():
            key = f"{folder}/{name}.h5"
            if wanted and key not in wanted:
                continue
            built[key] = apply(source, outdir / key, mutation)
    return built


def built_names():
    return [f"datasets/{n}.h5" for n in DATASETS] + [f"traces/{n}.h5" for n in TRACES]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grpo", default=os.environ.get("GRPO_BIN"),
                        help="the grpo executable (default: $GRPO_BIN)")
    parser.add_argument("outdir", type=Path)
    args = parser.parse_args(argv)
    if not args.grpo:
        parser.error("give --grpo or set GRPO_BIN")
    built = build(args.grpo, args.outdir)
    for key, path in built.items():
        print(f"{key}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
