"""Unit tests of the case checker's plans and memos (mohs_asp/case/field_checks.py, case/check.py, words.py):
what they skip or remember changes no answer and no error, stays bounded, and is per policy."""

import itertools
from decimal import Decimal

import pytest

from mohs_asp.case import format as fmt
from mohs_asp.case import field_checks, words
from mohs_asp.policy import icd10
from mohs_asp.case.check import TERMS, Checker, parse_case, read_term
from mohs_asp.errors import CaseInvalid
from mohs_asp.case.field_checks import CHECKS, PLANS, QUIET_WHEN_ABSENT, Plan, Record
from mohs_asp.policy.load import load_policy
from helpers import copy_policy

CASE = {"id": "c", "date_of_service": "2026-03-01",
        "lesions": [{"id": "A", "diagnosis": "c44311", "site": "Lower Leg", "size_mm": 12, "histology": ["Nodular"]}],
        "lines": [{"code": "17311", "lesion": "A"}]}


def errors(doc, policy):
    with pytest.raises(CaseInvalid) as e:
        parse_case(doc, policy)
    return [(err.path, err.message) for err in e.value.errors]


@pytest.mark.parametrize("record,f", [(record, f) for record, fields in fmt.RECORDS.items() for f in fields
                                      if f.type in QUIET_WHEN_ABSENT and not f.required],
                         ids=lambda x: x if isinstance(x, str) else x.name)
def test_a_check_the_plan_skips_for_an_absent_field_finds_and_keeps_nothing(record, f, policy):
    checker, rec = Checker(policy), Record(record, 0)
    rec.values["code"] = "17311"  # a line's code, which some checks of lines consult
    CHECKS[f.type](checker, {}, f, f"{record}.{f.name}", rec)
    assert checker.errors == [] and rec.facts == []
    assert all(v in (None, ()) for k, v in rec.values.items() if k != "code")


def test_the_plan_checks_each_given_or_needed_field_in_the_tables_order():
    plan = Plan(fmt.LESION)
    checked = [f.name for f, _, _ in plan.checks(("site", "recurrent", "id"))]
    assert checked == ["id", "diagnosis", "site", "recurrent"]  # diagnosis: required, so checked (and missed)
    assert [f.name for f, _, _ in plan.checks(("size_mm", "id"))] == ["id", "diagnosis", "site", "size_mm"]
    both = plan.checks(("size_mm", "size_cm"))
    assert (None, "give size_cm or size_mm, not both", False) in both
    lines = [f.name for f, _, _ in PLANS["lines"].checks(("code",))]
    assert lines == ["line", "units", "code", "lesion"]  # defaults, and whether a lesion is needed


def test_the_plans_memo_of_key_orders_is_bounded_and_holds_only_field_names(monkeypatch):
    monkeypatch.setattr(field_checks, "MEMO", 50)
    plan = Plan(fmt.LESION)
    orders = itertools.islice(itertools.permutations(f.name for f in fmt.LESION if f.name != "size_mm"), 120)
    for keys in orders:
        assert [f.name for f, _, _ in plan.checks(keys)][:3] == ["id", "diagnosis", "site"]
        assert len(plan.shapes) <= 50
    plan.shapes.clear()
    plan.checks(("id", "x" * 10_000))
    assert plan.shapes == {}  # a name that is no field is not kept


def test_a_document_checked_twice_gets_the_same_errors(policy):
    bad = {"id": "c", "date_of_service": "2026-02-30",
           "lesions": [{"id": "A", "diagnosis": "C44", "site": "lower legg", "histology": ["nodular", "nodulr"],
                        "size_mm": Decimal("0"), "sizes": 2},
                       {"id": "A", "diagnosis": "X99.999", "site": " ", "size_cm": "2cm"}],
           "lines": [{"code": "17311-59", "lesion": "B", "modifiers": ["5"]}, {"code": "17311", "units": 0}]}
    first = errors(bad, policy)
    assert len(first) >= 10
    assert errors(bad, policy) == first
    assert errors(dict(bad, date_of_service="2026-02-28"), policy) != first  # the memo of dates tells them apart


def test_a_valid_case_read_again_is_the_same_case(policy):
    assert parse_case(CASE, policy) == parse_case(CASE, policy)
    lesion = parse_case(CASE, policy).lesions[0]
    assert (lesion.diagnosis, lesion.site, lesion.size_um, lesion.histology) == ("C44.311", "lower_leg", 12000,
                                                                                ("nodular",))


def test_the_vocabulary_memo_is_per_policy_and_forgets_a_replaced_vocabulary(tmp_path, policy):
    root = copy_policy(tmp_path / "policy")
    sites = root / "data" / "sites.csv"
    sites.write_text(sites.read_text(encoding="utf-8").replace("\nnose,", "\nsnout,"), encoding="utf-8")
    other = load_policy(root)
    nose = dict(CASE, lesions=[dict(CASE["lesions"][0], site="Nose")])
    snout = dict(CASE, lesions=[dict(CASE["lesions"][0], site="snout")])
    assert parse_case(nose, policy).lesions[0].site == "nose"
    assert errors(nose, other)[0][0] == "lesions[0].site"
    assert parse_case(snout, other).lesions[0].site == "snout"
    assert errors(snout, policy)[0][0] == "lesions[0].site"
    assert TERMS[policy] is not TERMS[other]
    other.data.sites = other.data.sites + ("muzzle",)  # replaced: read afresh, not from the memo
    assert parse_case(dict(CASE, lesions=[dict(CASE["lesions"][0], site="Muzzle")]), other).lesions[0].site == "muzzle"


def test_the_memos_are_bounded(monkeypatch):
    seen = {}
    monkeypatch.setattr("mohs_asp.case.check.MEMO", 3)
    for text in ("nose", "Nose", "NOSE", "nose ", "snout"):
        read_term(seen, ("nose",), text)
        assert len(seen) <= 3
    assert seen["snout"] is None and read_term(seen, ("nose",), " NOSE") == "nose"
    for cached in (words.short_problem, field_checks._code_form, field_checks._modifier_form, field_checks._iso_day,
                   field_checks._normalized):
        assert cached.cache_info().maxsize == words.MEMO


def test_a_long_text_is_checked_but_not_remembered():
    words.short_problem.cache_clear()
    assert words.text_problem("x" * (fmt.MAX_TEXT + 1)) == f"is longer than {fmt.MAX_TEXT} characters"
    assert words.short_problem.cache_info().currsize == 0
    assert words.text_problem("ok") is None and words.short_problem.cache_info().currsize == 1


@pytest.mark.parametrize("text", ["2.9", "35", "2.90", "0.0000001", "0.000001", "1E+1", "1e-7", "1." + "0" * 1500,
                                  "5e-1001", "1e2000", "-0.5", "123456789.123456789"])
def test_a_size_is_written_as_its_digits_in_plain_notation(text):
    value = Decimal(text)
    exponent = value.as_tuple().exponent
    assert words.as_written(value) == (str(value) if abs(exponent) > 1000 else format(value, "f"))


@pytest.mark.parametrize("word,known", [("lower legg", ("lower_leg", "upper_arm", "leg")), ("arm", ["forearm", "upper_arm"]),
                                        ("face", ("back", "nose")), ("zzzz", ("nose",)), ("B", ["A", "C"]),
                                        ("x" * 41, ("x" * 41,))])
def test_a_remembered_suggestion_is_the_suggestion(word, known):
    first = words.suggest(word, known)
    assert first == words._suggest(word, list(known)) == words.suggest(word, list(known))


def test_a_long_word_is_suggested_nothing_and_not_remembered():
    words._remembered.cache_clear()
    assert words.suggest("y" * (words.SUGGEST_MAX + 1), ("y",)) == ""
    assert words._remembered.cache_info().currsize == 0
    assert words._remembered.cache_info().maxsize is not None  # bounded


def test_the_billable_codes_under_a_category_are_remembered_per_code_list_and_bounded():
    one = icd10.CodeSet(b"C44\nC441\nC442\n", "one")
    two = icd10.CodeSet(b"C44\nC443\n", "two")
    assert field_checks._billable_under(one, "C44") == "C44.1, C44.2"
    assert field_checks._billable_under(two, "C44") == "C44.3"
    assert field_checks._billable_under(one, "C44") == "C44.1, C44.2"
    categories = [f"{letter}{i:02d}" for letter in "ABC" for i in range(100)]
    many = icd10.CodeSet("".join(f"{c}\n{c}1\n" for c in categories).encode(), "many")
    for category in categories * 2:
        assert field_checks._billable_under(many, category) == f"{category}.1"
        assert len(field_checks._UNDER[many]) <= 256
