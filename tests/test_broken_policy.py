"""A policy author's mistakes, in a copy of the policy (--policy DIR): `check` exits 3 naming
`logic/FILE.lp:LINE` or `data/FILE.csv:LINE`, never answers wrongly, never shows a traceback.
A --policy folder that does not exist is bad usage (exit 2). Any other unexpected exception
is an internal error: one line, exit 4.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from mohs_asp import cli
from mohs_asp.api import check_document
from mohs_asp.errors import PolicyError, UsageError
from mohs_asp.policy import load_policy
from helpers import copy_policy

TESTS = Path(__file__).resolve().parent
EXAMPLE = TESTS / "examples" / "nose-bcc-covered.case.json"
from helpers import EXE
needs_exe = pytest.mark.skipif(EXE is None, reason="mohs-asp is not installed in this environment")

# 2.5 cm on the back: covered only through the large-lesion indication (logic/indications.lp)
LARGE_ON_BACK = {"id": "large", "date_of_service": "2026-03-01",
                 "lesions": [{"id": "A", "diagnosis": "C44.519", "site": "back", "size_cm": Decimal("2.5")}],
                 "lines": [{"line": 1, "code": "17313", "lesion": "A"}]}


def run(*args):
    return subprocess.run([EXE, *map(str, args)], capture_output=True, text=True, timeout=60)


@pytest.fixture
def copy(tmp_path) -> Path:
    return copy_policy(tmp_path / "policy")


def append(path: Path, text: str) -> int:
    """Add lines at the end of a file; the line number of the first one."""
    old = path.read_bytes()
    if not old.endswith(b"\n"):
        old += b"\n"
    path.write_bytes(old + (text.encode() if isinstance(text, str) else text))
    return old.count(b"\n") + 1


def replace(path: Path, old: str, new: str) -> int:
    """Replace text met once in a file; the line number where it is."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1
    path.write_text(text.replace(old, new), encoding="utf-8")
    return text[: text.index(old)].count("\n") + 1


def policy_error(root: Path, doc: dict | None = None) -> str:
    """The message of the PolicyError that loading the policy, or deciding `doc` under it, raises."""
    with pytest.raises(PolicyError) as e:
        check_document(doc or json.loads(EXAMPLE.read_text()), load_policy(root))
    return str(e.value)


# -- logic/ ----------------------------------------------------------------------------------


def test_a_syntax_error_names_its_file_and_line(copy):
    line = append(copy / "logic" / "indications.lp", "indication(C,L,x) :- lesion(C,L)\nfoo(C) :- case(C).\n")
    assert f"logic/indications.lp:{line + 1}:" in policy_error(copy)


def test_an_unsafe_variable_names_its_file_and_line(copy):
    line = append(copy / "logic" / "claims.lp", "flagged(C,X) :- case(C), not line(C,X,_).\n")
    message = policy_error(copy)
    assert f"logic/claims.lp:{line}:" in message and "unsafe" in message


def test_a_misspelt_body_predicate_stops_check_instead_of_answering_wrongly(copy, policy):
    assert check_document(LARGE_ON_BACK, policy)["decision"] == "covered"  # through large_lesion
    line = replace(copy / "logic" / "indications.lp", "large_lesion_min_um(T,When)", "large_lesion_min_umm(T,When)")
    message = policy_error(copy, LARGE_ON_BACK)  # without the check: not_covered, silently
    assert f"logic/indications.lp:{line}:" in message and "large_lesion_min_umm" in message


@pytest.mark.parametrize("rules", ["{ payable(C,N) } :- line(C,N,_).\n",
                                   "p(C) :- case(C), not q(C).\nq(C) :- case(C), not p(C).\n",
                                   "payable(C,N) | denied(C,N) :- line(C,N,_).\n"])
def test_a_policy_with_two_answers_names_the_rules_that_choose(copy, rules):
    line = append(copy / "logic" / "claims.lp", rules)
    message = policy_error(copy)
    assert "more than one answer" in message
    assert re.findall(r"logic/claims\.lp:(\d+)", message) == [str(line + i) for i in range(rules.count("\n"))]


def test_a_policy_with_no_answer_names_its_constraint(copy):
    line = append(copy / "logic" / "diagnosis.lp", ":- case(C).\n")
    message = policy_error(copy)
    assert "no answer" in message and f"logic/diagnosis.lp:{line}" in message


def test_a_missing_main_lp_is_a_broken_policy(copy):
    (copy / "logic" / "main.lp").unlink()
    with pytest.raises(PolicyError, match="holds no logic/main.lp"):
        load_policy(copy)


def test_a_missing_included_file_names_the_include(copy):
    (copy / "logic" / "show.lp").unlink()
    line = (copy / "logic" / "main.lp").read_text().splitlines().index('#include "show.lp".         % what the engine reads back') + 1
    assert f"logic/main.lp:{line}:" in policy_error(copy)


def test_a_policy_folder_that_does_not_exist_is_bad_usage(tmp_path):
    with pytest.raises(UsageError, match="no such policy folder"):
        load_policy(tmp_path / "nowhere")


# -- data/ -----------------------------------------------------------------------------------


@pytest.mark.parametrize("file,row,says", [
    ("sites.csv", "elbow,17312,no,no,\n", "family must be"),
    ("sites.csv", "elbow,17313,maybe,no,\n", "expected yes or no"),
    ("code_sets.csv", "mms,17399,17390,backwards\n", "runs backwards"),
    ("code_sets.csv", "Bad Set,17311,17311,x\n", "must be lower case"),
    ("mms_codes.csv", "17316,third,,\n", "stage must be"),
    ("histology.csv", "nodular,\n", "listed twice"),
    ("thresholds.csv", "big,Infinity,cm,x\n", "is not a size"),
    ("thresholds.csv", "big,1e999999999,cm,x\n", "is not a size"),
    ("thresholds.csv", "big,1e20,mm,x\n", "is not a size"),
    ("thresholds.csv", "big,NaN,cm,x\n", "is not"),
    ("thresholds.csv", "big,0.00001,cm,x\n", "whole number of micrometres"),
    ("thresholds.csv", "large lesion,2.0,cm,x\n", "must be lower case"),
    ("sites.csv", b"caf\xe9,17311,no,no,\n", "not UTF-8"),
])
def test_a_bad_data_row_names_its_file_and_line(copy, file, row, says):
    line = append(copy / "data" / file, row)
    message = policy_error(copy)
    assert message.startswith(f"data/{file}:{line}:") and says in message, message


def test_a_missing_data_file_is_named(copy):
    (copy / "data" / "histology.csv").unlink()
    assert "data/histology.csv is missing" in policy_error(copy)


def test_a_logic_file_that_is_not_utf8_names_its_line(copy):
    line = append(copy / "logic" / "claims.lp", b"% caf\xe9\n")
    assert f"logic/claims.lp:{line}: the file is not UTF-8 text" in policy_error(copy)


# -- through the installed command: exit codes, one message, no answer -------------------------


@needs_exe
@pytest.mark.parametrize("where,text,says", [
    ("logic/claims.lp", b"% caf\xe9 \xff\n", "not UTF-8"),  # without the check clingo aborts (and exits 1)
    ("logic/claims.lp", b"{ payable(C,N) } :- line(C,N,_).\n", "more than one answer"),
    ("logic/claims.lp", b":- case(C).\n", "no answer"),
    ("data/sites.csv", b"elbow,17312,no,no,\n", "family must be"),
])
def test_check_exits_3_naming_the_file_and_line(copy, where, text, says):
    line = append(copy / where, text)
    result = run("check", EXAMPLE, "--format", "json", "--policy", copy)
    assert result.returncode == 3, result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert f"{where}:{line}" in result.stderr and says in result.stderr


@needs_exe
def test_check_exits_3_on_a_misspelt_predicate(copy):
    line = replace(copy / "logic" / "indications.lp", "large_lesion_min_um(T,When)", "large_lesion_min_umm(T,When)")
    result = run("check", EXAMPLE, "--policy", copy)
    assert result.returncode == 3 and result.stdout == ""
    assert f"logic/indications.lp:{line}:" in result.stderr


@needs_exe
def test_check_with_a_policy_folder_that_does_not_exist_exits_2(tmp_path):
    result = run("check", EXAMPLE, "--policy", tmp_path / "nowhere")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == f"mohs-asp: no such policy folder: {tmp_path / 'nowhere'}"


# -- main(): the one place errors become exit codes --------------------------------------------


def main_exit(monkeypatch, capsys, *argv) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["mohs-asp", *map(str, argv)])
    with pytest.raises(SystemExit) as e:
        cli.main()
    return e.value.code, capsys.readouterr().err


def test_an_unexpected_exception_is_an_internal_error_in_one_line(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug\nover two lines")

    monkeypatch.setattr("mohs_asp.policy.load_policy", broken)
    code, err = main_exit(monkeypatch, capsys, "check", EXAMPLE)
    assert code == 4
    assert err == "mohs-asp: internal error: ZeroDivisionError: a bug over two lines\n"


def test_main_keeps_the_decision_exit_code(monkeypatch, capsys):
    # typer.Exit is a RuntimeError: a catch-all in main() must not turn "not covered" into 4
    code, _ = main_exit(monkeypatch, capsys, "check", TESTS / "examples" / "trunk-small-nodular-denied.case.json")
    assert code == 1
