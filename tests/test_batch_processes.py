"""`mohs-asp batch` and its worker processes, through the installed command: a worker killed
(what the out-of-memory killer does) or stopped, the batch itself killed, too many workers.
Each run is bounded in time; the asserts are on the processes having ended, never on speed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mohs_asp.batch import pool as batch
from helpers import EXE

pytestmark = [pytest.mark.skipif(EXE is None, reason="mohs-asp is not installed in this environment"),
              pytest.mark.skipif(sys.platform != "linux", reason="reads the process table in /proc")]

NOSE = {"id": "nose", "date_of_service": "2026-03-01",
        "lesions": [{"id": "A", "diagnosis": "C44.311", "site": "nose"}],
        "lines": [{"line": 1, "code": "17311", "lesion": "A"}, {"line": 2, "code": "88331", "lesion": "A"}]}
ONE_CHUNK_AND_A_BIT = ((json.dumps(NOSE) + "\n") * (batch.CHUNK_LINES + 10)).encode()
PATIENCE = 60  # seconds: generous for a loaded 2-core machine; each wait ends as soon as its condition holds


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (/proc/*/stat, field 4)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie (a zombie has ended; only its exit status waits to be collected)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def until(condition, seconds: float = PATIENCE) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class Batch:
    """`mohs-asp batch INPUT --out OUT --workers 2` in a session of its own; INPUT `-` is a
    chunk and a bit on a standard input held open (so the batch is still reading, a worker
    idle), else a file long enough to keep both workers busy for seconds. Whatever happens,
    every process of that session is killed at the end."""

    def __init__(self, out: Path, source: str = "-"):
        self.proc = subprocess.Popen([EXE, "batch", source, "--out", str(out), "--workers", "2"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
        if source == "-":
            self.proc.stdin.write(ONE_CHUNK_AND_A_BIT)  # a chunk goes to a worker; stdin stays open
            self.proc.stdin.flush()
        assert until(lambda: len(self.workers()) == 2), "the batch did not start its two workers"
        self.first_workers = self.workers()

    def workers(self) -> list[int]:
        return [pid for pid in children(self.proc.pid) if running(pid)]

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, *exc) -> None:
        try:  # the session's process group: the batch (not yet waited for, so its id is not reused) and its workers
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=PATIENCE)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except OSError:
                pass

    def ended(self) -> bytes:
        """Its standard error, once it has ended by itself (within PATIENCE seconds)."""
        try:
            _, err = self.proc.communicate(timeout=PATIENCE)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the batch did not end within {PATIENCE} s")
        return err


@pytest.fixture
def out(tmp_path):
    path = tmp_path / "out" / "answers.jsonl"
    path.parent.mkdir()
    path.write_text("old answers\n")
    return path


@pytest.fixture(scope="module")
def long_input(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("input") / "cases.jsonl"
    path.write_bytes(ONE_CHUNK_AND_A_BIT * 100)  # 51,000 cases: several seconds of work on two cores
    return path


@pytest.mark.parametrize("reading", ["a-file", "a-pipe-held-open"])
def test_a_killed_worker_stops_the_batch_with_a_clear_message_and_the_out_file_as_it_was(out, long_input, reading):
    """Killed in mid-run it hung the batch forever (the pool waited on a result half-written
    by the dead worker, and SIGTERM no longer ended it); killed idle, it was an internal error."""
    with Batch(out, str(long_input) if reading == "a-file" else "-") as run:
        os.kill(run.first_workers[0], signal.SIGKILL)
        err = run.ended()
        assert run.proc.returncode == 4, err
        assert b"killed by SIGKILL" in err and b"out-of-memory" in err and b"left as it was" in err, err
        assert b"Traceback" not in err
        assert until(lambda: not any(running(pid) for pid in run.first_workers), 10)  # the other one too
    assert out.read_text() == "old answers\n"
    assert [p.name for p in out.parent.iterdir()] == ["answers.jsonl"]


def test_sigterm_ends_a_batch_whose_worker_is_stuck(out):
    """A stopped worker never finishes its chunk: SIGTERM must not wait for it."""
    with Batch(out) as run:
        for pid in run.first_workers:
            os.kill(pid, signal.SIGSTOP)
        os.kill(run.proc.pid, signal.SIGTERM)
        err = run.ended()
        assert run.proc.returncode == 143, err
        assert b"terminated" in err and b"Traceback" not in err
        assert until(lambda: not any(running(pid) for pid in run.first_workers), 10)
    assert out.read_text() == "old answers\n"
    assert [p.name for p in out.parent.iterdir()] == ["answers.jsonl"]


def test_a_killed_batch_takes_its_workers_with_it_and_leaves_no_temporary_file(out):
    """Its workers ran on forever (re-parented, blocked on a pipe), and a hidden .part file stayed."""
    with Batch(out) as run:
        os.kill(run.proc.pid, signal.SIGKILL)
        run.proc.wait(timeout=PATIENCE)
        assert until(lambda: not any(running(pid) for pid in run.first_workers), 10), "workers outlived the batch"
    assert out.read_text() == "old answers\n"
    left = sorted(p.name for p in out.parent.iterdir())
    if unnamed_files(out.parent):  # the answers were written to a file with no name yet
        assert left == ["answers.jsonl"]
    else:  # only a hidden .part could be, under a name that says whose it is
        assert left[0] == "answers.jsonl" and all(n.startswith(".answers.jsonl.") and n.endswith(".part") for n in left[1:])


def unnamed_files(folder: Path) -> bool:
    """Whether this system and file system make files with no name (Linux's O_TMPFILE)."""
    try:
        os.close(os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o600))
        return True
    except (AttributeError, OSError):
        return False


def test_workers_are_capped_at_a_few_per_core():
    cores = len(os.sched_getaffinity(0))
    cap = batch.WORKERS_PER_CORE * cores
    for asked in (cap + 1, 1000, 99999999999999999999):  # 1000 started 1000 processes; the last was exit 4
        result = subprocess.run([EXE, "batch", "-", "--workers", str(asked)], input=b"", capture_output=True,
                                timeout=PATIENCE)
        assert result.returncode == 2, (asked, result.stderr)
        assert f"--workers {asked} is not between 1 and {cap}".encode() in result.stderr
        assert b"Traceback" not in result.stderr
    at_cap = subprocess.run([EXE, "batch", "-", "--workers", str(cap)], input=json.dumps(NOSE).encode() + b"\n",
                            capture_output=True, timeout=PATIENCE)
    assert at_cap.returncode == 0, at_cap.stderr
    assert json.loads(at_cap.stdout)["decision"] == "covered"
