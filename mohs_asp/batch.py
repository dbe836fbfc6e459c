"""`mohs-asp batch`: a JSON Lines file of cases in, one answer a line out, in input order.

The parent process reads lines and writes answers; worker processes (`_Workers`) answer
chunks of lines, each chunk's valid cases solved together in one clingo Control
(api.answer_documents). At most IN_FLIGHT chunks per worker are read and not yet written,
so memory stays flat however long the input.

Workers are forked where the platform allows (Linux), so each starts with the policy the
parent has already parsed; elsewhere each loads it once. clingo never frees a symbol it
has made, so a worker that saw a million distinct lesion ids would keep them all: a worker
is replaced after CHUNKS_PER_WORKER chunks. A worker lost stops the run at once
(WorkerLost); workers die with the parent (Linux's parent-death signal).
"""

from __future__ import annotations

import errno
import gc
import json
import multiprocessing
import os
import pickle
import signal
import stat
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import IO, Any

from . import fastpath
from .api import answer_documents, sample_within_limits
from .case import MAX_FILE_BYTES, open_source, parse_text
from .engine import DECIDING, EVERYTHING
from .errors import CaseInvalid, InputError, OutputClosed, OutputError, UsageError, WorkerLost
from .policy import Policy, load_policy

CHUNK_LINES = 500  # cases per solver run
CHUNK_BYTES = 4 << 20  # a chunk of long lines is cut early
IN_FLIGHT = 3  # chunks queued or being answered, per worker
CHUNKS_PER_WORKER = 50  # then fresh workers: 25,000 cases, at most ~100 MB of symbols with no lesion id repeated
MAX_LINE_BYTES = MAX_FILE_BYTES  # a line, like a case file, holds at most 10 MB
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


@dataclass
class Summary:
    counts: Counter
    seconds: float

    def text(self) -> str:
        cases = sum(self.counts.values())
        rate = cases / self.seconds if self.seconds > 0 else 0.0
        parts = ", ".join(f"{self.counts[key]:,} {label}" for key, label in COUNTED.items())
        return f"{cases:,} case{'s' if cases != 1 else ''} in {self.seconds:.1f} s ({rate:,.0f} cases/s): {parts}"


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
            except Exception as e:  # a broken policy (exit 3), or a bug: the parent raises it
                reply = e
            try:
                conn.send(reply)
            except (pickle.PicklingError, TypeError, AttributeError):  # an exception that cannot travel; its words can
                conn.send(RuntimeError(f"{type(reply).__name__}: {reply}"))
    except (EOFError, OSError):  # the parent has gone
        pass


def use_policy(policy: Policy) -> None:
    """The policy answer_chunk answers with in this process (a worker forked by `run` starts
    with it; a dask worker or Spark executor is handed the one it loaded: mohs_asp.cluster)."""
    global _policy
    _policy = policy


def _document(raw: bytes | None):
    """A line as answer_documents takes it: the parsed document, or the CaseInvalid saying why not.
    It is read as `check` reads a file of the same bytes (a byte-order mark skipped, on any line)."""
    if raw is None:
        return CaseInvalid([InputError("", f"the line is longer than {MAX_LINE_BYTES // (1024 * 1024)} MB")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        return CaseInvalid([InputError("", f"the line is not UTF-8 text (byte {e.start})")])
    if not text.strip():
        return CaseInvalid([InputError("", "the line is empty: each line must hold one case")])
    try:
        return parse_text(text, "the line")
    except CaseInvalid as e:
        e.__traceback__ = e.__context__ = None  # kept as a value: its frames would hold the chunk in a cycle
        return e


def answer_chunk(first: int, lines: list[bytes | None], explain: bool = False) -> tuple[bytes, Counter]:
    """The answers to lines numbered from `first`, one JSON object a line (UTF-8, as JSON Lines
    always is), and their tally; with `explain`, each with its explanation."""
    docs = [_document(raw) for raw in lines]
    out: list[str] = []
    counts: Counter = Counter()
    for number, answer in enumerate(answer_documents(docs, _policy, len(docs), explain), start=first):
        if answer["status"] != "ok":
            answer["input_line"] = number
        counts[answer.get("decision", answer["status"])] += 1
        out.append(_compact(answer))
    out.append("")
    return "\n".join(out).encode("utf-8"), counts


# -- in the parent -----------------------------------------------------------------------------


def read_lines(stream: IO[bytes]) -> Iterator[bytes | None]:
    """Each line of the input; None for one longer than MAX_LINE_BYTES (skipped, never held).
    The line ending (\\n or \\r\\n) is not part of the case: a line holds 10 MB as a file does."""
    while raw := stream.readline(MAX_LINE_BYTES + 2):
        if len(raw.removesuffix(b"\n").removesuffix(b"\r")) > MAX_LINE_BYTES:
            while raw and not raw.endswith(b"\n"):
                raw = stream.readline(MAX_LINE_BYTES)
            yield None
        else:
            yield raw


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


def read_json_lines(source: str) -> Iterator[tuple[int, Any]]:
    """(line number, document) for each line of a JSON Lines file (or `-`), read exactly as
    batch reads it (`read_lines`, `_document`): a blank, non-UTF-8, non-JSON or too long line is a
    CaseInvalid in its place, never skipped. `mohs-asp diff` reads its .jsonl files with this."""
    with open_source(source, "a file of cases") as stream:
        for number, raw in enumerate(read_lines(stream), start=1):
            yield number, _document(raw)


def _identity(stream: Any) -> os.stat_result | None:
    """The file behind an open stream (its st_dev and st_ino say which), or None when it has none."""
    try:
        return os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):  # closed, or a stand-in with no descriptor
        return None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def _writing(name: str) -> Iterator[None]:
    """A failure to write `name` said in words: OutputClosed when its reader has gone,
    OutputError for anything else (a full disk, a file grown past its limit, an I/O error)."""
    try:
        yield
    except BrokenPipeError:
        raise OutputClosed(f"{name}: its reader has gone") from None
    except OSError as e:
        raise OutputError(f"cannot write {name}: {e.strerror or e}") from None


@dataclass
class _Sink:
    """Where the answers are written; `whole` when they replace a file at the end (so after a
    failure that file is as it was)."""

    stream: IO[bytes]
    name: str
    whole: bool

    def write(self, data: bytes) -> None:
        with _writing(self.name):  # flushed at once: a failure is said here, never later by surprise
            self.stream.write(data)
            self.stream.flush()


@contextmanager
def _output(out: Path | None, source: IO[bytes] | None = None) -> Iterator[_Sink]:
    """Where the answers go, refused (UsageError) when it is `source`'s own regular file:

    - None, `/dev/stdout` or any name of the file standard output goes to: standard output;
    - a FIFO or a character device (`/dev/null`): written straight through;
    - a regular file, or a name that does not exist yet: written whole (`_replacing`), behind
      any symlinks (the file the link leads to is replaced; the link stays);
    - anything else (a folder, a socket, a block device): refused."""
    stdout = _identity(sys.stdout)
    info, replace, to_stdout = stdout, None, out is None
    if out is not None:
        try:
            info = os.stat(out)
        except FileNotFoundError:
            info = None
        except OSError as e:  # a name too long, a folder it may not enter, a symlink loop
            raise UsageError(f"cannot write {out}: {e.strerror}") from None
        if info is not None and stdout is not None and os.path.samestat(info, stdout):
            to_stdout = True
        elif info is None or stat.S_ISREG(info.st_mode):  # (a new file behind a dangling symlink: the file it names)
            replace = Path(os.path.realpath(out))
        elif not (stat.S_ISFIFO(info.st_mode) or stat.S_ISCHR(info.st_mode)):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode) else (
                "a block device" if stat.S_ISBLK(info.st_mode) else "not a file")
            raise UsageError(f"--out {out} is {kind}: answers go to a file, a FIFO or a character device")
    read = _identity(source)
    if info is not None and read is not None and stat.S_ISREG(info.st_mode) and os.path.samestat(info, read):
        raise UsageError(f"{'standard output' if out is None else f'--out {out}'} is INPUT itself: the answers would replace the cases")
    name = "standard output" if to_stdout else str(out)
    if replace is not None:
        with _replacing(replace, name) as stream:
            yield _Sink(stream, name, whole=True)
        return
    if to_stdout:
        with _writing(name):
            sys.stdout.flush()  # anything printed before, then the answers
        yield _Sink(sys.stdout.buffer, name, whole=False)
        with _writing(name):
            sys.stdout.buffer.flush()
        return
    try:
        stream = open(out, "wb")  # noqa: SIM115 -- closed below
    except OSError as e:
        raise UsageError(f"cannot write {out}: {e.strerror}") from None
    try:
        yield _Sink(stream, name, whole=False)
        with _writing(name):
            stream.close()
    finally:
        _close(stream)


@contextmanager
def _replacing(target: Path, name: str) -> Iterator[IO[bytes]]:
    """`target` written whole: into a file beside it that replaces it at the end (os.replace:
    atomic, so a reader sees the old file or the new one; another hard link to the old file
    keeps the old answers). On any failure or interruption `target` is left as it was and the
    file goes. Where Linux allows (O_TMPFILE), that file has no name until it is complete, so
    even a SIGKILL leaves nothing behind; elsewhere it is the hidden `.NAME.*.part`."""
    try:
        stream, temp = _temporary(target.parent, target.name)
    except OSError as e:  # no such folder, no right to write there
        raise UsageError(f"cannot write {name}: {e.strerror}") from None
    try:
        try:
            yield stream
            with _writing(name):
                stream.flush()
                os.fsync(stream.fileno())
                os.chmod(stream.fileno(), stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o666 & ~_umask())
                if temp is None:  # named only now, for the moment it takes to rename it
                    temp = _name(stream, target)
                stream.close()
        finally:
            _close(stream)  # after a failure, what is still buffered is dropped
        with _writing(name):
            os.replace(temp, target)
    except OutputError as e:
        _remove(temp)
        raise type(e)(f"{e}; {name} left as it was") from None
    except BaseException:
        _remove(temp)
        raise


def _close(stream: IO[bytes]) -> None:
    try:
        stream.close()
    except OSError:  # the failure that brought us here, again: already reported
        pass


def _temporary(folder: Path, name: str) -> tuple[IO[bytes], str | None]:
    """An open file in `folder` for the answers, and its name: None for a file with no name
    (Linux's O_TMPFILE, where the file system has it), else a new hidden `.NAME.*.part`."""
    if hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd"):
        try:
            return os.fdopen(os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o600), "wb"), None
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):  # not this file system, or kernel
                raise
    fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{name[:200]}.", suffix=".part")
    return os.fdopen(fd, "wb"), temp


def _name(stream: IO[bytes], target: Path) -> str:
    """A new hidden name beside `target` for the unnamed file open as `stream`."""
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        while True:
            temp = f".{target.name[:200]}.{os.urandom(4).hex()}.part"
            try:  # given dst_dir_fd, os.link calls linkat, which follows the /proc link to the open file
                os.link(f"/proc/self/fd/{stream.fileno()}", temp, dst_dir_fd=folder)
                return str(target.parent / temp)
            except FileExistsError:
                pass
    finally:
        os.close(folder)


def _remove(temp: str | None) -> None:
    if temp is not None:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass


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

    def give(self, worker: _Worker, sequence: int, number: int, lines: list[bytes | None], explain: bool) -> None:
        if worker.answered >= CHUNKS_PER_WORKER:  # clingo never frees a symbol: a fresh process
            self.workers.remove(worker)  # (first: its end is not a loss)
            worker.conn.send(None)
            worker.process.join()
            worker.conn.close()
            worker = _Worker(self.context, self.root)
            self.workers.append(worker)
        worker.chunk = (sequence, number, number + len(lines) - 1)
        try:
            worker.conn.send((number, lines, explain))
        except OSError:
            raise worker.lost() from None

    def replies(self) -> Iterator[tuple[int, tuple[bytes, Counter]]]:
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
    """A progress bar on stderr (bytes of input answered), redrawn from this thread only:
    no drawing thread, so forking fresh workers stays safe."""

    def __init__(self, total: int | None):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("answering"), BarColumn(), TaskProgressColumn(), TextColumn("{task.fields[cases]:,} cases"),
            TimeElapsedColumn(), TimeRemainingColumn(),
            console=Console(stderr=True), auto_refresh=False, redirect_stdout=False, redirect_stderr=False, transient=True,
        )
        self.task = self.bar.add_task("batch", total=total, cases=0)
        self.cases = 0
        self.drawn = 0.0
        self.bar.start()

    def advance(self, size: int, cases: int) -> None:
        self.cases += cases
        self.bar.update(self.task, advance=size, cases=self.cases)
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
        explain: bool = False) -> Summary:
    """Answer every line of `source` (a path or `-`) into `out` (None: standard output); with
    `explain`, every answer carries its explanation (as `explain --format json` gives it)."""
    workers = worker_count(workers)
    policy.program(EVERYTHING if explain else DECIDING)  # parsed once here: forked workers start with it
    for release in policy.icd10.all:  # the ICD-10-CM code lists, read once here: forked workers start with them
        release.codes()
    # a chunk makes some hundred thousand short-lived containers and hardly any cycles: collecting
    # every 700 of them cost a tenth of a case's time (measured), every 50,000 is plenty
    gc.set_threshold(50_000, 20, 20)
    start = time.perf_counter()
    counts: Counter = Counter()
    with _stopped_by_sigterm_like_ctrl_c(), open_source(source, "a file of cases") as stream, _output(out, stream) as sink:
        bar = _Progress(_size(stream)) if progress else None
        try:
            chunks = chunked(read_lines(stream))
            ahead = next(chunks, None)  # the next chunk, read while the workers work
            if ahead is not None and not explain:  # compiled templates built once, here: forked workers start with them
                fastpath.warm_up(policy, [_document(raw) for raw in ahead[1]], lambda: sample_within_limits(policy))
            with _Workers(workers, policy.root) as pool:
                sizes: dict[int, int] = {}  # chunks given, by sequence number, not yet written
                answered: dict[int, tuple[bytes, Counter]] = {}  # those answered, waiting for the ones before
                given = written = 0
                while True:
                    while ahead is not None and len(sizes) < IN_FLIGHT * workers and (worker := pool.idle()) is not None:
                        number, lines, sizes[given] = ahead
                        pool.give(worker, given, number, lines, explain)
                        given += 1
                        ahead = next(chunks, None)
                    while written in answered:
                        text, tally = answered.pop(written)
                        sink.write(text)
                        counts.update(tally)
                        if bar is not None:
                            bar.advance(sizes[written], sum(tally.values()))
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
    return Summary(counts, time.perf_counter() - start)
