"""The `mohs-asp` command: parse arguments, call the library, render.

Errors are turned into exit codes in one place, `main()`:
0 covered or no MMS, 1 not covered, 2 invalid case or bad usage (output that cannot be
written included), 3 broken policy, 4 an internal error (a bug: reported in one line,
never as a traceback). Everything the commands print goes through `_emit`: a reader that
has gone (`| head -1`) changes no exit status.
"""

from __future__ import annotations

import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from .errors import MohsError, OutputClosed, OutputError, UsageError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Coverage engine for Mohs Micrographic Surgery: the payer's policy as ASP rules.",
)

INTERNAL_ERROR = 4


def _version(value: bool) -> None:
    if value:
        from . import __version__

        print(f"mohs-asp {__version__}")
        raise typer.Exit(0)


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                          help="Print the engine's version and exit.")) -> None:
    """Coverage engine for Mohs Micrographic Surgery: the payer's policy as ASP rules."""


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


def _emit(text: str) -> None:
    """Print `text` (and a newline) to standard output. When its reader has gone (`check CASE |
    head -1`) the rest is dropped and the command ends as it would have (a decision's exit
    status stays that decision's); any other failure (a full disk) is an OutputError."""
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        _stdout_to_devnull()
    except OSError as e:
        raise OutputError(f"cannot write standard output: {e.strerror or e}") from None


def _stdout_to_devnull() -> None:
    """After standard output failed: what is still buffered goes nowhere, so the interpreter's
    last flush at exit cannot fail (and print "Exception ignored" or change the exit status)."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError):  # no descriptor to replace
        pass


def _print_json(obj) -> None:
    # UTF-8 as is; for an output that cannot take it, \u escapes (still the same JSON)
    ascii_only = (sys.stdout.encoding or "").lower().replace("-", "") != "utf8"
    _emit(json.dumps(obj, ensure_ascii=ascii_only, indent=2))


def _decide(case: str, format: Format, policy: Optional[Path], explain: bool) -> None:
    from .api import check_source, exit_code
    from .render import render_check, render_explain

    answer = check_source(case, _policy(policy), explain=explain)
    if format is Format.json:
        _print_json(answer)
    else:
        _emit(render_explain(answer) if explain else render_check(answer))
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
    """List every rule: its id, where it is written (logic/FILE.lp:LINE), the payer's sentence it encodes and the contract's reading it follows."""
    from .render import render_rules

    listed = [r.listing() for r in _policy(policy).rules]
    if format is Format.json:
        _print_json(listed)
    else:
        _emit(render_rules(listed))


@app.command()
def schema(policy: Optional[Path] = PolicyOption) -> None:
    """Print the JSON Schema of the case format (sites and histology terms from the policy's data)."""
    from .schema import case_schema

    _print_json(case_schema(_policy(policy)))


# -- the policy author's toolkit: lint, test, diff (docs/authoring.md) ------------------------


@app.command()
def lint(format: Format = FormatOption, policy: Optional[Path] = PolicyOption) -> None:
    """Check the policy's logic and data files before an edit reaches claims.

    Syntax (FILE.lp:LINE:COL), every rule named and quoting its sentence, one answer per case,
    clingo's warnings, vocabulary, code sets, and the ICD-10-CM list against the release the
    project ships. Exit 0 when there are no errors (warnings allowed), 1 otherwise.
    """
    from .lint import lint_policy

    report = lint_policy(policy)
    if format is Format.json:
        _print_json(report.as_dict())
    else:
        _emit(report.render())
    raise typer.Exit(0 if report.ok else 1)


@app.command("test")
def test_command(
    paths: Optional[list[str]] = typer.Argument(
        None, metavar="[PATH]...", help="Test files or folders (default: the policy folder's tests/)."),
    select: Optional[str] = typer.Option(
        None, "-k", metavar="EXPR", help="Run only the tests whose FILE::NAME contains EXPR (any case); "
                                         "words combine with and, or, not and parentheses."),
    exitfirst: bool = typer.Option(False, "-x", "--exitfirst", help="Stop at the first failing test."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Print only the failures and the summary line."),
    coverage: bool = typer.Option(
        False, "--coverage", help="List every rule no test made fire, with logic/FILE.lp:LINE (else one line names a few)."),
    require_coverage: bool = typer.Option(
        False, "--require-coverage", help="Also fail (exit 1) when a rule that can fire was fired by no test; those rules are listed."),
    junit_xml: Optional[Path] = typer.Option(
        None, "--junit-xml", metavar="FILE", dir_okay=False, help="Also write the results as JUnit XML (for CI), whole or not at all."),
    format: Format = FormatOption,
    policy: Optional[Path] = PolicyOption,
) -> None:
    """Run policy test files; report each failure and the rules no test made fire.

    A test file is a case file with a top-level expect: holding any part of the answer, and
    optionally fired: a list of rule ids that must fire; or a list of such cases, each with
    a name:. Exit 0 when every test passes, 1 otherwise, 2 no test files, 3 broken policy.
    """
    from .testing import default_paths, run_tests, write_junit_xml

    loaded = _policy(policy)
    report = run_tests(paths or default_paths(loaded), loaded, select=select, exitfirst=exitfirst)
    if junit_xml is not None:
        write_junit_xml(report, junit_xml, require_coverage)
    if format is Format.json:
        _print_json(report.as_dict())
    else:
        _emit(report.render(coverage=coverage, quiet=quiet, require_coverage=require_coverage))
    raise typer.Exit(0 if report.ok(require_coverage) else 1)


@app.command("diff")
def diff_command(
    cases: list[str] = typer.Argument(..., metavar="CASES...", help="Case files, folders, or JSON Lines files."),
    against: Optional[Path] = typer.Option(None, "--against", metavar="OLD_POLICY", file_okay=False,
                                           help="The policy folder to compare with (before the edit; "
                                                "default: the --policy one, to compare two dates)."),
    on: Optional[str] = typer.Option(None, "--on", metavar="DATE",
                                     help="Give every case this date of service (YYYY-MM-DD) under --policy."),
    against_on: Optional[str] = typer.Option(None, "--against-on", metavar="DATE",
                                             help="Give every case this date of service under --against."),
    only: Optional[list[str]] = typer.Option(
        None, "--only", metavar="FIELDS", help="Keep only changes of these fields: decision, indications, lines, "
                                               "or any field diff compares (repeat it, or separate with commas)."),
    exit_code: bool = typer.Option(False, "--exit-code", help="Exit 1 when any answer changed."),
    format: Format = FormatOption,
    policy: Optional[Path] = PolicyOption,
) -> None:
    """List every case whose answer changes between two policies, or one policy on two dates
    (--on, --against-on), field by field, then a count of the changes by field and by rule.

    Exit 0 (with --exit-code: 1 when an answer changed), 2 bad usage, 3 broken policy.
    """
    from .diff import diff_policies, fields_to_keep
    from .errors import UsageError

    if against is None and on is None and against_on is None:
        raise UsageError("give --against OLD_POLICY, or --on DATE and --against-on DATE to compare two dates")
    for option, value in (("--on", on), ("--against-on", against_on)):
        if value is not None:
            _iso_date(option, value)
    keep = fields_to_keep(only) if only else None
    new = _policy(policy)
    report = diff_policies(cases, _policy(against) if against is not None else new, new,
                           old_on=against_on, new_on=on, only=keep)
    if format is Format.json:
        _print_json(report.as_dict())
    else:
        _emit(report.render())
    raise typer.Exit(1 if exit_code and report.changed else 0)


def _iso_date(option: str, value: str) -> None:
    """A date option must be a real date written YYYY-MM-DD (bad usage otherwise)."""
    import datetime as dt

    from .errors import UsageError

    try:
        if len(value) == 10:
            dt.date.fromisoformat(value)
            return
    except ValueError:
        pass
    raise UsageError(f"{option} {value!r}: give a date written YYYY-MM-DD")


@app.command()
def batch(
    input: str = typer.Argument(..., metavar="INPUT", help="A JSON Lines file (one case a line), or - for standard input."),
    out: Optional[str] = typer.Option(None, "--out", metavar="FILE",
                                      help="Write the answers to FILE (all of them or, on failure, none) instead of standard output."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, metavar="N",
                                          help="Worker processes (default: one per core; at most 4 per core)."),
    explain: bool = typer.Option(False, "--explain", help="Add each answer's explanation, as `explain --format json` gives it."),
    policy: Optional[Path] = PolicyOption,
    dask: Optional[str] = typer.Option(None, "--dask", metavar="ADDRESS",
                                       help="Answer on the dask.distributed cluster whose scheduler is at ADDRESS (tcp://HOST:PORT; "
                                            "the mohs-asp[dask] extra); INPUT and --out may then be fsspec URLs."),
) -> None:
    """Decide a file of cases: one answer a line, in input order, each as `check --format json`
    prints it. A line that is not a valid case gets an invalid answer with its input_line, and
    the run goes on. A summary goes to standard error.

    Exit 0 once every line is answered, 2 bad usage or output that cannot be written, 3 broken
    policy, 4 a worker process lost, 130 interrupted (143 on SIGTERM), 141 standard output closed.
    """
    from .batch import Terminated, run

    progress = sys.stderr.isatty() and not (out is None and sys.stdout.isatty())  # not over answers on screen
    try:
        if dask is not None:
            from .cluster import run_on_cluster

            summary = run_on_cluster(input, out, dask, _policy(policy), workers, progress, explain)
        else:
            summary = run(input, Path(out) if out is not None else None, _policy(policy), workers, progress, explain)
    except KeyboardInterrupt as e:  # Ctrl-C (130), or SIGTERM (batch.Terminated, 143)
        terminated = isinstance(e, Terminated)
        sys.stderr.write(f"mohs-asp: {'terminated' if terminated else 'interrupted'}{f'; {out} left as it was' if out else ''}\n")
        if terminated:
            raise typer.Exit(Terminated.exit_code) from None
        raise
    sys.stderr.write(f"mohs-asp batch: {summary.text()}\n")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="The address to listen on (0.0.0.0 for every interface)."),
    port: int = typer.Option(8080, "--port", min=0, max=65535, help="The port (0: any free one, printed at start)."),
    workers: int = typer.Option(1, "--workers", min=1, metavar="N", help="Server processes."),
    time_limit: float = typer.Option(10.0, "--time-limit", min=0.001, metavar="SECONDS",
                                     help="Answer 503 past this (a request's whole time)."),
    access_log: bool = typer.Option(False, "--access-log", help="Log each request on standard error."),
    policy: Optional[Path] = PolicyOption,
) -> None:
    """Serve the engine over HTTP: POST /check, /explain and /batch, GET /rules, /schema,
    /health and /openapi.json, CDS Hooks CRD services at /cds-services, a page at /.

    Ends on Ctrl-C (exit 130) or SIGTERM (after a graceful stop, by the signal: 143);
    exit 2 bad usage (the port is taken), 3 broken policy (before listening).
    """
    loaded = _policy(policy)
    try:
        from .serve import run
    except ImportError as e:  # a plain install, without the serve extra
        raise UsageError(f"mohs-asp serve needs {e.name}: pip install 'mohs-asp[serve]'") from None
    run(loaded, host, port, workers, time_limit, access_log)


def main() -> None:
    """Entry point: the one place where errors become exit codes."""
    for stream in (sys.stdout, sys.stderr):  # an id the terminal cannot show is escaped, not a crash
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        app()
    except MohsError as e:
        if isinstance(e, OutputError):
            _stdout_to_devnull()
        if not isinstance(e, OutputClosed):  # a reader that stopped early wants nothing more, a message least of all
            sys.stderr.write(f"mohs-asp: {e}\n")
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("mohs-asp: interrupted\n")
        sys.exit(130)
    except Exception as e:  # a bug: say so in one line, no traceback  # noqa: BLE001
        sys.stderr.write(f"mohs-asp: internal error: {type(e).__name__}: {' '.join(str(e).split())}\n")
        sys.exit(INTERNAL_ERROR)


if __name__ == "__main__":
    main()
