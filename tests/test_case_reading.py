"""Unit tests of reading and checking cases (mohs_asp/case.py) and of the ICD-10-CM lookup."""

from decimal import Decimal

import pytest

from mohs_asp import icd10
from mohs_asp.case import parse_case, parse_text
from mohs_asp.errors import CaseInvalid


def case(**lesion):
    return {"id": "t", "date_of_service": "2026-03-01",
            "lesions": [{"id": "A", "diagnosis": "C44.311", "site": "nose", **lesion}]}


def errors(doc, policy):
    with pytest.raises(CaseInvalid) as e:
        parse_case(doc, policy)
    return {err.path: err.message for err in e.value.errors}


@pytest.mark.parametrize("size,um", [({"size_cm": Decimal("2.0")}, 20000), ({"size_mm": 20}, 20000),
                                     ({"size_mm": Decimal("19.99")}, 19990), ({"size_cm": Decimal("1.999")}, 19990),
                                     ({"size_cm": 1.999}, 19990), ({"size_cm": 2}, 20000),
                                     ({"size_cm": Decimal("1.99999")}, 19999)])
def test_sizes_become_exact_micrometres(size, um, policy):
    assert parse_case(case(**size), policy).lesions[0].size_um == um


def test_json_floats_are_read_exactly():
    assert parse_text('{"x": 1.999}')["x"] == Decimal("1.999")


def test_diagnosis_spellings_mean_the_same(policy):
    for spelling in ("C44.311", "C44311", "c44.311", " c44311 "):
        assert parse_case(case(diagnosis=spelling), policy).lesions[0].diagnosis == "C44.311"


def test_non_billable_category_lists_its_billable_codes(policy):
    message = errors(case(diagnosis="C4A.11"), policy)["lesions[0].diagnosis"]
    assert "C4A.111" in message and "C4A.112" in message


def test_unknown_site_and_term_suggest_the_nearest(policy):
    found = errors(case(site="nosee", histology=["infiltrativ"]), policy)
    assert "`nose`" in found["lesions[0].site"]
    assert "`infiltrative`" in found["lesions[0].histology[0]"]


def test_every_problem_is_reported_at_once(policy):
    doc = case(size_c=1, site="nosee")
    doc["lines"] = [{"code": "1731", "lesion": "A"}, {"code": "17311"}]
    found = errors(doc, policy)
    assert set(found) == {"lesions[0].size_c", "lesions[0].site", "lines[0].code", "lines[1].lesion"}
    assert "`size_cm`" in found["lesions[0].size_c"]


def test_names_are_normalised(policy):
    lesion = parse_case(case(site="Lower Leg", histology=["Spikey-Shaped"], borders="ill-defined"), policy).lesions[0]
    assert (lesion.site, lesion.histology, lesion.borders) == ("lower_leg", ("spikey_shaped",), "ill_defined")


def test_omitted_flags_are_not_documented_and_false_is_kept(policy):
    lesion = parse_case(case(recurrent=False), policy).lesions[0]
    assert lesion.flags == (("recurrent", False),)


def test_line_numbers_default_to_position(policy):
    doc = case()
    doc["lines"] = [{"code": "17311", "lesion": "A"}, {"code": "99213"}]
    assert [l.number for l in parse_case(doc, policy).lines] == [1, 2]


@pytest.mark.parametrize("code,kind", [("C44.311", "billable"), ("C44.31", "category"), ("C4A.11", "category"),
                                       ("C52", "billable"), ("B20", "billable"), ("C44.999", None), ("XYZ", None),
                                       ("C00-C14", None)])
def test_icd10_kinds(code, kind):
    assert icd10.code_set().kind(icd10.normalize(code)) == kind


def test_icd10_text_index_agrees_with_simple_icd_10_cm():
    sicd = pytest.importorskip("simple_icd_10_cm")  # slow import (~1.5 s): once, here
    codes = icd10.code_set()
    sample = [c for c in sicd.get_all_codes(with_dots=True) if sicd.is_category_or_subcategory(c)][::7]
    for code in sample:
        assert codes.kind(code) == ("billable" if sicd.is_leaf(code) else "category"), code


def test_a_top_level_list_is_not_a_case(policy, tmp_path):
    from mohs_asp.api import check_source

    path = tmp_path / "list.yaml"
    path.write_text("- id: x\n  date_of_service: 2026-03-01\n")
    answer = check_source(str(path), policy)
    assert answer["status"] == "invalid"
    assert answer["errors"][0]["path"] == "" and "object" in answer["errors"][0]["message"]
