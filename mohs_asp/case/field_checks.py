"""The checks of the case format's field types (case_format.Field.type -> CHECKS): each reads
one field of a record, reports what is wrong at its path, and keeps the value and its fact."""

from __future__ import annotations

import datetime as dt
import re
import weakref
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable

from . import format as fmt
from ..policy import icd10
from ..policy.dates import date_number
from ..policy.data import CODE_SHAPE
from .words import MEMO, short, type_name

if TYPE_CHECKING:
    from .check import Checker

MODIFIER_FORM = re.compile(r"[0-9A-Z]{2}")
DATE_FORM = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_SIZE_UM = Decimal(1_000_000)  # 100 cm
SHIFT = {"cm": 4, "mm": 3}  # a size's unit, as a power of ten of micrometres
LARGEST = {unit: MAX_SIZE_UM.scaleb(-shift) for unit, shift in SHIFT.items()}  # 100 cm, in each unit
MICROMETRE = {unit: Decimal(1).scaleb(-shift) for unit, shift in SHIFT.items()}  # in each unit
# patterns of the hints, compiled (by re's cache) only when a value is wrong
NUMBER_AND_UNIT = r"\s*((?:0|[1-9][0-9]*)(?:\.[0-9]+)?)\s*(cm|mm)?\.?\s*"  # "2cm", "2 cm", "2" (any case)
CODE_AND_MODIFIER = r"(\w{5})\s*[-\s:/]\s*([0-9A-Z]{2})"  # "88331-59": a code with its modifier


class Record:
    """One record being read: its values by field name, its facts, where it is in its list."""

    __slots__ = ("path", "index", "values", "facts")

    def __init__(self, path: str, index: int):
        self.path, self.index, self.values, self.facts = path, index, {}, []

    def keep(self, f: fmt.Field, value: Any) -> None:
        self.values[f.name] = value
        if f.fact is not None and value is not None:
            self.facts.append((f.fact, value))


def _check_text(ck: Checker, obj: dict, f: fmt.Field, path: str, rec: Record) -> None:
    rec.keep(f, ck.text(obj, f.name, path, f.required))


def _check_flag(ck: Checker, obj: dict, f: fmt.Field, path: str, rec: Record) -> None:
    if f.name not in obj:
        return
    value = obj[f.name]
    if not isinstance(value, bool):
        ck.err(path, f"must be true or false, found {type_name(value)}")
        return
    if f.only_for is not None and (code := ck.not_for(f, rec)) is not None:
        ck.err(path, f"{f.name} is for {f.only_for} lines only; {code} is not a {f.only_for} code")
    rec.keep(f, value)


def _check_whole(ck: Checker, obj: dict, f: fmt.Field, path: str, rec: Record) -> None:
    if f.name not in obj:
        rec.keep(f, rec.index + 1 if f.default == "position" else f.default)
        return
    value = obj[f.name]
    if type(value) is not int and (isinstance(value, bool) or not isinstance(value, int)):
        ck.err(path, f"must be a whole number, found {type_name(value)}")
    elif value < f.low or value > f.high:
        ck.err(path, f"must be from {f.low} to {f.high}, found {short(value)}")
    else:
        rec.keep(f, value)


def _check_vocabulary(ck: Checker, obj: dict, f: fmt.Field, path: str, rec: Record) -> None:
    value = ck.text(obj, f.name, path, f.required)
    rec.keep(f, None if value is None else ck.term(value, path, f))


def _check_vocabulary_list(ck: Checker, obj: dict, f: fmt.Field, path: str, rec: Record) -> None:
    kept = set()
    for item_path, text in ck.texts(obj, f.name, path) or []:
        term = ck.term(text, item_path, f)
        if term not in kept:  # a term given twice is one fact
            kept.add(term)
            rec.keep(f, term)


def _check_icd10(ck: Checker, obj: dict, f: fmt.Field, path: str, rec: Record) -> None:
    value = ck.text(obj, f.name, path, f.required)
    if value is None:
        return
    code = _normalized(value)
    codes = ck.codes = ck.codes or ck.release.codes()
    kind = codes.kind(code)
    if kind is None:
        ck.err(path, f'"{value}" is not an ICD-10-CM code (release {codes.release})')
    elif kind == "category":
        ck.err(path, f"{code} is a category, not a billable code; the billable codes under it are "
                     f"{_billable_under(codes, code)}")
    else:
        rec.keep(f, code)


_UNDER: weakref.WeakKeyDictionary[icd10.CodeSet, dict[str, str]] = weakref.WeakKeyDictionary()


def _billable_under(codes: icd10.CodeSet, category: str) -> str:
    """The billable codes under a category, as its error lists them; remembered per code list (a
    search of the list costs about as much as checking a hundred valid cases)."""
    seen = _UNDER.get(codes)
    if seen is None:
        seen = _UNDER[codes] = {}
    shown = seen.get(category)
    if shown is None:
        under = codes.billable_under(category)
        shown = ", ".join(under[:12]) + (f" and {len(under) - 12} more" if len(under) > 12 else "")
        if len(seen) >= 256:
            seen.clear()
        seen[category] = shown
    return shown


_normalized = lru_cache(maxsize=MEMO)(icd10.normalize)  # of a checked text (a str of at most MAX_TEXT)


def _check_size(ck: Checker, obj: dict, f: fmt.Field, path: str, rec: Record) -> None:
    """A size as whole micrometres, exactly: compared and cut below a micrometre on the digits
    as written, however many (Decimal's 28-digit arithmetic is never used on them)."""
    if f.name not in obj:
        return
    value, shift = obj[f.name], SHIFT[f.unit]
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        ck.err(path, f"must be a number, found {type_name(value)}{_number_hint(value, f)}")
        return
    try:
        exact = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        exact = Decimal("NaN")
    if not exact.is_finite():
        ck.err(path, "must be a finite number")
    elif exact <= 0:  # -0.0 too
        ck.err(path, f"must be above 0, found {short(value)} {f.unit}")
    elif exact > LARGEST[f.unit]:  # comparisons are exact: 1e999999999 cannot overflow
        ck.err(path, f"must be at most 100 cm, found {short(value)} {f.unit}")
    else:
        # exact: at most 7 digits remain. A size above 0 but below a micrometre is 0 µm: the
        # contract refuses only sizes not above 0, and every threshold is whole micrometres
        # (the data loader insists), so the cut changes no comparison.
        rec.keep(f, int(exact.quantize(MICROMETRE[f.unit], rounding=ROUND_FLOOR).scaleb(shift)))
        rec.values["size_written"] = value, f.unit  # worded when the lesion is built (case.BUILD)


def _number_hint(value: object, f: fmt.Field) -> str:
    """For a size written as text: "2cm" is told to drop the unit (or to use the other field), "2" its quotes."""
    if not isinstance(value, str):
        return ""
    m = re.fullmatch(NUMBER_AND_UNIT, value, re.IGNORECASE)
    if m is None:
        return ""
    number, unit = m[1], (m[2] or "").lower()
    other = next((g.name for fields in fmt.RECORDS.values() for g in fields
                  if f.group is not None and g.group == f.group and g.unit == unit), f.name)
    if not unit:
        return f": write it without quotes ({f.name}: {number})"
    return f": write the number without its unit ({other}: {number})"


def _check_code(ck: Checker, obj: dict, f: fmt.Field, path: str, rec: Record) -> None:
    code = ck.text(obj, f.name, path, f.required)
    if code is None:
        return
    form = _code_form(code)
    if form is None:
        joined = re.fullmatch(CODE_AND_MODIFIER, code.strip().upper())
        hint = (f': write the code as "{joined[1]}" and {joined[2]} under `modifiers` (modifiers: ["{joined[2]}"])'
                if joined and CODE_SHAPE.fullmatch(joined[1]) else "")
        ck.err(path, f'"{obj[f.name]}" is not a CPT/HCPCS code (5 characters: 5 digits, '
                     f"4 digits and F/T/U, or a letter and 4 digits){hint}")
        return
    rec.keep(f, form)


@lru_cache(maxsize=MEMO)
def _code_form(code: str) -> str | None:
    """A checked text as the CPT/HCPCS code it writes (upper case, no blanks), or None."""
    form = code.strip().upper()
    return form if CODE_SHAPE.fullmatch(form) else None


def _check_lesion_refs(ck: Checker, obj: dict, f: fmt.Field, path: str, rec: Record) -> None:
    """The lesions a line names (`lesion`: one; `lesions`: several, for the code set the field
    is for); each must be in the case, once. A line of a code set must name its lesion."""
    if f.name not in obj:
        if sets := ck.sets_of(rec):
            ck.err(path, f"{rec.values['code']} is a {ck.policy.data.set_labels.get(sets[0], sets[0])} code: "
                         f"the line must name its lesion")
        return
    if f.type == "lesion_ref":
        one = ck.text(obj, f.name, path, required=True)
        named = [] if one is None else [(path, one)]
    else:
        many = ck.texts(obj, f.name, path)
        if many is not None and not many:
            ck.err(path, "must name at least one lesion")
        named = many or []
        if (code := ck.not_for(f, rec)) is not None:
            ck.err(path, f"only a {f.only_for} line may name several lesions; {code} is not a {f.only_for} code "
                         f"(use `lesion`)")
    first: dict[str, str] = {}  # lesion id -> the path naming it first on this line
    for where, name in named:
        if name in first:
            ck.err(where, f'lesion "{name}" is named twice on this line (also {first[name]}): name each lesion once')
        first.setdefault(name, where)
        if ck.lesion_ids is not None and name not in ck.lesion_ids:
            ck.err(where, f'lesion "{name}" is not in the case{ck.suggest(name, sorted(ck.lesion_ids))}')
    rec.values["lesions"] = tuple([name for _, name in named])


def _check_modifiers(ck: Checker, obj: dict, f: fmt.Field, path: str, rec: Record) -> None:
    modifiers = []
    for mod_path, mod in ck.texts(obj, f.name, path) or []:
        if (form := _modifier_form(mod)) is not None:
            modifiers.append(form)
        else:
            ck.err(mod_path, f'"{mod}" is not a modifier (2 letters or digits)')
    rec.values[f.name] = tuple(modifiers)


@lru_cache(maxsize=MEMO)
def _modifier_form(mod: str) -> str | None:
    """A checked text as the modifier it writes (upper case, no blanks), or None."""
    form = mod.strip().upper()
    return form if MODIFIER_FORM.fullmatch(form) else None


def _check_date(ck: Checker, obj: dict, f: fmt.Field, path: str, rec: Record) -> None:
    """The date of service; it chooses the version of the policy in force (policy.toml) and the
    ICD-10-CM release the diagnoses are checked against."""
    date = _date(ck, obj.get(f.name, _MISSING), path)
    if date is None:
        return
    version = ck.policy.version_on(date_number(date))
    if version is None:
        ck.err(path, ck.policy.outside(date.isoformat()))
    else:
        ck.version = version.name
    ck.release, warning = ck.policy.icd10.on(date)
    ck.dated = True
    if warning is not None:
        ck.warnings.append(warning)
    rec.values[f.name] = date
    rec.facts.append((f.fact, date_number(date)))


_MISSING = object()


def _date(ck: Checker, value: Any, path: str) -> dt.date | None:
    if value is _MISSING:
        ck.err(path, "is required")
    elif isinstance(value, dt.datetime):
        ck.err(path, "must be a date (YYYY-MM-DD) without a time")
    elif isinstance(value, dt.date):
        return value
    elif isinstance(value, str) and (day := _day(value.strip())) is not None:
        return day
    elif isinstance(value, str) and DATE_FORM.fullmatch(value.strip()):
        ck.err(path, f'"{value}" is not a real date')
    else:
        ck.err(path, f"must be a date written YYYY-MM-DD, found {type_name(value)}")
    return None


def _day(text: str) -> dt.date | None:
    """The day a text (without blanks around it) writes as YYYY-MM-DD, or None."""
    return _iso_day(text) if len(text) == 10 else None


@lru_cache(maxsize=MEMO)
def _iso_day(text: str) -> dt.date | None:
    if not DATE_FORM.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _check_record(ck: Checker, obj: dict, f: fmt.Field, path: str, rec: Record) -> None:
    """A record inside the case (the patient): its fields' facts are the case's."""
    if f.name not in obj or obj[f.name] is None:
        return
    if not isinstance(obj[f.name], dict):
        ck.err(path, f"must be an object, found {type_name(obj[f.name])}")
        return
    inner = ck.record(obj[f.name], PLANS[f.name], Record(path, 0))
    rec.facts.extend(inner.facts)


def _check_records(ck: Checker, obj: dict, f: fmt.Field, path: str, rec: Record) -> None:
    """A list of records (lesions, lines): the valid ones, built. Lesions given, valid or not,
    with a usable id may be named by lines without a second error; lesions not read at all
    (not a list, too many) are not checked against."""
    value, one = obj.get(f.name, []), f.name[:-1]
    unread = None
    if not isinstance(value, list):
        unread = f"must be a list, found {type_name(value)}"
    elif len(value) > f.high:
        unread = f"a case may have at most {f.high} {f.name}, found {len(value)}"
    if unread is not None:
        ck.err(path, unread)
        ck.lesion_ids = None if f.name == "lesions" else ck.lesion_ids
        rec.values[f.name] = ()
        return
    out = []
    plan, build, lesions = PLANS[f.name], ck.builder(f.name), f.name == "lesions"
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        if not isinstance(item, dict):
            ck.err(where, f"a {one} must be an object, found {type_name(item)}")
            continue
        before = len(ck.errors) + ck.unlisted
        inner = ck.record(item, plan, Record(where, i))
        if lesions and inner.values.get("id") is not None:
            ck.lesion_ids.add(inner.values["id"])
        if len(ck.errors) + ck.unlisted == before:
            out.append(build(inner))
    rec.values[f.name] = tuple(out)


CHECKS: dict[str, Callable[[Checker, dict, fmt.Field, str, Record], None]] = {
    "text": _check_text, "flag": _check_flag, "whole": _check_whole, "vocabulary": _check_vocabulary,
    "vocabulary_list": _check_vocabulary_list, "icd10": _check_icd10, "size": _check_size, "code": _check_code,
    "lesion_ref": _check_lesion_refs, "lesion_refs": _check_lesion_refs, "modifiers": _check_modifiers,
    "date": _check_date, "record": _check_record, "records": _check_records,
}
# The types whose check of an optional field the record does not give finds nothing and keeps
# nothing (at most an empty value, which reads as the field's absence): the checker does not call
# them then (a lesion gives a few of its thirteen fields). tests/test_case_checker.py holds each
# check to it.
QUIET_WHEN_ABSENT = frozenset({"text", "flag", "vocabulary", "vocabulary_list", "icd10", "size", "code", "modifiers",
                               "record"})


class Plan:
    """How the checker reads one record of the table (case.Checker.record), worked out once per
    table instead of once per record: the field names, as a tuple (for suggestions) and a set
    (for finding names that are no field), the other names a field goes by, and the checks a
    record giving some of the fields needs (`checks`), remembered by the keys it gives."""

    __slots__ = ("names", "known", "also", "steps", "shapes")

    def __init__(self, fields: tuple[fmt.Field, ...]):
        self.names = fmt.names(fields)
        self.known = frozenset(self.names)
        self.also = {word: f.name for f in fields for word in f.also}
        # one step per field or group, in the table's order: (field, its check, the group's
        # (field, check) pairs or (), whether the check is skipped when the record does not give it)
        steps, groups = [], set()
        for f in fields:
            if f.group in groups:
                continue
            group = ()
            if f.group is not None:
                groups.add(f.group)
                group = tuple((g, CHECKS[g.type]) for g in fields if g.group == f.group)
            steps.append((f, CHECKS[f.type], group, f.type in QUIET_WHEN_ABSENT and not f.required))
        self.steps = tuple(steps)
        self.shapes: dict[tuple, tuple] = {}  # the keys a record gives, in its order -> `checks`

    def checks(self, keys: tuple) -> tuple[tuple[fmt.Field | None, Any, bool], ...]:
        """What a record giving `keys` needs checked, in the table's order: (field, its check,
        whether its value is unique) for each field given, or needed when not given; (None, the
        words, False) for a group given twice over (`size_cm` and `size_mm`). Remembered for keys
        that are all field names."""
        found = self.shapes.get(keys)
        if found is not None:
            return found
        given, out = set(keys), []
        for f, check, group, quiet in self.steps:
            if group:
                both = [g for g in group if g[0].name in given]
                if len(both) > 1:
                    out.append((None, f"give {' or '.join(g.name for g, _ in both)}, not both", False))
                    continue
                if both:
                    f, check = both[0]
                elif quiet:
                    continue
            elif quiet and f.name not in given:
                continue
            out.append((f, check, f.unique is not None))
        found = tuple(out)
        if self.known.issuperset(given):  # (so at most as many keys as fields, each short)
            if len(self.shapes) >= MEMO:
                self.shapes.clear()
            self.shapes[keys] = found
        return found


PLANS = {name: Plan(fields) for name, fields in fmt.RECORDS.items()}  # by the record's name in RECORDS
