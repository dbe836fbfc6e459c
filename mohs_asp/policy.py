"""A policy: its rules (the rule model, mohs_asp/rulebook.py), the facts of its data
(mohs_asp/policy_data.py) and the pack's metadata (`policy.toml`: id, title, source and dated versions).

A policy folder holds `policy.toml`, `logic/main.lp` (the umbrella file) and `data/*.csv`. The
default is the project's own, shipped inside the package; `--policy DIR` points at an author's copy.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from functools import cached_property, lru_cache
from decimal import Decimal
from pathlib import Path

from clingo import ast

from . import case_format, icd10
from .dates import OPEN_END, date_number, next_day, parse_date, show_date
from .errors import PolicyError, UsageError
from .files import READ, read_utf8
from .policy_data import MAX_DATA_BYTES, load_data, read_data_file
from .rule import Predicate, Rule
from .rulebook import Rulebook, main_file

METADATA = "policy.toml"  # the pack's metadata (id, versions, ...), beside logic/ and data/
CASE_FACT_PREDICATES = frozenset(case_format.facts())  # the facts a case becomes (mohs_asp/case_format.py)
LESION_FLAGS = case_format.lesion_flags()


def _files_under(folder: Path, rel: str, out: dict[str, Path]) -> None:
    """Every file below `folder` (but __pycache__), by its path relative to the policy folder."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir():
                if entry.name != "__pycache__":
                    _files_under(Path(entry.path), f"{rel}/{entry.name}", out)
            elif entry.is_file():
                out[f"{rel}/{entry.name}"] = Path(entry.path)


def _sha256():
    """A sha256 hash object: CPython's own (`_sha256`, `_sha2` from 3.12), which imports in 0.1 ms,
    where hashlib loads OpenSSL first (2.5 ms more on every `check`); hashlib's elsewhere."""
    try:
        from _sha256 import sha256
    except ImportError:  # pragma: no cover
        try:
            from _sha2 import sha256
        except ImportError:
            from hashlib import sha256
    return sha256()


def default_root() -> Path:
    """The project's own policy: inside the installed package, or the source checkout."""
    here = Path(__file__).resolve().parent
    return here if (here / "logic").is_dir() else here.parent



class Version:
    """One version of the policy, as policy.toml lists it. (Plain classes here and in icd10.py:
    a dataclass costs every `check` about half a millisecond to build at import.)"""

    __slots__ = ("name", "effective_from", "effective_to", "changes", "source", "line")

    def __init__(self, name: str, effective_from: int, effective_to: int, changes: str, source: str, line: int):
        self.name = name
        self.effective_from = effective_from  # YYYYMMDD
        self.effective_to = effective_to  # YYYYMMDD; OPEN_END when the version has no end
        self.changes = changes
        self.source = source
        self.line = line  # its [[versions]] header in policy.toml

    def __repr__(self) -> str:
        return f"Version({self.name!r}, {self.effective_from}, {self.effective_to})"



class Policy:
    """The rules, data and metadata of one policy folder. Build it with `load_policy`."""

    def __init__(self, root: Path):
        self.root = root
        self.logic = root / "logic"
        self.data_dir = root / "data"
        main_file(root)
        READ.clear()
        self.metadata, self.versions = read_metadata(root)
        self.rulebook = book = Rulebook(root)
        self.rules: list[Rule] = book.rules
        self.predicates: dict[tuple[str, int], Predicate] = book.predicates
        self.statements: list[ast.AST] = book.statements
        self.messages: list[str] = book.messages
        self.unannotated: list[Rule] = book.unannotated
        self.data = load_data(self.data_dir, policy_span(self.versions))
        self.icd10 = icd10.load_releases(self.data_dir / "icd10cm", read_data_file)
        self._read = dict(READ)  # the bytes it read, which the digest reuses
        READ.clear()

    # -- metadata --------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self.metadata["id"]

    def version_on(self, day: int) -> Version | None:
        """The version of the policy in force on a day (YYYYMMDD); None outside the policy."""
        for version in self.versions:  # a few, in date order (`lint` checks they do not overlap)
            if version.effective_from <= day <= version.effective_to:
                return version
        return None

    def outside(self, shown: str) -> str:
        """The words for a date of service (as the case writes it) that no version covers."""
        first, last = policy_span(self.versions)
        span = f"from {show_date(first)}" + (" (no end date)" if last == OPEN_END else f" to {show_date(last)}")
        gaps = any(after.effective_from > next_day(before.effective_to)
                   for before, after in zip(self.versions, self.versions[1:]))
        return f"the policy ({self.id}) is not in force on {shown}: it is in force {span}" + \
            (", with gaps between its versions (mohs-asp lint names them)" if gaps else "")

    @cached_property
    def digest(self) -> str:
        """sha256 (hex) of the pack: for each file of logic/ and data/ and the metadata file, in
        the order of their paths relative to the folder (logic/claims.lp), the path (UTF-8), a NUL,
        the size in bytes (decimal), a NUL, then the bytes. The same pack digests the same
        wherever it lies, installed or not."""
        files = {METADATA: self.root / METADATA}
        for part in ("logic", "data"):
            _files_under(self.root / part, part, files)
        digest = _sha256()
        for rel in sorted(files):
            path = files[rel]
            data = self._read.get(path)
            if data is None:
                data = path.read_bytes()
            digest.update(b"%s\0%d\0" % (rel.encode(), len(data)))
            digest.update(data)
        return digest.hexdigest()
    # -- the rules (mohs_asp/rulebook.py) ---------------------------------------------------

    @property
    def rules_by_id(self) -> dict[str, Rule]:
        return self.rulebook.rules_by_id

    def rules_for(self, name: str, arity: int) -> list[Rule]:
        return self.rulebook.rules_for(name, arity)

    @property
    def derived(self) -> frozenset[tuple[str, int]]:
        return self.rulebook.derived

    @property
    def shown_predicates(self) -> frozenset[str]:
        return self.rulebook.shown_predicates

    @cached_property
    def case_predicates(self) -> frozenset[str]:
        """Predicates whose first argument is the case key: the case facts and every derived one."""
        return frozenset(name for name, _ in self.derived) | CASE_FACT_PREDICATES

    def program(self, track: frozenset[str] | None) -> list[ast.AST]:
        """The statements to ground, with the firing records for `track` (mohs_asp/records.py)."""
        return self.rulebook.program(track)


def read_metadata(root: Path) -> tuple[dict, list[Version]]:
    """The pack's metadata file: the dict it holds, and its versions in date order."""
    path = root / METADATA
    if not path.is_file():
        raise PolicyError(f"{root} holds no {METADATA} (the policy's id, title, source and versions): not a policy folder")
    text = read_utf8(path, METADATA, MAX_DATA_BYTES,
                     f"larger than {MAX_DATA_BYTES // (1024 * 1024)} MB (the limit for a data file)")
    try:
        meta = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(f"{METADATA}: {e}") from None
    for key in ("id", "title", "source"):
        if not isinstance(meta.get(key), str) or not meta[key].strip():
            raise PolicyError(f"{METADATA}: {key} must be given, as text")
    tables = meta.get("versions")
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise PolicyError(f"{METADATA}: no [[versions]]: the policy needs at least one, with its effective_from")
    headers = [i + 1 for i, line in enumerate(text.splitlines()) if line.strip().startswith("[[versions]]")]
    versions = []
    for i, table in enumerate(tables):
        line = headers[i] if i < len(headers) else 0
        where = f"{METADATA}:{line}" if line else METADATA
        name = table.get("name")
        if not isinstance(name, str) or not name.strip():
            raise PolicyError(f"{where}: the version needs a name, as text")
        dates = []
        for key in ("effective_from", "effective_to"):
            value = table.get(key)
            if value is None:
                if key == "effective_from":
                    raise PolicyError(f"{where}: version {name} needs an effective_from")
                dates.append(OPEN_END)
            elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
                dates.append(date_number(value))
            elif isinstance(value, str):
                dates.append(parse_date(value, where, key))
            else:
                raise PolicyError(f"{where}: {key} of version {name} must be a date (2018-07-23, unquoted)")
        if dates[0] > dates[1]:
            raise PolicyError(f"{where}: version {name} ends ({show_date(dates[1])}) before it begins ({show_date(dates[0])})")
        versions.append(Version(name, dates[0], dates[1], str(table.get("changes", "")), str(table.get("source", "")), line))
    names = [v.name for v in versions]
    if len(set(names)) < len(names):
        raise PolicyError(f"{METADATA}: two versions are named {next(n for n in names if names.count(n) > 1)}")
    return meta, sorted(versions, key=lambda v: (v.effective_from, v.effective_to))


def policy_span(versions: list[Version]) -> tuple[int, int]:
    """The first and last day of the policy (OPEN_END when its last version has no end)."""
    return min(v.effective_from for v in versions), max(v.effective_to for v in versions)


@lru_cache(maxsize=8)
def _load(root: str) -> Policy:
    return Policy(Path(root))


def load_policy(root: str | Path | None = None) -> Policy:
    """The policy of a folder (default: the project's own), parsed once per process."""
    path = Path(root) if root is not None else default_root()
    try:
        found = path.is_dir()
    except OSError as e:  # a name too long, a folder we may not enter
        raise UsageError(f"cannot read policy folder {path}: {e.strerror}") from None
    if not found:  # a mistyped --policy is bad usage (2), like a missing case file
        raise UsageError(f"no such policy folder: {path}")
    return _load(str(path.resolve()))


def sample_case(policy: Policy) -> dict:
    """A case that reads as much of the policy as one case can: every histology term, every
    flag, a large ill-defined lesion, and a line of every code set on it."""
    data = policy.data
    release = policy.icd10.latest
    codes = release.codes()
    first, last = policy_span(policy.versions)  # a day of the policy, under the newest ICD-10-CM release
    day = show_date(max(first, min(release.effective_from, last)))
    diagnosis = next((c.upper() for c, _ in data.covered_diagnoses if codes.kind(icd10.normalize(c)) == "billable"),
                     "C44.311")
    sites = list(data.sites)
    lesion = {"id": "A", "diagnosis": diagnosis, "site": sites[0] if sites else "", "size_cm": Decimal("5.0"),
              "borders": "ill_defined", "histology": list(data.histology), **{flag: True for flag in LESION_FLAGS}}
    lines = [{"code": f"{lo:05d}", "lesion": "A"} for _, lo, hi in data.code_ranges]
    lines.append({"code": "99213"})
    lesions = [lesion] + ([{"id": "B", "diagnosis": diagnosis, "site": sites[-1]}] if sites else [])
    return {"id": "lint-sample", "date_of_service": day, "patient": {"immunosuppressed": True},
            "lesions": lesions, "lines": lines}
