"""The solver's atoms for one case, turned into the contract's answer (a plain dict).

Nothing here decides coverage: each field is read off an atom the rules derived. A line
without exactly one outcome, or a case without exactly one decision, means the policy is
broken (PolicyError), never a guessed answer.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache

from .case import Case
from .engine import Atom, Solved
from .errors import CaseInvalid, PolicyError
from .policy import Policy

OUTCOMES = ("payable", "bundled", "denied", "not_addressed")


@lru_cache(maxsize=8)
def _order(policy: Policy) -> dict[str, int]:
    """Each rule's place in the source, to list rule ids in source order."""
    return {r.id: i for i, r in enumerate(policy.rules)}


def build_answer(case: Case, solved: Solved, policy: Policy) -> dict:
    # a lesion is named by its position (solved.by_index) or by its id: back to its id
    name = (lambda text: case.lesions[int(text)].id) if solved.by_index else (lambda text: text)
    indications: dict[str, list[str]] = defaultdict(list)
    necessary: set[str] = set()
    covered: set[str] = set()
    outcomes: dict[int, list[tuple[str, int | None]]] = defaultdict(list)
    decisions: list[str] = []
    for atom in solved.derived:
        kind, n = atom[0], len(atom)
        if kind == "medically_necessary" and n == 3:
            necessary.add(name(atom[2]))
        elif kind == "diagnosis_covered" and n == 3:
            covered.add(name(atom[2]))
        elif kind == "decision" and n == 3:
            decisions.append(atom[2])

    # line outcomes and indications, each with the rules that derived it (source order)
    order = _order(policy)
    line_rules: dict[int, set[str]] = defaultdict(set)
    indication_rules: dict[tuple[str, str], set[str]] = defaultdict(set)
    seen: set[Atom] = set()
    for rule_id, head in solved.by:
        kind, n = head[0], len(head)
        if kind in OUTCOMES and n > 2:
            line_rules[int(head[2])].add(rule_id)
        elif kind == "indication" and n == 4:
            indication_rules[(name(head[2]), head[3])].add(rule_id)
        if head in seen:
            continue
        seen.add(head)
        if kind in ("payable", "denied", "not_addressed") and n == 3:
            outcomes[int(head[2])].append((kind, None))
        elif kind == "bundled" and n == 4:
            outcomes[int(head[2])].append(("bundled", int(head[3])))
        elif kind == "indication" and n == 4:
            indications[name(head[2])].append(head[3])

    if len(decisions) != 1:
        raise PolicyError(f"the policy gives case {case.id!r} {len(decisions)} decisions ({', '.join(decisions) or 'none'}); it must give one")
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
    return {"case": case.id, "status": "ok", "decision": decisions[0], "lesions": lesions, "lines": lines}


def invalid_answer(error: CaseInvalid) -> dict:
    return {"case": error.case_id, "status": "invalid", "errors": [e.as_dict() for e in error.errors]}
