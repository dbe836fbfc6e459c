"""`mohs-asp diff`: which answers does a policy edit change?

The same cases are answered under the old policy (`--against`) and the new one, each through
`api.answer` (many cases per Control), and compared field by field: status,
decision, input errors, each lesion's indications, medically_necessary and diagnosis_covered
(lesions matched by id), each line's outcome and `into` (lines matched by number). Rule ids
are not compared: renaming a rule changes no answer.

Cases: case files, folders (their *.yaml, *.yml, *.json and *.jsonl files) and JSON Lines
files (one case a line). A policy test file is a case too: its `expect:` is left out (a file
of several named tests gives each of its cases).

Dates: `old_on` / `new_on` give every case that date of service on that side, so the same
policy can be compared on two dates (the day before a dated change and the day it takes
effect). The decision record and warnings are not compared: they change with every edit or
date, not with a claim's outcome.

The report: each changed case with its changes (a list as what it gained and lost,
`+large_lesion -high_risk_area`), then one line counting them by field and by rule.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from .. import api
from ..case.jsonl import read_json_lines
from ..case.check import suggest
from ..errors import CaseInvalid, UsageError
from ..policy.load import Policy
from ..render import label, safe
from .policy_tests import TEST_SUFFIXES, cases_in, discover, test_id

CASE_SUFFIXES = (*TEST_SUFFIXES, ".jsonl")
CASE_FIELDS = ("status", "decision", "errors")
LESION_FIELDS = ("indications", "medically_necessary", "diagnosis_covered")
LINE_FIELDS = ("outcome", "into")
LISTS = ("errors", "indications")  # shown as what they gained and lost: +large_lesion -high_risk_area
# what --only takes: a field of the case, `lesions` or `lines` (all their fields), or one of theirs
FIELD_NAMES = (*CASE_FIELDS, "lesions", *LESION_FIELDS, "lines", *LINE_FIELDS)
UNITS = {"case": "case", "lesions": "lesion", "lines": "line"}
KINDS = (*CASE_FIELDS, *(f"lesions[].{n}" for n in LESION_FIELDS), *(f"lines[].{n}" for n in LINE_FIELDS))


@dataclass(frozen=True)
class Change:
    field: str  # decision, lesions[A].indications, lines[2].outcome
    old: Any
    new: Any
    group: str = "case"  # case, lesions or lines
    name: str = ""  # decision, indications, outcome (the field's own name)
    gained: tuple[str, ...] = ()  # rules that give the new value and did not give the old one
    lost: tuple[str, ...] = ()  # rules that gave the old value and no longer give it

    @property
    def kind(self) -> str:
        """The field, whichever lesion or line: decision, lesions[].indications, lines[].outcome."""
        return self.name if self.group == "case" else f"{self.group}[].{self.name}"

    def kept(self, only: frozenset[str] | None) -> bool:
        return only is None or self.name in only or self.group in only

    def text(self) -> str:
        if self.name in LISTS:  # words apart by spaces; sentences (errors) by semicolons
            items = [*(f"+{x}" for x in _added(self.old, self.new)), *(f"-{x}" for x in _added(self.new, self.old))]
            return ("; " if any(" " in x for x in items) else " ").join(items)
        return f"{_show(self.old)} -> {_show(self.new)}"


def _added(old: list | None, new: list | None) -> list:
    return [x for x in new or [] if x not in (old or [])]


@dataclass
class CaseDiff:
    source: str  # file, file:line for JSON Lines, file::name in a file of several tests
    case: str | None
    changes: list[Change]


@dataclass
class DiffReport:
    old: str
    new: str
    cases: int = 0
    changed: list[CaseDiff] = field(default_factory=list)
    old_on: str | None = None  # the date of service every case was given on each side, if any
    new_on: str | None = None
    only: frozenset[str] | None = None

    def by_field(self) -> dict[str, int]:
        """How many cases, lesions or lines changed in each field, in the order fields are compared."""
        counts = Counter(c.kind for diff in self.changed for c in diff.changes)
        return {kind: counts[kind] for kind in KINDS if kind in counts}

    def by_rule(self) -> dict[str, tuple[int, int]]:
        """For each rule, how many of the changed values it now gives and no longer gives,
        most first (a line's outcome, a lesion's indication: the values rules are cited for)."""
        gained = Counter(r for diff in self.changed for c in diff.changes for r in c.gained)
        lost = Counter(r for diff in self.changed for c in diff.changes for r in c.lost)
        rules = sorted({*gained, *lost}, key=lambda r: (-(gained[r] + lost[r]), r))
        return {r: (gained[r], lost[r]) for r in rules}

    def as_dict(self) -> dict:
        return {"old": self.old, "new": self.new, "old_on": self.old_on, "new_on": self.new_on,
                "only": sorted(self.only) if self.only else None,
                "cases": self.cases, "changed": len(self.changed), "unchanged": self.cases - len(self.changed),
                "by_field": self.by_field(),
                "by_rule": {r: {"gained": g, "lost": lost} for r, (g, lost) in self.by_rule().items()},
                "changes": [{"source": d.source, "case": d.case,
                             "changes": [{"field": c.field, "old": c.old, "new": c.new,
                                          "rules_gained": list(c.gained), "rules_lost": list(c.lost)} for c in d.changes]}
                            for d in self.changed]}

    def render(self) -> str:
        out = []
        if self.old_on or self.new_on:
            def side(root: str, on: str | None) -> str:
                try:  # as the author would type it
                    root = Path(root).relative_to(Path.cwd()).as_posix()
                except ValueError:
                    pass
                return f"{root} on {on}" if on else f"{root} on each case's own date"
            out.append(safe(f"{side(self.old, self.old_on)} -> {side(self.new, self.new_on)}"))
        for diff in self.changed:  # ids, file names and messages escaped: none can print a line of its own
            named = diff.case and diff.case != _own_name(diff.source)
            out.append(f"{safe(diff.source)} (case {label(diff.case)})" if named else safe(diff.source))
            out.extend(safe(f"  {c.field}: {c.text()}") for c in diff.changes)
        return "\n".join([*out, self.summary()])

    def summary(self) -> str:
        """One line: how many cases changed, then how many cases, lesions or lines changed in
        each field, then by rule (+ gives a changed value now, - gave one before)."""
        only = f" (--only {','.join(sorted(self.only))})" if self.only else ""
        parts = [f"{len(self.changed):,} of {_count(self.cases, 'case')} changed{only}, {self.cases - len(self.changed):,} unchanged"]
        kinds = {c.kind: UNITS[c.group] for diff in self.changed for c in diff.changes}
        parts.extend(f"{kind}: {_count(n, kinds[kind])}" for kind, n in self.by_field().items())
        rules = self.by_rule()
        if rules:
            parts.append("by rule: " + ", ".join(f"{r}{f' +{g:,}' if g else ''}{f' -{lost:,}' if lost else ''}"
                                                 for r, (g, lost) in rules.items()))
        return "; ".join(parts)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'s' * (n != 1)}"


def _own_name(source: str) -> str:
    """The case id a source already shows: a test's name, or the file's name without suffix."""
    if "::" in source:
        return source.rsplit("::", 1)[1]
    return Path(source).stem.removesuffix(".case")


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def fields_to_keep(values: Iterable[str]) -> frozenset[str]:
    """`--only` as given (repeated, or names separated by commas), checked."""
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    if not names:
        raise UsageError(f"--only needs a field: {', '.join(FIELD_NAMES)}")
    for name in names:
        if name not in FIELD_NAMES:
            raise UsageError(f"--only {name!r} is not a field diff compares{suggest(name, FIELD_NAMES)}; "
                             f"the fields are {', '.join(FIELD_NAMES)}")
    return frozenset(names)


def read_cases(paths: Sequence[str]) -> Iterator[tuple[str, Any]]:
    """(source, document) for every case named; a document that cannot be read is a CaseInvalid
    (answered `invalid` under both policies). JSON Lines are read as `batch` reads them: every
    line is a case, a blank or unreadable one an invalid case. A file of several named tests
    gives each of its cases (FILE::NAME)."""
    for path in case_files(paths):
        if path.suffix == ".jsonl":
            yield from ((f"{path}:{number}", doc) for number, doc in read_json_lines(str(path)))
            continue
        try:
            cases = cases_in(path)  # without `expect:`, still knowing the keys the file gives twice
        except CaseInvalid as e:
            cases = [(None, e)]
        yield from ((test_id(path, name), doc) for name, doc in cases)


def case_files(paths: Sequence[str]) -> list[Path]:
    """Files as given; folders searched for case files (leaving out the `*.expected.json` of
    example pairs)."""
    out: list[Path] = []
    for p in map(Path, paths):
        try:
            if p.is_dir():
                found = sorted(f for f in p.rglob("*") if f.suffix in CASE_SUFFIXES and f.is_file())
                out.extend(f for f in found if f.suffix == ".jsonl" or f in discover([str(f)]))
            elif p.exists():
                out.append(p)
            else:
                raise UsageError(f"no such file or folder: {p}")
        except OSError as e:  # a name too long, a folder we may not enter
            raise UsageError(f"cannot read {p}: {e.strerror}") from None
    return out


def compare_answers(old: dict, new: dict) -> list[Change]:
    """Every field of the contract's answer that differs between two answers of one case,
    each with the rules that gave its old and its new value where the answer cites them
    (a lesion's `indication_rules`, a line's `rules`)."""
    out = []
    for name in ("status", "decision"):
        if old.get(name) != new.get(name):
            out.append(Change(name, old.get(name), new.get(name), name=name))
    old_errors, new_errors = _errors(old), _errors(new)
    if old_errors != new_errors:
        out.append(Change("errors", old_errors, new_errors, name="errors"))
    for kind, key, names in (("lesions", "id", LESION_FIELDS), ("lines", "line", LINE_FIELDS)):
        before = {item[key]: item for item in old.get(kind) or []}
        after = {item[key]: item for item in new.get(kind) or []}
        for k in dict.fromkeys([*before, *after]):
            a, b = before.get(k, {}), after.get(k, {})
            cited = kind == "lines"  # a line's rules are cited once, on its first changed field
            for name in names:
                if a.get(name) == b.get(name):
                    continue
                if name == "indications":
                    gained = _cited(b, _added(a.get(name), b.get(name)))
                    lost = _cited(a, _added(b.get(name), a.get(name)))
                elif cited:
                    gained, lost = _new(a.get("rules"), b.get("rules")), _new(b.get("rules"), a.get("rules"))
                    cited = False
                else:
                    gained = lost = ()
                out.append(Change(f"{kind}[{k}].{name}", a.get(name), b.get(name), kind, name, gained, lost))
    return out


def _cited(lesion: dict, indications: list) -> tuple[str, ...]:
    """The rules that gave a lesion these indications."""
    rules = lesion.get("indication_rules") or {}
    return tuple(dict.fromkeys(r for i in indications for r in rules.get(i, ())))


def _new(old: list | None, new: list | None) -> tuple[str, ...]:
    return tuple(r for r in new or () if r not in (old or ()))


def _errors(answer: dict) -> list[str] | None:
    errors = answer.get("errors")
    return [f"{e.get('path') or '(file)'}: {e.get('message')}" for e in errors] if errors else None


def on_date(doc: Any, day: str | None) -> Any:
    """A case document with its date of service replaced (as text, YYYY-MM-DD); anything that
    is not a case object stays as it is (it is invalid on either side)."""
    if day is None or not isinstance(doc, dict):
        return doc
    doc = copy.copy(doc)  # a copy that still knows the keys the file gives twice
    doc["date_of_service"] = day
    return doc


def diff_policies(paths: Sequence[str], old: Policy, new: Policy, chunk_size: int = 500,
                  old_on: str | None = None, new_on: str | None = None,
                  only: frozenset[str] | None = None) -> DiffReport:
    """Answer the cases under both policies, `chunk_size` at a time (memory stays flat however
    many cases), and keep the ones whose answer changed (with `only`: in those fields); with
    `old_on` / `new_on`, every case is given that date of service on that side."""
    report = DiffReport(str(old.root), str(new.root), old_on=old_on, new_on=new_on, only=only)
    cases = read_cases(paths)
    while chunk := list(islice(cases, chunk_size)):
        docs = [doc for _, doc in chunk]
        before = api.answer([on_date(doc, old_on) for doc in docs], old, chunk_size)
        after = api.answer([on_date(doc, new_on) for doc in docs], new, chunk_size)
        for (source, _), a, b in zip(chunk, before, after):
            changes = [c for c in compare_answers(a, b) if c.kept(only)]
            if changes:
                report.changed.append(CaseDiff(source, b.get("case") or a.get("case"), changes))
        report.cases += len(chunk)
    if not report.cases:
        raise UsageError(f"no cases (*.yaml, *.yml, *.json, *.jsonl) in {', '.join(paths)}")
    return report
