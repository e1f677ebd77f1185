"""Load grpo traces and studies into tidy pandas DataFrames.

A trace (``grpo train --out T.h5``, see docs/formats.md) holds one row per record; a study
(``grpo study``, see docs/analysis.md) is a plan of training tasks, each writing one trace. This
module turns either into one tidy frame, one row per run x record:

    >>> import grpo_traces
    >>> runs = grpo_traces.load_study("run/paper")          # every completed run of the study
    >>> last = grpo_traces.finals(runs)                       # the last record of each run
    >>> last.groupby(["data", "method"])["worst_val_loss"].agg(["mean", "sem", "count"])

Columns, in this order:

- identity: ``experiment``, ``data``, ``method``, one column per grid parameter named as the
  option (``step-theta``; string values as in the plan, NaN where a task does not set it),
  ``seed``, ``task``, ``cell``, ``trace`` (path of the trace relative to the study);
  ``load_trace`` gives only ``trace``, ``method`` and ``seed`` (from the file's attributes);
- ``iteration``: the 0-based index of the step just made;
- one column per scalar metric (every top-level 1-D dataset of length R, the number of records):
  ``worst_val_loss``, ``max_reward_error``, ``gap``, ...;
- one column per group and per-group metric (every top-level [R, K] dataset), named by the
  group *index*: ``val_loss[0]``, ``alpha[1]``, ...; the group names are in
  ``Trace.group_names`` and ``Study.group_names``.

End-of-run arrays (``theta_final``, ``alpha_avg``, ... : names ending in ``_final`` or ``_avg``;
the metrics after the SFT stage of an MLP run: names starting with ``sft_``) are not record
columns even when their length happens to equal R; the parameter trajectory
``theta`` [R, P] is left out unless asked for (``theta=True``: columns ``theta[0]`` ...).

Traces are opened read-only without HDF5 file locking, so a study can be read while its jobs
still write (a trace being written has ``status = "running"`` and counts as missing).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import h5py
import numpy as np
import pandas as pd

#: The plan format this module reads (``plan.json``: ``format`` and ``version``).
PLAN_FORMAT = "grpo-study-plan"
PLAN_VERSIONS = (1,)

#: Identity columns of a study frame, in order; the grid parameters go between ``method`` and
#: ``seed``.
IDENTITY = ("experiment", "data", "method", "seed", "task", "cell", "trace")

#: Suffixes of the datasets written once at the end of a run (not one value per record).
END_OF_RUN_SUFFIXES = ("_final", "_avg")
#: Prefixes of such datasets: the model after the SFT stage (``grpo train --policy mlp``).
END_OF_RUN_PREFIXES = ("sft_",)


class StudyError(Exception):
    """Input that cannot be analysed; ``exit_code`` follows grpo's classes (2 config, 3 data)."""

    exit_code = 2


class PlanError(StudyError):
    """A missing or malformed ``plan.json``."""

    exit_code = 2


class TraceError(StudyError):
    """A trace that cannot be read, or a study without one completed trace."""

    exit_code = 3


# --------------------------------------------------------------------------------------------
# Traces


@dataclass
class Trace:
    """One trace file: its root attributes, group names and records (one row each)."""

    path: Path
    attrs: Dict[str, Any]
    group_names: List[str]
    records: pd.DataFrame  # ``iteration`` and the metric columns, no identity

    @property
    def status(self) -> str:
        return str(self.attrs.get("status", "unknown"))

    @property
    def completed(self) -> bool:
        return self.status == "completed"


def read_trace(path, *, theta: bool = False) -> Trace:
    """Read one trace; raise ``TraceError`` naming the file when it is not a readable trace.

    Any status is accepted (check ``Trace.completed``): a running or failed trace holds every
    record flushed before it stopped.
    """
    path = Path(path)
    if not path.is_file():
        raise TraceError(f"{path}: no such file")
    try:
        with h5py.File(path, "r", locking=False) as file:
            attrs = {key: _python_value(value) for key, value in file.attrs.items()}
            kind = attrs.get("kind")
            if kind != "trace":
                raise TraceError(f"{path}: not a grpo trace (attribute kind = {kind!r})")
            iteration = file.get("iteration")
            if not isinstance(iteration, h5py.Dataset) or iteration.ndim != 1:
                raise TraceError(f"{path}: no 1-D dataset `iteration`")
            records = _read_records(file, iteration.shape[0], theta)
            group_names = _group_names(file, attrs)
    except OSError as error:  # h5py: not HDF5, truncated, unreadable
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise TraceError(f"{path}: cannot read: {reason}") from None
    return Trace(path=path, attrs=attrs, group_names=group_names, records=records)


def load_trace(path, *, theta: bool = False) -> pd.DataFrame:
    """Tidy frame of one trace: ``trace``, ``method``, ``seed``, then the records."""
    trace = read_trace(path, theta=theta)
    identity = {
        "trace": str(trace.path),
        "method": trace.attrs.get("method"),
        "seed": trace.attrs.get("seed"),
    }
    return _with_identity(trace.records, identity)


def finals(frame: pd.DataFrame) -> pd.DataFrame:
    """The last record (largest ``iteration``) of each run (``trace``) of a tidy frame."""
    if frame.empty:
        return frame.copy()
    frame = frame.reset_index(drop=True)  # labels = positions, whatever the caller's index
    last = frame.groupby("trace", sort=False)["iteration"].idxmax()
    return frame.iloc[last.to_numpy()].reset_index(drop=True)


def _read_records(file: h5py.File, records: int, theta: bool) -> pd.DataFrame:
    """Every record column of an open trace (see the module's docstring for the rule)."""
    columns: Dict[str, np.ndarray] = {}
    for name, obj in file.items():
        if not isinstance(obj, h5py.Dataset) or obj.dtype.kind not in "biuf":
            continue
        if obj.ndim not in (1, 2) or obj.shape[0] != records:
            continue
        if name.endswith(END_OF_RUN_SUFFIXES) or name.startswith(END_OF_RUN_PREFIXES):
            continue
        if name == "theta" and not theta:
            continue
        values = obj[()]
        if values.ndim == 1:
            columns[name] = values
        else:
            columns.update({f"{name}[{j}]": values[:, j] for j in range(values.shape[1])})
    iteration = columns.pop("iteration")
    return pd.DataFrame({"iteration": iteration, **columns})


def _group_names(file: h5py.File, attrs: Mapping[str, Any]) -> List[str]:
    """``groups/names`` decoded, or ``group_<g>`` for each of ``num_groups`` when absent."""
    names = file.get("groups/names")
    if isinstance(names, h5py.Dataset) and names.ndim == 1:
        return [_text(name) for name in names[()]]
    return [f"group_{g}" for g in range(int(attrs.get("num_groups", 0) or 0))]


def _python_value(value):
    """An HDF5 attribute as a plain Python value (str for strings, int/float for scalars)."""
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        return [_python_value(item) for item in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _text(value) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _with_identity(records: pd.DataFrame, identity: Mapping[str, Any]) -> pd.DataFrame:
    """``records`` with constant identity columns in front."""
    front = pd.DataFrame({key: [value] * len(records) for key, value in identity.items()})
    return pd.concat([front, records.reset_index(drop=True)], axis=1)


# --------------------------------------------------------------------------------------------
# Plans


@dataclass(frozen=True)
class Run:
    """A training task of the plan: one method on one data set with one seed."""

    task: str
    experiment: str
    data: str
    method: str
    params: Dict[str, str]
    seed: int
    cell: str
    trace: str  # path relative to the study directory
    hash: str = ""  # of the task's definition (a packed trace is found by task and hash)


@dataclass(frozen=True)
class Cell:
    """The runs of one configuration (experiment, data, method, parameters) over seeds."""

    id: str
    experiment: str
    data: str
    method: str
    params: Dict[str, str]
    runs: Tuple[str, ...]  # task ids


@dataclass(frozen=True)
class Selection:
    """``[experiment.selection]`` of a grid experiment (docs/studies.md).

    Per data set, method and values of the options not in ``over``, the report picks the values
    of the ``over`` options whose ``statistic`` ("mean" or "median") over seeds of the final
    ``metric`` is smallest (``goal`` "min") or largest ("max").
    """

    metric: str
    goal: str
    over: Tuple[str, ...]
    statistic: str = "mean"


@dataclass(frozen=True)
class Experiment:
    """``kind`` is "grid" (compare methods) or "rate" (regress the gap on parameter ``x``)."""

    name: str
    kind: str
    x: str = ""
    # Options set by the experiment's listed cases: in a rate study they move with x (e.g. a
    # step size proportional to 1/sqrt(T)), so they do not split a fitted series.
    case_keys: Tuple[str, ...] = ()
    selection: Optional[Selection] = None


@dataclass(frozen=True)
class Plan:
    path: Path
    name: str
    runs: Tuple[Run, ...]
    cells: Dict[str, Cell]  # by id, in plan order
    experiments: Dict[str, Experiment]  # by name, in plan order

    @property
    def data_sets(self) -> List[str]:
        """Data set names in order of first appearance."""
        return list(dict.fromkeys(run.data for run in self.runs))

    @property
    def param_names(self) -> List[str]:
        """Every parameter a training task sets, in order of first appearance."""
        return list(dict.fromkeys(key for run in self.runs for key in run.params))


def read_plan(path) -> Plan:
    """Parse and check ``plan.json``; raise ``PlanError`` naming the file and the field."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanError(
            f"{path}: no such file (not a study directory written by `grpo study`?)"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise PlanError(f"{path}: cannot read: {error}") from None
    except json.JSONDecodeError as error:
        raise PlanError(
            f"{path}: not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
        ) from None
    fields = _Fields(path)
    fields.require(isinstance(doc, dict), "", "a JSON object", doc)
    fmt = fields.get(doc, "format", str, "")
    fields.require(fmt == PLAN_FORMAT, "format", repr(PLAN_FORMAT), fmt)
    version = fields.get(doc, "version", int, "")
    fields.require(version in PLAN_VERSIONS, "version", f"one of {PLAN_VERSIONS}", version)
    name = fields.get(doc, "name", str, "", default=path.parent.name)

    runs: List[Run] = []
    seen = set()
    for i, task in enumerate(fields.get(doc, "tasks", list, "")):
        where = f"tasks[{i}]"
        fields.require(isinstance(task, dict), where, "a JSON object", task)
        task_id = fields.get(task, "id", str, where)
        fields.require(task_id not in seen, f"{where}.id", "a unique task id", task_id)
        seen.add(task_id)
        if task.get("layer") == "train" or task.get("kind") == "train":
            runs.append(_read_run(fields, task, where))

    cells: Dict[str, Cell] = {}
    for i, entry in enumerate(fields.get(doc, "cells", list, "", default=[])):
        where = f"cells[{i}]"
        fields.require(isinstance(entry, dict), where, "a JSON object", entry)
        cell = Cell(
            id=fields.get(entry, "id", str, where),
            experiment=fields.get(entry, "experiment", str, where),
            data=fields.get(entry, "data", str, where),
            method=fields.get(entry, "method", str, where),
            params=fields.params(entry, where),
            runs=tuple(fields.strings(entry, "runs", where)),
        )
        cells[cell.id] = cell
    for run in runs:  # a run whose cell the plan does not describe gets one of its own
        cells.setdefault(
            run.cell, Cell(run.cell, run.experiment, run.data, run.method, run.params, ())
        )

    experiments: Dict[str, Experiment] = {}
    for i, entry in enumerate(fields.get(doc, "experiments", list, "", default=[])):
        where = f"experiments[{i}]"
        fields.require(isinstance(entry, dict), where, "a JSON object", entry)
        experiment = Experiment(
            name=fields.get(entry, "name", str, where),
            kind=fields.get(entry, "kind", str, where),
            x=fields.get(entry, "x", str, where, default=""),
            case_keys=tuple(fields.strings(entry, "case_keys", where)),
            selection=_read_selection(fields, entry, where),
        )
        if experiment.kind == "rate":
            fields.require(bool(experiment.x), f"{where}.x", "the name of the varied option", "")
        experiments[experiment.name] = experiment
    for run in runs:  # experiments named only by their tasks compare methods
        experiments.setdefault(run.experiment, Experiment(run.experiment, "grid"))
    return Plan(path, name, tuple(runs), cells, experiments)


def _read_selection(fields: "_Fields", entry: Mapping[str, Any], where: str):
    """``experiments[i].selection``: absent or null for none."""
    doc = entry.get("selection")
    if doc is None:
        return None
    where = f"{where}.selection"
    fields.require(isinstance(doc, dict), where, "a JSON object", doc)
    selection = Selection(
        metric=fields.get(doc, "metric", str, where),
        goal=fields.get(doc, "goal", str, where),
        over=tuple(fields.strings(doc, "over", where)),
        statistic=fields.get(doc, "statistic", str, where, default="mean"),
    )
    fields.require(bool(selection.metric), f"{where}.metric", "a trace column", "")
    fields.require(selection.goal in ("min", "max"), f"{where}.goal", "'min' or 'max'",
                   selection.goal)
    fields.require(selection.statistic in ("mean", "median"), f"{where}.statistic",
                   "'mean' or 'median'", selection.statistic)
    fields.require(bool(selection.over) and len(set(selection.over)) == len(selection.over),
                   f"{where}.over", "a non-empty list of distinct option names",
                   list(selection.over))
    for key in selection.over:
        reserved = key in IDENTITY or key == "iteration"
        fields.require(not reserved, f"{where}.over", "option names", key)
    return selection


def _read_run(fields: "_Fields", task: Mapping[str, Any], where: str) -> Run:
    params = fields.params(task, where)
    for key in params:  # a parameter becomes a column beside the identity columns
        reserved = key in IDENTITY or key == "iteration"
        fields.require(not reserved, f"{where}.params", "no option named like a column", key)
    experiment = fields.get(task, "experiment", str, where)
    data = fields.get(task, "data", str, where)
    method = fields.get(task, "method", str, where)
    settings = ",".join(f"{key}={value}" for key, value in params.items())
    default_cell = f"{experiment}/{data}/{method}/{settings}"
    return Run(
        task=fields.get(task, "id", str, where),
        experiment=experiment,
        data=data,
        method=method,
        params=params,
        seed=fields.get(task, "seed", int, where),
        cell=fields.get(task, "cell", str, where, default=default_cell),
        trace=fields.get(task, "output", str, where),
        hash=fields.get(task, "hash", str, where, default=""),
    )


_REQUIRED = object()


@dataclass
class _Fields:
    """Typed access to the fields of a JSON document, with errors naming file and field."""

    path: Path

    def require(self, ok: bool, where: str, expected: str, got) -> None:
        if not ok:
            place = f"{where}: " if where else ""
            raise PlanError(f"{self.path}: {place}expected {expected}, got {_short(got)}")

    def get(self, obj: Mapping[str, Any], key: str, kind: type, where: str, default=_REQUIRED):
        name = f"{where}.{key}" if where else key
        if key not in obj:
            if default is _REQUIRED:
                raise PlanError(f"{self.path}: {name}: missing")
            return default
        value = obj[key]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        self.require(ok, name, {str: "a string", int: "an integer", list: "a list"}[kind], value)
        return value

    def params(self, obj: Mapping[str, Any], where: str) -> Dict[str, str]:
        """``params``: an object of option values (strings; numbers are written as strings)."""
        params = obj.get("params", {})
        self.require(isinstance(params, dict), f"{where}.params", "a JSON object", params)
        for key, value in params.items():
            ok = isinstance(value, (str, int, float)) and not isinstance(value, bool)
            self.require(ok, f"{where}.params.{key}", "a string or a number", value)
        return {key: str(value) for key, value in params.items()}

    def strings(self, obj: Mapping[str, Any], key: str, where: str) -> List[str]:
        values = self.get(obj, key, list, where, default=[])
        for i, value in enumerate(values):
            self.require(isinstance(value, str), f"{where}.{key}[{i}]", "a string", value)
        return values


def _short(value, limit: int = 40) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------
# Studies


@dataclass(frozen=True)
class Missing:
    """A training run without a usable trace, and why."""

    task: str
    trace: str
    reason: str


@dataclass
class Study:
    """A study directory read: the plan, the completed runs and what is missing."""

    directory: Path
    plan: Plan
    runs: pd.DataFrame  # tidy frame of the completed runs (module docstring)
    missing: List[Missing]
    group_names: Dict[str, List[str]]  # per data set, from its first completed trace
    cell_files: Dict[str, dict] = field(default_factory=dict)  # cells/<id>.json by cell id
    cell_file_errors: List[str] = field(default_factory=list)


def read_study(directory, *, theta: bool = False) -> Study:
    """Read ``plan.json``, every training trace and the optional ``cells/<id>.json``.

    A trace that is absent, unreadable or not completed is listed in ``Study.missing``, never
    raised; a bad plan raises ``PlanError``.
    """
    directory = Path(directory)
    plan = read_plan(directory / "plan.json")
    frames: List[Tuple[int, pd.DataFrame]] = []  # (plan position of the first run, records)
    missing: Dict[int, Missing] = {}
    group_names: Dict[str, List[str]] = {}
    packs = _pack_index(directory, plan)
    param_names = plan.param_names  # computed over every run: once
    wanted: Dict[Path, List[Tuple[int, Run, int]]] = {}
    for position, run in enumerate(plan.runs):
        path = directory / run.trace
        if not path.exists() and (run.task, run.hash) in packs:
            pack, index = packs[(run.task, run.hash)]
            wanted.setdefault(pack, []).append((position, run, index))
            continue
        try:
            trace = read_trace(path, theta=theta)
        except TraceError as error:
            missing[position] = Missing(run.task, run.trace, _reason(error, path))
            continue
        if not trace.completed:
            missing[position] = Missing(run.task, run.trace, f"status: {trace.status}")
            continue
        if trace.records.empty:
            missing[position] = Missing(run.task, run.trace, "completed without a record")
            continue
        group_names.setdefault(run.data, trace.group_names)
        frames.append((position, _with_identity(trace.records, _identity(run, param_names))))
    for pack, entries in wanted.items():
        frames.extend(_pack_frames(directory, pack, entries, plan, theta, missing, group_names))
    frames.sort(key=lambda item: item[0])
    pieces = [frame for _, frame in frames]
    runs = pd.concat(pieces, ignore_index=True, sort=False) if pieces else _empty_frame(plan)
    if "_position" in runs:  # packed runs: back into plan order
        position = runs["_position"].to_numpy()
        single = np.repeat([p for p, _ in frames], [len(f) for _, f in frames])
        position = np.where(np.isnan(position.astype(float)), single, position).astype(np.int64)
        if (np.diff(position) < 0).any():
            runs = runs.iloc[np.argsort(position, kind="stable")].reset_index(drop=True)
        runs = runs.drop(columns="_position")
    if len(pieces) > 1 and runs.columns.tolist() != _ordered_columns(pieces):
        runs = runs[[c for c in _ordered_columns(pieces) if c != "_position"]]
    study = Study(directory, plan, runs, [missing[k] for k in sorted(missing)], group_names)
    _read_cell_files(study)
    return study


def load_study(directory, *, theta: bool = False) -> pd.DataFrame:
    """Tidy frame of every completed run of a study (``read_study(...).runs``)."""
    return read_study(directory, theta=theta).runs


def _identity(run: Run, param_names: List[str]) -> Dict[str, Any]:
    identity: Dict[str, Any] = {
        "experiment": run.experiment,
        "data": run.data,
        "method": run.method,
    }
    identity.update({key: run.params.get(key, np.nan) for key in param_names})
    identity.update({"seed": run.seed, "task": run.task, "cell": run.cell, "trace": run.trace})
    return identity


# --------------------------------------------------------------------------------------------
# Trace packs (docs/formats.md): the traces of a bundle's runs in one file, columns concatenated
# over the runs. A run's trace is its own file while that exists, else its entry in a pack with
# the run's task id and hash (the last such entry of the newest pack).

#: The pack format this module reads (root attributes ``kind`` and ``schema_version``).
PACK_KIND = "trace_pack"


def _pack_index(directory: Path, plan: Plan) -> Dict[Tuple[str, str], Tuple[Path, int]]:
    """(task, hash) -> (pack, index) over the packs beside the plan's traces."""
    folders = dict.fromkeys((directory / run.trace).parent for run in plan.runs)
    packs = [p for folder in folders for p in folder.glob("pack.*.h5") if p.is_file()]
    packs.sort(key=lambda p: (p.stat().st_mtime_ns, p.name))  # newest last: it wins
    index: Dict[Tuple[str, str], Tuple[Path, int]] = {}
    for pack in packs:
        try:
            with h5py.File(pack, "r", locking=False) as file:
                _check_pack(file, pack)
                tasks = [_text(t) for t in file["runs/task"][()]]
                hashes = [_text(h) for h in file["runs/hash"][()]]
        except (OSError, KeyError) as error:
            raise TraceError(f"{pack}: cannot read the trace pack: {error}") from None
        for i, key in enumerate(zip(tasks, hashes)):
            index[key] = (pack, i)
    return index


def _check_pack(file: h5py.File, path: Path) -> None:
    kind = _python_value(file.attrs.get("kind"))
    if kind != PACK_KIND:
        raise TraceError(f"{path}: not a grpo trace pack (attribute kind = {kind!r})")
    schema = str(_python_value(file.attrs.get("schema_version", "")))
    if not schema.startswith("1."):
        raise TraceError(f"{path}: trace pack schema {schema!r} is not supported (reads 1.x)")


def read_pack(path, *, theta: bool = False):
    """Every run of a trace pack: (run table, records).

    The run table has one row per run: ``task``, ``hash``, ``records``, ``status``,
    ``group_names`` and the trace's other root attributes (``method``, ``seed``, ...). The
    records frame is tidy like a trace's, with ``task`` in front: a run that lacks a column
    (or has fewer groups) holds NaN there.
    """
    path = Path(path)
    if not path.is_file():
        raise TraceError(f"{path}: no such file")
    try:
        with h5py.File(path, "r", locking=False) as file:
            _check_pack(file, path)
            tasks = [_text(t) for t in file["runs/task"][()]]
            counts = np.asarray(file["runs/records"][()], dtype=np.int64)
            attrs = pd.DataFrame([json.loads(_text(a)) for a in file["runs/attributes"][()]])
            table = pd.DataFrame({
                "task": tasks,
                "hash": [_text(h) for h in file["runs/hash"][()]],
                "records": counts,
                "group_names": [json.loads(_text(g)) for g in file["runs/groups"][()]],
            })
            table = pd.concat([table, attrs.drop(columns=table.columns, errors="ignore")], axis=1)
            columns = _pack_columns(file, counts, theta)
    except (OSError, KeyError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise TraceError(f"{path}: cannot read the trace pack: {reason}") from None
    records = pd.DataFrame({"task": np.repeat(np.asarray(tasks, dtype=object), counts), **columns})
    return table, records


def run_arrays(directory, task: str) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
    """The root attributes and every numeric dataset of one training run of a study, shaped as
    in the run's own trace file (``[R]``, ``[R, K]``, end-of-run arrays), wherever the trace
    lives: its own file while that exists, else the pack that holds the task with its hash.
    ``groups/names`` is in the attributes as ``group_names``. Raises ``TraceError`` when the
    run has no trace."""
    directory = Path(directory)
    plan = read_plan(directory / "plan.json")
    run = next((r for r in plan.runs if r.task == task), None)
    if run is None:
        raise PlanError(f"{directory / 'plan.json'}: no training task {task!r}")
    path = directory / run.trace
    if path.exists():
        try:
            with h5py.File(path, "r", locking=False) as file:
                attrs = {key: _python_value(value) for key, value in file.attrs.items()}
                attrs["group_names"] = _group_names(file, attrs)
                arrays = {name: obj[()] for name, obj in file.items()
                          if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "biuf"}
        except OSError as error:
            raise TraceError(f"{path}: cannot read: {error}") from None
        return attrs, arrays
    packs = _pack_index(directory, plan)
    if (run.task, run.hash) not in packs:
        raise TraceError(f"{path}: no such file, and no trace pack holds task {task!r}")
    pack, index = packs[(run.task, run.hash)]
    try:
        with h5py.File(pack, "r", locking=False) as file:
            attrs = json.loads(_text(file["runs/attributes"][index]))
            attrs["group_names"] = json.loads(_text(file["runs/groups"][index]))
            counts = np.asarray(file["runs/records"][()], dtype=np.int64)
            arrays = {}
            for name in file["records"]:
                widths = np.asarray(file["record_widths"][name][()], dtype=np.int64)
                if widths[index] == 0:
                    continue
                begin = int((widths[:index] * counts[:index]).sum())
                values = file["records"][name][begin:begin + widths[index] * counts[index]]
                rank = int(file["records"][name].attrs["rank"])
                arrays[name] = values if rank == 1 else values.reshape(counts[index], -1)
            for name in file["finals"]:
                sizes = np.asarray(file["final_sizes"][name][()], dtype=np.int64)
                if sizes[index] < 0:
                    continue
                begin = int(np.maximum(sizes[:index], 0).sum())
                values = file["finals"][name][begin:begin + sizes[index]]
                rank = int(file["finals"][name].attrs["rank"])
                arrays[name] = values[0] if rank == 0 else values
    except (OSError, KeyError, ValueError) as error:
        raise TraceError(f"{pack}: cannot read the trace pack: {error}") from None
    return attrs, arrays


def _pack_columns(file: h5py.File, counts: np.ndarray, theta: bool) -> Dict[str, np.ndarray]:
    """The record columns of a pack, one row per record of every run (module docstring)."""
    total = int(counts.sum())
    columns: Dict[str, np.ndarray] = {}
    for name in sorted(file["records"]):
        if name == "theta" and not theta:
            continue
        values = file["records"][name][()]
        rank = int(file["records"][name].attrs["rank"])
        widths = np.asarray(file["record_widths"][name][()], dtype=np.int64)
        if len(widths) != len(counts) or int((widths * counts).sum()) != len(values):
            raise ValueError(f"records/{name} does not match the runs' records and widths")
        if rank == 1:
            if (widths[counts > 0] == 1).all():
                columns[name] = values
            else:
                full = np.full(total, np.nan)
                full[np.repeat(widths == 1, counts)] = values
                columns[name] = full
            continue
        width = int(widths.max(initial=0))
        if (widths[counts > 0] == width).all():
            table = values.reshape(total, width)
        else:
            table = np.full((total, width), np.nan)
            row = offset = 0
            for count, w in zip(counts, widths):
                table[row:row + count, :w] = values[offset:offset + count * w].reshape(count, w)
                row += count
                offset += count * w
        columns.update({f"{name}[{j}]": table[:, j] for j in range(width)})
    columns = {"iteration": columns.pop("iteration", np.zeros(total, dtype=np.int64)), **columns}
    return columns


def _pack_frames(directory, pack, entries, plan, theta, missing, group_names):
    """Tidy frames of the runs `entries` [(plan position, run, index)] of one pack: one frame
    for all of them (vectorized: a pack may hold thousands of runs), rows in pack order."""
    where = str(pack.relative_to(directory))
    try:
        table, records = read_pack(pack, theta=theta)
    except TraceError as error:
        for position, run, _ in entries:
            missing[position] = Missing(run.task, where, _reason(error, pack))
        return []
    status = table["status"].astype(str) if "status" in table else pd.Series(["unknown"] * len(table))
    counts = table["records"].to_numpy()
    keep = np.zeros(len(table), dtype=bool)
    identity: Dict[int, Tuple[int, Run]] = {}
    for position, run, index in entries:
        if status.iloc[index] != "completed":
            missing[position] = Missing(run.task, where, f"status: {status.iloc[index]}")
        elif counts[index] == 0:
            missing[position] = Missing(run.task, where, "completed without a record")
        else:
            keep[index] = True
            identity[index] = (position, run)
            group_names.setdefault(run.data, list(table["group_names"].iloc[index]))
    if not keep.any():
        return []
    kept = np.flatnonzero(keep)
    rows = records.loc[np.repeat(keep, counts)].drop(columns="task").dropna(axis=1, how="all")
    repeat = counts[kept]
    param_names = plan.param_names
    identities = [_identity(identity[index][1], param_names) for index in kept]
    front = {}
    for key in list(IDENTITY[:3]) + param_names + list(IDENTITY[3:]):
        values = [row[key] for row in identities]
        front[key] = np.repeat(np.asarray(values, dtype=object), repeat)
    frame = pd.concat([pd.DataFrame(front), rows.reset_index(drop=True)], axis=1)
    for key in ("seed",):
        frame[key] = frame[key].astype(np.int64)
    frame["_position"] = np.repeat([identity[index][0] for index in kept], repeat)
    return [(identity[kept[0]][0], frame)]


def _ordered_columns(frames: List[pd.DataFrame]) -> List[str]:
    """The union of the frames' columns in order of first appearance."""
    return list(dict.fromkeys(column for frame in frames for column in frame.columns))


def _empty_frame(plan: Plan) -> pd.DataFrame:
    columns = list(IDENTITY[:3]) + plan.param_names + list(IDENTITY[3:]) + ["iteration"]
    return pd.DataFrame(columns=columns)


def _reason(error: TraceError, path: Path) -> str:
    """The message of a trace error without the path it starts with."""
    text = str(error)
    prefix = f"{path}: "
    return text[len(prefix):] if text.startswith(prefix) else text


def _read_cell_files(study: Study) -> None:
    """Load ``cells/<id>.json`` where present; a garbled one is noted, not fatal."""
    for cell_id in study.plan.cells:
        path = study.directory / "cells" / f"{cell_id}.json"
        if not path.is_file():
            continue
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            study.cell_file_errors.append(f"{path.relative_to(study.directory)}: {error}")
            continue
        if not isinstance(doc, dict):
            study.cell_file_errors.append(
                f"{path.relative_to(study.directory)}: expected a JSON object"
            )
            continue
        study.cell_files[cell_id] = doc
