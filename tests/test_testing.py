"""`mohs-asp test`: policy test files, their failures field by field, and rule coverage.

The project's own policy tests run here through the installed command, the way CI runs them:
every test passes and every rule that can fire with the shipped data fires in some test."""

import json
import subprocess
from pathlib import Path

import pytest

from mohs_asp.policy.load import load_policy
from mohs_asp.authoring.policy_tests import discover, read_test, split_test
from mohs_asp.authoring.runner import run_tests
from helpers import copy_policy, policy_tests

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
    files = len(policy_tests()) + len(list((TESTS / "invalid").glob("*.yaml"))) \
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
    assert failed.keys() == {"not-fired.yaml", "no-such-rule.yaml"}
    assert failed["not-fired.yaml"] == ["fired: expected 'large_lesion', got 'did not fire'"]
    [unknown] = failed["no-such-rule.yaml"]
    assert unknown.startswith("fired: expected 'lrage_lesion', got 'no rule of this policy has that id "
                              "(did you mean `large_lesion`")


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
    listed = report.render(coverage=True).splitlines()
    assert listed[0] == f"Rules no test made fire ({len(uncovered)} of {len(report.rules)}):"
    assert [line.split() for line in listed[1:-1]] == [[r.id, r.source] for r in report.uncovered]
    # without --coverage: one line, naming the first few
    brief = report.render().splitlines()
    assert len(brief) == 2 and brief[0].startswith(f"{len(uncovered)} rules fired by no test: {report.uncovered[0].id}")
    assert brief[0].endswith(" ...; --coverage lists them") and "logic/" not in brief[0]
    assert report.render(quiet=True).splitlines() == brief[1:]
    # --require-coverage fails the run on them, so it lists them as --coverage does
    assert report.render(require_coverage=True) == report.render(coverage=True)


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


# -- for people who run it daily: -k, -x, -q, --coverage, --junit-xml ---------------------------

BACK = """\
id: back
date_of_service: 2026-03-01
lesions:
  - {id: A, diagnosis: C44.519, site: back, size_cm: 1.0}
lines:
  - {line: 1, code: "17313", lesion: A}
"""


def fails(stdout: str) -> list[str]:
    return [line.removeprefix("FAIL ") for line in stdout.splitlines() if line.startswith("FAIL ")]


@pytest.fixture
def suite(tmp_path) -> Path:
    """Four tests: two pass, two fail (in file order: b-nose-wrong, d-back-wrong)."""
    folder = tmp_path / "t"
    write(folder, "a-nose.yaml", NOSE + "expect: {decision: covered}\n")
    write(folder, "b-nose-wrong.yaml", NOSE + "expect: {decision: not_covered}\n")
    write(folder, "c-back.yaml", BACK + "expect: {decision: not_covered}\n")
    write(folder, "d-back-wrong.yaml", BACK + "expect: {decision: covered}\n")
    return folder


@needs_exe
def test_k_selects_tests_by_a_word_of_their_name_or_an_expression(suite):
    nose = run("test", suite, "-k", "NOSE")  # any case
    assert nose.returncode == 1 and fails(nose.stdout) == [str(suite / "b-nose-wrong.yaml")]
    assert nose.stdout.splitlines()[-1].startswith("2 tests: 1 passed, 1 failed, 2 deselected by -k;")
    passing = run("test", suite, "-k", "nose and not wrong or (back and not wrong)")
    assert passing.returncode == 0 and "2 tests: 2 passed, 0 failed, 2 deselected by -k" in passing.stdout
    assert run("test", suite, "-k", "not wrong").returncode == 0
    none = run("test", suite, "-k", "shoulder")
    assert none.returncode == 2 and "-k 'shoulder' selects none of the 4 tests" in none.stderr
    for bad, said in (("nose and", "it ends where a word was expected"), ("(nose", "a `(` is not closed"),
                      ("nose back", "`back` after a complete expression"), ("or nose", "`or` where a word was expected")):
        result = run("test", suite, "-k", bad)
        assert result.returncode == 2 and said in result.stderr and "Traceback" not in result.stderr, bad


@needs_exe
def test_x_stops_at_the_first_failing_test(suite):
    result = run("test", suite, "-x")
    assert result.returncode == 1
    assert fails(result.stdout) == [str(suite / "b-nose-wrong.yaml")]  # not d-back-wrong.yaml
    assert result.stdout.splitlines()[-1].startswith("2 tests: 1 passed, 1 failed, 2 not run (-x: stopped at the first failure)")
    assert "fired by no test" not in result.stdout  # the tests not run might have fired them
    assert run("test", suite, "-x", "-k", "not wrong").returncode == 0


@needs_exe
def test_q_prints_only_the_failures_and_the_summary(suite):
    loud = run("test", suite).stdout.splitlines()
    quiet = run("test", suite, "-q").stdout.splitlines()
    assert quiet == [line for line in loud if "fired by no test" not in line]
    assert quiet[0] == f"FAIL {suite / 'b-nose-wrong.yaml'}" and quiet[-1].startswith("4 tests: 2 passed, 2 failed;")
    assert len(quiet) == 5  # two failures of a line each, and the summary


@needs_exe
def test_unfired_rules_are_one_line_unless_coverage_is_asked(suite):
    brief = run("test", suite, "-k", "not wrong").stdout.splitlines()
    [line] = [line for line in brief if "fired by no test" in line]
    assert line.endswith("; --coverage lists them") and len(brief) == 2
    full = run("test", suite, "-k", "not wrong", "--coverage").stdout.splitlines()
    count = int(line.split()[0])
    assert full[0] == f"Rules no test made fire ({count} of {len(load_policy().rules)}):"
    listed = dict(entry.split() for entry in full[1:count + 1])
    assert len(listed) == count and listed["large_lesion"].startswith("logic/indications.lp:")
    assert all(source.startswith("logic/") and source.rsplit(":", 1)[1].isdigit() for source in listed.values())


@needs_exe
def test_junit_xml_has_a_testcase_per_test_and_each_failure_with_its_field(suite, tmp_path):
    import xml.etree.ElementTree as ET

    write(suite, "e-several.yaml", f"- name: first\n{indent(NOSE)}  expect: {{decision: covered}}\n"
                                   f"- name: second\n{indent(NOSE)}  expect: {{lines: [{{line: 2, outcome: payable}}]}}\n")
    out = tmp_path / "junit.xml"
    out.write_text("an old report")
    result = run("test", suite, "--junit-xml", out, "--require-coverage")
    assert result.returncode == 1
    root = ET.parse(out).getroot()  # it parses
    suite_xml = root.find("testsuite")
    cases = {(c.get("classname"), c.get("name")): c for c in suite_xml.iter("testcase")}
    folder = ".".join(p for p in suite.parts if p != "/")
    assert set(cases) == {(folder, name) for name in ("a-nose.yaml", "b-nose-wrong.yaml", "c-back.yaml", "d-back-wrong.yaml",
                                                      "e-several.yaml::first", "e-several.yaml::second")} \
        | {("mohs-asp", "every rule that can fire is fired by some test")}
    assert (suite_xml.get("tests"), suite_xml.get("failures"), suite_xml.get("errors")) == ("7", "4", "0")
    assert cases[(folder, "a-nose.yaml")].find("failure") is None
    assert cases[(folder, "a-nose.yaml")].get("file") == str(suite / "a-nose.yaml")
    failure = cases[(folder, "b-nose-wrong.yaml")].find("failure")
    assert failure.get("message") == 'decision: expected "not_covered", got "covered"'
    second = cases[(folder, "e-several.yaml::second")].find("failure")
    assert second.get("message") == 'lines[line=2].outcome: expected "payable", got "bundled"'
    coverage = cases[("mohs-asp", "every rule that can fire is fired by some test")].find("failure")
    assert "large_lesion (logic/indications.lp:" in coverage.text
    # written whole or not at all: a folder that does not exist is bad usage, and leaves nothing behind
    missing = run("test", suite, "--junit-xml", tmp_path / "no-such-folder" / "junit.xml")
    assert missing.returncode == 2 and "cannot write" in missing.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junit.xml", "t"]  # no temporary file left


def indent(text: str) -> str:
    """A case's lines as the fields of a list entry (after `- name: ...`)."""
    return "".join(f"  {line}\n" for line in text.splitlines())


def test_junit_xml_holds_names_and_values_xml_cannot_hold_as_escapes(tmp_path, policy):
    import xml.etree.ElementTree as ET

    write(tmp_path, "t.yaml", f"- name: \"bell\\a and \\x01 in a name\"\n{indent(NOSE)}  expect: {{decision: \"no\\x02mms\"}}\n")
    report = run_tests([str(tmp_path)], policy)
    [case] = ET.fromstring(report.junit_xml()).iter("testcase")
    assert case.get("name") == "t.yaml::bell\\x07 and \\x01 in a name"
    assert "no\\x02mms" in case.find("failure").get("message")


# -- what a test says when its expectation is wrong ------------------------------------------


@needs_exe
def test_a_typo_in_an_expect_key_is_a_failure_with_did_you_mean(tmp_path):
    path = write(tmp_path, "typo.yaml", NOSE + "expect:\n  decison: covered\n  lines:\n    - {line: 2, outcom: bundled}\n"
                                        "  lesions:\n    - {id: A, indication: [high_risk_area]}\n  flavour: sweet\n")
    result = run("test", path)
    assert result.returncode == 1
    assert result.stdout.splitlines()[:5] == [
        f"FAIL {path}",
        "  decison: not a field of the answer (did you mean `decision`?)",
        "  lines[line=2].outcom: not a field of a line in the answer (did you mean `outcome`?)",
        "  lesions[id=A].indication: not a field of a lesion in the answer (did you mean `indications` or `indication_rules`?)",
        "  flavour: not a field of the answer; its fields are case, status, decision, lesions, lines, errors, warnings, decision_record",
    ]


@needs_exe
def test_a_value_no_answer_can_hold_is_a_failure_listing_the_values(tmp_path):
    path = write(tmp_path, "values.yaml", NOSE + "expect:\n  status: fine\n  decision: covred\n"
                                          "  lines:\n    - {line: 1, outcome: payed}\n"
                                          "  lesions:\n    - {id: A, indications: [high_risk_area, larg_lesion], medically_necessary: yes}\n")
    result = run("test", path)
    assert result.returncode == 1
    assert result.stdout.splitlines()[:6] == [
        f"FAIL {path}",
        '  status: "fine" is not a possible status; the statuses are ok, invalid',
        '  decision: "covred" is not a possible decision (did you mean `covered`?); the decisions are covered, not_covered, no_mms',
        '  lines[line=1].outcome: "payed" is not a possible outcome (did you mean `payable`?); '
        "the outcomes are payable, bundled, denied, not_addressed",
        '  lesions[id=A].indications: "larg_lesion" is not a possible indication of this policy (did you mean `large_lesion`?); '
        "the indications of this policy are aggressive_or_rapid_growth, high_risk_area, high_risk_metastasis, ill_defined_borders, "
        "immunosuppressed, irradiated_skin, large_lesion, recurrent_or_incomplete, tissue_preservation",
        '  lesions[id=A].medically_necessary: "yes" is not a possible value: medically_necessary is true or false',
    ]


def test_a_field_an_answer_may_lack_is_still_a_plain_difference(tmp_path, policy):
    """`into` on a line that is not bundled, `decision` of an invalid case: fields of the
    answer, absent from this one; and an indication a policy adds is known to that policy."""
    write(tmp_path, "into.yaml", NOSE + "expect:\n  lines: [{line: 1, into: 2}]\n")
    write(tmp_path, "invalid.yaml", NOSE.replace("site: nose", "site: nowhere") + "expect: {decision: covered}\n")
    report = run_tests([str(tmp_path)], policy)
    said = {r.path.name: [str(d) for d in r.differences] for r in report.failures}
    assert said == {"into.yaml": ["lines[line=1].into: expected 2, got '(missing)'"],
                    "invalid.yaml": ["decision: expected 'covered', got '(missing)'"]}


def test_an_indication_the_policy_adds_is_a_possible_value(tmp_path):
    folder = copy_policy(tmp_path / "policy")
    with open(folder / "logic" / "indications.lp", "a") as f:
        f.write('\n% rule: deep_structures\n% policy: "Tumors directly involving deep structures"\n'
                "indication(C,L,deep_structures) :- deep_structures(C,L,true).\n")
    write(tmp_path / "t", "deep.yaml", NOSE.replace("size_cm: 1.0", "size_cm: 1.0, deep_structures: true")
          + "expect:\n  lesions: [{id: A, indications: [deep_structures, high_risk_area, tissue_preservation]}]\n")
    assert run_tests([str(tmp_path / "t")], load_policy(folder)).ok()
    [failed] = run_tests([str(tmp_path / "t")], load_policy()).failures
    assert '"deep_structures" is not a possible indication of this policy' in failed.differences[0].note


# -- several named tests in one file --------------------------------------------------------


@needs_exe
def test_a_file_may_hold_several_named_tests_each_reported_as_file_and_name(tmp_path):
    folder = tmp_path / "t"
    several = write(folder, "nose-and-back.yaml",
                    f"# two cases of one topic\n"
                    f"- name: a 1 cm nose lesion is covered\n{indent(NOSE)}  expect: {{decision: covered}}\n"
                    f"- name: a 1 cm back lesion is denied\n{indent(BACK.replace('id: back', 'id: the-back-case'))}"
                    f"  expect: {{decision: covered}}\n"
                    f"- name: a case may leave out its id\n{indent(BACK.replace('id: back', ''))}"
                    f"  expect: {{case: a case may leave out its id, decision: not_covered}}\n")
    write(folder, "one.yaml", NOSE + "expect: {decision: covered}\n")  # the one-case form still works
    result = run("test", folder, "--format", "json")
    report = json.loads(result.stdout)
    assert result.returncode == 1 and (report["tests"], report["passed"]) == (4, 3)
    [failure] = report["failures"]
    assert failure["test"] == f"{several}::a 1 cm back lesion is denied" and failure["name"] == "a 1 cm back lesion is denied"
    assert failure["differences"] == [{"path": "decision", "expected": "covered", "actual": "not_covered"}]
    text = run("test", folder)
    assert fails(text.stdout) == [f"{several}::a 1 cm back lesion is denied"]
    # -k reads the names too
    by_name = run("test", folder, "-k", "nose lesion")
    assert by_name.returncode == 2 and "`lesion` after a complete expression" in by_name.stderr
    assert run("test", folder, "-k", "nose-lesion").returncode == 2  # names keep their spaces
    picked = run("test", folder, "-k", "covered or leave")
    assert picked.returncode == 0 and "2 tests: 2 passed, 0 failed, 2 deselected by -k" in picked.stdout


def test_a_list_of_tests_reports_each_entry_it_cannot_run(tmp_path, policy):
    write(tmp_path, "list.yaml", f"- name: fine\n{indent(NOSE)}  expect: {{decision: covered}}\n"
                                 f"- name: fine\n{indent(NOSE)}  expect: {{decision: covered}}\n"
                                 f"-{indent(NOSE)[1:]}  expect: {{decision: covered}}\n"
                                 f"- name: [not, text]\n{indent(NOSE)}  expect: {{decision: covered}}\n"
                                 f"- name: no expectation\n{indent(NOSE)}"
                                 f"- just text\n"
                                 f"- name: name twice\n  name: again\n{indent(NOSE)}  expect: {{decision: covered}}\n")
    write(tmp_path, "empty-list.yaml", "[]\n")
    write(tmp_path, "huge.json", json.dumps([1] * 1001))
    report = run_tests([str(tmp_path)], policy)
    ids = [r.id.rsplit("/", 1)[1] for r in report.results]
    assert ids[1] == "huge.json" and report.results[1].problem == "the file lists 1,001 tests; a file holds at most 1,000: split it"
    del report.results[1], ids[1]
    assert ids == ["empty-list.yaml", "list.yaml::fine", "list.yaml::fine", "list.yaml::[2]", "list.yaml::[3]",
                   "list.yaml::no expectation", "list.yaml::[5]", "list.yaml::again"]
    results = report.results
    assert results[0].problem.startswith("the file is an empty list")
    assert results[1].passed
    assert results[2].problem == "the name is given to entry [0] of the file too; give each test its own name"
    assert results[3].problem == "entry [2] of the list has no `name:`: each test of a file of several is named"
    assert results[4].problem == 'entry [3] of the list has no `name:`, not a list: each test of a file of several is named'
    assert results[5].problem == "no `expect:` in this test, or an empty one"
    assert results[6].problem.startswith('each entry of a list of tests is a case with a `name:` and an `expect:`; '
                                         'entry [5] is the text "just text"')
    assert [e["message"] for e in results[7].errors] == ["`name` is given more than once; give each field once"]
