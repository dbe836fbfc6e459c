"""Policy test files: a case with a top-level `expect:` holding any part of the answer.

Matching (the same for `mohs-asp test` and the project's pytest suite): every key given must
match; `lesions` are matched by `id` and `lines` by `line`, comparing only the fields given;
each entry of `errors` (or `warnings`) must match some actual error (warning) on the fields
given, and an empty list expects none; `fired` lists rule ids that must have fired; any other
list compares exactly.

A contract example pair (`X.case.json` with `X.expected.json` beside it) is a test too: the
expected file is its `expect:`. `run_tests` solves many test cases in one Control, records
every rule that fired, and reports the rules no test made fire.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .case import _type_name, read_document
from .errors import CaseInvalid, UsageError
from .render import safe

KEYED = {"lesions": "id", "lines": "line"}
TEST_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Difference:
    path: str
    expected: Any
    actual: Any

    def __str__(self) -> str:
        return f"{self.path or '(answer)'}: expected {self.expected!r}, got {self.actual!r}"


_MISSING = "(missing)"


def compare(expect: Any, actual: Any, path: str = "") -> list[Difference]:
    """Every way `actual` fails to match the partial answer `expect`."""
    if isinstance(expect, dict):
        if not isinstance(actual, dict):
            return [Difference(path, expect, actual)]
        out: list[Difference] = []
        for key, want in expect.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in actual:
                out.append(Difference(where, want, _MISSING))
            elif key in KEYED and isinstance(want, list) and isinstance(actual[key], list):
                out.extend(_compare_keyed(want, actual[key], KEYED[key], where))
            elif key in ("errors", "warnings") and isinstance(want, list) and isinstance(actual[key], list):
                if not want and actual[key]:  # `warnings: []`: none expected
                    out.append(Difference(where, want, actual[key]))
                for i, err in enumerate(want):
                    if not any(not compare(err, got) for got in actual[key]):
                        out.append(Difference(f"{where}[{i}]", err, actual[key]))
            else:
                out.extend(compare(want, actual[key], where))
        return out
    if expect != actual:
        return [Difference(path, expect, actual)]
    return []


def _compare_keyed(want: list, got: list, key: str, path: str) -> list[Difference]:
    by_key = {item.get(key): item for item in got if isinstance(item, dict)}
    out = []
    for item in want:
        k = item.get(key) if isinstance(item, dict) else None
        where = f"{path}[{key}={k}]"
        if not isinstance(k, Hashable) or k not in by_key:  # `id: [x]` in a test file matches nothing
            out.append(Difference(where, item, _MISSING))
        else:
            out.extend(compare(item, by_key[k], where))
    return out


def test_files(paths: list[str]) -> list[Path]:
    """Test files named by paths: files as given, folders searched for *.yaml/*.yml/*.json."""
    out: list[Path] = []
    for p in map(Path, paths):
        if _probe(p, Path.is_dir):
            out.extend(sorted(f for f in p.rglob("*") if f.suffix in TEST_SUFFIXES and f.is_file()))
        else:
            out.append(p)
    return out


def _probe(path: Path, test) -> bool:
    """`path.exists()` and the like, for a path the user gave: a name too long or a folder we
    may not enter is bad usage, not a crash."""
    try:
        return test(path)
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None


def discover(paths: Sequence[str]) -> list[Path]:
    """Test files named by paths: as `test_files`, leaving out the `*.expected.json` of
    example pairs found in folders (each is read with its `*.case.json`)."""
    return [p for p in test_files(list(paths)) if not (p.name.endswith(".expected.json") and
                                                      _is_file(p.with_name(p.name.replace(".expected.", ".case."))))]


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # X.expected.json's name is 4 characters longer than X.case.json's: it may be too long
        return False


def split_test(path: Path) -> tuple[Any, Any]:
    """A test file's case (the document without `expect`) and its expectation (None without one)."""
    doc = read_document(str(path))
    if isinstance(doc, dict) and "expect" in doc:
        doc = copy.copy(doc)  # a copy that still knows the keys the file gives twice (the checker reports them)
        return doc, doc.pop("expect")
    return doc, None


@dataclass(frozen=True)
class PolicyTest:
    path: Path
    doc: Any  # the case
    expect: dict | None
    fired: tuple = ()  # rule ids that must fire (`expect: {fired: [...]}`), as the file gives them
    problem: str | None = None  # why the test cannot run (no expectation, or not one that can match)


def read_test(path: Path) -> PolicyTest:
    """A test file, or an example pair `X.case.json` + `X.expected.json`. A `fired:` in
    `expect` is taken out of it (it is not part of the answer). A file that is no case at all
    raises CaseInvalid; an expectation that cannot be checked is the test's `problem`."""
    doc, expect = split_test(path)
    where = "`expect:`"
    if expect is None and path.name.endswith(".case.json"):
        pair = path.with_name(path.name.removesuffix(".case.json") + ".expected.json")
        if _is_file(pair):
            where = pair.name
            try:
                expect = read_document(str(pair))
            except (CaseInvalid, UsageError) as e:
                return PolicyTest(path, doc, None, problem=f"cannot read {pair.name}: {e}")
    if expect is None:
        return PolicyTest(path, doc, None, problem="no `expect:` in the file, or an empty one "
                                                   "(and no .expected.json beside it)")
    if not isinstance(expect, dict):
        return PolicyTest(path, doc, None, problem=f"{where} must hold parts of the answer (status:, decision:, "
                                                   f"lesions:, lines:, errors:, fired:), found {_type_name(expect)}")
    fired: tuple = ()
    if "fired" in expect:
        expect = dict(expect)
        wanted = expect.pop("fired")
        # one id alone is read as a list of one; anything else is kept as it is, and fails (_judge)
        fired = tuple(wanted) if isinstance(wanted, list) else (wanted,)
    return PolicyTest(path, doc, expect, fired)


@dataclass
class TestResult:
    path: Path
    differences: list[Difference] = field(default_factory=list)
    problem: str | None = None  # the test could not run: unreadable, no expect
    errors: list[dict] = field(default_factory=list)  # the case's input errors, when it unexpectedly is invalid

    @property
    def passed(self) -> bool:
        return not self.differences and self.problem is None


@dataclass
class TestReport:
    policy: str
    results: list[TestResult]
    rules: list  # every Rule that can record firing
    fired: set[str]
    dormant: dict[str, list]  # rule id -> predicates nothing gives (cannot fire with this data)

    @property
    def failures(self) -> list[TestResult]:
        return [r for r in self.results if not r.passed]

    @property
    def uncovered(self) -> list:
        return [r for r in self.rules if r.id not in self.fired and r.id not in self.dormant]

    def ok(self, require_coverage: bool = False) -> bool:
        return not self.failures and not (require_coverage and self.uncovered)

    def as_dict(self) -> dict:
        return {
            "policy": self.policy,
            "tests": len(self.results),
            "passed": len(self.results) - len(self.failures),
            "failed": len(self.failures),
            "failures": [{"file": str(r.path), "problem": r.problem,
                          "differences": [{"path": d.path, "expected": _plain(d.expected), "actual": _plain(d.actual)}
                                          for d in r.differences],
                          "errors": r.errors} for r in self.failures],
            "rules": len(self.rules),
            "fired": sum(1 for r in self.rules if r.id in self.fired),
            "uncovered": [{"id": r.id, "source": r.source} for r in self.uncovered],
            "cannot_fire": [{"id": r.id, "source": r.source, "nothing_gives": [f"{k[0]}/{k[1]}" for k in self.dormant[r.id]]}
                            for r in self.rules if r.id in self.dormant and r.id not in self.fired],
        }

    def render(self) -> str:
        out: list[str] = []
        for r in self.failures:  # file names, keys and values escaped: none can print a line of its own
            out.append(safe(f"FAIL {r.path}"))
            if r.problem:
                out.append(safe(f"  {r.problem}"))
            for d in r.differences:
                out.append(safe(f"  {d.path or '(answer)'}: expected {_show(d.expected)}, got {_show(d.actual)}"))
            for e in r.errors:
                out.append(safe(f"  the case is invalid: {e.get('path') or '(file)'}: {e.get('message')}"))
        summary = self.as_dict()
        width = max((len(r.id) for r in self.rules), default=0) + 2
        if summary["uncovered"]:
            out.append(f"Rules no test made fire ({len(summary['uncovered'])} of {summary['rules']}):")
            out.extend(f"  {u['id']:<{width}}{u['source']}" for u in summary["uncovered"])
        if summary["cannot_fire"]:
            out.append("Rules that cannot fire with this policy's data (not counted as uncovered):")
            out.extend(f"  {u['id']:<{width}}{u['source']}  (nothing gives {', '.join(u['nothing_gives'])})"
                       for u in summary["cannot_fire"])
        counted = summary["rules"] - len(summary["cannot_fire"])
        out.append(f"{summary['tests']} test{'s' * (summary['tests'] != 1)}: {summary['passed']} passed, {summary['failed']} failed; "
                   f"rules fired: {summary['fired']} of {counted}"
                   + (f" ({len(summary['cannot_fire'])} more cannot fire with this data)" if summary["cannot_fire"] else ""))
        return "\n".join(out)


def _plain(value: Any) -> Any:
    """A value as JSON holds it (a YAML date, a JSON decimal or a YAML `.nan` in an expectation
    becomes text: `--format json` must print JSON, which has no NaN)."""
    return json.loads(json.dumps(value, default=str), parse_constant=str)


def _show(value: Any) -> str:
    if value == _MISSING:
        return "nothing (the answer has no such field)"
    return json.dumps(value, ensure_ascii=False, default=str)


def default_paths(policy) -> list[str]:
    """With no PATH: the policy folder's own tests/ folder."""
    tests = policy.root / "tests"
    if not tests.is_dir():
        raise UsageError(f"give the test files or folders to run: the policy folder {policy.root} has no tests/ folder")
    try:  # shown as the author would type it
        return [str(tests.relative_to(Path.cwd()))]
    except ValueError:
        return [str(tests)]


def run_tests(paths: Sequence[str], policy, chunk_size: int = 500) -> TestReport:
    """Run test files against a policy: many cases per Control, every rule's firing recorded."""
    from .answer import build_answer, invalid_answer
    from .case import parse_case
    from .engine import EVERYTHING, solve
    from .lint import Structure

    for p in paths:
        if not _probe(Path(p), Path.exists):
            raise UsageError(f"no such file or folder: {p}")
    files = discover(paths)
    if not files:
        raise UsageError(f"no test files (*.yaml, *.yml, *.json) in {', '.join(paths)}")
    results = [TestResult(path) for path in files]
    runnable: list[tuple[TestResult, PolicyTest, Any]] = []  # (result, test, Case)
    fired: set[str] = set()
    for result in results:
        try:
            test = read_test(result.path)
        except (CaseInvalid, UsageError) as e:  # not a case, or not readable at all: this test fails, the rest run
            result.problem = f"cannot read the file: {e}"
            continue
        if test.problem is not None:
            result.problem = test.problem
            continue
        try:
            runnable.append((result, test, parse_case(test.doc, policy)))
        except CaseInvalid as e:
            _judge(result, test, invalid_answer(e, policy), set(), policy)
    for start in range(0, len(runnable), chunk_size):
        chunk = runnable[start:start + chunk_size]
        solved = solve(policy, [case for _, _, case in chunk], track=EVERYTHING)
        for (result, test, case), s in zip(chunk, solved):
            ids = {rule_id for rule_id, _ in s.fired}  # every rule, with track=EVERYTHING
            fired |= ids
            _judge(result, test, build_answer(case, s, policy), ids, policy)
    rules = [r for r in policy.rules if r.head is not None]
    return TestReport(str(policy.root), results, rules, fired, Structure(policy).dormant())


def _judge(result: TestResult, test: PolicyTest, answer: dict, fired: set[str], policy) -> None:
    result.differences = compare(test.expect, answer)
    for rule_id in test.fired:
        if not isinstance(rule_id, str):
            result.differences.append(Difference("fired", rule_id, "not a rule id: `fired:` lists rule ids (text)"))
        elif rule_id not in policy.rules_by_id:
            result.differences.append(Difference("fired", rule_id, "no rule of this policy has that id"))
        elif rule_id not in fired:
            result.differences.append(Difference("fired", rule_id, "did not fire"))
    if result.differences and answer.get("status") == "invalid" and test.expect.get("status") != "invalid":
        result.errors = answer.get("errors", [])
