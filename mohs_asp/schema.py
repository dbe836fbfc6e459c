"""The JSON Schema of the case format (`mohs-asp schema`), for editors and other systems.

It describes the same fields `mohs_asp.case` checks (tests keep the two in step). The vocabulary
fields (site, borders, histology) come from the checker's own table (`case.VOCABULARY`) and the
policy's data: each value is listed by name (`title`) with the pattern of every spelling the
checker reads as it (`case.vocab_pattern`). Checks a schema cannot state (a real ICD-10-CM code,
lesion references, exact sizes) stay in case.py.
"""

from __future__ import annotations

from .case import (CASE_FIELDS, LESION_FIELDS, LINE_FIELDS, MAX_LESIONS, MAX_LINES, MAX_TEXT, PATIENT_FIELDS,
                   VOCABULARY, vocab_pattern)
from .policy import LESION_FLAGS, Policy

MATCHING = "Matched case-insensitively; runs of spaces, hyphens and underscores read as one _."


def vocabulary_schema(policy: Policy, field: str) -> dict:
    """A vocabulary field: one of the values data/ lists, in any spelling the checker accepts."""
    what, attribute = VOCABULARY[field]
    terms = getattr(policy.data, attribute)
    return {"type": "string", "maxLength": MAX_TEXT, "description": f"A {what} of the policy's data/. {MATCHING}",
            "anyOf": [{"title": term, "pattern": vocab_pattern(term)} for term in terms]}


def case_schema(policy: Policy) -> dict:
    text = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}
    flag = {"type": "boolean"}
    lesion_props = {
        "id": {**text, "description": "Unique within the case."},
        "diagnosis": {"type": "string", "pattern": r"^\s*[A-Za-z][0-9A-Za-z][0-9A-Za-z](\.?[0-9A-Za-z]{1,4})?\s*$",
                      "description": "A billable ICD-10-CM code; C44311 and c44.311 mean C44.311."},
        "site": vocabulary_schema(policy, "site"),
        "size_cm": {"type": "number", "exclusiveMinimum": 0, "maximum": 100},
        "size_mm": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000},
        "borders": vocabulary_schema(policy, "borders"),
        "histology": {"type": "array", "items": vocabulary_schema(policy, "histology")},
        **{name: flag for name in LESION_FLAGS},
    }
    line_props = {
        "line": {"type": "integer", "minimum": 1, "description": "Unique; default: the line's position (1-based)."},
        "code": {"type": "string", "pattern": r"^([0-9]{4}[0-9FTUftu]|[A-Za-z][0-9]{4})$"},
        "units": {"type": "integer", "minimum": 1, "maximum": 99, "default": 1},
        "lesion": text,
        "lesions": {"type": "array", "items": text, "minItems": 1, "description": "Biopsy lines only."},
        "modifiers": {"type": "array", "items": {"type": "string", "pattern": "^[0-9A-Za-z]{2}$"}},
        "pre_surgical": {**flag, "description": "Biopsy lines only: a diagnostic biopsy taken before MMS."},
    }
    assert set(lesion_props) == set(LESION_FIELDS) and set(line_props) == set(LINE_FIELDS)
    case_props = {
        "id": text,
        "date_of_service": {"type": "string", "format": "date",
                            "description": "Decides which version of the policy, which data and which ICD-10-CM "
                                           "release judge the claim; outside the policy's versions the case is invalid."},
        "patient": {"type": ["object", "null"], "additionalProperties": False,  # null: no patient facts
                    "properties": {name: flag for name in PATIENT_FIELDS}},
        "lesions": {"type": "array", "maxItems": MAX_LESIONS, "items": {
            "type": "object", "additionalProperties": False, "required": ["id", "diagnosis", "site"],
            "properties": lesion_props, "not": {"required": ["size_cm", "size_mm"]}}},
        "lines": {"type": "array", "maxItems": MAX_LINES, "items": {
            "type": "object", "additionalProperties": False, "required": ["code"],
            "properties": line_props, "not": {"required": ["lesion", "lesions"]}}},
    }
    assert set(case_props) == set(CASE_FIELDS)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "mohs-asp case",
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "date_of_service"],
        "properties": case_props,
    }
