"""Checking a case against the contract (../shared/contract/README.md), as case/format.py describes it.

`parse_case` reports every problem at once, each with its path (`lesions[0].size_cm`) and a
message a billing clerk understands. It normalises what the contract says means the same
(`c44311` is `C44.311`, `Lower Leg` is `lower_leg`, `Ill-Defined` is `ill_defined`) and converts sizes exactly (Decimal to
whole micrometres). It decides nothing about coverage: that is logic/'s job. The checker is the
table of case/format.py read field by field: each field's type names its check in `CHECKS`.
Reading a file's text into values is reading.py's.
"""

from __future__ import annotations

import datetime as dt
import weakref
from dataclasses import dataclass
from typing import Any, Callable

from . import format as fmt
from ..policy import icd10
from .format import MAX_LESIONS, MAX_LINE_NUMBER, MAX_LINES, MAX_TEXT  # noqa: F401 -- the limits, as before
from ..errors import CaseInvalid, InputProblem
from .field_checks import CHECKS, PLANS, Plan, Record  # noqa: F401 -- CHECKS: the checks, as before
from ..policy.load import Policy
from .reading import (MAX_FILE_BYTES, MAX_YAML_CHARS, exact_number, open_source, parse_text,  # noqa: F401 -- read here
                      read_document)
from .words import MEMO, as_written, short_problem, printable, suggest, text_problem, type_name, unusable, vocab_key  # noqa: F401
from .words import vocab_pattern  # noqa: F401 -- schema.py's


MAX_ERRORS = 100  # errors listed one by one; past this, one more error counts the rest

Value = str | int | bool  # a fact's value: a String, a Number, or true/false


@dataclass(frozen=True)
class Lesion:
    id: str
    facts: tuple[tuple[str, Value], ...] = ()  # (fact, value) in the table's order: documented fields only
    size_written: tuple[str, str] | None = None  # the size as the case wrote it, for explanations: ("19.99", "mm")

    def values(self, fact: str) -> tuple[Value, ...]:
        return tuple(v for f, v in self.facts if f == fact)

    def value(self, fact: str) -> Value | None:
        return next((v for f, v in self.facts if f == fact), None)

    diagnosis = property(lambda self: self.value("diagnosis"))  # "C44.311"
    site = property(lambda self: self.value("site"))  # "lower_leg"
    size_um = property(lambda self: self.value("size_um"))
    borders = property(lambda self: self.value("borders"))
    histology = property(lambda self: self.values("histology"))
    flags = property(lambda self: tuple((f, v) for f, v in self.facts if f in fmt.lesion_flags()))


@dataclass(frozen=True)
class Line:
    number: int
    code: str
    units: int = 1
    lesions: tuple[str, ...] = ()
    modifiers: tuple[str, ...] = ()
    facts: tuple[tuple[str, Value], ...] = ()  # (fact, value): units, pre_surgical when given, ...

    pre_surgical = property(lambda self: next((v for f, v in self.facts if f == "pre_surgical"), None))


@dataclass(frozen=True)
class Case:
    id: str
    date_of_service: dt.date
    facts: tuple[tuple[str, Value], ...]  # (fact, value) of the case and its patient: date_of_service, ...
    lesions: tuple[Lesion, ...]
    lines: tuple[Line, ...]
    policy_version: str = ""  # the version of the policy in force on the date of service (policy.toml)
    icd10cm_release: str = ""  # the ICD-10-CM release the diagnoses were checked against
    warnings: tuple[InputProblem, ...] = ()  # the answer carries them (the case is still decided)


# Per policy, what each text a case gives a vocabulary field reads as (its term, or None: no term),
# by the PolicyData attribute naming the vocabulary: {attribute: (the vocabulary, {text: term})}.
# A claims file gives the same few dozen sites again and again.
TERMS: weakref.WeakKeyDictionary[Policy, dict[str, tuple[Any, dict[str, str | None]]]] = weakref.WeakKeyDictionary()
_UNREAD = object()


def read_term(seen: dict[str, str | None], known: tuple[str, ...] | dict[str, str], text: str) -> str | None:
    """The term of `known` a text reads as (or None), remembered in `seen` (at most MEMO texts)."""
    norm = vocab_key(text)
    if len(seen) >= MEMO:
        seen.clear()
    found = seen[text] = norm if norm in known else None
    return found


class Checker:
    def __init__(self, policy: Policy):
        self.policy = policy
        self.errors: list[InputProblem] = []
        self.unlisted = 0  # errors past MAX_ERRORS, counted only
        self.warnings: list[InputProblem] = []
        self.release = policy.icd10.latest  # until the date of service says which release is in force
        self.codes: icd10.CodeSet | None = None  # the release's code list, read when a diagnosis asks
        self.dated = False  # the date of service was read (and chose the release)
        self.version: str | None = None  # the version of the policy in force on the date of service
        self.lesion_ids: set[str] | None = set()  # every lesion id given (valid lesion or not); None: not read
        self.seen: dict[str, dict] = {}  # per list, its unique field's values -> the index of the first
        self.terms = TERMS.get(policy)
        if self.terms is None:
            self.terms = TERMS[policy] = {}

    def err(self, path: str, message: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(InputProblem(printable(path), printable(message)))
        else:
            self.unlisted += 1

    def suggest(self, word: str, known: list[str] | tuple[str, ...]) -> str:
        """`suggest`, skipped once the error list is full (a file of a million typos stays fast)."""
        return "" if len(self.errors) >= MAX_ERRORS else suggest(word, known)

    def record(self, obj: dict, p: Plan, rec: Record) -> Record:
        """Each field of a record (of the table `p` is the plan of), in the table's order; of a
        group (`size_cm` or `size_mm`) the one given, or else its first (which says whether it
        was needed)."""
        prefix = f"{rec.path}." if rec.path else ""
        if type(obj) is not dict:  # a _Fields, which names the keys given twice
            for key in getattr(obj, "repeated", ()):
                self.err(f"{prefix}{key}", f"`{key}` is given more than once; give each field once")
        keys = tuple(obj)
        checks = p.shapes.get(keys)
        if checks is None:  # keys not seen before, or not all field names
            for key in obj:
                if key not in p.known:
                    name = str(key)
                    meant = p.also.get(vocab_key(name)) if len(name) <= MAX_TEXT else None
                    hint = f" (did you mean `{meant}`?)" if meant else self.suggest(name, p.names)
                    self.err(f"{prefix}{name}", f"`{name}` is not a field of the case format{hint}")
            checks = p.checks(keys)
        for f, check, unique in checks:
            if f is None:
                self.err(rec.path, check)
                continue
            check(self, obj, f, prefix + f.name, rec)
            if unique:
                self.unique(f, rec)
        return rec

    def unique(self, f: fmt.Field, rec: Record) -> None:
        """A value two records of a list may not share; reported whatever else is wrong with either."""
        value, listed = rec.values.get(f.name), rec.path.partition("[")[0]
        seen = self.seen.setdefault(listed, {})
        if value in seen:
            self.err(f"{rec.path}.{f.name}", f"{f.unique.format(value)} is used twice (also {listed}[{seen[value]}])")
        elif value is not None:
            seen[value] = rec.index

    def text(self, obj: dict, key: str, path: str, required: bool) -> str | None:
        if key not in obj:
            if required:
                self.err(path, "is required")
            return None
        value = obj[key]
        # text_problem, asking its memo (words.short_problem) at once for a short str
        problem = short_problem(value) if type(value) is str and len(value) <= MAX_TEXT else text_problem(value)
        if problem:
            self.err(path, problem)
            return None
        return value

    def texts(self, obj: dict, key: str, path: str) -> list[tuple[str, str]] | None:
        """A list of texts, as (path, text) pairs."""
        if key not in obj:
            return None
        value = obj[key]
        if not isinstance(value, list):
            self.err(path, f"must be a list, found {type_name(value)}")
            return None
        out = []
        for i, item in enumerate(value):
            problem = short_problem(item) if type(item) is str and len(item) <= MAX_TEXT else text_problem(item)
            if problem:
                self.err(f"{path}[{i}]", problem)
            else:
                out.append((f"{path}[{i}]", item))
        return out

    def term(self, value: str, path: str, f: fmt.Field) -> str | None:
        """A value of a vocabulary of data/, as the vocabulary spells it; or None, with an
        error suggesting the nearest known value."""
        attribute, what = f.vocabulary
        known = getattr(self.policy.data, attribute)
        memo = self.terms.get(attribute)
        if memo is None or memo[0] is not known:  # (a vocabulary replaced is read afresh)
            memo = self.terms[attribute] = known, {}
        norm = memo[1].get(value, _UNREAD)
        if norm is _UNREAD:
            norm = read_term(memo[1], known, value)
        if norm is not None:
            return norm
        norm = vocab_key(value)
        self.err(path, f'"{value}" is not a known {what}{self.suggest(norm, list(known))}; '
                       f'the {what}s are {", ".join(known)}')
        return None

    def sets_of(self, rec: Record) -> list[str]:
        code = rec.values.get("code")
        return self.policy.data.code_sets_of(code) if code is not None else []

    def not_for(self, f: fmt.Field, rec: Record) -> str | None:
        """The line's code when it is not of the code set the field is for."""
        code = rec.values.get("code")
        return code if code is not None and f.only_for not in self.sets_of(rec) else None

    def builder(self, listed: str) -> Callable[[Record], Lesion | Line]:
        """What builds a valid record of a list (`lesions`: a Lesion)."""
        return BUILD[listed]


BUILD = {
    "lesions": lambda r: Lesion(r.values["id"], tuple(r.facts), _written(r.values.get("size_written"))),
    "lines": lambda r: Line(r.values["line"], r.values["code"], r.values["units"], r.values.get("lesions", ()),
                            r.values.get("modifiers", ()), tuple(r.facts)),
}


def _written(size: tuple[Any, str] | None) -> tuple[str, str] | None:
    return None if size is None else (as_written(size[0]), size[1])


def parse_case(doc: Any, policy: Policy) -> Case:
    """Check a parsed document against the contract; raise CaseInvalid with every problem."""
    checker = Checker(policy)
    case = None
    if not isinstance(doc, dict):
        checker.err("", f"a case must be an object (a mapping of fields), found {type_name(doc)}")
    else:
        rec = checker.record(doc, PLANS[""], Record("", 0))
        v = rec.values
        if not checker.errors and v.get("id") is not None and v.get("date_of_service") is not None:
            case = Case(v["id"], v["date_of_service"], tuple(rec.facts), v["lesions"], v["lines"], checker.version,
                        checker.release.name, tuple(checker.warnings))
    if case is None:
        case_id = doc.get("id") if isinstance(doc, dict) and isinstance(doc.get("id"), str) else None
        if case_id is not None and (len(case_id) > MAX_TEXT or unusable(case_id)):
            case_id = None  # an id the case may not have is not echoed either
        errors = checker.errors or [InputProblem("", "the case is not valid")]
        if checker.unlisted:
            errors.append(InputProblem("", f"{checker.unlisted} more problems are not listed (the first {MAX_ERRORS} are)"))
        raise CaseInvalid(errors, case_id, checker.warnings, checker.release.name if checker.dated else None, checker.version)
    return case


def load_case(source: str, policy: Policy) -> Case:
    return parse_case(read_document(source), policy)
