"""Hypothesis strategies for case documents, drawn from the policy's own vocabulary.

`cases()` builds valid cases as a parsed JSON file holds them (sizes as Decimal): sites of
data/sites.csv in the spellings the contract accepts, histology terms, covered and uncovered
billable diagnoses, codes from every code set of data/code_sets.csv and codes of none, lines
naming lesions of the case. `mutated()` breaks one thing in such a case: drops, retypes or
renames a field, puts a value out of range, adds an unknown field.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import strategies as st

from mohs_asp.case import format as case_format
from mohs_asp.policy import icd10
from mohs_asp.policy.load import LESION_FLAGS, load_policy

POLICY = load_policy()
DATA = POLICY.data
SITES = sorted(DATA.sites)
TERMS = sorted(DATA.histology)
_codes = icd10.code_set()
COVERED = sorted(c for c, _ in DATA.covered_diagnoses if _codes.kind(icd10.normalize(c)) == "billable")
UNCOVERED = [c for c in ("L57.0", "L82.1", "L98.9", "Z85.828", "D22.5", "L72.0") if _codes.kind(c) == "billable"]
SET_CODES = {name: [] for name in DATA.set_labels}  # a few codes of each code set
for _name, _lo, _hi in DATA.code_ranges:
    SET_CODES[_name].extend(f"{n:05d}" for n in sorted({_lo, _hi, (_lo + _hi) // 2}))
POLICY_CODES = sorted({c for codes in SET_CODES.values() for c in codes})
OTHER_CODES = ["99213", "99214", "J3301", "0001F", "G0168", "96372"]
MMS_CODES = frozenset(SET_CODES["mms"])
assert UNCOVERED and COVERED and MMS_CODES


def spelled(word: str) -> st.SearchStrategy[str]:
    """A vocabulary word as the contract lets a user write it: any case, a run of spaces,
    hyphens and underscores for each _."""
    return st.sampled_from([word, word.upper(), word.replace("_", " ").title(), word.replace("_", "-"),
                            word.replace("_", " -_ ").capitalize(), word.replace("_", "__")])


SIZES = {"cm": st.decimals(min_value=Decimal("0.01"), max_value=Decimal("6"), places=2),
         "mm": st.integers(min_value=1, max_value=60)}


def values(f: case_format.Field) -> st.SearchStrategy:
    """Valid values of a field of the case format, by its type (case/format.py)."""
    if f.type == "icd10":
        return st.one_of(st.sampled_from(COVERED), st.sampled_from(UNCOVERED))
    if f.type in ("vocabulary", "vocabulary_list"):
        words = st.sampled_from(sorted(getattr(DATA, f.vocabulary[0]))).flatmap(spelled)
        return words if f.type == "vocabulary" else st.lists(words, max_size=3)
    if f.type == "size":
        return SIZES[f.unit]
    if f.type == "whole":
        return st.integers(f.low, min(f.high, 99))
    assert f.type == "flag", f"no values drawn for a field of type {f.type}"
    return st.booleans()


@st.composite
def record(draw, fields: tuple[case_format.Field, ...], **given) -> dict:
    """A record of the format's fields: the required ones, some of the others, one of a group."""
    out, groups = {}, set()
    for f in fields:
        if f.name in given:
            out[f.name] = given[f.name]
            continue
        if f.group is not None:
            if f.group not in groups:
                groups.add(f.group)
                choice = draw(st.sampled_from([None, *(g for g in fields if g.group == f.group)]))
                if choice is not None:
                    out[choice.name] = draw(values(choice))
        elif f.required or draw(st.integers(0, 2)) == 0:
            out[f.name] = draw(values(f))
    return out


def lesions(lesion_id: str) -> st.SearchStrategy[dict]:
    return record(case_format.LESION, id=lesion_id)


@st.composite
def lines(draw, lesion_ids: list[str]) -> list[dict]:
    out = []
    for _ in range(draw(st.integers(0, 6 if lesion_ids else 2))):
        if lesion_ids and draw(st.integers(0, 3)):
            kind = draw(st.sampled_from(["mms", "mms", *sorted(SET_CODES)]))  # MMS lines decide the case
            line = {"code": draw(st.sampled_from(SET_CODES[kind]))}
            if kind == "biopsy" and len(lesion_ids) > 1 and draw(st.booleans()):
                line["lesions"] = draw(st.lists(st.sampled_from(lesion_ids), min_size=1, max_size=3, unique=True))
            else:
                line["lesion"] = draw(st.sampled_from(lesion_ids))
            if kind == "biopsy" and draw(st.booleans()):
                line["pre_surgical"] = draw(st.booleans())
        else:
            line = {"code": draw(st.sampled_from(OTHER_CODES))}
            if lesion_ids and draw(st.booleans()):
                line["lesion"] = draw(st.sampled_from(lesion_ids))
        if draw(st.integers(0, 3)) == 0:
            line["units"] = draw(st.integers(1, 99))
        if draw(st.integers(0, 3)) == 0:
            line["modifiers"] = draw(st.lists(st.sampled_from(["59", "XS", "51", "RT"]), max_size=2))
        out.append(line)
    if draw(st.booleans()):  # explicit line numbers, unique, in any order
        numbers = draw(st.lists(st.integers(1, 40), min_size=len(out), max_size=len(out), unique=True))
        for line, number in zip(out, numbers):
            line["line"] = number
    return out


@st.composite
def cases(draw) -> dict:
    ids = draw(st.lists(st.sampled_from("ABCDEFG"), max_size=4, unique=True))
    doc = {"id": draw(st.sampled_from(["case-1", "c2", "ÄÖÜ-3"])),
           "date_of_service": draw(st.dates(dt.date(2020, 1, 1), dt.date(2030, 12, 31))).isoformat()}
    if draw(st.booleans()):
        doc["patient"] = draw(record(case_format.PATIENT))
    doc["lesions"] = [draw(lesions(lesion_id)) for lesion_id in ids]
    doc["lines"] = draw(lines(ids))
    return doc


# -- mutations -------------------------------------------------------------------------------

JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-10**30, 10**30), st.text(max_size=8),
    st.decimals(allow_nan=True, allow_infinity=True), st.floats(),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
OUT_OF_RANGE = {"size_cm": [Decimal(0), Decimal(-1), Decimal("100.01"), Decimal("-0.0")],
                "size_mm": [0, -5, 1001], "units": [0, 100, -1, 10**40],
                "line": [0, -1, 2**31], "date_of_service": ["2026-02-30", "2026-13-01", "26-1-1", ""]}


def places(doc, path=()):
    """Every (container, key, path) in a document."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield doc, key, (*path, key)
            yield from places(value, (*path, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield doc, i, (*path, i)
            yield from places(value, (*path, i))


@st.composite
def mutated(draw) -> dict:
    doc = draw(cases())
    spots = list(places(doc))
    container, key, _ = draw(st.sampled_from(spots))
    how = draw(st.sampled_from(["drop", "retype", "rename", "range", "unknown", "same_id"]))
    if how == "drop":
        del container[key]
    elif how == "retype":
        container[key] = draw(JUNK)
    elif how == "rename" and isinstance(container, dict):
        container[draw(st.sampled_from([f"{key}_", str(key)[:-1] or "x", str(key).upper()]))] = container.pop(key)
    elif how == "range" and key in OUT_OF_RANGE:
        container[key] = draw(st.sampled_from(OUT_OF_RANGE[key]))
    elif how == "same_id" and len(doc["lesions"]) > 1:
        doc["lesions"][1]["id"] = doc["lesions"][0]["id"]
    else:
        target = container if isinstance(container, dict) else doc
        target[draw(st.sampled_from(["size_c", "notes", "Lesions", "x"]))] = draw(JUNK)
    return doc


documents = st.one_of(cases(), mutated())


# -- seeded claims, for many cases at once ---------------------------------------------------------

SIZE_EDGES = [{"size_cm": Decimal("2.0")}, {"size_cm": Decimal("1.9999")}, {"size_cm": Decimal("2.0001")},
              {"size_cm": Decimal("1.99999")}, {"size_cm": 2}, {"size_mm": 20}, {"size_mm": Decimal("19.999")},
              {"size_mm": Decimal("20.001")}, {"size_mm": 19}, {"size_cm": Decimal("0.0001")}, {"size_cm": 100}]


def _day(number: int) -> dt.date | None:
    try:
        return dt.date(number // 10000, number // 100 % 100, number % 100)
    except ValueError:  # the open end (99991231 and the like)
        return None


def boundary_days(policy=POLICY) -> list[str]:
    """The days either side of every date the policy tells apart: each data row's first and
    last day in force (its `period` facts), each version's, each ICD-10-CM release's."""
    edges = set()
    spans = [(sym.arguments[0].number, sym.arguments[1].number) for sym in policy.data.facts
             if sym.name == "period" and len(sym.arguments) == 2]
    spans += [(v.effective_from, v.effective_to) for v in policy.versions]
    spans += [(r.effective_from, r.effective_to) for r in policy.icd10.all]
    for start, end in spans:
        for number, step in ((start, -1), (end, 1)):
            day = _day(number)
            if day is not None and dt.date(2000, 1, 1) < day < dt.date(2100, 1, 1):
                edges.update(d.isoformat() for d in (day, day + dt.timedelta(days=step)))
    return sorted(edges)


def service_day(rng, days: list[str]) -> str:
    """A date of service: a day either side of a date the policy tells apart (30%), or any day
    from the policy's first year to 2030."""
    if days and rng.random() < 0.3:
        return rng.choice(days)
    return (dt.date(2015, 1, 1) + dt.timedelta(days=rng.randint(0, 16 * 365))).isoformat()


BOUNDARY_DAYS = boundary_days()


def claim(rng, n: int, days: list[str] = BOUNDARY_DAYS) -> dict:
    """A generated case (seeded, so a failure can be replayed) reaching the policy's edges: sizes
    at the threshold, every site and histology spelling, every code set, add-ons, biopsies of
    several lesions (one lesion named twice too), units against lesions, pre-surgical flags,
    deep structures, line numbers given in any order, up to 6 lesions and 9 lines, dates of
    service either side of every date the policy tells apart (`days`: boundary_days)."""
    count = rng.choice([0, 1, 1, 1, 2, 2, 3, 3, 4, 5, 6])
    ids = rng.sample(["A", "B", "C", "D", "E", "F", "lesion-1", "Ünï", "x y"], count)
    doc: dict = {"id": f"gen-{n}", "date_of_service": service_day(rng, days)}
    if rng.random() < 0.3:
        doc["patient"] = {"immunosuppressed": rng.random() < 0.5} if rng.random() < 0.8 else {}
    doc["lesions"] = []
    for lesion_id in ids:
        dx = rng.choice(COVERED) if rng.random() < 0.75 else rng.choice(UNCOVERED)
        if rng.random() < 0.2:
            dx = dx.replace(".", "").lower()
        site = rng.choice(SITES)
        lesion = {"id": lesion_id, "diagnosis": dx,
                  "site": rng.choice([site, site.upper(), site.replace("_", " ").title(), site.replace("_", "-")])}
        roll = rng.random()
        if roll < 0.3:
            lesion.update(rng.choice(SIZE_EDGES))
        elif roll < 0.7:
            lesion["size_cm" if rng.random() < 0.6 else "size_mm"] = Decimal(rng.randint(1, 400)) / Decimal(100)
        if rng.random() < 0.5:
            border = rng.choice(DATA.borders)
            lesion["borders"] = rng.choice([border, border.upper(), border.replace("_", "-")])
        if rng.random() < 0.5:
            lesion["histology"] = [rng.choice([t, t.upper(), t.replace("_", " ")]) for t in rng.sample(TERMS, rng.randint(0, 4))]
        for flag in LESION_FLAGS:
            if rng.random() < 0.25:
                lesion[flag] = rng.random() < 0.5
        doc["lesions"].append(lesion)
    lines = []
    for _ in range(rng.choice([0, 1, 2, 3, 3, 4, 5, 5, 6, 7, 9]) if ids or rng.random() < 0.3 else 0):
        kind = rng.choice(["mms", "mms", "mms", "frozen_section", "surgical_pathology", "biopsy", "repair", "other"])
        if kind == "mms":
            code = rng.choice(sorted(MMS_CODES))
        elif kind == "other":
            code = rng.choice(OTHER_CODES + ["17000", "0479T", "11101", "11108", "88303"])
        else:
            code = rng.choice(SET_CODES[kind])
        line: dict = {"code": code}
        if ids and (kind != "other" or rng.random() < 0.3):
            if kind == "biopsy" and len(ids) > 1 and rng.random() < 0.4:
                named = rng.sample(ids, rng.randint(2, min(3, len(ids))))
                if rng.random() < 0.15:
                    named.append(named[0])  # one lesion named twice
                line["lesions"] = named
            else:
                line["lesion"] = rng.choice(ids)
        elif kind != "other":
            line = {"code": rng.choice(OTHER_CODES)}
        if kind == "biopsy" and rng.random() < 0.5:
            line["pre_surgical"] = rng.random() < 0.6
        if rng.random() < 0.3:
            line["units"] = rng.choice([1, 1, 2, 2, 3, 99])
        if rng.random() < 0.1:
            line["modifiers"] = rng.sample(["59", "XS", "51", "RT"], rng.randint(1, 2))
        lines.append(line)
    if lines and rng.random() < 0.3:  # explicit numbers: in any order, with gaps
        for line, number in zip(lines, rng.sample(range(1, 60), len(lines))):
            line["line"] = number
    doc["lines"] = lines
    return doc


# -- scalars as a file writes them: numbers past Decimal's reach, YAML tags ---------------------


@st.composite
def huge_exponents(draw) -> str:
    """A number's text whose exponent is past what Decimal holds (beyond 10**18 either way),
    as JSON and YAML both write it: `1e99999999999999999999`, `-0.0E+1000000000000000000000`."""
    sign = draw(st.sampled_from(["", "-"]))
    whole = draw(st.sampled_from(["0", "1", "2", "19", "100"]))
    point = draw(st.sampled_from(["", ".0", ".5", ".999"]))
    exponent = draw(st.integers(10**18, 10**40))
    return f"{sign}{whole}{point}{draw(st.sampled_from('eE'))}{draw(st.sampled_from(['', '+', '-']))}{exponent}"


YAML_TAGS = ["!!float", "!!int", "!!bool", "!!timestamp", "!!str", "!!null", "!!binary", "!!set", "!!omap", "!!pairs",
             "!!seq", "!!map", "!!merge", "!!value", "!!python/none", "!local"]
TAG_VALUES = ["", "x", "1", "1.5", "2e0", ".nan", "-.inf", "2026-02-30", "2026-03-01", "2026-03-01 25:00:00", "yes",
              "[]", "{}", "[a]", "{a: 1}", "aGVsbG8=", "1e99999999999999999999"]


@st.composite
def yaml_tagged(draw) -> str:
    """A YAML value with an explicit tag, any tag with any value or none (`!!float`, `!!timestamp x`)."""
    tag, value = draw(st.sampled_from(YAML_TAGS)), draw(st.sampled_from(TAG_VALUES))
    return f"{tag} {value}".rstrip()


def as_text(doc, form: str, raw: dict[str, str]) -> str:
    """A document as JSON or YAML text (flow style, after `---` so that it is read as YAML), the
    strings of `raw` written as the bare text they map to (a number, a tagged value)."""
    import json

    numbers: dict[str, str] = {}

    def decimal(value):
        numbers[f"\0{len(numbers)}"] = str(value)
        return f"\0{len(numbers) - 1}"

    text = json.dumps(doc, default=decimal, ensure_ascii=False)
    for placeholder, bare in {**numbers, **raw}.items():
        text = text.replace(json.dumps(placeholder), bare)
    return text if form == "json" else f"--- {text}\n"
