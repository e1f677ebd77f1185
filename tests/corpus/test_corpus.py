"""The bad-input corpus (tests/corpus/README.md): every case of cases.toml through grpo.

The project's rule for bad input: exactly ONE line on stderr, starting "error:", naming the file
and the field, key or option (and the value where there is one); the exit code of the error's
class (2 configuration, 3 data, 4 I/O); no signal, no "internal error", no hang; and no output
file (no --out file, no <out>.tmp, no study directory).

Each case runs in its own empty folder holding only a copy of its file (and its `extra` files),
with a 30 s limit, a cap on its address space (GRPO_CORPUS_MEMORY_LIMIT_MB, default 4096; 0 for
none) and no core files. With GRPO_MPIEXEC set, the cases marked `mpi = true` also run under
`GRPO_MPIEXEC -n 2`: same exit code, one line (rank 0's), nothing written.

Cases with `xfail = "reason"` are known bugs: they are expected to break the rule (strict: a
case that starts passing fails, so that its xfail gets removed).

  GRPO_BIN=build/bin/grpo /usr/bin/python3 -m pytest -q tests/corpus
  GRPO_BIN=build/bin/grpo GRPO_MPIEXEC=mpirun /usr/bin/python3 -m pytest -q tests/corpus
"""

import os
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest
from sessions import kill_session

try:
    import tomllib
except ImportError:  # Python < 3.11
    try:
        import tomli as tomllib
    except ImportError:
        tomllib = None

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "cases.toml"
TIMEOUT_S = 30
CLASS_CODES = {2, 3, 4}
FOLDERS = ("datasets", "configs", "studies", "traces", "convert", "pairs")
CASE_KEYS = {"id", "file", "command", "args", "extra_args", "code", "expect", "mpi", "xfail",
             "copy_as", "extra", "timeout", "needs_memory_limit", "note"}

sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import make_datasets  # noqa: E402  (the builder of the HDF5 cases, next to this file)

_ENV_DEFAULTS = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
    "HDF5_USE_FILE_LOCKING": "FALSE",
}

# ---------------------------------------------------------------------------------------------
# The manifest


@dataclass
class Case:
    id: str
    file: str
    args: List[str]
    codes: Tuple[int, ...]
    expect: List[str]
    mpi: bool = False
    xfail: Optional[str] = None
    copy_as: Optional[str] = None
    extra: Dict[str, str] = field(default_factory=dict)
    timeout: float = TIMEOUT_S
    needs_memory_limit: bool = False

    @property
    def folder(self) -> str:
        return self.file.split("/", 1)[0]

    @property
    def local_name(self) -> str:
        """The case's file name in the folder where it runs."""
        return self.copy_as or Path(self.file).name


def _load_manifest() -> Tuple[dict, List[Case]]:
    if tomllib is None:
        raise RuntimeError("tests/corpus needs Python >= 3.11 (tomllib); use /usr/bin/python3")
    with open(MANIFEST, "rb") as f:
        data = tomllib.load(f)
    commands = data.get("commands", {})
    cases = []
    for entry in data.get("case", []):
        unknown = set(entry) - CASE_KEYS
        if unknown:
            raise ValueError(f"cases.toml: case {entry.get('file')}: unknown keys {unknown}")
        if "args" in entry:
            args = list(entry["args"])
        else:
            args = list(commands[entry["command"]])
        args += entry.get("extra_args", [])
        code = entry["code"]
        cases.append(Case(
            id=entry.get("id") or str(Path(entry["file"]).with_suffix("")),
            file=entry["file"],
            args=args,
            codes=tuple(code) if isinstance(code, list) else (code,),
            expect=list(entry.get("expect", [])),
            mpi=bool(entry.get("mpi", False)),
            xfail=entry.get("xfail"),
            copy_as=entry.get("copy_as"),
            extra=dict(entry.get("extra", {})),
            timeout=float(entry.get("timeout", TIMEOUT_S)),
            needs_memory_limit=bool(entry.get("needs_memory_limit", False)),
        ))
    return data, cases


MANIFEST_DATA, CASES = _load_manifest()


def _params(cases: List[Case]):
    out = []
    for case in cases:
        marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
        out.append(pytest.param(case, id=case.id, marks=marks))
    return out


def _counts() -> str:
    per_folder = {f: sum(1 for c in CASES if c.folder == f) for f in FOLDERS}
    known = sum(1 for c in CASES if c.xfail)
    mpi = sum(1 for c in CASES if c.mpi)
    return (f"grpo bad-input corpus: {len(CASES)} cases ("
            + ", ".join(f"{f} {n}" for f, n in per_folder.items())
            + f"), {known} known bugs (xfail), {mpi} also under MPI")


class _CountReporter:
    """Prints the corpus size at the end of the run (also under -q)."""

    def pytest_terminal_summary(self, terminalreporter):
        terminalreporter.write_line(_counts())


@pytest.fixture(scope="session", autouse=True)
def _report_counts(request):
    plugins = request.config.pluginmanager
    if not plugins.has_plugin("grpo-corpus-counts"):
        plugins.register(_CountReporter(), "grpo-corpus-counts")


# ---------------------------------------------------------------------------------------------
# Running grpo


#: The address-space cap of each run, in bytes (0: none); set by the grpo_bin fixture.
_LIMITS = {"address_space": 0}


def _memory_limit_bytes(binary: str) -> int:
    """GRPO_CORPUS_MEMORY_LIMIT_MB (default 4096) MiB, or 0 (no cap) when so set or when the
    binary is built with a sanitizer (they reserve terabytes of address space)."""
    limit = int(os.environ.get("GRPO_CORPUS_MEMORY_LIMIT_MB", "4096")) * (1 << 20)
    try:
        data = Path(binary).read_bytes()
    except OSError:
        return limit
    if any(marker in data for marker in (b"__asan_init", b"__tsan_init", b"__msan_init")):
        return 0
    return limit


def _limits():
    """In the child before exec: no core files, and the address-space cap."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    limit = _LIMITS["address_space"]
    if limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _environment() -> dict:
    env = dict(os.environ)
    for key, value in _ENV_DEFAULTS.items():
        env.setdefault(key, value)
    return env


@dataclass
class Result:
    command: List[str]
    returncode: Optional[int]  # None: killed after the timeout
    stdout: bytes
    stderr: bytes

    def stderr_lines(self) -> List[str]:
        """Non-blank stderr lines ("\\n" separates lines), without the dash-framed notices
        mpiexec may add (grpo never prints a line of dashes)."""
        lines, in_banner = [], False
        for raw in self.stderr.split(b"\n"):
            text = raw.decode("utf-8", errors="replace")
            stripped = text.strip()
            if stripped and set(stripped) == {"-"}:
                in_banner = not in_banner
                continue
            if not in_banner and stripped:
                lines.append(text)
        return lines

    def describe(self) -> str:
        tail = lambda b: b.decode("utf-8", errors="replace")[-3000:]  # noqa: E731
        return (f"command: {self.command!r}\nexit code: {self.returncode}\n"
                f"--- stdout ---\n{tail(self.stdout)}\n--- stderr ---\n{tail(self.stderr)}")


def _run(command: List[str], cwd: Path, timeout: float) -> Result:
    # A new session: a hang is ended with every process it started (mpiexec's ranks too).
    proc = subprocess.Popen(command, cwd=str(cwd), env=_environment(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, preexec_fn=_limits)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
        return Result(command, proc.returncode, stdout, stderr)
    except subprocess.TimeoutExpired:
        kill_session(proc.pid)
        stdout, stderr = proc.communicate()
        return Result(command, None, stdout, stderr)


def _snapshot(folder: Path) -> List[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture(scope="session")
def grpo_bin() -> str:
    path = os.environ.get("GRPO_BIN")
    if not path:
        pytest.skip("GRPO_BIN is not set (the grpo executable to test)")
    if not os.access(path, os.X_OK):
        pytest.fail(f"GRPO_BIN={path} is not an executable file")
    _LIMITS["address_space"] = _memory_limit_bytes(path)
    return os.path.abspath(path)


@pytest.fixture(scope="session")
def mpi_prefix() -> List[str]:
    value = os.environ.get("GRPO_MPIEXEC", "")
    if not value:
        pytest.skip("GRPO_MPIEXEC is not set: the MPI runs of the corpus are skipped")
    path = value if os.access(value, os.X_OK) else shutil.which(value)
    if not path:
        pytest.fail(f"GRPO_MPIEXEC={value} is not found")
    version = subprocess.run([path, "--version"], capture_output=True, text=True,
                             env=_environment(), timeout=TIMEOUT_S)
    open_mpi = "Open MPI" in version.stdout + version.stderr or "OpenRTE" in version.stdout
    # --quiet silences Open MPI's notice about ranks that exit non-zero.
    return [path] + (["--quiet"] if open_mpi else []) + ["-n", "2"]


@pytest.fixture(scope="session")
def built(grpo_bin, tmp_path_factory) -> Dict[str, Path]:
    """The valid dataset and trace and every HDF5 case of make_datasets.py, built once."""
    return make_datasets.build(grpo_bin, tmp_path_factory.mktemp("corpus-built"))


def _source(name: str, built: Dict[str, Path]) -> Path:
    """A corpus path ("datasets/x.h5"): the committed file, else the built one; or a valid
    file ("{dataset}", "{trace}")."""
    if name == "{dataset}":
        return built["valid/dataset"]
    if name == "{trace}":
        return built["valid/trace"]
    committed = HERE / name
    if committed.exists():
        return committed
    if name in built:
        return built[name]
    raise FileNotFoundError(f"corpus file {name!r}: neither in tests/corpus nor built by "
                            "make_datasets.py")


def _copy(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copyfile(source, target)


def _run_case(case: Case, built: Dict[str, Path], grpo_bin: str, tmp_path: Path,
              prefix: List[str]) -> None:
    if case.needs_memory_limit and _LIMITS["address_space"] <= 0:
        pytest.skip("needs the address-space cap (GRPO_CORPUS_MEMORY_LIMIT_MB > 0, no "
                    "sanitizer): without it the case would exhaust this machine's memory")
    work = tmp_path / "work"
    work.mkdir()
    _copy(_source(case.file, built), work / case.local_name)
    for target, source in case.extra.items():
        _copy(_source(source, built), work / target)
    subs = {"{case}": case.local_name, "{out}": "out.h5",
            "{dataset}": str(built["valid/dataset"]), "{trace}": str(built["valid/trace"])}

    def fill(text: str) -> str:
        for key, value in subs.items():
            text = text.replace(key, value)
        return text

    command = prefix + [grpo_bin] + [fill(a) for a in case.args]
    before = _snapshot(work)
    result = _run(command, work, case.timeout)
    after = _snapshot(work)

    problems = []
    lines = result.stderr_lines()
    if result.returncode is None:
        problems.append(f"hang: no exit within {case.timeout:g} s")
    elif result.returncode < 0:
        problems.append(f"killed by signal {-result.returncode}")
    elif result.returncode >= 128:
        problems.append(f"exit code {result.returncode}: a signal (under mpiexec) or a crash")
    elif result.returncode not in case.codes:
        problems.append(f"exit code {result.returncode}, expected "
                        + " or ".join(map(str, case.codes)))
    if len(lines) != 1:
        problems.append(f"{len(lines)} lines on stderr, expected exactly one")
    if lines and not lines[0].startswith("error: "):
        problems.append("the first stderr line does not start with 'error: '")
    text = result.stderr.decode("utf-8", errors="replace")
    for marker in ("internal error", "Traceback", "core dumped", "Segmentation fault"):
        if marker in text:
            problems.append(f"{marker!r} on stderr")
    first = lines[0] if lines else ""
    for name in case.expect:
        wanted = fill(name)
        if wanted not in first:
            problems.append(f"{wanted!r} is not named in the error line")
    created = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    if created:
        problems.append(f"files left behind: {created}")
    if removed:
        problems.append(f"input files removed: {removed}")
    if problems:
        pytest.fail("; ".join(problems) + "\n" + result.describe(), pytrace=False)


# ---------------------------------------------------------------------------------------------
# Tests


def test_manifest_is_consistent():
    """Every case is well-formed and every corpus file has a case (no grpo needed)."""
    assert CASES, "cases.toml has no [[case]]"
    ids = [c.id for c in CASES]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"duplicate case ids: {duplicates}"
    buildable = set(make_datasets.built_names())
    used = set()
    for case in CASES:
        assert case.folder in FOLDERS, f"{case.id}: file outside {FOLDERS}"
        assert (HERE / case.file).exists() or case.file in buildable, \
            f"{case.id}: {case.file} is neither committed nor built by make_datasets.py"
        assert not ((HERE / case.file).exists() and case.file in buildable), \
            f"{case.id}: {case.file} is both committed and built"
        assert set(case.codes) <= CLASS_CODES, f"{case.id}: codes {case.codes}"
        assert any("{case}" in a for a in case.args), f"{case.id}: args never use {{case}}"
        for source in case.extra.values():
            assert source in ("{dataset}", "{trace}") or (HERE / source).exists(), \
                f"{case.id}: extra file {source} does not exist"
            used.add(source)
        used.add(case.file)
    committed = set()
    for folder in FOLDERS:
        for path in (HERE / folder).iterdir():
            committed.add(str(path.relative_to(HERE)))
    committed |= {str(p.relative_to(HERE)) for p in (HERE / "studies" / "files").iterdir()}
    committed.discard("studies/files")
    unused = sorted((committed | buildable) - used)
    assert not unused, f"corpus files without a case in cases.toml: {unused}"
    assert len(CASES) >= 45
    assert sum(1 for c in CASES if c.mpi) >= 10


@pytest.mark.parametrize("case", _params(CASES))
def test_case(case, built, grpo_bin, tmp_path):
    _run_case(case, built, grpo_bin, tmp_path, [])


@pytest.mark.parametrize("case", _params([c for c in CASES if c.mpi]))
def test_case_mpi(case, built, grpo_bin, mpi_prefix, tmp_path):
    _run_case(case, built, grpo_bin, tmp_path, mpi_prefix)
