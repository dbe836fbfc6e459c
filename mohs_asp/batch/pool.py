"""`mohs-asp batch`: a JSON Lines file of cases in, one answer a line out, in input order.

The parent process reads lines and writes answers; worker processes (`_Workers`) answer
chunks of lines, each chunk's valid cases solved together in one clingo Control
(api.answer). At most IN_FLIGHT chunks per worker are read and not yet written,
so memory stays flat however long the input.

Workers are forked where the platform allows (Linux), so each starts with the policy the
parent has already parsed; elsewhere each loads it once. clingo never frees a symbol it
has made, so a worker that saw a million distinct lesion ids would keep them all: a worker
is replaced after CHUNKS_PER_WORKER chunks. A worker lost stops the run at once
(WorkerLost); workers die with the parent (Linux's parent-death signal).
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import pickle
import signal
import stat
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import IO, Any

from .answers_file import output
from ..engine import fastpath
from .. import api
from ..explain.reuse import enabled as reuse_enabled
from ..case.check import open_source
from ..engine.solver import DECIDING, EVERYTHING
from ..case.jsonl import MAX_LINE_BYTES, document, read_json_lines, read_lines, sniffed  # noqa: F401 -- read_json_lines: batch's reading, as diff uses it
from ..errors import UsageError, WorkerLost
from ..policy.load import Policy, load_policy

CHUNK_LINES = 500  # cases per solver run
CHUNK_BYTES = 4 << 20  # a chunk of long lines is cut early
IN_FLIGHT = 3  # chunks queued or being answered, per worker
CHUNKS_PER_WORKER = 50  # then fresh workers: 25,000 cases, at most ~100 MB of symbols with no lesion id repeated
WORKERS_PER_CORE = 4  # --workers at most: the work is all CPU, so more workers only cost memory (~60 MB each)
_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # check's JSON, on one line
COUNTED = {"covered": "covered", "not_covered": "not covered", "no_mms": "no MMS", "invalid": "invalid"}


def default_workers() -> int:
    """One worker per core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def worker_count(asked: int | None) -> int:
    """`--workers`: by default one per core; from 1 to WORKERS_PER_CORE per core, else UsageError."""
    cores = default_workers()
    if asked is None:
        return cores
    if not 1 <= asked <= WORKERS_PER_CORE * cores:
        raise UsageError(f"--workers {asked} is not between 1 and {WORKERS_PER_CORE * cores} ({WORKERS_PER_CORE} per core; "
                         f"this process may use {cores}): each worker takes a core and ~60 MB, so more only cost memory")
    return asked


CSV_COLUMNS = ("input_line", "case", "decision", "line", "code", "lesion", "outcome", "into", "reason")
FIRST_INVALID = 5  # invalid input lines the summary names


@dataclass
class Tally:
    """What a chunk's answers (or a whole run's) count: cases by decision (`invalid` for an invalid
    one), and the first FIRST_INVALID invalid input lines with their first error."""

    counts: Counter = field(default_factory=Counter)
    invalid: list[tuple[int, str]] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.counts.update(other.counts)
        self.invalid.extend(other.invalid[:FIRST_INVALID - len(self.invalid)])

    @property
    def cases(self) -> int:
        return sum(self.counts.values())


@dataclass
class Summary:
    tally: Tally
    seconds: float
    where: str = "standard output"

    @property
    def counts(self) -> Counter:
        return self.tally.counts

    def text(self) -> str:
        """The summary batch prints on standard error, every line under 80 columns: the cases and
        the time, the counts, where the answers went, and the first invalid input lines."""
        from ..render import safe

        cases = self.tally.cases
        rate = cases / self.seconds if self.seconds > 0 else 0.0
        parts = ", ".join(f"{self.counts[key]:,} {label}" for key, label in COUNTED.items())
        out = [f"mohs-asp batch: {cases:,} case{'s' if cases != 1 else ''} in {self.seconds:.1f} s ({rate:,.0f} cases/s)",
               *_cut(parts), *_cut(f"answers: {safe(self.where)}")]
        invalid = self.counts["invalid"]
        if self.tally.invalid:
            shown = len(self.tally.invalid)
            out.append("  invalid input lines" + (f" (the first {shown} of {invalid:,})" if invalid > shown else "") + ":")
            out.extend(row for number, message in self.tally.invalid for row in _cut(f"line {number}: {safe(message)}", 4, 2))
        return "\n".join(out)


def _cut(text: str, indent: int = 2, lines: int | None = None) -> list[str]:
    """`text` in lines of at most 79 columns, indented (past `lines` lines, cut: " ...")."""
    import textwrap

    return textwrap.wrap(text, 79, initial_indent=" " * indent, subsequent_indent=" " * (indent + 2),
                         max_lines=lines, placeholder=" ...", break_on_hyphens=False)


# -- in a worker -------------------------------------------------------------------------------

_policy: Policy | None = None
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _serve(conn: Connection, root: str, parent: int) -> None:
    """A worker: answer each chunk the parent sends (answer_chunk's arguments) until it sends
    None or goes; the reply is answer_chunk's result, or the exception it raised."""
    global _policy
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C (sent to the whole group) is the parent's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handlers, forked with it: SIGTERM ends a worker, silently
    if hasattr(signal, "SIGCHLD"):
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    if sys.platform == "linux":  # the kernel kills this worker when the parent ends, however it ends (SIGKILL too)
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
    if os.getppid() != parent:  # it ended before that was set
        return
    try:
        while (task := conn.recv()) is not None:
            try:
                if _policy is None:
                    _policy = load_policy(root)  # forked: already parsed in the parent
                reply: Any = answer_chunk(*task)
            except Exception as e:  # noqa: BLE001 -- a broken policy (exit 3), or a bug: the parent raises it
                reply = e
            try:
                conn.send(reply)
            except (pickle.PicklingError, TypeError, AttributeError):  # an exception that cannot travel; its words can
                conn.send(RuntimeError(f"{type(reply).__name__}: {reply}"))
    except (EOFError, OSError):  # the parent has gone
        pass


def use_policy(policy: Policy) -> None:
    """The policy answer_chunk answers with in this process (a worker forked by `run` starts
    with it; a dask worker or Spark executor is handed the one it loaded: mohs_asp.batch.cluster)."""
    global _policy
    _policy = policy


def answer_chunk(first: int, lines: list[bytes | None], explain: bool = False, csv: bool = False) -> tuple[bytes, Tally]:
    """The answers to lines numbered from `first`, one JSON object a line (UTF-8, as JSON Lines
    always is), and their tally; with `explain`, each with its explanation; with `csv`, as CSV
    rows (`csv_rows`) instead."""
    docs = [document(raw) for raw in lines]
    out: list[str] = []
    tally = Tally()
    for number, answer in enumerate(api.answer(docs, _policy, len(docs), explain), start=first):
        if answer["status"] != "ok":
            answer["input_line"] = number
            if len(tally.invalid) < FIRST_INVALID:
                tally.invalid.append((number, _first_error(answer)))
        tally.counts[answer.get("decision", answer["status"])] += 1
        out.append(csv_rows(answer, number) if csv else _compact(answer) + "\n")
    return "".join(out).encode("utf-8"), tally


def _first_error(answer: dict) -> str:
    error = answer["errors"][0]
    return f"{error['path']}: {error['message']}" if error["path"] else error["message"]


def csv_header() -> str:
    return _csv_line(CSV_COLUMNS)


def csv_rows(answer: dict, input_line: int) -> str:
    """An answer as CSV rows (RFC 4180: CRLF, fields quoted where they hold a comma, a quote or a
    line break), one per claim line: CSV_COLUMNS. An invalid case is one row, decision and outcome
    `invalid`, its first error as the reason; a case with no claim lines one row with its decision."""
    case = "" if answer.get("case") is None else str(answer["case"])
    if answer["status"] != "ok":
        return _csv_line((input_line, case, "invalid", "", "", "", "invalid", "", _first_error(answer)))
    decision = answer["decision"]
    if not answer["lines"]:
        return _csv_line((input_line, case, decision, "", "", "", "", "", "no claim lines"))
    rows = []
    for line in answer["lines"]:
        lesion = line["lesion"] if "lesion" in line else " ".join(line.get("lesions") or [])
        rows.append(_csv_line((input_line, case, decision, line["line"], line["code"], lesion, line["outcome"],
                               line.get("into", ""), "; ".join(line.get("reasons") or []))))
    return "".join(rows)


def _csv_line(fields) -> str:
    import csv
    import io as _io

    buffer = _io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(fields)
    return buffer.getvalue()


# -- in the parent -----------------------------------------------------------------------------



def chunked(lines: Iterator[bytes | None]) -> Iterator[tuple[int, list[bytes | None], int]]:
    """(number of the first line, the lines, their size in bytes), CHUNK_LINES at a time."""
    first, chunk, size = 1, [], 0
    for raw in lines:
        chunk.append(raw)
        size += len(raw) if raw is not None else MAX_LINE_BYTES
        if len(chunk) >= CHUNK_LINES or size >= CHUNK_BYTES:
            yield first, chunk, size
            first, chunk, size = first + len(chunk), [], 0
    if chunk:
        yield first, chunk, size





class _Worker:
    """One worker process and the parent's end of the pipe to it; `chunk` is the (sequence
    number, first line, last line) of the chunk it is answering, None when idle."""

    def __init__(self, context: Any, root: str):
        self.conn, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(theirs, root, os.getpid()), daemon=True)
        self.process.start()
        theirs.close()  # the worker's end is the worker's alone: when it dies, this end reads EOF
        self.chunk: tuple[int, int, int] | None = None
        self.answered = 0

    def lost(self) -> WorkerLost:
        self.process.join(1)
        code = self.process.exitcode
        if code is None or code >= 0:
            how = "ended" if code is None else f"exited with status {code}"
        else:
            try:
                how = f"was killed by {signal.Signals(-code).name}"
            except ValueError:  # a real-time signal, unnamed
                how = f"was killed by signal {-code}"
            if code == -signal.SIGKILL:
                how += " (as the out-of-memory killer does)"
        doing = f"answering lines {self.chunk[1]}-{self.chunk[2]}" if self.chunk else "waiting for work"
        return WorkerLost(f"worker process {self.process.pid} {how} while {doing}; the run stopped")


class _Workers:
    """`count` worker processes, each answering one chunk at a time over a pipe of its own, so
    that a worker lost (killed, crashed) leaves nothing half-written where another reads, and
    is noticed at once: its pipe ends, and SIGCHLD stops the parent wherever it waits (reading
    a slow standard input included). Forked where the platform allows (Linux), so each starts
    with the policy the parent has parsed. A worker is replaced after CHUNKS_PER_WORKER chunks.
    On leaving by an exception (Ctrl-C, SIGTERM, a lost worker, a broken policy, output that
    failed) every worker is killed at once, a stuck or stopped one too."""

    def __init__(self, count: int, root: Path):
        self.context = multiprocessing.get_context("fork" if sys.platform == "linux" else None)
        self.root = str(root)
        self.workers: list[_Worker] = []
        self.watching = False
        try:
            self.previous = signal.signal(signal.SIGCHLD, self._child_ended)
            self.watching = True
        except (ValueError, AttributeError):  # not the main thread (a library caller's), or no SIGCHLD
            pass
        try:
            for _ in range(count):
                self.workers.append(_Worker(self.context, self.root))
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise

    def _child_ended(self, signum, frame) -> None:
        if sys.exc_info()[1] is not None:  # already leaving by an exception (SIGTERM to the group): that one is said
            return
        for worker in self.workers:
            if worker.process.exitcode is not None:  # (polls without waiting)
                raise worker.lost()

    def __enter__(self) -> _Workers:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if self.watching:
            signal.signal(signal.SIGCHLD, self.previous)
            self.watching = False
        for worker in self.workers:
            try:
                if kind is None:
                    worker.conn.send(None)
                else:
                    worker.process.kill()
            except OSError:  # it has gone already
                pass
        for worker in self.workers:
            worker.process.join()
            worker.conn.close()

    def idle(self) -> _Worker | None:
        return next((w for w in self.workers if w.chunk is None), None)

    def give(self, worker: _Worker, sequence: int, number: int, lines: list[bytes | None], explain: bool,
             csv: bool = False) -> None:
        if worker.answered >= CHUNKS_PER_WORKER:  # clingo never frees a symbol: a fresh process
            self.workers.remove(worker)  # (first: its end is not a loss)
            worker.conn.send(None)
            worker.process.join()
            worker.conn.close()
            worker = _Worker(self.context, self.root)
            self.workers.append(worker)
        worker.chunk = (sequence, number, number + len(lines) - 1)
        try:
            worker.conn.send((number, lines, explain, csv))
        except OSError:
            raise worker.lost() from None

    def replies(self) -> Iterator[tuple[int, tuple[bytes, Tally]]]:
        """(sequence number, answer_chunk's result) for each chunk answered, once at least one is."""
        busy = {w.conn: w for w in self.workers if w.chunk is not None}
        ready = wait([*busy, *(w.process.sentinel for w in self.workers)])
        for conn, worker in busy.items():
            if conn in ready:
                try:
                    reply = conn.recv()
                except (EOFError, OSError):
                    raise worker.lost() from None
                if isinstance(reply, BaseException):
                    raise reply
                yield worker.chunk[0], reply
                worker.chunk = None
                worker.answered += 1
        for worker in self.workers:
            if worker.process.sentinel in ready:
                raise worker.lost()


class _Progress:
    """A progress bar on stderr: bytes of input answered out of its size (a regular file's; for
    standard input, bytes so far), cases answered and their rate, time spent and left. Redrawn
    from this thread only: no drawing thread, so forking fresh workers stays safe."""

    def __init__(self, total: int | None):
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, \
            TimeRemainingColumn

        self.bar = Progress(
            TextColumn("answering"), BarColumn(bar_width=20), TaskProgressColumn(), DownloadColumn(),
            TextColumn("{task.fields[cases]:,} cases, {task.fields[rate]:,.0f}/s"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=Console(stderr=True), auto_refresh=False, redirect_stdout=False, redirect_stderr=False, transient=True,
        )
        self.task = self.bar.add_task("batch", total=total, cases=0, rate=0.0)
        self.cases = 0
        self.drawn = 0.0
        self.start = time.monotonic()
        self.bar.start()

    def advance(self, size: int, cases: int) -> None:
        self.cases += cases
        spent = time.monotonic() - self.start
        self.bar.update(self.task, advance=size, cases=self.cases, rate=self.cases / spent if spent > 0 else 0.0)
        if time.monotonic() - self.drawn > 0.1:
            self.bar.refresh()
            self.drawn = time.monotonic()

    def stop(self) -> None:
        self.bar.stop()


def _size(stream: IO[bytes]) -> int | None:
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


class Terminated(KeyboardInterrupt):
    """SIGTERM (a supervisor stopping the run), ended as Ctrl-C is: workers stopped, `--out` as it was."""

    exit_code = 143  # 128 + SIGTERM, as a shell reports a process it ended


def _terminate(signum, frame) -> None:
    raise Terminated


@contextmanager
def _stopped_by_sigterm_like_ctrl_c() -> Iterator[None]:
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread (a library caller's): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(source: str, out: Path | None, policy: Policy, workers: int | None = None, progress: bool = False,
        explain: bool = False, csv: bool = False) -> Summary:
    """Answer every line of `source` (a path or `-`) into `out` (None: standard output); with
    `explain`, every answer carries its explanation (as `explain --format json` gives it); with
    `csv`, the answers are CSV rows under a header (`csv_rows`)."""
    if csv and explain:
        raise UsageError("--explain adds explanations to JSON answers; --format csv has a reason column instead")
    workers = worker_count(workers)
    policy.program(EVERYTHING if explain else DECIDING)  # parsed once here: forked workers start with it
    for release in policy.icd10.all:  # the ICD-10-CM code lists, read once here: forked workers start with them
        release.codes()
    # a chunk makes some hundred thousand short-lived containers and hardly any cycles: collecting
    # every 700 of them cost a tenth of a case's time (measured), every 50,000 is plenty
    gc.set_threshold(50_000, 20, 20)
    start = time.perf_counter()
    tally = Tally()
    with _stopped_by_sigterm_like_ctrl_c(), open_source(source, "a file of cases") as opened, \
            output(out, stream := sniffed(opened, source)) as sink:
        bar = _Progress(_size(stream)) if progress else None
        try:
            chunks = chunked(read_lines(stream))
            ahead = next(chunks, None)  # the next chunk, read while the workers work
            if ahead is not None and (not explain or reuse_enabled()):  # compiled templates built once, here: forked workers start with them
                fastpath.warm_up(policy, [document(raw) for raw in ahead[1]], lambda: api.sample_within_limits(policy))
            with _Workers(workers, policy.root) as pool:
                sizes: dict[int, int] = {}  # chunks given, by sequence number, not yet written
                answered: dict[int, tuple[bytes, Tally]] = {}  # those answered, waiting for the ones before
                given = written = 0
                if csv:
                    sink.write(csv_header().encode("utf-8"))
                while True:
                    while ahead is not None and len(sizes) < IN_FLIGHT * workers and (worker := pool.idle()) is not None:
                        number, lines, sizes[given] = ahead
                        pool.give(worker, given, number, lines, explain, csv)
                        given += 1
                        ahead = next(chunks, None)
                    while written in answered:
                        text, some = answered.pop(written)
                        sink.write(text)
                        tally.add(some)
                        if bar is not None:
                            bar.advance(sizes[written], some.cases)
                        del sizes[written]
                        written += 1
                    if not sizes:  # nothing in flight: the end, or chunks held back by IN_FLIGHT (a slow worker
                        if ahead is None:  # held the first while others answered the rest), all now written
                            break
                        continue  # then the loop above gives what is ahead
                    answered.update(pool.replies())
                if ahead is not None or stream.read(1):  # never a short answer file that looks whole
                    raise RuntimeError(f"the run stopped after {written:,} chunks with input left unanswered"
                                       f"{f'; {out} left as it was' if sink.whole else ''}")
        except WorkerLost as e:
            raise WorkerLost(f"{e}{f'; {out} left as it was' if sink.whole else ''}") from None
        finally:
            if bar is not None:
                bar.stop()
        where = f"{sink.name} ({'CSV' if csv else 'JSON Lines'})"
    return Summary(tally, time.perf_counter() - start, where)
