"""ICD-10-CM validity from the code set the `simple-icd-10-cm` package ships.

Importing `simple_icd_10_cm` parses a 10 MB XML file (about 1.5 s), too slow for a
command run once per case. Its data folder also holds the plain code list (every
chapter, block, category and code, one a line, parents before their children), and
that is all `check` needs: a code is billable when it has no children. The file is
found without importing the package and searched as text.

Releases by date: a policy folder's `data/icd10cm/*.txt` each hold one release, a header naming
it and its inclusive dates, then its codes in the same form (or `# codes: simple-icd-10-cm`
for the package's own list):

    # release: FY2027
    # effective_from: 2026-10-01
    # effective_to: 2027-03-31
    A00
    A000
    ...

A case's diagnoses are checked against the release in force on its date of service; when the
installation has none in force that day, against the nearest one, with a warning naming both.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
from functools import lru_cache
from pathlib import Path

from .dates import OPEN_END, date_number, parse_date, show_date
from ..errors import InputProblem, PolicyError

# A letter, two letters or digits (QA0 is a 2026 category), up to four more, after a dot or not.
ICD_SHAPE = re.compile(r"[A-Z][0-9A-Z]{2}(?:\.?[0-9A-Z]{1,4})?")


def normalize(code: str) -> str:
    """'c44311', 'C44.311 ', 'C44311' -> 'C44.311' (upper case, dot after the category). A dot
    anywhere else ('C4.4311', 'C44.3.11', 'C44.311.') is kept, and the text is no code."""
    text = code.strip().upper()
    bare = text[:3] + text[4:] if text[3:4] == "." else text
    return text if "." in bare or len(bare) <= 3 else f"{bare[:3]}.{bare[3:]}"


class CodeSet:
    """The ICD-10-CM code list as one byte string, one code a line; lookups are substring
    searches. (Bytes, as read: decoding and copying the 800 KB list cost every `check` 2 ms.)"""

    def __init__(self, data: bytes, release: str):
        self.release = release
        # lines end as the file ends them (simple-icd-10-cm's list: \r\n), searched as they are
        self._sep = b"\r\n" if b"\r\n" in data[:4096] else b"\n"
        self._data = data if data.endswith(self._sep) else data + self._sep
        # a search scans the list up to the code (5 us for C44.311, 0.5 ms for Z99.89) and a
        # claims file repeats a few hundred codes: each is looked up once
        self.kind = lru_cache(maxsize=1 << 16)(self._kind)

    def _start(self, bare: bytes) -> int:
        """Where the line holding exactly `bare` begins; -1 when there is none."""
        sep = self._sep
        if self._data.startswith(bare + sep):
            return 0
        found = self._data.find(sep + bare + sep)
        return found + len(sep) if found >= 0 else -1

    def _line_after(self, pos: int) -> tuple[bytes, int]:
        end = self._data.find(self._sep, pos)
        if end < 0:
            return b"", len(self._data)
        return self._data[pos:end], end + len(self._sep)

    def _kind(self, code: str) -> str | None:
        """'billable', 'category' (has children: not billable) or None (not an ICD-10-CM code)."""
        if not ICD_SHAPE.fullmatch(code):
            return None
        bare = code.replace(".", "").encode()
        start = self._start(bare)
        if start < 0:
            return None
        nxt, pos = self._line_after(start + len(bare) + len(self._sep))
        while nxt == bare:  # a block named like its only category ("B20") is listed twice
            nxt, pos = self._line_after(pos)
        return "category" if nxt.startswith(bare) else "billable"

    def billable_under(self, code: str) -> list[str]:
        """The billable codes below a category, with dots."""
        bare = code.replace(".", "").encode()
        pos = self._start(bare)
        if pos < 0:
            return []
        lines: list[bytes] = []
        while True:
            line, pos = self._line_after(pos)
            if not line.startswith(bare):
                break
            lines.append(line)
        leaves = [c for i, c in enumerate(lines) if c != bare and not (i + 1 < len(lines) and lines[i + 1].startswith(c))]
        return [normalize(c.decode()) for c in leaves]


def code_list_file() -> Path:
    """simple-icd-10-cm's code list (`code-list-April-2026.txt`), found without importing it."""
    spec = importlib.util.find_spec("simple_icd_10_cm")
    if spec is None or not spec.submodule_search_locations:
        raise PolicyError("the ICD-10-CM code set is missing: install the simple-icd-10-cm package")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    files = sorted(folder.glob("code-list-*.txt"))
    if not files:
        raise PolicyError(f"the ICD-10-CM code list is missing from {folder}")
    return files[-1]


def package_release() -> str:
    """The release simple-icd-10-cm carries ("April 2026"), from its code list's name."""
    return code_list_file().stem.removeprefix("code-list-").replace("-", " ")


@lru_cache(maxsize=1)
def code_set() -> CodeSet:
    """The code list simple-icd-10-cm carries, named by its release."""
    return CodeSet(code_list_file().read_bytes(), package_release())


# -- releases by date -----------------------------------------------------------------------

PACKAGE = "simple-icd-10-cm"
HEADER = re.compile(r"#\s*(release|effective_from|effective_to|codes)\s*:\s*(.*?)\s*$")


class Release:
    """One ICD-10-CM release a policy folder has, with the days it is in force (inclusive,
    YYYYMMDD whole numbers)."""

    __slots__ = ("name", "effective_from", "effective_to", "file", "text", "_codes")

    def __init__(self, name: str, effective_from: int, effective_to: int, file: str, text: str | None = None):
        self.name = name
        self.effective_from = effective_from
        self.effective_to = effective_to
        self.file = file  # data/icd10cm/April-2026.txt, as errors name it
        self.text = text  # the codes; None: simple-icd-10-cm's own list
        self._codes: CodeSet | None = None

    def __repr__(self) -> str:
        return f"Release({self.name!r}, {self.effective_from}, {self.effective_to})"

    def codes(self) -> CodeSet:
        if self._codes is None:
            if self.text is None:
                shipped = code_set()
                if shipped.release != self.name:
                    raise PolicyError(f"{self.file}: names release {self.name}, but {PACKAGE} carries {shipped.release}: "
                                      f"rename the release and give its dates")
                self._codes = shipped
            else:
                self._codes = CodeSet(self.text.encode(), self.name)
        return self._codes


def read_release(path: Path, name: str, text: str) -> Release:
    """A release file: the header (comment lines before the first code), then one code a line
    (dots optional, any words after the code ignored)."""
    header: dict[str, str] = {}
    codes: list[str] = []
    lines = text.splitlines()
    for line in lines:
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            m = HEADER.match(stripped)
            if m and not codes:
                header[m.group(1)] = m.group(2)
            continue
        codes.append(stripped.split()[0].replace(".", "").upper())
    for key in ("release", "effective_from", "effective_to"):
        if not header.get(key):
            raise PolicyError(f"{name}:1: the header must give `# {key}: ...` (release, effective_from, effective_to)")
    start = parse_date(header["effective_from"], name, "effective_from")
    end = parse_date(header["effective_to"], name, "effective_to")
    if start > end:
        raise PolicyError(f"{name}: effective_from {header['effective_from']} is after effective_to {header['effective_to']}")
    if header.get("codes"):
        if header["codes"] != PACKAGE:
            raise PolicyError(f"{name}: `# codes:` may only name {PACKAGE} (its own list); otherwise list the codes")
        if codes:
            raise PolicyError(f"{name}: the file names {PACKAGE}'s codes and lists codes of its own: one or the other")
        return Release(header["release"], start, end, name)
    if not codes:
        raise PolicyError(f"{name}: no codes (one a line after the header, or `# codes: {PACKAGE}`)")
    return Release(header["release"], start, end, name, "\n".join(codes))


class Releases:
    """The ICD-10-CM releases of a policy folder, and which one judges a date of service."""

    def __init__(self, releases: list[Release]):
        self.all = sorted(releases, key=lambda r: (r.effective_from, r.effective_to))
        self._on: dict[dt.date, tuple[Release, InputProblem | None]] = {}

    @property
    def latest(self) -> Release:
        return self.all[-1]

    def on(self, date: dt.date) -> tuple[Release, InputProblem | None]:
        """The release in force on a date of service, with a warning when the folder has none in
        force that day: the nearest one is used."""
        found = self._on.get(date)
        if found is None:
            day = date_number(date)
            inside = [r for r in self.all if r.effective_from <= day <= r.effective_to]
            if inside:
                found = inside[-1], None
            else:
                before = [r for r in self.all if r.effective_from <= day]
                used = before[-1] if before else self.all[0]
                year = date.year + (1 if date.month >= 10 else 0)
                found = used, InputProblem("date_of_service", (
                    f"the diagnoses were checked against ICD-10-CM {used.name} ({_days(used)}): this installation "
                    f"has no release in force on {date.isoformat()}, which needs FY{year}'s (from {year - 1}-10-01)"))
            self._on[date] = found
        return found


def _days(release: Release) -> str:
    return f"{show_date(release.effective_from)} to {show_date(release.effective_to)}"


def load_releases(folder: Path, read) -> Releases:
    """`data/icd10cm/*.txt` of a policy folder (`read(path, name)` reads a file as text); with no
    such files, simple-icd-10-cm's release, in force on every day."""
    files = sorted(folder.glob("*.txt")) if folder.is_dir() else []
    releases = [read_release(f, f"data/icd10cm/{f.name}", read(f, f"data/icd10cm/{f.name}")) for f in files]
    if not releases:
        releases = [Release(package_release(), 0, OPEN_END, f"({PACKAGE})")]
    names = [r.name for r in releases]
    if len(set(names)) < len(names):
        raise PolicyError(f"data/icd10cm: two files name release {next(n for n in names if names.count(n) > 1)}")
    return Releases(releases)
