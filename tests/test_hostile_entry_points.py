"""Bad, hostile and broken input at the other entry points: `explain`, `diff`, `test`, `lint` and
`batch`. Each answers clearly (an invalid case, a failed test, a lint finding, exit 2 for bad
usage, exit 3 naming the broken policy file and line), loses nothing, lets no id or file name
print a line of its own, and never crashes (exit 4 would be an unhandled case).

tests/test_hostile_input.py does this for `check` and the case reader, tests/test_broken_policy.py
for a broken policy under `check`, tests/test_batch.py for batch's own input. Most checks here
go through the library; a few through the installed command, for the exit codes.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from mohs_asp.batch import answers_file, pool as batch
from mohs_asp import api
from mohs_asp.explain import why as explain
from mohs_asp.case import jsonl
from mohs_asp.authoring import policy_tests
from helpers import check, check_file
from mohs_asp.case.check import parse_case
from mohs_asp.authoring.diff import case_files, diff_policies, read_cases
from mohs_asp.errors import CaseInvalid, PolicyError, UsageError
from mohs_asp.authoring.lint import lint_policy
from mohs_asp.policy.load import default_root, load_policy
from mohs_asp.render import render_explain
from mohs_asp.authoring.runner import run_tests
from helpers import copy_policy

TESTS = Path(__file__).resolve().parent
from helpers import EXE
needs_exe = pytest.mark.skipif(EXE is None, reason="mohs-asp is not installed in this environment")
TOO_LONG = "x" * 300  # no file system takes a name this long: looking it up fails (ENAMETOOLONG)

NOSE = {"id": "nose", "date_of_service": "2026-03-01",
        "lesions": [{"id": "A", "diagnosis": "C44.311", "site": "nose"}],
        "lines": [{"line": 1, "code": "17311", "lesion": "A"}, {"line": 2, "code": "88331", "lesion": "A"}]}
NOSE_YAML = """\
id: nose
date_of_service: 2026-03-01
lesions:
  - {id: A, diagnosis: C44.311, site: nose}
lines:
  - {line: 1, code: "17311", lesion: A}
"""
# 1.5 cm on the back: covered only if the size threshold is at most 1.5 cm
BACK = {"id": "back", "date_of_service": "2026-03-01",
        "lesions": [{"id": "A", "diagnosis": "C44.519", "site": "back", "size_cm": Decimal("1.5")}],
        "lines": [{"line": 1, "code": "17313", "lesion": "A"}]}


def run(*args, stdin: bytes | None = None):
    return subprocess.run([EXE, *map(str, args)], capture_output=True, input=stdin, timeout=120)


def no_crash(result) -> None:
    assert result.returncode in (0, 1, 2, 3), (result.returncode, result.stderr)
    assert b"Traceback" not in result.stderr and b"internal error" not in result.stderr, result.stderr


@pytest.fixture
def copy(tmp_path) -> Path:
    """A copy of the policy (logic/ and data/, no tests/), to break."""
    return copy_policy(tmp_path / "policy")


def append(path: Path, text: str | bytes) -> int:
    """Add lines at the end of a file; the line number of the first one."""
    old = path.read_bytes()
    if not old.endswith(b"\n"):
        old += b"\n"
    path.write_bytes(old + (text.encode() if isinstance(text, str) else text))
    return old.count(b"\n") + 1


def add_rule(policy: Path, rule: str, rule_id: str = "odd") -> int:
    """A rule, named and quoting the contract's reading (as the rules at the end of
    logic/claims.lp do, under no paragraph of the payer's), at the end of logic/claims.lp; its
    line number."""
    quote = ("decision: covered when every MMS line is payable, not_covered when any MMS line is denied, "
             "no_mms when the case has no MMS line.")
    return append(policy / "logic" / "claims.lp", f'% rule: {rule_id}\n% reading: "{quote}"\n{rule}\n') + 2


# -- explain -----------------------------------------------------------------------------------


HOSTILE_CASES = {
    "nul.json": json.dumps({**NOSE, "id": "A\u0000B"}).encode(),
    "surrogate.json": b'{"id": "\\ud800", "date_of_service": "2026-03-01"}',
    "tag.yaml": b"id: !!python/object/apply:os.system ['echo pwned']\ndate_of_service: 2026-03-01\n",
    "laughs.yaml": b"a: &a [lol, lol]\nb: [*a, *a]\n",
    "deep.json": b"[" * 100_000 + b"]" * 100_000,
    "latin1.json": b'{"id": "caf\xe9"}',
    "asp.json": json.dumps({**NOSE, "id": 'x"). covered. %\n#show y/1.'}).encode(),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_CASES))
def test_explain_answers_hostile_input_as_check_does(tmp_path, policy, name):
    path = tmp_path / name
    path.write_bytes(HOSTILE_CASES[name])
    plain, explained = check_file(str(path), policy), check_file(str(path), policy, explain=True)
    if plain["status"] == "invalid":
        assert explained == plain
    else:
        for item in explained["lesions"] + explained["lines"]:
            item.pop("explanation"), item.pop("would_qualify", None)
        assert explained == plain
    text = render_explain(check_file(str(path), policy, explain=True))
    assert "pwned" not in text and "#show y/1.\n" not in text
    assert all(c == "\n" or c.isprintable() for c in text)  # the id's newline comes back as \n, escaped


def test_explaining_a_case_twice_as_large_takes_twice_the_work_not_four_times(policy, monkeypatch):
    """A case with 100 lesions and 500 lines took 7.5 s to explain: every line looked through
    every rule firing of the case. Counted here in the terms explanations fill with values."""
    def case(n: int) -> dict:
        lesions = [{"id": f"L{i}", "diagnosis": "C44.311", "site": "nose", "size_cm": Decimal("2.5")} for i in range(n)]
        lines = [{"code": ["17311", "17312", "88331", "11102", "13151"][j % 5], "lesion": f"L{j % n}"} for j in range(5 * n)]
        return {"id": "big", "date_of_service": "2026-03-01", "lesions": lesions, "lines": lines}

    count = 0
    real = explain._value

    def counting(term, binding):
        nonlocal count
        count += 1
        return real(term, binding)

    monkeypatch.setattr(explain, "_value", counting)
    work = []
    for n in (8, 32):
        count = 0
        [answer] = explain.explain_cases([parse_case(case(n), policy)], policy)  # in this process: counted
        assert answer["status"] == "ok" and len(answer["lines"]) == 5 * n
        work.append(count)
    assert work[1] < 6 * work[0], work  # four times the case: about four times the work (it was 13)


def test_explain_is_not_thrown_by_a_negative_number_in_an_atom(copy):
    """An atom whose first argument is -5 is no case's (it is where the case key goes); it was
    read as the fifth case from the end (out[-5]), and with fewer cases it crashed."""
    add_rule(copy, "offset(-5) :- case(C).")
    answer = check_file(str(TESTS / "examples" / "trunk-small-nodular-denied.case.json"), load_policy(copy), explain=True)
    assert answer["status"] == "ok" and answer["decision"] == "not_covered"


# -- diff: JSON Lines read as batch reads them ------------------------------------------------


def test_diff_reads_json_lines_as_batch_does(tmp_path, policy):
    raw = [
        "\ufeff".encode() + json.dumps(NOSE).encode(),  # a byte-order mark before the first line
        b"",  # blank lines are answered, not skipped: line N is case N
        b"   \t",
        b'{"id": "caf\xe9"}',  # not UTF-8: an invalid case, not a crash
        b"not json",
        b"[1, 2]",
        b'{"id": "cr", \r "date_of_service": "2026-03-01"}',  # \r is JSON whitespace, not a line break
        json.dumps({**NOSE, "id": "crlf"}).encode() + b"\r",
    ]
    path = tmp_path / "cases.jsonl"
    path.write_bytes(b"\n".join(raw) + b"\n")
    read = list(read_cases([str(path)]))
    assert [source for source, _ in read] == [f"{path}:{n}" for n in range(1, len(raw) + 1)]
    for (_, doc), line in zip(read, raw):
        expected = jsonl.document(line + b"\n")
        if isinstance(expected, CaseInvalid):
            assert isinstance(doc, CaseInvalid) and doc.errors == expected.errors
        else:
            assert doc == expected
    statuses = [a["status"] for a in api.answer([doc for _, doc in read], policy)]
    assert statuses == ["ok", "invalid", "invalid", "invalid", "invalid", "invalid", "ok", "ok"]
    report = diff_policies([str(path)], policy, policy)
    assert report.cases == len(raw) and report.changed == []


@needs_exe
def test_diff_of_a_json_lines_file_with_a_byte_that_is_not_utf8_answers_every_line(tmp_path):
    path = tmp_path / "cases.jsonl"
    path.write_bytes(json.dumps(NOSE).encode() + b'\n{"id": "\xff"}\n\n')
    result = run("diff", "--against", default_root(), path, "--format", "json")
    no_crash(result)
    assert result.returncode == 0 and json.loads(result.stdout)["cases"] == 3


def test_a_line_over_the_limit_is_an_invalid_case_in_diff_too(tmp_path, monkeypatch):
    monkeypatch.setattr(jsonl, "MAX_LINE_BYTES", 100)
    path = tmp_path / "cases.jsonl"
    path.write_text(json.dumps({**NOSE, "id": "x" * 200}) + "\n" + json.dumps({"id": "short"}) + "\n")
    [(_, long), (_, short)] = read_cases([str(path)])
    assert isinstance(long, CaseInvalid) and "longer than" in long.errors[0].message
    assert short == {"id": "short"}


def test_diff_answers_a_big_file_a_chunk_at_a_time(tmp_path, policy, monkeypatch):
    """Not every case in memory at once: 1,100 lines are answered 500 at a time."""
    path = tmp_path / "cases.jsonl"
    path.write_text((json.dumps({"id": "c", "date_of_service": "2026-03-01"}) + "\n") * 1100)
    seen = []
    real = api.answer
    monkeypatch.setattr(api, "answer", lambda docs, *a: seen.append(len(docs)) or real(docs, *a))
    assert diff_policies([str(path)], policy, policy, chunk_size=500).cases == 1100
    assert seen == [500, 500, 500, 500, 100, 100]


def test_diff_text_cannot_be_forged_by_ids(tmp_path, policy, copy):
    thresholds = copy / "data" / "thresholds.csv"
    thresholds.write_text(thresholds.read_text().replace("large_lesion_min,2.0,cm,", "large_lesion_min,1.5,cm,"))
    forged = "x\nother.json (case y)\n  lines[9].outcome: denied -> payable"
    case = {**BACK, "id": f"back{forged}", "lesions": [{**BACK["lesions"][0], "id": f"A{forged}"}],
            "lines": [{"line": 1, "code": "17313", "lesion": f"A{forged}"}]}
    path = tmp_path / "cases.jsonl"
    path.write_text(json.dumps(case, default=float) + "\n")
    report = diff_policies([str(path)], policy, load_policy(copy))
    assert len(report.changed) == 1
    text = report.render().splitlines()
    assert len(text) == 2 + len(report.changed[0].changes)  # the case, a line a change, the count
    assert not any(line.startswith(("other.json", "  lines[9]")) for line in text), text


def test_a_test_file_given_to_diff_keeps_the_keys_it_gives_twice(tmp_path, policy):
    path = tmp_path / "twice.yaml"
    path.write_text("id: a\nid: b\ndate_of_service: 2026-03-01\nexpect: {decision: no_mms}\n")
    [(_, doc)] = read_cases([str(path)])
    answer = check(doc, policy)
    assert answer["status"] == "invalid" and "more than once" in answer["errors"][0]["message"]


@needs_exe
def test_diff_usage_errors_and_broken_policies(tmp_path, copy):
    case = TESTS / "examples" / "nose-bcc-covered.case.json"
    (tmp_path / "empty").mkdir()
    (tmp_path / "not-cases").mkdir()
    (tmp_path / "not-cases" / "notes.txt").write_text("{}")
    for folder in ("empty", "not-cases"):
        with pytest.raises(UsageError, match="no cases"):
            diff_policies([str(tmp_path / folder)], load_policy(), load_policy())
    missing = run("diff", "--against", default_root(), tmp_path / "no-such.json")
    no_crash(missing)
    assert missing.returncode == 2 and b"no such file" in missing.stderr
    line = append(copy / "logic" / "claims.lp", "broken(X :- .\n")
    for args in (["--against", copy], ["--against", default_root(), "--policy", copy]):
        broken = run("diff", *args, case)
        no_crash(broken)
        assert broken.returncode == 3 and f"logic/claims.lp:{line}:".encode() in broken.stderr


# -- test --------------------------------------------------------------------------------------

HOSTILE_TESTS = {
    "invalid-yaml.yaml": "id: [unclosed\n",
    "laughs.yaml": "a: &a [lol, lol]\nb: [*a, *a]\nexpect: {decision: covered}\n",
    "tag.yaml": NOSE_YAML + "expect: !!python/object/apply:os.system ['echo pwned']\n",
    "expect-a-list.yaml": NOSE_YAML + "expect: [covered]\n",
    "expect-text.yaml": NOSE_YAML + "expect: covered\n",
    "expect-empty.yaml": NOSE_YAML + "expect:\n",
    "fired-a-mapping.yaml": NOSE_YAML + "expect:\n  fired: {mms_payable: 1}\n",
    "fired-not-ids.yaml": NOSE_YAML + "expect:\n  fired: [[mms_payable], 3, null]\n",
    "lesion-id-a-list.yaml": NOSE_YAML + "expect:\n  lesions: [{id: [A]}, 7]\n",
    "line-a-list.yaml": NOSE_YAML + "expect:\n  lines: [{line: [1]}]\n  errors: [1, null]\n",
    "nan.yaml": NOSE_YAML + "expect:\n  decision: .nan\n",
    "empty.yaml": "",
    "pair.case.json": json.dumps(NOSE),
    "pair.expected.json": "[1, 2]",
    "other.case.json": json.dumps(NOSE),
    "other.expected.json": b"\xff\xfe",
}


@pytest.fixture
def hostile_tests(tmp_path) -> Path:
    folder = tmp_path / "tests"
    folder.mkdir()
    for name, text in HOSTILE_TESTS.items():
        (folder / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    (folder / "latin1.yaml").write_bytes(b"id: caf\xe9\nexpect: {}\n")
    (folder / "passes.yaml").write_text(NOSE_YAML + "expect:\n  decision: covered\n  fired: mms_payable\n")
    return folder


def test_hostile_test_files_are_failures_never_a_crash(hostile_tests, policy):
    report = run_tests([str(hostile_tests)], policy)
    by_name = {r.path.name: r for r in report.results}
    assert sorted(by_name) == sorted({*HOSTILE_TESTS, "latin1.yaml", "passes.yaml"} - {"pair.expected.json", "other.expected.json"})
    assert by_name.pop("passes.yaml").passed
    assert all(not r.passed for r in by_name.values())
    problem = {name: r.problem for name, r in by_name.items()}
    said = {name: [str(d) for d in r.differences] for name, r in by_name.items()}
    assert problem["empty.yaml"] == "cannot read the file: the file is empty"  # not "the file: : the file"
    assert problem["latin1.yaml"].startswith("cannot read the file: the file is not UTF-8")
    assert "could not determine a constructor" in problem["tag.yaml"]
    assert "anchors and aliases" in problem["laughs.yaml"]
    assert problem["expect-a-list.yaml"].startswith("`expect:` must hold parts of the answer") and "found a list" in problem["expect-a-list.yaml"]
    assert 'found the text "covered"' in problem["expect-text.yaml"]
    assert problem["expect-empty.yaml"].startswith("no `expect:` in the file, or an empty one")
    assert problem["pair.case.json"].startswith("pair.expected.json must hold parts of the answer")
    assert problem["other.case.json"].startswith("cannot read other.expected.json: the file is not UTF-8")
    assert said["fired-a-mapping.yaml"] == ["fired: expected {'mms_payable': 1}, got 'not a rule id: `fired:` lists rule ids (text)'"]
    assert len(said["fired-not-ids.yaml"]) == 3
    assert said["lesion-id-a-list.yaml"] == ["lesions[id=['A']]: expected {'id': ['A']}, got '(missing)'",
                                             "lesions[id=None]: expected 7, got '(missing)'"]
    assert said["line-a-list.yaml"][0] == "lines[line=[1]]: expected {'line': [1]}, got '(missing)'"


@needs_exe
def test_the_test_command_on_hostile_files_prints_strict_json(hostile_tests):
    def no_constants(name):
        raise ValueError(f"{name} is not JSON")

    result = run("test", hostile_tests, "--format", "json")
    no_crash(result)
    assert result.returncode == 1
    report = json.loads(result.stdout, parse_constant=no_constants)  # a .nan expectation printed as "NaN", not NaN
    nan = next(f for f in report["failures"] if f["file"].endswith("nan.yaml"))
    assert nan["differences"] == [{"path": "decision", "expected": "NaN", "actual": "covered"}]


def test_the_test_report_escapes_file_names_keys_and_values(tmp_path, policy):
    forged = "\nPASS everything\n"
    (tmp_path / f"a{forged}.yaml").write_text(NOSE_YAML + f"expect:\n  {json.dumps('deci' + forged)}: covered\n")
    (tmp_path / "b.yaml").write_text(NOSE_YAML.replace("site: nose", f"site: {json.dumps('nose' + forged)}")
                                     + "expect: {decision: covered}\n")
    text = run_tests([str(tmp_path)], policy).render()
    assert not any(line.startswith("PASS") for line in text.splitlines()), text
    assert text.count("\\nPASS everything\\n") == 3  # the file name, the key, the site in the input error


def test_a_key_given_twice_in_a_test_file_fails_the_test(tmp_path, policy):
    (tmp_path / "id-twice.yaml").write_text("id: a\nid: b\ndate_of_service: 2026-03-01\nexpect: {decision: no_mms}\n")
    (tmp_path / "expect-twice.yaml").write_text(NOSE_YAML + "expect: {decision: not_covered}\nexpect: {decision: covered}\n")
    report = run_tests([str(tmp_path)], policy)
    assert [r.passed for r in report.results] == [False, False]
    errors = [e["message"] for r in report.results for e in r.errors]
    assert errors == ["`expect` is given more than once; give each field once", "`id` is given more than once; give each field once"]


def test_a_test_file_that_cannot_be_read_fails_alone(tmp_path, policy, monkeypatch):
    (tmp_path / "a.yaml").write_text(NOSE_YAML + "expect: {decision: covered}\n")
    (tmp_path / "b.yaml").write_text(NOSE_YAML + "expect: {decision: covered}\n")
    real = policy_tests.read_document

    def unreadable(source):
        if source.endswith("a.yaml"):
            raise UsageError(f"cannot read {source}: Permission denied")  # what read_document says for EACCES
        return real(source)

    monkeypatch.setattr(policy_tests, "read_document", unreadable)
    report = run_tests([str(tmp_path)], policy)
    assert [(r.path.name, r.passed) for r in report.results] == [("a.yaml", False), ("b.yaml", True)]
    assert "Permission denied" in report.results[0].problem


def test_paths_the_system_cannot_look_up_are_usage_errors(tmp_path, policy):
    long = str(tmp_path / TOO_LONG)
    for call in (lambda: run_tests([long], policy), lambda: case_files([long]), lambda: load_policy(long)):
        with pytest.raises(UsageError, match="File name too long"):
            call()
    with pytest.raises(UsageError, match="File name too long"), answers_file.output(Path(long)):
        pass
    # X.expected.json is 4 characters longer than X.case.json: only the pair's name is too long
    case = tmp_path / ("y" * 245 + ".case.json")
    case.write_text(json.dumps(NOSE))
    [result] = run_tests([str(tmp_path)], policy).results
    assert result.problem.startswith("no `expect:`")


@needs_exe
def test_the_commands_exit_2_on_a_path_too_long(tmp_path):
    long = tmp_path / TOO_LONG
    for args in (["test", long], ["diff", "--against", default_root(), long], ["lint", "--policy", long],
                 ["batch", "-", "--out", long]):
        result = run(*args, stdin=b"")
        no_crash(result)
        assert result.returncode == 2 and b"File name too long" in result.stderr, (args, result.stderr)


# -- lint, and the policy under every command -------------------------------------------------


@pytest.mark.parametrize("rule,says", [
    ("payable(C, f(N)) :- line(C, N, _).", "f(1) is not a line number"),
    ("bundled(C, N, x) :- line(C, N, _).", "x is not a line number"),
    ("medically_necessary(C, -1) :- case(C).", "names no lesion of the case"),
    ("indication(C, L, f(x)) :- lesion(C, L).", "f(x) is not an indication's name"),
])
def test_a_head_the_answer_cannot_be_read_from_is_a_broken_policy(copy, rule, says):
    """A rule deriving an outcome, a lesion's status or an indication in a shape the answer
    cannot hold was a crash (exit 4), or worse, for `-1`, the last lesion's answer."""
    line = add_rule(copy, rule)
    with pytest.raises(PolicyError) as e:
        check(json.loads((TESTS / "examples" / "nose-bcc-covered.case.json").read_text()), load_policy(copy))
    assert says in str(e.value)
    if "medically_necessary" not in rule:  # derived by a rule: named with its place
        assert str(e.value).startswith(f"logic/claims.lp:{line}: rule odd derives ")


def test_a_decision_the_contract_does_not_know_is_a_broken_policy(copy):
    claims = copy / "logic" / "claims.lp"
    claims.write_text(claims.read_text().replace("decision(C,no_mms) :-", "decision(C,maybe) :-"))
    with pytest.raises(PolicyError, match="decision maybe; it must be one of covered, not_covered, no_mms"):
        check({"id": "no-lines", "date_of_service": "2026-03-01"}, load_policy(copy))


@needs_exe
def test_lint_and_check_report_an_unreadable_head_at_its_line(copy):
    line = add_rule(copy, "bundled(C, N, x) :- line(C, N, _).")
    report = lint_policy(copy)
    assert not report.ok
    assert [f.where for f in report.errors] == [f"logic/claims.lp:{line}"]
    result = run("check", TESTS / "examples" / "nose-bcc-covered.case.json", "--policy", copy)
    no_crash(result)
    assert result.returncode == 3 and f"logic/claims.lp:{line}: rule odd derives bundled(".encode() in result.stderr


def test_a_rule_deriving_the_engines_own_records_is_refused(copy):
    line = add_rule(copy, "__fired(a, b, c) :- case(C).")
    with pytest.raises(PolicyError, match=f"logic/claims.lp:{line}: __fired/3: predicate names beginning with __"):
        load_policy(copy)


def test_a_data_row_with_more_values_than_columns_is_refused(copy):
    """An unquoted comma in a label cut it short, unseen."""
    line = append(copy / "data" / "code_sets.csv", "other,99199,99199,Label, with a comma\n")
    with pytest.raises(PolicyError, match=f"data/code_sets.csv:{line}: 5 values for 4 columns"):
        load_policy(copy)
    report = lint_policy(copy)
    assert [f.where for f in report.errors] == [f"data/code_sets.csv:{line}"]


def test_a_logic_file_that_cannot_be_read_names_itself(copy, monkeypatch):
    real = Path.read_bytes

    def read_bytes(path):
        if path.name == "claims.lp":
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    with pytest.raises(PolicyError, match="^logic/claims.lp: cannot be read: Permission denied$"):
        load_policy(copy)


def test_a_folder_named_like_a_logic_file_is_not_read_as_one(copy):
    (copy / "logic" / "notes.lp").mkdir()
    (copy / "logic" / "gone.lp").symlink_to(copy / "nowhere.lp")
    assert len(load_policy(copy).rules) == len(load_policy().rules)


def test_lint_skips_a_test_case_it_cannot_read(copy, monkeypatch):
    (copy / "tests").mkdir()
    (copy / "tests" / "a.yaml").write_text(NOSE_YAML + "expect: {decision: covered}\n")
    (copy / "tests" / "b.yaml").write_text(NOSE_YAML + "expect: {decision: covered}\n")
    real = policy_tests.read_document

    def unreadable(source):
        if source.endswith("a.yaml"):
            raise UsageError(f"cannot read {source}: Permission denied")
        return real(source)

    monkeypatch.setattr(policy_tests, "read_document", unreadable)
    report = lint_policy(copy)
    assert report.ok and report.cases == 2  # the sample case and b.yaml; `mohs-asp test` reports a.yaml


def test_lint_of_an_empty_main_lp_says_it_has_no_rules(copy):
    (copy / "logic" / "main.lp").write_text("")
    report = lint_policy(copy)
    assert not report.ok and report.rules == 0
    assert report.render().splitlines()[-1].endswith(f"in {copy} (0 rules, 1 case solved, ICD-10-CM {report.release})")


# -- batch -------------------------------------------------------------------------------------


def test_out_the_same_file_as_the_input_is_refused(tmp_path, policy):
    cases = tmp_path / "cases.jsonl"
    cases.write_text(json.dumps(NOSE) + "\n")
    with pytest.raises(UsageError, match="is INPUT itself"):
        batch.run(str(cases), tmp_path / "." / "cases.jsonl", policy, workers=1)
    assert cases.read_text() == json.dumps(NOSE) + "\n"


def test_the_json_lines_reader_is_batchs(tmp_path):
    stream = io.BytesIO(b'{"id": "a"}\n\n\xff\n')
    documents = [jsonl.document(raw) for raw in jsonl.read_lines(stream)]
    path = tmp_path / "cases.jsonl"
    path.write_bytes(b'{"id": "a"}\n\n\xff\n')
    read = [doc for _, doc in jsonl.read_json_lines(str(path))]
    assert read[0] == documents[0] == {"id": "a"}
    assert [d.errors for d in read[1:]] == [d.errors for d in documents[1:]]


@needs_exe
@pytest.mark.skipif(sys.platform != "linux", reason="reads the process table with ps -s")
@pytest.mark.parametrize("kill", [os.kill, os.killpg], ids=["the-batch", "its-process-group"])
def test_sigterm_ends_a_batch_as_ctrl_c_does(tmp_path, kill):
    """A supervisor's SIGTERM left a .part file beside --out and, sent to the batch alone, the
    workers running forever; sent to the group, each worker printed a traceback."""
    out = tmp_path / "answers.jsonl"
    out.write_text("old answers\n")
    proc = subprocess.Popen([EXE, "batch", "-", "--out", str(out), "--workers", "2"], stdin=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)

    def session() -> list[str]:
        return subprocess.run(["ps", "-o", "pid=", "-s", str(proc.pid)], capture_output=True, text=True).stdout.split()

    try:
        proc.stdin.write(((json.dumps(NOSE) + "\n") * (batch.CHUNK_LINES + 10)).encode())
        proc.stdin.flush()  # stdin stays open: the batch is still reading
        deadline = time.monotonic() + 30
        while len(session()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(session()) >= 3
        kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        deadline = time.monotonic() + 10
        while session() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert session() == []
    finally:  # the batch's process group: itself and its workers, whatever happened to the batch
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
    assert proc.returncode == 143, err
    assert b"terminated" in err and b"Traceback" not in err
    assert out.read_text() == "old answers\n"
    assert [p.name for p in tmp_path.iterdir()] == ["answers.jsonl"]


# -- numbers past Decimal's reach and bare YAML tags at every entry point (issue 10, item 9) ----

HUGE_JSON = json.dumps({**NOSE, "lesions": [{**NOSE["lesions"][0], "size_cm": "HUGE"}]}).replace('"HUGE"', "1e99999999999999999999")
HUGE_YAML = NOSE_YAML.replace("site: nose}", "site: nose, size_cm: 1e99999999999999999999}")
BARE_FLOAT_YAML = NOSE_YAML.replace("  - {id: A, diagnosis: C44.311, site: nose}\n",
                                    "  - id: A\n    diagnosis: C44.311\n    site: nose\n    size_cm: !!float\n")
TIMESTAMP_YAML = NOSE_YAML.replace("date_of_service: 2026-03-01", "date_of_service: !!timestamp x")


@needs_exe
def test_batch_answers_a_huge_exponent_invalid_and_goes_on(tmp_path):
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join([json.dumps(NOSE), HUGE_JSON, json.dumps(NOSE)]) + "\n")
    result = run("batch", path)
    no_crash(result)
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [a["status"] for a in answers] == ["ok", "invalid", "ok"]
    assert answers[1]["input_line"] == 2
    assert "must be at most 100 cm, found 1e99999999999999999999 cm" in answers[1]["errors"][0]["message"]


@needs_exe
def test_diff_compares_a_huge_exponent_and_a_bare_tag_as_invalid_cases(tmp_path, copy):
    (tmp_path / "cases.jsonl").write_text(HUGE_JSON + "\n" + json.dumps(NOSE) + "\n")
    (tmp_path / "float.yaml").write_text(BARE_FLOAT_YAML)
    (tmp_path / "timestamp.yaml").write_text(TIMESTAMP_YAML)
    result = run("diff", tmp_path / "cases.jsonl", tmp_path / "float.yaml", tmp_path / "timestamp.yaml",
                 "--against", copy, "--format", "json")
    no_crash(result)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["cases"] == 4 and report["changed"] == 0


@needs_exe
def test_test_and_lint_go_on_past_a_huge_exponent_and_bare_tags(copy):
    tests = copy / "tests"
    tests.mkdir()
    for name, text in (("huge.yaml", HUGE_YAML), ("float.yaml", BARE_FLOAT_YAML), ("timestamp.yaml", TIMESTAMP_YAML)):
        (tests / name).write_text(text + "expect: {decision: covered}\n")
    (tests / "huge.case.json").write_text(HUGE_JSON)
    (tests / "huge.expected.json").write_text('{"decision": "covered"}')
    (tests / "passes.yaml").write_text(NOSE_YAML + "expect: {decision: covered}\n")
    result = run("test", tests, "--policy", copy, "--format", "json")
    no_crash(result)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["tests"] == 5 and report["passed"] == 1, report
    lint = run("lint", "--policy", copy)
    no_crash(lint)
    assert lint.returncode == 0, lint.stdout


# -- terminal safety: rule ids and sentences from a policy (issue 10, item 13) ------------------

STEER = "\x1b[2J\x1b]0;pwned\x07\u202e\u2066\u200b\ufeff\x9b"


def _raw_steering(text: str) -> list[str]:
    import unicodedata

    return [c for c in text if c != "\n" and unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]


@needs_exe
def test_rule_ids_and_sentences_from_a_policy_reach_the_terminal_escaped(tmp_path, copy):
    claims = copy / "logic" / "claims.lp"
    text = claims.read_text()
    text = text.replace("% rule: mms_payable\n", f"% rule: mms_payable{STEER}\n")
    text = text.replace('following indications"\n% because: "lesion {L} is medically necessary',
                        f'following indications{STEER}"\n% because: "lesion {{L}} is medically{STEER} necessary')
    claims.write_text(text)
    case = tmp_path / "nose.json"
    case.write_text(json.dumps(NOSE))
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "no-mms.yaml").write_text(NOSE_YAML.replace('code: "17311"', 'code: "99213"') + "expect: {decision: no_mms}\n")
    for args in (["rules"], ["check", case], ["explain", case], ["explain", "--full", case], ["test", tests, "--coverage"]):
        result = run(*args, "--policy", copy)
        no_crash(result)
        out = result.stdout.decode("utf-8")
        assert _raw_steering(out) == [], args
        if args[0] not in ("check", "explain") or "--full" in args:  # check and explain's default name no rule ids
            assert "mms_payable\\x1b[2J\\x1b]0;pwned\\x07\\u202e\\u2066\\u200b\\ufeff\\x9b" in out, (args, out)
    listed = json.loads(run("rules", "--policy", copy, "--format", "json").stdout)
    assert f"mms_payable{STEER}" in [r["id"] for r in listed]  # JSON: as the policy wrote it
    explained = json.loads(run("explain", case, "--policy", copy, "--format", "json").stdout)
    assert explained["lines"][0]["explanation"]["rule"] == f"mms_payable{STEER}"


def test_a_long_case_id_in_the_diff_report_is_cut_so_it_cannot_push_words_onto_a_line(tmp_path, policy, copy):
    (copy / "data" / "thresholds.csv").write_text((copy / "data" / "thresholds.csv").read_text().replace(",2.0,", ",1.5,"))
    padded = "back" + " " * 90 + "lines[1].outcome: denied -> payable"
    (tmp_path / "a.json").write_text(json.dumps({**BACK, "id": padded}, default=float))
    report = diff_policies([str(tmp_path / "a.json")], policy, load_policy(copy))
    assert report.changed, report.as_dict()
    lines = report.render().splitlines()
    assert lines[0] == f"{tmp_path / 'a.json'} (case back{' ' * 32}... ({len(padded)} characters))"
    assert not any(line.startswith("lines[1].outcome") for line in lines)


# -- the work of one case is bounded (issue 10, item 6) -----------------------------------------

# grounds without end for a case of 20 lesions or more: the policy's small sample case is decided
BIG_CASES_RUN_AWAY = ("big(C) :- case(C), #count{L : lesion(C,L)} >= 20.\n"
                      "boom(C,0) :- big(C).\nboom(C,N+1) :- boom(C,N).")
ONE_SECOND = {"MOHS_ASP_CPU_SECONDS": "1"}


def many_lesions(n: int, case_id: str = "many") -> dict:
    return {"id": case_id, "date_of_service": "2026-03-01",
            "lesions": [{"id": f"L{i}", "diagnosis": "C44.311", "site": "nose"} for i in range(n)],
            "lines": [{"line": 1, "code": "17311", "lesion": "L0"}]}


def run_fast(*args):
    return subprocess.run([EXE, *map(str, args)], capture_output=True, timeout=120, env={**os.environ, **ONE_SECOND})


@needs_exe
@pytest.mark.parametrize("command,verb", [("check", "decide"), ("explain", "explain")])
def test_a_case_past_the_time_limit_is_invalid_naming_it_and_a_small_one_is_answered(tmp_path, copy, command, verb):
    add_rule(copy, BIG_CASES_RUN_AWAY, "boom")
    (tmp_path / "big.json").write_text(json.dumps(many_lesions(20)))
    (tmp_path / "small.json").write_text(json.dumps(many_lesions(19, "small")))
    big = run_fast(command, tmp_path / "big.json", "--policy", copy, "--format", "json")
    no_crash(big)
    assert big.returncode == 2, big.stderr
    assert json.loads(big.stdout)["errors"] == [{"path": "", "message": f"the case is too large to {verb}: it takes "
                                                 "more than 1 s of processor time, the limit for one case (README, Input limits)"}]
    small = run_fast(command, tmp_path / "small.json", "--policy", copy, "--format", "json")
    assert small.returncode == 0, small.stderr
    assert json.loads(small.stdout)["decision"] == "covered"


@needs_exe
def test_in_batch_a_case_past_the_limit_is_one_answer_among_the_others(tmp_path, copy):
    add_rule(copy, BIG_CASES_RUN_AWAY, "boom")
    lines = [many_lesions(1, "a"), many_lesions(25, "big"), many_lesions(2, "b"), many_lesions(3, "c")]
    (tmp_path / "cases.jsonl").write_text("".join(json.dumps(doc) + "\n" for doc in lines))
    result = run_fast("batch", tmp_path / "cases.jsonl", "--policy", copy, "--workers", "1")
    no_crash(result)
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [(a["case"], a["status"]) for a in answers] == [("a", "ok"), ("big", "invalid"), ("b", "ok"), ("c", "ok")]
    assert answers[1]["input_line"] == 2 and "more than 1 s of processor time" in answers[1]["errors"][0]["message"]
    assert all(a["decision"] == "covered" for a in answers if a["status"] == "ok")


def test_a_chunk_past_the_limit_is_answered_case_by_case(copy, monkeypatch):
    from mohs_asp.engine import limits

    add_rule(copy, BIG_CASES_RUN_AWAY, "boom")
    monkeypatch.setenv("MOHS_ASP_CPU_SECONDS", "1")
    monkeypatch.setattr(limits, "CPU_PER_CASE", 0)
    runs = []
    real = limits.bounded
    monkeypatch.setattr("mohs_asp.api.bounded", lambda work, cases=1: runs.append(cases) or real(work, cases))
    policy = load_policy(copy)
    answers = list(api.answer([many_lesions(1, "a"), many_lesions(20, "big"), many_lesions(1, "b")], policy))
    assert [a["status"] for a in answers] == ["ok", "invalid", "ok"]
    assert runs == [3, 1, 1, 1, 1]  # the chunk, then each case alone, and the sample case once the big one is refused
