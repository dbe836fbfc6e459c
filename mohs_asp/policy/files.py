"""Reading a policy's own files: regular files only, within a size limit, in UTF-8.

Every file read while a Policy loads is kept (`READ`), so that its digest hashes the same
bytes without reading them again (mohs_asp/policy/load.py).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import PolicyError

READ: dict[Path, bytes] = {}  # the bytes of each file read while a Policy loads (its digest reuses them)


def read_utf8(path: Path, name: str, limit: int, too_large: str) -> str:
    """A policy file's text: a regular file of at most `limit` bytes (else `too_large` says why), in UTF-8."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise PolicyError(f"{name}: is not a regular file (a FIFO, a device or a folder)")
        if info.st_size > limit:
            raise PolicyError(f"{name}: {too_large}")
        data = READ[path] = path.read_bytes()
    except OSError as e:
        raise PolicyError(f"{name}: cannot be read: {e.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise PolicyError(f"{name}:{line}: the file is not UTF-8 text (byte {e.start})") from None
