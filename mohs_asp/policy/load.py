"""A policy: its rules (the rule model, mohs_asp/policy/rulebook.py), the facts of its data
(mohs_asp/policy/data.py) and the pack's metadata (`policy.toml`: id, title, source and dated versions).

A policy folder holds `policy.toml`, `logic/main.lp` (the umbrella file) and `data/*.csv`. The
default is the project's own, shipped inside the package; `--policy DIR` points at an author's copy.

`load_policy` keeps a parsed policy in the disk cache (mohs_asp/policy/disk_cache.py) and takes it from
there on the next run: see "The parsed policy, kept on disk" below.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from functools import cached_property, lru_cache
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from .. import __version__
from ..case import format as case_format
from . import disk_cache, icd10
from .dates import OPEN_END, date_number, next_day, parse_date, show_date
from ..errors import PolicyError, UsageError
from .files import READ, read_utf8
from .data import MAX_DATA_BYTES, load_data, read_data_file
from .rule import Predicate, Rule
from .rulebook import Rulebook, main_file, parse_logic

if TYPE_CHECKING:
    from clingo import ast

METADATA = "policy.toml"  # the pack's metadata (id, versions, ...), beside logic/ and data/
CASE_FACT_PREDICATES = frozenset(case_format.facts())  # the facts a case becomes (mohs_asp/case/format.py)
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


def default_root() -> Path:
    """The project's own policy: inside the installed package, or the source checkout."""
    here = Path(__file__).resolve().parent.parent  # mohs_asp/, the folder above this one
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
        return pack_digest(self.root, self._read)

    def __getstate__(self) -> dict:  # the disk cache's copy (below): without the bytes read
        return {**self.__dict__, "_read": {}}

    # -- the rules (mohs_asp/policy/rulebook.py) ---------------------------------------------------

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
        """The statements to ground, with the firing records for `track` (mohs_asp/policy/records.py)."""
        return self.rulebook.program(track)


def read_metadata(root: Path) -> tuple[dict, list[Version]]:
    """The pack's metadata file: the dict it holds, and its versions in date order."""
    import tomllib

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


def pack_files(root: Path) -> dict[str, Path]:
    """The files a pack's digest covers: policy.toml and every file below logic/ and data/, by
    their paths relative to the folder."""
    files = {METADATA: root / METADATA}
    for part in ("logic", "data"):
        _files_under(root / part, part, files)
    return files


def pack_digest(root: Path, read: dict[Path, bytes] | None = None) -> str:
    """The digest of a policy folder (Policy.digest), from the bytes `read` holds of a file where
    it holds them, else from the disk."""
    files = pack_files(root)
    digest = disk_cache.sha256()
    for rel in sorted(files):
        path = files[rel]
        data = read.get(path) if read else None
        if data is None:
            data = path.read_bytes()
        digest.update(b"%s\0%d\0" % (rel.encode(), len(data)))
        digest.update(data)
    return digest.hexdigest()


# -- The parsed policy, kept on disk ------------------------------------------------------------
# Parsing a policy (clingo's parser, then walking its nodes for rules, quotes, words and
# predicates, then reading the data) is most of what `check` does before it solves; a pickle of
# the parsed Policy loads in a fifth of that time. Its entry is named by a digest of the pack (its
# files, as Policy.digest), the folder's path, the versions of mohs_asp, clingo and Python, and
# the size and modification time of each module of the package (what Python's own bytecode cache
# checks), so that a changed file or version is never served a stale policy: it has another
# name. clingo's nodes and symbols do not pickle: the entry holds a node as its place in the
# parser's output (the logic files are parsed again on loading, a C++ parser's millisecond) and
# the symbols as one term's text, parsed in one call. What the policy read besides its pack
# (a file a logic file includes from outside logic/, simple-icd-10-cm's release) is checked on
# loading too. A cache that is off, missing, unreadable or spoilt builds the policy as always.

CACHE_KIND = "policy"
CACHE_FORMAT = 1


def _code_signature() -> str:
    """The path, size and modification time of each module of the package (every mohs_asp/**.py,
    the compiled engine's and the service's included)."""
    found = []
    stack = [(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "")]  # mohs_asp/, above policy/
    while stack:
        folder, rel = stack.pop()
        with os.scandir(folder) as entries:
            for e in entries:
                if e.is_dir() and e.name != "__pycache__":
                    stack.append((e.path, f"{rel}{e.name}/"))
                elif e.name.endswith(".py"):
                    found.append((rel + e.name, e.stat()))
    return ";".join(f"{name}:{info.st_size}:{info.st_mtime_ns}" for name, info in sorted(found))


def _cache_name(root: Path, digest: str) -> str:
    import clingo

    h = disk_cache.sha256()
    for part in (f"policy {CACHE_FORMAT}", digest, str(root), __version__, clingo.__version__, sys.version,
                 _code_signature()):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _sha(data: bytes) -> str:
    digest = disk_cache.sha256()
    digest.update(data)
    return digest.hexdigest()


def _file_sha(path: str) -> str:
    import stat

    if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would never end
        raise ValueError(path)
    with open(path, "rb") as f:
        return _sha(f.read())


def _frozen(policy: Policy) -> bytes:
    """A freshly built policy (nothing asked of it yet) as the cache keeps it."""
    import io
    import pickle

    import clingo
    from clingo import ast as clingo_ast

    places = {id(node): i for i, node in enumerate(policy.rulebook.nodes)}
    symbols: list = []
    numbered: dict = {}

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, clingo.Symbol):
                if obj not in numbered:
                    numbered[obj] = len(symbols)
                    symbols.append(obj)
                return numbered[obj]
            if isinstance(obj, clingo_ast.AST):
                return ("node", places[id(obj)])  # KeyError for a node that is not the parser's own: no entry
            return None

    for rule in policy.rules:  # what `check` reads of each rule's nodes, kept as plain values
        rule.body_arguments  # noqa: B018 -- a cached_property, worked out now
    out = io.BytesIO()
    Pickler(out, protocol=pickle.HIGHEST_PROTOCOL).dump(policy)
    text = f"({','.join(map(str, symbols))},)" if symbols else ""
    if text and list(clingo.parse_term(text).arguments) != symbols:  # every symbol reads back as itself
        raise ValueError("symbols that do not read back")
    covered = set(pack_files(policy.root).values())
    extra = {str(path): _sha(data) for path, data in policy._read.items() if path not in covered}
    package = [r.name for r in policy.icd10.all if r.file == f"({icd10.PACKAGE})"]
    return pickle.dumps({"format": CACHE_FORMAT, "nodes": len(places), "symbols": text, "extra": extra,
                         "package_release": package[0] if package else None, "policy": out.getvalue()},
                        protocol=pickle.HIGHEST_PROTOCOL)


def _thawed(data: bytes, root: Path) -> Policy:
    """The policy a cache entry holds (any exception: the entry cannot be used)."""
    import io

    import clingo

    try:  # CPython's own unpickler: the pickle module around it costs every `check` a millisecond to import
        from _pickle import Unpickler, loads
    except ImportError:  # pragma: no cover
        from pickle import Unpickler, loads

    entry = loads(data)  # noqa: S301 -- the user's own cache folder, written by this module
    if entry["format"] != CACHE_FORMAT:
        raise ValueError("another format")
    for path, sha in entry["extra"].items():
        if _file_sha(path) != sha:
            raise ValueError(f"{path} changed")
    if entry["package_release"] is not None and icd10.package_release() != entry["package_release"]:
        raise ValueError("another simple-icd-10-cm")
    nodes = parse_logic(main_file(root), lambda code, message: None)  # its messages are the policy's already
    if len(nodes) != entry["nodes"]:
        raise ValueError("other nodes")
    symbols = clingo.parse_term(entry["symbols"]).arguments if entry["symbols"] else []

    class Thawing(Unpickler):
        def persistent_load(self, pid):
            return nodes[pid[1]] if isinstance(pid, tuple) else symbols[pid]

    policy = Thawing(io.BytesIO(entry["policy"])).load()
    if not isinstance(policy, Policy):
        raise ValueError("not a policy")
    return policy


def _cached(root: Path) -> Policy | None:
    """The policy of `root` from the disk cache, or None."""
    if disk_cache.folder() is None:
        return None
    try:
        digest = pack_digest(root)
        data = disk_cache.read(_cache_name(root, digest), CACHE_KIND)
        if data is None:
            return None
        policy = _thawed(data, root)
    except Exception:  # noqa: BLE001 -- unreadable files, a spoilt or foreign entry: built instead
        return None
    policy.__dict__["digest"] = digest  # the digest of what was read now (cached_property)
    return policy


def _built(root: Path) -> Policy:
    """The policy of `root`, parsed, and kept in the disk cache for the next run."""
    policy = Policy(root)
    if disk_cache.folder() is not None:
        try:
            data = _frozen(policy)
            name = _cache_name(root, policy.digest)
        except Exception:  # noqa: BLE001 -- what cannot be kept is built again next time
            return policy
        disk_cache.write(name, CACHE_KIND, data)
    return policy


@lru_cache(maxsize=8)
def _load(root: str) -> Policy:
    path = Path(root)
    return _cached(path) or _built(path)


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
