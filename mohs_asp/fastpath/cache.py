"""Compiled templates kept on disk, so that the next run starts with them.

A template is a pure function of what clingo grounds: the policy's program (its text, `__by`
records included), the data facts, the input atoms of the template (every stand-in of every
argument), the versions of clingo and Python, and this package's fastpath code. The file's
name is a SHA-256 digest of all of these, so a changed rule, data row, domain or version
is never served a stale template: it simply has another name. A cache that cannot be read
or written only costs the time of building (nothing is reported, nothing fails).

The same folder keeps the sort analysis of a program (fastpath.__init__._analysed), under a
digest of the program, the data and the input predicates. Clingo symbols are written as their
text (_Pickler): pickled as they are, they are pointers into the process that made them.

Where: $MOHS_ASP_CACHE (empty or "off": no cache), else $XDG_CACHE_HOME/mohs-asp/templates,
else ~/.cache/mohs-asp/templates. Files are written whole (a temporary file renamed over);
the folder keeps the KEEP most recently used.
"""

from __future__ import annotations

import hashlib
import io
import marshal
import os
import pickle
import sys
import tempfile
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import clingo

FORMAT = 1
CACHE_VARIABLE = "MOHS_ASP_CACHE"
KEEP = 100  # templates kept in the folder


def folder() -> Path | None:
    value = os.environ.get(CACHE_VARIABLE)
    if value is not None:
        return None if value.strip().lower() in ("", "off", "0", "no") else Path(value)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mohs-asp" / "templates"


@lru_cache(maxsize=1)
def _code_digest() -> str:
    h = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def digest(program: list, data_facts: list, inputs: list, extra: str) -> str:
    h = hashlib.sha256()
    h.update(extra.encode())
    for part in (f"format {FORMAT}", _code_digest(), clingo.__version__, sys.version):
        h.update(part.encode())
        h.update(b"\0")
    for statement in program:
        h.update(str(statement).encode())
        h.update(b"\n")
    h.update(b"\0data\0")
    for sym in data_facts:
        h.update(str(sym).encode())
        h.update(b"\n")
    h.update(b"\0inputs\0")
    for _, sym in inputs:
        h.update(str(sym).encode())
        h.update(b"\n")
    return h.hexdigest()


def load(name: str) -> dict | None:
    where = folder()
    if where is None:
        return None
    try:
        path = where / f"{name}.template"
        with open(path, "rb") as f:
            stored = pickle.load(f)  # noqa: S301 -- the user's own cache folder, written by this module
        if stored.get("format") != FORMAT:
            return None
        if "code" in stored:
            stored["code"] = marshal.loads(stored["code"])
        try:
            os.utime(path)  # used: kept longer
        except OSError:
            pass
        return stored
    except Exception:  # noqa: BLE001 -- missing, unreadable, truncated or foreign: build instead
        return None


def portable(outputs: list) -> list:
    """A template's outputs as they can be kept: a stand-in's key that is a clingo handle (a
    function symbol's, valid in this process only) becomes the symbol, written as its text."""
    from .values import key_symbol

    return [replace(out, holes=[(path, root, key_symbol(key) if type(key) is tuple else key)
                                for path, root, key in out.holes]) for out in outputs]


def local(outputs: list) -> list:
    """The inverse of `portable`, in this process."""
    from .values import symbol_key

    for out in outputs:
        out.holes = [(path, root, symbol_key(key) if isinstance(key, clingo.Symbol) else key) for path, root, key in out.holes]
    return outputs


class _Pickler(pickle.Pickler):
    """A clingo Symbol pickles as its handle, a pointer into this process (another process
    that loads it crashes): here it is written as its text and parsed back when loaded."""

    def reducer_override(self, obj):
        if isinstance(obj, clingo.Symbol):
            return clingo.parse_term, (str(obj),)
        return NotImplemented


def save(name: str, stored: dict) -> None:
    where = folder()
    if where is None:
        return
    try:
        where.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        _Pickler(buffer).dump({**stored, "format": FORMAT,
                               **({"code": marshal.dumps(stored["code"])} if "code" in stored else {})})
        data = buffer.getvalue()
        fd, temp = tempfile.mkstemp(dir=where, prefix=f".{name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(temp, where / f"{name}.template")
        except BaseException:
            os.unlink(temp)
            raise
        kept = sorted(where.glob("*.template"), key=lambda p: p.stat().st_mtime)
        for old in kept[:-KEEP]:  # the least recently used go: each edit of a policy makes a new one
            old.unlink(missing_ok=True)
    except Exception:  # noqa: BLE001 -- a cache that cannot be written only slows the next run
        return
