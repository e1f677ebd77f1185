"""Shared fixtures of the end-to-end tests of the grpo executable.

The tests run through CTest (tests/CMakeLists.txt), which sets
  GRPO_BIN        path of the grpo executable (required: without it every test is skipped)
  GRPO_MPIEXEC    mpiexec of the MPI grpo was built with (optional: MPI tests skip without it)
  GRPO_SOURCE_DIR, GRPO_BUILD_DIR
and the OpenMPI variables that allow running as root and oversubscribing 2 cores.

Run by hand (Debian's Python has h5py, numpy and pytest):
  GRPO_BIN=build/bin/grpo GRPO_MPIEXEC=$(command -v mpiexec) \
      /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/e2e
"""

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional

import pytest
from sessions import kill_session

#: Wall-clock limit of one grpo (or mpiexec) run: a run past it is a hang.
TIMEOUT_S = 60

#: Defaults for runs outside CTest (CTest sets the same values).
_ENV_DEFAULTS = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
    "HDF5_USE_FILE_LOCKING": "FALSE",
}


@dataclass
class Result:
    """What one run of grpo left behind."""

    args: List[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> List[str]:
        """Non-empty stderr lines written by grpo, without mpiexec's framed banners.

        OpenMPI frames its own notices ("Primary job terminated normally, but 1 process
        returned a non-zero exit code ...") between lines of dashes; they are mpiexec's, not
        grpo's, and are dropped here (grpo never prints a line of dashes).
        """
        lines, in_banner = [], False
        for line in self.stderr.splitlines():
            if line.strip() and set(line.strip()) == {"-"}:
                in_banner = not in_banner
                continue
            if not in_banner and line.strip():
                lines.append(line)
        return lines

    def describe(self) -> str:
        return (f"command: {' '.join(self.args)}\nexit code: {self.returncode}\n"
                f"--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}")


def _environment() -> dict:
    env = dict(os.environ)
    for key, value in _ENV_DEFAULTS.items():
        env.setdefault(key, value)
    return env


def _is_open_mpi(mpiexec: str) -> bool:
    try:
        out = subprocess.run([mpiexec, "--version"], capture_output=True, text=True,
                             timeout=TIMEOUT_S, env=_environment())
    except (OSError, subprocess.TimeoutExpired):
        return False
    text = out.stdout + out.stderr
    return "Open MPI" in text or "OpenRTE" in text


class GrpoRunner:
    """Runs grpo (optionally under mpiexec -n RANKS) with a timeout, capturing its output."""

    def __init__(self, binary: str, mpiexec: Optional[str]):
        self.binary = binary
        self.mpiexec = mpiexec
        self._mpi_prefix: Optional[List[str]] = None

    def _prefix(self, ranks: int) -> List[str]:
        if ranks == 1:
            return []
        if not self.mpiexec:
            pytest.skip("GRPO_MPIEXEC is not set or not found: MPI runs skipped")
        if self._mpi_prefix is None:
            # --quiet silences OpenMPI's notices about non-zero exit codes; Result filters
            # them anyway, for other versions.
            quiet = ["--quiet"] if _is_open_mpi(self.mpiexec) else []
            self._mpi_prefix = [self.mpiexec] + quiet
        return self._mpi_prefix + ["-n", str(ranks)]

    def __call__(self, *args, cwd: Path, ranks: int = 1, timeout: float = TIMEOUT_S) -> Result:
        command = self._prefix(ranks) + [self.binary] + [str(a) for a in args]
        # A new session, so that a hang is ended with every process it started (the mpiexec
        # ranks, in process groups of their own, included): see tests/support/sessions.py.
        proc = subprocess.Popen(command, cwd=str(cwd), env=_environment(), text=True,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_session(proc.pid)
            stdout, stderr = proc.communicate()
            pytest.fail(f"hang: no exit within {timeout} s\ncommand: {' '.join(command)}\n"
                        f"--- stdout ---\n{stdout}--- stderr ---\n{stderr}")
        return Result(command, proc.returncode, stdout, stderr)


@pytest.fixture(scope="session")
def grpo_bin() -> str:
    path = os.environ.get("GRPO_BIN")
    if not path:
        pytest.skip("GRPO_BIN is not set (run these tests through ctest -R e2e)")
    if not os.access(path, os.X_OK):
        pytest.fail(f"GRPO_BIN={path} is not an executable file")
    return os.path.abspath(path)  # the runs happen in each test's tmp_path


@pytest.fixture(scope="session")
def mpiexec_path() -> Optional[str]:
    value = os.environ.get("GRPO_MPIEXEC", "")
    if not value:
        return None
    return value if os.access(value, os.X_OK) else shutil.which(value)


@pytest.fixture(scope="session")
def grpo(grpo_bin, mpiexec_path) -> GrpoRunner:
    """grpo(*args, cwd=DIR, ranks=1) -> Result."""
    return GrpoRunner(grpo_bin, mpiexec_path)


@pytest.fixture(scope="session")
def valid_dataset(grpo, tmp_path_factory) -> Path:
    """A valid small dataset (preset even-imbalanced: train 60/240, val 1000, test 1000, env/),
    generated once per session. Treat as read-only: copy it before changing it."""
    folder = tmp_path_factory.mktemp("valid")
    path = folder / "valid.h5"
    result = grpo("generate", "--preset", "even-imbalanced", "--out", path, cwd=folder)
    assert result.returncode == 0 and path.is_file(), result.describe()
    return path


@pytest.fixture(scope="session")
def valid_trace(grpo, valid_dataset, tmp_path_factory) -> Path:
    """A completed trace of a short gr-dpo run on valid_dataset (read-only)."""
    folder = tmp_path_factory.mktemp("trace")
    path = folder / "trace.h5"
    result = grpo("train", "--dataset", valid_dataset, "--method", "gr-dpo", "--out", path,
                  "--iterations", "5", "-q", cwd=folder)
    assert result.returncode == 0 and path.is_file(), result.describe()
    return path


@pytest.fixture
def make_h5(tmp_path) -> Callable[..., Path]:
    """make_h5(source, mutate, name) -> a copy of `source` in tmp_path, named `name`, after
    mutate(h5py.File opened "r+") changed it."""
    import h5py  # Debian's h5py; imported here so that a missing h5py fails only these tests

    def make(source: Path, mutate: Callable, name: str = "bad.h5") -> Path:
        path = tmp_path / name
        shutil.copyfile(source, path)
        with h5py.File(path, "r+") as f:
            mutate(f)
        return path

    return make


@pytest.fixture
def make_dataset(make_h5, valid_dataset) -> Callable[..., Path]:
    """make_dataset(mutate, name="bad.h5"): the valid dataset, copied and mutated."""

    def make(mutate: Callable, name: str = "bad.h5") -> Path:
        return make_h5(valid_dataset, mutate, name)

    return make

