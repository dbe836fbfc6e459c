"""The `mohs-asp` command: parse arguments, call the library, render.

Errors are turned into exit codes in one place, `main()`:
0 covered or no MMS, 1 not covered, 2 invalid case or bad usage, 3 broken policy,
4 an internal error (a bug: reported in one line, never as a traceback).
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from .errors import MohsError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Coverage engine for Mohs Micrographic Surgery: the payer's policy as ASP rules.",
)

INTERNAL_ERROR = 4


class Format(str, Enum):
    text = "text"
    json = "json"


PolicyOption = typer.Option(
    None, "--policy", metavar="DIR",
    help="A policy folder holding logic/ and data/ (default: the project's own).",
    file_okay=False,
)
FormatOption = typer.Option(Format.text, "--format", help="text for people, json for programs.")


def _policy(path: Optional[Path]):
    from .policy import load_policy

    return load_policy(path)


def _print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def _decide(case: str, format: Format, policy: Optional[Path], explain: bool) -> None:
    from .api import check_source, exit_code
    from .render import render_check, render_explain

    answer = check_source(case, _policy(policy), explain=explain)
    if format is Format.json:
        _print_json(answer)
    else:
        print(render_explain(answer) if explain else render_check(answer))
    raise typer.Exit(exit_code(answer))


CaseArgument = typer.Argument(..., metavar="CASE", help="A case file (JSON or YAML), or - for standard input.")


@app.command()
def check(case: str = CaseArgument, format: Format = FormatOption, policy: Optional[Path] = PolicyOption) -> None:
    """Decide one case: each lesion's indications, each line's outcome, and the decision.

    Exit 0 covered or no MMS, 1 not covered, 2 invalid case, 3 broken policy.
    """
    _decide(case, format, policy, explain=False)


@app.command()
def explain(case: str = CaseArgument, format: Format = FormatOption, policy: Optional[Path] = PolicyOption) -> None:
    """Decide one case and say why: for each line the rule that gave its outcome, for each
    lesion every indication met or not with the case's own values, and what would qualify.

    Exit codes as for check.
    """
    _decide(case, format, policy, explain=True)


@app.command()
def rules(format: Format = FormatOption, policy: Optional[Path] = PolicyOption) -> None:
    """List every rule: its id, where it is written (logic/FILE.lp:LINE) and the policy sentence it encodes."""
    from .render import render_rules

    listed = [{"id": r.id, "source": r.source, "policy": r.policy} for r in _policy(policy).rules]
    if format is Format.json:
        _print_json(listed)
    else:
        print(render_rules(listed))


@app.command()
def schema(policy: Optional[Path] = PolicyOption) -> None:
    """Print the JSON Schema of the case format (sites and histology terms from the policy's data)."""
    from .schema import case_schema

    _print_json(case_schema(_policy(policy)))


def main() -> None:
    """Entry point: the one place where errors become exit codes."""
    try:
        app()
    except MohsError as e:
        sys.stderr.write(f"mohs-asp: {e}\n")
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("mohs-asp: interrupted\n")
        sys.exit(130)
    except Exception as e:  # a bug: say so in one line, no traceback  # noqa: BLE001
        sys.stderr.write(f"mohs-asp: internal error: {type(e).__name__}: {e}\n")
        sys.exit(INTERNAL_ERROR)


if __name__ == "__main__":
    main()
