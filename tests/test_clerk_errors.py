"""End-to-end: an invalid case file, as a billing clerk reads what `mohs-asp check` says of it.

A file a parser cannot read is answered with the line, a caret under the place and a plain
sentence; a case without an id is headed by its file's name; the common slips of an office
(`location:`, `size_cm: 2cm`, `"88331-59"`, an unknown borders value) get a hint that says
what to write instead."""

import json
import subprocess

import pytest
from helpers import EXE

pytestmark = pytest.mark.skipif(EXE is None, reason="mohs-asp is not installed in this environment")

HEAD = "id: office-7\ndate_of_service: 2026-05-04\n"


def check(tmp_path, name: str, text: str, *options: str) -> subprocess.CompletedProcess:
    (tmp_path / name).write_text(text)
    return subprocess.run([EXE, "check", name, *options], capture_output=True, text=True, cwd=tmp_path, timeout=60)


def lesion_case(**fields) -> str:
    lesion = {"id": "A", "diagnosis": "C44.311", "site": "nose", **fields}
    return json.dumps({"id": "office-7", "date_of_service": "2026-05-04", "lesions": [lesion],
                       "lines": [{"code": "17311", "lesion": "A"}]})


def errors(result: subprocess.CompletedProcess) -> dict[str, str]:
    assert result.returncode == 2 and "Traceback" not in result.stderr
    return {e["path"]: e["message"] for e in json.loads(result.stdout)["errors"]}


def test_a_tab_in_yaml_is_named_with_its_line_and_a_caret(tmp_path):
    result = check(tmp_path, "tabbed.yaml", HEAD + "lesions:\n  - id: A\n\tsite: nose\n")
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert lines[0] == "tabbed.yaml: INVALID, 1 problem"  # no id could be read: the file names the case
    text = " ".join(result.stdout.split())
    assert "line 5, column 1: YAML does not allow tabs for indentation" in text
    assert "cannot start any token" not in text
    at = lines.index(r"    \tsite: nose")
    assert lines[at + 1] == "    ^"


def test_bad_json_is_named_with_its_line_a_caret_and_a_sentence(tmp_path):
    text = '{"id": "office-7",\n "date_of_service": "2026-05-04",\n "lesions": [{"id": "A" "site": "nose"}]}\n'
    result = check(tmp_path, "claim.json", text)
    lines = result.stdout.splitlines()
    assert lines[0] == "claim.json: INVALID, 1 problem"
    said = " ".join(result.stdout.split())
    assert "line 3, column 25: a comma (,) is missing between two items" in said
    assert "(char " not in said
    at = lines.index('     "lesions": [{"id": "A" "site": "nose"}]}')
    assert lines[at + 1] == "    " + " " * 24 + "^"  # under the quote that should follow a comma
    answer = json.loads(check(tmp_path, "claim.json", text, "--format", "json").stdout)
    assert answer["errors"][0]["excerpt"] == [' "lesions": [{"id": "A" "site": "nose"}]}', " " * 24 + "^"]


def test_a_long_json_line_is_cut_around_the_place(tmp_path):
    text = json.dumps({"id": "office-7", "date_of_service": "2026-05-04", "notes": "x" * 300})[:-1] + ",}"
    lines = check(tmp_path, "long.json", text).stdout.splitlines()
    shown = next(line for line in lines if line.startswith("    ..."))
    assert len(shown) <= 80 and lines[lines.index(shown) + 1].endswith("^")


def test_standard_input_without_an_id_is_headed_as_standard_input(tmp_path):
    result = subprocess.run([EXE, "check", "-"], input="date_of_service: 2026-05-04\n", capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.splitlines()[0] == "(standard input): INVALID, 1 problem"


def test_a_case_with_an_id_is_still_headed_by_its_id(tmp_path):
    result = check(tmp_path, "named.json", lesion_case(borders="irregular"))
    assert result.stdout.splitlines()[0] == "office-7: INVALID, 1 problem"


def test_location_is_answered_did_you_mean_site(tmp_path):
    doc = json.loads(lesion_case())
    doc["lesions"][0]["location"] = doc["lesions"][0].pop("site")
    found = errors(check(tmp_path, "c.json", json.dumps(doc), "--format", "json"))
    assert found["lesions[0].location"] == "`location` is not a field of the case format (did you mean `site`?)"
    assert found["lesions[0].site"] == "is required"


@pytest.mark.parametrize("written,hint", [
    ("2cm", "write the number without its unit (size_cm: 2)"),
    ("2.5 cm", "write the number without its unit (size_cm: 2.5)"),
    ("20 mm", "write the number without its unit (size_mm: 20)"),
    ("2", "write it without quotes (size_cm: 2)"),
])
def test_a_size_written_with_its_unit_is_told_to_drop_it(tmp_path, written, hint):
    found = errors(check(tmp_path, "c.json", lesion_case(size_cm=written), "--format", "json"))
    assert found == {"lesions[0].size_cm": f'must be a number, found the text "{written}": {hint}'}
    text = " ".join(check(tmp_path, "c.json", lesion_case(size_cm=written)).stdout.split())
    assert hint in text


def test_a_code_with_its_modifier_is_told_the_modifier_goes_under_modifiers(tmp_path):
    doc = json.loads(lesion_case())
    doc["lines"].append({"code": "88331-59", "lesion": "A"})
    found = errors(check(tmp_path, "c.json", json.dumps(doc), "--format", "json"))
    assert found["lines[1].code"].endswith(': write the code as "88331" and 59 under `modifiers` (modifiers: ["59"])')
    text = " ".join(check(tmp_path, "c.json", json.dumps(doc)).stdout.split())
    assert 'write the code as "88331" and 59 under `modifiers`' in text


def test_an_unknown_borders_value_lists_the_two_values(tmp_path):
    found = errors(check(tmp_path, "c.json", lesion_case(borders="irregular"), "--format", "json"))
    assert found == {"lesions[0].borders": '"irregular" is not a known borders value; '
                                           'the borders values are well_defined, ill_defined'}


def test_every_enumerated_field_lists_its_allowed_values(tmp_path):
    from mohs_asp.policy.load import load_policy

    data = load_policy().data
    found = errors(check(tmp_path, "c.json", lesion_case(site="nsoe", histology=["nodulr"]), "--format", "json"))
    assert found["lesions[0].site"] == ('"nsoe" is not a known site (did you mean `nose`?); the sites are '
                                        + ", ".join(data.sites))
    assert found["lesions[0].histology[0]"].endswith("; the histology terms are " + ", ".join(data.histology))
