"""Ending a test's process tree for certain.

mpiexec (Open MPI) puts every rank in a process group of its own, so killpg() on mpiexec's
group leaves the ranks running as orphans for a while, and an orphan that finishes its run
rewrites the files a test is about to inspect. Every process of the session that
`subprocess.Popen(..., start_new_session=True)` created keeps that session id, though, so
killing by session reaches them all, as a node failure would."""
import os
import signal
import time
from typing import List


def session_members(sid: int) -> List[int]:
    """Live (non-zombie) processes whose session id is `sid`."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # ended while we looked
        # After the command name in parentheses: state, ppid, pgrp, session, ...
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            members.append(int(entry))
    return members


def kill_session(sid: int, timeout: float = 30.0) -> None:
    """SIGKILL every process of session `sid` and return once none is left alive."""
    deadline = time.monotonic() + timeout
    while True:
        members = session_members(sid)
        if not members:
            return
        for pid in members:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes {members} of session {sid} survive SIGKILL")
        time.sleep(0.01)
