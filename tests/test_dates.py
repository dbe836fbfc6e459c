"""The date of service decides: a dated change in a copy of the policy (the size threshold
lowered to 1.5 cm from 2027-01-01), answered on either side of its date through the installed
`mohs-asp` (check, batch, explain, test, diff); the data loader's dated rows; ICD-10-CM
releases by date; the decision record on every answer; lint's temporal coverage."""

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from helpers import check
from mohs_asp.policy.dates import OPEN_END
from mohs_asp.errors import PolicyError
from mohs_asp.authoring.lint import lint_policy
from mohs_asp.policy.load import load_policy
from helpers import EXE, copy_policy

needs_exe = pytest.mark.skipif(EXE is None, reason="mohs-asp is not installed in this environment")
ROOT = Path(__file__).resolve().parent.parent

# a 1.7 cm lesion of the back meeting no other indication: large under 1.5 cm, not under 2.0 cm
BACK = {"id": "back-1.7", "lesions": [{"id": "A", "diagnosis": "C44.519", "site": "back", "size_cm": 1.7}],
        "lines": [{"line": 1, "code": "17313", "lesion": "A"}]}
BEFORE, ON = "2026-12-31", "2027-01-01"


def run(*args, stdin=None):
    return subprocess.run([EXE, *map(str, args)], capture_output=True, text=True, input=stdin, timeout=120)


def on(day: str, **extra) -> dict:
    return {**BACK, "id": f"back-1.7-{day}", "date_of_service": day, **extra}


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


@pytest.fixture(scope="module")
def dated(tmp_path_factory) -> Path:
    """A copy of the policy with one dated change, as docs/authoring.md makes it: the 2.0 cm
    row ends 2026-12-31, a 1.5 cm row begins 2027-01-01, and a version names the change."""
    folder = copy_policy(tmp_path_factory.mktemp("dated") / "policy")
    edit(folder / "data" / "thresholds.csv", "large_lesion_min,2.0,cm,2015-09-21,,",
         "large_lesion_min,2.0,cm,2015-09-21,2026-12-31,")
    with (folder / "data" / "thresholds.csv").open("a") as f:
        f.write('large_lesion_min,1.5,cm,2027-01-01,,"Exceptionally large-sized lesions (1.5 cm or greater) '
                'in any anatomic region."\n')
    edit(folder / "policy.toml", "effective_from = 2018-07-23\n", "effective_from = 2018-07-23\neffective_to = 2026-12-31\n")
    with (folder / "policy.toml").open("a") as f:
        f.write('\n[[versions]]\nname = "2027-01-01"\neffective_from = 2027-01-01\nsource = "Revised 2027-01-01."\n'
                'changes = "Exceptionally large-sized lesions are 1.5 cm or greater."\n')
    (folder / "tests").mkdir()
    for day, decision, indications in ((BEFORE, "not_covered", []), (ON, "covered", ["large_lesion"])):
        doc = {**on(day), "expect": {"decision": decision, "lesions": [{"id": "A", "indications": indications}]}}
        (folder / "tests" / f"a-1.7-cm-back-lesion-on-{day}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return folder


# -- a dated change, through the installed command ------------------------------------------


@needs_exe
def test_a_dated_change_lints_clean(dated):
    result = run("lint", "--policy", dated)
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[-1].startswith("0 errors")


@needs_exe
def test_check_answers_each_side_of_the_date_by_the_value_in_force_then(dated, tmp_path):
    answers = {}
    for day in (BEFORE, ON):
        case = tmp_path / f"{day}.json"
        case.write_text(json.dumps(on(day)))
        result = run("check", case, "--format", "json", "--policy", dated)
        answers[day] = json.loads(result.stdout), result.returncode
    (before, rc_before), (after, rc_after) = answers[BEFORE], answers[ON]
    assert (before["decision"], rc_before, before["lesions"][0]["indications"]) == ("not_covered", 1, [])
    assert (after["decision"], rc_after, after["lesions"][0]["indications"]) == ("covered", 0, ["large_lesion"])
    assert before["decision_record"]["policy_version"] == "2018-07-23"
    assert after["decision_record"]["policy_version"] == "2027-01-01"
    # the shipped policy has no such change: 1.7 cm is not large on either day
    shipped = load_policy()
    assert [check(on(day), shipped)["decision"] for day in (BEFORE, ON)] == ["not_covered", "not_covered"]


@needs_exe
def test_batch_answers_each_line_by_the_value_in_force_on_its_date(dated):
    lines = "".join(json.dumps(on(day)) + "\n" for day in (BEFORE, ON, BEFORE))
    result = run("batch", "-", "--policy", dated, "--workers", "1", stdin=lines)
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["decision"] for a in answers] == ["not_covered", "covered", "not_covered"]
    assert [a["decision_record"]["policy_version"] for a in answers] == ["2018-07-23", "2027-01-01", "2018-07-23"]


@needs_exe
def test_explain_names_the_threshold_in_force_and_its_dates(dated, tmp_path):
    said = {}
    for day in (BEFORE, ON):
        case = tmp_path / f"{day}.json"
        case.write_text(json.dumps(on(day)))
        answer = json.loads(run("explain", case, "--format", "json", "--policy", dated).stdout)
        entry = next(e for e in answer["lesions"][0]["explanation"] if e["indication"] == "large_lesion")
        said[day] = entry["because"], answer["lesions"][0].get("would_qualify", [])
    assert said[BEFORE][0] == ["size 1.7 cm is below 2.0 cm (in force from 2015-09-21 to 2026-12-31)"]
    assert {"indication": "large_lesion", "rule": "large_lesion", "needs": ["size at least 2.0 cm"],
            "reads": ["size_um"]} in said[BEFORE][1]
    assert said[ON][0] == ["size 1.7 cm is at least 1.5 cm (the threshold in force from 2027-01-01)"]
    text = run("explain", tmp_path / f"{ON}.json", "--policy", dated).stdout
    assert "[x] large_lesion: size 1.7 cm is at least 1.5 cm" in text and "version 2027-01-01" in text
    # the default cuts a row at 80 columns; --full (like the JSON) has the reason whole
    full = run("explain", "--full", tmp_path / f"{ON}.json", "--policy", dated).stdout
    assert "the threshold in force from 2027-01-01" in full and "version 2027-01-01" in full


@needs_exe
def test_policy_tests_on_both_sides_of_the_date_pass_and_a_wrong_one_fails(dated, tmp_path):
    result = run("test", "--policy", dated, "--format", "json")
    report = json.loads(result.stdout)
    assert result.returncode == 0 and (report["tests"], report["passed"]) == (2, 2), result.stdout
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(yaml.safe_dump({**on(BEFORE), "expect": {"decision": "covered"}}))
    failed = run("test", "--policy", dated, wrong)
    assert failed.returncode == 1 and 'decision: expected "covered", got "not_covered"' in failed.stdout


@needs_exe
def test_diff_of_one_policy_on_two_dates_lists_what_the_change_moves(dated, tmp_path):
    cases = tmp_path / "cases.jsonl"  # the case's own date does not matter: each side gives its own
    cases.write_text(json.dumps(on("2026-05-01")) + "\n" + json.dumps({**on("2026-05-01"), "id": "nose",
                     "lesions": [{"id": "A", "diagnosis": "C44.311", "site": "nose"}],
                     "lines": [{"line": 1, "code": "17311", "lesion": "A"}]}) + "\n")
    result = run("diff", "--policy", dated, "--against-on", BEFORE, "--on", ON, cases, "--exit-code", "--format", "json")
    report = json.loads(result.stdout)
    assert result.returncode == 1
    assert (report["old_on"], report["new_on"], report["cases"], report["changed"]) == (BEFORE, ON, 2, 1)
    fields = {c["field"]: (c["old"], c["new"]) for c in report["changes"][0]["changes"]}
    assert fields["decision"] == ("not_covered", "covered")
    assert fields["lesions[A].indications"] == ([], ["large_lesion"])
    text = subprocess.run([EXE, "diff", "--policy", "policy", "--against-on", BEFORE, "--on", ON, str(cases)],
                          capture_output=True, text=True, cwd=dated.parent, timeout=120).stdout
    assert text.splitlines()[0] == f"policy on {BEFORE} -> policy on {ON}"
    assert text.splitlines()[-1].startswith("1 of 2 cases changed")
    # against the shipped policy, each case on its own date: only a case dated after the change moves
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(json.dumps(on(BEFORE)) + "\n" + json.dumps(on(ON)) + "\n")
    report = json.loads(run("diff", "--against", ROOT, "--policy", dated, mixed, "--format", "json").stdout)
    assert [c["case"] for c in report["changes"]] == [f"back-1.7-{ON}"]


@needs_exe
def test_diff_needs_a_policy_or_dates_to_compare_and_real_dates(tmp_path):
    case = tmp_path / "case.json"
    case.write_text(json.dumps(on(BEFORE)))
    nothing = run("diff", case)
    assert nothing.returncode == 2 and "give --against OLD_POLICY, or --on DATE" in nothing.stderr
    bad = run("diff", "--on", "2027-02-30", "--against-on", BEFORE, case)
    assert bad.returncode == 2 and "--on '2027-02-30': give a date written YYYY-MM-DD" in bad.stderr
    same = run("diff", "--on", BEFORE, "--against-on", BEFORE, case)
    assert same.returncode == 0 and same.stdout.splitlines()[-1].startswith("0 of 1 case changed")


# -- the decision record ------------------------------------------------------------------------


def recomputed_digest(root: Path) -> str:
    """The digest as README documents it, computed here independently."""
    files = [root / "policy.toml", *(f for part in ("logic", "data") for f in (root / part).rglob("*") if f.is_file())]
    digest = hashlib.sha256()
    for rel, path in sorted((f.relative_to(root).as_posix(), f) for f in files):
        data = path.read_bytes()
        digest.update(rel.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return digest.hexdigest()


@needs_exe
def test_every_answer_carries_the_decision_record(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(on("2026-05-01")))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    policy = load_policy()
    expected = {"policy_id": "mohs-micrographic-surgery", "policy_version": "2018-07-23",
                "policy_digest": recomputed_digest(ROOT), "icd10cm_release": "April 2026",
                "engine_version": run("--version").stdout.split()[-1]}
    assert policy.digest == expected["policy_digest"] and len(policy.digest) == 64
    for command in ("check", "explain"):
        answer = json.loads(run(command, good, "--format", "json").stdout)
        assert answer["decision_record"] == expected and answer["warnings"] == []
        invalid = json.loads(run(command, broken, "--format", "json").stdout)
        assert invalid["status"] == "invalid"
        assert invalid["decision_record"] == {**expected, "policy_version": None, "icd10cm_release": None}
    lines = run("batch", "-", "--workers", "1", stdin=json.dumps(on("2026-05-01")) + "\nnot json\n").stdout.splitlines()
    assert [json.loads(line)["decision_record"]["policy_version"] for line in lines] == ["2018-07-23", None]


def test_the_digest_changes_with_any_file_of_the_policy(tmp_path):
    folder = copy_policy(tmp_path / "policy")
    first = load_policy(folder).digest
    assert first == load_policy().digest  # the same files digest the same wherever they lie
    other = copy_policy(tmp_path / "other")
    (other / "data" / "sites.csv").write_text((other / "data" / "sites.csv").read_text() + "\n")
    assert load_policy(other).digest != first


@needs_exe
def test_version_prints_the_engines_version():
    from mohs_asp import __version__

    result = run("--version")
    assert (result.returncode, result.stdout) == (0, f"mohs-asp {__version__}\n")


def test_a_date_before_the_first_version_is_invalid_naming_the_policys_range(dated):
    policy = load_policy(dated)
    answer = check(on("2015-09-20"), policy)
    assert answer["status"] == "invalid"
    assert answer["errors"] == [{"path": "date_of_service", "message": "the policy (mohs-micrographic-surgery) is not "
                                 "in force on 2015-09-20: it is in force from 2015-09-21 (no end date)"}]
    assert answer["decision_record"]["policy_version"] is None


def test_a_date_outside_the_policy_is_reported_with_the_cases_other_problems(policy):
    answer = check({**on("2015-09-20"), "lesions": [{"id": "A", "diagnosis": "C44.519", "site": "bakc"}]}, policy)
    assert [e["path"] for e in answer["errors"]] == ["date_of_service", "lesions[0].site"]
    assert answer["decision_record"]["policy_version"] is None


def test_an_invalid_case_of_a_day_of_the_policy_still_names_its_version(policy):
    answer = check({**on("2018-07-22"), "lesions": [{"id": "A", "diagnosis": "C44.519", "site": "bakc"}]}, policy)
    assert answer["status"] == "invalid" and answer["decision_record"]["policy_version"] == "2015-09-21"


def test_a_date_after_the_last_version_is_invalid_naming_the_policys_range(tmp_path):
    folder = copy_policy(tmp_path / "policy")
    edit(folder / "policy.toml", "effective_from = 2018-07-23\n", "effective_from = 2018-07-23\neffective_to = 2026-12-31\n")
    policy = load_policy(folder)
    assert check(on(BEFORE), policy)["status"] == "ok"
    answer = check(on(ON), policy)
    assert answer["errors"][0]["message"] == ("the policy (mohs-micrographic-surgery) is not in force on 2027-01-01: "
                                              "it is in force from 2015-09-21 to 2026-12-31")


# -- dated data rows ----------------------------------------------------------------------------


def test_rows_without_dates_are_in_force_for_the_whole_policy(policy):
    sites = [r for r in policy.data.rows if r.file == "data/sites.csv"]
    assert sites and all((r.effective_from, r.effective_to, r.dated) == (20150921, OPEN_END, False) for r in sites)
    threshold = next(r for r in policy.data.rows if r.file == "data/thresholds.csv")
    assert (threshold.effective_from, threshold.dated) == (20150921, True)


@pytest.mark.parametrize("row, message", [
    ("large_lesion_min,1.5,cm,2027-13-01,,x", "data/thresholds.csv:8: effective_from 2027-13-01 is not a real date"),
    ("large_lesion_min,1.5,cm,01/01/2027,,x", "data/thresholds.csv:8: effective_from '01/01/2027' is not a date written YYYY-MM-DD"),
    ("large_lesion_min,1.5,cm,2027-01-02,2027-01-01,x", "data/thresholds.csv:8: effective_from 2027-01-02 is after effective_to 2027-01-01"),
    ("large_lesion_min,1.5,cm,2020-01-01,,x", "data/thresholds.csv:8: threshold large_lesion_min is listed twice on the same days (also line 7)"),
])
def test_a_bad_dated_row_is_a_broken_policy_at_its_line(tmp_path, row, message):
    folder = copy_policy(tmp_path / "policy")
    with (folder / "data" / "thresholds.csv").open("a") as f:
        f.write(row + "\n")
    with pytest.raises(PolicyError) as e:
        load_policy(folder)
    assert str(e.value) == message


def test_a_site_that_changes_on_a_date_is_read_by_the_rules_and_explanations(tmp_path):
    """From 2027-01-01 the nose is no longer a high-risk area (a made-up change, two rows)."""
    folder = copy_policy(tmp_path / "policy")
    edit(folder / "data" / "sites.csv", "nose,17311,yes,yes,face\n",
         "nose,17311,yes,yes,face,2015-09-21,2026-12-31\nnose,17311,no,yes,face,2027-01-01,\n")
    edit(folder / "data" / "sites.csv", "site,family,high_risk,tissue_preservation,area\n",
         "site,family,high_risk,tissue_preservation,area,effective_from,effective_to\n")
    policy = load_policy(folder)
    nose = {"lesions": [{"id": "A", "diagnosis": "C44.311", "site": "nose"}], "lines": [{"line": 1, "code": "17311", "lesion": "A"}]}
    answers = {day: check({"id": day, "date_of_service": day, **nose}, policy) for day in (BEFORE, ON)}
    assert answers[BEFORE]["lesions"][0]["indications"] == ["high_risk_area", "tissue_preservation"]
    assert answers[ON]["lesions"][0]["indications"] == ["tissue_preservation"]
    from mohs_asp import api
    from mohs_asp.case.check import parse_case

    back = {"lesions": [{"id": "A", "diagnosis": "C44.519", "site": "back"}], "lines": []}
    explained = list(api.answer([parse_case({"id": d, "date_of_service": d, **x}, policy)
                              for d in (BEFORE, ON) for x in (nose, back)], policy, explain=True))
    nose_on = next(e for e in explained[2]["lesions"][0]["explanation"] if e["indication"] == "high_risk_area")
    assert nose_on["because"] == ["site nose is a high-risk recurrence area: in force only from 2015-09-21 to "
                                  "2026-12-31, not on the date of service"]

    def high_risk_sites(answer):
        return next(w["needs"] for w in answer["lesions"][0]["would_qualify"] if w["indication"] == "high_risk_area")

    assert "nose" in high_risk_sites(explained[1])[0] and "nose" not in high_risk_sites(explained[3])[0]


def test_a_covered_code_listed_from_a_date_is_covered_from_that_date_and_explained(tmp_path):
    folder = copy_policy(tmp_path / "policy")
    edit(folder / "data" / "covered_diagnoses.csv", "\ncode\n", "\ncode,effective_from\n")
    with (folder / "data" / "covered_diagnoses.csv").open("a") as f:
        f.write("C44.1321,2027-01-01\n")
    policy = load_policy(folder)
    eyelid = {"lesions": [{"id": "A", "diagnosis": "C44.1321", "site": "eyelid"}], "lines": [{"line": 1, "code": "17311", "lesion": "A"}]}
    from mohs_asp import api
    from mohs_asp.case.check import parse_case

    before, after = list(api.answer([parse_case({"id": d, "date_of_service": d, **eyelid}, policy) for d in (BEFORE, ON)],
                                 policy, explain=True))
    assert (before["decision"], after["decision"]) == ("not_covered", "covered")
    assert "diagnosis C44.1321 is not on the covered list" in before["lines"][0]["explanation"]["because"]
    assert before["lesions"][0]["diagnosis_covered"] is False and after["lesions"][0]["diagnosis_covered"] is True


# -- ICD-10-CM releases by date -------------------------------------------------------------------


def test_a_date_no_release_covers_is_decided_with_a_warning_naming_both_releases(policy):
    answer = check(on("2026-12-01"), policy)
    assert answer["status"] == "ok" and answer["decision_record"]["icd10cm_release"] == "April 2026"
    assert answer["warnings"] == [{"path": "date_of_service", "message": (
        "the diagnoses were checked against ICD-10-CM April 2026 (2026-04-01 to 2026-09-30): this installation has "
        "no release in force on 2026-12-01, which needs FY2027's (from 2026-10-01)")}]
    assert check(on("2026-05-01"), policy)["warnings"] == []


def test_a_payers_release_file_judges_the_dates_it_covers(tmp_path):
    """A made-up FY2027 release holding only the C44 codes, and not C44.311: a case of its days is
    checked against it (C44.311 unknown there), a case of April 2026's days against April 2026."""
    folder = copy_policy(tmp_path / "policy")
    codes = ["C44", "C443", "C4431", "C44310", "C44319", "C445", "C4451", "C44519"]
    (folder / "data" / "icd10cm" / "FY2027.txt").write_text(
        "# A release for the test\n# release: FY2027\n# effective_from: 2026-10-01\n# effective_to: 2027-09-30\n"
        + "\n".join(codes) + "\n")
    policy = load_policy(folder)
    assert [r.name for r in policy.icd10.all] == ["April 2026", "FY2027"]
    later = check(on("2026-12-01"), policy)
    assert later["warnings"] == [] and later["decision_record"]["icd10cm_release"] == "FY2027"
    nose = {"lesions": [{"id": "A", "diagnosis": "C44.311", "site": "nose"}], "lines": []}
    unknown = check({"id": "n", "date_of_service": "2026-12-01", **nose}, policy)
    assert unknown["status"] == "invalid" and unknown["errors"] == [
        {"path": "lesions[0].diagnosis", "message": '"C44.311" is not an ICD-10-CM code (release FY2027)'}]
    assert unknown["decision_record"]["icd10cm_release"] == "FY2027"
    category = check({"id": "n", "date_of_service": "2026-12-01",
                               "lesions": [{"id": "A", "diagnosis": "C44.31", "site": "nose"}]}, policy)
    assert "C44.31 is a category, not a billable code; the billable codes under it are C44.310, C44.319" in \
        category["errors"][0]["message"]
    assert check({"id": "n", "date_of_service": "2026-05-01", **nose}, policy)["status"] == "ok"
    report = lint_policy(folder)  # lint holds the covered list against the newest release: this one lacks most
    assert report.release == "FY2027" and not [f for f in report.findings if f.where.startswith("data/icd10cm")]


@pytest.mark.parametrize("header, message", [
    ("# release: X\n# effective_from: 2026-10-01\n", "data/icd10cm/X.txt:1: the header must give `# effective_to: ...`"),
    ("# release: X\n# effective_from: 2026-10-01\n# effective_to: 2026-09-30\nA00\n",
     "data/icd10cm/X.txt: effective_from 2026-10-01 is after effective_to 2026-09-30"),
    ("# release: X\n# effective_from: 2026-10-01\n# effective_to: 2027-09-30\n", "data/icd10cm/X.txt: no codes"),
])
def test_a_bad_release_file_is_a_broken_policy(tmp_path, header, message):
    folder = copy_policy(tmp_path / "policy")
    (folder / "data" / "icd10cm" / "X.txt").write_text(header)
    with pytest.raises(PolicyError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_policy(folder)


def test_overlapping_releases_are_a_lint_error(tmp_path):
    folder = copy_policy(tmp_path / "policy")
    (folder / "data" / "icd10cm" / "X.txt").write_text(
        "# release: X\n# effective_from: 2026-09-01\n# effective_to: 2027-09-30\nA00\n")
    found = [str(f) for f in lint_policy(folder).errors if f.where.startswith("data/icd10cm")]
    assert found == ["data/icd10cm/X.txt: error: ICD-10-CM release X (from 2026-09-01 to 2027-09-30) overlaps "
                     "April 2026 (from 2026-04-01 to 2026-09-30), data/icd10cm/April-2026.txt: one release must judge a day"]


# -- lint: temporal coverage ----------------------------------------------------------------------


def lint_findings(folder: Path) -> list[str]:
    return [str(f) for f in lint_policy(folder).findings if "C4A" not in str(f) and "C44" not in str(f)]


def test_lint_finds_a_gap_and_an_overlap_of_a_threshold_by_line(tmp_path):
    folder = copy_policy(tmp_path / "policy")
    thresholds = folder / "data" / "thresholds.csv"
    edit(thresholds, "large_lesion_min,2.0,cm,2015-09-21,,", "large_lesion_min,2.0,cm,2015-09-22,2026-12-30,")
    with thresholds.open("a") as f:
        f.write("large_lesion_min,1.5,cm,2027-01-01,,x\n")
    assert lint_findings(folder) == [
        "data/thresholds.csv:7: warning: the data changes on 2015-09-22 and 2026-12-31, but no version of policy.toml "
        "begins those days: add one saying what changed",
        "data/thresholds.csv:8: warning: the data changes on 2027-01-01, but no version of policy.toml begins that day: "
        "add one saying what changed",
        "data/thresholds.csv:7: error: threshold large_lesion_min has no row in force on 2015-09-21: every day of the "
        "policy needs one",
        "data/thresholds.csv:8: error: threshold large_lesion_min has no row in force on 2026-12-31: every day of the "
        "policy needs one",
    ]


def test_lint_finds_an_mms_code_in_force_twice_and_versions_that_leave_a_gap(tmp_path):
    folder = copy_policy(tmp_path / "policy")
    edit(folder / "data" / "mms_codes.csv", "code,stage,family,primary\n", "code,stage,family,primary,effective_from\n")
    with (folder / "data" / "mms_codes.csv").open("a") as f:
        f.write("17313,first,17313,,2018-07-23\n")
    edit(folder / "policy.toml", "effective_to = 2018-07-22", "effective_to = 2018-07-20")
    found = lint_findings(folder)
    assert "policy.toml:24: error: no version is in force from 2018-07-21 to 2018-07-22 (between versions 2015-09-21 " \
           "and 2018-07-23): cases of those days would be invalid" in found
    assert "data/mms_codes.csv:12: error: MMS code 17313 is in force twice from 2018-07-23 (also line 9): one value " \
           "must be in force a day" in found
