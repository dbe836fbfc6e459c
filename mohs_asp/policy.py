"""A policy: the rules of `logic/` (parsed, with their annotations), the facts of `data/` and
the pack's metadata (`policy.toml`: id, title, source and dated versions).

A policy folder holds `policy.toml`, `logic/main.lp` (the umbrella file) and `data/*.csv`. The
default is the project's own, shipped inside the package; `--policy DIR` points at an author's copy.

Any data row may carry inclusive `effective_from` / `effective_to` columns (ISO dates; blank is
the policy's own first or last day, open when the policy has no end); each fact of a row ends
with its days as one term of two whole numbers, (20150921,99991231), and the rules select the
rows in force on a case's date of service (logic/dates.lp): no date of service is compared here.

Annotations are comments read through clingo's AST (clingo 5.7+ hands comments over):

    % rule: large_lesion
    % policy: "Exceptionally large-sized lesions (2.0 cm or greater) in any anatomic region."
    % because: "size {S:um} is at least {T:um}"
    indication(C,L,large_lesion) :- size_um(C,L,S), large_lesion_min_um(T), S >= T.

and predicate descriptions (`%! name(Args)` then `%!   holds: "..."`, `%!   absent: "..."`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import stat
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cached_property, lru_cache
from pathlib import Path

import clingo
from clingo import ast

from . import icd10
from .dates import OPEN_END, date_number, next_day, parse_date, show_date
from .errors import PolicyError, UsageError

MAIN = "main.lp"
METADATA = "policy.toml"  # the pack's metadata (id, versions, ...), beside logic/ and data/
# Loading limits (README, "Input limits and hostile input"): a policy past them is broken (exit 3).
MAX_LOGIC_BYTES = 1024 * 1024  # all logic files together: parsing 1 MB of rules takes about 1.5 s
MAX_DATA_ROWS = 100_000  # a data file (all of ICD-10-CM is about 74,000 codes): loads in about 1 s
MAX_DATA_BYTES = 10 * 1024 * 1024
CASE_FACT_PREDICATES = frozenset(
    {"case", "date_of_service", "lesion", "diagnosis", "site", "size_um", "borders", "histology", "recurrent",
     "incompletely_excised", "previously_irradiated", "rapid_growth", "high_risk_metastasis",
     "deep_structures", "immunosuppressed", "line", "line_lesion", "units", "pre_surgical", "code_num"}
)
LESION_FLAGS = ("recurrent", "incompletely_excised", "previously_irradiated", "rapid_growth",
                "high_risk_metastasis", "deep_structures")
ANNOTATION = re.compile(r"%\s*(rule|policy|reading|because):\s*(.*?)\s*$")
PRED_DOC = re.compile(r"%!\s*([a-z_][A-Za-z0-9_]*)\s*(?:\(([^)]*)\))?\s*$")
PRED_TEXT = re.compile(r"%!\s+(holds|absent):\s*\"(.*)\"\s*$")
CONSTANT = re.compile(r"[a-z][A-Za-z0-9_]*")
CODE_SHAPE = re.compile(r"[0-9]{4}[0-9FTU]|[A-Z][0-9]{4}")
# a clingo message line: FILE:LINE:COL[-END]: KIND: TEXT
_LOCATED = re.compile(r"(\S*?\.lp|<\w+>):(\d+):(\d+)(?:-[\d:]+)?:\s*(\w+):\s*(.*)")
_TOKENS = {"<IDENTIFIER>": "name", "<VARIABLE>": "variable", "<NUMBER>": "number", "<STRING>": "string",
           "<EOF>": "end of file"}


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


def _unquote(text: str) -> str:
    """An annotation's quoted text: a JSON string (`"a \\"quoted\\" word"`), else what is
    between its outer quotes."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            value = json.loads(text)
        except ValueError:
            return text[1:-1]
        return value if isinstance(value, str) else text[1:-1]
    return text


@dataclass(frozen=True)
class Rule:
    """One rule of logic/, with the annotation above it."""

    id: str
    policy: str | None  # the payer's sentence (policy-source.txt) it encodes
    because: str | None
    file: str  # relative to the policy folder: logic/claims.lp
    line: int
    head: tuple[str, int] | None  # predicate name and arity of the head atom
    node: ast.AST = field(repr=False, compare=False)
    variables: tuple[str, ...] = ()  # the rule's global variables, in first-seen order
    annotated: bool = True
    reading: str | None = None  # the contract's reading (policy.md, README.md) it follows

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}"

    def listing(self) -> dict:
        """The rule as `mohs-asp rules --format json` and serve's /rules list it."""
        return {"id": self.id, "source": self.source, "policy": self.policy,
                **({"reading": self.reading} if self.reading else {})}


@dataclass(frozen=True)
class Predicate:
    """A predicate's description for explanations (`%!` lines)."""

    name: str
    args: tuple[str, ...]
    holds: str | None = None
    absent: str | None = None
    source: str = ""

    @property
    def key(self) -> tuple[str, int]:
        return self.name, len(self.args)


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


class DatedRow:
    """When a data row is in force (for `mohs-asp lint`, which checks the rows cover the policy)."""

    __slots__ = ("file", "line", "key", "effective_from", "effective_to", "dated")

    def __init__(self, file: str, line: int, key: str, effective_from: int, effective_to: int, dated: bool):
        self.file = file  # data/thresholds.csv
        self.line = line
        self.key = key  # what the row gives one value of: a threshold's name, a site, a term, a code
        self.effective_from = effective_from  # YYYYMMDD, the policy's first day when the row leaves it blank
        self.effective_to = effective_to  # YYYYMMDD, the policy's last day (or OPEN_END) when blank
        self.dated = dated  # the row gives effective_from or effective_to itself
@dataclass(frozen=True)
class Threshold:
    """A row of data/thresholds.csv: the value as written, its unit, and in micrometres."""

    value: str  # "2.0"
    unit: str  # "cm" or "mm"
    um: int
    line: int  # in data/thresholds.csv
    when: clingo.Symbol  # the days it is in force, (From,To)


@dataclass
class PolicyData:
    """The data files, checked and turned into facts."""

    facts: list[clingo.Symbol]
    sites: tuple[str, ...]  # the site vocabulary, as data/sites.csv lists it (on any date)
    histology: dict[str, str]  # term -> characteristic ("" for none), on any date
    code_ranges: list[tuple[str, int, int]]  # (set, first, last) numeric, on any date
    set_labels: dict[str, str]
    covered_diagnoses: list[tuple[str, int]]  # (code as listed, line in the file)
    rows: list[DatedRow] = field(default_factory=list)
    borders: tuple[str, ...] = ()  # the borders vocabulary, as data/borders.csv lists it
    # by the fact's name (large_lesion_min_um): its rows, one per period it is in force
    thresholds: dict[str, list[Threshold]] = field(default_factory=dict)

    @cached_property
    def written(self) -> dict[tuple[str, tuple[clingo.Symbol, ...]], dict[int, tuple[str, str]]]:
        """For explanations: each data fact whose value the data writes in other words (a
        threshold in micrometres as "2.0" "cm"), by its predicate and arguments."""
        return {(name, (clingo.Number(t.um), t.when)): {0: (t.value, t.unit)}
                for name, rows in self.thresholds.items() for t in rows}

    def code_sets_of(self, code: str) -> list[str]:
        """Which code sets a code is in (for input validation: which lines must name a lesion)."""
        if code not in self._sets_of:
            self._sets_of[code] = [s for s, lo, hi in self.code_ranges if code.isdigit() and lo <= int(code) <= hi]
        return self._sets_of[code]

    @cached_property
    def _sets_of(self) -> dict[str, list[str]]:
        return {}


class Policy:
    """Parsed rules and loaded data of one policy folder. Build it with `load_policy`."""

    def __init__(self, root: Path):
        self.root = root
        self.logic = root / "logic"
        self.data_dir = root / "data"
        main = self.logic / MAIN
        if not main.is_file():
            raise PolicyError(f"{root} holds no logic/{MAIN}: not a policy folder")
        self._names: dict[str, str] = {}
        self.messages: list[str] = []
        self.statements: list[ast.AST] = []
        self.rules: list[Rule] = []
        self.predicates: dict[tuple[str, int], Predicate] = {}
        self.unannotated: list[Rule] = []
        _READ.clear()
        self.metadata, self.versions = read_metadata(root)
        self._parse(main)
        self.data = load_data(self.data_dir, policy_span(self.versions))
        self.icd10 = icd10.load_releases(self.data_dir / "icd10cm", _read_data_file)
        self._read = dict(_READ)  # the bytes it read, which the digest reuses
        _READ.clear()

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

    # -- logic ---------------------------------------------------------------------------

    def _rel(self, filename: str) -> str:
        """A logic file's name relative to the policy folder (logic/claims.lp). clingo names an
        included file relative to logic/, the folder it parses in (see _parse)."""
        if filename not in self._names:
            try:
                self._names[filename] = (self.logic / filename).resolve().relative_to(self.root.resolve()).as_posix()
            except (ValueError, OSError):
                self._names[filename] = filename
        return self._names[filename]

    def _parse(self, main: Path) -> None:
        nodes: list[ast.AST] = []
        errors: list[str] = []

        def logger(code: clingo.MessageCode, message: str) -> None:
            errors.append(self._clean_message(message))

        files = self._logic_files(main)
        try:
            with _working_folder(self.logic):  # clingo looks for an #include in the working folder first
                ast.parse_files([str(main)], nodes.append, logger=logger, message_limit=50)
        except RuntimeError:
            raise PolicyError("the logic files do not parse:\n" + "\n".join(errors or ["(no message)"])) from None
        if errors:
            self.messages.extend(errors)
        begins = [node.location.begin for node in nodes]  # looked up once: a location costs
        read = {os.path.realpath(self.logic / name) for name in {begin.filename for begin in begins}}
        if not read <= files:  # the scan below missed an #include that clingo followed: never trusted
            raise PolicyError(f"the logic files read {', '.join(sorted(read - files))}, which no #include the "
                              f"policy folder's files hold names")
        comments: dict[tuple[str, int], str] = {}
        for node, begin in zip(nodes, begins):
            if node.ast_type == ast.ASTType.Comment:
                for offset, text in enumerate(str(node.value).splitlines()):
                    comments[(self._rel(begin.filename), begin.line + offset)] = text.strip()
        self._read_predicate_docs(comments)
        for node, begin in zip(nodes, begins):
            if node.ast_type == ast.ASTType.Comment:
                continue
            self.statements.append(node)
            if node.ast_type == ast.ASTType.Rule:
                self._add_rule(node, begin, comments)

    def _logic_files(self, main: Path) -> set[str]:
        """Every file logic/main.lp includes, followed before clingo reads any (the real path of
        each). Each must be a regular file inside the policy folder and UTF-8 text (clingo aborts on
        a message quoting bytes that are not), all of them together at most MAX_LOGIC_BYTES; no
        file may hold `#script` (mohs-asp runs no embedded Python or Lua). A FIFO or a device would
        hang the parser or feed it without end; a file outside the folder is not the policy's."""
        root = os.path.realpath(self.root)
        seen: set[str] = set()
        queue, total = [str(main)], 0
        while queue:
            path = queue.pop()
            real = os.path.realpath(path)
            if real in seen:
                continue
            seen.add(real)
            name = self._rel(path)
            text = _read_utf8(Path(path), name, MAX_LOGIC_BYTES - total,
                              f"the logic files together are larger than {MAX_LOGIC_BYTES // (1024 * 1024)} MB "
                              f"(the limit for a policy)")
            total += len(text.encode("utf-8"))
            for offset, directive, target in _directives(text):
                where = f"{name}:{text.count(chr(10), 0, offset) + 1}"
                if directive == "#script":
                    raise PolicyError(f"{where}: #script is not allowed: mohs-asp runs no Python or Lua embedded in a "
                                      f"policy (write the rule in ASP, or the value in data/)")
                if target is None:
                    continue  # not a file name: clingo reports the syntax error
                if target.startswith("<") or target == "-":
                    shown = target if target.startswith("<") else f'"{target}"'
                    raise PolicyError(f"{where}: #include {shown} is not allowed: a policy includes only its own files "
                                      f"(\"-\" would read standard input)")
                candidates = [target] if os.path.isabs(target) else [str(self.logic / target), str(Path(path).parent / target)]
                for candidate in dict.fromkeys(candidates):
                    try:
                        info = os.stat(candidate)
                    except OSError:
                        continue  # not there: clingo says the file cannot be opened (or tries the other place)
                    if not stat.S_ISREG(info.st_mode):
                        raise PolicyError(f"{where}: #include \"{target}\" is not a regular file (a FIFO, a device or a "
                                          f"folder): refused")
                    if os.path.commonpath([root, os.path.realpath(candidate)]) != root:
                        raise PolicyError(f"{where}: #include \"{target}\" names a file outside the policy folder: refused")
                    queue.append(candidate)
        return seen

    def _clean_message(self, message: str) -> str:
        """clingo says '/abs/logic/x.lp:3:5-9: error: unsafe variables in:' and more lines; authors
        read 'logic/x.lp:3:7: error: variable X is unsafe: ...', one problem a line, in plain words.
        `check` (exit 3) and `lint` both print this."""
        lines = [line.strip() for line in message.strip().splitlines()]
        found = [(_LOCATED.match(line), line) for line in lines]
        first = found[0][0] if found else None
        if first is None:
            return "\n".join(lines)

        def at(m: re.Match) -> str:
            return f"{self._rel(m.group(1))}:{m.group(2)}:{m.group(3)}"

        text = first.group(5).rstrip(":")
        quoted = " ".join(line for m, line in found[1:] if m is None)
        notes = [m for m, _ in found[1:] if m is not None]
        if text.startswith("unsafe variables in") and notes:
            return "\n".join(f"{at(n)}: error: variable {n.group(5).split()[0].strip(chr(39))} is unsafe: it must also "
                             "appear in a positive atom of the rule's body (not only under `not`, in a comparison or in the head)"
                             for n in notes)
        if text.startswith("atom does not occur in any rule head"):
            return f"{at(first)}: error: {quoted} is in no rule head and no data file (a misspelt predicate name?)"
        if text.startswith("operation undefined"):
            return f"{at(first)}: warning: {quoted} is undefined for some values (arithmetic on something not a number)"
        for token, words in _TOKENS.items():
            text = text.replace(token, words)
        if text.startswith("syntax error") and first.group(3) == "1":
            text += " (does the statement before it end with a `.`?)"
        severity = "error" if first.group(4) == "error" else "warning"
        out = [f"{at(first)}: {severity}: {text}" + (f": {quoted}" if quoted else "")]
        return "\n".join(out + [f"{at(n)}: note: {n.group(5)}" for n in notes])

    def _read_predicate_docs(self, comments: dict[tuple[str, int], str]) -> None:
        current: dict | None = None
        for (file, line), text in sorted(comments.items()):
            m = PRED_DOC.match(text)
            if m:
                args = tuple(a.strip() for a in (m.group(2) or "").split(",") if a.strip())
                current = {"name": m.group(1), "args": args, "source": f"{file}:{line}"}
                pred = Predicate(**current)
                self.predicates[pred.key] = pred
                continue
            t = PRED_TEXT.match(text)
            if t and current is not None:
                current[t.group(1)] = t.group(2)
                pred = Predicate(**current)
                self.predicates[pred.key] = pred
            elif not text.startswith("%!"):
                current = None

    def _add_rule(self, node: ast.AST, begin: ast.Position, comments: dict[tuple[str, int], str]) -> None:
        file = self._rel(begin.filename)
        line = begin.line
        notes: dict[str, str] = {}
        above = line - 1
        while (file, above) in comments:
            m = ANNOTATION.match(comments[(file, above)])
            if m and m.group(1) not in notes:
                notes[m.group(1)] = _unquote(m.group(2))
            above -= 1
        head = _head_signature(node.head)
        if head and head[0].startswith("__"):  # __by and __fired record which rule fired: a rule of that name would forge them
            raise PolicyError(f"{file}:{line}: {head[0]}/{head[1]}: predicate names beginning with __ are the engine's own; "
                              f"rename it")
        rule = Rule(
            id=notes.get("rule") or f"{file}:{line}",
            policy=notes.get("policy"),
            because=notes.get("because"),
            file=file,
            line=line,
            head=head,
            node=node,
            variables=tuple(global_variables(node)),
            annotated="rule" in notes,
            reading=notes.get("reading"),
        )
        self.rules.append(rule)
        if not rule.annotated or not (rule.policy or rule.reading):
            self.unannotated.append(rule)

    @cached_property
    def rules_by_id(self) -> dict[str, Rule]:
        return {r.id: r for r in self.rules}

    def rules_for(self, name: str, arity: int) -> list[Rule]:
        return [r for r in self.rules if r.head == (name, arity)]

    @cached_property
    def derived(self) -> frozenset[tuple[str, int]]:
        return frozenset(r.head for r in self.rules if r.head)

    @cached_property
    def shown(self) -> frozenset[str]:
        """The predicates the policy's `#show` statements name (what the answer is read from)."""
        return frozenset(n.name for n in self.statements if n.ast_type == ast.ASTType.ShowSignature)

    @cached_property
    def case_predicates(self) -> frozenset[str]:
        """Predicates whose first argument is the case key: the case facts and every derived one."""
        return frozenset(name for name, _ in self.derived) | CASE_FACT_PREDICATES

    def program(self, track: frozenset[str] | None) -> list[ast.AST]:
        """The statements to ground; with `track`, also a firing record for each rule whose
        head predicate is in `track` (or every rule when `track` holds "*")."""
        return self._programs(track)

    @lru_cache(maxsize=4)  # noqa: B019 -- one Policy per process and folder
    def _programs(self, track: frozenset[str] | None) -> list[ast.AST]:
        everything = bool(track) and "*" in track
        # the tracked heads are read off their __by records: not shown a second time
        out = [n for n in self.statements
               if everything or not track or n.ast_type != ast.ASTType.ShowSignature or n.name not in track]
        if track:
            for index, rule in enumerate(self.rules):
                if rule.head and (everything or rule.head[0] in track):
                    out.append(decided_by(rule, index))
                if rule.head and everything:
                    out.append(firing_rule(rule, index))
            ast.parse_string("#show __by/2." + (" #show __fired/3." if everything else ""), out.append)
        return out


# -- reading logic files before clingo does ------------------------------------------------

_CODE = re.compile(r'%\*|%[^\n]*|"(?:[^"\\\n]|\\.)*"|#include\b|#script\b')  # as clingo's lexer reads them
_IN_COMMENT = re.compile(r"%\*|\*%")  # block comments nest
_SPACE = re.compile(r"\s*")
_FILE = re.compile(r'"((?:[^"\\\n]|\\.)*)"|(<[^>\n]*>)')


def _skip_comment(text: str, pos: int) -> int:
    """The end of the block comment opened just before `pos` (nested ones included)."""
    depth = 1
    while depth:
        m = _IN_COMMENT.search(text, pos)
        if m is None:
            return len(text)
        depth += 1 if m.group() == "%*" else -1
        pos = m.end()
    return pos


def _directives(text: str) -> Iterator[tuple[int, str, str | None]]:
    """(offset, "#include" or "#script", the file named or None) for each directive of a logic
    file outside comments and strings. An #include names a file in quotes (`"claims.lp"`, read
    as clingo reads a string) or in angle brackets (`<incmode>`, kept with its brackets)."""
    pos = 0
    while (m := _CODE.search(text, pos)) is not None:
        token, pos = m.group(), m.end()
        if token == "%*":
            pos = _skip_comment(text, pos)
        elif token == "#script":
            yield m.start(), token, None
        elif token == "#include":
            while True:  # comments may stand between #include and its file
                pos = _SPACE.match(text, pos).end()
                if text.startswith("%*", pos):
                    pos = _skip_comment(text, pos + 2)
                elif text.startswith("%", pos):
                    end = text.find("\n", pos)
                    pos = len(text) if end < 0 else end
                else:
                    break
            quoted = _FILE.match(text, pos)
            target = None
            if quoted:
                pos = quoted.end()
                target = quoted.group(2) or re.sub(r"\\(.)", lambda e: "\n" if e.group(1) == "n" else e.group(1),
                                                   quoted.group(1))
            yield m.start(), token, target


@contextmanager
def _working_folder(folder: Path) -> Iterator[None]:
    try:
        before = os.getcwd()
    except OSError:  # the working folder was removed: nothing to go back to
        before = None
    os.chdir(folder)
    try:
        yield
    finally:
        if before is not None:
            os.chdir(before)


# -- AST helpers ---------------------------------------------------------------------------


def _head_signature(head: ast.AST) -> tuple[str, int] | None:
    if head.ast_type == ast.ASTType.Literal and head.atom.ast_type == ast.ASTType.SymbolicAtom:
        term = head.atom.symbol
        if term.ast_type == ast.ASTType.Function:
            return term.name, len(term.arguments)
        if term.ast_type == ast.ASTType.SymbolicTerm and term.symbol.type == clingo.SymbolType.Function:
            return term.symbol.name, 0
    return None


_STRING = re.compile(r'"(?:\\.|[^"\\])*"')
_VARIABLE = re.compile(r"(?<![A-Za-z0-9_'])[A-Z][A-Za-z0-9_']*")


def _variables_in(text: str, into: list[str]) -> None:
    for name in _VARIABLE.findall(_STRING.sub('""', text)):
        if name not in into:
            into.append(name)


def global_variables(rule: ast.AST) -> list[str]:
    """Variables of the head and of the body's plain literals and aggregate guards, in
    first-seen order (variables local to an aggregate element are left out). Read off the
    printed rule: walking the AST from Python costs far more."""
    names: list[str] = []
    _variables_in(str(rule.head), names)
    for lit in rule.body:
        if lit.ast_type == ast.ASTType.Literal and lit.atom.ast_type == ast.ASTType.BodyAggregate:
            for guard in (lit.atom.left_guard, lit.atom.right_guard):
                if guard is not None:
                    _variables_in(str(guard.term), names)
        else:
            _variables_in(str(lit), names)
    return names


def firing_rule(rule: Rule, index: int) -> ast.AST:
    """`__fired(C, I, (V1,...,Vn)) :- Body.`: rule number I fired with these values of its
    variables; C is the head's first argument (the case). Explanations read the bindings."""
    loc = rule.node.location
    head_fn = rule.node.head.atom.symbol
    case_term = head_fn.arguments[0] if head_fn.ast_type == ast.ASTType.Function and head_fn.arguments else \
        ast.SymbolicTerm(loc, clingo.Number(0))
    values = ast.Function(loc, "", [ast.Variable(loc, v) for v in rule.variables], 0)
    atom = ast.SymbolicAtom(ast.Function(loc, "__fired", [case_term, ast.SymbolicTerm(loc, clingo.Number(index)), values], 0))
    return ast.Rule(loc, ast.Literal(loc, ast.Sign.NoSign, atom), rule.node.body)


def decided_by(rule: Rule, index: int) -> ast.AST:
    """`__by(I, Head) :- Body.`: rule number I derived this head (the answer names the rule)."""
    loc = rule.node.location
    atom = ast.SymbolicAtom(ast.Function(loc, "__by", [ast.SymbolicTerm(loc, clingo.Number(index)), rule.node.head.atom.symbol], 0))
    return ast.Rule(loc, ast.Literal(loc, ast.Sign.NoSign, atom), rule.node.body)


# -- metadata ----------------------------------------------------------------------------


def read_metadata(root: Path) -> tuple[dict, list[Version]]:
    """The pack's metadata file: the dict it holds, and its versions in date order."""
    path = root / METADATA
    if not path.is_file():
        raise PolicyError(f"{root} holds no {METADATA} (the policy's id, title, source and versions): not a policy folder")
    text = _read_utf8(path, METADATA, MAX_DATA_BYTES,
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


# -- data ------------------------------------------------------------------------------------


_READ: dict[Path, bytes] = {}  # the bytes of each file read while a Policy loads (its digest reuses them)


def _read_data_file(path: Path, name: str) -> str:
    """A data file's text, at most MAX_DATA_BYTES (an ICD-10-CM release too)."""
    return _read_utf8(path, name, MAX_DATA_BYTES,
                      f"larger than {MAX_DATA_BYTES // (1024 * 1024)} MB (the limit for a data file)")


def _read_utf8(path: Path, name: str, limit: int, too_large: str) -> str:
    """A policy file's text: a regular file of at most `limit` bytes (else `too_large` says why), in UTF-8."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise PolicyError(f"{name}: is not a regular file (a FIFO, a device or a folder)")
        if info.st_size > limit:
            raise PolicyError(f"{name}: {too_large}")
        data = _READ[path] = path.read_bytes()
    except OSError as e:
        raise PolicyError(f"{name}: cannot be read: {e.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise PolicyError(f"{name}:{line}: the file is not UTF-8 text (byte {e.start})") from None


def _read_csv(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """Rows of a data file with their line numbers; lines starting with # are comments. At most
    MAX_DATA_ROWS rows and MAX_DATA_BYTES bytes: past them, the policy is broken."""
    if not path.exists():
        raise PolicyError(f"data file {path.parent.name}/{path.name} is missing")
    lines = _read_utf8(path, f"data/{path.name}", MAX_DATA_BYTES,
                       f"larger than {MAX_DATA_BYTES // (1024 * 1024)} MB (the limit for a data file)").splitlines()
    kept = [(i + 1, line) for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")]
    if not kept:
        raise PolicyError(f"data/{path.name} is empty")
    if len(kept) - 1 > MAX_DATA_ROWS:
        raise PolicyError(f"data/{path.name}:{kept[MAX_DATA_ROWS + 1][0]}: more than {MAX_DATA_ROWS:,} rows "
                          f"(the limit for a data file)")
    reader = csv.DictReader(io.StringIO("\n".join(line for _, line in kept)))
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise PolicyError(f"data/{path.name}:{kept[0][0]}: missing column(s) {', '.join(missing)}")
    rows = []
    for (lineno, _), row in zip(kept[1:], reader):
        if None in row:  # more values than columns: an unquoted comma would cut a value short unseen
            raise PolicyError(f"data/{path.name}:{lineno}: {len(reader.fieldnames) + len(row[None])} values for "
                              f"{len(reader.fieldnames)} columns (a comma inside a value needs \"quotes\")")
        rows.append((lineno, {k: (v or "").strip() for k, v in row.items() if k}))
    return rows


def _yes_no(value: str, where: str) -> bool:
    if value in ("yes", "no"):
        return value == "yes"
    raise PolicyError(f"{where}: expected yes or no, found {value!r}")


class _Dated:
    """The dates of data rows: each row's (effective_from, effective_to) as whole numbers, blanks
    filled with the policy's own first and last day, given to its facts as one last argument
    (From,To); every distinct pair is also a `period(From,To)` fact, and rows of one key in
    force on the same day are refused."""

    def __init__(self, span: tuple[int, int]):
        self.span = span
        self.rows: list[DatedRow] = []
        self.periods: dict[tuple[int, int], clingo.Symbol] = {}  # each pair of days, and its (From,To) term
        self._keys: dict[tuple[str, str], list[DatedRow]] = {}

    def __call__(self, row: dict[str, str], file: str, lineno: int, key: str, unique: str | None = None) -> clingo.Symbol:
        """The row's days in force, the last argument of its facts: (From,To). With `unique` (the
        words for a key: "site"), a second row of that key in force on a day the first one is
        refuses the data."""
        given = row.get("effective_from", ""), row.get("effective_to", "")
        start, end = self.span
        if given[0] or given[1]:
            where = f"{file}:{lineno}"
            start = parse_date(given[0], where, "effective_from") if given[0] else start
            end = parse_date(given[1], where, "effective_to") if given[1] else end
            if start > end:
                raise PolicyError(f"{where}: effective_from {show_date(start)} is after effective_to {show_date(end)}")
        dated = DatedRow(file, lineno, key, start, end, bool(given[0] or given[1]))
        if unique is not None:
            for other in self._keys.setdefault((file, key), []):
                if other.effective_from <= end and start <= other.effective_to:
                    both = "" if not (dated.dated or other.dated) else " on the same days"
                    raise PolicyError(f"{file}:{lineno}: {unique} {key} is listed twice{both} (also line {other.line})")
            self._keys[(file, key)].append(dated)
        self.rows.append(dated)
        when = self.periods.get((start, end))
        if when is None:
            when = self.periods[(start, end)] = clingo.Tuple_([clingo.Number(start), clingo.Number(end)])
        return when


def load_data(folder: Path, span: tuple[int, int] = (0, OPEN_END)) -> PolicyData:
    """The data files as facts; `span` is the policy's first and last day (policy.toml), what a
    row's blank effective_from / effective_to stands for."""
    F, S, N = clingo.Function, clingo.String, clingo.Number
    facts: list[clingo.Symbol] = []
    dated = _Dated(span)

    covered = []
    for lineno, row in _read_csv(folder / "covered_diagnoses.csv", ("code",)):
        covered.append((row["code"], lineno))
        when = dated(row, "data/covered_diagnoses.csv", lineno, row["code"].upper())
        facts.append(F("covered_diagnosis", [S(row["code"].upper()), when]))

    ranges: list[tuple[str, int, int]] = []
    labels: dict[str, str] = {}
    for lineno, row in _read_csv(folder / "code_sets.csv", ("set", "first", "last", "label")):
        where = f"data/code_sets.csv:{lineno}"
        name, first, last = row["set"], row["first"].upper(), row["last"].upper()
        if not CONSTANT.fullmatch(name):
            raise PolicyError(f"{where}: set name {name!r} must be lower case letters, digits and _")
        for code in (first, last):
            if not CODE_SHAPE.fullmatch(code):
                raise PolicyError(f"{where}: {code!r} is not a 5-character CPT/HCPCS code")
        if not (first.isdigit() and last.isdigit()):
            raise PolicyError(f"{where}: code sets hold 5-digit CPT codes (a row is one code or a range of them)")
        if int(first) > int(last):
            raise PolicyError(f"{where}: the range {first}-{last} runs backwards")
        ranges.append((name, int(first), int(last)))
        when = dated(row, "data/code_sets.csv", lineno, f"{name} {first}-{last}")
        facts.append(F("code_range", [F(name), N(int(first)), N(int(last)), when]))
        if name not in labels:
            labels[name] = row["label"] or name
            facts.append(F("code_set_label", [F(name), S(labels[name])]))

    families = set()
    for lineno, row in _read_csv(folder / "mms_codes.csv", ("code", "stage", "family", "primary")):
        where = f"data/mms_codes.csv:{lineno}"
        code = row["code"]
        if row["stage"] not in ("first", "additional"):
            raise PolicyError(f"{where}: stage must be first or additional")
        when = dated(row, "data/mms_codes.csv", lineno, code)
        facts.append(F("first_stage_code" if row["stage"] == "first" else "addon_code", [S(code), when]))
        if row["family"]:
            families.add(row["family"])
            facts.append(F("code_family", [S(code), S(row["family"]), when]))
        for primary in row["primary"].split():
            facts.append(F("addon_primary", [S(code), S(primary), when]))

    sites: list[str] = []
    for lineno, row in _read_csv(folder / "sites.csv", ("site", "family", "high_risk", "tissue_preservation", "area")):
        where = f"data/sites.csv:{lineno}"
        name = row["site"]
        when = dated(row, "data/sites.csv", lineno, name, unique="site")
        if row["family"] not in families | {"either"}:
            raise PolicyError(f"{where}: family must be one of data/mms_codes.csv ({', '.join(sorted(families))}) or either")
        if name not in sites:
            sites.append(name)
        facts.append(F("site_family", [S(name), S(row["family"]), when]))
        if _yes_no(row["high_risk"], where):
            facts.append(F("high_risk_site", [S(name), when]))
        if _yes_no(row["tissue_preservation"], where):
            facts.append(F("preservation_site", [S(name), S(row["area"] or name), when]))

    borders: list[str] = []
    for lineno, row in _read_csv(folder / "borders.csv", ("term",)):
        if row["term"] in borders:
            raise PolicyError(f"data/borders.csv:{lineno}: term {row['term']} is listed twice")
        borders.append(row["term"])

    histology: dict[str, str] = {}
    for lineno, row in _read_csv(folder / "histology.csv", ("term", "characteristic")):
        term = row["term"]
        when = dated(row, "data/histology.csv", lineno, term, unique="term")
        histology[term] = row["characteristic"]
        if row["characteristic"]:
            facts.append(F("histology_term", [S(term), S(row["characteristic"]), when]))

    thresholds: dict[str, Threshold] = {}
    for lineno, row in _read_csv(folder / "thresholds.csv", ("name", "value", "unit")):
        where = f"data/thresholds.csv:{lineno}"
        try:
            value = Decimal(row["value"])
        except InvalidOperation:
            raise PolicyError(f"{where}: {row['value']!r} is not a number") from None
        if row["unit"] not in ("cm", "mm"):
            raise PolicyError(f"{where}: unit must be cm or mm")
        if not CONSTANT.fullmatch(row["name"]):
            raise PolicyError(f"{where}: name {row['name']!r} must be lower case letters, digits and _")
        if not value.is_finite() or value.copy_abs() > 10000:  # a solver number holds at most 2**31-1 micrometres
            raise PolicyError(f"{where}: {row['value']} {row['unit']} is not a size (at most 10000 {row['unit']})")
        cm = value if row["unit"] == "cm" else value / 10
        um = cm * 10000
        if um != um.to_integral_value() or um <= 0:
            raise PolicyError(f"{where}: {row['value']} {row['unit']} is not a positive whole number of micrometres")
        when = dated(row, "data/thresholds.csv", lineno, row["name"], unique="threshold")
        facts.append(F(f"{row['name']}_um", [N(int(um)), when]))
        thresholds.setdefault(f"{row['name']}_um", []).append(Threshold(row["value"], row["unit"], int(um), lineno, when))

    facts.extend(F("period", [N(start), N(end)]) for start, end in dated.periods)
    return PolicyData(facts, tuple(sites), histology, ranges, labels, covered, dated.rows, tuple(borders), thresholds)


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
