"""Compiled templates kept on disk (mohs_asp/policy/disk_cache.py), so that the next run starts with them.

A template is a pure function of what clingo grounds: the policy's program (its text, `__by`
records included), the data facts, the input atoms of the template (every stand-in of every
argument), the versions of clingo and Python, and this package's fastpath code. The entry's
name is a SHA-256 digest of all of these, so a changed rule, data row, domain or version
is never served a stale template: it simply has another name. A cache that cannot be read
or written only costs the time of building (nothing is reported, nothing fails).

The same folder keeps the sort analysis of a program (fastpath.__init__._analysed), under a
digest of the program, the data and the input predicates. Clingo symbols are written as their
text (_Pickler): pickled as they are, they are pointers into the process that made them.
"""

from __future__ import annotations

import hashlib
import io
import marshal
import pickle
import sys
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import clingo

from ...policy import disk_cache

FORMAT = 1
KIND = "template"
CACHE_VARIABLE = disk_cache.CACHE_VARIABLE


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
    data = disk_cache.read(name, KIND)
    if data is None:
        return None
    try:
        stored = pickle.loads(data)  # noqa: S301 -- the user's own cache folder, written by this module
        if stored.get("format") != FORMAT:
            return None
        if "code" in stored:
            stored["code"] = marshal.loads(stored["code"])
        return stored
    except Exception:  # noqa: BLE001 -- truncated or foreign: build instead
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
    try:
        buffer = io.BytesIO()
        _Pickler(buffer).dump({**stored, "format": FORMAT,
                               **({"code": marshal.dumps(stored["code"])} if "code" in stored else {})})
        data = buffer.getvalue()
    except Exception:  # noqa: BLE001 -- a cache that cannot be written only slows the next run
        return
    disk_cache.write(name, KIND, data)
