"""`mohs-asp batch`: a JSON Lines file of cases in, one answer a line out, in input order.

The parent process reads lines and writes answers; worker processes answer chunks of lines,
each chunk's valid cases solved together in one clingo Control (api.answer_documents). A
few chunks per worker are in flight at a time, so memory stays flat however long the input.

Workers are forked where the platform allows (Linux), so each starts with the policy the
parent has already parsed; elsewhere each loads it once. clingo never frees a symbol it
has made, so a worker that saw a million distinct lesion ids would keep them all: workers
are replaced after CHUNKS_PER_WORKER chunks.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import signal
import stat
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import IO, Any

from . import fastpath, icd10
from .api import answer_documents
from .case import MAX_FILE_BYTES, open_source, parse_text
from .engine import DECIDING, EVERYTHING
from .errors import CaseInvalid, InputError, UsageError
from .policy import Policy, load_policy

CHUNK_LINES = 500  # cases per solver run
CHUNK_BYTES = 4 << 20  # a chunk of long lines is cut early
IN_FLIGHT = 3  # chunks queued or being answered, per worker
CHUNKS_PER_WORKER = 50  # then fresh workers: 25,000 cases, at most ~100 MB of symbols with no lesion id repeated
MAX_LINE_BYTES = MAX_FILE_BYTES  # a line, like a case file, holds at most 10 MB
_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # check's JSON, on one line
COUNTED = {"covered": "covered", "not_covered": "not covered", "no_mms": "no MMS", "invalid": "invalid"}


def default_workers() -> int:
    """One worker per core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


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


def _start_worker(root: str) -> None:
    global _policy
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C and SIGTERM are the parent's to handle
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _policy = load_policy(root)


def _document(raw: bytes | None, number: int):
    """A line as answer_documents takes it: the parsed JSON, or the CaseInvalid saying why not."""
    if raw is None:
        return CaseInvalid([InputError("", f"the line is longer than {MAX_LINE_BYTES // (1024 * 1024)} MB")])
    try:
        text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as e:
        return CaseInvalid([InputError("", f"the line is not UTF-8 text (byte {e.start})")])
    if not text.strip():
        return CaseInvalid([InputError("", "the line is empty: each line must hold one case")])
    try:
        return parse_text(text, ".json")
    except CaseInvalid as e:
        e.__traceback__ = e.__context__ = None  # kept as a value: its frames would hold the chunk in a cycle
        return e


def answer_chunk(first: int, lines: list[bytes | None], explain: bool = False) -> tuple[bytes, Counter]:
    """The answers to lines numbered from `first`, one JSON object a line (UTF-8, as JSON Lines
    always is), and their tally; with `explain`, each with its explanation."""
    docs = [_document(raw, number) for number, raw in enumerate(lines, start=first)]
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


def _lines(stream: IO[bytes]) -> Iterator[bytes | None]:
    """Each line of the input; None for one longer than MAX_LINE_BYTES (skipped, never held)."""
    while raw := stream.readline(MAX_LINE_BYTES + 1):
        if len(raw) > MAX_LINE_BYTES:
            while raw and not raw.endswith(b"\n"):
                raw = stream.readline(MAX_LINE_BYTES)
            yield None
        else:
            yield raw


def _chunks(lines: Iterator[bytes | None]) -> Iterator[tuple[int, list[bytes | None], int]]:
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
    batch reads it (`_lines`, `_document`): a blank, non-UTF-8, non-JSON or too long line is a
    CaseInvalid in its place, never skipped. `mohs-asp diff` reads its .jsonl files with this."""
    with open_source(source, "a file of cases") as stream:
        for number, raw in enumerate(_lines(stream), start=1):
            yield number, _document(raw, number)


def _same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # either does not exist (yet): not the same
        return False


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def _output(path: Path | None) -> Iterator[IO[bytes]]:
    """Standard output, or `path` written whole: a temporary file beside it, renamed over it
    at the end; on any failure (or Ctrl-C) the temporary file goes and `path` is untouched."""
    if path is None:
        sys.stdout.flush()
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    try:
        if path.is_dir():
            raise UsageError(f"--out {path} is a folder")
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as e:  # no such folder, no right to write there, a name too long
        raise UsageError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~_umask()
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise


@contextmanager
def _workers(count: int, root: Path) -> Iterator[ProcessPoolExecutor]:
    context = multiprocessing.get_context("fork") if sys.platform == "linux" else None
    pool = ProcessPoolExecutor(count, mp_context=context, initializer=_start_worker, initargs=(str(root),))
    try:
        yield pool
    finally:  # on Ctrl-C or an error: drop queued chunks, wait for the few being answered
        pool.shutdown(wait=True, cancel_futures=True)


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
    workers = workers or default_workers()
    if out is not None and source != "-" and _same_file(source, out):
        raise UsageError(f"--out {out} is INPUT itself: the answers would replace the cases")
    policy.program(EVERYTHING if explain else DECIDING)  # parsed once here: forked workers start with it
    # a chunk makes some hundred thousand short-lived containers and hardly any cycles: collecting
    # every 700 of them cost a tenth of a case's time (measured), every 50,000 is plenty
    gc.set_threshold(50_000, 20, 20)
    icd10.code_set()
    start = time.perf_counter()
    counts: Counter = Counter()
    with _stopped_by_sigterm_like_ctrl_c(), open_source(source, "a file of cases") as stream, _output(out) as sink:
        bar = _Progress(_size(stream)) if progress else None
        try:
            chunks = _chunks(_lines(stream))
            while (first := next(chunks, None)) is not None:
                if not explain:  # compiled templates built once, here: forked workers start with them
                    fastpath.warm_up(policy, [_document(raw, n) for n, raw in enumerate(first[1], start=first[0])])
                with _workers(workers, policy.root) as pool:
                    window: deque = deque()
                    for number, lines, size in chain([first], islice(chunks, CHUNKS_PER_WORKER * workers - 1)):
                        window.append((pool.submit(answer_chunk, number, lines, explain), size))
                        while len(window) >= IN_FLIGHT * workers or (window and window[0][0].done()):
                            _write(window.popleft(), sink, counts, bar)
                    while window:
                        _write(window.popleft(), sink, counts, bar)
        finally:
            if bar is not None:
                bar.stop()
    return Summary(counts, time.perf_counter() - start)


def _write(item, sink: IO[bytes], counts: Counter, bar: _Progress | None) -> None:
    future, size = item
    text, tally = future.result()
    sink.write(text)
    counts.update(tally)
    if bar is not None:
        bar.advance(size, sum(tally.values()))
