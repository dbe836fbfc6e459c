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

from mohs_asp.batch import answers_file, pool as batch
from mohs_asp.case import jsonl as jsonl_input
from helpers import check_file
from mohs_asp.errors import OutputError
from helpers import copy_policy, on_a_terminal, policy_tests

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
    for test in policy_tests():
        docs.append(json.loads(json.dumps(test.doc, default=str)))  # YAML dates -> "2026-03-01"
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
        expected.append(check_file(str(path), policy))
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


def _slow_first_chunk(answer_chunk):
    def answer(first, lines, explain=False, csv=False):
        if first == 1:
            time.sleep(1.5)  # the first worker is held (as a loaded machine deschedules it) while the other answers
        return answer_chunk(first, lines, explain, csv)
    return answer


def test_a_slow_worker_holding_back_the_written_chunks_does_not_end_the_run_early(tmp_path, monkeypatch, policy):
    # One worker slow on chunk 1 while the other answers chunks 2-6: IN_FLIGHT * 2 chunks are then
    # read and unwritten, so none more is given; once chunk 1 comes, all six are written at once
    # and nothing is in flight, with input still ahead. The run once ended there (exit 0 with
    # 3,000 of 120,000 answers, seen under load), then was stopped by the guard (exit 4).
    monkeypatch.setattr(batch, "CHUNK_LINES", 1)
    monkeypatch.setattr(batch, "answer_chunk", _slow_first_chunk(batch.answer_chunk))  # forked workers inherit it
    cases = tmp_path / "cases.jsonl"
    cases.write_bytes(jsonl({**NOSE, "id": f"case-{n}"} for n in range(20)))
    out = tmp_path / "answers.jsonl"
    summary = batch.run(str(cases), out, policy, workers=2)
    assert [a["case"] for a in answers(out.read_bytes())] == [f"case-{n}" for n in range(20)]
    assert summary.counts == {"covered": 20}


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
    # Ctrl-C as from a terminal: a shell without job control starts a background job with SIGINT
    # ignored, and Python then leaves it ignored (the run under test would not see the signal)
    proc = subprocess.Popen([EXE, "batch", "-", "--out", str(out), "--workers", "2"], stdin=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

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
    monkeypatch.setattr(jsonl_input, "MAX_LINE_BYTES", 10)
    stream = io.BytesIO(b"short\n" + b"x" * 55 + b"\n" + b"y" * 12 + b"\nok\n")
    assert list(jsonl_input.read_lines(stream)) == [b"short\n", None, None, b"ok\n"]
    assert "longer than" in jsonl_input.document(None).errors[0].message


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
        with answers_file.writing(self.name):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    out.write_text("old answers\n")
    monkeypatch.setattr(answers_file.Sink, "write", disk_full)
    with pytest.raises(OutputError, match=f"cannot write {out}: No space left on device; {out} left as it was"):
        batch.run(str(cases), out, policy, workers=1)
    assert out.read_text() == "old answers\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answers.jsonl", "cases.jsonl"]


# -- a case file given to batch (issue 14 item 3) ----------------------------------------------


@pytest.mark.parametrize("name, text, said, advice", [
    ("pretty.json", json.dumps(NOSE, indent=2), "one JSON case written across", "mohs-asp check"),
    ("case.yaml", "id: nose\ndate_of_service: 2026-03-01\nlesions:\n  - id: A\n", "one YAML case written across 4 lines",
     "mohs-asp check"),
    ("list.json", json.dumps([NOSE, NOSE], indent=1), "a JSON list of 2 cases", "jq -c"),
], ids=["pretty-json", "yaml", "json-list"])
def test_a_case_file_is_not_json_lines_and_batch_says_what_to_run_before_writing(tmp_path, name, text, said, advice):
    path = tmp_path / name
    path.write_text(text)
    out = tmp_path / "answers.jsonl"
    result = run(path, "--out", out)
    message = result.stderr.decode()
    assert result.returncode == 2 and "is not JSON Lines" in message and said in message and advice in message
    assert not out.exists() and result.stdout == b""
    piped = run("-", stdin=text.encode())
    assert piped.returncode == 2 and "standard input is not JSON Lines" in piped.stderr.decode() and piped.stdout == b""


def test_json_lines_with_a_bad_first_line_is_still_answered_line_by_line(tmp_path):
    text = b"\n" + b'{"id": "cut short"\n' + jsonl([NOSE]) + b"id: yaml-ish\n"
    for args, stdin in (((tmp_path / "in.jsonl",), None), (("-",), text)):
        (tmp_path / "in.jsonl").write_bytes(text)
        result = run(*args, stdin=stdin)
        got = answers(result.stdout)
        assert result.returncode == 0
        assert [a["status"] for a in got] == ["invalid", "invalid", "ok", "invalid"]
        assert [a.get("input_line") for a in got] == [1, 2, None, 4]


# -- CSV, and the summary (issue 14 items 3 and 4) ---------------------------------------------

TWO_DENIED = {"id": "two, denied", "date_of_service": "2026-03-01",
              "lesions": [{"id": "A", "diagnosis": "C44.519", "site": "back"}, {"id": "B", "diagnosis": "C44.311", "site": "nose"}],
              "lines": [{"line": 1, "code": "17313", "lesion": "A"}, {"line": 2, "code": "17311", "lesion": "B"},
                        {"line": 3, "code": "88331", "lesion": "B"}]}


def test_csv_has_a_header_and_one_row_per_claim_line_in_input_order_for_any_workers(tmp_path):
    import csv

    cases = tmp_path / "cases.jsonl"
    docs = [TWO_DENIED, {"id": "bad", "lesions": 3}, {**NOSE, "lines": []}] * 700  # several chunks
    cases.write_bytes(jsonl(docs))
    out = tmp_path / "answers.csv"
    result = run(cases, "--format", "csv", "--out", out, "--workers", "2")
    assert result.returncode == 0, result.stderr
    data = out.read_bytes()
    assert data.startswith(b"input_line,case,decision,line,code,lesion,outcome,into,reason\r\n")
    assert data.count(b"\r\n") == data.count(b"\n")  # RFC 4180 line ends
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    assert len(rows) == 700 * (3 + 1 + 1)
    first = rows[:5]
    assert [(r["input_line"], r["case"], r["line"], r["lesion"], r["outcome"], r["into"]) for r in first[:3]] == [
        ("1", "two, denied", "1", "A", "denied", ""), ("1", "two, denied", "2", "B", "payable", ""),
        ("1", "two, denied", "3", "B", "bundled", "2")]
    assert first[0]["reason"] == "lesion A meets none of the nine indications" and first[0]["decision"] == "not_covered"
    assert first[3]["input_line"] == "2" and first[3]["outcome"] == "invalid" and first[3]["decision"] == "invalid"
    assert first[3]["reason"].startswith("date_of_service:")  # its first error
    assert first[4]["decision"] == "no_mms" and first[4]["line"] == "" and first[4]["reason"] == "no claim lines"
    assert [r["input_line"] for r in rows] == [str(n) for n in range(1, 2101) for _ in range((3, 1, 1)[(n - 1) % 3])]
    stdout = run(cases, "--format", "csv", "--workers", "1")
    assert stdout.returncode == 0 and stdout.stdout == data  # standard output: the same bytes
    assert run(cases, "--format", "csv", "--explain").returncode == 2


def test_the_summary_fits_80_columns_says_where_the_answers_went_and_names_the_first_invalid_lines(tmp_path):
    cases = tmp_path / "cases.jsonl"
    cases.write_bytes(jsonl([NOSE, {**NOSE, "lesions": [{"id": "A", "diagnosis": "C44.311", "site": "nosee"}]}])
                      + b"\n" + b"{not json\n" * 10)
    result = run(cases, "--out", "answers.jsonl", cwd=tmp_path)
    said = result.stderr.decode()
    assert result.returncode == 0
    assert max(map(len, said.splitlines())) < 80
    assert "13 cases" in said and "1 covered" in said and "12 invalid" in said
    assert "answers: answers.jsonl (JSON Lines)" in said
    assert "the first 5 of 12" in said
    assert "line 2: lesions[0].site:" in said and "nose" in said
    assert "line 3: the line is empty" in said and "line 4: the line is not valid JSON" in said
    assert "line 7:" not in said  # only the first five
    assert "answers: standard output" in run(cases).stderr.decode()


def _on_a_terminal(args, cwd) -> str:
    """What `mohs-asp batch ARGS` writes to standard error when that is a terminal (80x40)."""
    return on_a_terminal("batch", *args, stream="stderr", cwd=cwd)[1]


def test_progress_on_a_terminal_shows_the_input_total_and_a_rate(tmp_path):
    cases = tmp_path / "cases.jsonl"
    cases.write_bytes(jsonl({**NOSE, "id": f"case-{n}"} for n in range(1200)))
    said = _on_a_terminal([cases, "--out", "answers.jsonl", "--workers", "1"], tmp_path)
    size = f"{cases.stat().st_size / 1000:.1f} kB"
    assert f"/{size}" in said  # bytes answered out of the input's size
    assert "1,200 cases, " in said and "/s" in said  # cases so far and their rate
    assert "answers: answers.jsonl (JSON Lines)" in said  # the summary after it
    assert len((tmp_path / "answers.jsonl").read_bytes().splitlines()) == 1200


def test_standard_input_from_a_file_already_part_read_is_answered_from_where_it_stands(tmp_path):
    cases = tmp_path / "cases.jsonl"
    cases.write_bytes(jsonl([{**NOSE, "id": "skipped"}, {**NOSE, "id": "first"}, {**NOSE, "id": "second"}]))
    result = subprocess.run(["sh", "-c", f'{{ read -r skipped; exec "$0" batch -; }} < "{cases}"', EXE],
                            capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert [a["case"] for a in answers(result.stdout)] == ["first", "second"]
