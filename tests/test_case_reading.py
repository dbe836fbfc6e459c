"""Unit tests of reading and checking cases (mohs_asp/case/check.py) and of the ICD-10-CM lookup."""

from decimal import Decimal

import pytest

from mohs_asp.policy import icd10
from mohs_asp.case.check import parse_case, parse_text
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
    from helpers import check_file

    path = tmp_path / "list.yaml"
    path.write_text("- id: x\n  date_of_service: 2026-03-01\n")
    answer = check_file(str(path), policy)
    assert answer["status"] == "invalid"
    assert answer["errors"][0]["path"] == "" and "object" in answer["errors"][0]["message"]


# -- YAML read as YAML 1.2's core schema: exact decimals, plain decimal integers, true/false -----

@pytest.mark.parametrize("text,value", [
    ("1.99999999999999999", Decimal("1.99999999999999999")), ("2.50", Decimal("2.50")), ("-0.5", Decimal("-0.5")),
    ("17311", 17311), ("0", 0), ("-5", -5), ("+5", 5),
    ("020", "020"), ("010", "010"), ("0x10", "0x10"), ("0o20", "0o20"), ("0b10", "0b10"), ("1:0", "1:0"),
    ("1_000", "1_000"), ("1_0.5", "1_0.5"), ("1:30.5", "1:30.5"),
    ("true", True), ("False", False), ("TRUE", True),
    ("yes", "yes"), ("no", "no"), ("on", "on"), ("Off", "Off"), ("Y", "Y"),
])
def test_yaml_scalars_are_read_the_yaml_1_2_way(text, value):
    got = parse_text(f"x: {text}\n")["x"]
    assert (type(got), got) == (type(value), value)


def test_yaml_dates_stay_dates():
    import datetime as dt

    assert parse_text("d: 2026-03-14\n")["d"] == dt.date(2026, 3, 14)


@pytest.mark.parametrize("field,text,message", [
    ("size_mm", "020", 'must be a number, found the text "020"'),
    ("size_mm", "1:0", 'must be a number, found the text "1:0"'),
    ("recurrent", "yes", 'must be true or false, found the text "yes"'),
    ("recurrent", "on", 'must be true or false, found the text "on"'),
])
def test_yaml_1_1_numbers_and_booleans_are_the_wrong_type(field, text, message, policy):
    doc = parse_text(f"id: t\ndate_of_service: 2026-03-01\nlesions:\n  - {{id: A, diagnosis: C44.311, site: back, "
                     f"{field}: {text}}}\n", ".yaml")
    assert errors(doc, policy) == {f"lesions[0].{field}": message}


def test_a_yaml_line_number_with_a_leading_zero_is_not_octal(policy):
    doc = parse_text("id: t\ndate_of_service: 2026-03-01\nlesions: []\nlines:\n  - {line: 010, code: '99213'}\n")
    assert errors(doc, policy) == {"lines[0].line": 'must be a whole number, found the text "010"'}


@pytest.mark.parametrize("size,large", [("1.99999999999999999", False), ("2.0000000000000000001", True)])
def test_yaml_sizes_are_exact(size, large, policy):
    doc = parse_text(f"id: t\ndate_of_service: 2026-03-01\nlesions:\n  - {{id: A, diagnosis: C44.519, site: back, "
                     f"size_cm: {size}}}\n", ".yaml")
    assert (parse_case(doc, policy).lesions[0].size_um >= 20000) is large


# -- duplicates are reported whatever else is wrong with the entry ------------------------------

def test_a_shared_lesion_id_is_reported_with_the_lesions_other_errors(policy):
    doc = case()
    doc["lesions"].append({"id": "A", "diagnosis": "C44.311", "site": "nosee", "size_cm": 0})
    assert set(errors(doc, policy)) == {"lesions[1].id", "lesions[1].site", "lesions[1].size_cm"}


def test_a_shared_line_number_is_reported_with_the_lines_other_errors(policy):
    doc = case()
    doc["lines"] = [{"line": 2, "code": "17311", "lesion": "A"}, {"code": "1731", "units": 0},
                    {"line": 2, "code": "99213", "modifiers": ["x"]}]
    assert set(errors(doc, policy)) == {"lines[1].line", "lines[1].code", "lines[1].units",
                                        "lines[2].line", "lines[2].modifiers[0]"}


def test_a_line_naming_an_invalid_lesion_is_not_also_told_it_is_missing(policy):
    doc = case(site="nosee")
    doc["lines"] = [{"code": "17311", "lesion": "A"}]
    assert set(errors(doc, policy)) == {"lesions[0].site"}


# -- suggestions ---------------------------------------------------------------------------------

@pytest.mark.parametrize("site,suggestion", [
    ("arm", "(did you mean `forearm` or `upper_arm`?)"), ("leg", "(did you mean `lower_leg`?)"),
    ("upper lip", "(did you mean `lip`?)"), ("nosee", "(did you mean `nose`?)"), ("bakc", "(did you mean `back`?)"),
])
def test_unknown_sites_suggest_names_that_contain_them(site, suggestion, policy):
    assert f"{suggestion}; the sites are " in errors(case(site=site), policy)["lesions[0].site"]


@pytest.mark.parametrize("site", ["face", "trunk", "knee", "Scallp"])
def test_every_plausible_unknown_site_gets_a_suggestion(site, policy):
    assert "did you mean `" in errors(case(site=site), policy)["lesions[0].site"]


@pytest.mark.parametrize("word", ["_", "-", "x", "☃", "\u200b", "a" * 200, "arm" * 60, "%s{}", "(", "*" * 50])
def test_odd_unknown_terms_never_crash(word, policy):
    found = errors(case(site=word, histology=[word]), policy)
    assert found["lesions[0].site"] and found["lesions[0].histology[0]"]


def test_a_field_typo_suggests_the_field_it_shortens(policy):
    assert errors(case(size_c=1), policy)["lesions[0].size_c"].endswith("(did you mean `size_cm`?)")


# -- diagnoses: one dot, after the category --------------------------------------------------------

@pytest.mark.parametrize("spelling", ["C4.4311", "C44.3.11", "c44.311.", ".C44311", "C44311.", "C44..311", "C44."])
def test_a_dot_in_the_wrong_place_is_not_a_code(spelling, policy):
    assert "is not an ICD-10-CM code" in errors(case(diagnosis=spelling), policy)["lesions[0].diagnosis"]


def test_case_checks_codes_with_the_policys_code_shape():
    from mohs_asp.case import field_checks
    from mohs_asp.policy import data as policy_data

    assert field_checks.CODE_SHAPE is policy_data.CODE_SHAPE


# -- a number where text is expected: say to quote it --------------------------------------------

def test_a_number_where_text_is_expected_says_to_quote_it(policy):
    doc = case()
    doc["lines"] = [{"code": 17311, "lesion": "A", "modifiers": [59]}]
    found = errors(doc, policy)
    assert found["lines[0].code"] == 'must be text: write it in quotes, "17311"'
    assert found["lines[0].modifiers[0]"] == 'must be text: write it in quotes, "59"'
