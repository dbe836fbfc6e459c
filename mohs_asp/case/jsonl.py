"""JSON Lines in: each line of an input as batch and diff read it, and the check that an input
is JSON Lines at all (a pretty-printed or YAML case file is not)."""

from __future__ import annotations

import io
import json
import os
import stat
from collections.abc import Iterator
from typing import IO, Any

from .check import MAX_FILE_BYTES, open_source, parse_text
from ..errors import CaseInvalid, InputProblem, UsageError

MAX_LINE_BYTES = MAX_FILE_BYTES  # a line, like a case file, holds at most 10 MB


def document(raw: bytes | None):
    """A line as api.answer takes it: the parsed document, or the CaseInvalid saying why not.
    It is read as `check` reads a file of the same bytes (a byte-order mark skipped, on any line)."""
    if raw is None:
        return CaseInvalid([InputProblem("", f"the line is longer than {MAX_LINE_BYTES // (1024 * 1024)} MB")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        return CaseInvalid([InputProblem("", f"the line is not UTF-8 text (byte {e.start})")])
    if not text.strip():
        return CaseInvalid([InputProblem("", "the line is empty: each line must hold one case")])
    try:
        return parse_text(text, "the line")
    except CaseInvalid as e:
        e.__traceback__ = e.__context__ = None  # kept as a value: its frames would hold the chunk in a cycle
        return e


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


def read_json_lines(source: str) -> Iterator[tuple[int, Any]]:
    """(line number, document) for each line of a JSON Lines file (or `-`), read exactly as
    batch reads it (`read_lines`, `document`): a blank, non-UTF-8, non-JSON or too long line is a
    CaseInvalid in its place, never skipped. `mohs-asp diff` reads its .jsonl files with this."""
    with open_source(source, "a file of cases") as stream:
        for number, raw in enumerate(read_lines(stream), start=1):
            yield number, document(raw)


def sniffed(stream: IO[bytes], source: str) -> IO[bytes]:
    """`stream`, ready to read from where it was, once it is known to be JSON Lines. It is not when its
    first non-blank line is not a complete JSON value and the whole input (at most MAX_FILE_BYTES)
    reads as one JSON or YAML document holding a case (an object) or a list of them: a case file
    given to batch, said before anything is written (UsageError, exit 2). Anything else is JSON
    Lines, each bad line answered invalid as ever. Standard input is read ahead and replayed."""
    try:
        start = stream.tell() if stream.seekable() and stat.S_ISREG(os.fstat(stream.fileno()).st_mode) else None
    except (OSError, ValueError, AttributeError):
        start = None
    head = bytearray()
    while len(head) <= MAX_FILE_BYTES and (raw := stream.readline(MAX_LINE_BYTES + 2)):
        head += raw
        if raw.strip():
            break
    else:
        raw = b""  # nothing but blank lines (so far): JSON Lines
    said = None
    if raw and len(head) <= MAX_FILE_BYTES and not _complete_json(raw):
        head += stream.read(MAX_FILE_BYTES + 1 - len(head))
        if len(head) <= MAX_FILE_BYTES:
            said = _case_file(bytes(head))
    if said is not None:
        name = "standard input" if source == "-" else source
        jq = "jq -c '.[]'" + ("" if source == "-" else f" {source}")
        advice = f"write one case a line (`{jq} > cases.jsonl`)" if said.startswith("a ") else f"run `mohs-asp check {source}`"
        raise UsageError(f"{name} is not JSON Lines (one case a line): it holds {said}; {advice}")
    if start is not None:
        stream.seek(start)
        return stream
    return _Replayed(bytes(head), stream)


def _complete_json(raw: bytes) -> bool:
    try:
        json.loads(raw.decode("utf-8-sig"))
        return True
    except (ValueError, RecursionError):
        return False


def _case_file(data: bytes) -> str | None:
    """What a whole input that is not JSON Lines holds, in words, or None when it does not read as
    one document of a case or a list of cases."""
    try:
        text = data.decode("utf-8-sig")
        doc = parse_text(text)
    except (CaseInvalid, UnicodeDecodeError):
        return None
    form = "JSON" if text.lstrip()[:1] in ("{", "[") else "YAML"
    lines = len(text.splitlines())
    if isinstance(doc, dict):
        return f"one {form} case written across {lines:,} lines"
    if isinstance(doc, list) and doc and all(isinstance(d, dict) for d in doc):
        return f"a {form} list of {len(doc):,} case{'s' if len(doc) != 1 else ''}"
    return None


class _Replayed:
    """A stream that cannot seek (standard input), with the bytes already read from it put back."""

    def __init__(self, head: bytes, rest: IO[bytes]):
        self.head = io.BytesIO(head)
        self.rest = rest

    def readline(self, limit: int = -1) -> bytes:
        line = self.head.readline(limit)
        if line.endswith(b"\n") or 0 <= limit <= len(line):
            return line
        return line + self.rest.readline(limit - len(line) if limit >= 0 else -1)

    def read(self, size: int = -1) -> bytes:
        data = self.head.read(size)
        if size < 0 or len(data) < size:
            data += self.rest.read(size - len(data) if size >= 0 else -1)
        return data

    def fileno(self) -> int:
        return self.rest.fileno()
