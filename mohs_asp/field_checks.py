"""The checks of the case format's field types (case_format.Field.type -> CHECKS): each reads
one field of a record, reports what is wrong at its path, and keeps the value and its fact."""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Callable

from . import case_format as fmt
from . import icd10
from .dates import date_number
from .policy_data import CODE_SHAPE
from .words import short, type_name

if TYPE_CHECKING:
    from .case import Checker

MODIFIER_FORM = re.compile(r"[0-9A-Z]{2}")
DATE_FORM = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_SIZE_UM = Decimal(1_000_000)  # 100 cm
SHIFT = {"cm": 4, "mm": 3}  # a size's unit, as a power of ten of micrometres
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
    if isinstance(value, bool) or not isinstance(value, int):
        ck.err(path, f"must be a whole number, found {type_name(value)}")
    elif value < f.low or value > f.high:
        ck.err(path, f"must be from {f.low} to {f.high}, found {short(value)}")
    else:
        rec.keep(f, value)


def _check_vocabulary(ck: Checker, obj: dict, f: fmt.Field, path: str, rec: Record) -> None:
    value = ck.text(obj, f.name, path, f.required)
    rec.keep(f, None if value is None else ck.term(value, path, f))


def _check_vocabulary_list(ck: Checker, obj: dict, f: fmt.Field, path: str, rec: Record) -> None:
    for item_path, term in ck.texts(obj, f.name, path) or []:
        rec.keep(f, ck.term(term, item_path, f))
    rec.facts = list(dict.fromkeys(rec.facts))  # a term given twice is one fact


def _check_icd10(ck: Checker, obj: dict, f: fmt.Field, path: str, rec: Record) -> None:
    value = ck.text(obj, f.name, path, f.required)
    if value is None:
        return
    code = icd10.normalize(value)
    codes = ck.codes = ck.codes or ck.release.codes()
    kind = codes.kind(code)
    if kind is None:
        ck.err(path, f'"{value}" is not an ICD-10-CM code (release {codes.release})')
    elif kind == "category":
        under = codes.billable_under(code)
        shown = ", ".join(under[:12]) + (f" and {len(under) - 12} more" if len(under) > 12 else "")
        ck.err(path, f"{code} is a category, not a billable code; the billable codes under it are {shown}")
    else:
        rec.keep(f, code)


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
    elif exact > MAX_SIZE_UM.scaleb(-shift):  # comparisons are exact: 1e999999999 cannot overflow
        ck.err(path, f"must be at most 100 cm, found {short(value)} {f.unit}")
    else:
        # exact: at most 7 digits remain. A size above 0 but below a micrometre is 0 µm: the
        # contract refuses only sizes not above 0, and every threshold is whole micrometres
        # (the data loader insists), so the cut changes no comparison.
        rec.keep(f, int(exact.quantize(Decimal(1).scaleb(-shift), rounding=ROUND_FLOOR).scaleb(shift)))
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
    if not CODE_SHAPE.fullmatch(code.strip().upper()):
        joined = re.fullmatch(CODE_AND_MODIFIER, code.strip().upper())
        hint = (f': write the code as "{joined[1]}" and {joined[2]} under `modifiers` (modifiers: ["{joined[2]}"])'
                if joined and CODE_SHAPE.fullmatch(joined[1]) else "")
        ck.err(path, f'"{obj[f.name]}" is not a CPT/HCPCS code (5 characters: 5 digits, '
                     f"4 digits and F/T/U, or a letter and 4 digits){hint}")
        return
    rec.keep(f, code.strip().upper())


def _check_lesion_refs(ck: Checker, obj: dict, f: fmt.Field, path: str, rec: Record) -> None:
    """The lesions a line names (`lesion`: one; `lesions`: several, for the code set the field
    is for); each must be in the case, once. A line of a code set must name its lesion."""
    sets = ck.sets_of(rec)
    if f.name not in obj:
        if sets:
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
    rec.values["lesions"] = tuple(name for _, name in named)


def _check_modifiers(ck: Checker, obj: dict, f: fmt.Field, path: str, rec: Record) -> None:
    modifiers = []
    for mod_path, mod in ck.texts(obj, f.name, path) or []:
        if MODIFIER_FORM.fullmatch(mod.strip().upper()):
            modifiers.append(mod.strip().upper())
        else:
            ck.err(mod_path, f'"{mod}" is not a modifier (2 letters or digits)')
    rec.values[f.name] = tuple(modifiers)


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
    elif isinstance(value, str) and DATE_FORM.fullmatch(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            ck.err(path, f'"{value}" is not a real date')
    else:
        ck.err(path, f"must be a date written YYYY-MM-DD, found {type_name(value)}")
    return None


def _check_record(ck: Checker, obj: dict, f: fmt.Field, path: str, rec: Record) -> None:
    """A record inside the case (the patient): its fields' facts are the case's."""
    if f.name not in obj or obj[f.name] is None:
        return
    if not isinstance(obj[f.name], dict):
        ck.err(path, f"must be an object, found {type_name(obj[f.name])}")
        return
    inner = ck.record(obj[f.name], fmt.RECORDS[f.name], Record(path, 0))
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
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        if not isinstance(item, dict):
            ck.err(where, f"a {one} must be an object, found {type_name(item)}")
            continue
        before = ck.count
        inner = ck.record(item, fmt.RECORDS[f.name], Record(where, i))
        if f.name == "lesions" and inner.values.get("id") is not None:
            ck.lesion_ids.add(inner.values["id"])
        if ck.count == before:
            out.append(ck.build(f.name, inner))
    rec.values[f.name] = tuple(out)


CHECKS: dict[str, Callable[[Checker, dict, fmt.Field, str, Record], None]] = {
    "text": _check_text, "flag": _check_flag, "whole": _check_whole, "vocabulary": _check_vocabulary,
    "vocabulary_list": _check_vocabulary_list, "icd10": _check_icd10, "size": _check_size, "code": _check_code,
    "lesion_ref": _check_lesion_refs, "lesion_refs": _check_lesion_refs, "modifiers": _check_modifiers,
    "date": _check_date, "record": _check_record, "records": _check_records,
}
CHECKS: dict[str, Callable[[Checker, dict, fmt.Field, str, Record], None]] = {
    "text": _check_text, "flag": _check_flag, "whole": _check_whole, "vocabulary": _check_vocabulary,
    "vocabulary_list": _check_vocabulary_list, "icd10": _check_icd10, "size": _check_size, "code": _check_code,
    "lesion_ref": _check_lesion_refs, "lesion_refs": _check_lesion_refs, "modifiers": _check_modifiers,
    "date": _check_date, "record": _check_record, "records": _check_records,
}
