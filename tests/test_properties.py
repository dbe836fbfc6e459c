"""Properties of every answer, over generated cases (tests/strategies.py) and broken ones.

Whatever document arrives, the answer is either a contract-shaped `ok` answer or an `invalid`
answer listing its problems; solving cases together in one Control changes no answer; ids
are data, whatever they hold. The normal run tries few examples (tests/conftest.py, profile
"ci"); `HYPOTHESIS_PROFILE=deep python -m pytest tests/test_properties.py` tries many.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal

import jsonschema

from hypothesis import given
from hypothesis import strategies as st
from strategies import MMS_CODES, POLICY, as_text, cases, documents, huge_exponents, places, yaml_tagged

from helpers import check
from mohs_asp import api
from mohs_asp.case.schema import case_schema
from mohs_asp.case.check import parse_text
from mohs_asp.errors import CaseInvalid

OUTCOMES = {"payable", "bundled", "denied", "not_addressed"}
NINE = {"high_risk_area", "recurrent_or_incomplete", "irradiated_skin", "aggressive_or_rapid_growth",
        "ill_defined_borders", "immunosuppressed", "high_risk_metastasis", "tissue_preservation", "large_lesion"}


def assert_contract_shaped(doc: dict, answer: dict) -> None:
    if answer["status"] == "invalid":
        assert "decision" not in answer
        assert answer["errors"], answer
        for error in answer["errors"]:
            assert isinstance(error["path"], str) and isinstance(error["message"], str) and error["message"]
        return
    assert answer["status"] == "ok", answer
    assert answer["case"] == doc["id"]
    # every lesion and every line of the case, once each, in the case's order
    assert [lesion["id"] for lesion in answer["lesions"]] == [lesion["id"] for lesion in doc.get("lesions") or []]
    given_lines = doc.get("lines") or []
    assert [line["line"] for line in answer["lines"]] == [line.get("line", i) for i, line in enumerate(given_lines, 1)]
    for lesion in answer["lesions"]:
        assert lesion["indications"] == sorted(set(lesion["indications"])) and set(lesion["indications"]) <= NINE
    mms = {line["line"]: line["outcome"] for line in answer["lines"] if line["code"] in MMS_CODES}
    for line in answer["lines"]:
        assert line["outcome"] in OUTCOMES
        assert ("into" in line) == (line["outcome"] == "bundled"), line
        if "into" in line:
            assert line["into"] in mms and line["into"] != line["line"], (line, mms)
    if not mms:
        assert answer["decision"] == "no_mms"
    elif "denied" in mms.values():
        assert answer["decision"] == "not_covered"
    else:
        assert answer["decision"] == "covered" and set(mms.values()) == {"payable"}, (answer["decision"], mms)


@given(documents)
def test_every_answer_is_ok_and_contract_shaped_or_invalid_with_errors(doc):
    assert_contract_shaped(doc, check(doc, POLICY))


@given(cases())
def test_every_generated_valid_case_is_answered(doc):
    answer = check(doc, POLICY)
    assert answer["status"] == "ok", answer.get("errors")


SCHEMA = jsonschema.Draft202012Validator(case_schema(POLICY))


@given(documents)
def test_the_schema_accepts_every_case_check_accepts(doc):
    """`mohs-asp schema` is made from the checker's own description: what check answers, the
    schema accepts (the schema cannot see everything check refuses: ICD-10-CM, references)."""
    if check(doc, POLICY)["status"] == "ok":
        as_json = json.loads(json.dumps(doc, default=lambda v: float(v) if isinstance(v, Decimal) else str(v)))
        assert SCHEMA.is_valid(as_json), next(SCHEMA.iter_errors(as_json)).message


@given(st.lists(documents, min_size=2, max_size=8), st.integers(2, 10))
def test_solving_cases_together_changes_no_answer(docs, chunk_size):
    alone = [check(doc, POLICY) for doc in docs]
    assert list(api.answer(docs, POLICY, chunk_size=chunk_size)) == alone


# Ids hold anything a case may hold: ASP-looking pieces, quotes, backslashes, newlines, Unicode.
ASP_BITS = ['"', "\\", ").", ":-", "%", "%*", "*%", "#show", "\n", "covered.", " ", "A", "#include", "é", "😀"]
ids = st.one_of(st.lists(st.sampled_from(ASP_BITS), min_size=1, max_size=8).map("".join),
                st.text(min_size=1, max_size=30)).filter(lambda s: s.strip() and "\x00" not in s)


@given(cases(), st.lists(ids, min_size=8, max_size=8, unique=True))
def test_ids_are_data_and_come_back_unchanged(doc, new_ids):
    plain = check(doc, POLICY)
    renamed = copy.deepcopy(doc)
    rename = {lesion["id"]: new for lesion, new in zip(doc["lesions"], new_ids)}
    renamed["id"] = new_ids[-1]
    for lesion in renamed["lesions"]:
        lesion["id"] = rename[lesion["id"]]
    for line in renamed["lines"]:
        if "lesion" in line:
            line["lesion"] = rename[line["lesion"]]
        if "lesions" in line:
            line["lesions"] = [rename[name] for name in line["lesions"]]
    expected = copy.deepcopy(plain)
    expected["case"] = new_ids[-1]
    for lesion in expected["lesions"]:
        lesion["id"] = rename[lesion["id"]]
    for line in expected["lines"]:
        if "lesion" in line:
            line["lesion"] = rename[line["lesion"]]
        if "lesions" in line:
            line["lesions"] = [rename[name] for name in line["lesions"]]
    got = check(renamed, POLICY)
    # reasons name lesions in words: as many, each naming the renamed lesions where it named the old
    for line, want in zip(got.get("lines", []), expected.get("lines", [])):
        reasons, old = line.pop("reasons"), want.pop("reasons")
        assert len(reasons) == len(old)
    assert got == expected


# Numbers and YAML tags as a file writes them, anywhere in a case: an answer, never a crash.


@given(cases(), st.sampled_from(["json", "yaml"]), st.data())
def test_a_number_past_decimals_reach_anywhere_is_an_answer(doc, form, data):
    container, key, _ = data.draw(st.sampled_from(list(places(doc))))
    container[key] = "\0huge"
    answer_text(as_text(doc, form, {"\0huge": data.draw(huge_exponents())}), doc)


@given(cases(), st.data())
def test_a_yaml_tag_with_any_value_or_none_anywhere_is_an_answer(doc, data):
    container, key, _ = data.draw(st.sampled_from(list(places(doc))))
    container[key] = "\0tagged"
    text = as_text(doc, "yaml", {"\0tagged": data.draw(yaml_tagged())})
    # flow style ends a bare tag at `,` or `}` only in some readers: the block form too
    answer_text(text, doc)
    answer_text(text.replace("--- ", "---\nx: ", 1), doc)


def answer_text(text: str, doc: dict) -> None:
    try:
        parsed = parse_text(text)
    except CaseInvalid as e:
        assert e.errors and all(error.message for error in e.errors)
        return
    answer = check(parsed, POLICY)
    assert answer["status"] in ("ok", "invalid"), answer
    if answer["status"] == "ok":
        assert_contract_shaped(parsed, answer)
    else:
        assert_contract_shaped(doc, answer)
