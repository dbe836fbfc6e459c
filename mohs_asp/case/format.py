"""The case format, described once: every field of a case file, as a table.

Each row names a field and says what it is: its type (which check reads it, case/check.py's
`CHECKS`), its unit, whether it is required, the vocabulary of data/ its values come from, the
fact it becomes for the solver (logic/input.lp documents each) and the words an explanation
uses when a case leaves it out. The checker (case/check.py), the JSON Schema (`mohs-asp schema`,
schema.py), the facts handed to clingo (engine.case_facts), lint's domains and its check of
logic/input.lp, and the test generators (tests/strategies.py) all read this table: a new
optional lesion field is one row here and its `%!` entry in logic/input.lp.

Plain classes and tuples: this module is on `check`'s start-up path and imports nothing.
"""

from __future__ import annotations

MAX_LESIONS = 100
MAX_LINES = 500
MAX_TEXT = 200  # characters in an id or a term
MAX_LINE_NUMBER = 2**31 - 1  # the solver's numbers are 32-bit; the contract asks only for a positive int


class Field:
    """One field of a record of the case format.

    type: the check that reads it (case.CHECKS) and the schema that states it (schema.TYPES);
    vocabulary: (the PolicyData attribute listing the values, what a message calls one);
    fact: the predicate it becomes (None: it becomes no fact of its own); absent: the words
    for a fact the case leaves out, as explanations say it; group: a field given instead of
    another (`size_cm` or `size_mm`), named by the first of them; only_for: the code set whose
    lines alone may give it; unique: the words for a value two records may not share; also:
    other names a billing office may give the field (`location` for `site`), each answered
    with "did you mean" the field."""

    __slots__ = ("name", "type", "unit", "required", "vocabulary", "fact", "absent", "description", "low", "high",
                 "default", "group", "only_for", "unique", "also")

    def __init__(self, name: str, type: str, *, unit: str | None = None, required: bool = False,
                 vocabulary: tuple[str, str] | None = None, fact: str | None = None, absent: str | None = None,
                 description: str | None = None, low: int | None = None, high: int | None = None,
                 default: object = None, group: str | None = None, only_for: str | None = None,
                 unique: str | None = None, also: tuple[str, ...] = ()):
        self.name, self.type, self.unit, self.required = name, type, unit, required
        self.vocabulary, self.fact, self.absent, self.description = vocabulary, fact, absent, description
        self.low, self.high, self.default, self.group, self.only_for, self.unique = low, high, default, group, only_for, unique
        self.also = also

    def __repr__(self) -> str:
        return f"Field({self.name!r}, {self.type!r})"


def _flag(name: str, absent: str) -> Field:
    return Field(name, "flag", fact=name, absent=absent)


# A record's fields in the order the checker reads them (and reports their problems).
CASE = (
    Field("id", "text", required=True),
    Field("date_of_service", "date", required=True, fact="date_of_service", also=("dos", "date", "service_date"),
          description="Decides which version of the policy, which data and which ICD-10-CM release judge the claim; "
                      "outside the policy's versions the case is invalid."),
    Field("patient", "record"),
    Field("lesions", "records", high=MAX_LESIONS),
    Field("lines", "records", high=MAX_LINES),
)
PATIENT = (
    Field("immunosuppressed", "flag", fact="immunosuppressed", absent="immunosuppression not documented"),
)
LESION = (
    Field("id", "text", required=True, unique='lesion id "{}"', description="Unique within the case."),
    Field("diagnosis", "icd10", required=True, fact="diagnosis", absent="diagnosis not documented",
          also=("dx", "icd10", "icd_10", "icd10_code", "icd_code", "diagnosis_code"),
          description="A billable ICD-10-CM code; C44311 and c44.311 mean C44.311."),
    Field("site", "vocabulary", required=True, vocabulary=("sites", "site"), fact="site", absent="site not documented",
          also=("location", "anatomic_site", "anatomical_site", "body_site", "area", "region")),
    Field("size_cm", "size", unit="cm", group="size", fact="size_um", absent="size not documented"),
    Field("size_mm", "size", unit="mm", group="size", fact="size_um", absent="size not documented"),
    Field("borders", "vocabulary", vocabulary=("borders", "borders value"), fact="borders",
          absent="borders not documented"),
    Field("histology", "vocabulary_list", vocabulary=("histology", "histology term"), fact="histology",
          absent="histology not documented"),
    _flag("recurrent", "recurrence not documented"),
    _flag("incompletely_excised", "incomplete excision not documented"),
    _flag("previously_irradiated", "prior irradiation not documented"),
    _flag("rapid_growth", "rapid growth not documented"),
    _flag("high_risk_metastasis", "high-risk metastasis not documented"),
    _flag("deep_structures", "deep-structure involvement not documented"),
)
LINE = (
    Field("line", "whole", default="position", low=1, high=MAX_LINE_NUMBER, unique="line number {}",
          description="Unique; default: the line's position (1-based)."),
    Field("units", "whole", low=1, high=99, default=1, fact="units", also=("quantity", "qty", "unit_count")),
    Field("code", "code", required=True, also=("cpt", "cpt_code", "hcpcs", "procedure", "procedure_code")),
    Field("lesion", "lesion_ref", group="lesion", fact="line_lesion", absent="line {N} names no lesion"),
    Field("lesions", "lesion_refs", group="lesion", only_for="biopsy", fact="line_lesion",
          absent="line {N} names no lesion", description="Biopsy lines only."),
    Field("pre_surgical", "flag", only_for="biopsy", fact="pre_surgical", absent="not marked pre-surgical",
          description="Biopsy lines only: a diagnostic biopsy taken before MMS."),
    Field("modifiers", "modifiers"),
)
RECORDS = {"": CASE, "patient": PATIENT, "lesions": LESION, "lines": LINE}

# The facts of the records themselves (engine.case_facts), beside the fields': a case, each of
# its lesions, each line with its code, and the number a five-digit code reads as.
RECORD_FACTS = {"case": 1, "lesion": 2, "line": 3, "code_num": 2}
# A field's fact carries the case, the record's key (a lesion's id, a line's number) and the value;
# a line's lesions also their position on the line.
_ARITY = {"": 2, "patient": 2, "lesions": 3, "lines": 3}


def names(record: tuple[Field, ...]) -> tuple[str, ...]:
    return tuple(f.name for f in record)


def lesion_flags() -> tuple[str, ...]:
    return tuple(f.name for f in LESION if f.type == "flag")


def facts() -> dict[str, int]:
    """Every fact a case becomes, with its arity: what logic/input.lp must document (lint)."""
    out = dict(RECORD_FACTS)
    for record, fields in RECORDS.items():
        for f in fields:
            if f.fact is not None:
                out[f.fact] = _ARITY[record] + (f.type in ("lesion_ref", "lesion_refs"))
    return out


def absent_words() -> dict[tuple[str, int], str]:
    """The words for each fact a case may leave out, by predicate and arity (explanations)."""
    arity = facts()
    return {(f.fact, arity[f.fact]): f.absent for fields in RECORDS.values() for f in fields
            if f.fact is not None and f.absent is not None}
