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
from typer.core import TyperCommand

from .errors import MohsError, OutputClosed, OutputError, UsageError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help that wraps to the terminal, and plain usage errors (main())
    # help paragraphs wrap to the terminal's width, however wide (click stops at 80 by default)
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 10_000},
    help="Coverage engine for Mohs Micrographic Surgery: the payer's policy as ASP rules.",
)

INTERNAL_ERROR = 4


class _Command(TyperCommand):
    """A command whose usage line names its arguments as its help does (`check [OPTIONS] CASE...`),
    not as typer writes a required one (`{CASE}`)."""

    def collect_usage_pieces(self, ctx):
        return [self.options_metavar] + [p.make_metavar(ctx) for p in self.get_params(ctx)
                                         if p.param_type_name == "argument"]


def command(name: Optional[str] = None):
    return app.command(name, cls=_Command)


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


class BatchFormat(str, Enum):
    json = "json"
    csv = "csv"


PolicyOption = typer.Option(
    None, "--policy", metavar="DIR",
    help="A policy folder holding logic/ and data/ (default: the project's own).",
    file_okay=False,
)
FormatOption = typer.Option(Format.text, "--format", metavar="[text|json]", help="text for people, json for programs.")


def _policy(path: Optional[Path]):
    from .policy.load import load_policy

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


def _ascii_only() -> bool:
    # UTF-8 as is; for an output that cannot take it, \u escapes (still the same JSON)
    return (sys.stdout.encoding or "").lower().replace("-", "") != "utf8"


def _print_json(obj) -> None:
    _emit(json.dumps(obj, ensure_ascii=_ascii_only(), indent=2))


def _decide(cases: list[str], format: Format, policy: Optional[Path], explain: bool, full: bool = False) -> None:
    """The answer to each case named, in order. One file (or -) is answered as it always was; several, or
    any folder (its case files, `sources`), give one answer each: text answers a blank line apart, JSON
    Lines with --format json, each answer with its input_file. The exit status is the highest of the
    answers' (2 any invalid, else 1 any not covered, else 0)."""
    from . import api
    from . import render

    loaded = _policy(policy)
    colour = format is Format.text and _colour()
    several = len(cases) > 1 or any(os.path.isdir(c) for c in cases)
    status = 0
    for number, source in enumerate(_sources(cases) if several else cases):
        answer = next(api.answer([api.from_file(source)], loaded, explain=explain))
        status = max(status, api.exit_code(answer))
        if format is Format.json:
            if several:
                _emit(json.dumps({**answer, "input_file": source}, ensure_ascii=_ascii_only(), separators=(",", ":")))
            else:
                _print_json(answer)
            continue
        text = (render.render_explain_full(answer, colour, source) if full else render.render_explain(answer, colour, source)) \
            if explain else render.render_check(answer, colour, source)
        _emit(text if number == 0 else "\n" + text)
    raise typer.Exit(status)


def _colour() -> bool:
    """Colour for a terminal: standard output is one, NO_COLOR is unset or empty (no-color.org),
    and TERM is not `dumb`. A pipe or a file gets none."""
    try:
        terminal = sys.stdout.isatty()
    except (AttributeError, ValueError):  # closed, or a stand-in
        return False
    return terminal and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _sources(cases: list[str]) -> list[str]:
    """The case files named: files (and -) as given, folders searched (sub-folders too) for
    *.json, *.yaml and *.yml files, in sorted order, leaving out the *.expected.json of example
    pairs. A path that does not exist, or a folder with no case file, is bad usage, said before
    any case is answered."""
    from .authoring.policy_tests import discover, probe

    out: list[str] = []
    for case in cases:
        path = Path(case)
        if case == "-" or probe(path, Path.is_file):
            out.append(case)
        elif probe(path, Path.is_dir):
            found = discover([case])
            if not found:
                raise UsageError(f"{case} is a folder with no case files (*.json, *.yaml, *.yml)")
            out.extend(map(str, found))
        else:
            raise UsageError(f"no such file or folder: {case}")
    return out


CaseArgument = typer.Argument(..., metavar="CASE...",
                              help="Case files (JSON or YAML), folders of them, or - for standard input.")


@command()
def check(cases: list[str] = CaseArgument, format: Format = FormatOption, policy: Optional[Path] = PolicyOption) -> None:
    """Decide each case: each lesion's indications, each line's outcome, and the decision.

    Several files, or a folder (its *.json, *.yaml and *.yml files, sorted, sub-folders too),
    give one answer each, in order; with --format json, one JSON answer a line (JSON Lines).
    Exit 0 covered or no MMS, 1 not covered, 2 invalid case, 3 broken policy; for several
    cases, the highest of theirs.
    """
    _decide(cases, format, policy, explain=False)


@command()
def explain(
    cases: list[str] = CaseArgument,
    full: bool = typer.Option(False, "--full", "--for-authors",
                              help="The whole tree for policy authors: every rule's id and logic/FILE.lp:LINE."),
    format: Format = FormatOption,
    policy: Optional[Path] = PolicyOption,
) -> None:
    """Decide each case and say why: each denied line's reasons, each lesion's indications met and not met with the case's own values, and what documentation would qualify a lesion that meets none.

    Several files or folders as for check. Exit codes as for check.
    """
    _decide(cases, format, policy, explain=True, full=full)


@command()
def rules(
    rule_id: Optional[str] = typer.Argument(None, metavar="[ID]", help="Show only this rule, with the words it gives."),
    format: Format = FormatOption,
    policy: Optional[Path] = PolicyOption,
) -> None:
    """List every rule: its id, where it is written (logic/FILE.lp:LINE), the payer's sentence it encodes and the contract's reading it follows. With an ID, that rule alone, with the words it gives (its % because: line)."""
    from .render import render_rules

    loaded = _policy(policy)
    if rule_id is not None:
        rule = loaded.rules_by_id.get(rule_id)
        if rule is None:
            import difflib

            near = difflib.get_close_matches(rule_id, list(loaded.rules_by_id), n=1)
            raise UsageError(f"no rule {rule_id!r}" + (f" (did you mean `{near[0]}`?)" if near else "") + "; mohs-asp rules lists them")
        listed = [{**rule.listing(), **({"because": rule.because} if rule.because else {})}]
    else:
        listed = [r.listing() for r in loaded.rules]
    if format is Format.json:
        _print_json(listed)
    else:
        _emit(render_rules(listed))


@command()
def schema(policy: Optional[Path] = PolicyOption) -> None:
    """Print the JSON Schema of the case format (sites and histology terms from the policy's data)."""
    from .case.schema import case_schema

    _print_json(case_schema(_policy(policy)))


# -- the policy author's toolkit: lint, test, diff (docs/authoring.md) ------------------------


@command()
def init(folder: Path = typer.Argument(..., metavar="DIR", help="A new (or empty) folder for the copy."),
         policy: Optional[Path] = PolicyOption) -> None:
    """Copy the policy (the shipped one, or --policy's) to DIR, as a pack of your own to edit.

    The pack is policy.toml, logic/, data/, its policy tests and the texts its rules quote
    (policy.toml's [pack] names the last two), and nothing else. Exit 0, 2 when DIR exists
    and is not empty, 3 broken policy.
    """
    from .policy.pack import copy_pack, read_pack

    loaded = _policy(policy)
    pack = read_pack(loaded.root, loaded.metadata)
    files = copy_pack(pack, folder)
    _emit(_copied(loaded, pack, folder, files))


def _copied(policy, pack, folder: Path, files: list[Path]) -> str:
    """What init copied, a line a part, and the commands to run on the copy."""
    from .render import safe

    parts: dict[str, int] = {}
    for rel in files:
        top = rel.as_posix()
        for folder_name in (pack.tests, pack.texts, "logic", "data"):
            if top.startswith(folder_name + "/"):
                top = folder_name + "/"
                break
        parts[top] = parts.get(top, 0) + 1
    version = f" {pack.version}" if pack.version else ""
    where = safe(str(folder))
    width = max(len(p) for p in parts) + 2
    out = [f"Copied the policy {safe(policy.id)}{safe(version)} into {where}:"]
    out.extend(f"  {safe(p):<{width}}{n} file{'s' * (n != 1)}" if p.endswith("/") else f"  {safe(p)}"
               for p, n in parts.items())
    out += ["Edit its logic/ and data/ (docs/authoring.md), then:",
            f"  mohs-asp lint --policy {where}",
            f"  mohs-asp test --policy {where}"]
    return "\n".join(out)


@command()
def lint(format: Format = FormatOption, policy: Optional[Path] = PolicyOption) -> None:
    """Check the policy's logic and data files before an edit reaches claims.

    Syntax (FILE.lp:LINE:COL), every rule named and quoting its sentence, one answer per case,
    clingo's warnings, vocabulary, code sets, and the ICD-10-CM list against the release the
    project ships. Exit 0 when there are no errors (warnings allowed), 1 otherwise.
    """
    from .authoring.lint import lint_policy

    report = lint_policy(policy)
    if format is Format.json:
        _print_json(report.as_dict())
    else:
        _emit(report.render())
    raise typer.Exit(0 if report.ok else 1)


@command("test")
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
    from .authoring.runner import default_paths, run_tests, write_junit_xml

    loaded = _policy(policy)
    report = run_tests(paths or default_paths(loaded), loaded, select=select, exitfirst=exitfirst)
    if junit_xml is not None:
        write_junit_xml(report, junit_xml, require_coverage)
    if format is Format.json:
        _print_json(report.as_dict())
    else:
        _emit(report.render(coverage=coverage, quiet=quiet, require_coverage=require_coverage))
    raise typer.Exit(0 if report.ok(require_coverage) else 1)


@command("diff")
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
    from .authoring.diff import diff_policies, fields_to_keep
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


@command()
def batch(
    input: str = typer.Argument(..., metavar="INPUT", help="A JSON Lines file (one case a line), or - for standard input."),
    out: Optional[str] = typer.Option(None, "--out", metavar="FILE",
                                      help="Write the answers to FILE (all of them or, on failure, none) instead of standard output."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, metavar="N",
                                          help="Worker processes (default: one per core; at most 4 per core)."),
    explain: bool = typer.Option(False, "--explain", help="Add each answer's explanation, as `explain --format json` gives it."),
    format: BatchFormat = typer.Option(BatchFormat.json, "--format", metavar="[json|csv]",
                                       help="json: one answer a line (JSON Lines); csv: one row per claim line, with a header."),
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
    from .batch.pool import Terminated, run

    csv = format is BatchFormat.csv

    progress = sys.stderr.isatty() and not (out is None and sys.stdout.isatty())  # not over answers on screen
    try:
        if dask is not None:
            from .batch.cluster import run_on_cluster

            summary = run_on_cluster(input, out, dask, _policy(policy), workers, progress, explain, csv)
        else:
            summary = run(input, Path(out) if out is not None else None, _policy(policy), workers, progress, explain, csv)
    except KeyboardInterrupt as e:  # Ctrl-C (130), or SIGTERM (batch.Terminated, 143)
        terminated = isinstance(e, Terminated)
        sys.stderr.write(f"mohs-asp: {'terminated' if terminated else 'interrupted'}{f'; {out} left as it was' if out else ''}\n")
        if terminated:
            raise typer.Exit(Terminated.exit_code) from None
        raise
    sys.stderr.write(f"{summary.text()}\n")


@command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", metavar="ADDRESS", help="The address to listen on (0.0.0.0 for every interface)."),
    port: int = typer.Option(8080, "--port", min=0, max=65535, metavar="PORT", help="The port (0: any free one, printed at start)."),
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
        status = app(standalone_mode=False)  # typer's usage errors come here, to be said as ours are
    except typer.TyperException as e:  # a usage error (no such option, a bad value...): one plain line
        if type(e).__name__ == "NoArgsIsHelpError":  # `mohs-asp` alone: the help
            e.show()
        else:
            ctx = getattr(e, "ctx", None)
            hint = f" (see {ctx.command_path} -h)" if ctx is not None else ""
            sys.stderr.write(f"mohs-asp: {' '.join(e.format_message().split())}{hint}\n")
        sys.exit(getattr(e, "exit_code", 2))
    except typer.Abort:
        sys.stderr.write("mohs-asp: interrupted\n")
        sys.exit(130)
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
    sys.exit(status if isinstance(status, int) else 0)


if __name__ == "__main__":
    main()
