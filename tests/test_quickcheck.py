"""The quick road through case checking (mohs_asp/quickcheck.py) never disagrees with the checker.

quick_case gives parse_case's own Case or None ("unsure"); never a Case parse_case would not
give, never one that differs. Checked on generated valid cases (the benchmark's and the edge
generator's), on Hypothesis cases and mutations of them (a field dropped, retyped, renamed,
out of range, unknown), on every file of tests/invalid and tests/policy, and on documents
read the way batch reads them (duplicate keys, Decimal sizes).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from hypothesis import given, settings
from strategies import POLICY, claim, documents

from mohs_asp.case import parse_case, parse_text
from mohs_asp.errors import CaseInvalid
from mohs_asp.quickcheck import quick_case
from mohs_asp.testing import split_test

TESTS = Path(__file__).resolve().parent


def agrees(doc) -> bool:
    """True when quick_case gave a Case (and it is parse_case's); False when it was unsure."""
    quick = quick_case(doc, POLICY)
    try:
        full = parse_case(doc, POLICY)
    except CaseInvalid:
        assert quick is None, f"quick_case accepted a case the checker refuses: {doc!r}"
        return False
    assert quick is None or quick == full, (doc, quick, full)
    return quick is not None


def test_generated_cases_take_the_quick_road_and_agree():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_batch", TESTS.parent / "scripts" / "bench_batch.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rng = random.Random(31)
    docs = [bench.case(rng, n) for n in range(3000)] + [claim(rng, n) for n in range(3000)]
    docs = [parse_text(json.dumps(d, default=str), ".json") for d in docs]  # as batch reads a line
    quick = sum(agrees(doc) for doc in docs)
    valid = 0
    for doc in docs:
        try:
            parse_case(doc, POLICY)
            valid += 1
        except CaseInvalid:
            pass
    assert quick >= 0.98 * valid, (quick, valid)  # the quick road is the usual one


@settings(max_examples=400, deadline=None)
@given(documents)
def test_hypothesis_documents_and_mutations_agree(doc):
    agrees(doc)


def test_every_invalid_and_policy_test_file_agrees():
    for folder in ("invalid", "policy"):
        for path in sorted((TESTS / folder).glob("*.yaml")):
            doc, _ = split_test(path)
            agrees(doc)
            agrees(json.loads(json.dumps(doc, default=str)))


def test_what_the_quick_road_leaves_to_the_checker():
    base = {"id": "c", "date_of_service": "2026-01-01",
            "lesions": [{"id": "A", "diagnosis": "C44.311", "site": "nose", "size_cm": 2}],
            "lines": [{"code": "17311", "lesion": "A"}]}
    assert quick_case(base, POLICY) == parse_case(base, POLICY)
    unsure = [
        parse_text('{"id": "c", "id": "d", "date_of_service": "2026-01-01"}', ".json"),  # a key given twice
        {**base, "notes": "x"},  # a field the format does not have
        {**base, "lesions": [{**base["lesions"][0], "site": "nsoe"}]},  # a typo: the checker suggests
        {**base, "lesions": [{**base["lesions"][0], "size_cm": 2, "size_mm": 20}]},
        {**base, "lines": [{"code": "11102"}]},  # a biopsy naming no lesion
        {**base, "lines": [{"code": "17311", "lesions": ["A"]}]},  # several lesions on an MMS line
        {**base, "date_of_service": "2026-02-30"},
    ]
    for doc in unsure:
        assert quick_case(doc, POLICY) is None
        agrees(doc)
