"""The library's front door: `answer`, the one pipeline from case to answer (a parsed document,
a checked Case, or a file read by `from_file`), which every command and the service call."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from .engine.answer import build_answer, invalid_answer
from .case.check import Case, parse_case
from .case.reading import read_document
from .engine.solver import DECIDING, EVERYTHING, solve
from .errors import CaseInvalid, InputProblem, PolicyError
from .engine.limits import LimitExceeded, bounded
from .policy.load import Policy, sample_case

EXIT_CODES = {"covered": 0, "no_mms": 0, "not_covered": 1}
T = TypeVar("T")


def _decide(cases: list[Case], policy: Policy, explain: bool = False) -> list[dict]:
    """Answers for checked cases, solved together in one Control; with `explain`, an
    `explanation` on every lesion and line (mohs_asp/explain/why.py). The work is bounded
    (`within_limits`): a case past a limit gets an invalid answer naming it."""
    if not cases:
        return []
    prepare(policy, explain)
    if explain and len(cases) > 1:
        from .explain.reuse import reuse_for

        reuse = reuse_for(policy, cases)
        if reuse is not None:
            return _explain_reusing(cases, policy, reuse)
    answers: list[dict | None] = [None] * len(cases)
    if not explain and len(cases) > 1:  # one case (check) is clingo's: the compiled engine is not even imported
        answers = compiled_answers(cases, policy)  # cheap, bounded by the template's size: in this process
    left = [case for case, answer in zip(cases, answers) if answer is None]
    if left:
        solved = iter(within_limits(left, policy, lambda some: answer_run(some, policy, explain),
                                    lambda case, limit: refused(case, limit, policy, "explain" if explain else "decide"),
                                    explain))
        answers = [found if found is not None else next(solved) for found in answers]
    return answers  # type: ignore[return-value]


def _explain_reusing(cases: list[Case], policy: Policy, reuse) -> list[dict]:
    """Explained answers (explain/reuse.py): each case the compiled engine decides is explained
    from the entries kept, the entries it lacks first worked out by the solver here, without
    a child process (a case the templates take is no larger than the template clingo
    grounded under the limits); every other case is explained by the solver under the limits,
    as without reuse."""
    keys = [reuse.keys(case) for case in cases]
    answers: list[dict | None] = compiled_answers(cases, policy)
    new = [i for i, answer_ in enumerate(answers) if answer_ is not None and keys[i] is not None and not reuse.known(keys[i], answer_)]
    if new:
        sample_within_limits(policy, True)
        try:
            reuse.learn([cases[i] for i in new], [keys[i] for i in new])
        except PolicyError:
            raise
        except Exception as e:  # noqa: BLE001 -- a fault of reuse costs no answer: these go to the solver
            reuse.refused = f"learning failed ({type(e).__name__}: {e})"
    for i, answer_ in enumerate(answers):
        if answer_ is not None:
            answers[i] = reuse.explain(cases[i], answer_, keys[i]) if reuse.known(keys[i], answer_) else None
    left = [i for i, answer_ in enumerate(answers) if answer_ is None]
    explained = within_limits([cases[i] for i in left], policy, lambda some: answer_run(some, policy, True),
                              lambda case, limit: refused(case, limit, policy, "explain"), True) if left else []
    for i, answer_ in zip(left, explained):
        answers[i] = answer_
    return answers  # type: ignore[return-value]


def compiled_answers(cases: list[Case], policy: Policy) -> list[dict | None]:
    """The answers the compiled engine (mohs_asp/engine/fastpath/) gives, None for each case it does
    not take (clingo answers those, under the limits). A policy error its answers meet is left
    for clingo to report in its own words."""
    from .engine import fastpath

    solved = fastpath.solve(policy, cases, lambda: sample_within_limits(policy))
    try:
        return [build_answer(case, s, policy) if s is not None else None for case, s in zip(cases, solved)]
    except PolicyError:
        return [None] * len(cases)


def answer_run(cases: list[Case], policy: Policy, explain: bool) -> list[dict]:
    """The answers of one solver run, unbounded (what `_decide` runs under the limits)."""
    if explain:
        from .explain.why import explain_cases

        return explain_cases(cases, policy)
    solved = solve(policy, cases)
    return [build_answer(case, s, policy) for case, s in zip(cases, solved)]


def prepare(policy: Policy, explain: bool) -> None:
    """What every run of a policy reads, worked out once here, so that each bounded run (a
    forked child) starts with it rather than working it out again."""
    policy.program(EVERYTHING if explain else DECIDING)
    if explain:
        from .explain.why import rule_index

        rule_index(policy)


def within_limits(cases: list[Case], policy: Policy, run: Callable[[list[Case]], list[T]],
                  refuse: Callable[[Case, str], T], explain: bool = False) -> list[T]:
    """`run(cases)` (one item a case), under the limits on processor time and memory
    (mohs_asp/engine/limits.py). Past a limit, the cases are run one by one, so that only a case past
    it on its own is refused: `refuse(case, limit)` stands for its item. A policy that cannot
    decide even its small sample case within the limits is broken (PolicyError, exit 3)."""
    try:
        return bounded(lambda: run(cases), len(cases))
    except LimitExceeded as e:
        if len(cases) > 1:
            return [item for case in cases for item in within_limits([case], policy, run, refuse, explain)]
        sample_within_limits(policy, explain)
        return [refuse(cases[0], e.limit)]


def refused(case: Case, limit: str, policy: Policy, verb: str = "decide") -> dict:
    """The answer for a case whose work passed a limit: invalid, naming the limit (with the
    case's warnings and decision record: its date was read)."""
    message = (f"the case is too large to {verb}: it takes more than {limit}, the limit for one case "
               f"(README, Input limits)")
    return invalid_answer(CaseInvalid([InputProblem("", message)], case.id, list(case.warnings),
                                      case.icd10cm_release or None, case.policy_version or None), policy)


_SAMPLED: WeakKeyDictionary[Policy, set[bool]] = WeakKeyDictionary()


def sample_within_limits(policy: Policy, explain: bool = False) -> None:
    """Raise PolicyError when the policy cannot decide (or explain) lint's sample case, two
    lesions and a line of every code set, within the limits: then the policy runs away (a rule
    that recurses without end, a join too large), not the case. Asked once per policy."""
    if explain in _SAMPLED.setdefault(policy, set()):
        return
    try:
        sample = [parse_case(sample_case(policy), policy)]
    except CaseInvalid:  # the data does not allow that sample: a case with no lesions
        sample = [parse_case({"id": "sample", "date_of_service": "2026-01-01"}, policy)]
    try:
        bounded(lambda: len(answer_run(sample, policy, explain)))
    except LimitExceeded as e:
        raise PolicyError(f"the policy cannot {'explain' if explain else 'decide'} a small sample case within "
                          f"{e.limit} (the limit for one case): a rule that recurses without end, or a join "
                          f"that grows past what cases need?") from None
    _SAMPLED[policy].add(explain)


def answer(items: Iterable[Any], policy: Policy, chunk_size: int = 500, explain: bool = False) -> Iterator[dict]:
    """The one pipeline from case to answer, which every command and the service call: the
    answers to `items`, in order; with `explain`, each with its explanation. An item is a
    parsed document (checked here: `invalid` with every error, or decided), a `Case` already
    checked, or a `CaseInvalid` (a file or line that could not even be read), answered as it
    stands. The valid cases of each chunk of `chunk_size` are decided together (one clingo
    run, or the compiled engine), under the work limits."""
    it = iter(items)
    while chunk := list(islice(it, chunk_size)):
        answers: list[dict | None] = []
        cases: list[Case] = []
        for item in chunk:
            if isinstance(item, CaseInvalid):  # answered, not raised: raising it here would tie
                answers.append(invalid_answer(item, policy))  # the chunk into a cycle only the collector frees
                continue
            try:
                cases.append(item if isinstance(item, Case) else parse_case(item, policy))
                answers.append(None)
            except CaseInvalid as e:
                answers.append(invalid_answer(e, policy))
        decided = iter(_decide(cases, policy, explain)) if cases else iter(())
        for answer_ in answers:
            yield answer_ if answer_ is not None else next(decided)


def from_file(source: str) -> Any:
    """A case file (or `-`, standard input) as `answer` takes it: its parsed document, or the
    CaseInvalid saying why it could not be read. A missing file is a UsageError, raised."""
    try:
        return read_document(source)
    except CaseInvalid as e:
        return e


def exit_code(answer: dict) -> int:
    """The contract's exit status for an answer: 0 covered/no_mms, 1 not_covered, 2 invalid."""
    if answer.get("status") != "ok":
        return 2
    return EXIT_CODES[answer["decision"]]
