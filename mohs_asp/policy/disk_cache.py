"""The disk cache: what one run works out and the next can take as it is, each entry a file
named by a SHA-256 digest of everything it was made from. Two kinds live there: the compiled
engine's templates (`<digest>.template`, mohs_asp/engine/fastpath/cache.py) and parsed policies
(`<digest>.policy`, mohs_asp/policy/load.py). A changed input has another digest, so another name:
nothing is ever served stale. A cache that cannot be read or written only costs the work it
would have saved (nothing is reported, nothing fails).

Where: $MOHS_ASP_CACHE (empty or "off": no cache), else $XDG_CACHE_HOME/mohs-asp, else
~/.cache/mohs-asp. Files are written whole (a temporary file renamed over); of each kind the
folder keeps the KEEP most recently used. The folder is trusted as Python's own `__pycache__`
is: its entries are pickles, written by this package.

Imports nothing beyond the standard library's cheapest modules: `check` reads it on every run.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_VARIABLE = "MOHS_ASP_CACHE"
KEEP = 100  # entries of each kind kept in the folder


def folder() -> Path | None:
    """The cache folder, or None when the cache is off."""
    value = os.environ.get(CACHE_VARIABLE)
    if value is not None:
        return None if value.strip().lower() in ("", "off", "0", "no") else Path(value)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mohs-asp"


def sha256():
    """A sha256 hash object: CPython's own (`_sha256`, `_sha2` from 3.12), which imports in 0.1 ms,
    where hashlib loads OpenSSL first (2.5 ms more on every `check`); hashlib's elsewhere."""
    try:
        from _sha256 import sha256 as make
    except ImportError:  # pragma: no cover
        try:
            from _sha2 import sha256 as make
        except ImportError:
            from hashlib import sha256 as make
    return make()


def read(name: str, kind: str) -> bytes | None:
    """The bytes of entry `name` of `kind` ("template", "policy"), or None: the cache is off, or
    the entry is missing or unreadable. A read entry counts as used (kept longer)."""
    where = folder()
    if where is None:
        return None
    path = where / f"{name}.{kind}"
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (OSError, ValueError):
        return None
    try:
        os.utime(path)
    except OSError:
        pass
    return data


def write(name: str, kind: str, data: bytes) -> None:
    """Keep `data` as entry `name` of `kind`; the least recently used of that kind beyond KEEP
    go. Any failure (no such folder and none can be made, no space, no permission) is silent."""
    where = folder()
    if where is None:
        return
    import tempfile

    try:
        where.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=where, prefix=f".{name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(temp, where / f"{name}.{kind}")
        except BaseException:
            os.unlink(temp)
            raise
        kept = sorted(where.glob(f"*.{kind}"), key=lambda p: p.stat().st_mtime)
        for old in kept[:-KEEP]:  # each edit of a policy makes a new entry: the oldest go
            old.unlink(missing_ok=True)
    except Exception:  # noqa: BLE001 -- a cache that cannot be written only slows the next run
        return
