"""Bounds on the work of one solver run: grounding, solving and explaining (README, "Input
limits and hostile input").

clingo cannot stop its grounder (`Control.interrupt` reaches only the solver), and grounding
is where a runaway happens: a rule that recurses without end, a join over a case far past what
the rules were written for. So each run is done in a child process, forked with everything the
parent has loaded, under a processor-time limit (RLIMIT_CPU: the kernel stops it) and a memory
limit (RLIMIT_AS: clingo's allocations fail and it stops). The parent waits for the answer
through a pipe; a run past a limit raises LimitExceeded, naming the limit. Processor time,
not wall-clock time, is measured, so a loaded machine does not turn a case into a refusal.

Where processes cannot be forked (not Linux), the work runs in the process itself, unbounded.
"""

from __future__ import annotations

import gc
import marshal
import math
import os
import select
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from ..errors import MohsError, PolicyError, UsageError

CPU_SECONDS = 5  # processor time to decide (or explain) one case; MOHS_ASP_CPU_SECONDS changes it
CPU_PER_CASE = 0.1  # and for each case of a chunk solved together (500 cases: 55 s)
MEMORY_MB = 2048  # memory for one run, beyond what the process already holds; MOHS_ASP_MEMORY_MB
WALL_FACTOR = 6  # a run that waits (it never should) is stopped at six times its processor time
FORKS = sys.platform.startswith("linux")
_ERRORS = {cls.__name__: cls for cls in (PolicyError, UsageError)}
_OVER_MEMORY = 3  # the child's exit status when it ran out of the memory it was given
_GLIBC_OUT_OF_MEMORY = 127  # glibc's, when it "cannot allocate memory for thread-local data" (a thread under RLIMIT_AS)


class LimitExceeded(Exception):
    """A run passed a limit; `limit` says which, in words ("5 s of processor time", "2,048 MB of memory")."""

    def __init__(self, limit: str):
        super().__init__(limit)
        self.limit = limit


_inside = False  # in a child already: its own work is bounded
_frozen = False


def _setting(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None:
        return default
    if not text.strip().isdigit() or int(text) < 1:
        raise UsageError(f"{name}={text!r}: give a whole number, 1 or more")
    return int(text)


def seconds(cases: int) -> int:
    """The processor time a run of `cases` cases solved together may take, in whole seconds."""
    return math.ceil(_setting("MOHS_ASP_CPU_SECONDS", CPU_SECONDS) + CPU_PER_CASE * (cases - 1))


def memory() -> int:
    """The memory a run may take beyond what the process holds, in megabytes."""
    return _setting("MOHS_ASP_MEMORY_MB", MEMORY_MB)


def bounded(work: Callable[[], Any], cases: int = 1) -> Any:
    """`work()` in a child process under the limits (its time: `seconds(cases)`); its result
    (any value `marshal` can carry: the answers are plain dicts and lists) comes back. A
    MohsError it raises is raised here; past a limit, LimitExceeded."""
    if not FORKS or _inside:
        return work()
    cpu, mb = seconds(cases), memory()
    over_time, over_memory = f"{cpu} s of processor time", f"{mb:,} MB of memory"
    global _frozen
    if not _frozen:  # what the process holds before its first run (the policy, the modules) is
        gc.freeze()  # left out of the cyclic collector, so a child copies no page only to scan it
        _frozen = True  # (Python's advice before fork); once, so nothing made later is kept from it
    read_end, write_end = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # pragma: no cover -- the child; coverage does not follow forks
        if cases > 1:  # a chunk, in a long-lived process (batch, diff, test): it dies with that process
            _die_with(parent)
        _child(work, read_end, write_end, cpu, mb)
    os.close(write_end)
    try:
        data = _read(read_end, time.monotonic() + WALL_FACTOR * cpu)
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    finally:
        os.close(read_end)
    if data is None:  # past the wall clock
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise LimitExceeded(over_time)
    _, status, usage = os.wait4(pid, 0)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and data:
        kind, value = marshal.loads(data)
        if kind == "ok":
            return value
        name, message = value
        raise _ERRORS[name](message) if name in _ERRORS else RuntimeError(f"{name}: {message}")
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) in (_OVER_MEMORY, _GLIBC_OUT_OF_MEMORY):
        raise LimitExceeded(over_memory)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGXCPU, signal.SIGKILL) \
            and usage.ru_utime + usage.ru_stime >= cpu - 1:
        raise LimitExceeded(over_time)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:  # the kernel's out-of-memory killer
        raise LimitExceeded(over_memory)
    raise RuntimeError(f"the solver process ended unexpectedly (status {status})")


def _read(fd: int, deadline: float) -> bytes | None:
    """Everything the child writes, or None past the deadline."""
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _child(work: Callable[[], Any], read_end: int, write_end: int, cpu: int, mb: int) -> None:  # pragma: no cover
    global _inside
    status = 1
    try:
        _inside = True
        os.close(read_end)
        _limit_self(cpu, mb)
        try:
            result: tuple = ("ok", work())
        except MohsError as e:
            result = ("error", (type(e).__name__, str(e)))
        data = marshal.dumps(result)
        view = memoryview(data)
        while view:
            view = view[os.write(write_end, view):]
        status = 0
    except MemoryError:
        status = _OVER_MEMORY
    except BaseException as e:  # noqa: BLE001 -- a bug: said in the parent's words, one line
        try:
            os.write(write_end, marshal.dumps(("error", (type(e).__name__, str(e)))))
            status = 0
        except BaseException:  # noqa: BLE001 -- the pipe gone: the status says it
            pass
    finally:
        os._exit(status)


def _die_with(parent: int) -> None:  # pragma: no cover -- in the child
    """Linux's parent-death signal: killed with the process that forked it (a batch worker
    killed, by the out-of-memory killer say, leaves no run of its behind). Best effort; one
    case's run is not worth importing ctypes for (it ends within its limit anyway)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the signal was asked for
        os._exit(1)


def _limit_self(cpu: int, mb: int) -> None:  # pragma: no cover -- in the child
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # stopped for its time: no core file
    _lower(resource, resource.RLIMIT_CPU, cpu, cpu + 2)  # a child's processor time counts from its fork: SIGXCPU, then SIGKILL
    try:
        with open("/proc/self/statm", "rb") as f:
            held = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return
    _lower(resource, resource.RLIMIT_AS, held + (mb << 20), None)  # past it, allocations fail: MemoryError


def _lower(resource, which: int, soft: int, hard: int | None) -> None:  # pragma: no cover -- in the child
    """Lower a limit to `soft` (and the hard one to `hard`), never raising one already lower."""
    old_soft, old_hard = resource.getrlimit(which)
    infinite = resource.RLIM_INFINITY
    new_hard = old_hard if hard is None or (old_hard != infinite and old_hard < hard) else hard
    new_soft = soft if new_hard == infinite else min(soft, new_hard)
    if old_soft != infinite and old_soft < new_soft:
        new_soft = old_soft
    resource.setrlimit(which, (new_soft, new_hard))
