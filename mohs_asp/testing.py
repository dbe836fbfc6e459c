"""Policy test files: a case with a top-level `expect:` holding any part of the answer.

Matching (the same for `mohs-asp test` and the project's pytest suite): every key given must
match; `lesions` are matched by `id` and `lines` by `line`, comparing only the fields given;
each entry of `errors` must match some actual error on the fields given; `fired` lists rule
ids that must have fired; any other list compares exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .case import read_document

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


def split_test(path: Path) -> tuple[Any, dict | None]:
    """A test file's case (the document without `expect`) and its expectation."""
    doc = read_document(str(path))
    if isinstance(doc, dict) and "expect" in doc:
        doc = dict(doc)
        expect = doc.pop("expect")
        return doc, expect if isinstance(expect, dict) else {"expect": expect}
    return doc, None
