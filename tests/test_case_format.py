"""The case format is described once (mohs_asp/case/format.py): a new field is a row of its
table and its entry in logic/input.lp, and every command sees it; lint holds input.lp to the table."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from helpers import copy_policy

from mohs_asp.case import format as case_format
from mohs_asp.authoring.lint import lint_policy
from mohs_asp.policy.load import default_root

ROOT = default_root()
EXAMPLE = Path(__file__).resolve().parent / "examples" / "trunk-small-nodular-denied.case.json"
ROW = '    _flag("rapid_growth", "rapid growth not documented"),\n'
NEW_ROW = ROW + '    _flag("ulcerated", "ulceration not documented"),\n'
ENTRY = '''
%! ulcerated(C, L, B)
%!   holds: "documented as ulcerated: {B}"
#defined ulcerated/3.
'''
# the policy's use of the new field (not the format's): one more way to meet an indication
RULE = '''
% rule: ulcerated
% policy: "Recurrent or incomplete excised malignant lesions, regardless of anatomic area"
% because: "lesion {L} is documented as ulcerated"
indication(C,L,recurrent_or_incomplete) :- ulcerated(C,L,true).
'''


def source_copy(dest: Path) -> Path:
    """The package and its policy, copied: `python -m mohs_asp` run in `dest` is this copy."""
    shutil.copytree(ROOT / "mohs_asp" if (ROOT / "mohs_asp").is_dir() else Path(case_format.__file__).parent.parent,
                    dest / "mohs_asp", ignore=shutil.ignore_patterns("__pycache__", "logic", "data", "contract", "policy.toml"))
    copy_policy(dest)
    return dest


def run(where: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mohs_asp", *args], cwd=where, capture_output=True, text=True,
                          input=stdin, timeout=120)


def test_a_new_optional_lesion_field_is_a_row_of_the_table_and_its_entry_in_input_lp(tmp_path):
    where = source_copy(tmp_path)
    table = where / "mohs_asp" / "case" / "format.py"
    assert ROW in table.read_text()
    table.write_text(table.read_text().replace(ROW, NEW_ROW))  # the format: one row
    with open(where / "logic" / "input.lp", "a") as f:  # its documentation: one entry
        f.write(ENTRY)
    with open(where / "logic" / "indications.lp", "a") as f:
        f.write(RULE)
    doc = json.loads(EXAMPLE.read_text())

    # the schema states it
    schema = json.loads(run(where, "schema").stdout)
    assert schema["properties"]["lesions"]["items"]["properties"]["ulcerated"] == {"type": "boolean"}

    # the checker checks it, and suggests it for a misspelling
    doc["lesions"][0]["ulcerated"] = "yes"
    doc["lesions"][0]["ulcerate"] = True
    answer = json.loads(run(where, "check", "-", "--format", "json", stdin=json.dumps(doc)).stdout)
    errors = {e["path"]: e["message"] for e in answer["errors"]}
    assert errors == {"lesions[0].ulcerated": 'must be true or false, found the text "yes"',
                      "lesions[0].ulcerate": "`ulcerate` is not a field of the case format (did you mean `ulcerated`?)"}

    # it reaches the solver as a fact: the new rule reads it and the lesion is covered
    del doc["lesions"][0]["ulcerate"]
    doc["lesions"][0]["ulcerated"] = True
    covered = run(where, "check", "-", "--format", "json", stdin=json.dumps(doc))
    assert json.loads(covered.stdout)["decision"] == "covered", covered.stdout + covered.stderr

    # left out, explanations say it is not documented, in the table's words
    del doc["lesions"][0]["ulcerated"]
    explained = run(where, "explain", "--full", "-", stdin=json.dumps(doc))  # (the default view cuts rows at 80 columns)
    assert explained.returncode == 1 and "ulceration not documented" in explained.stdout

    # and lint finds input.lp documents exactly the facts the table gives
    lint = run(where, "lint")
    assert "ulcerated/3" not in lint.stdout and "\n0 errors" in lint.stdout, lint.stdout


def test_lint_holds_input_lp_to_the_facts_the_case_format_gives(tmp_path):
    policy = copy_policy(tmp_path)
    input_lp = policy / "logic" / "input.lp"
    text = input_lp.read_text()
    gone = text.replace("%! rapid_growth(C, L, B)\n", "").replace("#defined rapid_growth/3.\n", "")
    input_lp.write_text(gone + "\n%! ulceration(C, L, B)\n#defined ulceration/3.\n")
    messages = [f.message for f in lint_policy(policy).findings if f.severity == "error"]
    assert any("a case gives rapid_growth/3" in m and "does not document it" in m for m in messages), messages
    assert any("documents ulceration/3, which neither a case" in m for m in messages), messages


def test_the_facts_the_table_gives_are_those_input_lp_documents():
    policy_facts = {(name, arity) for name, arity in case_format.facts().items()}
    assert ("size_um", 3) in policy_facts and ("line_lesion", 4) in policy_facts and ("immunosuppressed", 2) in policy_facts
    assert not [f for f in lint_policy().findings if "input.lp" in f.where and f.severity == "error"]
