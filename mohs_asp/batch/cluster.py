"""Batch beyond one machine, on engines the payer already runs: `mohs-asp batch INPUT --out
OUT --dask ADDRESS` (a dask.distributed cluster, `run`) and Spark's mapPartitions
(`spark_answers`). Both call batch's own per-chunk function (batch.answer_chunk) on batch's
own chunks (jsonl.read_lines, batch.chunked), so the answers are the bytes a local run writes.

The policy travels with the run: its files (logic/, data/ and policy.toml) go to
each worker (dask: a WorkerPlugin named by the policy's digest, so a worker that joins later
gets it too; Spark: a broadcast variable), and each worker process writes them once into a
folder of its own and parses them once (`policy_for`, keyed by the digest). The workers need
mohs-asp installed (the same version as the client), not the policy folder.

With dask, this process reads INPUT, submits each chunk as a task, keeps at most IN_FLIGHT
chunks per worker thread submitted and not yet written (so memory stays flat however long
the input), and writes the answers in input order. INPUT and OUT may be local paths or fsspec
URLs (`s3://`, `gs://`, `memory://`, `file://`; the protocol's fsspec package installed).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from typing import IO, Any

from . import pool as batch
from . import answers_file
from ..case import jsonl
from .pool import IN_FLIGHT, Summary, answer_chunk, chunked
from ..case.jsonl import MAX_LINE_BYTES, read_lines
from ..case.check import open_source
from ..engine.solver import DECIDING, EVERYTHING
from ..errors import MohsError, OutputError, UsageError, WorkerLost
from ..policy.load import METADATA, Policy, load_policy

CONNECT_SECONDS = 30  # to reach the scheduler, and for a first worker to be there

try:  # the dask extra; without it only the Spark route (which needs none of it) is usable
    from distributed import WorkerPlugin
except ImportError:  # pragma: no cover - the plugin is only made where distributed is installed
    WorkerPlugin = object


# -- the policy, on a worker ---------------------------------------------------------------------

_policies: dict[str, Policy] = {}  # by digest: the policies this process has loaded


def policy_files(policy: Policy) -> dict[str, bytes]:
    """The files that make `policy` (the ones its digest covers: logic/, data/ and policy.toml), by their
    path relative to its folder."""
    root = policy.root
    paths = [p for part in (policy.logic, policy.data_dir) for p in part.rglob("*")
             if p.is_file() and "__pycache__" not in p.parts]
    if (root / METADATA).is_file():
        paths.append(root / METADATA)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(paths)}


def policy_for(digest: str, files: dict[str, bytes]) -> Policy:
    """The policy made of `files` (whose digest is `digest`), loaded once per process: written
    into a new folder of this process's own and parsed there. A policy whose files do not give
    `digest` is refused (PolicyError), never answered with."""
    found = _policies.get(digest)
    if found is None:
        folder = Path(tempfile.mkdtemp(prefix=f"mohs-asp-policy-{digest[:12]}-"))
        try:
            for name, data in files.items():
                path = folder / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            found = load_policy(folder)
            if found.digest != digest:
                from ..errors import PolicyError

                raise PolicyError(f"the policy's files reached this worker changed (digest {found.digest[:12]}, "
                                  f"not {digest[:12]})")
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        _policies[digest] = found
    return found


class PolicyPlugin(WorkerPlugin):
    """Hands every worker of the cluster (those that join later too) the policy's files, and
    has each load them once, when it gets them."""

    def __init__(self, policy: Policy):
        self.digest = policy.digest
        self.files = policy_files(policy)
        self.name = f"mohs-asp-policy-{self.digest}"  # registered again (another run): no second load

    def setup(self, worker: Any = None) -> None:
        policy_for(self.digest, self.files)


def answer_on_worker(digest: str, first: int, lines: list[bytes | None], explain: bool,
                     csv: bool = False) -> tuple[bytes, batch.Tally]:
    """A dask task: batch's answer_chunk with the policy PolicyPlugin loaded on this worker."""
    policy = _policies.get(digest)
    if policy is None:
        raise WorkerLost(f"the policy {digest[:12]} did not reach dask worker process {os.getpid()}")
    batch.use_policy(policy)
    return answer_chunk(first, lines, explain, csv)


# -- input and output: a path or an fsspec URL -------------------------------------------------


def local_path(name: str) -> str | None:
    """The local path `name` stands for (a plain path, `-`, or a file:// URL), else None (a URL
    of another file system, for fsspec)."""
    if "://" not in name:
        return name
    protocol, _, rest = name.partition("://")
    return rest if protocol in ("file", "local") else None


@contextmanager
def _reading(source: str) -> Iterator[IO[bytes]]:
    path = local_path(source)
    if path is not None:
        with open_source(path, "a file of cases") as stream:
            yield stream
        return
    import fsspec

    try:
        opened = fsspec.open(source, "rb")
        stream = opened.open()
    except FileNotFoundError:
        raise UsageError(f"no such file: {source}") from None
    except IsADirectoryError:
        raise UsageError(f"{source} is a folder, not a file of cases") from None
    except (OSError, ValueError, ImportError) as e:  # an unknown protocol, its package missing, no access
        raise UsageError(f"cannot read {source}: {e}") from None
    with stream:
        yield stream


@contextmanager
def _writing(out: str | None, source: IO[bytes]) -> Iterator[answers_file.Sink]:
    """Where the answers go. A local path (or file:// URL, or None for standard output): as
    the local batch writes it (answers_file.output: a file written whole or not at all). An fsspec
    URL: a hidden `.NAME.*.part` object beside it, moved onto it at the end (fs.mv: a rename
    where the file system has one, else a copy and a delete; an object store's copy appears
    whole), removed on failure, so OUT is all the answers or as it was."""
    path = local_path(out) if out is not None else None
    if out is None or path is not None:
        with answers_file.output(Path(path) if path is not None else None, source) as sink:
            yield sink
        return
    import fsspec

    try:
        fs, target = fsspec.core.url_to_fs(out)
        if fs.isdir(target):
            raise UsageError(f"--out {out} is a folder: answers go to a file")
        folder, _, name = target.rstrip("/").rpartition("/")
        temp = f"{folder}/.{name[:200]}.{os.urandom(4).hex()}.part"
        stream = fs.open(temp, "wb")
    except (OSError, ValueError, ImportError) as e:
        raise UsageError(f"cannot write {out}: {e}") from None
    try:
        try:
            yield answers_file.Sink(stream, out, whole=True)
            with answers_file.writing(out):
                stream.close()
                fs.mv(temp, target)
        finally:
            answers_file.close_stream(stream)
    except BaseException as e:
        try:
            fs.rm(temp)
        except (OSError, ValueError):  # never written, or already gone
            pass
        if isinstance(e, OutputError):
            raise type(e)(f"{e}; {out} left as it was") from None
        raise


# -- the client --------------------------------------------------------------------------------


@contextmanager
def _client(address: str) -> Iterator[Any]:
    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--dask needs dask.distributed: pip install 'mohs-asp[dask]'") from None
    try:
        client = Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise UsageError(f"cannot reach the dask scheduler at {address}: {e}") from None
    with client:
        try:
            client.wait_for_workers(1, timeout=CONNECT_SECONDS)
        except TimeoutError:
            raise UsageError(f"the dask cluster at {address} has no worker (waited {CONNECT_SECONDS} s)") from None
        yield client


def _threads(client: Any) -> int:
    """The cluster's worker threads (all of them: scheduler_info lists only 5 by default since 2025)."""
    try:
        info = client.scheduler_info(n_workers=-1)
    except TypeError:  # dask.distributed before n_workers: every worker listed
        info = client.scheduler_info()
    return max(1, sum(w.get("nthreads", 1) for w in info["workers"].values()))


def _answered(future: Any, lines: tuple[int, int], address: str) -> tuple[bytes, batch.Tally]:
    """A chunk's answers; a task dask gave up on (its workers died) or a cluster gone stops the
    run (WorkerLost); an error of ours raised on the worker is raised here as it was."""
    from distributed import KilledWorker

    try:
        return future.result()
    except MohsError:
        raise
    except KilledWorker:
        raise WorkerLost(f"dask workers kept dying answering lines {lines[0]}-{lines[1]}; the run stopped") from None
    except (OSError, TimeoutError) as e:
        raise WorkerLost(f"lost the dask cluster at {address} ({type(e).__name__}: {e}); the run stopped") from None
    except Exception as e:
        if type(e).__name__.endswith("CancelledError"):  # the scheduler went, or dropped the task
            raise WorkerLost(f"the dask cluster at {address} dropped lines {lines[0]}-{lines[1]}; the run stopped") from None
        raise


def run(source: str, out: str | None, address: str, policy: Policy, progress: bool = False,
        explain: bool = False, csv: bool = False) -> Summary:
    """`batch`'s run on the dask.distributed cluster whose scheduler is at `address`: every
    line of `source` (a path, `-` or an fsspec URL) answered into `out` (None: standard
    output; a path or an fsspec URL), in input order, the bytes a local run writes."""
    policy.program(EVERYTHING if explain else DECIDING)  # a broken policy is said here, before any worker
    plugin = PolicyPlugin(policy)
    if out is not None and local_path(out) is None and out == source:
        raise UsageError(f"--out {out} is INPUT itself: the answers would replace the cases")
    start = time.perf_counter()
    if csv and explain:
        raise UsageError("--explain adds explanations to JSON answers; --format csv has a reason column instead")
    tally = batch.Tally()
    with batch._stopped_by_sigterm_like_ctrl_c(), _reading(source) as opened, \
            _writing(out, stream := jsonl.sniffed(opened, source)) as sink:
        bar = batch._Progress(batch._size(stream)) if progress else None
        try:
            with _client(address) as client:
                client.register_plugin(plugin)
                limit = IN_FLIGHT * _threads(client)
                run_id = os.urandom(6).hex()
                pending: deque = deque()  # (future, first and last line, bytes), in input order

                def write_one() -> None:
                    future, lines, size = pending.popleft()
                    text, some = _answered(future, lines, address)
                    future.release()
                    sink.write(text)
                    tally.add(some)
                    if bar is not None:
                        bar.advance(size, some.cases)

                try:
                    if csv:
                        sink.write(batch.csv_header().encode("utf-8"))
                    for sequence, (number, lines, size) in enumerate(chunked(read_lines(stream))):
                        future = client.submit(answer_on_worker, plugin.digest, number, lines, explain, csv,
                                               key=f"mohs-asp-{run_id}-{sequence}")
                        pending.append((future, (number, number + len(lines) - 1), size))
                        if len(pending) >= limit:
                            write_one()
                    while pending:
                        write_one()
                except BaseException:
                    client.cancel([future for future, _, _ in pending])
                    raise
        except WorkerLost as e:
            raise WorkerLost(f"{e}{f'; {out} left as it was' if sink.whole else ''}") from None
        finally:
            if bar is not None:
                bar.stop()
    return Summary(tally, time.perf_counter() - start, f"{out or 'standard output'} ({'CSV' if csv else 'JSON Lines'})")


# -- Spark -------------------------------------------------------------------------------------


def spark_answers(lines: Any, policy: Policy | None = None, explain: bool = False) -> Any:
    """An RDD of answers (one JSON line each, bytes, in input order) for an RDD of case lines
    as `sc.textFile(path, use_unicode=False)` reads them: the same answers, input_line
    included, as `mohs-asp batch` writes for that file. The policy's files are broadcast once
    and loaded once per executor Python process (`policy_for`); each partition is answered in
    batch's chunks by batch's answer_chunk. Write it with `.saveAsTextFile(folder)` (one part
    file per partition, in order) or collect it.

    Where Hadoop's reading differs from batch's, so may the answers: bytes that are not UTF-8
    reach Python already replaced by U+FFFD (batch answers such a line "not UTF-8 text"; here
    it may even be a valid case, an id holding U+FFFD), a lone carriage return ends a line
    too, and a last line with no newline is read as if it had one (a JSON error's position
    in it may differ). Check the input's encoding before, or use the dask route."""
    policy = policy or load_policy()
    digest = policy.digest
    shipped = lines.context.broadcast(policy_files(policy))

    def answer(pairs: Iterator[tuple[bytes, int]]) -> Iterator[bytes]:
        pairs = iter(pairs)
        head = next(pairs, None)
        if head is None:
            return
        batch.use_policy(policy_for(digest, shipped.value))
        offset = head[1]  # the partition's first line, counted from 0
        raws = (raw + b"\n" if len(raw) < MAX_LINE_BYTES else None  # the newline Hadoop took off, put back
                for raw in chain([head[0]], (raw for raw, _ in pairs)))
        for first, chunk, _ in chunked(raws):
            text, _ = answer_chunk(offset + first, chunk, explain)
            yield from text.split(b"\n")[:-1]

    return lines.zipWithIndex().mapPartitions(answer, preservesPartitioning=True)


def run_on_cluster(source: str, out: str | None, address: str, policy: Policy, workers: int | None = None,
                   progress: bool = False, explain: bool = False, csv: bool = False) -> Summary:
    """`mohs-asp batch ... --dask ADDRESS`: `run`, refusing --workers (the cluster's size is its own)."""
    if workers is not None:
        raise UsageError("--workers is for a run on this machine; with --dask the cluster's workers answer")
    return run(source, out, address, policy, progress, explain, csv)
