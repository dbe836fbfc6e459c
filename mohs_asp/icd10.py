"""ICD-10-CM validity from the code set the `simple-icd-10-cm` package ships.

Importing `simple_icd_10_cm` parses a 10 MB XML file (about 1.5 s), too slow for a
command run once per case. Its data folder also holds the plain code list (every
chapter, block, category and code, one a line, parents before their children), and
that is all `check` needs: a code is billable when it has no children. The file is
found without importing the package and searched as text.
"""

from __future__ import annotations

import importlib.util
import re
from functools import lru_cache
from pathlib import Path

from .errors import PolicyError

# A letter, two letters or digits (QA0 is a 2026 category), up to four more, after a dot or not.
ICD_SHAPE = re.compile(r"[A-Z][0-9A-Z]{2}(?:\.?[0-9A-Z]{1,4})?")


def normalize(code: str) -> str:
    """'c44311', 'C44.311 ', 'C44311' -> 'C44.311' (upper case, dot after the category). A dot
    anywhere else ('C4.4311', 'C44.3.11', 'C44.311.') is kept, and the text is no code."""
    text = code.strip().upper()
    bare = text[:3] + text[4:] if text[3:4] == "." else text
    return text if "." in bare or len(bare) <= 3 else f"{bare[:3]}.{bare[3:]}"


class CodeSet:
    """The ICD-10-CM code list as one string; lookups are substring searches."""

    def __init__(self, text: str, release: str):
        self.release = release
        self._text = "\n" + text.strip("\n") + "\n"
        # a search scans the list up to the code (5 us for C44.311, 0.5 ms for Z99.89) and a
        # claims file repeats a few hundred codes: each is looked up once
        self.kind = lru_cache(maxsize=1 << 16)(self._kind)

    def _line_after(self, pos: int) -> tuple[str, int]:
        end = self._text.find("\n", pos)
        if end < 0:
            return "", len(self._text)
        return self._text[pos:end], end + 1

    def _kind(self, code: str) -> str | None:
        """'billable', 'category' (has children: not billable) or None (not an ICD-10-CM code)."""
        if not ICD_SHAPE.fullmatch(code):
            return None
        bare = code.replace(".", "")
        start = self._text.find("\n" + bare + "\n")
        if start < 0:
            return None
        nxt, pos = self._line_after(start + len(bare) + 2)
        while nxt == bare:  # a block named like its only category ("B20") is listed twice
            nxt, pos = self._line_after(pos)
        return "category" if nxt.startswith(bare) else "billable"

    def billable_under(self, code: str) -> list[str]:
        """The billable codes below a category, with dots."""
        bare = code.replace(".", "")
        start = self._text.find("\n" + bare + "\n")
        if start < 0:
            return []
        lines: list[str] = []
        pos = start + 1
        while True:
            line, pos = self._line_after(pos)
            if not line.startswith(bare):
                break
            lines.append(line)
        leaves = [c for i, c in enumerate(lines) if c != bare and not (i + 1 < len(lines) and lines[i + 1].startswith(c))]
        return [normalize(c) for c in leaves]


def code_list_file() -> Path:
    spec = importlib.util.find_spec("simple_icd_10_cm")
    if spec is None or not spec.submodule_search_locations:
        raise PolicyError("the ICD-10-CM code set is missing: install the simple-icd-10-cm package")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    files = sorted(folder.glob("code-list-*.txt"))
    if not files:
        raise PolicyError(f"the ICD-10-CM code list is missing from {folder}")
    return files[-1]


@lru_cache(maxsize=1)
def code_set() -> CodeSet:
    path = code_list_file()
    release = path.stem.removeprefix("code-list-").replace("-", " ")
    return CodeSet(path.read_text(encoding="utf-8"), release)
