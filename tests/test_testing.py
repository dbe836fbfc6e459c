"""`mohs-asp test`: policy test files, their failures field by field, and rule coverage.

The project's own policy tests run here through the installed command, the way CI runs them:
every test passes and every rule that can fire with the shipped data fires in some test."""

import json
import subprocess
from pathlib import Path

import pytest

from mohs_asp.policy import load_policy
from mohs_asp.testing import discover, read_test, run_tests, split_test
from helpers import copy_policy

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
from helpers import EXE
needs_exe = pytest.mark.skipif(EXE is None, reason="mohs-asp is not installed in this environment")

NOSE = """\
id: nose
date_of_service: 2026-03-01
lesions:
  - {id: A, diagnosis: C44.311, site: nose, size_cm: 1.0}
lines:
  - {line: 1, code: "17311", lesion: A}
  - {line: 2, code: "88331", lesion: A}
"""


def run(*args, cwd=None):
    return subprocess.run([EXE, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=120)


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


@needs_exe
def test_the_projects_policy_tests_pass_with_every_rule_covered():
    """CI: tests/policy, tests/invalid and the contract examples through `mohs-asp test --require-coverage`
    (this is where the project's policy cases run)."""
    result = run("test", TESTS / "policy", TESTS / "invalid", TESTS / "examples", "--require-coverage", "--format", "json")
    report = json.loads(result.stdout)
    assert result.returncode == 0, json.dumps(report["failures"] + report["uncovered"], indent=1)
    files = len(list((TESTS / "policy").glob("*.yaml"))) + len(list((TESTS / "invalid").glob("*.yaml"))) \
        + len(list((TESTS / "examples").glob("*.case.json")))
    assert report["tests"] == files and report["passed"] == files and report["failed"] == 0
    assert report["uncovered"] == []
    # every rule of the shipped policy fires in some test
    assert report["fired"] == report["rules"] == len(load_policy().rules)
    assert report["cannot_fire"] == []


def test_every_file_of_tests_invalid_expects_an_invalid_case():
    for path in sorted((TESTS / "invalid").glob("*.yaml")):
        _, expect = split_test(path)
        assert expect.get("status") == "invalid", path.name


def test_a_failure_names_the_file_the_field_and_both_values(tmp_path, policy):
    write(tmp_path, "passes.yaml", NOSE + "expect:\n  decision: covered\n  lines:\n    - {line: 2, outcome: bundled, into: 1}\n")
    failing = write(tmp_path, "fails.yaml", NOSE + (
        "expect:\n  decision: not_covered\n"
        "  lesions:\n    - {id: A, indications: [high_risk_area]}\n"
        "  lines:\n    - {line: 2, outcome: payable}\n"))
    report = run_tests([str(tmp_path)], policy)
    assert [r.path for r in report.failures] == [failing]
    text = report.render()
    assert f"FAIL {failing}" in text
    assert 'decision: expected "not_covered", got "covered"' in text
    assert 'lesions[id=A].indications: expected ["high_risk_area"], got ["high_risk_area", "tissue_preservation"]' in text
    assert 'lines[line=2].outcome: expected "payable", got "bundled"' in text
    assert "2 tests: 1 passed, 1 failed" in text


def test_fired_lists_rules_that_must_fire(tmp_path, policy):
    write(tmp_path, "ok.yaml", NOSE + "expect:\n  fired: [high_risk_area, frozen_section_bundled, anchor_first_stage]\n")
    write(tmp_path, "not-fired.yaml", NOSE + "expect:\n  fired: [large_lesion]\n")
    write(tmp_path, "no-such-rule.yaml", NOSE + "expect:\n  fired: [lrage_lesion]\n")
    report = run_tests([str(tmp_path)], policy)
    failed = {r.path.name: [str(d) for d in r.differences] for r in report.failures}
    assert failed == {"not-fired.yaml": ["fired: expected 'large_lesion', got 'did not fire'"],
                      "no-such-rule.yaml": ["fired: expected 'lrage_lesion', got 'no rule of this policy has that id'"]}


def test_an_example_pair_is_a_test_and_its_expected_file_is_not_run_alone(policy):
    files = discover([str(TESTS / "examples")])
    assert files and all(f.name.endswith(".case.json") for f in files)
    test = read_test(TESTS / "examples" / "nose-bcc-covered.case.json")
    assert test.expect["decision"] == "covered"
    assert not run_tests([str(TESTS / "examples")], policy).failures


def test_coverage_lists_the_rules_no_test_fired_with_file_and_line(tmp_path, policy):
    write(tmp_path, "one.yaml", NOSE + "expect: {decision: covered}\n")
    report = run_tests([str(tmp_path)], policy)
    uncovered = {r.id: r.source for r in report.uncovered}
    assert "large_lesion" in uncovered and uncovered["large_lesion"].startswith("logic/indications.lp:")
    assert "high_risk_area" not in uncovered
    assert report.ok() and not report.ok(require_coverage=True)
    assert "Rules no test made fire" in report.render()


@needs_exe
def test_the_command_exits_1_on_a_failure_or_on_missing_coverage_when_required(tmp_path):
    write(tmp_path / "good", "one.yaml", NOSE + "expect: {decision: covered}\n")
    write(tmp_path / "bad", "one.yaml", NOSE + "expect: {decision: no_mms}\n")
    assert run("test", tmp_path / "good").returncode == 0
    covered = run("test", tmp_path / "good", "--require-coverage")
    assert covered.returncode == 1 and "large_lesion" in covered.stdout
    failed = run("test", tmp_path / "bad")
    assert failed.returncode == 1 and 'decision: expected "no_mms", got "covered"' in failed.stdout


@needs_exe
def test_a_file_without_expect_fails_and_no_test_files_is_bad_usage(tmp_path):
    write(tmp_path / "t", "plain.yaml", NOSE)
    result = run("test", tmp_path / "t")
    assert result.returncode == 1 and "no `expect:` in the file" in result.stdout
    (tmp_path / "empty").mkdir()
    empty = run("test", tmp_path / "empty")
    assert empty.returncode == 2 and "no test files" in empty.stderr
    assert run("test", tmp_path / "nowhere").returncode == 2


@needs_exe
def test_without_a_path_the_policy_folders_tests_run(tmp_path):
    folder = copy_policy(tmp_path / "policy")
    assert run("test", "--policy", folder).returncode == 2  # no tests/ in this copy: say so
    write(folder / "tests", "one.yaml", NOSE + "expect: {decision: covered}\n")
    result = run("test", "--policy", folder)
    assert result.returncode == 0 and "1 test: 1 passed, 0 failed" in result.stdout
