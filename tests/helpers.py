"""Small helpers shared by the test files."""

import shutil
import sys
from pathlib import Path

from mohs_asp.policy import default_root


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
    from mohs_asp.policy_tests import read_tests

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
