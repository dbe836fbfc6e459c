"""Policy test files: found under the paths given, each read into its cases with what they
expect, and chosen by `-k` (mohs_asp/authoring/runner.py runs them; lint grounds their cases).

A test file is a case with a top-level `expect:` holding any part of the answer; a file may
hold several tests: a list of cases, each with a `name:` (reported FILE::NAME). A contract
example pair (`X.case.json` with `X.expected.json` beside it) is a test too: the expected
file is its `expect:`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..case.check import read_document, type_name
from ..errors import CaseInvalid, UsageError
from ..policy.pack import TEST_SUFFIXES

MAX_TESTS_PER_FILE = 1000  # a file of several tests groups the cases of one topic; past this, split it


def test_files(paths: list[str]) -> list[Path]:
    """Test files named by paths: files as given, folders searched for *.yaml/*.yml/*.json."""
    out: list[Path] = []
    for p in map(Path, paths):
        if probe(p, Path.is_dir):
            out.extend(sorted(f for f in p.rglob("*") if f.suffix in TEST_SUFFIXES and f.is_file()))
        else:
            out.append(p)
    return out


def probe(path: Path, test) -> bool:
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
    """A one-case test file's case (the document without `expect`) and its expectation (None
    without one)."""
    return _split(read_document(str(path)))


def _split(doc: Any) -> tuple[Any, Any]:
    if isinstance(doc, dict) and "expect" in doc:
        doc = copy.copy(doc)  # a copy that still knows the keys the file gives twice (the checker reports them)
        return doc, doc.pop("expect")
    return doc, None


def test_id(path: Path, name: str | None) -> str:
    """How a test is named in reports and matched by `-k`: FILE, or FILE::NAME in a file of several."""
    return str(path) if name is None else f"{path}::{name}"


def cases_in(path: Path) -> list[tuple[str | None, Any]]:
    """(name, case) for every case of a test or case file, `expect:` (and `name:`) left out:
    one unnamed case, or each case of a file of several named tests."""
    doc = read_document(str(path))
    if isinstance(doc, list):
        return [(t.name, t.doc) for t in _named_tests(path, doc)]
    return [(None, _split(doc)[0])]


@dataclass(frozen=True)
class PolicyTest:
    path: Path
    doc: Any  # the case
    expect: dict | None
    fired: tuple = ()  # rule ids that must fire (`expect: {fired: [...]}`), as the file gives them
    problem: str | None = None  # why the test cannot run (no expectation, or not one that can match)
    name: str | None = None  # its name, in a file of several tests

    @property
    def id(self) -> str:
        return test_id(self.path, self.name)


def read_tests(path: Path) -> list[PolicyTest]:
    """The tests of a file: its one case, an example pair `X.case.json` + `X.expected.json`,
    or a list of cases each with a `name:` (several tests in one file). A file that is no
    case at all raises CaseInvalid; a test that cannot be checked carries its `problem`."""
    doc = read_document(str(path))
    if isinstance(doc, list):
        return _named_tests(path, doc)
    return [_one_test(path, doc)]


def read_test(path: Path) -> PolicyTest:
    """The test of a one-case file or an example pair (`read_tests` reads files of several)."""
    return _one_test(path, read_document(str(path)))


def _one_test(path: Path, document: Any) -> PolicyTest:
    doc, expect = _split(document)
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
    return _expectation(path, doc, expect, where)


def _named_tests(path: Path, docs: list) -> list[PolicyTest]:
    """The tests of a file that is a list, OpenFisca style: `- name: ...`, the case's fields,
    `expect:`. A test without `id:` takes its name as the case's id."""
    if not docs:
        return [PolicyTest(path, docs, None, problem="the file is an empty list: a file of several tests lists cases, "
                                                     "each with a `name:` and an `expect:`")]
    if len(docs) > MAX_TESTS_PER_FILE:
        return [PolicyTest(path, docs, None, problem=f"the file lists {len(docs):,} tests; a file holds at most "
                                                     f"{MAX_TESTS_PER_FILE:,}: split it")]
    out: list[PolicyTest] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(docs):
        if not isinstance(item, dict):
            out.append(PolicyTest(path, item, None, name=f"[{i}]", problem=f"each entry of a list of tests is a case with "
                                  f"a `name:` and an `expect:`; entry [{i}] is {type_name(item)}"))
            continue
        item = copy.copy(item)  # still knowing the keys it gives twice
        name = item.pop("name", None)
        if not isinstance(name, str) or not name.strip():
            got = "" if name is None else f", not {type_name(name)}"
            out.append(PolicyTest(path, item, None, name=f"[{i}]",
                                  problem=f"entry [{i}] of the list has no `name:`{got}: each test of a file of several is named"))
            continue
        name = " ".join(name.split())  # one line, however the YAML folded it
        if name in seen:
            out.append(PolicyTest(path, item, None, name=name, problem=f"the name is given to entry [{seen[name]}] of "
                                  f"the file too; give each test its own name"))
            continue
        seen[name] = i
        doc, expect = _split(item)
        if "id" not in doc:
            doc["id"] = name
        if expect is None:
            out.append(PolicyTest(path, doc, None, name=name, problem="no `expect:` in this test, or an empty one"))
        else:
            out.append(_expectation(path, doc, expect, "`expect:`", name))
    return out


def _expectation(path: Path, doc: Any, expect: Any, where: str, name: str | None = None) -> PolicyTest:
    """A `fired:` in `expect` is taken out of it (it is not part of the answer)."""
    if not isinstance(expect, dict):
        return PolicyTest(path, doc, None, name=name, problem=f"{where} must hold parts of the answer (status:, decision:, "
                                                              f"lesions:, lines:, errors:, fired:), found {type_name(expect)}")
    fired: tuple = ()
    if "fired" in expect:
        expect = dict(expect)
        wanted = expect.pop("fired")
        # one id alone is read as a list of one; anything else is kept as it is, and fails (_judge)
        fired = tuple(wanted) if isinstance(wanted, list) else (wanted,)
    return PolicyTest(path, doc, expect, fired, name=name)


# -- choosing tests: -k --------------------------------------------------------------------


def keyword_matcher(expression: str) -> Callable[[str], bool]:
    """`-k EXPR` as pytest reads it: a word matches a test whose FILE::NAME holds it (any
    case); words combine with `and`, `or`, `not` and parentheses (`not` binds tightest, then
    `and`, then `or`)."""
    tokens = re.findall(r"[()]|[^\s()]+", expression)
    pos = 0

    def fail(why: str) -> UsageError:
        return UsageError(f"-k {expression!r}: {why}")

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def either() -> Callable[[str], bool]:
        parts = [both()]
        while peek() == "or":
            take()
            parts.append(both())
        return parts[0] if len(parts) == 1 else (lambda text: any(p(text) for p in parts))

    def both() -> Callable[[str], bool]:
        parts = [single()]
        while peek() == "and":
            take()
            parts.append(single())
        return parts[0] if len(parts) == 1 else (lambda text: all(p(text) for p in parts))

    def single() -> Callable[[str], bool]:
        token = peek()
        if token is None:
            raise fail("it ends where a word was expected" if tokens else "give a word to look for")
        if token in ("and", "or", ")"):
            raise fail(f"`{token}` where a word was expected")
        take()
        if token == "not":
            inner = single()
            return lambda text: not inner(text)
        if token == "(":
            inner = either()
            if peek() != ")":
                raise fail("a `(` is not closed")
            take()
            return inner
        word = token.casefold()
        return lambda text: word in text.casefold()

    matcher = either()
    if pos < len(tokens):
        raise fail(f"`{tokens[pos]}` after a complete expression (join words with and, or)")
    return matcher
