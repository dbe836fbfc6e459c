"""Why each lesion and line came out as it did, and what would have qualified.

Everything here is read off the rules, never restated beside them:

- *why*: the solver records, for every rule that fired, its id and its variable bindings
  (`policy.firing_rule` adds `__fired(C, I, (V1,...,Vn)) :- Body.` to rule number I); the
  rule's `% because:` words are filled with those bindings.
- *why not*: for a conclusion that does not hold, each rule that could have derived it is
  walked literal by literal against the answer set, keeping every binding of the literals
  so far (so a failed join is found, not just a failed literal); the first literal no
  binding satisfies is the reason, put in words by its predicate's `absent:` text, by the
  case's own value for the same field ("recurrent tumor: no" rather than "not
  documented"), by a comparison with both of its numbers, or by asking why-not of a
  derived predicate in turn.
- *what would qualify*: the same walk, with the case's own facts left open: what each
  rule needs documented, with the values the data allows ("site one of: temple, eyebrow,
  ...", "size at least 2.0 cm").

The rules are read off clingo's AST once per policy into plain Python (`_View`: each
literal's kind, predicate, argument terms and variables; each rule's literal order for a set
of bound variables), and an answer set is indexed by predicate and by the values of the
arguments a literal has bound (`_Atoms`). What would qualify hardly depends on the case: it
is worked out once per solver run for a stand-in lesion (`_STAND_IN`) whose walk records
each question it asks that a lesion could answer differently (`probes`); a lesion that
answers every probe as the stand-in did gets the stand-in's answer, any other is walked.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property, lru_cache
from weakref import WeakKeyDictionary

import clingo
from clingo import ast

from .answer import build_answer
from .case import Case
from .dates import show_date, span_words
from .engine import EVERYTHING, solve, written_values
from .policy import CASE_FACT_PREDICATES, Policy, Rule

Binding = dict[str, clingo.Symbol]
OP = ast.ComparisonOperator
FAILS_WORDS = {OP.GreaterEqual: "is below", OP.GreaterThan: "is not above", OP.LessEqual: "is above",
               OP.LessThan: "is not below", OP.Equal: "is not", OP.NotEqual: "is"}
NEEDS_WORDS = {OP.GreaterEqual: "at least", OP.GreaterThan: "above", OP.LessEqual: "at most",
               OP.LessThan: "below", OP.Equal: "", OP.NotEqual: "other than"}
FLIP = {OP.GreaterEqual: OP.LessEqual, OP.GreaterThan: OP.LessThan, OP.LessEqual: OP.GreaterEqual,
        OP.LessThan: OP.GreaterThan, OP.Equal: OP.Equal, OP.NotEqual: OP.NotEqual}
COMPARE = {OP.GreaterEqual: lambda x, y: x >= y, OP.GreaterThan: lambda x, y: x > y, OP.LessEqual: lambda x, y: x <= y,
           OP.LessThan: lambda x, y: x < y, OP.Equal: lambda x, y: x == y, OP.NotEqual: lambda x, y: x != y}
ARITHMETIC = {ast.BinaryOperator.Plus: lambda x, y: x + y, ast.BinaryOperator.Minus: lambda x, y: x - y,
              ast.BinaryOperator.Multiplication: lambda x, y: x * y,
              ast.BinaryOperator.Division: lambda x, y: x // y if y else None,
              ast.BinaryOperator.Modulo: lambda x, y: x % y if y else None}
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_']*)(?::(\w+))?\}")
MAX_DEPTH = 4
_MARK = "__explain_"  # the stand-in lesion's values (see would_qualify)
_STAND_IN = clingo.Function(_MARK + "case"), clingo.Function(_MARK + "lesion")


class _Unknown(Exception):
    """A term or literal this explainer cannot evaluate (an aggregate, a pool...)."""


# -- values and words ------------------------------------------------------------------------


UM_PER = {"cm": 10000, "mm": 1000}
Written = dict[tuple[str, tuple[clingo.Symbol, ...]], dict[int, tuple[str, str]]]  # see engine.written_values
Words = tuple[str, str, bool]  # a value as written: its text, its unit, and whether the case wrote it


def in_unit(um: int, unit: str) -> str:
    """Micrometres in cm or mm: "2.0 cm", "20 mm"."""
    text = format((Decimal(um) / UM_PER[unit]).normalize(), "f")
    return f"{text}.0 cm" if unit == "cm" and "." not in text else f"{text} {unit}"


def show_measure(value: clingo.Symbol, words: Words | None, unit: str | None) -> str:
    """A size in micrometres as an explanation names it: as the case or the data wrote it
    ("19.99 mm", "2.0 cm"); in the unit of the sentence, when it has one (the unit the case
    wrote its own value in), with its own words after it when they differ: "20 mm (2.0 cm)"."""
    own = f"{words[0]} {words[1]}" if words else None
    if unit is None or (words and words[1] == unit):
        return own or in_unit(value.number, "cm")
    converted = in_unit(value.number, unit)
    return f"{converted} ({own})" if own else converted


def show(value: clingo.Symbol, unit: str | None = None) -> str:
    """A value in an explanation: strings bare, true/false as yes/no, micrometres as cm
    (`{X:um}`), a day as 2026-03-14 (`{X:date}`), the days a data row is in force,
    (From,To), as "from 2015-09-21" or "from 2015-09-21 to 2026-12-31" (`{X:period}`)."""
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


# -- the rules in plain Python, read off clingo's AST once per policy --------------------------


@dataclass(frozen=True, slots=True)
class Term:
    kind: str  # "var", "any" (_X), "val" (a constant), "fn" (a function or tuple), "op" (arithmetic), "?"
    node: ast.AST  # quoted (str) when an explanation names the term itself
    name: str = ""  # of a var, any or fn ("" for a tuple)
    value: clingo.Symbol | None = None  # of a val
    args: tuple[Term, ...] = ()  # of a fn; an op's two operands
    op: object = None  # of an op: ARITHMETIC's function, None for another operator
    vars: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Lit:
    kind: str  # "pos", "neg", "cmp" (one guard), "bool", "other" (an aggregate...)
    node: ast.AST  # quoted (str) when an explanation names the literal itself
    vars: frozenset[str]
    name: str | None = None  # pos/neg: the predicate; None for an atom not read here (a pool)
    args: tuple[Term, ...] = ()  # pos/neg: the atom's arguments; cmp: its two sides
    op: object = None  # cmp: the comparison operator
    value: bool = False  # bool

    def parts(self) -> tuple[str, tuple[Term, ...]]:
        if self.name is None:
            raise _Unknown
        return self.name, self.args


def _term(node: ast.AST) -> Term:
    t = node.ast_type
    if t == ast.ASTType.Variable:
        anonymous = node.name.startswith("_")
        return Term("any" if anonymous else "var", node, node.name, vars=frozenset(() if anonymous else (node.name,)))
    if t == ast.ASTType.SymbolicTerm:
        return Term("val", node, value=node.symbol)
    if t == ast.ASTType.Function:
        args = tuple(map(_term, node.arguments))
        return Term("fn", node, node.name, args=args, vars=_union(args))
    if t == ast.ASTType.BinaryOperation:
        args = (_term(node.left), _term(node.right))
        return Term("op", node, args=args, op=ARITHMETIC.get(node.operator_type), vars=_union(args))
    return Term("?", node, vars=_variables(node))


def _union(terms) -> frozenset[str]:
    return frozenset().union(*(t.vars for t in terms))


def _variables(node: ast.AST) -> frozenset[str]:
    found: set[str] = set()

    def walk(t):
        if t.ast_type == ast.ASTType.Variable:
            if not t.name.startswith("_"):
                found.add(t.name)
        for key in ("arguments", "left", "right", "argument", "term", "symbol", "atom"):
            child = getattr(t, key, None) if key in t.keys() else None
            if isinstance(child, ast.AST):
                walk(child)
            elif isinstance(child, (list, tuple, ast.ASTSequence)):
                for c in child:
                    walk(c)
        if t.ast_type == ast.ASTType.Comparison:
            for g in t.guards:
                walk(g.term)

    walk(node)
    return frozenset(found)


def _lit(node: ast.AST) -> Lit:
    if node.ast_type != ast.ASTType.Literal:
        return Lit("other", node, _variables(node))
    atom = node.atom
    if atom.ast_type == ast.ASTType.SymbolicAtom:
        sym, kind = atom.symbol, "pos" if node.sign == ast.Sign.NoSign else "neg"
        if sym.ast_type == ast.ASTType.Function:
            args = tuple(map(_term, sym.arguments))
            return Lit(kind, node, _union(args), sym.name, args)
        name = sym.symbol.name if sym.ast_type == ast.ASTType.SymbolicTerm and \
            sym.symbol.type == clingo.SymbolType.Function else None
        return Lit(kind, node, _variables(node), name)
    if atom.ast_type == ast.ASTType.Comparison and node.sign == ast.Sign.NoSign and len(atom.guards) == 1:
        args = (_term(atom.term), _term(atom.guards[0].term))
        return Lit("cmp", node, _union(args), args=args, op=atom.guards[0].comparison)
    if atom.ast_type == ast.ASTType.BooleanConstant:
        return Lit("bool", node, frozenset(), value=bool(atom.value))
    return Lit("other", node, _variables(node))


class _Rule:
    """A rule in plain Python, read off its AST when first asked for."""

    def __init__(self, rule: Rule):
        self.rule = rule
        self.orders: dict[frozenset[str], list[Lit]] = {}

    @cached_property
    def head(self) -> tuple[Term, ...]:
        symbol = self.rule.node.head.atom.symbol
        return tuple(map(_term, symbol.arguments)) if symbol.ast_type == ast.ASTType.Function else ()

    @cached_property
    def body(self) -> tuple[Lit, ...]:
        return tuple(map(_lit, self.rule.node.body))

    @cached_property
    def constants(self) -> tuple[tuple[int, clingo.Symbol], ...]:
        return tuple((i, t.value) for i, t in enumerate(self.head) if t.kind == "val")

    @cached_property
    def open(self) -> set[int]:
        """Head positions taking any value as it comes (_, or a variable found nowhere else in the head)."""
        return {i for i, t in enumerate(self.head) if t.kind == "any" or t.kind == "var" and
                not any(t.name in u.vars for j, u in enumerate(self.head) if j != i)}

    def schedule(self, bound) -> list[Lit]:
        """Body literals in source order, except that a comparison or negative literal waits
        until the positive literals before it have bound its variables."""
        key = frozenset(bound)
        if key not in self.orders:
            pending, out, known = list(self.body), [], set(key)
            while pending:
                for i, lit in enumerate(pending):
                    if lit.kind == "pos" or lit.vars <= known or all(p.kind != "pos" for p in pending):
                        out.append(pending.pop(i))
                        if lit.kind == "pos":
                            known |= lit.vars
                        break
            self.orders[key] = out
        return self.orders[key]


class _View:
    """What explanations read off a policy's rules, once per policy."""

    def __init__(self, policy: Policy):
        self.by_head: dict[tuple[str, int], list[_Rule]] = defaultdict(list)
        self.by_id: dict[str, _Rule] = {}
        for rule in policy.rules:
            if rule.head:
                self.by_head[rule.head].append(view := _Rule(rule))
                self.by_id.setdefault(rule.id, view)
        self.indications: dict[str, clingo.Symbol] = {}  # name -> constant, in the order the rules state them
        for r in self.rules_for("indication", 3):
            name = str(r.head[2].value) if r.head[2].kind == "val" else str(r.head[2].node)
            self.indications.setdefault(name, clingo.Function(name))
        self.given = self._given(policy)
        # the given predicates the rules derive for a case (in_force...): what a stand-in lesion borrows
        self.borrowed = tuple(sorted(k for k in self.given if k in self.by_head))

    def rules_for(self, name: str, arity: int) -> list[_Rule]:
        return self.by_head.get((name, arity), [])

    def _given(self, policy: Policy) -> frozenset[tuple[str, int]]:
        """What no documentation changes: the case itself and its date of service, and every
        predicate the rules derive from those and the data alone (which rows are in force on
        the date). What would qualify takes these as the case has them, never as open."""
        given = {("case", 1), ("date_of_service", 2)}

        def fixed(lit: Lit) -> bool:
            if lit.kind in ("cmp", "bool"):
                return True
            if lit.kind not in ("pos", "neg") or lit.name is None:
                return False
            key = (lit.name, len(lit.args))
            return key in given or (key not in policy.derived and lit.name not in CASE_FACT_PREDICATES)

        changed = True
        while changed:
            changed = False
            for key, rules in self.by_head.items():
                if key not in given and all(fixed(lit) for r in rules for lit in r.body):
                    given.add(key)
                    changed = True
        return frozenset(given)


_VIEWS: WeakKeyDictionary[Policy, _View] = WeakKeyDictionary()


def _view(policy: Policy) -> _View:
    if policy not in _VIEWS:
        _VIEWS[policy] = _View(policy)
    return _VIEWS[policy]


# -- evaluating the rules' terms against the answer set -----------------------------------


def _eval(term: Term, b: Binding) -> clingo.Symbol | None:
    """The value of a term under a binding; None when a variable in it is unbound."""
    kind = term.kind
    if kind == "var" or kind == "any":
        return b.get(term.name)
    if kind == "val":
        return term.value
    if kind == "fn":
        args = [_eval(a, b) for a in term.args]
        if any(a is None for a in args):
            return None
        return clingo.Function(term.name, args) if term.name else clingo.Tuple_(args)
    if kind == "op":
        left, right = _eval(term.args[0], b), _eval(term.args[1], b)
        if left is None or right is None:
            return None
        if left.type != clingo.SymbolType.Number or right.type != clingo.SymbolType.Number or term.op is None or \
                (value := term.op(left.number, right.number)) is None:
            raise _Unknown
        return clingo.Number(value)
    raise _Unknown


def _match(term: Term, value: clingo.Symbol, b: Binding) -> Binding | None:
    """Unify a term with a value; the extended binding, or None."""
    kind = term.kind
    if kind == "any":
        return b
    if kind == "var":
        bound = b.get(term.name)
        if bound is None:
            return {**b, term.name: value}
        return b if bound == value else None
    if kind == "fn":
        if value.type != clingo.SymbolType.Function or term.name != value.name or \
                len(term.args) != len(value.arguments):
            return None
        for sub, v in zip(term.args, value.arguments):
            b = _match(sub, v, b)
            if b is None:
                return None
        return b
    got = _eval(term, b)
    if got is None:
        raise _Unknown
    return b if got == value else None


class _Atoms:
    """Atoms (as their argument lists) by predicate, and by the values of some of their
    arguments: an index for each set of argument positions, built when first asked for."""

    def __init__(self, symbols: list[clingo.Symbol]):
        self.by_pred: dict[tuple[str, int], list[list[clingo.Symbol]]] = defaultdict(list)
        for sym in symbols:
            args = sym.arguments
            self.by_pred[(sym.name, len(args))].append(args)
        self.indexes: dict[tuple, dict[tuple, list]] = {}

    def find(self, pred: tuple[str, int], positions: tuple[int, ...], values: tuple) -> list[list[clingo.Symbol]]:
        if not positions:
            return self.by_pred.get(pred, [])
        index = self.indexes.get((pred, positions))
        if index is None:
            index = self.indexes[(pred, positions)] = defaultdict(list)
            for args in self.by_pred.get(pred, []):
                index[tuple(args[i] for i in positions)].append(args)
        return index.get(values, [])


class _Run:
    """What the cases of one solver run share: the data's atoms, and what would qualify a
    stand-in lesion (worked out when a lesion first asks), one stand-in for each set of given
    atoms (the data rows in force on a date: cases in the same period share one)."""

    def __init__(self, policy: Policy, shared: list[clingo.Symbol]):
        self.policy, self.shared = policy, _Atoms(shared)
        self._stand_ins: dict[frozenset, tuple[list, list[dict]] | None] = {}

    def stand_in(self, borrowed: tuple[tuple[str, tuple[clingo.Symbol, ...]], ...]) -> tuple[list, list[dict]] | None:
        """The stand-in's probes and answer, the stand-in holding the given atoms `borrowed` (each
        a name and its arguments after the case); None when its answer cannot stand for others'."""
        key_set = frozenset(borrowed)
        if key_set not in self._stand_ins:
            key, lid = _STAND_IN
            atoms = [clingo.Function("case", [key]), clingo.Function("lesion", [key, lid])]
            atoms.extend(clingo.Function(name, [key, *args]) for name, args in borrowed)
            ex = Explainer(self.policy, key, atoms, [], self)
            ex.probes = []
            answer = ex.would_qualify(lid)
            shown = (text for entry in answer for text in entry["needs"])
            self._stand_ins[key_set] = None if ex.unsure or any(_MARK in text for text in shown) else (ex.probes, answer)
        return self._stand_ins[key_set]


# -- the explainer -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    """One sentence of an explanation, kept in parts so that similar reasons can be merged."""

    template: str
    values: tuple[tuple[str, str], ...]  # placeholder -> shown value, in template order

    def text(self) -> str:
        return fill(self.template, dict(self.values))


def merge(reasons: list[Reason]) -> list[str]:
    """Sentences, with reasons that differ only in their last placeholder merged into one
    ("histology nodular has none of the aggressive features: sclerotic, morpheaform, ...")."""
    groups: dict[tuple, list[str]] = {}
    order: list[tuple] = []
    for r in reasons:
        if not r.values:
            key = (r.template, (), None)
            last = None
        else:
            key = (r.template, r.values[:-1], r.values[-1][0])
            last = r.values[-1][1]
        if key not in groups:
            groups[key] = []
            order.append(key)
        if last is not None and last not in groups[key]:
            groups[key].append(last)
    out = []
    for key in order:
        template, fixed, name = key
        values = dict(fixed)
        if name is not None:
            values[name] = ", ".join(groups[key])
        text = fill(template, values)
        if text not in out:
            out.append(text)
    return out


class Explainer:
    """Explanations for one case, from its full answer set and the rules' firing records."""

    def __init__(self, policy: Policy, key: clingo.Symbol, atoms: list[clingo.Symbol],
                 fired: list[tuple[str, tuple[clingo.Symbol, ...]]], run: _Run, written: Written | None = None):
        self.policy, self.view, self.key, self.run = policy, _view(policy), key, run
        self.atoms = _Atoms(atoms)
        self.written = written or {}  # the case's values in its own words (engine.written_values)
        self._heads: dict[tuple[str, int], tuple[list, dict]] = {}
        self.fired: dict[str, list[Binding]] = defaultdict(list)
        for rule_id, values in fired:
            rule = policy.rules_by_id.get(rule_id)
            if rule is not None:
                self.fired[rule_id].append(dict(zip(rule.variables, values)))
        self.probes: list | None = None  # the stand-in's questions to its case (see _Run)
        self.unsure = False  # the stand-in met something its probes cannot vouch for

    def _borrowed(self) -> tuple[tuple[str, tuple[clingo.Symbol, ...]], ...]:
        """This case's given atoms that the rules derive (which rows are in force...), without the case."""
        return tuple((name, tuple(args[1:])) for name, arity in self.view.borrowed
                     for args in self.atoms.by_pred.get((name, arity), []))

    # -- firing (why) ------------------------------------------------------------------------

    def firings(self, name: str, args: list[clingo.Symbol | None]) -> list[tuple[Rule, Binding]]:
        """The rules that fired for head name(args), with their bindings (None: any value). The
        firings of every rule for name/arity are indexed by the head each derived when first
        asked for (a case with 500 lines asks 500 times: each question a look-up)."""
        pred = (name, len(args))
        if pred not in self._heads:
            heads: list[tuple[tuple, Rule, Binding]] = []
            by_head: dict[tuple, list[tuple[Rule, Binding]]] = defaultdict(list)
            for r in self.view.rules_for(*pred):
                for b in self.fired.get(r.rule.id, []):
                    values = []
                    for t in r.head:
                        try:
                            values.append(_eval(t, b))
                        except _Unknown:
                            values.append(_Unknown)  # equals no value asked for
                    heads.append((tuple(values), r.rule, b))
                    by_head[tuple(values)].append((r.rule, b))
            self._heads[pred] = heads, by_head
        heads, by_head = self._heads[pred]
        if None not in args:
            return list(by_head.get(tuple(args), ()))
        return [(rule, b) for values, rule, b in heads if all(a is None or v == a for v, a in zip(values, args))]

    def because(self, rule: Rule, b: Binding) -> Reason:
        if rule.because:
            view = self.view.by_id.get(rule.id)
            written: dict[str, Words] = {}
            sizes = any(kind == "um" for _, kind in _slots(rule.because))  # only sizes have words of their own
            for lit in view.body if view is not None and sizes else ():
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
        try:
            values = [_eval(t, b) for t in lit.args]
        except _Unknown:
            return {}
        if any(v is None for v in values):
            return {}
        out = {}
        for i, words in self._atom_words(lit.name, values).items():
            if names is not None and i < len(names):
                out[names[i]] = words
            elif names is None and lit.args[i].kind == "var":
                out[lit.args[i].name] = words
        return out

    # -- matching literals against the answer set --------------------------------------------

    def matches(self, lit: Lit, b: Binding) -> list[Binding]:
        name, args = lit.parts()
        pred, positions, values = (name, len(args)), [], []
        if all(t.kind in ("var", "any", "val") for t in args):  # else every atom is tried, as _match may raise
            for i, t in enumerate(args):
                value = t.value if t.kind == "val" else b.get(t.name)
                if value is not None:
                    positions.append(i)
                    values.append(value)
        positions, values = tuple(positions), tuple(values)
        out = []
        for atoms in (self.atoms, self.run.shared):
            for atom in atoms.find(pred, positions, values):
                nb: Binding | None = b
                for t, v in zip(args, atom):
                    nb = _match(t, v, nb)
                    if nb is None:
                        break
                if nb is not None:
                    out.append(nb)
        if self.probes is not None and (name in self.policy.case_predicates or self._stand_in_values(lit, b)):
            self.probes.append((Explainer.matches, lit, b, out))
        return out

    def holds(self, lit: Lit, b: Binding) -> list[Binding]:
        """The bindings extending b under which a body literal is true."""
        if lit.kind == "pos":
            return self.matches(lit, b)
        if lit.kind == "neg":
            return [] if self.matches(lit, b) else [b]
        if lit.kind == "cmp":
            left, right = lit.args
            x, y = _eval(left, b), _eval(right, b)
            if x is None and lit.op == OP.Equal and y is not None:
                nb = _match(left, y, b)
                out = [nb] if nb is not None else []
            elif x is None or y is None:
                raise _Unknown
            else:
                out = [b] if COMPARE[lit.op](x, y) else []
            if self.probes is not None and self._stand_in_values(lit, b):
                self.probes.append((Explainer.holds, lit, b, out))
            return out
        if lit.kind == "bool":
            return [b] if lit.value else []
        raise _Unknown

    def _stand_in_values(self, lit: Lit, b: Binding) -> bool:
        """Whether the literal reads a value of the stand-in lesion (so must be asked again of
        each lesion); one only inside another value cannot be swapped for a lesion's."""
        found = False
        for var in lit.vars:
            value = b.get(var)
            if value is not None and _MARK in str(value):
                found = True
                self.unsure |= value not in _STAND_IN
        return found

    # -- why not -------------------------------------------------------------------------------

    def why_not(self, name: str, args: list[clingo.Symbol | None], depth: int = 0) -> list[Reason]:
        """Why no rule derived name(args): for each candidate rule, the first condition that
        no binding of the conditions before it satisfies."""
        reasons: list[Reason] = []
        for r in self.view.rules_for(name, len(args)):
            reasons.extend(self.rule_fails(r, args, depth))
        return reasons

    def _head_binding(self, r: _Rule, args: list[clingo.Symbol | None]) -> Binding | None:
        b: Binding | None = {}
        if any(args[i] is not None and args[i] != value for i, value in r.constants):
            b = None  # another constant (the usual answer): no need to match the rest
        for t, a in zip(r.head, args):
            if b is None:
                break
            if a is not None:
                try:
                    b = _match(t, a, b)
                except _Unknown:
                    b = None
        if self.probes is not None:
            marked = {i for i, a in enumerate(args) if a is not None and _MARK in str(a)}
            self.unsure |= any(args[i] not in _STAND_IN for i in marked)
            if marked - r.open:  # a stand-in's value meets a constant: ask each lesion again
                self.probes.append((Explainer._head_binding, r, args, b))
        return b

    def rule_fails(self, r: _Rule, args: list[clingo.Symbol | None], depth: int) -> list[Reason]:
        start = self._head_binding(r, args)
        if start is None:
            return []  # the head cannot produce this atom (another constant)
        bindings = [start]
        origin: dict[str, tuple[Lit, Binding]] = {}
        try:
            for lit in r.schedule(start):
                nxt = []
                for b in bindings:
                    nxt.extend(self.holds(lit, b))
                if not nxt:
                    out: list[Reason] = []
                    for b in bindings:
                        out.extend(self.failure(lit, b, origin, depth))
                    return out
                if lit.kind == "pos":
                    for var in lit.vars:
                        origin.setdefault(var, (lit, nxt[0]))
                bindings = nxt
        except _Unknown:
            return [Reason("the conditions of rule {R} do not hold", (("R", r.rule.id),))]
        return []  # it holds: nothing to explain

    def describe(self, lit: Lit, b: Binding, unit: str | None = None) -> Reason | None:
        """A positive literal's `holds:` words under a binding ("size 1.2 cm"); sizes in `unit`
        when given (see _placeholders)."""
        name, args = lit.parts()
        pred = self.policy.predicates.get((name, len(args)))
        if pred is None or not pred.holds:
            return None
        values = {}
        for arg_name, term in zip(pred.args, args):
            try:
                value = _eval(term, b)
            except _Unknown:
                value = None
            if value is not None:
                values[arg_name] = value
        return Reason(pred.holds, _placeholders(pred.holds, values, self._words(lit, b, pred.args), unit))

    def failure(self, lit: Lit, b: Binding, origin, depth: int) -> list[Reason]:
        if lit.kind == "cmp":
            return [self._comparison(lit, b, origin)]
        if lit.kind == "neg":
            # `not p(...)` fails because p(...) holds: say why it holds
            out = []
            for nb in self.matches(lit, b):
                name, args = lit.parts()
                values = [_eval(t, nb) for t in args]
                fired = self.firings(name, values)
                if fired:
                    out.extend(self.because(rule, fb) for rule, fb in fired)
                elif (d := self.describe(lit, nb)) is not None:
                    out.append(d)
            return out or [Reason("{X} holds", (("X", str(lit.node.atom)),))]
        if lit.kind != "pos":
            return [Reason("{X} does not hold", (("X", str(lit.node)),))]
        name, terms = lit.parts()
        values = []
        for t in terms:
            try:
                values.append(_eval(t, b))
            except _Unknown:
                values.append(None)
        pred = self.policy.predicates.get((name, len(terms)))
        # the case documents this field with another value: show the case's own value
        if name in CASE_FACT_PREDICATES and len(values) >= 2 and values[-1] is not None \
                and all(v is not None for v in values[:-1]):
            near = [args for atoms in (self.atoms, self.run.shared)
                    for args in atoms.find((name, len(values)), tuple(range(len(values) - 1)), tuple(values[:-1]))]
            if near and pred is not None and pred.holds:
                return [Reason(pred.holds, _placeholders(pred.holds, dict(zip(pred.args, args)), {
                    pred.args[i]: w for i, w in self._atom_words(name, list(args)).items() if i < len(pred.args)}))
                    for args in near]
        if pred is not None and pred.absent:
            known = {a: v for a, v in zip(pred.args, values) if v is not None}
            reason = Reason(pred.absent, _placeholders(pred.absent, known))
            if (name, len(terms)) in self.view.given:  # a row not in force: say which row (the one binding its dates)
                for var in [t.name for t in reversed(terms) if t.kind == "var"]:
                    if var in origin and (d := self.describe(origin[var][0], {**origin[var][1], **b})) is not None:
                        return [Reason("{A}: {B}", (("A", d.text()), ("B", reason.text())))]
            return [reason]
        if (name, len(terms)) in self.policy.derived and depth < MAX_DEPTH:
            inner = self.why_not(name, values, depth + 1)
            if inner:
                return inner
        shown = ", ".join("_" if v is None else show(v) for v in values)
        return [Reason("no {X}", (("X", f"{name}({shown})"),))]

    def _comparison(self, lit: Lit, b: Binding, origin) -> Reason:
        """"size 19.99 mm is below 20 mm (2.0 cm)": each side in the words of the literal that
        bound it, both in the unit the case wrote its own size in."""
        sources = [(origin[t.name][0], {**origin[t.name][1], **b}) if t.kind == "var" and t.name in origin else None
                   for t in lit.args]
        unit = next((w[1] for s in sources if s for w in self._words(*s).values() if w[2]), None)
        sides = []
        for term, source in zip(lit.args, sources):
            value = _eval(term, b)
            d = self.describe(*source, unit=unit) if source else None
            sides.append(d.text() if d else (show(value) if value is not None else str(term.node)))
        return Reason("{A} " + FAILS_WORDS[lit.op] + " {B}", (("A", sides[0]), ("B", sides[1])))

    # -- what would qualify ----------------------------------------------------------------

    def would_qualify(self, lid: clingo.Symbol) -> list[dict]:
        """For each indication: what documentation would meet it, one list per rule."""
        if self.probes is None and (stand_in := self.run.stand_in(self._borrowed())) is not None:
            probes, answer = stand_in
            swap = dict(zip(_STAND_IN, (self.key, lid)))
            if self._answers_as(probes, swap):
                return [{**entry, "needs": list(entry["needs"])} for entry in answer]
        out = []
        for name, ind in self.view.indications.items():
            for r in self.view.rules_for("indication", 3):
                start = self._head_binding(r, [self.key, lid, ind])
                if start is None:
                    continue
                for alternative in _merged_alternatives(self._rule_needs(r, start, 0)):
                    out.append({"indication": name, "rule": r.rule.id, "needs": alternative})
        return out

    def _answers_as(self, probes: list, swap: dict) -> bool:
        """Whether this case answers the stand-in's probes as the stand-in did."""
        def swapped(x):
            if isinstance(x, dict):
                return {k: swap.get(v, v) for k, v in x.items()}
            if isinstance(x, list):
                return [swapped(v) for v in x]
            return swap.get(x, x) if x is not None else None

        try:
            return all(ask(self, subject, swapped(given)) == swapped(answer) for ask, subject, given, answer in probes)
        except _Unknown:
            return False

    def needs(self, name: str, args: list[clingo.Symbol | None], depth: int = 0) -> list[list[Reason]]:
        """For each rule that could derive name(args): what the case would have to document
        (a list of conditions, all needed), from the rule's body and the data's values."""
        out = []
        for r in self.view.rules_for(name, len(args)):
            start = self._head_binding(r, args)
            if start is None:
                continue
            out.extend(self._rule_needs(r, start, depth))
        return out

    def _rule_needs(self, r: _Rule, start: Binding, depth: int) -> list[list[Reason]]:
        open_lits: list[Lit] = []  # case facts the case would need
        options: dict[str, set[str]] = {}
        limits: dict[str, list[str]] = defaultdict(list)
        bindings, bound = [start], set(start)
        alternatives: list[list[Reason]] | None = None
        free: set[str] = set()
        given = self.view.given
        origin: dict[str, tuple[Lit, Binding]] = {}  # the data literal that bound each variable
        try:
            order = r.schedule(bound)
            for i, lit in enumerate(order):
                if lit.kind == "pos":
                    name, terms = lit.parts()
                    if name in CASE_FACT_PREDICATES and (name, len(terms)) not in given:
                        # what the case documents is left open (only facts fixed by the head
                        # and already true, such as lesion(C,L), are taken as they are)
                        if not (lit.vars <= bound and self.matches(lit, start)):
                            open_lits.append(lit)
                            free |= lit.vars - bound
                        continue
                    if lit.vars & free:
                        # data that constrains an open value: the values it allows, of the rows
                        # the later given literals keep (in_force: the rows in force on the date)
                        relaxed = [{k: v for k, v in b.items() if k not in free} for b in bindings]
                        allowed = [nb for b in relaxed for nb in self.matches(lit, b)]
                        known = set(bindings[0]) | lit.vars
                        for later in order[i + 1:]:
                            if later.kind == "pos" and later.name is not None and \
                                    (later.name, len(later.args)) in given and later.vars <= known and not later.vars & free:
                                allowed = [nb for nb in allowed if self.matches(later, nb)]
                        if not allowed:
                            return []  # no row of the data is in force that could give it
                        for var in lit.vars & free:
                            vals = {show(nb[var]) for nb in allowed if var in nb}
                            options[var] = vals if var not in options else options[var] & vals
                        bindings = [{**b, **{k: v for k, v in nb.items() if k not in free}} for b in bindings
                                    for nb in allowed[:1]] or bindings
                        continue
                    found = [nb for b in bindings for nb in self.matches(lit, b)]
                    if not found and (name, len(terms)) in self.policy.derived and (name, len(terms)) not in given \
                            and depth < MAX_DEPTH:
                        values = [None if t.vars & free else _eval(t, bindings[0]) for t in terms]
                        inner = self.needs(name, values, depth + 1)
                        alternatives = inner if alternatives is None else \
                            [a + i for a in alternatives for i in inner]
                        continue
                    if not found:
                        return []  # needs something no documentation can supply
                    for var in lit.vars - bound:
                        origin.setdefault(var, (lit, found[0]))
                    bindings = found
                elif lit.kind == "cmp" and lit.vars & free:
                    (left, other), op = lit.args, lit.op
                    if left.kind == "var" and left.name in free:
                        var = left.name
                    elif other.kind == "var" and other.name in free:
                        var, other, op = other.name, left, FLIP[op]
                    else:
                        raise _Unknown
                    value = _eval(other, bindings[0])
                    unit = self._unit_of(var, open_lits)
                    if unit == "um" and other.kind == "var" and other.name in origin and value is not None:
                        shown = show_measure(value, self._words(*origin[other.name]).get(other.name), None)
                    else:
                        shown = show(value, unit)
                    limits[var].append(f"{NEEDS_WORDS[op]} {shown}".strip())
                else:
                    nxt = [nb for b in bindings for nb in self.holds(lit, b)]
                    if not nxt:
                        return []
                    bindings = nxt
        except _Unknown:
            self.unsure = True
            return [[Reason("what rule {R} asks for", (("R", r.rule.id),))]]
        own: list[Reason] = []
        for lit in open_lits:
            own.append(self._need_words(lit, bindings[0], options, limits))
        if alternatives is None:
            return [own] if own else []
        return [own + alt for alt in alternatives]

    def _unit_of(self, var: str, open_lits: list[Lit]) -> str | None:
        for lit in open_lits:
            name, terms = lit.parts()
            pred = self.policy.predicates.get((name, len(terms)))
            if pred and pred.holds:
                for arg_name, t in zip(pred.args, terms):
                    if t.kind == "var" and t.name == var:
                        m = re.search(r"\{" + re.escape(arg_name) + r":(\w+)\}", pred.holds)
                        return m.group(1) if m else None
        return None

    def _need_words(self, lit: Lit, b: Binding, options, limits) -> Reason:
        name, terms = lit.parts()
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
                try:
                    value = _eval(term, b)
                except _Unknown:
                    value = None
                values.append((arg_name, show(value, unit) if value is not None else "documented"))
        template = PLACEHOLDER.sub(lambda m: "{" + m.group(1) + "}", pred.holds)
        return Reason(template, tuple(values))


# -- assembling the contract's explanation fields ---------------------------------------------


def _cite(rule: Rule) -> dict:
    """The rule an explanation names: its id, where it is, the payer's sentence it encodes
    (None for a rule that follows the contract's reading alone) and that reading."""
    return {"rule": rule.id, "source": rule.source, "policy": rule.policy, **({"reading": rule.reading} if rule.reading else {})}


def explain_answer(answer: dict, ex: Explainer) -> dict:
    """Add `explanation` to every lesion and line of an answer (and `would_qualify` to a
    lesion that meets no indication)."""
    key, view = ex.key, ex.view
    for lesion in answer["lesions"]:
        lid = clingo.String(lesion["id"])
        entries = []
        for name, ind in view.indications.items():
            fired = ex.firings("indication", [key, lid, ind])
            if fired:
                rule = fired[0][0]
                because = merge([ex.because(r, b) for r, b in fired])
            else:
                # the rules that could give this lesion the indication; if none can (a rule
                # written for one named lesion), cite the indication's first rule anyway
                rules = [r.rule for r in view.rules_for("indication", 3) if ex._head_binding(r, [key, lid, ind]) is not None]
                rule = (rules or [r.rule for r in view.rules_for("indication", 3)
                                  if ex._head_binding(r, [key, None, ind]) is not None])[0]
                because = merge(ex.why_not("indication", [key, lid, ind])) or \
                    [f"no rule of this policy gives lesion {lesion['id']} this indication"]
            entries.append({"indication": name, "met": bool(fired), **_cite(rule), "because": because})
        lesion["explanation"] = entries
        if not lesion["indications"]:
            lesion["would_qualify"] = ex.would_qualify(lid)
    for line in answer["lines"]:
        n = clingo.Number(line["line"])
        name = line["outcome"]
        args = [key, n, clingo.Number(line["into"])] if name == "bundled" else [key, n]
        fired = ex.firings(name, args)
        if not fired:
            line["explanation"] = {"rule": None, "source": None, "policy": None, "because": []}
            continue
        line["explanation"] = {**_cite(fired[0][0]), "because": merge([ex.because(r, b) for r, b in fired])}
        if len({r.id for r, _ in fired}) > 1:  # several rules agree (every denial reason): cite each
            line["explanation"]["rules"] = [_cite(r) for r in dict.fromkeys(r for r, _ in fired)]
    return answer


def _merged_alternatives(alternatives: list[list[Reason]]) -> list[list[str]]:
    """Alternatives that are one condition each, of the same shape, become one condition
    listing the choices ("histology one of: sclerotic, ..." rather than eight entries)."""
    single = [a[0] for a in alternatives if len(a) == 1]
    rest = [a for a in alternatives if len(a) != 1]
    out = []
    if single:
        shapes: dict[tuple, list[str]] = {}
        for r in single:
            if r.values:
                choice = r.values[-1][1].removeprefix("one of: ")
                shapes.setdefault((r.template, r.values[:-1], r.values[-1][0]), []).extend(choice.split(", "))
            else:
                shapes.setdefault((r.template, (), None), [])
        for (template, fixed, last), choices in shapes.items():
            values = dict(fixed)
            if last is not None:
                uniq = list(dict.fromkeys(choices))
                values[last] = uniq[0] if len(uniq) == 1 else "one of: " + ", ".join(uniq)
            out.append([fill(template, values)])
    out.extend([merge(a) for a in rest])
    return out


def explain_cases(cases: list[Case], policy: Policy) -> list[dict]:
    """Answers with explanations, for valid cases solved together."""
    solved = solve(policy, cases, track=EVERYTHING, everything=True)
    run = _Run(policy, solved[0].shared) if solved else None
    out = []
    for key, (case, s) in enumerate(zip(cases, solved)):
        answer = build_answer(case, s, policy)
        k = clingo.Number(key)
        out.append(explain_answer(answer, Explainer(policy, k, s.atoms, s.fired, run, written_values(k, case))))
    return out
