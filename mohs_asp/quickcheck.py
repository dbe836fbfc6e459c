"""A quicker road through case checking for documents that are plainly well formed.

`quick_case(doc, policy)` gives the Case that `case.parse_case` gives, or None when it is
not sure: a field it does not expect, a value of an unusual type, anything that would be
an error. None sends the document to `parse_case`, which decides and reports every error
in its own words; this module never reports an error and never accepts what parse_case
would not (tests/test_quickcheck.py holds the two equal on generated, mutated and hostile
documents).

The rules stay in case.py: every value is checked by the checker's own methods (`text`,
`boolean`, `integer`, `date`, `size`, `vocabulary`, `diagnosis`, `string_list`), called with
an empty path (paths only matter in error messages, and an error here means "unsure"), and
the field lists are case.py's. What makes it quicker: no paths built, no field-by-field
error bookkeeping, and the lookups that repeat from case to case (a site's spelling, a
diagnosis, a code, a histology term) done once per process.
"""

from __future__ import annotations

from typing import Any

from . import case as c
from .dates import date_number
from .policy import LESION_FLAGS, Policy

_CASE_FIELDS = frozenset(c.CASE_FIELDS)
_PATIENT_FIELDS = frozenset(c.PATIENT_FIELDS)
_LESION_FIELDS = frozenset(c.LESION_FIELDS)
_LINE_FIELDS = frozenset(c.LINE_FIELDS)
_MISS = object()
_MEMO_LIMIT = 100_000


class _Quick:
    def __init__(self, policy: Policy):
        self.policy = policy
        self.memo: dict = {}

    def _memo(self, kind: str, raw, compute):
        if kind not in ("size", "diagnosis") and type(raw) is not str:
            return _MISS  # not text: the checker says what is wrong
        key = (kind, raw)
        found = self.memo.get(key)
        if found is None:
            if len(self.memo) > _MEMO_LIMIT:
                self.memo.clear()
            checker = c._Checker(self.policy)
            found = compute(checker, raw)
            if found is None or checker.errors or checker.unlisted:
                found = _MISS
            self.memo[key] = found
        return found

    # values that repeat, looked up once ------------------------------------------------------------

    def site(self, raw):
        return self._memo("site", raw, lambda ch, v: ch.vocabulary({"site": v}, "site", "", True))

    def borders(self, raw):
        return self._memo("borders", raw, lambda ch, v: ch.vocabulary({"borders": v}, "borders", "", False))

    def diagnosis(self, raw, release):
        """A diagnosis checked against the ICD-10-CM release the date of service chose."""
        def compute(ch, v):
            ch.release = release
            return ch.diagnosis({"diagnosis": v[1]}, "")
        if type(raw) is not str:
            return _MISS  # not text: the checker says what is wrong
        return self._memo("diagnosis", (release.name, raw), compute)

    def term(self, raw):
        def compute(ch, v):
            items = ch.string_list({"histology": [v]}, "histology", "")
            if not items:
                return None
            return ch.term(items[0][1], "", "histology")
        return self._memo("term", raw, compute)

    def code(self, raw):
        def compute(ch, v):
            code = ch.text({"code": v}, "code", "", required=True)
            if code is None:
                return None
            code = code.strip().upper()
            if not c.CODE_SHAPE.fullmatch(code):
                return None
            return code, tuple(self.policy.data.code_sets_of(code))
        return self._memo("code", raw, compute)

    def size(self, key: str, value):
        try:
            memo_key = (key, type(value), value)
            hash(memo_key)
        except TypeError:
            return _MISS
        return self._memo("size", memo_key, lambda ch, v: ch.size({v[0]: v[2]}, ""))

    # the document ------------------------------------------------------------------------------------

    def case(self, doc: Any) -> c.Case | None:
        if not _plain(doc) or not doc.keys() <= _CASE_FIELDS:
            return None
        checker = c._Checker(self.policy)
        case_id = checker.text(doc, "id", "", required=True)
        date = checker.date(doc)
        immunosuppressed = None
        if "patient" in doc:
            patient = doc["patient"]
            if _plain(patient):
                if not patient.keys() <= _PATIENT_FIELDS:
                    return None
                immunosuppressed = checker.boolean(patient, "immunosuppressed", "")
            elif patient is not None:
                return None
        if checker.errors or case_id is None or date is None:
            return None
        version = self.policy.version_on(date_number(date))  # as the checker reads the date: the version in
        if version is None:  # force, the ICD-10-CM release (a warning when none is in force that day)
            return None
        release, warning = self.policy.icd10.on(date)
        lesion_docs = doc.get("lesions", [])
        line_docs = doc.get("lines", [])
        if type(lesion_docs) is not list or len(lesion_docs) > c.MAX_LESIONS:
            return None
        if type(line_docs) is not list or len(line_docs) > c.MAX_LINES:
            return None
        lesions = []
        ids: set = set()
        for obj in lesion_docs:
            lesion = self.lesion(obj, checker, ids, release)
            if lesion is None:
                return None
            lesions.append(lesion)
        lines = []
        numbers: set = set()
        for index, obj in enumerate(line_docs):
            line = self.line(obj, index, checker, ids, numbers)
            if line is None:
                return None
            lines.append(line)
        if checker.errors or checker.unlisted:
            return None
        return c.Case(case_id, date, immunosuppressed, tuple(lesions), tuple(lines), version.name, release.name,
                      (warning,) if warning is not None else ())

    def lesion(self, obj, checker, ids: set, release) -> c.Lesion | None:
        if not _plain(obj) or not obj.keys() <= _LESION_FIELDS:
            return None
        lesion_id = checker.text(obj, "id", "", required=True)
        if lesion_id is None or lesion_id in ids:
            return None
        ids.add(lesion_id)
        diagnosis = self.diagnosis(obj["diagnosis"], release) if "diagnosis" in obj else _MISS
        site = self.site(obj["site"]) if "site" in obj else _MISS
        if diagnosis is _MISS or site is _MISS:
            return None
        size_um = None
        has_cm, has_mm = "size_cm" in obj, "size_mm" in obj
        if has_cm or has_mm:
            if has_cm and has_mm:
                return None
            key = "size_cm" if has_cm else "size_mm"
            size_um = self.size(key, obj[key])
            if size_um is _MISS:
                return None
        borders = None
        if "borders" in obj:
            borders = self.borders(obj["borders"])
            if borders is _MISS:
                return None
        histology: tuple = ()
        if "histology" in obj:
            terms = obj["histology"]
            if type(terms) is not list:
                return None
            keys = []
            for raw in terms:
                key = self.term(raw)
                if key is _MISS:
                    return None
                keys.append(key)
            histology = tuple(dict.fromkeys(keys))
        flags = []
        for name in LESION_FLAGS:
            if name in obj:
                value = obj[name]
                if type(value) is not bool:
                    return None
                flags.append((name, value))
        return c.Lesion(lesion_id, diagnosis, site, size_um, borders, histology, tuple(flags),
                        c._size_as_written(obj) if size_um is not None else None)

    def line(self, obj, index: int, checker, ids: set, numbers: set) -> c.Line | None:
        if not _plain(obj) or not obj.keys() <= _LINE_FIELDS:
            return None
        if "line" in obj:
            number = checker.integer(obj, "line", "", 1, c.MAX_LINE_NUMBER)
            if number is None:
                return None
        else:
            number = index + 1
        if number in numbers:
            return None
        numbers.add(number)
        units = checker.integer(obj, "units", "", 1, 99)
        if checker.errors or "code" not in obj:
            return None
        found = self.code(obj["code"])
        if found is _MISS:
            return None
        code, sets = found
        biopsy = c.BIOPSY_SET in sets
        if "lesion" in obj:
            if "lesions" in obj:
                return None
            name = checker.text(obj, "lesion", "", required=True)
            if name is None or name not in ids:
                return None
            named: tuple = (name,)
        elif "lesions" in obj:
            many = checker.string_list(obj, "lesions", "")
            if not many or checker.errors or not biopsy:
                return None
            named = tuple(name for _, name in many)
            if any(name not in ids for name in named) or len(set(named)) != len(named):
                return None
        else:
            if sets:
                return None  # a code of a set must name its lesion: the checker says so
            named = ()
        pre = None
        if "pre_surgical" in obj:
            pre = obj["pre_surgical"]
            if type(pre) is not bool or not biopsy:
                return None
        modifiers: tuple = ()
        if "modifiers" in obj:
            items = checker.string_list(obj, "modifiers", "")
            if items is None or checker.errors:
                return None
            mods = [m.strip().upper() for _, m in items]
            if not all(c.MODIFIER_FORM.fullmatch(m) for m in mods):
                return None
            modifiers = tuple(mods)
        return c.Line(number, code, units or 1, named, modifiers, pre)


def _plain(obj) -> bool:
    """A mapping read from a file with no key given twice (the checker reports those)."""
    kind = type(obj)
    return kind is dict or (kind is c._Fields and not obj.repeated)


_QUICK: dict[int, _Quick] = {}


def quick_case(doc: Any, policy: Policy) -> c.Case | None:
    """The Case parse_case(doc, policy) returns, when the document is plainly well formed;
    None when unsure (parse_case then decides, and names every error)."""
    quick = _QUICK.get(id(policy))
    if quick is None or quick.policy is not policy:
        quick = _QUICK[id(policy)] = _Quick(policy)
    return quick.case(doc)
