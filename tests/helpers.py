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
