"""The solver's atoms for one case, turned into the contract's answer (a plain dict).

Nothing here decides coverage: each field is read off an atom the rules derived. A line
without exactly one outcome, or a case without exactly one decision, means the policy is
broken (PolicyError), never a guessed answer.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from operator import itemgetter

from .. import __version__
from ..case.check import Case
from .solver import Atom, Solved
from ..errors import CaseInvalid, PolicyError
from ..policy.load import Policy
from ..policy.rule import PLACEHOLDER

UM_PER = {"cm": 10000, "mm": 1000}
_FIRST = itemgetter(0)

OUTCOMES = ("payable", "bundled", "denied", "not_addressed")
DECISIONS = ("covered", "not_covered", "no_mms")  # the contract's


@lru_cache(maxsize=8)
def _order(policy: Policy) -> dict[str, int]:
    """Each rule's place in the source, to list rule ids in source order."""
    return {r.id: i for i, r in enumerate(policy.rules)}


@lru_cache(maxsize=8)
def _lesion_variables(policy: Policy) -> dict[str, frozenset[str]]:
    """For each rule, the variables of its body that stand for a lesion: those in a position
    its predicate's `%!` signature names L (`mms_line(C, N, L, K)`). With lesions numbered
    (engine.case_facts) their values are positions, named back by id in the words."""
    return {rule.id: rule.variables_named(policy.predicates, "L") for rule in policy.rules}


class _Wording:
    """What build_answer needs to word a policy's firings, worked out once per policy: for each
    rule, its `% because:` variables (whether each names a lesion, its unit), and the reasons
    and merged sentences already made (a process answers the same firings again and again)."""

    def __init__(self, policy: Policy):
        lesion_vars = _lesion_variables(policy)
        self.order = _order(policy)
        self.said: dict[str, tuple] = {}  # rule id -> ((variable, names a lesion, unit), ...)
        for rule in policy.rules:
            units = {m.group(1): m.group(2) for m in PLACEHOLDER.finditer(rule.because or "")}
            self.said[rule.id] = tuple((v, v in lesion_vars[rule.id], units.get(v)) for v in rule.said_variables)
        self.reasons: dict[tuple, tuple] = {}  # (rule id, shown values) -> (reason_order, Reason)
        self.shown: dict[tuple, str] = {}  # (value, unit) -> _shown's words
        self.merged: dict[tuple, list[str]] = {}  # the reasons' keys, in order -> merge's sentences

    def reason(self, policy: Policy, rule_id: str, shown: tuple) -> tuple:
        """(reason_order, Reason) of a firing of `rule_id` whose words' variables show `shown`
        (in the order of its said_variables; () for a rule whose words name none)."""
        found = self.reasons.get((rule_id, shown))
        if found is None:
            if len(self.reasons) > _MEMO_LIMIT:
                self.reasons.clear()
            named = {v: text for (v, _, _), text in zip(self.said[rule_id], shown)}
            reason = rule_reason(policy.rules_by_id[rule_id], named)
            found = self.reasons[(rule_id, shown)] = (reason_order(self.order, rule_id, reason), reason)
        return found

    def words(self, value, unit: str | None) -> str:
        found = self.shown.get((value, unit))
        if found is None:
            if len(self.shown) > _MEMO_LIMIT:
                self.shown.clear()
            found = self.shown[(value, unit)] = _shown(_text(value), unit)
        return found

    def merge(self, keyed: list[tuple]) -> list[str]:
        """merge() of reasons given as (key, reason) pairs (their keys as `reason` takes them)."""
        key = tuple(k for k, _ in keyed)
        found = self.merged.get(key)
        if found is None:
            if len(self.merged) > _MEMO_LIMIT:
                self.merged.clear()
            found = self.merged[key] = merge([r for _, r in keyed])
        return list(found)


_MEMO_LIMIT = 100_000  # entries of a per-process memo before it is emptied


@lru_cache(maxsize=8)
def _wording(policy: Policy) -> _Wording:
    return _Wording(policy)


def in_unit(um: int, unit: str) -> str:
    """Micrometres in cm or mm: "2.0 cm", "20 mm"."""
    text = format((Decimal(um) / UM_PER[unit]).normalize(), "f")
    return f"{text}.0 cm" if unit == "cm" and "." not in text else f"{text} {unit}"


def _shown(text: str, unit: str | None) -> str:
    """A value of a firing (as text) in words: yes/no for true/false, micrometres in cm."""
    if unit == "um" and text.lstrip("-").isdigit():
        return in_unit(int(text), "cm")
    return {"true": "yes", "false": "no"}.get(text, text)


def _filled(template: str, values: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), "?"), template)


@dataclass(frozen=True)
class Reason:
    """One sentence of a rule's `% because:` words, kept in parts so that similar reasons can
    be merged (explanations word theirs the same way: explain/why.py)."""

    template: str
    values: tuple[tuple[str, str], ...]  # placeholder -> shown value, in template order
    reads: str = field(default="", compare=False)  # what would qualify: the case fact it asks for

    def text(self) -> str:
        return _filled(self.template, dict(self.values))


def reason_order(order: dict[str, int], rule_id: str, reason: Reason) -> tuple:
    """Reasons in the rules' source order, then by their values (numbers as numbers)."""
    return order[rule_id], tuple((0, int(v), "") if v.isdigit() else (1, 0, v) for _, v in reason.values)


def merge(reasons: list[Reason]) -> list[str]:
    """Sentences, with reasons that differ only in their last placeholder merged into one
    ("histology nodular has none of the aggressive features: sclerotic, morpheaform, ...")."""
    groups: dict[tuple, list[str]] = {}
    keys: list[tuple] = []
    for r in reasons:
        if not r.values:
            key = (r.template, (), None)
            last = None
        else:
            key = (r.template, r.values[:-1], r.values[-1][0])
            last = r.values[-1][1]
        if key not in groups:
            groups[key] = []
            keys.append(key)
        if last is not None and last not in groups[key]:
            groups[key].append(last)
    out = []
    for key in keys:
        template, fixed, name = key
        values = dict(fixed)
        if name is not None:
            values[name] = ", ".join(groups[key])
        text = _filled(template, values)
        if text not in out:
            out.append(text)
    return out


def rule_reason(rule, values: dict[str, str]) -> Reason:
    """A firing of `rule` in its `% because:` words (values: each variable's value, shown)."""
    if not rule.because:
        return Reason(f"rule {rule.id} applies", ())
    return Reason(rule.because, tuple((m.group(1), values.get(m.group(1), "?") if m.group(1) in values else "?")
                                      for m in PLACEHOLDER.finditer(rule.because)))


def _text(atom) -> str:
    return atom if isinstance(atom, str) else f"{atom[0]}({','.join(map(_text, atom[1:]))})"


def _misshapen(case: Case, atom: Atom, what: str, rule_id: str | None, policy: Policy) -> PolicyError:
    """A head the answer cannot be read from (`bundled(C,N,L)` with L a lesion): the policy is broken."""
    where = f"{policy.rules_by_id[rule_id].source}: rule {rule_id} derives" if rule_id else "the policy derives"
    return PolicyError(f"{where} {_text(atom)} for case {case.id!r}, but {what}")


def build_answer(case: Case, solved: Solved, policy: Policy) -> dict:
    def name(text, atom: Atom, rule_id: str | None = None) -> str:
        """A lesion named by its position (solved.lesions_by_position) or by its id: back to its id."""
        found = names.get(text) if isinstance(text, str) else None
        if found is not None:
            return found
        if solved.lesions_by_position and isinstance(text, str) and text.isascii() and text.isdigit() and int(text) < len(case.lesions):
            return case.lesions[int(text)].id
        raise _misshapen(case, atom, "that names no lesion of the case", rule_id, policy)

    def number(text, atom: Atom, rule_id: str) -> int:
        try:
            return int(text)
        except (TypeError, ValueError):  # a constant, a string or a function term where a line number goes
            raise _misshapen(case, atom, f"{_text(text)} is not a line number", rule_id, policy) from None

    # how the solver names each lesion: its position as printed ("0", "1", ...) or its id
    names = ({str(i): lesion.id for i, lesion in enumerate(case.lesions)} if solved.lesions_by_position
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
    wording = _wording(policy)
    order = wording.order
    line_rules: dict[int, set[str]] = defaultdict(set)
    indication_rules: dict[tuple[str, str], set[str]] = defaultdict(set)
    seen: set[Atom] = set()
    for rule_id, head in solved.decided_by:
        kind, n = head[0], len(head)
        if kind in OUTCOMES and n > 2:
            at = number(head[2], head, rule_id)
            line_rules[at].add(rule_id)
            if head in seen:
                continue
            seen.add(head)
            if n == 3 and kind != "bundled":
                outcomes[at].append((kind, None))
            elif n == 4 and kind == "bundled":
                outcomes[at].append(("bundled", number(head[3], head, rule_id)))
        elif kind == "indication" and n == 4:
            if not isinstance(head[3], str):
                raise _misshapen(case, head, f"{_text(head[3])} is not an indication's name", rule_id, policy)
            lesion_id = names.get(head[2]) or name(head[2], head, rule_id)
            indication_rules[(lesion_id, head[3])].add(rule_id)
            if head in seen:
                continue
            seen.add(head)
            indications[lesion_id].append(head[3])

    # each line's reasons: the `% because:` words of the rules that gave its outcome
    line_reasons: dict[int, list[tuple[tuple, tuple, Reason]]] = defaultdict(list)  # (order, key, reason)
    worded: set[tuple[str, int]] = set()
    for rule_id, head, values in solved.said:
        if head[0] in OUTCOMES and len(head) > 2:
            n = number(head[2], head, rule_id)
            shown = tuple(name(t, head, rule_id) if lesion else wording.words(t, unit)
                          for (_, lesion, unit), t in zip(wording.said[rule_id], values))
            ranked, reason = wording.reason(policy, rule_id, shown)
            line_reasons[n].append((ranked, (rule_id, shown), reason))
            worded.add((rule_id, n))
    for n, ids_ in line_rules.items():  # rules whose words name no variable
        for rule_id in ids_:
            if (rule_id, n) not in worded:
                ranked, reason = wording.reason(policy, rule_id, ())
                line_reasons[n].append((ranked, (rule_id, ()), reason))

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
        entry: dict = {"line": line.number, "code": line.code}
        if len(line.lesions) == 1:
            entry["lesion"] = line.lesions[0]
        elif line.lesions:
            entry["lesions"] = list(line.lesions)
        entry["outcome"] = outcome
        if into is not None:
            entry["into"] = into
        entry["rules"] = sorted(line_rules.get(line.number, ()), key=order.get)
        entry["reasons"] = wording.merge([(k, r) for _, k, r in sorted(line_reasons.get(line.number, ()), key=_FIRST)])
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
