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
from helpers import check
from mohs_asp.errors import PolicyError, UsageError
from mohs_asp.policy.load import load_policy
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
        check(doc or json.loads(EXAMPLE.read_text()), load_policy(root))
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
    assert check(LARGE_ON_BACK, policy)["decision"] == "covered"  # through large_lesion
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

    monkeypatch.setattr("mohs_asp.policy.load.load_policy", broken)
    code, err = main_exit(monkeypatch, capsys, "check", EXAMPLE)
    assert code == 4
    assert err == "mohs-asp: internal error: ZeroDivisionError: a bug over two lines\n"


def test_main_keeps_the_decision_exit_code(monkeypatch, capsys):
    # typer.Exit is a RuntimeError: a catch-all in main() must not turn "not covered" into 4
    code, _ = main_exit(monkeypatch, capsys, "check", TESTS / "examples" / "trunk-small-nodular-denied.case.json")
    assert code == 1


# -- what a policy may read, and how much (issue 10, items 7 and 8) -----------------------------


@pytest.fixture
def outside(tmp_path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "evil.lp").write_text("decision(C, covered) :- case(C).\n")
    return folder


@pytest.mark.parametrize("include,says", [
    ('"../../outside/evil.lp"', 'names a file outside the policy folder'),
    ('"{outside}/evil.lp"', "names a file outside the policy folder"),
    ('"/etc/passwd"', "names a file outside the policy folder"),
    ('"link.lp"', "names a file outside the policy folder"),  # a link inside, to a file outside
    ('"fifo.lp"', "is not a regular file"),
    ('"/dev/zero"', "is not a regular file"),
    ('"sub"', "is not a regular file"),
    ('"-"', 'is not allowed: a policy includes only its own files ("-" would read standard input)'),
    ("<incmode>", "#include <incmode> is not allowed"),
    ('%* a comment *% "/dev/zero"', "is not a regular file"),
])
def test_an_include_outside_the_folder_or_not_a_regular_file_is_refused(copy, outside, include, says):
    import os

    os.mkfifo(copy / "logic" / "fifo.lp")
    (copy / "logic" / "sub").mkdir()
    (copy / "logic" / "link.lp").symlink_to(outside / "evil.lp")
    line = append(copy / "logic" / "main.lp", f"#include {include.format(outside=outside)}.\n")
    message = policy_error(copy)
    assert message.startswith(f"logic/main.lp:{line}: #include") and says in message, message


def test_an_include_in_a_comment_or_a_string_is_not_followed(copy):
    append(copy / "logic" / "main.lp", '% #include "/dev/zero".\n%* #include "/dev/zero". %* *% #include "-". *%\n'
                                       'note("#include \\"/dev/zero\\".").\n')
    assert len(load_policy(copy).rules) == len(load_policy().rules) + 1  # the note(...) fact


def test_an_included_file_inside_the_folder_is_read_whatever_its_name(copy):
    (copy / "extra").mkdir()
    (copy / "extra" / "more.txt").write_text('% rule: more\n% policy: "More."\nmore(C) :- case(C).\n')
    append(copy / "logic" / "main.lp", '#include "../extra/more.txt".\n')
    assert "more" in load_policy(copy).rules_by_id


def test_an_included_file_that_is_not_utf8_names_itself(copy):
    (copy / "logic" / "extra.txt").write_bytes(b"x.\n% caf\xe9\n")
    append(copy / "logic" / "main.lp", '#include "extra.txt".\n')
    assert policy_error(copy) == "logic/extra.txt:2: the file is not UTF-8 text (byte 8)"


@pytest.mark.parametrize("script", ["#script (python)\nimport os\n#end.\n", "#script(lua) x = 1 #end.\n"])
def test_script_is_refused_by_mohs_asp_itself(copy, script):
    line = append(copy / "logic" / "claims.lp", script)
    assert policy_error(copy).startswith(f"logic/claims.lp:{line}: #script is not allowed: mohs-asp runs no Python or Lua")


def test_logic_files_together_past_1_mb_are_refused(copy):
    from mohs_asp.policy.rulebook import MAX_LOGIC_BYTES

    (copy / "logic" / "big.lp").write_text("% padding\n" * (MAX_LOGIC_BYTES // 10))
    append(copy / "logic" / "main.lp", '#include "big.lp".\n')
    assert policy_error(copy) == "logic/big.lp: the logic files together are larger than 1 MB (the limit for a policy)"


def test_a_data_file_past_100000_rows_is_refused_naming_the_first_row_past_it(copy):
    from mohs_asp.policy.data import MAX_DATA_ROWS
    from mohs_asp.policy.load import Policy

    path = copy / "data" / "covered_diagnoses.csv"
    text = path.read_text()
    rows = len([line for line in text.splitlines() if line.strip() and not line.startswith("#")]) - 1
    path.write_text(text + "".join(f"Z{i:06d}\n" for i in range(MAX_DATA_ROWS - rows)))
    Policy(copy)  # exactly the limit: read (load_policy would keep it for the second look)
    line = append(path, "Z999999\n")
    assert policy_error(copy) == f"data/covered_diagnoses.csv:{line}: more than 100,000 rows (the limit for a data file)"


def test_a_data_file_that_is_a_fifo_is_refused_not_waited_on(copy):
    import os

    (copy / "data" / "histology.csv").unlink()
    os.mkfifo(copy / "data" / "histology.csv")
    assert policy_error(copy) == "data/histology.csv: is not a regular file (a FIFO, a device or a folder)"


@needs_exe
def test_a_file_in_the_working_folder_named_like_a_logic_file_does_not_replace_it(tmp_path):
    # clingo looks for an #include in the working folder first: `check` run where a claims.lp lies
    (tmp_path / "claims.lp").write_text("decision(C, covered) :- case(C).\n")
    denied = TESTS / "examples" / "trunk-small-nodular-denied.case.json"
    result = subprocess.run([EXE, "check", str(denied)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[0] == "trunk-small-nodular-denied: NOT COVERED"


@needs_exe
@pytest.mark.parametrize("include", ['"fifo.lp"', '"../../outside/evil.lp"', '"bad.txt"'])
def test_check_and_lint_refuse_a_bad_include_with_exit_3_and_a_finding(copy, outside, include):
    import os

    os.mkfifo(copy / "logic" / "fifo.lp")
    (copy / "logic" / "bad.txt").write_bytes(b"% caf\xe9\n")
    append(copy / "logic" / "main.lp", f"#include {include}.\n")
    result = run("check", EXAMPLE, "--policy", copy)
    assert result.returncode == 3, result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr and "PANIC" not in result.stderr
    lint = run("lint", "--policy", copy, "--format", "json")
    assert lint.returncode == 1
    [finding] = json.loads(lint.stdout)["findings"]
    assert finding["severity"] == "error" and finding["where"].startswith(("logic/main.lp", "logic/bad.txt")), finding


# -- a policy that runs away (issue 10, item 7): limits on grounding, exit 3 naming them ---------

RUNAWAY = {
    "recursion": "boom(C,0) :- case(C).\nboom(C,N+1) :- boom(C,N).",
    "cross-product": "wide(1..20000).\nboom(C,X,Y) :- case(C), wide(X), wide(Y).",
}
FAST = {"MOHS_ASP_CPU_SECONDS": "1"}  # the limits, lowered for a quick test
SMALL = {"MOHS_ASP_CPU_SECONDS": "60", "MOHS_ASP_MEMORY_MB": "150"}  # memory runs out first


def add_runaway(root: Path, kind: str) -> int:
    return append(root / "logic" / "claims.lp", f'% rule: boom\n% policy: "Boom."\n{RUNAWAY[kind]}\n') + 2


def run_limited(*args, limits=FAST):
    import os

    return subprocess.run([EXE, *map(str, args)], capture_output=True, text=True, timeout=120, env={**os.environ, **limits})


@needs_exe
@pytest.mark.parametrize("command,verb,kind,limits,limit", [("check", "decide", "recursion", FAST, "1 s of processor time"),
                                                            ("explain", "explain", "cross-product", SMALL, "150 MB of memory")])
def test_a_runaway_policy_exits_3_naming_the_limit(copy, command, verb, kind, limits, limit):
    add_runaway(copy, kind)
    result = run_limited(command, EXAMPLE, "--policy", copy, limits=limits)
    assert result.returncode == 3, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert f"the policy cannot {verb} a small sample case within {limit}" in result.stderr, result.stderr


@needs_exe
def test_lint_reports_a_runaway_policy_as_an_error_naming_the_limit(copy):
    add_runaway(copy, "recursion")
    result = run_limited("lint", "--policy", copy, "--format", "json")
    assert result.returncode == 1, result.stderr
    errors = [f["message"] for f in json.loads(result.stdout)["findings"] if f["severity"] == "error"]
    assert any("does not ground within 1 s of processor time" in e for e in errors), errors


@needs_exe
def test_batch_and_test_stop_with_exit_3_on_a_runaway_policy(copy, tmp_path):
    add_runaway(copy, "recursion")
    (tmp_path / "cases.jsonl").write_text(EXAMPLE.read_text().replace("\n", " ") + "\n")
    batch = run_limited("batch", tmp_path / "cases.jsonl", "--policy", copy, "--out", tmp_path / "answers.jsonl")
    assert batch.returncode == 3, batch.stderr
    assert "the policy cannot decide a small sample case within 1 s of processor time" in batch.stderr
    assert not (tmp_path / "answers.jsonl").exists()
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.yaml").write_text("id: t\ndate_of_service: 2026-03-01\nexpect: {decision: no_mms}\n")
    test = run_limited("test", tmp_path / "tests", "--policy", copy)
    assert test.returncode == 3, (test.stdout, test.stderr)


def test_the_limits_can_be_set_and_a_bad_setting_is_bad_usage(monkeypatch):
    from mohs_asp.engine import limits

    monkeypatch.setenv("MOHS_ASP_CPU_SECONDS", "7")
    assert limits.seconds(1) == 7 and limits.seconds(500) == 7 + 50
    monkeypatch.setenv("MOHS_ASP_MEMORY_MB", "lots")
    with pytest.raises(UsageError, match="MOHS_ASP_MEMORY_MB='lots': give a whole number"):
        limits.bounded(lambda: 1)
