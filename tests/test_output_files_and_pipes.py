"""Where the answers go, through the installed command: `batch --out` through a symlink, into
a FIFO or a character device, never over INPUT (standard input included), never over what is
not a file; a full disk or a file-size limit (exit 2, a plain message, `--out` as it was); a
reader that stops early (`check CASE | head -1` keeps the decision's exit status).

No test here names a node of the system's /dev as `--out` while running as root: a
regression would replace it. Each uses a device node of its own, made in its folder."""

from __future__ import annotations

import json
import os
import resource
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from helpers import EXE

pytestmark = [pytest.mark.skipif(EXE is None, reason="mohs-asp is not installed in this environment"),
              pytest.mark.skipif(sys.platform != "linux", reason="Linux devices, FIFOs and /proc")]

TESTS = Path(__file__).resolve().parent
EXAMPLES = TESTS / "examples"
COVERED = EXAMPLES / "nose-bcc-covered.case.json"
NOT_COVERED = EXAMPLES / "trunk-small-nodular-denied.case.json"
INVALID = EXAMPLES / "invalid-nonbillable-code.case.json"
PATIENCE = 60  # seconds, for a loaded machine; nothing here is timed

NOSE = {"id": "nose", "date_of_service": "2026-03-01",
        "lesions": [{"id": "A", "diagnosis": "C44.311", "site": "nose"}],
        "lines": [{"line": 1, "code": "17311", "lesion": "A"}]}
CASES = "".join(json.dumps({**NOSE, "id": f"case-{n}"}) + "\n" for n in range(3)).encode()


def run(*args, **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.run([EXE, *map(str, args)], timeout=PATIENCE, **kwargs)


def case_ids(data: bytes) -> list[str]:
    return [json.loads(line)["case"] for line in data.decode().splitlines()]


def no_traceback(result) -> None:
    assert b"Traceback" not in result.stderr and b"Exception ignored" not in result.stderr, result.stderr


def device(folder: Path, name: str, minor: int) -> Path:
    """A character device of our own (1,3 is null, 1,7 full) in `folder`. Not root: the system's
    /dev/NAME, which no regression could replace without root's rights."""
    if os.geteuid() != 0:
        return Path("/dev") / name
    path = folder / name
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
        with open(path, "wb"):
            pass
    except OSError as e:  # a container without the right to make or open device nodes
        pytest.skip(f"cannot make a device node here: {e}")
    return path


BUFFERING = {"buffered": {}, "unbuffered": {"PYTHONUNBUFFERED": "1"}}  # (each print a write of its own)


def environment(buffering: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return {**env, **BUFFERING[buffering]}


@pytest.fixture
def cases(tmp_path) -> Path:
    path = tmp_path / "cases.jsonl"
    path.write_bytes(CASES)
    return path


# -- --out: what is replaced, what is written through, what is refused ------------------------


def test_out_through_a_symlink_replaces_the_file_it_names_and_the_link_stays(tmp_path, cases):
    """The link itself was replaced by a regular file, and the file it named kept the old answers."""
    (tmp_path / "kept").mkdir()
    real = tmp_path / "kept" / "answers.jsonl"
    real.write_text("old answers\n")
    real.chmod(0o640)
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    result = run("batch", cases, "--out", link)
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert case_ids(real.read_bytes()) == ["case-0", "case-1", "case-2"]
    assert stat.S_IMODE(real.stat().st_mode) == 0o640  # the file's mode, kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases.jsonl", "kept", "link.jsonl"]
    assert [p.name for p in (tmp_path / "kept").iterdir()] == ["answers.jsonl"]


def test_out_a_file_with_another_hard_link_replaces_it_and_the_other_name_keeps_the_old_answers(tmp_path, cases):
    """The choice written in the README: replaced whole, as always; the link is split."""
    out = tmp_path / "answers.jsonl"
    out.write_text("old answers\n")
    other = tmp_path / "yesterday.jsonl"
    os.link(out, other)
    assert run("batch", cases, "--out", out).returncode == 0
    assert case_ids(out.read_bytes()) == ["case-0", "case-1", "case-2"]
    assert other.read_text() == "old answers\n"


def test_out_a_fifo_is_written_through(tmp_path, cases):
    """The FIFO was replaced by a regular file (and its reader waited forever)."""
    fifo = tmp_path / "answers.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = run("batch", cases, "--out", fifo)
    reader.join(10)
    if reader.is_alive():  # nobody wrote to it: let the reader go
        with open(fifo, "wb"):
            pass
        reader.join(10)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert case_ids(got[0]) == ["case-0", "case-1", "case-2"]


def test_out_a_character_device_is_written_through(tmp_path, cases):
    """`--out /dev/null` replaced the device node by a regular file (as root, the system's own)."""
    null = device(tmp_path, "null", 3)
    result = run("batch", cases, "--out", null)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISCHR(os.lstat(null).st_mode)


@pytest.mark.parametrize("name", ["/dev/fd/1", "link-to-proc-self-fd-1"])
def test_out_standard_outputs_own_file_is_standard_output(tmp_path, cases, name):
    """`--out /dev/stdout` replaced the link (and the file standard output went to never saw the
    answers); a file opened for appending is appended to, not replaced."""
    if name.startswith("link"):
        (tmp_path / name).symlink_to("/proc/self/fd/1")  # what /dev/stdout is
        name = str(tmp_path / name)
    log = tmp_path / "log.txt"
    log.write_text("kept\n")
    with log.open("ab") as stdout:
        result = run("batch", cases, "--out", name, stdout=stdout)
    assert result.returncode == 0, result.stderr
    assert log.read_bytes().startswith(b"kept\n")
    assert case_ids(log.read_bytes()[5:]) == ["case-0", "case-1", "case-2"]
    if name.startswith(str(tmp_path)):
        assert Path(name).is_symlink()


@pytest.mark.parametrize("kind", ["socket", "block device"])
def test_out_anything_else_is_refused_and_left_alone(tmp_path, cases, kind):
    path = tmp_path / "node"
    if kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.close()
    else:
        try:
            os.mknod(path, 0o600 | stat.S_IFBLK, os.makedev(7, 0))
        except OSError as e:
            pytest.skip(f"cannot make a block device node here: {e}")
    before = os.lstat(path)
    result = run("batch", cases, "--out", path)
    assert result.returncode == 2
    assert f"--out {path} is a {kind}".encode() in result.stderr
    no_traceback(result)
    after = os.lstat(path)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)


def test_input_on_standard_input_is_never_the_out_file(tmp_path, cases):
    """`batch - --out cases.jsonl < cases.jsonl` replaced the cases with the answers."""
    link = tmp_path / "link.jsonl"
    link.symlink_to(cases)
    for out in (cases, link):
        with cases.open("rb") as stdin:
            result = run("batch", "-", "--out", out, stdin=stdin)
        assert result.returncode == 2 and b"is INPUT itself" in result.stderr, result.stderr
        no_traceback(result)
    with cases.open("ab") as stdout:  # standard output appended to INPUT: it would read its own answers
        result = run("batch", cases, stdout=stdout)
    assert result.returncode == 2 and b"standard output is INPUT itself" in result.stderr
    assert cases.read_bytes() == CASES
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases.jsonl", "link.jsonl"]


# -- a full disk ------------------------------------------------------------------------------


@pytest.mark.parametrize("buffering", ["buffered", "unbuffered"])
@pytest.mark.parametrize("command", [["check", COVERED], ["explain", COVERED, "--format", "json"],
                                     ["rules"], ["batch", "-"]], ids=["check", "explain", "rules", "batch"])
def test_standard_output_on_a_full_disk_is_a_plain_message_and_exit_2(command, buffering):
    """It was an internal error (exit 4), or "Exception ignored" and exit 120 at the last flush."""
    with open("/dev/full", "wb") as full:  # standard output: the node itself is never at risk
        result = run(*command, input=CASES if command[0] == "batch" else None, stdout=full, env=environment(buffering))
    assert result.returncode == 2, result.stderr
    assert result.stderr.decode().splitlines()[-1] == "mohs-asp: cannot write standard output: No space left on device"
    no_traceback(result)


def test_out_a_full_device_is_a_plain_message_and_exit_2(tmp_path, cases):
    full = device(tmp_path, "full", 7)
    result = run("batch", cases, "--out", full)
    assert result.returncode == 2
    assert f"cannot write {full}: No space left on device".encode() in result.stderr
    no_traceback(result)
    assert stat.S_ISCHR(os.lstat(full).st_mode)


def test_out_a_file_that_cannot_grow_is_left_as_it_was(tmp_path):
    """A file-size limit (RLIMIT_FSIZE) fails the write as a full disk does, on a real file."""
    cases = tmp_path / "cases.jsonl"
    cases.write_bytes(CASES * 200)  # 600 answers: about 170 KB
    out = tmp_path / "answers.jsonl"
    out.write_text("old answers\n")
    limit = 64 * 1024

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # (Python ignores SIGXFSZ: writes fail with EFBIG)

    result = run("batch", cases, "--out", out, preexec_fn=small_files)
    assert result.returncode == 2, result.stderr
    assert f"cannot write {out}: File too large; {out} left as it was".encode() in result.stderr
    no_traceback(result)
    assert out.read_text() == "old answers\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answers.jsonl", "cases.jsonl"]


# -- a reader that stops early ----------------------------------------------------------------


def closed_early(*args, buffering: str = "buffered") -> subprocess.CompletedProcess:
    """Run with standard output a pipe whose reader has closed before the first byte: every
    write fails with EPIPE (what `| head -1` does to all but the first line, without the race)."""
    proc = subprocess.Popen([EXE, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=environment(buffering))
    proc.stdout.close()
    try:
        _, err = proc.communicate(timeout=PATIENCE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, b"", err)


@pytest.mark.parametrize("buffering", BUFFERING)
@pytest.mark.parametrize("case, status", [(COVERED, 0), (NOT_COVERED, 1), (INVALID, 2)],
                         ids=["covered", "not-covered", "invalid"])
def test_a_closed_standard_output_keeps_the_decisions_exit_status(case, status, buffering):
    """It was 1 whatever the decision (unbuffered), or 120 and "Exception ignored" (buffered)."""
    for command in (["check", case], ["check", case, "--format", "json"], ["explain", case]):
        result = closed_early(*command, buffering=buffering)
        assert (result.returncode, result.stderr) == (status, b""), command


def test_check_piped_into_head_keeps_the_decisions_exit_status():
    """`check CASE | head -1` exited 1 in about 70% of runs: head had gone by the second write."""
    for _ in range(10):
        check = subprocess.Popen([EXE, "check", COVERED], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env=environment("unbuffered"))
        head = subprocess.run(["head", "-1"], stdin=check.stdout, capture_output=True, timeout=PATIENCE)
        check.stdout.close()
        err = check.stderr.read()
        check.stderr.close()
        assert (check.wait(timeout=PATIENCE), err) == (0, b"")
        assert head.stdout.decode().startswith("nose-bcc-covered: COVERED")


@pytest.mark.parametrize("buffering", BUFFERING)
def test_the_other_commands_end_quietly_on_a_closed_standard_output(buffering):
    for command in (["rules"], ["schema"], ["rules", "--format", "json"]):
        result = closed_early(*command, buffering=buffering)
        assert (result.returncode, result.stderr) == (0, b""), command


def test_batch_stops_at_once_when_its_reader_has_gone(tmp_path):
    """A reader gone means the rest is not wanted: exit 141 (128 + SIGPIPE, as a shell reports
    `yes | head -1`), no message, no traceback, long before the input is answered."""
    cases = tmp_path / "cases.jsonl"
    cases.write_bytes(CASES * 20_000)  # 60,000 cases: many seconds of work
    for buffering in BUFFERING:
        result = closed_early("batch", cases, "--workers", "2", buffering=buffering)
        assert (result.returncode, result.stderr) == (141, b""), buffering
