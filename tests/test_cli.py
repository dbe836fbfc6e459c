"""End-to-end: the installed `mohs-asp` command, as a user runs it."""

import json
import subprocess
from pathlib import Path

import pytest
from helpers import copy_policy, on_a_terminal

TESTS = Path(__file__).resolve().parent
EXAMPLES = TESTS / "examples"
from helpers import EXE
pytestmark = pytest.mark.skipif(EXE is None, reason="mohs-asp is not installed in this environment")


def run(*args, cwd=None, stdin=None):
    return subprocess.run([EXE, *map(str, args)], capture_output=True, text=True, cwd=cwd, input=stdin, timeout=60)


@pytest.mark.parametrize("case", sorted(EXAMPLES.glob("*.case.json")), ids=lambda p: p.name.removesuffix(".case.json"))
def test_check_json_matches_the_contract_example_and_exit_code(case, tmp_path):
    expected = json.loads(case.with_name(case.name.replace(".case.", ".expected.")).read_text())
    result = run("check", case, "--format", "json", cwd=tmp_path)  # from a folder outside the project
    assert "Traceback" not in result.stderr
    answer = json.loads(result.stdout)
    assert answer["status"] == expected["status"]
    if expected["status"] == "invalid":
        assert result.returncode == 2 and answer["errors"]
        assert all(e["path"] and e["message"] for e in answer["errors"])
        return
    assert answer["decision"] == expected["decision"]
    assert result.returncode == {"covered": 0, "no_mms": 0, "not_covered": 1}[expected["decision"]]
    assert [(l["line"], l["outcome"], l.get("into")) for l in answer["lines"]] == \
        [(l["line"], l["outcome"], l.get("into")) for l in expected["lines"]]


def test_check_text_puts_the_decision_first_and_each_line_with_its_lesion_and_reason():
    result = run("check", EXAMPLES / "trunk-small-nodular-denied.case.json")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "trunk-small-nodular-denied: NOT COVERED"
    line1 = next(t for t in lines if t.split()[:1] == ["1"])
    assert "17313" in line1 and "lesion A" in line1 and "denied: lesion A meets none of the nine indications" in line1
    assert "bundled into line 1" in result.stdout
    assert "mms_not_medically_necessary" not in result.stdout  # rule ids are for authors (explain --full, JSON)
    assert max(map(len, lines)) <= 80
    assert "\x1b[" not in result.stdout


def test_check_says_which_line_is_for_which_lesion_of_a_two_lesion_denied_case(tmp_path):
    case = tmp_path / "two.json"
    case.write_text(json.dumps({
        "id": "two", "date_of_service": "2026-03-01",
        "lesions": [{"id": "A", "diagnosis": "C44.519", "site": "chest"}, {"id": "B", "diagnosis": "L57.0", "site": "nose"}],
        "lines": [{"line": 1, "code": "17313", "lesion": "A"}, {"line": 2, "code": "17311", "lesion": "B"},
                  {"line": 3, "code": "17313", "lesion": "B"}]}))
    result = run("check", case)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "two: NOT COVERED"
    assert len(lines) <= 40 and max(map(len, lines)) <= 80
    text = " ".join(" ".join(lines).split())
    assert "1 17313 lesion A denied: lesion A meets none of the nine indications" in text
    assert "2 17311 lesion B denied: diagnosis L57.0 is not on the covered list" in text
    assert "3 17313 lesion B denied: diagnosis L57.0 is not on the covered list; 17313 does not fit site nose" in text
    assert "A chest, C44.519: meets no indication; diagnosis covered" in text
    assert "B nose, L57.0: high_risk_area, tissue_preservation; diagnosis NOT covered" in text
    js = json.loads(run("check", case, "--format", "json").stdout)
    assert [(l["lesion"], l["reasons"][:1]) for l in js["lines"]] == [
        ("A", ["lesion A meets none of the nine indications"]), ("B", ["diagnosis L57.0 is not on the covered list"]),
        ("B", ["diagnosis L57.0 is not on the covered list"])]
    assert js["lines"][2]["rules"] == ["mms_diagnosis_not_covered", "mms_wrong_family"]


def test_check_reads_standard_input():
    text = (EXAMPLES / "nose-bcc-covered.case.json").read_text()
    result = run("check", "-", "--format", "json", stdin=text)
    assert result.returncode == 0
    assert json.loads(result.stdout)["decision"] == "covered"


def test_check_reads_yaml(tmp_path):
    case = tmp_path / "case.yaml"
    case.write_text("id: y1\ndate_of_service: 2026-03-01\nlesions:\n  - {id: A, diagnosis: c44311, site: Nose}\n"
                    "lines:\n  - {code: '17311', lesion: A}\n")
    result = run("check", case, "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["lesions"][0]["indications"] == ["high_risk_area", "tissue_preservation"]


def test_missing_file_is_a_usage_error_without_traceback():
    result = run("check", "/no/such/case.json")
    assert result.returncode == 2
    assert "no such file" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_option_is_a_usage_error():
    result = run("check", EXAMPLES / "nose-bcc-covered.case.json", "--format", "xml")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_policy_option_uses_an_authors_copy(tmp_path):
    policy = copy_policy(tmp_path / "policy")
    thresholds = policy / "data" / "thresholds.csv"
    thresholds.write_text(thresholds.read_text().replace("large_lesion_min,2.0,cm", "large_lesion_min,1.0,cm"))
    case = EXAMPLES / "trunk-small-nodular-denied.case.json"  # 1.1 cm on the back
    assert run("check", case).returncode == 1
    result = run("check", case, "--format", "json", "--policy", policy)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["lesions"][0]["indications"] == ["large_lesion"]


def test_broken_policy_exits_3_naming_file_and_line(tmp_path):
    policy = copy_policy(tmp_path / "policy")
    claims = policy / "logic" / "claims.lp"
    claims.write_text(claims.read_text() + "\nbroken(C :- case(C).\n")
    result = run("check", EXAMPLES / "nose-bcc-covered.case.json", "--policy", policy)
    assert result.returncode == 3
    assert "logic/claims.lp:" in result.stderr
    assert "Traceback" not in result.stderr


def test_unsafe_rule_exits_3_naming_file_and_line(tmp_path):
    policy = copy_policy(tmp_path / "policy")
    claims = policy / "logic" / "claims.lp"
    claims.write_text(claims.read_text() + "\n% rule: unsafe\n% policy: \"x\"\nbad(C,X) :- case(C).\n")
    result = run("check", EXAMPLES / "nose-bcc-covered.case.json", "--policy", policy)
    assert result.returncode == 3
    assert "logic/claims.lp:" in result.stderr and "unsafe" in result.stderr


def test_schema_lists_the_vocabulary_of_data_and_accepts_what_check_accepts():
    import jsonschema

    from helpers import check
    from mohs_asp.policy.load import load_policy

    result = run("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["required"] == ["id", "date_of_service"]
    lesion = schema["properties"]["lesions"]["items"]["properties"]
    data = load_policy().data
    assert [v["title"] for v in lesion["site"]["anyOf"]] == list(data.sites)
    assert [v["title"] for v in lesion["borders"]["anyOf"]] == list(data.borders) == ["well_defined", "ill_defined"]
    assert [v["title"] for v in lesion["histology"]["items"]["anyOf"]] == list(data.histology)
    assert "aggressive" in data.histology
    validator = jsonschema.Draft202012Validator(schema)
    base = json.loads((EXAMPLES / "nose-bcc-covered.case.json").read_text())
    spellings = [("borders", "Ill-Defined"), ("borders", "ILL _ defined"), ("borders", "well defined"), ("borders", "ill"),
                 ("borders", "fuzzy"), ("site", "Lower -  Leg"), ("site", "nail__unit"), ("site", " NOSE "),
                 ("site", "-nose"), ("site", "lowerleg"), ("histology", ["Spikey-Shaped", "aggressive"]),
                 ("histology", ["high__mitotic activity"]), ("histology", ["nodullar"])]
    for field, value in spellings:
        doc = json.loads(json.dumps(base))
        doc["lesions"][0][field] = value
        checked = check(doc, load_policy())["status"] == "ok"
        assert validator.is_valid(doc) == checked, (field, value, checked)
        assert checked == (value not in ("ill", "fuzzy", "-nose", "lowerleg", ["nodullar"])), (field, value)


def test_every_command_has_help():
    from mohs_asp.cli import app

    for command in app.registered_commands:
        assert command.callback.__doc__, f"{command.callback.__name__} has no help text"
        name = command.name or command.callback.__name__
        result = run(name, "--help")
        assert result.returncode == 0 and "--policy" in result.stdout


def test_a_newline_in_an_id_cannot_forge_a_line_of_text_output(tmp_path):
    doc = json.loads((EXAMPLES / "trunk-small-nodular-denied.case.json").read_text())
    doc["id"] = "claim-7: COVERED\n\nclaim-7"
    doc["lesions"][0]["id"] = "A\nLine 1  17313  payable"
    for line in doc["lines"]:
        line["lesion"] = doc["lesions"][0]["id"]
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(doc))
    for command in ("check", "explain"):
        result = run(command, path)
        assert result.returncode == 1
        assert result.stdout.splitlines()[0] == "claim-7: COVERED\\n\\nclaim-7: NOT COVERED"
        assert not any(l.startswith("Line 1  17313  payable") for l in result.stdout.splitlines())
    js = json.loads(run("check", path, "--format", "json").stdout)
    assert js["case"] == doc["id"] and js["lesions"][0]["id"] == doc["lesions"][0]["id"]


def test_output_the_terminal_cannot_encode_is_escaped_not_a_crash(tmp_path):
    import os

    doc = json.loads((EXAMPLES / "nose-bcc-covered.case.json").read_text())
    doc["id"] = "café-ü"
    path = tmp_path / "unicode.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    result = subprocess.run([EXE, "check", str(path)], capture_output=True, text=True,
                            env={**os.environ, "PYTHONIOENCODING": "ascii"})
    assert result.returncode == 0, result.stderr
    assert "caf\\xe9-\\xfc: COVERED" in result.stdout
    js = subprocess.run([EXE, "check", str(path), "--format", "json"], capture_output=True, text=True,
                        env={**os.environ, "PYTHONIOENCODING": "ascii"})
    assert json.loads(js.stdout)["case"] == "café-ü"


def test_every_usage_mistake_is_one_plain_line_in_the_house_style():
    for args, said in ((["check"], "Missing argument 'CASE...'"), (["check", "--bogus", "x"], "No such option: --bogus"),
                       (["check", str(EXAMPLES / "nose-bcc-covered.case.json"), "--format", "xml"], "'xml' is not one of"),
                       (["chek"], "Did you mean 'check'")):
        result = run(*args)
        assert result.returncode == 2, args
        assert result.stderr.startswith("mohs-asp: ") and said in result.stderr, result.stderr
        assert len(result.stderr.splitlines()) == 1 and "╭" not in result.stderr and "Traceback" not in result.stderr


def test_dash_h_is_help_as_well_as_double_dash_help():
    short, long = run("check", "-h"), run("check", "--help")
    assert short.returncode == long.returncode == 0
    assert short.stdout == long.stdout and "-h, --help" in short.stdout and "<str>" not in short.stdout


def test_rules_id_shows_one_rule_and_an_unknown_id_says_what_was_meant():
    one = run("rules", "mms_wrong_family")
    assert one.returncode == 0 and one.stdout.startswith("mms_wrong_family  logic/claims.lp:")
    assert 'reading: "A line whose code does not fit its lesion' in one.stdout and "because: " in one.stdout
    assert len([t for t in one.stdout.splitlines() if not t.startswith(" ")]) == 1
    typo = run("rules", "mms_wrong_famly")
    assert typo.returncode == 2 and "did you mean `mms_wrong_family`?" in typo.stderr


# -- several cases at once (issue 14 item 3) ---------------------------------------------------


def test_check_of_several_files_answers_each_in_order_and_exits_with_the_worst():
    covered, denied = EXAMPLES / "nose-bcc-covered.case.json", EXAMPLES / "trunk-small-nodular-denied.case.json"
    result = run("check", covered, denied)
    assert result.returncode == 1  # one not covered, none invalid
    headlines = [t for t in result.stdout.splitlines() if t.endswith("COVERED")]
    assert headlines == ["nose-bcc-covered: COVERED", "trunk-small-nodular-denied: NOT COVERED"]
    assert "\n\ntrunk-small-nodular-denied: NOT COVERED\n" in result.stdout  # a blank line between answers
    assert run("check", covered, covered).returncode == 0


def test_check_of_a_folder_gives_json_lines_of_its_case_files_sorted(tmp_path):
    result = run("check", EXAMPLES, "--format", "json")
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    cases = sorted(EXAMPLES.glob("*.case.json"))
    assert [a["input_file"] for a in answers] == [str(p) for p in cases]  # the *.expected.json left out
    assert [a["case"] for a in answers] == [p.name.removesuffix(".case.json") for p in cases]
    assert result.returncode == 2  # the folder holds invalid examples
    single = json.loads(run("check", cases[0], "--format", "json").stdout)
    assert {k: v for k, v in answers[0].items() if k != "input_file"} == single  # the same answer as alone


def test_check_of_a_folder_reads_yaml_and_sub_folders_and_refuses_an_empty_one(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "z.yaml").write_text((EXAMPLES / "nose-bcc-covered.case.json").read_text())
    (tmp_path / "a.yml").write_text((EXAMPLES / "trunk-small-nodular-denied.case.json").read_text())
    (tmp_path / "notes.txt").write_text("not a case")
    result = run("check", tmp_path, "--format", "json")
    assert [json.loads(l)["input_file"] for l in result.stdout.splitlines()] == [str(tmp_path / "a.yml"), str(tmp_path / "b" / "z.yaml")]
    assert result.returncode == 1
    (tmp_path / "empty").mkdir()
    empty = run("check", tmp_path / "empty")
    assert empty.returncode == 2 and "no case files" in empty.stderr and not empty.stdout


def test_check_of_several_with_one_missing_answers_none():
    result = run("check", EXAMPLES / "nose-bcc-covered.case.json", EXAMPLES / "no-such.json")
    assert result.returncode == 2 and result.stdout == ""
    assert "no such file or folder" in result.stderr


def test_explain_takes_several_files_too():
    result = run("explain", EXAMPLES / "nose-bcc-covered.case.json", EXAMPLES / "wrong-family-code.case.json")
    assert result.returncode == 1
    assert result.stdout.startswith("nose-bcc-covered: COVERED") and "\nwrong-family-code: NOT COVERED" in result.stdout


COMMANDS = ("check", "explain", "rules", "schema", "lint", "test", "diff", "batch", "serve")


@pytest.mark.parametrize("command", COMMANDS)
def test_usage_lines_name_arguments_as_the_help_does(command):
    result = run(command, "-h")
    assert result.returncode == 0
    usage = result.stdout.splitlines()[0]
    assert usage.startswith(f"Usage: mohs-asp {command} [OPTIONS]")
    assert not any(mark in result.stdout for mark in ("{", "<str>", "<int", "<text|json>")), result.stdout


def test_usage_lines_of_check_and_batch_read_as_a_user_types_them():
    assert run("check", "-h").stdout.splitlines()[0] == "Usage: mohs-asp check [OPTIONS] CASE..."
    assert run("batch", "-h").stdout.splitlines()[0] == "Usage: mohs-asp batch [OPTIONS] INPUT"
    assert "--format [json|csv]" in run("batch", "-h").stdout


@pytest.mark.parametrize("columns", [60, 120])
def test_help_paragraphs_wrap_to_the_terminal_width(columns):
    import os

    result = subprocess.run([EXE, "check", "-h"], capture_output=True, text=True, env={**os.environ, "COLUMNS": str(columns)})
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= columns
    assert max(map(len, lines)) > columns - 20  # filled to the width, not cut at 80
    assert any("one answer each" in line for line in lines)


# -- colour on a terminal (issue 14 item 5) ----------------------------------------------------


RED, GREEN, RESET = "\x1b[1;31m", "\x1b[1;32m", "\x1b[0m"


def plain(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_on_a_terminal_not_covered_and_denied_stand_out_in_colour_and_read_the_same(tmp_path):
    case = tmp_path / "two.json"
    case.write_text(json.dumps({
        "id": "denied", "date_of_service": "2026-03-01",  # an id that is an outcome's word: never coloured
        "lesions": [{"id": "A", "diagnosis": "C44.519", "site": "chest"}, {"id": "B", "diagnosis": "L57.0", "site": "nose"}],
        "lines": [{"line": 1, "code": "17313", "lesion": "A"}, {"line": 2, "code": "17311", "lesion": "B"},
                  {"line": 3, "code": "88331", "lesion": "B"}]}))
    status, shown = on_a_terminal("check", case)
    lines = shown.splitlines()
    assert status == 1
    assert lines[0] == f"denied: {RED}NOT COVERED{RESET}"
    assert f"   1  17313  lesion A  {RED}denied{RESET}: lesion A meets none of the nine indications" in lines
    assert any(line.startswith(f"   2  17311  lesion B  {RED}denied{RESET}: diagnosis L57.0") for line in lines)
    assert plain(shown) == run("check", case).stdout  # the same words as in a pipe
    assert len(lines) <= 40 and max(len(plain(line)) for line in lines) <= 80
    status, explained = on_a_terminal("explain", case)
    assert f"Line 1  17313  lesion A: {RED}DENIED{RESET}" in explained
    assert plain(explained) == run("explain", case).stdout


def test_covered_and_payable_are_green_and_a_prior_authorization_headline_says_what_it_is():
    status, shown = on_a_terminal("check", EXAMPLES / "nose-bcc-covered.case.json")
    assert status == 0 and shown.startswith(f"nose-bcc-covered: {GREEN}COVERED{RESET}")
    assert "lesion A  \x1b[32mpayable\x1b[0m" in shown
    status, shown = on_a_terminal("check", EXAMPLES / "prior-authorization-question.case.json")
    assert status == 0
    assert plain(shown).startswith("prior-authorization-question: NO MMS LINES: indications met:")
    assert "NO MMS LINES" in shown.split(RESET)[0]  # the headline's words coloured, then reset


@pytest.mark.parametrize("env", [{"NO_COLOR": "1"}, {"TERM": "dumb"}], ids=["NO_COLOR", "dumb-terminal"])
def test_no_colour_with_no_color_set_or_a_dumb_terminal(env):
    status, shown = on_a_terminal("check", EXAMPLES / "trunk-small-nodular-denied.case.json", env=env)
    assert status == 1 and "\x1b[" not in shown and shown.startswith("trunk-small-nodular-denied: NOT COVERED")


def test_no_colour_in_a_pipe_or_in_json_on_a_terminal():
    assert "\x1b[" not in run("check", EXAMPLES / "trunk-small-nodular-denied.case.json").stdout
    status, shown = on_a_terminal("check", EXAMPLES / "trunk-small-nodular-denied.case.json", "--format", "json")
    assert "\x1b[" not in shown and json.loads(shown)["decision"] == "not_covered"


def test_python_m_without_the_engines_packages_says_so_in_one_line():
    """`python -m mohs_asp` run by a Python that lacks typer or clingo (not the project's venv):
    one line naming the missing package and how to install, exit 4, no traceback."""
    import sys

    code = ("import sys, runpy; sys.modules['typer'] = None; sys.argv = ['mohs_asp', '--version']; "
            "runpy.run_module('mohs_asp', run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 4 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "has no `typer`" in result.stderr and "pip install ." in result.stderr
