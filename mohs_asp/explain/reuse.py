"""Explanations reused: what the solver's records said about one lesion and one indication,
given again to every later lesion whose facts that explanation can read are the same.

A payer's year repeats itself: thousands of lesions on the same site, with the same flags
documented, the same histology. Their explanations differ only where their facts do. Which
facts an indication's explanation can read is read off the rule model (restating nothing):

- the rules that can derive the indication, and in turn those of every predicate they read
  that the rules derive (under `not` or not), are followed to the case facts they read;
- each of those rules must keep to its lesion: every case fact or derived atom it reads
  names the head's case and (for a lesion's facts) the head's lesion, and the lesion's
  variable is used only to name it (never compared, computed with or passed to the data); a
  rule that reads another lesion, a line, or an aggregate makes its indication not reusable;
- the date of service is read only through what is in force on it, unless a rule the
  explanation words binds it: the compiled engine's stand-in for the date (the same for
  every day between the same two dates of the data: mohs_asp/engine/fastpath/analysis.py)
  stands for it in keys.

So an explanation entry is keyed by the indication, the lesion's facts of the predicates read
(the size with the case's own words for it) and the case's, and reused only under exactly that
key; what would qualify (a lesion that meets no indication) by whether the lesion has each
fact its plans hold already. The lesion's id is not in the key: entries are learnt by solving
the cases with new entries under stand-in ids (`learn`), and the entry keeps NAME where it
names its lesion, which `explain` writes back as the lesion's id. Every case the compiled
engine decides is explained from the entries (its lines' explanations are their reasons,
explain/fields.py); a case it does not take is explained by the solver under the limits (api).
`MOHS_ASP_REUSE=off` turns this off; tests/test_explain_reuse.py holds the two ways to the
same bytes.
"""

from __future__ import annotations

import os
from dataclasses import replace
from weakref import WeakKeyDictionary

import clingo
from clingo.ast import ComparisonOperator as OP

from ..case import format as case_format
from ..case.check import Case
from ..policy.load import CASE_FACT_PREDICATES, Policy
from ..policy.records import WHY_NOT_ROOTS
from ..policy.rule import PLACEHOLDER
from .fields import could_document, line_explanation
from .why import policy_view

LESION_FACTS = frozenset({"lesion"} | {f.fact for f in case_format.LESION if f.fact})
CASE_LEVEL = frozenset({"case"} | {f.fact for f in case_format.CASE + case_format.PATIENT if f.fact})
DATE = "date_of_service"
LIMIT = 50_000  # entries kept per policy and process before the store is emptied
VARIABLE = "MOHS_ASP_REUSE"


class _NotLocal(Exception):
    """A rule the explanation reads does not keep to its lesion (or uses its id but to name it)."""


class Reuse:
    """What explanations of a policy may reuse, worked out once per policy, and the entries kept."""

    def __init__(self, policy: Policy, view):
        self.policy, self.view = policy, view
        self.entries: dict[tuple, tuple[dict, bool]] = {}  # key -> (entry, whether it holds NAME)
        self.qualify: dict[tuple, tuple[list, bool]] = {}  # key -> (what would qualify, whether it holds NAME)
        self.refused = _refusal(policy)
        self.reads: dict[str, tuple | None] = {}  # indication -> (lesion facts, case facts, whether the date is shown)
        dependent, dated = _case_dependent(policy), _dated(policy)
        for name, ind in view.indications.items():
            try:
                self.reads[name] = _reads(policy, view, ind, dependent, dated)
            except _NotLocal:
                self.reads[name] = None
        # what would qualify reads whether the lesion (or the case) has each fact its plans hold
        # already: (name, value, whether it is the lesion's) each, or None for one not read so
        self.held = _held(view.plans.needs)
        self.date_shown = view.by_date
        self.classify = None
        self.days: dict = {}  # a date -> what stands for it in keys
        # each indication's key plan: (name, lesion facts read, case facts read, whether the size's words are)
        self.plans = None if any(r is None for r in self.reads.values()) else [
            (name, tuple(sorted(lesion_reads)), tuple(sorted(case_reads)), "size_um" in lesion_reads)
            for name, (lesion_reads, case_reads, _) in self.reads.items()]
        # a date some explanation words stands for itself; else its class does
        self.shows_date = any(r[2] for r in self.reads.values() if r is not None)

    def keys(self, case: Case) -> list[tuple[list, tuple]] | None:
        """For each lesion: the keys of its explanation entries (in the order of the
        indications) and of its what-would-qualify; None when some indication is not reusable
        (or a lesion's id holds the character that stands for ids in kept entries)."""
        if self.plans is None or any(NAME in lesion.id or STAND_IN in lesion.id for lesion in case.lesions):
            return None
        date = next((v for n, v in case.facts if n == DATE), None)
        day = self.days.get(date)
        if day is None:
            if len(self.days) > LIMIT:
                self.days.clear()
            c = self.classify(date) if self.classify is not None and not self.shows_date else None
            day = self.days[date] = ("class", c) if c is not None else date
        given: dict[str, tuple] = {}
        for f in case.facts:
            f = (DATE, day) if f[0] == DATE else f
            given[f[0]] = given.get(f[0], ()) + (f,)
        case_facts = set(case.facts)
        out = []
        for lesion in case.lesions:
            mine: dict[str, tuple] = {}
            for f in lesion.facts:
                mine[f[0]] = mine.get(f[0], ()) + (f,)
            written = lesion.size_written
            keys = [(name, tuple(mine.get(n, ()) for n in lesion_reads), written if sized else None,
                     tuple(given.get(n, ()) for n in case_reads))
                    for name, lesion_reads, case_reads, sized in self.plans]
            held = tuple(((name, value) in lesion.facts if own else (name, value) in case_facts)
                         for name, value, own in self.held) if self.held is not None else (lesion.facts, case.facts)
            out.append((keys, (date if self.date_shown else day, held)))  # (view.by_date: qualify reads the date)
        return out

    def known(self, keys, answer: dict) -> bool:
        """Whether every entry the answer's explanation needs is kept: each lesion's for each
        indication, and what would qualify for a lesion that meets none."""
        entries, qualify = self.entries, self.qualify
        return keys is not None and all(k in entries for lesion_keys, _ in keys for k in lesion_keys) and \
            all(q in qualify for lesion, (_, q) in zip(answer["lesions"], keys) if not lesion["indications"])

    def explain(self, case: Case, answer: dict, keys) -> dict:
        """The answer with its explanations, from the entries kept (`known(keys)`), each lesion
        named by its id where the entry names it."""
        entries = self.entries
        for lesion, given, (lesion_keys, qualify_key) in zip(answer["lesions"], case.lesions, keys):
            lid = lesion["id"]
            lesion["explanation"] = [{**e, "because": [t.replace(NAME, lid) for t in e["because"]] if named else list(e["because"])}
                                     for e, named in map(entries.__getitem__, lesion_keys)]
            if not lesion["indications"]:
                kept, named = self.qualify[qualify_key]
                lesion["would_qualify"] = options = [
                    {**e, "needs": [t.replace(NAME, lid) for t in e["needs"]] if named else list(e["needs"]),
                     "reads": list(e["reads"])} for e in kept]
                names = {f[0] for f in given.facts} | {f[0] for f in case.facts}
                lesion["could_document"] = could_document(self.view, options, names.__contains__)
        for line in answer["lines"]:
            line["explanation"] = line_explanation(self.view, line["rules"], line["reasons"])
        return answer

    def learn(self, cases: list[Case], keys: list) -> None:
        """Have the solver explain these cases, each lesion under a stand-in id (the rules use a
        lesion's id only to name it: _names_only), and keep each entry with its lesion named by
        NAME. The stand-ins are the same few ids case after case, so a file whose lesion ids
        never repeat adds no symbol to the process (clingo never frees one)."""
        from .why import explain_cases

        stand_ins = [replace(case, lesions=tuple(replace(lesion, id=_stand_in(i)) for i, lesion in enumerate(case.lesions)),
                             lines=tuple(replace(line, lesions=tuple(_stand_in(ids[lid]) for lid in line.lesions))
                                         for line in case.lines))
                     for case in cases for ids in [{lesion.id: i for i, lesion in enumerate(case.lesions)}]]
        if len(self.entries) > LIMIT or len(self.qualify) > LIMIT:
            self.entries.clear()
            self.qualify.clear()
        for answer, case_keys in zip(explain_cases(stand_ins, self.policy), keys):
            for i, (lesion, (lesion_keys, qualify_key)) in enumerate(zip(answer["lesions"], case_keys)):
                own = _stand_in(i)
                for k, entry in zip(lesion_keys, lesion["explanation"]):
                    because = [t.replace(own, NAME) for t in entry["because"]]
                    if not any(STAND_IN in t for t in because):  # (another lesion's stand-in: never, by _names_only)
                        self.entries.setdefault(k, ({**entry, "because": because}, any(NAME in t for t in because)))
                if "would_qualify" in lesion:
                    options = [{**e, "needs": [t.replace(own, NAME) for t in e["needs"]]} for e in lesion["would_qualify"]]
                    texts = [t for e in options for t in e["needs"]]
                    if not any(STAND_IN in t for t in texts):
                        self.qualify.setdefault(qualify_key, (options, any(NAME in t for t in texts)))


NAME = "\ue000"  # stands for the lesion's id in a kept entry (a private-use character: no id has it)
STAND_IN = "\ue001"  # around a lesion's number, its id while its entries are learnt


def _stand_in(i: int) -> str:
    return f"{STAND_IN}{i}{STAND_IN}"


def _held(plans) -> tuple | None:
    """The facts what would qualify asks whether a lesion (or its case) has already: the
    literals of its plans that name only the case and the lesion, as (name, value, whether
    it is the lesion's); None when one has another shape (the key then holds every fact)."""
    out = {}
    for plan in plans:
        for lit in plan.held:
            args = lit.args
            own = len(args) >= 2 and args[1].kind == "var" and lit.name in LESION_FACTS
            rest = args[2:] if own else args[1:]
            if not args or args[0].kind != "var" or not (own or lit.name in CASE_LEVEL) or len(rest) > 1 or \
                    any(t.kind != "val" for t in rest):
                return None
            if lit.name == "lesion" and not rest:
                continue  # every lesion has itself
            if not rest:
                return None
            value = _plain(rest[0].value)
            if value is None:
                return None
            out[(lit.name, value, own)] = None
    return tuple(out)


def _plain(value: clingo.Symbol):
    """A constant of the rules as a case fact's value is written (case.check): true/false, text, a number."""
    if value.type == clingo.SymbolType.Number:
        return value.number
    if value.type == clingo.SymbolType.String:
        return value.string
    if value.type == clingo.SymbolType.Function and not value.arguments and value.name in ("true", "false"):
        return value.name == "true"
    return None


def _refusal(policy: Policy) -> str | None:
    """Why this policy's explanations cannot be reused at all (None: they can)."""
    for rule in policy.rules:
        words = rule.because or ""
        if not words:
            continue
        named = set(rule.placeholders)
        # a line's explanation is its reasons: their words must be explain's (no size in a case's own words)
        if rule.head and rule.head[0] in ("payable", "denied", "bundled", "not_addressed") and \
                any(m.group(2) == "um" for m in PLACEHOLDER.finditer(words)):
            return f"rule {rule.id} words a line with a size"
        # words that name the case's key would differ between cases solved together
        terms = rule.head_terms
        if terms and terms[0].kind == "var" and terms[0].name in named:
            return f"rule {rule.id} names the case in its words"
    for (name, _), pred in policy.predicates.items():
        if pred.args and (name in CASE_FACT_PREDICATES or (name, len(pred.args)) in policy.derived):
            for words in (pred.holds or "", pred.absent or ""):
                if any(m.group(1) == pred.args[0] for m in PLACEHOLDER.finditer(words)):
                    return f"the words of {name} name the case"
    if tuple(WHY_NOT_ROOTS) != (("indication", 3),):
        return "explanations ask about more than indications"
    return None


def _case_dependent(policy: Policy) -> frozenset[tuple[str, int]]:
    """The derived predicates whose atoms depend on a case's facts (the rest: the data's alone)."""
    found: set[tuple[str, int]] = set()
    changed = True
    while changed:
        changed = False
        for rule in policy.rules:
            if rule.head is None or rule.head in found:
                continue
            for lit in rule.body:
                if lit.kind == "other" or (lit.kind in ("pos", "neg") and lit.name is None) or (
                        lit.name in CASE_FACT_PREDICATES or (lit.name, len(lit.args)) in found):
                    found.add(rule.head)
                    changed = True
                    break
    return frozenset(found)


def _dated(policy: Policy) -> dict[str, frozenset[str]]:
    """For each rule, the variables that may hold the case's date of service (bound at an
    argument that may hold it, or made equal to a term of one), followed from date_of_service
    through the heads of the rules. (A comparison by order carries no value: `From <= D` says
    which row is in force, and the row's dates are the data's.)"""
    positions = {(DATE, 2, 1)}
    out: dict[str, frozenset[str]] = {}
    changed = True
    while changed:
        changed = False
        for rule in policy.rules:
            found: set[str] = set()
            for lit in rule.body:
                if lit.kind == "pos" and lit.name is not None:
                    found |= {t.name for i, t in enumerate(lit.args) if t.kind == "var" and (lit.name, len(lit.args), i) in positions}
            grew = True
            while grew:
                before = len(found)
                for lit in rule.body:
                    if lit.kind == "cmp" and lit.op == OP.Equal and any(t.vars & found for t in lit.args):  # X = D + 1
                        found |= lit.vars
                grew = len(found) > before
            out[rule.id] = frozenset(found)
            if rule.head:
                for i, t in enumerate(rule.head_terms):
                    if t.vars & found and (rule.head[0], rule.head[1], i) not in positions:
                        positions.add((rule.head[0], rule.head[1], i))
                        changed = True
    return out


def _reads(policy: Policy, view, ind: clingo.Symbol, dependent: frozenset, dated: dict) -> tuple:
    """(lesion facts, case facts, whether a rule the explanation words binds the date) for one
    indication; _NotLocal when a rule it reads does not keep to its lesion."""
    lesion_reads: set[str] = set()
    case_reads: set[str] = set()
    shows_date = False
    worded: set[str] = set()  # rules the explanation words (why, why not, why a `not` fails)
    seen: set[str] = set()
    todo = [(r, True) for _, r in view.candidates("indication", [None, None, ind])]
    while todo:
        rule, words = todo.pop()
        if words and rule.id not in worded:
            worded.add(rule.id)
        elif rule.id in seen:
            continue
        seen.add(rule.id)
        shows_date |= words and bool(dated.get(rule.id))
        head = rule.head_terms
        hc = _var_at(policy, rule.head, head, "C")
        hl = _var_at(policy, rule.head, head, "L")
        _names_only(policy, rule, hl)
        for lit in rule.body:
            if lit.kind in ("cmp", "bool"):
                continue
            if lit.kind not in ("pos", "neg") or lit.name is None:
                raise _NotLocal
            key = (lit.name, len(lit.args))
            if lit.name in LESION_FACTS:
                _same(lit.args, 0, hc)
                _same(lit.args, 1, hl)
                lesion_reads.add(lit.name)
            elif lit.name in CASE_LEVEL:
                _same(lit.args, 0, hc)
                case_reads.add(lit.name)
            elif lit.name in CASE_FACT_PREDICATES:
                raise _NotLocal  # a line's facts
            elif key in dependent:
                pred = policy.predicates.get(key)
                if pred is None or not pred.args or pred.args[0] != "C":
                    raise _NotLocal
                _same(lit.args, 0, hc)
                if "L" in pred.args:
                    _same(lit.args, pred.args.index("L"), hl)
                # why not asks a derived literal in turn unless it has words of its own; a `not`
                # that fails is told by the rules that derived it
                deeper = words and (lit.kind == "neg" or not pred.absent)
                todo.extend((r, deeper) for r in policy.rules_for(*key))
    return frozenset(lesion_reads), frozenset(case_reads), shows_date


def _names_only(policy: Policy, rule, lesion: str | None) -> None:
    """_NotLocal unless the rule uses its lesion only to name it: the lesion variable at the
    lesion's place of each atom and nowhere else (never compared, computed with or passed to
    data), and no constant there. Then a lesion's id changes no atom but the ones it names, and
    an explanation worked out under another id is the same but for the id (Reuse.learn)."""
    atoms = [(rule.head, rule.head_terms)] + [((lit.name, len(lit.args)), lit.args) for lit in rule.body
                                              if lit.kind in ("pos", "neg") and lit.name is not None]
    for key, args in atoms:
        pred = policy.predicates.get(key) if key else None
        place = pred.args.index("L") if pred is not None and "L" in pred.args else (1 if key and key[0] in LESION_FACTS else None)
        for i, term in enumerate(args):
            if i == place:
                if term.kind not in ("var", "any") or (lesion is not None and term.kind == "var" and term.name != lesion):
                    raise _NotLocal
            elif lesion is not None and lesion in term.vars:
                raise _NotLocal
    if lesion is not None and any(lit.kind not in ("pos", "neg") and lesion in lit.vars for lit in rule.body):
        raise _NotLocal


def _var_at(policy: Policy, head: tuple | None, terms, name: str) -> str | None:
    pred = policy.predicates.get(head) if head else None
    if pred is None or name not in pred.args:
        return None
    term = terms[pred.args.index(name)]
    return term.name if term.kind == "var" else None


def _same(args, position: int, var: str | None) -> None:
    if var is None or position >= len(args) or args[position].kind != "var" or args[position].name != var:
        raise _NotLocal


_REUSE: WeakKeyDictionary[Policy, Reuse] = WeakKeyDictionary()


def enabled() -> bool:
    """Whether explanations are reused: not when MOHS_ASP_REUSE=off, nor when the compiled
    engine (which decides the cases explained from entries) is off."""
    from ..engine import fastpath

    return os.environ.get(VARIABLE, "").strip().lower() not in ("off", "0", "no", "false") and fastpath.mode() != "clingo"


def reuse_for(policy: Policy, cases: list[Case]) -> Reuse | None:
    """The policy's Reuse; None when it is turned off, when the compiled engine (which decides
    the cases explained from entries) is off or refused, or when the policy's explanations
    cannot be reused. Its date classes are worked out from these cases when first asked."""
    from ..engine import fastpath

    if not enabled():
        return None
    found = _REUSE.get(policy)
    if found is None:
        found = _REUSE[policy] = Reuse(policy, policy_view(policy))
        found.classify = fastpath.value_class(policy, cases, DATE, 1)
    return None if found.refused or fastpath.engine_for(policy).refused else found
