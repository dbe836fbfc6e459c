"""The solver's atoms for one case, turned into the contract's answer (a plain dict).

Nothing here decides coverage: each field is read off an atom the rules derived. A line
without exactly one outcome, or a case without exactly one decision, means the policy is
broken (PolicyError), never a guessed answer.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache

import clingo

from .case import Case
from .engine import Solved
from .errors import CaseInvalid, PolicyError
from .policy import Policy

OUTCOMES = ("payable", "bundled", "denied", "not_addressed")


# Reading a symbol is a call into clingo; the same few (line numbers, lesion ids, indication
# ids) come back for every case, so each is read once.
@lru_cache(maxsize=1 << 12)
def _text(sym: clingo.Symbol) -> str:
    return sym.string if sym.type == clingo.SymbolType.String else str(sym)


@lru_cache(maxsize=1 << 12)
def _number(sym: clingo.Symbol) -> int:
    return sym.number


@lru_cache(maxsize=8)
def _order(policy: Policy) -> dict[str, int]:
    """Each rule's place in the source, to list rule ids in source order."""
    return {r.id: i for i, r in enumerate(policy.rules)}


@lru_cache(maxsize=1 << 12)
def _head(policy: Policy, rule_id: str) -> tuple[str | None, int | clingo.Symbol | None, int | clingo.Symbol | None]:
    """A rule's head predicate, and how to read head arguments 1 and 2 off its firing record
    (read from the rule's AST the first time the rule fires: AST access is slow)."""
    rule = policy.rules_by_id.get(rule_id)
    if rule is None or rule.head is None:
        return None, None, None
    return rule.head[0], _pick(rule, 1), _pick(rule, 2)


def _pick(rule, index: int) -> int | clingo.Symbol | None:
    """Where the head's index-th argument is found: an index into the rule's variables (the
    values of its firing record), or the symbol the head writes; None when neither."""
    args = rule.node.head.atom.symbol.arguments
    if index >= len(args):
        return None
    term = args[index]
    if term.ast_type.name == "Variable":
        return rule.variables.index(term.name) if term.name in rule.variables else None
    if term.ast_type.name == "SymbolicTerm":
        return term.symbol
    if term.ast_type.name == "Function" and not term.arguments:
        return clingo.Function(term.name)
    return None


def _bound(pick: int | clingo.Symbol | None, values: tuple) -> clingo.Symbol | None:
    if isinstance(pick, int):
        return values[pick] if pick < len(values) else None
    return pick


def build_answer(case: Case, solved: Solved, policy: Policy) -> dict:
    indications: dict[str, list[str]] = defaultdict(list)
    necessary: set[str] = set()
    covered: set[str] = set()
    outcomes: dict[int, list[tuple[str, int | None]]] = defaultdict(list)
    decisions: list[str] = []
    for sym in solved.atoms:
        name, args = sym.name, sym.arguments
        if name == "indication" and len(args) == 3:
            indications[_text(args[1])].append(_text(args[2]))
        elif name == "medically_necessary" and len(args) == 2:
            necessary.add(_text(args[1]))
        elif name == "diagnosis_covered" and len(args) == 2:
            covered.add(_text(args[1]))
        elif name in ("payable", "denied", "not_addressed") and len(args) == 2:
            outcomes[_number(args[1])].append((name, None))
        elif name == "bundled" and len(args) == 3:
            outcomes[_number(args[1])].append(("bundled", _number(args[2])))
        elif name == "decision" and len(args) == 2:
            decisions.append(_text(args[1]))

    # rule ids per line and per indication, from the firing records (source order)
    order = _order(policy)
    line_rules: dict[int, list[str]] = defaultdict(list)
    indication_rules: dict[tuple[str, str], list[str]] = defaultdict(list)
    for rule_id, values in solved.fired:
        name, first, second = _head(policy, rule_id)
        if name in OUTCOMES:
            number = _bound(first, values)
            if number is not None and rule_id not in line_rules[_number(number)]:
                line_rules[_number(number)].append(rule_id)
        elif name == "indication":
            lesion, ind = _bound(first, values), _bound(second, values)
            if lesion is not None and ind is not None:
                indication_rules[(_text(lesion), _text(ind))].append(rule_id)

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


def invalid_answer(error: CaseInvalid) -> dict:
    return {"case": error.case_id, "status": "invalid", "errors": [e.as_dict() for e in error.errors]}
