"""Policy test files: a case with a top-level `expect:` holding any part of the answer.

Matching (the same for `mohs-asp test` and the project's pytest suite): every key given must
match; `lesions` are matched by `id` and `lines` by `line`, comparing only the fields given;
each entry of `errors` (or `warnings`) must match some actual error (warning) on the fields
given, and an empty list expects none; `fired` lists rule ids that must have fired; any other
list compares exactly. A key no answer has (`decison`) and a value no answer can hold
(`outcome: payed`) fail the test, saying so.

The files are found and read by mohs_asp/authoring/policy_tests.py (a file of several tests, an example
pair `X.case.json` + `X.expected.json`). `run_tests` solves many test cases in one Control, records
every rule that fired, and reports the rules no test made fire.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..case.check import suggest
from ..errors import CaseInvalid, UsageError
from .policy_tests import PolicyTest, discover, keyword_matcher, probe, read_tests, test_id
from ..render import safe

KEYED = {"lesions": "id", "lines": "line"}

# The contract's fields at each level of an answer (an answer may carry more: those it has
# are known too). A key in `expect:` that is neither is a typo, said with "did you mean".
FIELDS = {"answer": ("case", "status", "decision", "lesions", "lines", "errors"),
          "lesions": ("id", "diagnosis", "site", "medically_necessary", "diagnosis_covered", "indications"),
          "lines": ("line", "code", "outcome", "into"),
          "errors": ("path", "message")}
WHAT = {"answer": "the answer", "lesions": "a lesion in the answer", "lines": "a line in the answer",
        "errors": "an error in the answer"}
BOOLEANS = ("medically_necessary", "diagnosis_covered")


@dataclass(frozen=True)
class Difference:
    path: str
    expected: Any
    actual: Any
    note: str | None = None  # the expectation itself is wrong: an unknown field, an impossible value

    def __str__(self) -> str:
        if self.note is not None:
            return f"{self.path}: {self.note}"
        return f"{self.path or '(answer)'}: expected {self.expected!r}, got {self.actual!r}"


_MISSING = "(missing)"


# (level, field) -> the values an answer's enumerated field can take, what one is called, and many
Vocabulary = dict[tuple[str, str], tuple[tuple[str, ...], str, str]]


def answer_vocabulary(indications: Iterable[str] | None = None) -> Vocabulary:
    """The contract's values for status, decision and a line's outcome, and the policy's
    indications (those its rules give; None: not known, not checked)."""
    from ..engine.answer import DECISIONS, OUTCOMES

    values: Vocabulary = {("answer", "status"): (("ok", "invalid"), "status", "statuses"),
                          ("answer", "decision"): (DECISIONS, "decision", "decisions"),
                          ("lines", "outcome"): (OUTCOMES, "outcome", "outcomes")}
    if indications is not None:
        values[("lesions", "indications")] = (tuple(sorted(indications)), "indication of this policy",
                                              "indications of this policy")
    return values


def compare(expect: Any, actual: Any, path: str = "", vocabulary: Vocabulary | None = None,
            level: str | None = "answer") -> list[Difference]:
    """Every way `actual` fails to match the partial answer `expect`; with a vocabulary, a
    key no answer has and a value no answer can hold are said as such (with "did you mean")."""
    if isinstance(expect, dict):
        if not isinstance(actual, dict):
            return [Difference(path, expect, actual)]
        out: list[Difference] = []
        for key, want in expect.items():
            where = f"{path}.{key}" if path else str(key)
            if vocabulary and level and (wrong := _impossible(where, key, want, vocabulary, level)):
                out.append(wrong)
            elif key not in actual:
                out.append(_unknown_field(where, key, want, actual, level) if vocabulary and level else
                           Difference(where, want, _MISSING))
            elif key in KEYED and isinstance(want, list) and isinstance(actual[key], list):
                out.extend(_compare_keyed(want, actual[key], KEYED[key], where, vocabulary))
            elif key in ("errors", "warnings") and isinstance(want, list) and isinstance(actual[key], list):
                if not want and actual[key]:  # `warnings: []`: none expected
                    out.append(Difference(where, want, actual[key]))
                for i, err in enumerate(want):
                    if vocabulary and isinstance(err, dict) and (typo := _unknown_in_errors(f"{where}[{i}]", err, actual[key])):
                        out.append(typo)
                    elif not any(not compare(err, got) for got in actual[key]):
                        out.append(Difference(f"{where}[{i}]", err, actual[key]))
            else:
                out.extend(compare(want, actual[key], where, vocabulary, None))
        return out
    if expect != actual:
        return [Difference(path, expect, actual)]
    return []


def _compare_keyed(want: list, got: list, key: str, path: str, vocabulary: Vocabulary | None) -> list[Difference]:
    level = "lesions" if key == "id" else "lines"
    by_key = {item.get(key): item for item in got if isinstance(item, dict)}
    out = []
    for item in want:
        k = item.get(key) if isinstance(item, dict) else None
        where = f"{path}[{key}={k}]"
        if not isinstance(k, Hashable) or k not in by_key:  # `id: [x]` in a test file matches nothing
            out.append(Difference(where, item, _MISSING))
        else:
            out.extend(compare(item, by_key[k], where, vocabulary, level))
    return out


def _unknown_field(where: str, key: Any, want: Any, actual: dict, level: str) -> Difference:
    """A key the answer lacks: a field it may lack (`into` on a payable line, `decision` of an
    invalid case), or one no answer has: a typo."""
    known = list(dict.fromkeys([*FIELDS[level], *(k for k in actual if isinstance(k, str))]))
    if key in known:
        return Difference(where, want, _MISSING)
    hint = suggest(key, known) if isinstance(key, str) else ""
    return Difference(where, want, _MISSING,
                      note=f"not a field of {WHAT[level]}{hint or '; its fields are ' + ', '.join(known)}")


def _unknown_in_errors(where: str, err: dict, actual: list) -> Difference | None:
    known = list(dict.fromkeys([*FIELDS["errors"], *(k for e in actual if isinstance(e, dict) for k in e if isinstance(k, str))]))
    for key in err:
        if key not in known:
            hint = suggest(key, known) if isinstance(key, str) else ""
            return Difference(f"{where}.{key}", err[key], _MISSING,
                              note=f"not a field of {WHAT['errors']}{hint or '; its fields are ' + ', '.join(known)}")
    return None


def _impossible(where: str, key: Any, want: Any, vocabulary: Vocabulary, level: str) -> Difference | None:
    """An expected value no answer can hold: `outcome: payed`, `indications: [large]`,
    `medically_necessary: yes`. Only text is checked (a number or a list where text belongs
    simply differs)."""
    if level == "lesions" and key in BOOLEANS and not isinstance(want, bool):
        return Difference(where, want, None, note=f"{_show(want)} is not a possible value: {key} is true or false")
    allowed = vocabulary.get((level, key)) if isinstance(key, str) else None
    if allowed is None:
        return None
    values, one, many = allowed
    for value in want if isinstance(want, list) else [want]:
        if isinstance(value, str) and value not in values:
            return Difference(where, want, None, note=f'"{value}" is not a possible {one}{suggest(value, values)}; '
                                                      f"the {many} are {', '.join(values)}")
    return None


# -- running and reporting -------------------------------------------------------------------


@dataclass
class TestResult:
    path: Path
    name: str | None = None  # in a file of several tests
    differences: list[Difference] = field(default_factory=list)
    problem: str | None = None  # the test could not run: unreadable, no expect
    errors: list[dict] = field(default_factory=list)  # the case's input errors, when it unexpectedly is invalid
    fired: set[str] = field(default_factory=set, repr=False)  # every rule that fired for its case

    @property
    def id(self) -> str:
        return test_id(self.path, self.name)

    @property
    def passed(self) -> bool:
        return not self.differences and self.problem is None

    def lines(self) -> list[str]:
        """Why it failed, a line each: the problem, each difference, the case's input errors."""
        out = [self.problem] if self.problem else []
        out.extend(f"{d.path}: {d.note}" if d.note else
                   f"{d.path or '(answer)'}: expected {_show(d.expected)}, got {_show(d.actual)}" for d in self.differences)
        out.extend(f"the case is invalid: {e.get('path') or '(file)'}: {e.get('message')}" for e in self.errors)
        return out


@dataclass
class TestReport:
    policy: str
    results: list[TestResult]  # the tests that ran, in order
    rules: list  # every Rule that can record firing
    fired: set[str]
    dormant: dict[str, list]  # rule id -> predicates nothing gives (cannot fire with this data)
    deselected: int = 0  # tests -k left out
    not_run: int = 0  # tests after the first failure, with -x
    seconds: float = 0.0

    @property
    def failures(self) -> list[TestResult]:
        return [r for r in self.results if not r.passed]

    @property
    def uncovered(self) -> list:
        return [r for r in self.rules if r.id not in self.fired and r.id not in self.dormant]

    @property
    def cannot_fire(self) -> list:
        return [r for r in self.rules if r.id in self.dormant and r.id not in self.fired]

    def ok(self, require_coverage: bool = False) -> bool:
        return not self.failures and not (require_coverage and self.uncovered)

    def as_dict(self) -> dict:
        return {
            "policy": self.policy,
            "tests": len(self.results),
            "passed": len(self.results) - len(self.failures),
            "failed": len(self.failures),
            "deselected": self.deselected,
            "not_run": self.not_run,
            "failures": [{"test": r.id, "file": str(r.path), "name": r.name, "problem": r.problem,
                          "differences": [{"path": d.path, "expected": _plain(d.expected), "actual": _plain(d.actual),
                                           **({"note": d.note} if d.note else {})}
                                          for d in r.differences],
                          "errors": r.errors} for r in self.failures],
            "rules": len(self.rules),
            "fired": sum(1 for r in self.rules if r.id in self.fired),
            "uncovered": [{"id": r.id, "source": r.source} for r in self.uncovered],
            "cannot_fire": [{"id": r.id, "source": r.source, "nothing_gives": [f"{k[0]}/{k[1]}" for k in self.dormant[r.id]]}
                            for r in self.cannot_fire],
        }

    def render(self, coverage: bool = False, quiet: bool = False, require_coverage: bool = False) -> str:
        """Each failure, then the rules no test fired (one line; each with its source with
        `coverage`, or when `require_coverage` fails the run on them), then the summary.
        `quiet`: the failures and the summary only."""
        out: list[str] = []
        for r in self.failures:  # file names, keys and values escaped: none can print a line of its own
            out.append(safe(f"FAIL {r.id}"))
            out.extend(safe(f"  {line}") for line in r.lines())
        width = max((len(safe(r.id)) for r in self.rules), default=0) + 2  # rule ids come from the policy: escaped too
        brief = not quiet and not self.not_run  # after -x, what the rest would fire is unknown: not said
        uncovered, cannot_fire = self.uncovered, self.cannot_fire
        if uncovered and (coverage or require_coverage):
            out.append(f"Rules no test made fire ({len(uncovered)} of {len(self.rules)}):")
            out.extend(f"  {safe(r.id):<{width}}{safe(r.source)}" for r in uncovered)
        elif uncovered and brief:
            out.append(_one_line(f"{_count(len(uncovered), 'rule')} fired by no test: ", [safe(r.id) for r in uncovered]))
        if cannot_fire and coverage:
            out.append("Rules that cannot fire with this policy's data (not counted as uncovered):")
            out.extend(f"  {safe(r.id):<{width}}{safe(r.source)}  (nothing gives {safe(', '.join(f'{k[0]}/{k[1]}' for k in self.dormant[r.id]))})"
                       for r in cannot_fire)
        elif cannot_fire and brief:
            out.append(_one_line(f"{_count(len(cannot_fire), 'rule')} cannot fire with this policy's data: ",
                                 [safe(r.id) for r in cannot_fire]))
        counted = len(self.rules) - len(cannot_fire)
        fired = sum(1 for r in self.rules if r.id in self.fired)
        passed = len(self.results) - len(self.failures)
        out.append(f"{_count(len(self.results), 'test')}: {passed} passed, {len(self.failures)} failed"
                   + (f", {self.not_run} not run (-x: stopped at the first failure)" if self.not_run else "")
                   + (f", {self.deselected} deselected by -k" if self.deselected else "")
                   + f"; rules fired: {fired} of {counted}"
                   + (f" ({len(cannot_fire)} more cannot fire with this data)" if cannot_fire else ""))
        return "\n".join(out)

    def junit_xml(self, require_coverage: bool = False) -> bytes:
        """The results as JUnit XML, the form CI systems read: one <testcase> per test (the
        file's folder as its class, FILE or FILE::NAME as its name), a failed one with a
        <failure> (its differences: field, expected, actual) or, when it could not run, an
        <error>. With `require_coverage`, one more testcase: every rule that can fire fired."""
        import xml.etree.ElementTree as ET

        cases = [(r.path, test_id(Path(r.path.name), r.name), r.problem, r.lines()) for r in self.results]
        if require_coverage:
            uncovered = self.uncovered
            cases.append((Path("mohs-asp/coverage"), "every rule that can fire is fired by some test", None,
                          [f"{r.id} ({r.source}) is fired by no test" for r in uncovered]))
        failures = sum(1 for _, _, problem, lines in cases if lines and not problem)
        errors = sum(1 for _, _, problem, _ in cases if problem)
        suite = ET.Element("testsuite", name="mohs-asp test", tests=str(len(cases)), failures=str(failures),
                           errors=str(errors), skipped="0", time=f"{self.seconds:.3f}")
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="policy", value=_xml(self.policy))
        ET.SubElement(props, "property", name="rules fired",
                      value=f"{sum(1 for r in self.rules if r.id in self.fired)} of {len(self.rules) - len(self.cannot_fire)}")
        for path, name, problem, lines in cases:
            folder = ".".join(p for p in path.parent.parts if p not in (path.anchor, ".", "..")) or "tests"
            case = ET.SubElement(suite, "testcase", classname=_xml(folder), name=_xml(name), file=_xml(str(path)))
            if lines:
                tag = "error" if problem else "failure"
                message = lines[0] + (f" (and {len(lines) - 1} more)" if len(lines) > 1 else "")
                ET.SubElement(case, tag, message=_xml(message), type="problem" if problem else "difference").text = \
                    _xml("\n".join(lines))
        root = ET.Element("testsuites", tests=suite.get("tests"), failures=suite.get("failures"),
                          errors=suite.get("errors"), time=suite.get("time"))
        root.append(suite)
        ET.indent(root)
        return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: str) -> str:
    """Text XML 1.0 can hold: a control character or a lone surrogate (a file name that is
    not UTF-8) is written as its escape, not left to make the file unreadable."""
    return _NOT_XML.sub(lambda m: m.group(0).encode("unicode_escape", "backslashreplace").decode("ascii"), text)


def write_junit_xml(report: TestReport, path: Path, require_coverage: bool = False) -> None:
    """The JUnit XML written whole: a temporary file beside `path`, renamed over it."""
    from ..batch.answers_file import output as _output  # the one writer of whole files

    if probe(path, Path.is_dir):
        raise UsageError(f"--junit-xml {path} is a folder")
    data = report.junit_xml(require_coverage)
    with _output(path) as f:
        f.write(data)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def _one_line(prefix: str, names: list[str]) -> str:
    """`prefix` and as many names as fit the terminal's width, then where to see them all."""
    import shutil

    width = shutil.get_terminal_size().columns
    suffix = f"; --coverage lists {'them' if len(names) > 1 else 'it'}"
    def line(n: int) -> str:  # the first n names
        return prefix + ", ".join(names[:n]) + (" ..." if n < len(names) else "") + suffix

    n = 1
    while n < len(names) and len(line(n + 1)) <= width:
        n += 1
    return line(n)


def _plain(value: Any) -> Any:
    """A value as JSON holds it (a YAML date, a JSON decimal or a YAML `.nan` in an expectation
    becomes text: `--format json` must print JSON, which has no NaN)."""
    return json.loads(json.dumps(value, default=str), parse_constant=str)


def _show(value: Any) -> str:
    if value == _MISSING:
        return "nothing (the answer has no such field)"
    return json.dumps(value, ensure_ascii=False, default=str)


def default_paths(policy) -> list[str]:
    """With no PATH: the pack's policy tests (its policy.toml's `[pack] tests`, else tests/)."""
    from ..policy.pack import read_pack

    pack = read_pack(policy.root, policy.metadata)
    tests = pack.tests_dir
    if not tests.is_dir():
        raise UsageError(f"give the test files or folders to run: the policy folder {policy.root} has no {pack.tests}/ folder")
    try:  # shown as the author would type it
        return [str(tests.relative_to(Path.cwd()))]
    except ValueError:
        return [str(tests)]


def run_tests(paths: Sequence[str], policy, chunk_size: int = 500, select: str | None = None,
              exitfirst: bool = False) -> TestReport:
    """Run test files against a policy: many cases per Control, every rule's firing recorded.
    `select`: a `-k` expression; `exitfirst`: stop at the first failing test (in file order)."""
    from ..engine.answer import build_answer, invalid_answer
    from ..api import refused, within_limits
    from ..case.check import parse_case
    from ..engine.solver import FIRINGS, Record, solve
    from .graph import RuleGraph

    started = time.perf_counter()
    matches = keyword_matcher(select) if select is not None else None
    for p in paths:
        if not probe(Path(p), Path.exists):
            raise UsageError(f"no such file or folder: {p}")
    files = discover(paths)
    if not files:
        raise UsageError(f"no test files (*.yaml, *.yml, *.json) in {', '.join(paths)}")
    tests: list[PolicyTest] = []
    for path in files:
        try:
            tests.extend(read_tests(path))
        except (CaseInvalid, UsageError) as e:  # not a case, or not readable at all: this test fails, the rest run
            tests.append(PolicyTest(path, None, None, problem=f"cannot read the file: {e}"))
    selected = [t for t in tests if matches(t.id)] if matches else tests
    if not selected:
        raise UsageError(f"-k {select!r} selects none of the {_count(len(tests), 'test')}")
    structure = RuleGraph(policy)
    values = answer_vocabulary(_constants(structure.domains.get((("indication", 3), 2))))
    entries: list[tuple[TestResult, PolicyTest, Any]] = []  # (result, test, Case or None once judged)
    for test in selected:
        result = TestResult(test.path, test.name, problem=test.problem)
        case = None
        if test.problem is None:
            try:
                case = parse_case(test.doc, policy)
            except CaseInvalid as e:
                _judge(result, test, invalid_answer(e, policy), set(), policy, values)
        entries.append((result, test, case))
    ran: list[TestResult] = []
    fired: set[str] = set()

    def run(cases: list) -> list[tuple[dict, list[str]]]:  # each case's answer and the rules that fired
        solved = solve(policy, cases, Record.FIRINGS)
        return [(build_answer(case, s, policy), [rule_id for rule_id, _ in s.fired]) for case, s in zip(cases, solved)]

    policy.program(FIRINGS)
    for start in range(0, len(entries), chunk_size):
        chunk = entries[start:start + chunk_size]
        runnable = [(result, test, case) for result, test, case in chunk if case is not None]
        if runnable:
            done = within_limits([case for _, _, case in runnable], policy, run,
                                 lambda case, limit: (refused(case, limit, policy), []))
            for (result, test, _case), (answer, ids) in zip(runnable, done):
                result.fired = set(ids)  # every rule, with Record.FIRINGS
                _judge(result, test, answer, result.fired, policy, values)
        stop = next((i for i, (result, _, _) in enumerate(chunk) if not result.passed), None) if exitfirst else None
        ran.extend(result for result, _, _ in chunk[:None if stop is None else stop + 1])
        if stop is not None:
            break
    for result in ran:
        fired |= result.fired
    rules = [r for r in policy.rules if r.head is not None]
    return TestReport(str(policy.root), ran, rules, fired, structure.dormant(), deselected=len(tests) - len(selected),
                      not_run=len(selected) - len(ran), seconds=time.perf_counter() - started)


def _constants(values) -> list[str] | None:
    """Names of constants (`large_lesion`), or None when a value is not one or not known."""
    from clingo import SymbolType

    if values is None or not all(v.type == SymbolType.Function and not v.arguments for v in values):
        return None
    return [v.name for v in values]


def _judge(result: TestResult, test: PolicyTest, answer: dict, fired: set[str], policy, vocabulary: Vocabulary) -> None:
    result.differences = compare(test.expect, answer, vocabulary=vocabulary)
    for rule_id in test.fired:
        if not isinstance(rule_id, str):
            result.differences.append(Difference("fired", rule_id, "not a rule id: `fired:` lists rule ids (text)"))
        elif rule_id not in policy.rules_by_id:
            result.differences.append(Difference("fired", rule_id, "no rule of this policy has that id"
                                                 + suggest(rule_id, list(policy.rules_by_id))))
        elif rule_id not in fired:
            result.differences.append(Difference("fired", rule_id, "did not fire"))
    if result.differences and answer.get("status") == "invalid" and test.expect.get("status") != "invalid":
        result.errors = answer.get("errors", [])
