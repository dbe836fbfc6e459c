"""`mohs-asp diff`, and the author's everyday edit end to end: copy the policy, lower the size
threshold to 1.5 cm, and in three commands see that it lints clean, which tests now fail, and
which cases change."""

import json
import subprocess
from pathlib import Path

import pytest

from mohs_asp.authoring.diff import compare_answers, diff_policies
from mohs_asp.policy.load import load_policy
from helpers import copy_policy, one_case_texts, policy_tests

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
from helpers import EXE
needs_exe = pytest.mark.skipif(EXE is None, reason="mohs-asp is not installed in this environment")

# the policy tests on the wrong side of a 1.5 cm threshold: sized between 1.5 and 2.0 cm, and
# meeting no other indication (tests of tests/policy/large-lesions.yaml, by name)
NOW_LARGE = [
    "a-1.999-cm-lesion-on-the-chest-is-not-large",
    "a-1.9999-cm-lesion-on-the-thigh-is-not-large",
    "a-1.99999999999999999-cm-lesion-on-the-back-in-yaml-is-not-large",
    "a-19.9-mm-lesion-on-the-upper-arm-is-not-large",
    "a-19.99-mm-lesion-on-the-back-is-not-large",
    "a-size-with-100-decimal-places-just-under-2.0-cm-on-the-back-is-not-large",
    "a-size-with-28-decimal-places-just-under-2.0-cm-on-the-back-is-not-large",
    "a-size-with-40-decimal-places-just-under-2.0-cm-on-the-back-is-not-large",
]


def name(source: str) -> str:
    """A case as these tests name it: a named test's name (FILE::NAME), else its file's name."""
    return source.rpartition("::")[2] if "::" in source else Path(source).name


def run(*args, cwd=None):
    return subprocess.run([EXE, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.fixture
def lowered(tmp_path) -> Path:
    """A copy of the policy with the size threshold lowered to 1.5 cm."""
    folder = copy_policy(tmp_path / "my-policy")
    thresholds = folder / "data" / "thresholds.csv"
    text = thresholds.read_text()
    assert "large_lesion_min,2.0,cm," in text
    thresholds.write_text(text.replace("large_lesion_min,2.0,cm,", "large_lesion_min,1.5,cm,"))
    return folder


@needs_exe
def test_lowering_the_threshold_lints_clean_fails_the_boundary_tests_and_changes_those_cases(lowered):
    # 1. it lints clean
    lint = run("lint", "--policy", lowered)
    assert lint.returncode == 0 and lint.stdout.splitlines()[-1].startswith("0 errors")

    # 2. exactly the tests below the old threshold fail, each naming the field that changed
    test = run("test", "--policy", lowered, TESTS / "policy", TESTS / "invalid")
    assert test.returncode == 1
    failed = sorted(name(line.split(" ", 1)[1]) for line in test.stdout.splitlines() if line.startswith("FAIL "))
    assert failed == NOW_LARGE
    assert 'lesions[id=A].indications: expected [], got ["large_lesion"]' in test.stdout

    # 3. the cases whose answers change, field by field
    diff = run("diff", "--against", ROOT, "--policy", lowered, TESTS / "policy", TESTS / "examples", "--format", "json")
    assert diff.returncode == 0
    report = json.loads(diff.stdout)
    changed = {name(c["source"]): {x["field"]: (x["old"], x["new"]) for x in c["changes"]} for c in report["changes"]}
    assert set(NOW_LARGE) <= set(changed)
    assert changed[NOW_LARGE[0]] == {
        "decision": ("not_covered", "covered"),
        "lesions[A].indications": ([], ["large_lesion"]),
        "lesions[A].medically_necessary": (False, True),
        "lines[1].outcome": ("denied", "payable"),
    }
    # a 1.8 cm lesion that was covered anyway still gains the indication
    assert changed["prior-authorization-question.case.json"] == {
        "lesions[A].indications": (["recurrent_or_incomplete"], ["large_lesion", "recurrent_or_incomplete"])}
    assert report["changed"] == len(changed) == len(NOW_LARGE) + 1
    assert report["cases"] == report["changed"] + report["unchanged"]
    assert report["by_field"] == {"decision": len(NOW_LARGE), "lesions[].indications": len(NOW_LARGE) + 1,
                                  "lesions[].medically_necessary": len(NOW_LARGE), "lines[].outcome": len(NOW_LARGE)}
    assert report["by_rule"] == {"large_lesion": {"gained": len(NOW_LARGE) + 1, "lost": 0},
                                 "mms_not_medically_necessary": {"gained": 0, "lost": len(NOW_LARGE)},
                                 "mms_payable": {"gained": len(NOW_LARGE), "lost": 0}}


@needs_exe
def test_diff_text_lists_changes_and_a_summary_and_exit_code_flag(lowered, tmp_path):
    case = tmp_path / f"{NOW_LARGE[0]}.yaml"  # the test alone, as a one-case file
    case.write_text(dict(one_case_texts(TESTS / "policy" / "large-lesions.yaml"))[NOW_LARGE[0]])
    result = run("diff", "--against", ROOT, "--policy", lowered, case)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        str(case),
        "  decision: not_covered -> covered",
        "  lesions[A].indications: +large_lesion",
        "  lesions[A].medically_necessary: no -> yes",
        "  lines[1].outcome: denied -> payable",
        "1 of 1 case changed, 0 unchanged; decision: 1 case; lesions[].indications: 1 lesion; "
        "lesions[].medically_necessary: 1 lesion; lines[].outcome: 1 line; by rule: large_lesion +1, "
        "mms_not_medically_necessary -1, mms_payable +1",
    ]
    assert run("diff", "--against", ROOT, "--policy", lowered, case, "--exit-code").returncode == 1
    assert run("diff", "--against", ROOT, case, "--exit-code").returncode == 0


def test_json_lines_many_cases_and_unreadable_lines(tmp_path, lowered):
    case = json.loads((TESTS / "examples" / "trunk-small-nodular-denied.case.json").read_text())
    lines = []
    for i in range(1200):  # more than two chunks of 500
        case["id"] = f"case-{i}"
        case["lesions"][0]["size_cm"] = 1.0 + (i % 10) / 10  # 1.0 .. 1.9 cm on the back
        lines.append(json.dumps(case))
    lines.insert(7, '{"id": "broken"')
    (tmp_path / "cases.jsonl").write_text("\n".join(lines) + "\n\n")
    report = diff_policies([str(tmp_path / "cases.jsonl")], load_policy(ROOT), load_policy(lowered))
    assert report.cases == 1202  # the blank last line is a case too, invalid as batch answers it
    # 1.5 .. 1.9 cm: half the cases become covered; the broken and blank lines are invalid under both
    assert len(report.changed) == 600
    assert {c.source.rsplit(":", 1)[1] for c in report.changed[:2]} == {"6", "7"}
    assert all(c.case.startswith("case-") for c in report.changed)


def test_a_data_edit_that_makes_cases_invalid_shows_status_and_errors(tmp_path):
    folder = copy_policy(tmp_path / "no-nose")
    sites = folder / "data" / "sites.csv"
    sites.write_text("".join(line for line in sites.read_text().splitlines(keepends=True) if not line.startswith("nose,")))
    report = diff_policies([str(TESTS / "examples" / "nose-bcc-covered.case.json")], load_policy(ROOT), load_policy(folder))
    fields = {c.field: (c.old, c.new) for c in report.changed[0].changes}
    assert fields["status"] == ("ok", "invalid")
    assert fields["decision"] == ("covered", None)
    assert fields["errors"][0] is None and fields["errors"][1][0].startswith("lesions[0].site:")


def test_compare_answers_matches_lesions_by_id_and_lines_by_number():
    old = {"status": "ok", "decision": "covered",
           "lesions": [{"id": "A", "indications": ["x"], "medically_necessary": True, "diagnosis_covered": True}],
           "lines": [{"line": 1, "outcome": "payable", "rules": ["a"]}, {"line": 2, "outcome": "bundled", "into": 1}]}
    new = {"status": "ok", "decision": "covered",
           "lesions": [{"id": "A", "indications": ["x"], "medically_necessary": True, "diagnosis_covered": True}],
           "lines": [{"line": 2, "outcome": "bundled", "into": 3}, {"line": 1, "outcome": "payable", "rules": ["b"]}]}
    changes = compare_answers(old, new)
    assert [(c.field, c.old, c.new) for c in changes] == [("lines[2].into", 1, 3)]  # rule ids are not compared


# -- for people who run it daily: --only, +x -y, counts by field and by rule --------------------


@needs_exe
def test_only_keeps_the_changes_of_the_fields_named(lowered):
    def changed(*only):
        result = run("diff", "--against", ROOT, "--policy", lowered, TESTS / "policy", TESTS / "examples",
                     *only, "--format", "json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        return report, {name(c["source"]): sorted(x["field"] for x in c["changes"]) for c in report["changes"]}

    report, cases = changed("--only", "decision")
    # the 1.8 cm lesion of prior-authorization-question gains an indication but keeps its decision:
    # not listed, not counted
    assert set(cases) == set(NOW_LARGE) and all(fields == ["decision"] for fields in cases.values())
    n = len(NOW_LARGE)
    assert (report["changed"], report["only"], report["by_field"]) == (n, ["decision"], {"decision": n})
    assert report["unchanged"] == report["cases"] - n
    report, cases = changed("--only", "indications")
    assert report["changed"] == n + 1 and "prior-authorization-question.case.json" in cases
    assert report["by_rule"] == {"large_lesion": {"gained": n + 1, "lost": 0}}
    # repeated or as a comma list; `lines` keeps every field of a line
    for only in (["--only", "decision,lines"], ["--only", "decision", "--only", "lines"]):
        report, cases = changed(*only)
        assert cases[NOW_LARGE[0]] == ["decision", "lines[1].outcome"] and report["only"] == ["decision", "lines"]
    report, cases = changed("--only", "lesions")
    assert cases[NOW_LARGE[0]] == ["lesions[A].indications", "lesions[A].medically_necessary"]


@needs_exe
def test_only_names_what_it_takes_when_a_field_is_unknown():
    result = run("diff", "--against", ROOT, TESTS / "examples", "--only", "decison")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--only 'decison' is not a field diff compares (did you mean `decision`?); the fields are status, decision, errors, " \
           "lesions, indications, medically_necessary, diagnosis_covered, lines, outcome, into" in result.stderr


@needs_exe
def test_lists_show_what_they_gained_and_lost_and_the_count_names_fields_and_rules(lowered):
    case = TESTS / "examples" / "prior-authorization-question.case.json"
    gained = run("diff", "--against", ROOT, "--policy", lowered, case).stdout.splitlines()
    assert gained[1] == "  lesions[A].indications: +large_lesion"
    lost = run("diff", "--against", lowered, "--policy", ROOT, case).stdout.splitlines()  # the edit undone
    assert lost[1] == "  lesions[A].indications: -large_lesion"
    assert lost[-1] == "1 of 1 case changed, 0 unchanged; lesions[].indications: 1 lesion; by rule: large_lesion -1"
    both = run("diff", "--against", ROOT, "--policy", lowered, TESTS / "policy", TESTS / "invalid", TESTS / "examples").stdout.splitlines()
    cases = len(policy_tests()) + sum(len(list((TESTS / folder).glob(pattern))) for folder, pattern in
                                      (("invalid", "*.yaml"), ("examples", "*.case.json")))
    n = len(NOW_LARGE)
    assert both[-1] == (f"{n + 1} of {cases:,} cases changed, {cases - n - 1:,} unchanged; decision: {n} cases; "
                        f"lesions[].indications: {n + 1} lesions; lesions[].medically_necessary: {n} lesions; "
                        f"lines[].outcome: {n} lines; by rule: large_lesion +{n + 1}, mms_not_medically_necessary -{n}, "
                        f"mms_payable +{n}")


def test_a_list_losing_and_gaining_shows_both_and_errors_are_sentences():
    old = {"status": "ok", "decision": "covered",
           "lesions": [{"id": "A", "indications": ["high_risk_area", "tissue_preservation"],
                        "indication_rules": {"high_risk_area": ["high_risk_area"], "tissue_preservation": ["tissue_preservation"]}}],
           "lines": []}
    new = {"status": "ok", "decision": "covered",
           "lesions": [{"id": "A", "indications": ["large_lesion", "tissue_preservation"],
                        "indication_rules": {"large_lesion": ["large_lesion"], "tissue_preservation": ["tissue_preservation"]}}],
           "lines": []}
    [change] = compare_answers(old, new)
    assert change.text() == "+large_lesion -high_risk_area"
    assert (change.gained, change.lost) == (("large_lesion",), ("high_risk_area",))
    invalid = {"status": "invalid", "errors": [{"path": "lesions[0].site", "message": '"nose" is not a known site'},
                                               {"path": "id", "message": "is required"}]}
    errors = next(c for c in compare_answers(old, invalid) if c.field == "errors")
    assert errors.text() == '+lesions[0].site: "nose" is not a known site; +id: is required'


def test_a_line_whose_outcome_and_into_change_counts_its_rules_once():
    old = {"lines": [{"line": 2, "outcome": "bundled", "into": 1, "rules": ["frozen_section_bundled"]}]}
    new = {"lines": [{"line": 2, "outcome": "payable", "rules": ["frozen_section_payable"]}]}
    outcome, into = compare_answers(old, new)
    assert (outcome.field, outcome.gained, outcome.lost) == ("lines[2].outcome", ("frozen_section_payable",), ("frozen_section_bundled",))
    assert (into.field, into.old, into.new, into.gained, into.lost) == ("lines[2].into", 1, None, (), ())


@needs_exe
def test_each_case_of_a_file_of_several_named_tests_is_diffed(tmp_path, lowered):
    back = json.loads((TESTS / "examples" / "trunk-small-nodular-denied.case.json").read_text())
    back["lesions"][0]["size_cm"] = 1.6
    nose = json.loads((TESTS / "examples" / "nose-bcc-covered.case.json").read_text())
    several = tmp_path / "topic.json"
    several.write_text(json.dumps([{"name": "a 1.6 cm back lesion", **back, "expect": {"decision": "not_covered"}},
                                   {"name": "the nose lesion", **nose}]))
    result = run("diff", "--against", ROOT, "--policy", lowered, several, "--format", "json")
    report = json.loads(result.stdout)
    assert report["cases"] == 2
    assert [c["source"] for c in report["changes"]] == [f"{several}::a 1.6 cm back lesion"]
    text = run("diff", "--against", ROOT, "--policy", lowered, several).stdout.splitlines()
    assert text[0] == f"{several}::a 1.6 cm back lesion (case {back['id']})"
