"""The solver's atoms for one case, turned into the contract's answer (a plain dict).

Nothing here decides coverage: each field is read off an atom the rules derived. A line
without exactly one outcome, or a case without exactly one decision, means the policy is
broken (PolicyError), never a guessed answer.
"""

from __future__ import annotations

from collections import defaultdict

import clingo

from .case import Case
from .engine import Solved
from .errors import CaseInvalid, PolicyError
from .policy import Policy

OUTCOMES = ("payable", "bundled", "denied", "not_addressed")


def _text(sym) -> str:
    return sym.string if sym.type.name == "String" else str(sym)


def build_answer(case: Case, solved: Solved, policy: Policy) -> dict:
    indications: dict[str, list[str]] = defaultdict(list)
    necessary: set[str] = set()
    covered: set[str] = set()
    outcomes: dict[int, list[tuple[str, int | None]]] = defaultdict(list)
    decisions: list[str] = []
    for sym in solved.atoms:
        args = sym.arguments
        if sym.name == "indication" and len(args) == 3:
            indications[_text(args[1])].append(str(args[2]))
        elif sym.name == "medically_necessary" and len(args) == 2:
            necessary.add(_text(args[1]))
        elif sym.name == "diagnosis_covered" and len(args) == 2:
            covered.add(_text(args[1]))
        elif sym.name in ("payable", "denied", "not_addressed") and len(args) == 2:
            outcomes[args[1].number].append((sym.name, None))
        elif sym.name == "bundled" and len(args) == 3:
            outcomes[args[1].number].append(("bundled", args[2].number))
        elif sym.name == "decision" and len(args) == 2:
            decisions.append(str(args[1]))

    # rule ids per line and per indication, from the firing records (source order)
    order = {r.id: i for i, r in enumerate(policy.rules)}
    line_rules: dict[int, list[str]] = defaultdict(list)
    indication_rules: dict[tuple[str, str], list[str]] = defaultdict(list)
    for rule_id, values in solved.fired:
        rule = policy.rules_by_id.get(rule_id)
        if rule is None or rule.head is None:
            continue
        binding = dict(zip(rule.variables, values))
        name = rule.head[0]
        head_args = rule.node.head.atom.symbol.arguments
        if name in OUTCOMES or name == "denied":
            number = _bound(head_args, 1, binding)
            if number is not None and rule_id not in line_rules[number.number]:
                line_rules[number.number].append(rule_id)
        elif name == "indication":
            lesion, ind = _bound(head_args, 1, binding), _bound(head_args, 2, binding)
            if lesion is not None and ind is not None:
                indication_rules[(_text(lesion), str(ind))].append(rule_id)

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
            "indication_rules": {i: sorted(set(indication_rules[(lesion.id, i)]), key=order.get) for i in met},
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
        entry["rules"] = sorted(line_rules.get(line.number, []), key=order.get)
        lines.append(entry)
    return {"case": case.id, "status": "ok", "decision": decisions[0], "lesions": lesions, "lines": lines}


def _bound(head_args, index: int, binding: dict):
    """The value of the head's index-th argument under a rule's variable binding."""
    if index >= len(head_args):
        return None
    term = head_args[index]
    if term.ast_type.name == "Variable":
        return binding.get(term.name)
    if term.ast_type.name == "SymbolicTerm":
        return term.symbol
    if term.ast_type.name == "Function" and not term.arguments:
        return clingo.Function(term.name)
    return None


def invalid_answer(error: CaseInvalid) -> dict:
    return {"case": error.case_id, "status": "invalid", "errors": [e.as_dict() for e in error.errors]}
