"""Every policy test file (tests/policy, tests/invalid) and every contract example passes."""

import json
from pathlib import Path

import pytest

from mohs_asp.api import check_document
from mohs_asp.testing import compare, split_test

TESTS = Path(__file__).resolve().parent
CASE_FILES = sorted((TESTS / "policy").glob("*.yaml")) + sorted((TESTS / "invalid").glob("*.yaml"))
EXAMPLES = sorted((TESTS / "examples").glob("*.case.json"))


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_policy_case(path, policy):
    doc, expect = split_test(path)
    assert expect, f"{path.name} has no expect:"
    answer = check_document(doc, policy)
    differences = compare(expect, answer)
    assert not differences, "\n".join(map(str, differences))


def test_every_invalid_case_is_invalid():
    for path in sorted((TESTS / "invalid").glob("*.yaml")):
        _, expect = split_test(path)
        assert expect.get("status") == "invalid", path.name


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name.removesuffix(".case.json"))
def test_contract_example(path, policy):
    doc = json.loads(path.read_text())
    expected = json.loads(path.with_name(path.name.replace(".case.", ".expected.")).read_text())
    answer = check_document(doc, policy)
    differences = compare(expected, answer)
    assert not differences, "\n".join(map(str, differences))
