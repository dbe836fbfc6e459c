"""The solver's atoms for one case, turned into the contract's answer (a plain dict).

Nothing here decides coverage: each field is read off an atom the rules derived. A line
without exactly one outcome, or a case without exactly one decision, means the policy is
broken (PolicyError), never a guessed answer.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache

from . import __version__
from .case import Case
from .engine import Atom, Solved
from .errors import CaseInvalid, PolicyError
from .policy import Policy

OUTCOMES = ("payable", "bundled", "denied", "not_addressed")
DECISIONS = ("covered", "not_covered", "no_mms")  # the contract's


@lru_cache(maxsize=8)
def _order(policy: Policy) -> dict[str, int]:
    """Each rule's place in the source, to list rule ids in source order."""
    return {r.id: i for i, r in enumerate(policy.rules)}


def _text(atom) -> str:
    return atom if isinstance(atom, str) else f"{atom[0]}({','.join(map(_text, atom[1:]))})"


def _misshapen(case: Case, atom: Atom, what: str, rule_id: str | None, policy: Policy) -> PolicyError:
    """A head the answer cannot be read from (`bundled(C,N,L)` with L a lesion): the policy is broken."""
    where = f"{policy.rules_by_id[rule_id].source}: rule {rule_id} derives" if rule_id else "the policy derives"
    return PolicyError(f"{where} {_text(atom)} for case {case.id!r}, but {what}")


def build_answer(case: Case, solved: Solved, policy: Policy) -> dict:
    def name(text, atom: Atom, rule_id: str | None = None) -> str:
        """A lesion named by its position (solved.by_index) or by its id: back to its id."""
        found = names.get(text) if isinstance(text, str) else None
        if found is not None:
            return found
        if solved.by_index and isinstance(text, str) and text.isascii() and text.isdigit() and int(text) < len(case.lesions):
            return case.lesions[int(text)].id
        raise _misshapen(case, atom, "that names no lesion of the case", rule_id, policy)

    def number(text, atom: Atom, rule_id: str) -> int:
        try:
            return int(text)
        except (TypeError, ValueError):  # a constant, a string or a function term where a line number goes
            raise _misshapen(case, atom, f"{_text(text)} is not a line number", rule_id, policy) from None

    # how the solver names each lesion: its position as printed ("0", "1", ...) or its id
    names = ({str(i): lesion.id for i, lesion in enumerate(case.lesions)} if solved.by_index
             else {lesion.id: lesion.id for lesion in case.lesions})
    indications: dict[str, list[str]] = defaultdict(list)
    necessary: set[str] = set()
    covered: set[str] = set()
    outcomes: dict[int, list[tuple[str, int | None]]] = defaultdict(list)
    decisions: list[str] = []
    for atom in solved.derived:
        kind, n = atom[0], len(atom)
        if kind == "medically_necessary" and n == 3:
            necessary.add(name(atom[2], atom))
        elif kind == "diagnosis_covered" and n == 3:
            covered.add(name(atom[2], atom))
        elif kind == "decision" and n == 3:
            decisions.append(_text(atom[2]))

    # line outcomes and indications, each with the rules that derived it (source order)
    order = _order(policy)
    line_rules: dict[int, set[str]] = defaultdict(set)
    indication_rules: dict[tuple[str, str], set[str]] = defaultdict(set)
    seen: set[Atom] = set()
    for rule_id, head in solved.by:
        kind, n = head[0], len(head)
        if kind in OUTCOMES and n > 2:
            line_rules[number(head[2], head, rule_id)].add(rule_id)
        elif kind == "indication" and n == 4:
            if not isinstance(head[3], str):
                raise _misshapen(case, head, f"{_text(head[3])} is not an indication's name", rule_id, policy)
            indication_rules[(name(head[2], head, rule_id), head[3])].add(rule_id)
        if head in seen:
            continue
        seen.add(head)
        if kind in ("payable", "denied", "not_addressed") and n == 3:
            outcomes[number(head[2], head, rule_id)].append((kind, None))
        elif kind == "bundled" and n == 4:
            outcomes[number(head[2], head, rule_id)].append(("bundled", number(head[3], head, rule_id)))
        elif kind == "indication" and n == 4:
            indications[name(head[2], head, rule_id)].append(head[3])

    if len(decisions) != 1:
        raise PolicyError(f"the policy gives case {case.id!r} {len(decisions)} decisions ({', '.join(decisions) or 'none'}); it must give one")
    if decisions[0] not in DECISIONS:
        raise PolicyError(f"the policy gives case {case.id!r} the decision {decisions[0]}; it must be one of {', '.join(DECISIONS)}")
    lesions = []
    for lesion in case.lesions:
        met = sorted(set(indications.get(lesion.id, [])))
        lesions.append({
            "id": lesion.id,
            "diagnosis": lesion.diagnosis,
            "site": lesion.site,
            "medically_necessary": lesion.id in necessary,
            "diagnosis_covered": lesion.id in covered,
            "indications": met,
            "indication_rules": {i: sorted(indication_rules[(lesion.id, i)], key=order.get) for i in met},
        })
    lines = []
    for line in case.lines:
        got = outcomes.get(line.number, [])
        if len(got) != 1:
            said = ", ".join(o for o, _ in got) or "no outcome"
            raise PolicyError(f"the policy gives line {line.number} of case {case.id!r} {said}; it must give exactly one")
        outcome, into = got[0]
        entry: dict = {"line": line.number, "code": line.code, "outcome": outcome}
        if into is not None:
            entry["into"] = into
        entry["rules"] = sorted(line_rules.get(line.number, ()), key=order.get)
        lines.append(entry)
    return {"case": case.id, "status": "ok", "decision": decisions[0], "lesions": lesions, "lines": lines,
            "warnings": [w.as_dict() for w in case.warnings],
            "decision_record": decision_record(policy, case.policy_version, case.icd10cm_release)}


def decision_record(policy: Policy, version: str | None, release: str | None) -> dict:
    """What decided an answer, for an appeal months later: the policy and the version in force on
    the date of service (None when none is, or the date could not be read), a digest of the
    policy's files, the ICD-10-CM release the diagnoses were checked against (None when the date
    could not be read), and this engine's version."""
    return {"policy_id": policy.id, "policy_version": version, "policy_digest": policy.digest,
            "icd10cm_release": release, "engine_version": __version__}


def invalid_answer(error: CaseInvalid, policy: Policy) -> dict:
    return {"case": error.case_id, "status": "invalid", "errors": [e.as_dict() for e in error.errors],
            "warnings": [w.as_dict() for w in error.warnings],
            "decision_record": decision_record(policy, error.policy_version, error.icd10cm_release)}
