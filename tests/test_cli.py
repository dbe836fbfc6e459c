"""End-to-end: the installed `mohs-asp` command, as a user runs it."""

import json
import subprocess
from pathlib import Path

import pytest
from helpers import copy_policy

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


def test_check_text_fits_80_columns_and_names_the_rules():
    result = run("check", EXAMPLES / "trunk-small-nodular-denied.case.json")
    assert result.returncode == 1
    assert "NOT COVERED" in result.stdout
    assert "mms_not_medically_necessary" in result.stdout
    assert "bundled into 1" in result.stdout
    assert max(map(len, result.stdout.splitlines())) <= 80
    assert "\x1b[" not in result.stdout


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

    from mohs_asp.api import check_document
    from mohs_asp.policy import load_policy

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
        checked = check_document(doc, load_policy())["status"] == "ok"
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
