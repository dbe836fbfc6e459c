"""Small helpers shared by the test files."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from mohs_asp.policy.load import default_root


def copy_policy(dest: Path) -> Path:
    """A copy of the shipped policy (its policy.toml, logic/ and data/) at `dest`, for a test to edit or break."""
    for part in ("logic", "data"):
        shutil.copytree(default_root() / part, dest / part)
    shutil.copy(default_root() / "policy.toml", dest / "policy.toml")
    return dest


# the installed `mohs-asp` command of this environment (end-to-end tests run it)
EXE = shutil.which("mohs-asp", path=str(Path(sys.executable).parent)) or shutil.which("mohs-asp")


# The project's policy tests: a file a section of the policy, several named cases in each.
POLICY_TESTS = Path(__file__).resolve().parent / "policy"


def policy_tests() -> list:
    """Every test of tests/policy, in file order (testing.PolicyTest: its name, case and expectation)."""
    from mohs_asp.authoring.policy_tests import read_tests

    return [t for path in sorted(POLICY_TESTS.glob("*.yaml")) for t in read_tests(path)]


def one_case_texts(path: Path) -> list[tuple[str, str]]:
    """(name, text) for each test of a file of several: its entry as the YAML of a one-case
    file, exactly as written (its `name:` made its `id:` when it gives none), `expect:` kept."""
    out: list[tuple[str, str]] = []
    for entry in path.read_text(encoding="utf-8").split("\n- name: ")[1:]:
        name, _, rest = entry.partition("\n")
        body = [line[2:] if line.startswith("  ") else line for line in rest.splitlines(keepends=True)]
        while body and body[-1].lstrip().startswith("#"):  # the comments above the next entry
            body.pop()
        text = "".join(body)
        if not any(line.startswith("id:") for line in body):
            text = f"id: {name}\n" + text
        out.append((name.strip(), text))
    return out


def on_a_terminal(*args, stream: str = "stdout", env=None, cwd=None) -> tuple[int, str]:
    """The exit status of `mohs-asp ARGS` and what it writes to `stream` ("stdout" or
    "stderr") when that is an 80x40 terminal (a pty; the other stream goes nowhere), with
    TERM=xterm and NO_COLOR unset unless `env` says otherwise."""
    import fcntl
    import os
    import pty
    import select
    import struct
    import subprocess
    import termios

    ours, theirs = pty.openpty()
    fcntl.ioctl(theirs, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 80, 0, 0))
    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    where = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, stream: theirs}
    process = subprocess.Popen([EXE, *map(str, args)], stdout=where["stdout"], stderr=where["stderr"],
                               stdin=subprocess.DEVNULL, cwd=cwd, env={**base, "TERM": "xterm", **(env or {})})
    os.close(theirs)
    data = b""
    while True:
        if select.select([ours], [], [], 0.2)[0]:
            try:
                chunk = os.read(ours, 65536)
            except OSError:  # the command has ended and closed its end
                break
            if not chunk:
                break
            data += chunk
        elif process.poll() is not None:
            break
    os.close(ours)
    return process.wait(60), data.decode("utf-8", "replace").replace("\r\n", "\n")


def check(doc, policy):
    """A document's answer through the one pipeline (api.answer), as `check` gives it."""
    from mohs_asp import api

    return next(api.answer([doc], policy))


def check_file(path, policy, explain: bool = False):
    """A case file's answer through the one pipeline, as `check` (or `explain`) gives it."""
    from mohs_asp import api

    return next(api.answer([api.from_file(str(path))], policy, explain=explain))


def batch_outputs(path: Path, args: list[str], settings: list[dict[str, str]], timeout: int = 300) -> list[tuple[int, bytes | None]]:
    """`mohs-asp batch PATH ARGS --out OUT` once for each of `settings` (environment variables
    added to this one): the exit status and OUT's bytes (None when it was not written) of each."""
    out = []
    for n, setting in enumerate(settings):
        answers = path.with_name(f"{path.stem}.{n}.out.jsonl")
        result = subprocess.run([EXE, "batch", str(path), *args, "--out", str(answers)], capture_output=True,
                                timeout=timeout, env={**os.environ, **setting})
        out.append((result.returncode, answers.read_bytes() if answers.exists() else None))
    return out

