"""The library's front door: a case (file, document or Case) in, the contract's answer out."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from . import fastpath
from .answer import build_answer, invalid_answer
from .case import Case, load_case, parse_case
from .engine import DECIDING, solve
from .errors import CaseInvalid, PolicyError
from .policy import Policy
from .quickcheck import quick_case

EXIT_CODES = {"covered": 0, "no_mms": 0, "not_covered": 1}


def answer_cases(cases: list[Case], policy: Policy, explain: bool = False) -> list[dict]:
    """Answers for valid cases, solved together in one Control; with `explain`, an
    `explanation` on every lesion and line (mohs_asp/explain.py)."""
    if explain:
        from .explain import explain_cases

        return explain_cases(cases, policy)
    solved = fastpath.solve(policy, cases)  # compiled templates where they cover a case, clingo otherwise
    try:
        return [build_answer(case, s, policy) for case, s in zip(cases, solved)]
    except PolicyError:
        if not any(isinstance(s, fastpath.Compiled) for s in solved):
            raise
    solved = solve(policy, cases, track=DECIDING)  # a broken policy is reported in clingo's own words
    return [build_answer(case, s, policy) for case, s in zip(cases, solved)]


def answer_documents(docs: Iterable[Any], policy: Policy, chunk_size: int = 500, explain: bool = False) -> Iterator[dict]:
    """Answers for parsed documents, in order: the valid ones of each chunk solved together
    in one Control, the invalid ones answered `invalid`. A CaseInvalid in the input (a line
    that could not even be parsed) is answered as it stands."""
    it = iter(docs)
    while chunk := list(islice(it, chunk_size)):
        answers: list[dict | None] = []
        cases: list[Case] = []
        for doc in chunk:
            if isinstance(doc, CaseInvalid):  # answered, not raised: raising it here would tie
                answers.append(invalid_answer(doc))  # the chunk into a cycle only the collector frees
                continue
            try:
                cases.append(quick_case(doc, policy) or parse_case(doc, policy))
                answers.append(None)
            except CaseInvalid as e:
                answers.append(invalid_answer(e))
        solved = iter(answer_cases(cases, policy, explain)) if cases else iter(())
        for answer in answers:
            yield answer if answer is not None else next(solved)


def check_document(doc: Any, policy: Policy) -> dict:
    """The answer for a parsed document: `invalid` (with every error) or the decision."""
    try:
        case = parse_case(doc, policy)
    except CaseInvalid as e:
        return invalid_answer(e)
    return answer_cases([case], policy)[0]


def check_source(source: str, policy: Policy, explain: bool = False) -> dict:
    """The answer for a case file path (or `-`); with `explain`, an `explanation` on every
    lesion and line. A missing file is a UsageError, not an answer."""
    try:
        case = load_case(source, policy)
    except CaseInvalid as e:
        return invalid_answer(e)
    return answer_cases([case], policy, explain)[0]


def exit_code(answer: dict) -> int:
    """The contract's exit status for an answer: 0 covered/no_mms, 1 not_covered, 2 invalid."""
    if answer.get("status") != "ok":
        return 2
    return EXIT_CODES[answer["decision"]]
