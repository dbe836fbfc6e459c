"""Regenerate docs/authoring.md from docs/authoring.template.md: every `$ command` of a
```console block is run (in a scratch copy of the repository's pack, the edits one after the
other) and its real output pasted below it. Run from the repository root:

    .venv/bin/python scripts/authoring_doc.py

Template blocks: ```console (commands, `$ echo $?` the previous one's exit status; a command
ending in `  ⟨elide⟩` has lint's ICD-10-CM warnings shortened to one line); ```sh (run, shown
as written); ```yaml file=PATH (written to PATH, shown without the `file=`); ```hidden (run,
not shown: the steps the text says in words). `mohs-asp` is this environment's command.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXE = Path(sys.executable).parent / "mohs-asp"
ELIDE = "  \u27e8elide\u27e9"
ICD = "[... the ICD-10-CM warnings shown in the first edit, unchanged ...]"


def elide(text: str) -> str:
    out, skipping = [], False
    for line in text.splitlines():
        if line.startswith("data/covered_diagnoses.csv") or (skipping and line.startswith("    ")):
            if not skipping:
                out.append(ICD)
            skipping = True
            continue
        skipping = False
        out.append(line)
    return "\n".join(out)


def run(command: str, cwd: Path) -> tuple[str, int]:
    env = {**os.environ, "PATH": f"{EXE.parent}{os.pathsep}{os.environ['PATH']}", "COLUMNS": "100"}
    result = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True)
    return (result.stdout + result.stderr).rstrip("\n"), result.returncode


def main() -> None:
    template = (ROOT / "docs" / "authoring.template.md").read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch) / "mohs-asp"  # the clone the guide's commands run in
        work.mkdir()
        for name in ("logic", "data", "tests", "docs"):
            shutil.copytree(ROOT / name, work / name, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
        shutil.copy(ROOT / "policy.toml", work / "policy.toml")
        out: list[str] = []
        status = 0
        blocks = re.split(r"(^```[^\n]*\n.*?^```\n)", template, flags=re.S | re.M)
        for block in blocks:
            m = re.match(r"```(\w*)([^\n]*)\n(.*?)```\n", block, re.S)
            if not m:
                out.append(block)
                continue
            kind, options, body = m.group(1), m.group(2).strip(), m.group(3)
            if kind == "hidden":
                for line in body.splitlines():
                    _, status = run(line, work)
                    if status:
                        raise SystemExit(f"hidden step failed: {line}")
                continue
            if kind == "sh":
                for line in body.replace("\\\n", " ").splitlines():
                    _, status = run(line, work)
                    if status:
                        raise SystemExit(f"step failed: {line}")
                out.append(block)
                continue
            if kind == "yaml" and options.startswith("file="):
                path = work / options.removeprefix("file=")
                path.parent.mkdir(parents=True, exist_ok=True)
                existing = path.read_text(encoding="utf-8") if path.exists() else ""
                path.write_text(existing + ("\n" if existing else "") + body, encoding="utf-8")  # a test added to a file
                out.append(f"```yaml\n{body}```\n")
                continue
            if kind != "console":
                out.append(block)
                continue
            shown = []
            for line in body.splitlines():
                if not line.startswith("$ "):
                    continue  # the old output: replaced
                command = line[2:]
                if command == "echo $?":
                    shown += [line, str(status)]
                    continue
                short = command.endswith(ELIDE)
                command = command.removesuffix(ELIDE)
                text, status = run(command, work)
                shown += [f"$ {command}", *([elide(text) if short else text] if text else [])]
            out.append("```console\n" + "\n".join(shown) + "\n```\n")
    (ROOT / "docs" / "authoring.md").write_text("".join(out), encoding="utf-8")


if __name__ == "__main__":
    main()
