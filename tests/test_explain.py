"""Explanations (`mohs-asp explain`, `mohs-asp rules`): derived from the rules, naming the
case's own values, citing rule id, policy sentence and logic/FILE.lp:LINE."""

import json
import re
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from helpers import check, check_file
from mohs_asp.case.check import parse_case
from mohs_asp.explain.why import explain_cases
from mohs_asp.policy.load import default_root, load_policy
from mohs_asp.render import render_explain_full
from helpers import copy_policy

TESTS = Path(__file__).resolve().parent
EXAMPLES = sorted((TESTS / "examples").glob("*.case.json"))
NINE = ["high_risk_area", "recurrent_or_incomplete", "irradiated_skin", "aggressive_or_rapid_growth",
        "ill_defined_borders", "immunosuppressed", "high_risk_metastasis", "tissue_preservation", "large_lesion"]
from helpers import EXE


def explain(doc, policy):
    return explain_cases([parse_case(doc, policy)], policy)[0]


def case(lesion=None, lines=None, patient=None):
    doc = {"id": "x", "date_of_service": "2026-03-01",
           "lesions": [{"id": "A", "diagnosis": "C44.519", "site": "back", **(lesion or {})}],
           "lines": lines if lines is not None else [{"line": 1, "code": "17313", "lesion": "A"}]}
    if patient is not None:
        doc["patient"] = patient
    return doc


def because(answer, indication, lesion=0):
    return next(e for e in answer["lesions"][lesion]["explanation"] if e["indication"] == indication)["because"]


def line_because(answer, number):
    return next(l for l in answer["lines"] if l["line"] == number)["explanation"]["because"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name.removesuffix(".case.json"))
def test_every_example_explains_with_citations(path, policy):
    answer = check_file(str(path), policy, explain=True)
    plain = check(json.loads(path.read_text()), policy)
    if plain["status"] == "invalid":
        assert answer == plain
        return
    # the explanation adds to the answer, never changes it
    stripped = json.loads(json.dumps(answer))
    for lesion in stripped["lesions"]:
        lesion.pop("explanation")
        lesion.pop("would_qualify", None)
        lesion.pop("could_document", None)
    for line in stripped["lines"]:
        line.pop("explanation")
    assert stripped == plain
    for lesion in answer["lesions"]:
        entries = lesion["explanation"]
        assert [e["indication"] for e in entries] == NINE
        assert [e["indication"] for e in entries if e["met"]] == [i for i in NINE if i in lesion["indications"]]
        for e in entries:
            assert_cites(e, policy)
            assert e["because"] and all(isinstance(b, str) and b for b in e["because"])
    for line in answer["lines"]:
        assert_cites(line["explanation"], policy)
        assert line["explanation"]["because"]


def assert_cites(entry, policy):
    rule = policy.rules_by_id[entry["rule"]]
    assert entry["policy"] == rule.policy
    file, line = entry["source"].rsplit(":", 1)
    assert re.fullmatch(r"logic/\w+\.lp", file)
    written = (policy.root / file).read_text().splitlines()[int(line) - 1]
    assert written.startswith(str(rule.node.head)), (entry["source"], written)


def test_why_not_names_the_cases_own_values(policy):
    answer = explain(case({"size_cm": 1.2, "histology": ["nodular"], "recurrent": False}), policy)
    assert because(answer, "large_lesion") == ["size 1.2 cm is below 2.0 cm (in force from 2015-09-21)"]
    assert because(answer, "high_risk_area") == ["site back is not a high-risk recurrence area"]
    aggressive = because(answer, "aggressive_or_rapid_growth")
    assert aggressive[0].startswith("histology nodular has none of the aggressive features: sclerotic, morpheaform")
    assert "rapid growth not documented" in aggressive
    assert because(answer, "recurrent_or_incomplete") == ["documented as recurrent: no", "incomplete excision not documented"]
    assert because(answer, "ill_defined_borders") == ["borders not documented"]


def test_not_documented_differs_from_documented_no(policy):
    absent = explain(case(), policy)
    no = explain(case(patient={"immunosuppressed": False}), policy)
    assert because(absent, "immunosuppressed") == ["immunosuppression not documented"]
    assert because(no, "immunosuppressed") == ["patient documented as immunosuppressed: no"]
    assert because(absent, "large_lesion") == ["size not documented"]


def test_met_indications_say_why_with_values(policy):
    answer = explain(case({"site": "nose", "size_mm": 20, "histology": ["Spikey-Shaped"]}, lines=[]), policy)
    assert because(answer, "high_risk_area") == ["site nose is a high-risk recurrence area"]
    assert because(answer, "large_lesion") == ["size 20 mm is at least 20 mm (2.0 cm) (the threshold in force from 2015-09-21)"]  # in the case's own unit
    assert because(answer, "aggressive_or_rapid_growth") == \
        ["histology spikey_shaped is an aggressive feature (metatypical/infiltrative/spiky)"]
    assert because(answer, "tissue_preservation") == ["site nose is an area of important tissue preservation (face)"]


def test_a_size_is_named_as_the_case_wrote_it_in_its_own_unit(policy):
    """The rules compare whole micrometres; the words name the case's own value and unit, and
    the threshold in that unit with the data's own words after it."""
    mm = explain(case({"size_mm": Decimal("19.99")}), policy)
    assert because(mm, "large_lesion") == ["size 19.99 mm is below 20 mm (2.0 cm) (in force from 2015-09-21)"]
    assert "1.999" not in json.dumps(mm)
    assert because(explain(case({"size_cm": 1.4}), policy), "large_lesion") == ["size 1.4 cm is below 2.0 cm (in force from 2015-09-21)"]
    assert because(explain(case({"size_cm": Decimal("1.50")}), policy), "large_lesion") == ["size 1.50 cm is below 2.0 cm (in force from 2015-09-21)"]
    assert because(explain(case({"size_cm": Decimal("1.99999999")}), policy), "large_lesion") == \
        ["size 1.99999999 cm is below 2.0 cm (in force from 2015-09-21)"]
    assert because(explain(case({"size_mm": 25}), policy), "large_lesion") == ["size 25 mm is at least 20 mm (2.0 cm) (the threshold in force from 2015-09-21)"]
    # what would qualify names the data's threshold in its own words
    needs = [w["needs"] for w in mm["lesions"][0]["would_qualify"] if w["rule"] == "large_lesion"]
    assert needs == [["size at least 2.0 cm"]]


@pytest.mark.skipif(EXE is None, reason="mohs-asp is not installed")
def test_explain_names_a_yaml_size_in_mm_as_written(tmp_path):
    path = tmp_path / "mm.yaml"
    path.write_text("id: mm\ndate_of_service: 2026-03-01\nlesions:\n  - {id: A, diagnosis: C44.519, site: back, "
                    "size_mm: 19.99}\nlines:\n  - {line: 1, code: \"17313\", lesion: A}\n")
    text = subprocess.run([EXE, "explain", str(path)], capture_output=True, text=True).stdout
    assert "size 19.99 mm is below 20 mm (2.0 cm)" in text and "1.999" not in text


def test_a_rule_following_a_reading_is_cited_as_a_reading(policy):
    answer = explain(case({"site": "nose"}, lines=[{"line": 1, "code": "17313", "lesion": "A"},
                                                   {"line": 2, "code": "17315", "lesion": "A"}]), policy)
    wrong, addon = answer["lines"][0]["explanation"], answer["lines"][1]["explanation"]
    assert wrong["rule"] == "mms_wrong_family" and wrong["policy"] is None
    assert wrong["reading"].startswith("A line whose code does not fit its lesion")
    assert addon["rule"] == "mms_addon_without_primary" and addon["policy"] is None
    assert addon["because"] == ["add-on code 17315 has no payable line with its primary code on lesion A"]
    text = render_explain_full(answer)  # the sentence and reading themselves: `mohs-asp rules ID`
    assert "Line 2  17315  DENIED  (mms_addon_without_primary logic/claims.lp:" in text and '""' not in text


def test_a_deep_lesion_takes_17311_wherever_it_is(policy):
    answer = explain(case({"deep_structures": True, "size_cm": 2.5}), policy)
    assert answer["lines"][0]["outcome"] == "denied"
    assert line_because(answer, 1) == ["17313 does not fit lesion A: surgery involving deep structures takes the 17311 family"]


def test_a_denied_line_lists_every_failed_condition(policy):
    answer = explain(case({"diagnosis": "L57.0"}, lines=[{"line": 1, "code": "17311", "lesion": "A"},
                                                         {"line": 2, "code": "17312", "lesion": "B"}]) |
                     {"lesions": [{"id": "A", "diagnosis": "L57.0", "site": "back"},
                                  {"id": "B", "diagnosis": "C44.311", "site": "nose"}]}, policy)
    assert line_because(answer, 1) == ["lesion A meets none of the nine indications",
                                       "diagnosis L57.0 is not on the covered list",
                                       "17311 does not fit site back: site back takes the 17313 family"]
    assert [r["rule"] for r in answer["lines"][0]["explanation"]["rules"]] == \
        ["mms_not_medically_necessary", "mms_diagnosis_not_covered", "mms_wrong_family"]
    assert line_because(answer, 2) == ["add-on code 17312 has no payable line with its primary code on lesion B"]


def test_bundled_and_biopsy_lines_name_their_lines(policy):
    answer = check_file(str(TESTS / "examples" / "same-day-biopsy-then-mohs.case.json"), policy, explain=True)
    assert line_because(answer, 2) == ["lesion A has MMS: the frozen section is combined into its first-stage line 3"]
    assert answer["lines"][3]["explanation"]["rule"] == "biopsy_bundled"
    denied = check_file(str(TESTS / "examples" / "biopsies-two-lesions.case.json"), policy, explain=True)
    assert line_because(denied, 3) == ["lesion C was already biopsied on line 2"]


def test_would_qualify_lists_documentation_for_each_indication(policy):
    answer = explain(case({"size_cm": 1.1, "histology": ["nodular"]}), policy)
    needs = {(w["rule"], tuple(w["needs"])) for w in answer["lesions"][0]["would_qualify"]}
    assert ("large_lesion", ("size at least 2.0 cm",)) in needs
    assert ("recurrent", ("documented as recurrent: yes",)) in needs
    assert ("ill_defined_borders", ("borders documented as ill_defined",)) in needs
    histology = next(n for r, n in needs if r == "aggressive_behavior")[0]
    assert histology.startswith("histology one of: ") and "infiltrative" in histology and "spikey_shaped" in histology
    assert "nodular" not in histology and "micronodular" not in histology
    site = next(n for r, n in needs if r == "high_risk_area")[0]
    assert "nose" in site and "back" not in site
    met = explain(case({"site": "nose"}), policy)
    assert "would_qualify" not in met["lesions"][0]


def test_a_rule_whose_only_case_fact_is_under_not_is_explained(tmp_path):
    """What would qualify for a rule whose data-and-date part reads the case only under `not`
    (`not immunosuppressed(C,false)`): its record binds the case through case(C) (it was an
    unsafe variable, and `explain` of a lesion meeting nothing said the policy does not ground)."""
    copy = copy_policy(tmp_path / "policy")
    with (copy / "logic" / "indications.lp").open("a") as f:
        f.write("\nbig_or_flag(C,L) :- size_um(C,L,S), S >= 30000.\n"
                "indication(C,L,high_risk_metastasis) :- big_or_flag(C,L), not immunosuppressed(C,false).\n")
    policy = load_policy(copy)
    small = explain(case({"size_cm": 0.5, "site": "back"}), policy)
    assert small["lesions"][0]["indications"] == []
    assert "high_risk_metastasis" in {w["indication"] for w in small["lesions"][0]["would_qualify"]}
    assert "high_risk_metastasis" in explain(case({"size_cm": 3.5, "site": "back"}), policy)["lesions"][0]["indications"]


def test_an_authors_new_indication_and_threshold_need_no_python_change(tmp_path):
    root = default_root()
    copy = copy_policy(tmp_path / "policy")
    (copy / "data" / "thresholds.csv").write_text(
        (root / "data" / "thresholds.csv").read_text().replace("large_lesion_min,2.0,cm", "large_lesion_min,15,mm"))
    with (copy / "logic" / "indications.lp").open("a") as f:
        f.write('\n% rule: deep_invasion\n% policy: "Tumors invading deep structures"\n'
                '% because: "the surgery involves deep structures"\n'
                "indication(C,L,deep_invasion) :- deep_structures(C,L,true).\n")
    policy = load_policy(copy)
    small = explain(case({"size_cm": 1.1}), policy)
    entries = small["lesions"][0]["explanation"]
    assert [e["indication"] for e in entries] == NINE + ["deep_invasion"]
    assert because(small, "deep_invasion") == ["deep-structure involvement not documented"]
    assert because(small, "large_lesion") == ["size 1.1 cm is below 1.5 cm (15 mm) (in force from 2015-09-21)"]  # the data's own words after
    deep = next(e for e in entries if e["indication"] == "deep_invasion")
    assert deep["rule"] == "deep_invasion" and deep["source"].startswith("logic/indications.lp:")
    assert deep["policy"] == "Tumors invading deep structures"
    assert ("deep_invasion", ["documented as involving deep structures: yes"]) in \
        [(w["rule"], w["needs"]) for w in small["lesions"][0]["would_qualify"]]
    met = explain(case({"size_mm": 15, "deep_structures": True}), policy)
    assert because(met, "large_lesion") == ["size 15 mm is at least 15 mm (the threshold in force from 2015-09-21)"]
    assert because(met, "deep_invasion") == ["the surgery involves deep structures"]
    assert met["lesions"][0]["indications"] == ["deep_invasion", "large_lesion"]


def test_rules_lists_every_rule_with_its_sentence_and_source(policy):
    assert not policy.unannotated
    ids = [r.id for r in policy.rules]
    assert len(ids) == len(set(ids))
    for rule in policy.rules:
        assert (rule.policy or rule.reading) and re.fullmatch(r"logic/\w+\.lp:\d+", rule.source)


@pytest.mark.skipif(EXE is None, reason="mohs-asp is not installed")
def test_explain_command_text_and_json(policy):
    path = TESTS / "examples" / "trunk-small-nodular-denied.case.json"
    text = subprocess.run([EXE, "explain", str(path)], capture_output=True, text=True)
    assert text.returncode == 1
    assert text.stdout.startswith("trunk-small-nodular-denied: NOT COVERED")
    assert "size 1.1 cm is below 2.0 cm" in text.stdout and "Would qualify" in text.stdout
    assert max(map(len, text.stdout.splitlines())) <= 80
    js = subprocess.run([EXE, "explain", str(path), "--format", "json"], capture_output=True, text=True)
    assert json.loads(js.stdout)["lines"][0]["explanation"]["rule"] == "mms_not_medically_necessary"
    listed = subprocess.run([EXE, "rules", "--format", "json"], capture_output=True, text=True)
    rules = json.loads(listed.stdout)
    source = policy.rules_by_id["large_lesion"].source  # where the rule is written, read apart from `rules`
    file, line = source.split(":")
    assert (policy.root / file).read_text().splitlines()[int(line) - 1].startswith("indication(C,L,large_lesion) :-")
    assert {"id": "large_lesion", "source": source,
            "policy": "Exceptionally large-sized lesions (2.0 cm or greater) in any anatomic region."} in rules


def test_would_qualify_takes_a_lesions_own_facts_fixed_by_the_head(tmp_path):
    """What would qualify is worked out once for a stand-in lesion and reused by every lesion
    that answers the case's questions as the stand-in did; a lesion that already has part of
    what a rule needs, or words naming the lesion, are worked out for the lesion itself."""
    copy = copy_policy(tmp_path / "policy")
    with (copy / "logic" / "indications.lp").open("a") as f:
        f.write('\n% rule: deep_and_large\n% policy: "Deep and large tumors"\n'
                "indication(C,L,deep_and_large) :- deep_structures(C,L,true), size_um(C,L,S), S >= 30000.\n")
    input_lp = copy / "logic" / "input.lp"
    input_lp.write_text(input_lp.read_text().replace('holds: "documented as recurrent: {B}"',
                                                     'holds: "lesion {L} documented as recurrent: {B}"'))
    policy = load_policy(copy)
    lesions = [{"id": "A", "diagnosis": "C44.519", "site": "back", "size_cm": 1.0, "deep_structures": True},
               {"id": "B", "diagnosis": "C44.519", "site": "back", "size_cm": 1.0},
               {"id": "C", "diagnosis": "C44.519", "site": "back", "size_cm": 1.0}]
    answer = explain(case(lines=[]) | {"lesions": lesions}, policy)
    needs = [{w["rule"]: w["needs"] for w in lesion["would_qualify"]} for lesion in answer["lesions"]]
    assert needs[0]["deep_and_large"] == ["size at least 3.0 cm"]
    assert needs[1]["deep_and_large"] == needs[2]["deep_and_large"] == \
        ["documented as involving deep structures: yes", "size at least 3.0 cm"]
    assert [n["recurrent"] for n in needs] == [[f"lesion {x} documented as recurrent: yes"] for x in "ABC"]


def test_an_indication_written_for_one_named_lesion_explains_the_others(tmp_path):
    policy_dir = copy_policy(tmp_path / "policy")
    with (policy_dir / "logic" / "indications.lp").open("a") as f:
        f.write('\n% rule: only_a\n% policy: "Tumors with high-risk metastasis"\n'
                'indication(C,"A",special) :- lesion(C,"A").\n')
    policy = load_policy(policy_dir)
    doc = case() | {"lesions": [{"id": "A", "diagnosis": "C44.519", "site": "back"},
                                {"id": "B", "diagnosis": "C44.519", "site": "back"}], "lines": []}
    answer = explain(doc, policy)
    assert because(answer, "special", lesion=0) == ["rule only_a applies"]
    entry = next(e for e in answer["lesions"][1]["explanation"] if e["indication"] == "special")
    assert (entry["met"], entry["rule"]) == (False, "only_a")
    assert entry["because"] == ["no rule of this policy gives lesion B this indication"]


ONE_LESION = [p for p in EXAMPLES if json.loads(p.read_text()).get("lesions", [None]).__len__() == 1]


def above_footer(lines: list[str]) -> list[str]:
    """The explanation's rows, without the warnings and decision record every text answer ends
    with (after a blank row): what the 40 rows are for."""
    for i, line in enumerate(lines):
        if line.startswith(("warning: ", "decision record: ")) and i and not lines[i - 1]:
            assert lines[-1].startswith(("decision record: ", "  ")), lines[-1]
            return lines[:i - 1]
    return lines


@pytest.mark.parametrize("full", [False, True], ids=["default", "full"])
@pytest.mark.parametrize("path", ONE_LESION, ids=lambda p: p.name.removesuffix(".case.json"))
def test_explain_of_a_one_lesion_case_fits_40_rows_of_80_columns(path, full):
    result = subprocess.run([EXE, "explain", str(path), *(["--full"] if full else [])], capture_output=True, text=True)
    lines = result.stdout.splitlines()
    assert len(above_footer(lines)) <= 40 and max(map(len, lines)) <= 80, path.name


def test_explain_tells_an_office_what_documentation_would_qualify_not_what_it_cannot_change():
    path = next(p for p in EXAMPLES if p.name == "trunk-small-nodular-denied.case.json")
    short = subprocess.run([EXE, "explain", str(path)], capture_output=True, text=True).stdout
    assert short.splitlines()[0] == "trunk-small-nodular-denied: NOT COVERED"
    assert "  - lesion A meets none of the nine indications" in short
    assert "[ ] large_lesion: size 1.1 cm is below 2.0 cm" in short  # a measured size: a fact
    assert "[ ] high_risk_area: site back is not a high-risk recurrence area" in short  # the site: a fact
    would = short[short.index("Would qualify if the record documents any one of:"):]
    text = " ".join(would.split())  # (as wrapped to 80 columns, read as one text)
    assert "borders documented as ill_defined" in text and "documented as growing rapidly: yes" in text
    assert "site one of" not in text and "size at least" not in text  # nothing documentation changes
    # each histologic feature named once, in the policy's words, not every spelling
    assert "metatypical/infiltrative/spiky" in text and "spikey_shaped" not in text
    assert "logic/" not in short and "(mms_" not in short
    full = subprocess.run([EXE, "explain", "--full", str(path)], capture_output=True, text=True).stdout
    assert "(mms_not_medically_necessary logic/claims.lp:" in full and "site one of: ankle" in full


def test_a_denied_two_lesion_case_reads_in_80_by_40(tmp_path):
    path = tmp_path / "two.json"
    path.write_text(json.dumps({
        "id": "two", "date_of_service": "2026-03-01",
        "lesions": [{"id": "A", "diagnosis": "C44.519", "site": "chest"}, {"id": "B", "diagnosis": "L57.0", "site": "nose"}],
        "lines": [{"line": 1, "code": "17313", "lesion": "A"}, {"line": 2, "code": "17311", "lesion": "B"}]}))
    result = subprocess.run([EXE, "explain", str(path)], capture_output=True, text=True)
    lines = result.stdout.splitlines()
    assert result.returncode == 1 and len(above_footer(lines)) <= 40 and max(map(len, lines)) <= 80
    assert lines[0] == "two: NOT COVERED"
    text = "\n".join(lines)
    assert "Line 1  17313  lesion A: DENIED\n  - lesion A meets none of the nine indications" in text
    assert "Line 2  17311  lesion B: DENIED\n  - diagnosis L57.0 is not on the covered list" in text
    assert "Lesion A  chest, C44.519: NOT medically necessary; diagnosis covered" in text
    assert "Lesion B  nose, L57.0: medically necessary; diagnosis NOT covered" in text
    assert "[x] high_risk_area: site nose is a high-risk recurrence area" in text


def test_the_readmes_denied_two_lesion_case_reads_in_80_by_40(tmp_path):
    from helpers import POLICY_TESTS, one_case_texts
    from serving import strip_expect

    name = "a-second-lesion-denied-for-three-reasons-makes-the-case-not-covered"
    text = next(t for path in sorted(POLICY_TESTS.glob("*.yaml")) for n, t in one_case_texts(path) if n == name)
    path = tmp_path / "case.yaml"  # as written: its sizes stay exact
    path.write_text(strip_expect(text))
    lines = subprocess.run([EXE, "explain", str(path)], capture_output=True, text=True).stdout.splitlines()
    assert len(above_footer(lines)) <= 40 and max(map(len, lines)) <= 80
    text = "\n".join(lines)
    assert "Line 3  17311  lesion B: DENIED\n  - lesion B meets none of the nine indications\n" \
           "  - diagnosis L57.0 is not on the covered list\n" \
           "  - 17311 does not fit site back: site back takes the 17313 family" in text
    assert "  not met: recurrent_or_incomplete" in text  # lesion A qualifies: its unmet ones in one list
    assert "    - documented as incompletely excised: yes  (recurrent_or_incomplete)" in text
    assert "documented as recurrent: yes" not in text  # the case says recurrent: false, a fact


def test_the_one_aggressive_histology_rule_over_the_data_explains_each_feature_once(policy):
    """One rule over data/histology.csv (the characteristic K left to the data) stands for the
    eight the policy once had: why not words the characteristics the data gives, what would
    qualify lists the spellings the data allows, and the office's view names each feature once."""
    single = explain(case({"histology": ["nodular"]}), policy)
    assert because(single, "aggressive_or_rapid_growth")[0].startswith(
        "histology nodular has none of the aggressive features: sclerotic, morpheaform, fibrosing, ")
    needs = [w["needs"] for w in single["lesions"][0]["would_qualify"] if w["indication"] == "aggressive_or_rapid_growth"]
    assert needs[1:] == [["documented as growing rapidly: yes"]]
    terms = needs[0][0].removeprefix("histology one of: ").split(", ")
    assert {"spiky", "spikey_shaped", "infiltrative", "sclerotic"} <= set(terms) and len(terms) == len(set(terms))
    short = [n for w in single["lesions"][0]["could_document"] if w["indication"] == "aggressive_or_rapid_growth"
             for n in w["needs"]]
    features = short[0].removeprefix("histology one of: ").split(", ")
    assert "metatypical/infiltrative/spiky" in features and len(features) == len(set(features)) == 8
    met = explain(case({"histology": ["infiltrative"]}), policy)
    assert because(met, "aggressive_or_rapid_growth") == \
        ["histology infiltrative is an aggressive feature (metatypical/infiltrative/spiky)"]


def test_why_not_is_read_off_the_solvers_records_not_worked_out_in_python(policy):
    """The rules explanations ask about come with records of how far their bodies got: the
    deepest record that agrees with the question names the condition that failed."""
    from mohs_asp.engine.solver import Record, solve

    plans = policy.rulebook.plans
    large = policy.rules_by_id["large_lesion"]
    plan = plans.upto[policy.rules.index(large)]
    assert [lit.kind for lit in plan.order] == ["pos", "pos", "pos", "cmp"]
    [solved] = solve(policy, [parse_case(case({"size_cm": 1.1}), policy)], Record.EXPLANATIONS)
    mine = [r for r in solved.reached if r[0] == plan.index]  # (rule number, K, values, next literal's arguments)
    deepest = max(k for _, k, _, _ in mine)
    assert deepest == 3  # size, threshold and date held; the comparison (the fourth) did not
    [record] = [r for r in mine if r[1] == 3]
    assert [str(a) for a in record[3]] == ["11000", "20000"]  # the comparison's two sides
