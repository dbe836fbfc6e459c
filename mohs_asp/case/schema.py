"""The JSON Schema of the case format (`mohs-asp schema`), for editors and other systems.

It is made from the same table the checker reads (case/format.py): each field's type has its
schema here (`TYPES`), its vocabulary the values of the policy's data, each listed by name
(`title`) with the pattern of every spelling the checker reads as it (`words.vocab_pattern`).
Checks a schema cannot state (a real ICD-10-CM code, lesion references, exact sizes, which
code set a line's code is in) stay in the checker.
"""

from __future__ import annotations

from . import format as fmt
from .format import MAX_TEXT
from ..policy.load import Policy
from .words import vocab_pattern

MATCHING = "Matched case-insensitively; runs of spaces, hyphens and underscores read as one _."
TEXT = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}
MAX_SIZE = {"cm": 100, "mm": 1000}  # 100 cm


def vocabulary_schema(policy: Policy, f: fmt.Field) -> dict:
    """A vocabulary field: one of the values data/ lists, in any spelling the checker accepts."""
    attribute, what = f.vocabulary
    terms = getattr(policy.data, attribute)
    return {"type": "string", "maxLength": MAX_TEXT, "description": f"A {what} of the policy's data/. {MATCHING}",
            "anyOf": [{"title": term, "pattern": vocab_pattern(term)} for term in terms]}


def _whole(policy: Policy, f: fmt.Field) -> dict:
    out = {"type": "integer", "minimum": f.low, "maximum": f.high}
    return {**out, "default": f.default} if isinstance(f.default, int) else out


TYPES = {
    "text": lambda policy, f: dict(TEXT),
    "date": lambda policy, f: {"type": "string", "format": "date"},
    "icd10": lambda policy, f: {"type": "string",
                                "pattern": r"^\s*[A-Za-z][0-9A-Za-z][0-9A-Za-z](\.?[0-9A-Za-z]{1,4})?\s*$"},
    "vocabulary": vocabulary_schema,
    "vocabulary_list": lambda policy, f: {"type": "array", "items": vocabulary_schema(policy, f)},
    "size": lambda policy, f: {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_SIZE[f.unit]},
    "flag": lambda policy, f: {"type": "boolean"},
    "whole": _whole,
    "code": lambda policy, f: {"type": "string", "pattern": r"^([0-9]{4}[0-9FTUftu]|[A-Za-z][0-9]{4})$"},
    "lesion_ref": lambda policy, f: dict(TEXT),
    "lesion_refs": lambda policy, f: {"type": "array", "items": dict(TEXT), "minItems": 1},
    "modifiers": lambda policy, f: {"type": "array", "items": {"type": "string", "pattern": "^[0-9A-Za-z]{2}$"}},
    "record": lambda policy, f: {"type": ["object", "null"], **record_schema(policy, f.name)},  # null: no facts
    "records": lambda policy, f: {"type": "array", "maxItems": f.high,
                                  "items": {"type": "object", **record_schema(policy, f.name)}},
}


def record_schema(policy: Policy, name: str) -> dict:
    """A record's fields: each as its type states it, those required, and at most one of a group."""
    fields = fmt.RECORDS[name]
    out: dict = {"additionalProperties": False}
    required = [f.name for f in fields if f.required]
    if required:
        out["required"] = required
    out["properties"] = {f.name: {**TYPES[f.type](policy, f), **({"description": f.description} if f.description else {})}
                         for f in fields}
    groups = {f.group: [g.name for g in fields if g.group == f.group] for f in fields if f.group}
    if groups:
        out["not"] = {"anyOf": [{"required": names} for names in groups.values()]} if len(groups) > 1 \
            else {"required": next(iter(groups.values()))}
    return out


def case_schema(policy: Policy) -> dict:
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "mohs-asp case", "type": "object",
            **record_schema(policy, "")}
