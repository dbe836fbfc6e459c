"""`mohs-asp batch`: one answer per input line, in order, each what `check --format json` says;
--out all or nothing; Ctrl-C ends cleanly. Through the installed command (worker processes and
all), with a few pieces checked in the library."""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mohs_asp import batch
from mohs_asp.api import check_source
from mohs_asp.errors import OutputError
from mohs_asp.testing import split_test
from helpers import copy_policy

TESTS = Path(__file__).resolve().parent
from helpers import EXE
pytestmark = pytest.mark.skipif(EXE is None, reason="mohs-asp is not installed in this environment")

NOSE = {"id": "nose", "date_of_service": "2026-03-01",
        "lesions": [{"id": "A", "diagnosis": "C44.311", "site": "nose"}],
        "lines": [{"line": 1, "code": "17311", "lesion": "A"}, {"line": 2, "code": "88331", "lesion": "A"}]}


def run(*args, stdin: bytes | None = None, cwd=None):
    return subprocess.run([EXE, "batch", *map(str, args)], capture_output=True, input=stdin, cwd=cwd, timeout=120)


def answers(stdout: bytes) -> list[dict]:
    return [json.loads(line) for line in stdout.decode("utf-8").splitlines()]


def jsonl(docs) -> bytes:
    return "".join(json.dumps(d, ensure_ascii=False, default=str) + "\n" for d in docs).encode("utf-8")


def contract_cases() -> list[dict]:
    """Every case of tests/examples and tests/policy (without its `expect:`), as JSON values."""
    docs = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((TESTS / "examples").glob("*.case.json"))]
    for path in sorted((TESTS / "policy").glob("*.yaml")):
        doc, _ = split_test(path)
        docs.append(json.loads(json.dumps(doc, default=str)))  # YAML dates -> "2026-03-01"
    return docs


def test_every_line_gets_its_answer_in_order_and_invalid_ones_say_which_line(tmp_path):
    lines = [
        json.dumps(NOSE).encode(),
        json.dumps({**NOSE, "id": "typo", "lesions": [{"id": "A", "diagnosis": "C44.311", "site": "nsoe"}]}).encode(),
        b"not json at all",
        b"",
        b"   \t",
        b"[1, 2]",
        b'{"id": "cut-off", "lesions": [',
        b"\xff\xfe not UTF-8",
        json.dumps({**NOSE, "id": "last"}).encode(),
    ]
    result = run("-", stdin=b"\n".join(lines) + b"\n")
    assert result.returncode == 0, result.stderr
    got = answers(result.stdout)
    assert len(got) == len(lines)
    assert [(a["case"], a["status"]) for a in got] == [
        ("nose", "ok"), ("typo", "invalid"), (None, "invalid"), (None, "invalid"), (None, "invalid"),
        (None, "invalid"), (None, "invalid"), (None, "invalid"), ("last", "ok")]
    for number, answer in enumerate(got, start=1):
        if answer["status"] == "ok":
            assert "input_line" not in answer and answer["decision"] == "covered"
        else:
            assert answer["input_line"] == number and answer["errors"]
    assert "nose" in got[1]["errors"][0]["message"]  # the checker's own message, suggestion and all
    assert "empty" in got[3]["errors"][0]["message"] and "empty" in got[4]["errors"][0]["message"]
    assert "UTF-8" in got[7]["errors"][0]["message"]
    assert b"Traceback" not in result.stderr
    assert b"9 cases" in result.stderr and b"7 invalid" in result.stderr  # the summary, on stderr only


def test_batch_answers_every_contract_and_policy_case_as_check_does(tmp_path, policy):
    docs = contract_cases()
    expected = []
    for i, doc in enumerate(docs):  # what `check CASE.json --format json` prints, case by case
        path = tmp_path / f"{i}.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        expected.append(check_source(str(path), policy))
    cases = tmp_path / "cases.jsonl"
    cases.write_bytes(jsonl(docs))
    result = run(cases)
    assert result.returncode == 0, result.stderr
    got = answers(result.stdout)
    assert len(got) == len(docs)
    for number, (answer, want) in enumerate(zip(got, expected), start=1):
        if want["status"] != "ok":
            assert answer.pop("input_line") == number
        assert answer == want, docs[number - 1].get("id")


def test_one_answer_matches_check_on_the_command_line(tmp_path):
    case = TESTS / "examples" / "trunk-small-nodular-denied.case.json"
    check = subprocess.run([EXE, "check", case, "--format", "json"], capture_output=True, timeout=60)
    result = run("-", stdin=json.dumps(json.loads(case.read_text())).encode() + b"\n")
    assert answers(result.stdout) == [json.loads(check.stdout)]


def test_explain_gives_each_answer_its_explanation_as_explain_does(tmp_path):
    docs = [json.loads(p.read_text()) for p in sorted((TESTS / "examples").glob("*.case.json"))]
    result = run("-", "--explain", stdin=jsonl(docs))
    assert result.returncode == 0, result.stderr
    got = answers(result.stdout)
    for doc, answer in zip(docs, got):
        path = tmp_path / "case.json"
        path.write_text(json.dumps(doc))
        explained = json.loads(subprocess.run([EXE, "explain", path, "--format", "json"], capture_output=True).stdout)
        if explained["status"] == "invalid":
            explained["input_line"] = answer["input_line"]
        assert answer == explained, doc["id"]
    assert any("explanation" in line for a in got if a["status"] == "ok" for line in a["lines"])


def test_one_and_two_workers_write_the_same_bytes(tmp_path):
    docs = contract_cases()
    many = [{**d, "id": f"{d.get('id')}-{n}"} for n in range(4) for d in docs]
    cases = tmp_path / "cases.jsonl"
    cases.write_bytes(jsonl(many))  # more than two chunks
    one, two = run(cases, "--workers", "1"), run(cases, "--workers", "2")
    assert one.returncode == two.returncode == 0
    assert one.stdout == two.stdout
    assert len(one.stdout.splitlines()) == len(many) > 2 * batch.CHUNK_LINES


def test_answers_stay_in_order_across_chunks_and_fresh_workers(tmp_path, monkeypatch, policy):
    monkeypatch.setattr(batch, "CHUNK_LINES", 3)
    monkeypatch.setattr(batch, "CHUNKS_PER_WORKER", 1)  # new workers every 2 chunks
    cases = tmp_path / "cases.jsonl"
    cases.write_bytes(jsonl({**NOSE, "id": f"case-{n}"} for n in range(20)) + b"oops\n")
    out = tmp_path / "answers.jsonl"
    summary = batch.run(str(cases), out, policy, workers=2)
    got = answers(out.read_bytes())
    assert [a["case"] for a in got] == [f"case-{n}" for n in range(20)] + [None]
    assert got[-1]["input_line"] == 21
    assert summary.counts == {"covered": 20, "invalid": 1}


def test_out_is_written_whole_and_replaces_the_old_file(tmp_path):
    cases = tmp_path / "cases.jsonl"
    cases.write_bytes(jsonl([NOSE, {**NOSE, "id": "second"}]))
    out = tmp_path / "answers.jsonl"
    out.write_text("old answers\n")
    result = run(cases, "--out", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b""
    assert [a["case"] for a in answers(out.read_bytes())] == ["nose", "second"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answers.jsonl", "cases.jsonl"]


def broken_policy(tmp_path: Path, extra: str) -> Path:
    dest = copy_policy(tmp_path / "policy")
    with (dest / "logic" / "claims.lp").open("a") as f:
        f.write(extra)
    return dest


@pytest.mark.parametrize("extra", ["\nbroken(C :- case(C).\n",  # found when the policy is read
                                   "\ndenied(C,N) :- line(C,N,K), mistyped(C).\n"],  # found by a worker, grounding
                         ids=["syntax", "grounding"])
def test_a_broken_policy_exits_3_and_leaves_the_old_out_file(tmp_path, extra):
    policy = broken_policy(tmp_path, extra)
    work = tmp_path / "work"
    work.mkdir()
    cases = work / "cases.jsonl"
    cases.write_bytes(jsonl([NOSE] * 3))
    out = work / "answers.jsonl"
    out.write_text("old answers\n")
    result = run(cases, "--out", out, "--policy", policy)
    assert result.returncode == 3
    assert b"logic/claims.lp:" in result.stderr and b"Traceback" not in result.stderr
    assert out.read_text() == "old answers\n"
    assert sorted(p.name for p in work.iterdir()) == ["answers.jsonl", "cases.jsonl"]


def test_usage_errors_exit_2(tmp_path):
    missing = run(tmp_path / "no-such.jsonl")
    assert missing.returncode == 2 and b"no such file" in missing.stderr
    no_folder = run("-", "--out", tmp_path / "no-folder" / "answers.jsonl", stdin=jsonl([NOSE]))
    assert no_folder.returncode == 2
    assert run("-", "--workers", "0", stdin=b"").returncode == 2
    for result in (missing, no_folder):
        assert b"Traceback" not in result.stderr


def test_answers_are_utf8_json_lines_whatever_the_terminal_encoding():
    doc = {**NOSE, "id": "café", "lesions": [{"id": "Å", "diagnosis": "C44.311", "site": "nose"}],
           "lines": [{"line": 1, "code": "17311", "lesion": "Å"}]}
    result = subprocess.run([EXE, "batch", "-"], input=jsonl([doc]), capture_output=True, timeout=60,
                            env={**os.environ, "PYTHONIOENCODING": "ascii"})
    assert result.returncode == 0, result.stderr
    assert "café".encode() in result.stdout
    assert answers(result.stdout)[0]["lesions"][0]["id"] == "Å"


def test_empty_input_answers_nothing_and_exits_0():
    result = run("-", stdin=b"")
    assert result.returncode == 0 and result.stdout == b""


@pytest.mark.skipif(sys.platform != "linux", reason="reads the process table with ps -s")
def test_ctrl_c_exits_130_stops_the_workers_and_keeps_the_old_out_file(tmp_path):
    out = tmp_path / "answers.jsonl"
    out.write_text("old answers\n")
    proc = subprocess.Popen([EXE, "batch", "-", "--out", str(out), "--workers", "2"], stdin=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)

    def session() -> list[str]:
        ps = subprocess.run(["ps", "-o", "pid=", "-s", str(proc.pid)], capture_output=True, text=True)
        return ps.stdout.split()

    try:
        proc.stdin.write(jsonl([NOSE] * (batch.CHUNK_LINES + 10)))  # a chunk goes to the workers;
        proc.stdin.flush()  # stdin stays open, so the batch is still reading
        deadline = time.monotonic() + 30
        while len(session()) < 3 and time.monotonic() < deadline:  # the batch and its two workers
            time.sleep(0.05)
        assert len(session()) >= 3
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130
    assert b"interrupted" in err and b"Traceback" not in err
    assert out.read_text() == "old answers\n"
    assert [p.name for p in tmp_path.iterdir()] == ["answers.jsonl"]
    deadline = time.monotonic() + 10  # a worker's solver run gets its parent-death signal a moment later
    while session() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert session() == []


def test_a_line_over_the_limit_is_skipped_without_being_held(monkeypatch):
    monkeypatch.setattr(batch, "MAX_LINE_BYTES", 10)
    stream = io.BytesIO(b"short\n" + b"x" * 55 + b"\n" + b"y" * 12 + b"\nok\n")
    assert list(batch.read_lines(stream)) == [b"short\n", None, None, b"ok\n"]
    assert "longer than" in batch._document(None).errors[0].message


@pytest.mark.parametrize("unnamed", [True, False], ids=["unnamed-file", "named-part-file"])
def test_out_is_replaced_whole_or_left_as_it_was_with_or_without_unnamed_files(tmp_path, monkeypatch, policy, unnamed):
    """Where the system has no O_TMPFILE the answers go to a hidden .part file: removed on failure too."""
    if not unnamed:
        monkeypatch.delattr(batch.os, "O_TMPFILE", raising=False)
    cases = tmp_path / "cases.jsonl"
    cases.write_bytes(jsonl([NOSE, {**NOSE, "id": "second"}]))
    out = tmp_path / "answers.jsonl"
    out.write_text("old answers\n")
    batch.run(str(cases), out, policy, workers=1)
    assert [a["case"] for a in answers(out.read_bytes())] == ["nose", "second"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answers.jsonl", "cases.jsonl"]

    def disk_full(self, data):
        with batch._writing(self.name):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    out.write_text("old answers\n")
    monkeypatch.setattr(batch._Sink, "write", disk_full)
    with pytest.raises(OutputError, match=f"cannot write {out}: No space left on device; {out} left as it was"):
        batch.run(str(cases), out, policy, workers=1)
    assert out.read_text() == "old answers\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answers.jsonl", "cases.jsonl"]
