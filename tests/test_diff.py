"""`mohs-asp diff`, and the author's everyday edit end to end: copy the policy, lower the size
threshold to 1.5 cm, and in three commands see that it lints clean, which tests now fail, and
which cases change."""

import json
import subprocess
from pathlib import Path

import pytest

from mohs_asp.diff import compare_answers, diff_policies
from mohs_asp.policy import load_policy
from helpers import copy_policy

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
from helpers import EXE
needs_exe = pytest.mark.skipif(EXE is None, reason="mohs-asp is not installed in this environment")

# the policy tests on the wrong side of a 1.5 cm threshold: sized between 1.5 and 2.0 cm, and
# meeting no other indication
NOW_LARGE = [
    "a-1.999-cm-lesion-on-the-chest-is-not-large.yaml",
    "a-1.9999-cm-lesion-on-the-thigh-is-not-large.yaml",
    "a-1.99999999999999999-cm-lesion-on-the-back-in-yaml-is-not-large.yaml",
    "a-19.9-mm-lesion-on-the-upper-arm-is-not-large.yaml",
    "a-19.99-mm-lesion-on-the-back-is-not-large.yaml",
    "a-size-with-100-decimal-places-just-under-2.0-cm-on-the-back-is-not-large.yaml",
    "a-size-with-28-decimal-places-just-under-2.0-cm-on-the-back-is-not-large.yaml",
    "a-size-with-40-decimal-places-just-under-2.0-cm-on-the-back-is-not-large.yaml",
]


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
    failed = sorted(Path(line.split(" ", 1)[1]).name for line in test.stdout.splitlines() if line.startswith("FAIL "))
    assert failed == NOW_LARGE
    assert 'lesions[id=A].indications: expected [], got ["large_lesion"]' in test.stdout

    # 3. the cases whose answers change, field by field
    diff = run("diff", "--against", ROOT, "--policy", lowered, TESTS / "policy", TESTS / "examples", "--format", "json")
    assert diff.returncode == 0
    report = json.loads(diff.stdout)
    changed = {Path(c["source"]).name: {x["field"]: (x["old"], x["new"]) for x in c["changes"]} for c in report["changes"]}
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
    assert report["changed_fields"]["decision"] == len(NOW_LARGE)


@needs_exe
def test_diff_text_lists_changes_and_a_summary_and_exit_code_flag(lowered):
    case = TESTS / "policy" / NOW_LARGE[0]
    result = run("diff", "--against", ROOT, "--policy", lowered, case)
    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        str(case),
        "  decision: not_covered -> covered",
        "  lesions[A].indications: [] -> [large_lesion]",
        "  lesions[A].medically_necessary: no -> yes",
        "  lines[1].outcome: denied -> payable",
        "1 of 1 cases changed (decision 1, indications 1, medically_necessary 1, outcome 1); 0 unchanged",
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
