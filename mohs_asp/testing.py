"""Policy test files: a case with a top-level `expect:` holding any part of the answer.

Matching (the same for `mohs-asp test` and the project's pytest suite): every key given must
match; `lesions` are matched by `id` and `lines` by `line`, comparing only the fields given;
each entry of `errors` must match some actual error on the fields given; `fired` lists rule
ids that must have fired; any other list compares exactly.

A contract example pair (`X.case.json` with `X.expected.json` beside it) is a test too: the
expected file is its `expect:`. `run_tests` solves many test cases in one Control, records
every rule that fired, and reports the rules no test made fire.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .case import read_document
from .errors import CaseInvalid, UsageError

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
            elif key == "errors" and isinstance(want, list) and isinstance(actual[key], list):
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
        if k not in by_key:
            out.append(Difference(where, item, _MISSING))
        else:
            out.extend(compare(item, by_key[k], where))
    return out


def test_files(paths: list[str]) -> list[Path]:
    """Test files named by paths: files as given, folders searched for *.yaml/*.yml/*.json."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.suffix in TEST_SUFFIXES and f.is_file()))
        else:
            out.append(p)
    return out


def discover(paths: Sequence[str]) -> list[Path]:
    """Test files named by paths: as `test_files`, leaving out the `*.expected.json` of
    example pairs found in folders (each is read with its `*.case.json`)."""
    return [p for p in test_files(list(paths)) if not (p.name.endswith(".expected.json") and
                                                      p.with_name(p.name.replace(".expected.", ".case.")).is_file())]


def split_test(path: Path) -> tuple[Any, dict | None]:
    """A test file's case (the document without `expect`) and its expectation."""
    doc = read_document(str(path))
    if isinstance(doc, dict) and "expect" in doc:
        doc = dict(doc)
        expect = doc.pop("expect")
        return doc, expect if isinstance(expect, dict) else {"expect": expect}
    return doc, None


@dataclass(frozen=True)
class PolicyTest:
    path: Path
    doc: Any  # the case
    expect: dict | None
    fired: tuple[str, ...] = ()  # rule ids that must fire (`expect: {fired: [...]}`)


def read_test(path: Path) -> PolicyTest:
    """A test file, or an example pair `X.case.json` + `X.expected.json`. A `fired:` in
    `expect` is taken out of it (it is not part of the answer)."""
    doc, expect = split_test(path)
    if expect is None and path.name.endswith(".case.json"):
        pair = path.with_name(path.name.removesuffix(".case.json") + ".expected.json")
        if pair.is_file():
            expect = read_document(str(pair))
    fired: tuple[str, ...] = ()
    if isinstance(expect, dict) and "fired" in expect:
        expect = dict(expect)
        wanted = expect.pop("fired")
        fired = tuple(map(str, wanted)) if isinstance(wanted, list) else (str(wanted),)
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
        for r in self.failures:
            out.append(f"FAIL {r.path}")
            if r.problem:
                out.append(f"  {r.problem}")
            for d in r.differences:
                out.append(f"  {d.path or '(answer)'}: expected {_show(d.expected)}, got {_show(d.actual)}")
            for e in r.errors:
                out.append(f"  the case is invalid: {e.get('path') or '(file)'}: {e.get('message')}")
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
    """A value as JSON holds it (a YAML date or a JSON decimal in an expectation becomes text)."""
    return json.loads(json.dumps(value, default=str))


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
        if not Path(p).exists():
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
        except CaseInvalid as e:
            result.problem = f"cannot read the file: {e}"
            continue
        if not isinstance(test.expect, dict):
            result.problem = "no `expect:` in the file (nor an .expected.json beside it)"
            continue
        try:
            runnable.append((result, test, parse_case(test.doc, policy)))
        except CaseInvalid as e:
            _judge(result, test, invalid_answer(e), set(), policy)
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
        if rule_id not in policy.rules_by_id:
            result.differences.append(Difference("fired", rule_id, "no rule of this policy has that id"))
        elif rule_id not in fired:
            result.differences.append(Difference("fired", rule_id, "did not fire"))
    if result.differences and answer.get("status") == "invalid" and test.expect.get("status") != "invalid":
        result.errors = answer.get("errors", [])
