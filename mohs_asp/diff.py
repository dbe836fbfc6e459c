"""`mohs-asp diff`: which answers does a policy edit change?

The same cases are answered under the old policy (`--against`) and the new one, each through
`api.answer_documents` (many cases per Control), and compared field by field: status,
decision, input errors, each lesion's indications, medically_necessary and diagnosis_covered
(lesions matched by id), each line's outcome and `into` (lines matched by number). Rule ids
are not compared: renaming a rule changes no answer.

Cases: case files, folders (their *.yaml, *.yml, *.json and *.jsonl files) and JSON Lines
files (one case a line). A policy test file is a case too: its `expect:` is left out.

Dates: `old_on` / `new_on` give every case that date of service on that side, so the same
policy can be compared on two dates (the day before a dated change and the day it takes
effect). The decision record and warnings are not compared: they change with every edit or
date, not with a claim's outcome.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from .api import answer_documents
from .batch import read_json_lines
from .errors import CaseInvalid, UsageError
from .policy import Policy
from .render import safe
from .testing import TEST_SUFFIXES, discover, split_test

CASE_SUFFIXES = (*TEST_SUFFIXES, ".jsonl")
LESION_FIELDS = ("indications", "medically_necessary", "diagnosis_covered")
LINE_FIELDS = ("outcome", "into")


@dataclass(frozen=True)
class Change:
    field: str  # decision, lesions[A].indications, lines[2].outcome
    old: Any
    new: Any


@dataclass
class CaseDiff:
    source: str  # file, or file:line for JSON Lines
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

    def counts(self) -> dict[str, int]:
        """How many cases changed in each kind of field (decision, indications, outcome...)."""
        out: Counter[str] = Counter()
        for diff in self.changed:
            out.update({c.field.rsplit(".", 1)[-1] for c in diff.changes})
        return dict(sorted(out.items()))

    def as_dict(self) -> dict:
        return {"old": self.old, "new": self.new, "old_on": self.old_on, "new_on": self.new_on,
                "cases": self.cases, "changed": len(self.changed),
                "unchanged": self.cases - len(self.changed), "changed_fields": self.counts(),
                "changes": [{"source": d.source, "case": d.case,
                             "changes": [{"field": c.field, "old": c.old, "new": c.new} for c in d.changes]}
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
            named = diff.case and diff.case != Path(diff.source).stem.removesuffix(".case")
            out.append(safe(f"{diff.source} (case {diff.case})" if named else diff.source))
            out.extend(safe(f"  {c.field}: {_show(c.old)} -> {_show(c.new)}") for c in diff.changes)
        counts = ", ".join(f"{name} {n}" for name, n in self.counts().items())
        out.append(f"{len(self.changed)} of {self.cases} cases changed" + (f" ({counts})" if counts else "")
                   + f"; {self.cases - len(self.changed)} unchanged")
        return "\n".join(out)


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def read_cases(paths: Sequence[str]) -> Iterator[tuple[str, Any]]:
    """(source, document) for every case named; a document that cannot be read is a CaseInvalid
    (answered `invalid` under both policies). JSON Lines are read as `batch` reads them: every
    line is a case, a blank or unreadable one an invalid case."""
    for path in case_files(paths):
        if path.suffix == ".jsonl":
            yield from ((f"{path}:{number}", doc) for number, doc in read_json_lines(str(path)))
            continue
        try:
            doc, _ = split_test(path)  # without its `expect:`, still knowing the keys the file gives twice
        except CaseInvalid as e:
            doc = e
        yield str(path), doc


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
    """Every field of the contract's answer that differs between two answers of one case."""
    out = []
    for name in ("status", "decision"):
        if old.get(name) != new.get(name):
            out.append(Change(name, old.get(name), new.get(name)))
    old_errors, new_errors = _errors(old), _errors(new)
    if old_errors != new_errors:
        out.append(Change("errors", old_errors, new_errors))
    for kind, key, names in (("lesions", "id", LESION_FIELDS), ("lines", "line", LINE_FIELDS)):
        before = {item[key]: item for item in old.get(kind) or []}
        after = {item[key]: item for item in new.get(kind) or []}
        for k in dict.fromkeys([*before, *after]):
            a, b = before.get(k, {}), after.get(k, {})
            for name in names:
                if a.get(name) != b.get(name):
                    out.append(Change(f"{kind}[{k}].{name}", a.get(name), b.get(name)))
    return out


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
                  old_on: str | None = None, new_on: str | None = None) -> DiffReport:
    """Answer the cases under both policies, `chunk_size` at a time (memory stays flat however
    many cases), and keep the ones whose answer changed; with `old_on` / `new_on`, every case
    is given that date of service on that side."""
    report = DiffReport(str(old.root), str(new.root), old_on=old_on, new_on=new_on)
    cases = read_cases(paths)
    while chunk := list(islice(cases, chunk_size)):
        docs = [doc for _, doc in chunk]
        before = answer_documents([on_date(doc, old_on) for doc in docs], old, chunk_size)
        after = answer_documents([on_date(doc, new_on) for doc in docs], new, chunk_size)
        for (source, _), a, b in zip(chunk, before, after):
            changes = compare_answers(a, b)
            if changes:
                report.changed.append(CaseDiff(source, b.get("case") or a.get("case"), changes))
        report.cases += len(chunk)
    if not report.cases:
        raise UsageError(f"no cases (*.yaml, *.yml, *.json, *.jsonl) in {', '.join(paths)}")
    return report
