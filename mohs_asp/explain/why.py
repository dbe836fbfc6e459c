"""Why each lesion and line came out as it did, and what would have qualified.

The solver finds it; Python puts it in words. Everything is read off the rules, never
restated beside them (the records are generated from the rule model: mohs_asp/policy/records.py):

- *why*: for every rule that fired, the solver records its id and its variable bindings
  (`__fired(C, I, (V1,...,Vn))`); the rule's `% because:` words are filled with them.
- *why not*: for each rule that could derive a conclusion explanations ask about, the solver
  records how far its body got in the rule's safe order (`__upto`: the first K literals held,
  with their bindings and the arguments of the next literal). For a conclusion that does not
  hold, the deepest record that agrees with the conclusion's arguments names the first
  condition no binding satisfies: put in words by its predicate's `absent:` text, by the
  case's own value for the same field ("recurrent tumor: no" rather than "not documented"),
  by a comparison with both of its numbers, or by asking why-not of a derived predicate in
  turn.
- *what would qualify*: worked out from the rule model once per policy (`records.Plans`):
  which case facts each rule reads are left open, which data rows and dated rows it keeps;
  the solver records each way the data in force on the case's date lets the rule be met
  (`__needs`), and the words ("site one of: temple, eyebrow, ...", "size at least 2.0 cm")
  are put together once per distinct set of records, lesion and lesion facts (`_QUALIFY`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from functools import lru_cache
from weakref import WeakKeyDictionary

import clingo
from clingo import ast

from ..engine.answer import Reason, build_answer, in_unit, merge, reason_order
from ..case.check import Case
from ..policy.dates import show_date, span_words
from ..engine.solver import QUALIFYING, Record, solve, written_values
from ..policy.load import CASE_FACT_PREDICATES, Policy
from ..policy.records import OPEN, Plan, Plans
from ..policy.rule import PLACEHOLDER, Rule
from ..policy.rule_ast import Lit, Term
from ..engine.symbols import Atoms, Chain, handles, same
from .fields import cite, could_document, line_explanation

Binding = dict[str, clingo.Symbol]
OP = ast.ComparisonOperator
FAILS_WORDS = {OP.GreaterEqual: "is below", OP.GreaterThan: "is not above", OP.LessEqual: "is above",
               OP.LessThan: "is not below", OP.Equal: "is not", OP.NotEqual: "is"}
NEEDS_WORDS = {OP.GreaterEqual: "at least", OP.GreaterThan: "above", OP.LessEqual: "at most",
               OP.LessThan: "below", OP.Equal: "", OP.NotEqual: "other than"}
MAX_DEPTH = 4


# -- values and words ------------------------------------------------------------------------


Written = dict[tuple[str, tuple[clingo.Symbol, ...]], dict[int, tuple[str, str]]]  # see engine.written_values
Words = tuple[str, str, bool]  # a value as written: its text, its unit, and whether the case wrote it


def show_measure(value: clingo.Symbol, words: Words | None, unit: str | None) -> str:
    """A size in micrometres as an explanation names it: as the case or the data wrote it
    ("19.99 mm", "2.0 cm"); in the unit of the sentence, when it has one (the unit the case
    wrote its own value in), with its own words after it when they differ: "20 mm (2.0 cm)"."""
    own = f"{words[0]} {words[1]}" if words else None
    if unit is None or (words and words[1] == unit):
        return own or in_unit(value.number, "cm")
    converted = in_unit(value.number, unit)
    return f"{converted} ({own})" if own else converted


_SHOWN: dict[tuple[int, str | None], str] = {}  # show's words, by the value's clingo handle (see engine._Reader) and unit


def show(value: clingo.Symbol, unit: str | None = None) -> str:
    """A value in an explanation: strings bare, true/false as yes/no, micrometres as cm
    (`{X:um}`), a day as 2026-03-14 (`{X:date}`), the days a data row is in force,
    (From,To), as "from 2015-09-21" or "from 2015-09-21 to 2026-12-31" (`{X:period}`).
    Worked out once a value and unit per process (bounded)."""
    key = (value._rep, unit)
    words = _SHOWN.get(key)
    if words is None:
        if len(_SHOWN) > 100_000:
            _SHOWN.clear()
        words = _SHOWN[key] = _show(value, unit)
    return words


def _show(value: clingo.Symbol, unit: str | None) -> str:
    if value.type == clingo.SymbolType.Number and unit is not None:
        if unit == "um":
            return in_unit(value.number, "cm")
        if unit == "date":
            return show_date(value.number)
    if unit == "period" and value.type == clingo.SymbolType.Function and not value.name and len(value.arguments) == 2 \
            and all(a.type == clingo.SymbolType.Number for a in value.arguments):
        start, end = (a.number for a in value.arguments)
        return span_words(start, end)
    if value.type == clingo.SymbolType.String:
        return value.string
    if value.type == clingo.SymbolType.Function and not value.arguments:
        return {"true": "yes", "false": "no"}.get(value.name, value.name)
    return str(value)


def fill(template: str, values: dict[str, str | clingo.Symbol]) -> str:
    def one(m: re.Match) -> str:
        value = values.get(m.group(1))
        if value is None:
            return "?"
        return value if isinstance(value, str) else show(value, m.group(2))

    return PLACEHOLDER.sub(one, template)


@lru_cache(maxsize=1024)
def _slots(template: str) -> tuple[tuple[str, str | None], ...]:
    """A template's placeholders: (name, unit) in order."""
    return tuple((m.group(1), m.group(2)) for m in PLACEHOLDER.finditer(template))


def _placeholders(template: str, b: dict[str, clingo.Symbol], written: dict[str, Words] | None = None,
                  unit: str | None = None) -> tuple[tuple[str, str], ...]:
    """A template's placeholders filled from a binding. Sizes (`{X:um}`) are named in the
    words `written` gives for them, in the sentence's unit: `unit`, else the unit of the first
    size the case wrote."""
    slots = _slots(template)
    written = written or {}
    if unit is None:
        unit = next((w[1] for name, kind in slots if kind == "um" and (w := written.get(name)) and w[2]), None)
    out = []
    for name, kind in slots:
        value = b.get(name)
        if value is None:
            out.append((name, "?"))
        elif kind == "um" and value.type == clingo.SymbolType.Number:
            out.append((name, show_measure(value, written.get(name), unit)))
        else:
            out.append((name, show(value, kind)))
    return tuple(out)


def _value(term: Term, b: Binding) -> clingo.Symbol | None:
    """A term with its variables replaced by their values (None when one is unbound, or for
    arithmetic, which the solver has already done where it is needed)."""
    kind = term.kind
    if kind == "var":
        return b.get(term.name)
    if kind == "val":
        return term.value
    if kind == "fn":
        args = [_value(a, b) for a in term.args]
        if any(a is None for a in args):
            return None
        return clingo.Function(term.name, args) if term.name else clingo.Tuple_(args)
    return None


def _head_binding(rule: Rule, args: list[clingo.Symbol | None]) -> Binding | None:
    """The values a conclusion's arguments give the variables of a rule's head; None when the
    head cannot be that conclusion (another constant)."""
    b: Binding = {}
    for t, a in zip(rule.head_terms, args):
        if a is None or t.kind == "any":
            continue
        if t.kind == "var":
            if not same(b.setdefault(t.name, a), a):
                return None
        elif t.kind == "val":
            if not same(t.value, a):
                return None
        elif t.kind == "fn" and all(s.kind in ("var", "val", "any") for s in t.args):
            if a.type != clingo.SymbolType.Function or a.name != t.name or len(a.arguments) != len(t.args):
                return None
            for s, v in zip(t.args, a.arguments):
                if s.kind == "val" and not same(s.value, v) or s.kind == "var" and not same(b.setdefault(s.name, v), v):
                    return None
        else:
            return None
    return b


class _Policy:
    """What explanations read off a policy once: its plans, indications and histology words."""

    def __init__(self, policy: Policy):
        self.plans: Plans = policy.rulebook.plans
        self.indications: dict[str, clingo.Symbol] = {}  # name -> constant, in the order the rules state them
        for i in self.plans.by_head.get(("indication", 3), []):
            t = policy.rules[i].head_terms[2]
            name = str(t.value) if t.kind == "val" else str(t.node)
            self.indications.setdefault(name, clingo.Function(name))
        self.qualify: dict[tuple, list[dict]] = {}  # what would qualify, by what the date fixes, lesion and held facts
        self._records: dict[tuple, dict[int, list]] = {}
        self._data_values: dict[tuple, str] = {}
        self._constant_positions: dict[tuple, tuple[int, ...]] = {}
        self._candidates: dict[tuple, list] = {}
        self.rules = policy.rules
        self.rules_by_id = policy.rules_by_id
        self.policy_rules_for = policy.rules_for
        self.order = {r.id: i for i, r in enumerate(policy.rules)}  # each rule's place in the source
        self._rules_for: dict[tuple[str, int], list[Rule]] = {}
        self._cites: dict[str, dict] = {}
        # each input predicate by name: its arity and the argument positions that name the case and lesion
        self.documented: dict[str, list[tuple[int, tuple[int, ...]]]] = defaultdict(list)
        for (name, arity), pred in policy.predicates.items():
            if name in CASE_FACT_PREDICATES:
                self.documented[name].append((arity, (0, pred.args.index("L")) if "L" in pred.args else (0,)))
        self.data_atoms = Atoms(policy.data.facts)  # the data's facts, once
        # histology_term(Term, Characteristic, When): the spelling and what it names, whatever its dates
        self.spelled = {args[0].string: args[1].string for args in self.data_atoms.find(("histology_term", 3), (), ())
                        if args[1].string}
        # what the case's date fixes for what would qualify: the atoms of the given predicates the
        # rules derive (in_force), and the date itself if a rule it keeps reads it
        self.fixing = frozenset(k for k in self.plans.given if k in policy.derived)
        self.by_date = any(lit.name == "date_of_service" for plan in self.plans.needs for lit in plan.kept)

    def rules_for(self, pred: tuple[str, int]) -> list[Rule]:
        if pred not in self._rules_for:
            self._rules_for[pred] = self.policy_rules_for(*pred)
        return self._rules_for[pred]

    def cite(self, rule: Rule) -> dict:
        """cite(rule), once per rule (not to be changed: copy it)."""
        if rule.id not in self._cites:
            self._cites[rule.id] = cite(rule)
        return self._cites[rule.id]

    def data_values(self, shared: Chain, name: str, arity: int, position: int) -> str:
        """The values the data gives a predicate's argument, each once, in the data's order."""
        key = (name, arity, position)
        if key not in self._data_values:
            rows = shared.find((name, arity), (), ())
            self._data_values[key] = ", ".join(dict.fromkeys(show(row[position]) for row in rows))
        return self._data_values[key]

    def candidates(self, name: str, args: list) -> list[tuple[int, Rule]]:
        """The rules whose head could be name(args) as far as its constants tell (the rest is
        `_head_binding`'s): looked up by the arguments at the positions some head has a constant."""
        pred = (name, len(args))
        positions = self._constant_positions.get(pred)
        if positions is None:
            rules = [(i, self.rules[i]) for i in self.plans.by_head.get(pred, [])]
            positions = self._constant_positions[pred] = tuple(sorted(
                {p for _, r in rules for p, t in enumerate(r.head_terms) if t.kind != "var" and t.kind != "any"}))
        key = (pred, tuple(args[p] for p in positions))
        found = self._candidates.get(key)
        if found is None:
            found = self._candidates[key] = [(i, self.rules[i]) for i in self.plans.by_head.get(pred, []) if all(
                args[p] is None or _head_binding(self.rules[i], [a if j == p else None for j, a in enumerate(args)]) is not None
                for p in positions)]
        return found

    def qualifying(self, policy: Policy, case: Case, atoms: Atoms) -> tuple[dict[int, list], tuple]:
        """What would qualify's `__needs` records for a case's date (rule plan number -> the
        values of each way it holds), and their key: solved once for a stand-in case of that
        date with no lesions (the records read only the data and what the date fixes), then
        reused by every case whose date fixes the same."""
        key = tuple((name, tuple(map(tuple, (args[1:] for args in atoms.by_pred.get((name, arity), ())))))
                    for name, arity in sorted(self.fixing))
        if self.by_date:
            key += (case.date_of_service,)
        if key not in self._records:
            stand_in = Case("", case.date_of_service, tuple(f for f in case.facts if f[0] == "date_of_service"), (), ())
            [solved] = solve(policy, [stand_in], Record.QUALIFYING)
            records: dict[int, list] = defaultdict(list)
            for number, values in solved.needs:
                records[number].append(values)
            if len(self._records) > 256:
                self._records.clear()
            self._records[key] = dict(records)
        return self._records[key], key


_POLICIES: WeakKeyDictionary[Policy, _Policy] = WeakKeyDictionary()


def policy_view(policy: Policy) -> _Policy:
    found = _POLICIES.get(policy)
    if found is None:
        found = _POLICIES[policy] = _Policy(policy)
    return found


def rule_index(policy: Policy) -> _Policy:
    """Work out once per policy what explanations read off its rules, and the program of what
    would qualify (before a batch forks)."""
    policy.program(QUALIFYING)
    return policy_view(policy)


# -- the explainer -------------------------------------------------------------------------------


class Explainer:
    """Explanations for one case, from the solver's records for it."""

    def __init__(self, policy: Policy, key: clingo.Symbol, case: Case, solved, shared: Chain, written=None):
        self.policy, self.view, self.key, self.case = policy, policy_view(policy), key, case
        self.plans = self.view.plans
        self.atoms = Atoms(pairs=solved.atoms)
        self.shared = shared
        self.written = written or {}  # the case's values in its own words (engine.written_values)
        self._heads: dict[tuple[str, int], tuple[list, dict]] = {}
        # the records in the order of their values, not the model's (which follows the other cases
        # solved with this one): a case is explained alike alone and in any batch
        self.fired: dict[str, list[Binding]] = defaultdict(list)
        for rule_id, values in sorted(solved.fired):
            rule = policy.rules_by_id.get(rule_id)
            if rule is not None:
                self.fired[rule_id].append(dict(zip(rule.variables, values)))
        # how far each rule got: rule number -> K -> [(binding of the first K literals, next literal's arguments)]
        self._reached: dict[int, list] = defaultdict(list)  # rule number -> its records, read when first asked for
        for record in sorted(solved.reached):
            self._reached[record[0]].append(record)
        self.reached: dict[int, dict[int, list]] = {}
        self.needs: dict[int, list] | None = None  # what would qualify's records (`qualifying`), when first asked
        self._given = None

    # -- firing (why) ------------------------------------------------------------------------

    def firings(self, name: str, args: list[clingo.Symbol | None]) -> list[tuple[Rule, Binding]]:
        """The rules that fired for head name(args), with their bindings (None: any value). The
        firings of every rule for name/arity are indexed by the head each derived when first
        asked for (a case with 500 lines asks 500 times: each question a look-up)."""
        pred = (name, len(args))
        if pred not in self._heads:
            heads: list[tuple[tuple, Rule, Binding]] = []
            by_head: dict[tuple, list[tuple[Rule, Binding]]] = defaultdict(list)
            for rule in self.view.rules_for(pred):
                for b in self.fired.get(rule.id, []):
                    values = tuple(_value(t, b) for t in rule.head_terms)
                    heads.append((values, rule, b))
                    by_head[handles(values)].append((rule, b))
            self._heads[pred] = heads, by_head
        heads, by_head = self._heads[pred]
        if not any(a is None for a in args):
            return list(by_head.get(handles(args), ()))
        return [(rule, b) for values, rule, b in heads
                if all(a is None or v is not None and same(v, a) for v, a in zip(values, args))]

    def because(self, rule: Rule, b: Binding) -> Reason:
        if rule.because:
            written: dict[str, Words] = {}
            sizes = any(kind == "um" for _, kind in _slots(rule.because))  # only sizes have words of their own
            for lit in rule.body if sizes else ():
                if lit.kind == "pos" and lit.name is not None:
                    for name, words in self._words(lit, b).items():
                        written.setdefault(name, words)
            return Reason(rule.because, _placeholders(rule.because, b, written))
        return Reason(f"rule {rule.id} applies", ())

    # -- values in the case's own words ------------------------------------------------------

    def _atom_words(self, name: str, values: list) -> dict[int, Words]:
        """The words the case (or else the data) wrote an atom's arguments in, by position."""
        key = (name, tuple(values))
        if key in self.written:
            return {i: (*w, True) for i, w in self.written[key].items()}
        return {i: (*w, False) for i, w in self.policy.data.written.get(key, {}).items()}

    def _words(self, lit: Lit, b: Binding, names: tuple[str, ...] | None = None) -> dict[str, Words]:
        """The words of a positive literal's arguments under a binding, by the variable in each
        position (or by `names`, the predicate's argument names)."""
        values = [_value(t, b) for t in lit.args]
        if any(v is None for v in values):
            return {}
        out = {}
        for i, words in self._atom_words(lit.name, values).items():
            if names is not None and i < len(names):
                out[names[i]] = words
            elif names is None and lit.args[i].kind == "var":
                out[lit.args[i].name] = words
        return out

    def _find(self, name: str, values: list) -> list[list[clingo.Symbol]]:
        """The atoms of the case and the data of this predicate with these values (None: any)."""
        positions = tuple(i for i, v in enumerate(values) if v is not None)
        key, pred = tuple(values[i]._rep for i in positions), (name, len(values))
        mine, shared = self.atoms.find_key(pred, positions, key), self.shared.find_key(pred, positions, key)
        return mine + shared if mine and shared else list(mine or shared)

    # -- why not -------------------------------------------------------------------------------

    def why_not(self, name: str, args: list[clingo.Symbol | None], depth: int = 0) -> list[Reason]:
        """Why no rule derived name(args): for each candidate rule, the first condition that
        no binding of the conditions before it satisfies (the solver's `__upto` records)."""
        reasons: list[Reason] = []
        for i, rule in self.view.candidates(name, args):
            reasons.extend(self.rule_fails(i, rule, args, depth))
        return reasons

    def rule_fails(self, i: int, rule: Rule, args: list[clingo.Symbol | None], depth: int) -> list[Reason]:
        start = _head_binding(rule, args)
        if start is None:
            return []  # the head cannot produce this atom (another constant)
        plan = self.plans.upto.get(i)
        if plan is None or plan.other:
            return [Reason("the conditions of rule {R} do not hold", (("R", rule.id),))]
        reached, n = self.reached.get(i), len(plan.order)
        if reached is None:
            reached = self.reached[i] = defaultdict(list)
            for _, k, values, nxt in self._reached.get(i, ()):
                reached[k].append((dict(zip(plan.bound[k], values)), nxt))
        for k in range(n, 0, -1):
            found = [({**start, **b}, nxt) for b, nxt in reached.get(k, ()) if
                     all(v not in b or same(b[v], value) for v, value in start.items())]
            if found:
                break
        else:
            k, found = 0, [(start, ())]
        if k == n:
            return []  # it holds: nothing to explain
        lit = plan.order[k]
        origin = plan.origin[k]
        out: list[Reason] = []
        for b, nxt in found:
            values = [_value(t, b) if not nxt or same(nxt[j], OPEN) else nxt[j] for j, t in enumerate(lit.args)]
            out.extend(self.failure(lit, b, values, origin, depth))
        return out

    def describe(self, lit: Lit, b: Binding, unit: str | None = None) -> Reason | None:
        """A positive literal's `holds:` words under a binding ("size 1.2 cm"); sizes in `unit`
        when given (see _placeholders)."""
        name, args = lit.name, lit.args
        pred = self.policy.predicates.get((name, len(args)))
        if pred is None or not pred.holds:
            return None
        values = {}
        for arg_name, term in zip(pred.args, args):
            value = _value(term, b)
            if value is not None:
                values[arg_name] = value
        return Reason(pred.holds, _placeholders(pred.holds, values, self._words(lit, b, pred.args), unit))

    def failure(self, lit: Lit, b: Binding, values: list, origin: dict[str, Lit], depth: int) -> list[Reason]:
        """Words for the first condition of a rule that failed, under one binding of the ones
        before it; `values`: its arguments (a comparison's two sides) as the solver gave them."""
        if lit.kind == "cmp":
            return [self._comparison(lit, b, values, origin)]
        if lit.kind == "neg":
            # `not p(...)` fails because p(...) holds: say why it holds
            out = []
            for atom in sorted(self._find(lit.name, values)):
                fired = self.firings(lit.name, list(atom))
                if fired:
                    out.extend(self.because(rule, fb) for rule, fb in fired)
                else:
                    pred = self.policy.predicates.get((lit.name, len(atom)))
                    if pred is not None and pred.holds:
                        out.append(Reason(pred.holds, _placeholders(pred.holds, dict(zip(pred.args, atom)))))
            return out or [Reason("{X} holds", (("X", str(lit.node.atom)),))]
        if lit.kind != "pos" or lit.name is None:
            return [Reason("{X} does not hold", (("X", str(lit.node)),))]
        name, terms = lit.name, lit.args
        pred = self.policy.predicates.get((name, len(terms)))
        # the case documents this field with another value: show the case's own value
        if name in CASE_FACT_PREDICATES and len(values) >= 2 and values[-1] is not None \
                and all(v is not None for v in values[:-1]):
            near = self._find(name, [*values[:-1], None])
            if near and pred is not None and pred.holds:
                return [Reason(pred.holds, _placeholders(pred.holds, dict(zip(pred.args, args)), {
                    pred.args[i]: w for i, w in self._atom_words(name, list(args)).items() if i < len(pred.args)}))
                    for args in near]
        if pred is not None and pred.absent:
            known = {a: v for a, v in zip(pred.args, values) if v is not None}
            reason = Reason(pred.absent, _placeholders(pred.absent, known))
            open_args = {a: i for i, (a, v) in enumerate(zip(pred.args, values)) if v is None and a in reason.template}
            if open_args and self.shared.find((name, len(terms)), (), ()):
                # a value one rule over the data leaves open (aggressive_histology's K): the values the data gives
                given = {a: self.view.data_values(self.shared, name, len(terms), i) for a, i in open_args.items()}
                reason = Reason(reason.template, tuple((a, given.get(a, v)) for a, v in reason.values))
            if (name, len(terms)) in self.plans.given:  # a row not in force: say which row (the one binding its dates)
                for var in [t.name for t in reversed(terms) if t.kind == "var"]:
                    if var in origin and (d := self.describe(origin[var], b)) is not None:
                        return [Reason("{A}: {B}", (("A", d.text()), ("B", reason.text())))]
            return [reason]
        if (name, len(terms)) in self.policy.derived and depth < MAX_DEPTH:
            inner = self.why_not(name, values, depth + 1)
            if inner:
                return inner
        # (the case is named C, as the rules name it: not by its place among the cases solved with it)
        shown = ", ".join("_" if v is None else "C" if j == 0 and same(v, self.key) else show(v) for j, v in enumerate(values))
        return [Reason("no {X}", (("X", f"{name}({shown})"),))]

    def _comparison(self, lit: Lit, b: Binding, values: list, origin: dict[str, Lit]) -> Reason:
        """"size 19.99 mm is below 20 mm (2.0 cm)": each side in the words of the literal that
        bound it, both in the unit the case wrote its own size in."""
        sources = [origin[t.name] if t.kind == "var" and t.name in origin else None for t in lit.args]
        unit = next((w[1] for s in sources if s for w in self._words(s, b).values() if w[2]), None)
        sides = []
        for term, source, value in zip(lit.args, sources, values):
            d = self.describe(source, b, unit=unit) if source else None
            sides.append(d.text() if d else (show(value) if value is not None else str(term.node)))
        return Reason("{A} " + FAILS_WORDS[lit.op] + " {B}", (("A", sides[0]), ("B", sides[1])))

    # -- what would qualify ----------------------------------------------------------------

    def _holds(self, lit: Lit, b: Binding) -> bool:
        values = [_value(t, b) for t in lit.args]
        return None not in values and bool(self._find(lit.name, values))

    def would_qualify(self, lid: clingo.Symbol) -> list[dict]:
        """For each indication: what documentation would meet it, one list per rule."""
        top = [(name, self.plans.needs_for(("indication", 3), (0, 1, 2)), [self.key, lid, ind])
               for name, ind in self.view.indications.items()]
        held = tuple(self._holds(lit, b) for plan in self.plans.needs for lit in plan.held
                     if (b := _head_binding(plan.rule, [self.key, lid]) if plan.fixed[:2] == (0, 1) else None) is not None)
        if self.needs is None:
            self.needs, self._given = self.view.qualifying(self.policy, self.case, self.atoms)
        key = (self._given, lid, held)
        cached = self.view.qualify.get(key)
        if cached is None:
            cached = []
            for name, plans, args in top:
                for plan in plans:
                    start = _head_binding(plan.rule, args)
                    if start is None:
                        continue
                    for alternative, reads in _merged_alternatives(self._rule_needs(plan, start, 0)):
                        cached.append({"indication": name, "rule": plan.rule.id, "needs": alternative, "reads": reads})
            if len(self.view.qualify) > 4096:
                self.view.qualify.clear()
            self.view.qualify[key] = cached
        return [{**entry, "needs": list(entry["needs"]), "reads": list(entry["reads"])} for entry in cached]

    def needs_of(self, name: str, args: list[clingo.Symbol | None], positions: tuple[int, ...], depth: int) -> list[list[Reason]]:
        """For each rule that could derive name(args): what the case would have to document
        (a list of conditions, all needed), from the rule's body and the data's values."""
        out = []
        for plan in self.plans.needs_for((name, len(args)), positions):
            start = _head_binding(plan.rule, args)
            if start is not None:
                out.extend(self._rule_needs(plan, start, depth))
        return out

    def _rule_needs(self, plan: Plan, start: Binding, depth: int) -> list[list[Reason]]:
        if plan.unsure:
            return [[Reason("what rule {R} asks for", (("R", plan.rule.id),))]]
        records = self.needs.get(plan.number)
        if not records:
            return []  # no row of the data in force lets it be met
        width = len(plan.kept_vars)
        b = {**dict(zip(plan.kept_vars, records[0][:width])), **start}
        options = {var: {show(dict(zip(plan.kept_vars, r))[var]) for r in records}
                   for var in plan.free if var in plan.kept_vars}
        limits: dict[str, list[str]] = defaultdict(list)
        origin: dict[str, Lit] = {}
        for lit in plan.kept:
            if lit.kind == "pos":
                for var in lit.vars:
                    origin.setdefault(var, lit)
        for (var, op, other), value in zip(plan.limits, records[0][width:]):
            unit = self._unit_of(var, plan.open)
            if unit == "um" and other.kind == "var" and other.name in origin:
                shown = show_measure(value, self._words(origin[other.name], b).get(other.name), None)
            else:
                shown = show(value, unit)
            limits[var].append(f"{NEEDS_WORDS[op]} {shown}".strip())
        alternatives: list[list[Reason]] | None = None
        for lit, positions in plan.inner:
            values = [_value(t, b) if i in positions else None for i, t in enumerate(lit.args)]
            inner = self.needs_of(lit.name, values, positions, depth + 1) if depth < MAX_DEPTH else []
            alternatives = inner if alternatives is None else [a + i for a in alternatives for i in inner]
        own = [self._need_words(lit, b, options, limits) for lit in plan.open
               if not (lit in plan.held and self._holds(lit, start))]
        if alternatives is None:
            return [own] if own else []
        return [own + alt for alt in alternatives]

    def _unit_of(self, var: str, open_lits: list[Lit]) -> str | None:
        for lit in open_lits:
            pred = self.policy.predicates.get((lit.name, len(lit.args)))
            if pred and pred.holds:
                for arg_name, t in zip(pred.args, lit.args):
                    if t.kind == "var" and t.name == var:
                        m = re.search(r"\{" + re.escape(arg_name) + r":(\w+)\}", pred.holds)
                        return m.group(1) if m else None
        return None

    def _need_words(self, lit: Lit, b: Binding, options, limits) -> Reason:
        name, terms = lit.name, lit.args
        pred = self.policy.predicates.get((name, len(terms)))
        if pred is None or not pred.holds:
            return Reason("{X}", (("X", str(lit.node)),))
        values: list[tuple[str, str]] = []
        for arg_name, unit in _slots(pred.holds):
            if arg_name not in pred.args:
                continue
            term = terms[pred.args.index(arg_name)]
            var = term.name if term.kind == "var" else None
            if var in options:
                values.append((arg_name, "one of: " + ", ".join(sorted(options[var]))))
            elif var in limits:
                values.append((arg_name, " and ".join(limits[var])))
            else:
                value = _value(term, b)
                values.append((arg_name, show(value, unit) if value is not None else "documented"))
        template = PLACEHOLDER.sub(lambda m: "{" + m.group(1) + "}", pred.holds)
        return Reason(template, tuple(values), name)


# -- assembling the contract's explanation fields ---------------------------------------------


def _merge(reasons: list[Reason]) -> list[str]:
    return [reasons[0].text()] if len(reasons) == 1 else merge(reasons)  # one reason is its own sentence


def explain_answer(answer: dict, ex: Explainer) -> dict:
    """Add `explanation` to every lesion and line of an answer (and `would_qualify` to a
    lesion that meets no indication)."""
    key, view = ex.key, ex.view
    order = view.order
    for lesion in answer["lesions"]:
        lid = clingo.String(lesion["id"])
        entries = []
        for name, ind in view.indications.items():
            fired = ex.firings("indication", [key, lid, ind])
            if fired:
                rule = fired[0][0]
                because = _merge([ex.because(r, b) for r, b in fired])
            else:
                # the rules that could give this lesion the indication; if none can (a rule
                # written for one named lesion), cite the indication's first rule anyway
                rules = [r for _, r in view.candidates("indication", [key, lid, ind]) if _head_binding(r, [key, lid, ind]) is not None]
                rule = (rules or [r for _, r in view.candidates("indication", [key, None, ind])])[0]
                because = _merge(ex.why_not("indication", [key, lid, ind])) or \
                    [f"no rule of this policy gives lesion {lesion['id']} this indication"]
            entries.append({"indication": name, "met": bool(fired), **view.cite(rule), "because": because})
        lesion["explanation"] = entries
        if not lesion["indications"]:
            lesion["would_qualify"] = ex.would_qualify(lid)
            lesion["could_document"] = _could_document(ex, lid, lesion["would_qualify"])
    for line in answer["lines"]:
        n = clingo.Number(line["line"])
        name = line["outcome"]
        args = [key, n, clingo.Number(line["into"])] if name == "bundled" else [key, n]
        fired = ex.firings(name, args)
        if fired:  # check's reasons (answer.py): the same words, in the rules' order
            worded = sorted(((r, ex.because(r, b)) for r, b in fired), key=lambda x: reason_order(order, x[0].id, x[1]))
            line["reasons"] = _merge([reason for _, reason in worded])
        # the first rule that gave the outcome, the reasons, and each rule when several agree (every denial reason)
        line["explanation"] = line_explanation(view, [r.id for r in dict.fromkeys(r for r, _ in fired)], line["reasons"])
    return answer


def _documented(ex: Explainer, lid: clingo.Symbol, pred_name: str) -> bool:
    """Whether the case has a fact of this input predicate for the lesion (or, for a predicate
    of the case alone, such as immunosuppressed(C, B), for the case)."""
    for arity, positions in ex.view.documented.get(pred_name, ()):
        values = (ex.key, lid) if len(positions) == 2 else (ex.key,)
        if ex.atoms.find((pred_name, arity), positions, values):
            return True
    return False


def _could_document(ex: Explainer, lid: clingo.Symbol, options: list[dict]) -> list[dict]:
    return could_document(ex.view, options, lambda p: _documented(ex, lid, p))


def _merged_alternatives(alternatives: list[list[Reason]]) -> list[tuple[list[str], list[str]]]:
    """Alternatives that are one condition each, of the same shape, become one condition
    listing the choices ("histology one of: sclerotic, ..." rather than eight entries).
    Each alternative comes with the case facts (input predicates) it asks for."""
    single = [a[0] for a in alternatives if len(a) == 1]
    rest = [a for a in alternatives if len(a) != 1]
    out = []
    if single:
        shapes: dict[tuple, list[str]] = {}
        reads: dict[tuple, list[str]] = defaultdict(list)
        for r in single:
            key = (r.template, r.values[:-1], r.values[-1][0]) if r.values else (r.template, (), None)
            if r.values:
                choice = r.values[-1][1].removeprefix("one of: ")
                shapes.setdefault(key, []).extend(choice.split(", "))
            else:
                shapes.setdefault(key, [])
            if r.reads and r.reads not in reads[key]:
                reads[key].append(r.reads)
        for key, choices in shapes.items():
            template, fixed, last = key
            values = dict(fixed)
            if last is not None:
                uniq = list(dict.fromkeys(choices))
                values[last] = uniq[0] if len(uniq) == 1 else "one of: " + ", ".join(uniq)
            out.append(([fill(template, values)], reads[key]))
    out.extend((merge(a), list(dict.fromkeys(r.reads for r in a if r.reads))) for a in rest)
    return out


def explain_cases(cases: list[Case], policy: Policy) -> list[dict]:
    """Answers with explanations, for valid cases solved together."""
    solved = solve(policy, cases, Record.EXPLANATIONS)
    view = policy_view(policy)
    shared = Chain(view.data_atoms, Atoms(pairs=solved[0].data_atoms)) if solved else None
    out = []
    for key, (case, s) in enumerate(zip(cases, solved)):
        answer = build_answer(case, s, policy)
        k = clingo.Number(key)
        out.append(explain_answer(answer, Explainer(policy, k, case, s, shared, written_values(k, case))))
    return out
