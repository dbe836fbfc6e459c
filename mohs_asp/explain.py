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
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

import clingo
from clingo import ast

from .answer import build_answer
from .case import Case
from .engine import EVERYTHING, Solved, solve
from .policy import CASE_FACT_PREDICATES, Policy, Rule

Binding = dict[str, clingo.Symbol]
OP = ast.ComparisonOperator
HOLDS_WORDS = {OP.GreaterEqual: "is at least", OP.GreaterThan: "is above", OP.LessEqual: "is at most",
               OP.LessThan: "is below", OP.Equal: "is", OP.NotEqual: "is not"}
FAILS_WORDS = {OP.GreaterEqual: "is below", OP.GreaterThan: "is not above", OP.LessEqual: "is above",
               OP.LessThan: "is not below", OP.Equal: "is not", OP.NotEqual: "is"}
NEEDS_WORDS = {OP.GreaterEqual: "at least", OP.GreaterThan: "above", OP.LessEqual: "at most",
               OP.LessThan: "below", OP.Equal: "", OP.NotEqual: "other than"}
FLIP = {OP.GreaterEqual: OP.LessEqual, OP.GreaterThan: OP.LessThan, OP.LessEqual: OP.GreaterEqual,
        OP.LessThan: OP.GreaterThan, OP.Equal: OP.Equal, OP.NotEqual: OP.NotEqual}
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_']*)(?::(\w+))?\}")
MAX_DEPTH = 4


class _Unknown(Exception):
    """A term or literal this explainer cannot evaluate (an aggregate, a pool...)."""


# -- values and words ------------------------------------------------------------------------


def show(value: clingo.Symbol, unit: str | None = None) -> str:
    """A value in an explanation: strings bare, true/false as yes/no, micrometres as cm."""
    if unit == "um" and value.type == clingo.SymbolType.Number:
        cm = format((Decimal(value.number) / 10000).normalize(), "f")
        return f"{cm if '.' in cm else cm + '.0'} cm"
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


# -- evaluating the rules' terms against the answer set -----------------------------------


def _eval(term: ast.AST, b: Binding) -> clingo.Symbol | None:
    """The value of a term under a binding; None when a variable in it is unbound."""
    t = term.ast_type
    if t == ast.ASTType.Variable:
        return b.get(term.name)
    if t == ast.ASTType.SymbolicTerm:
        return term.symbol
    if t == ast.ASTType.Function:
        args = [_eval(a, b) for a in term.arguments]
        if any(a is None for a in args):
            return None
        return clingo.Tuple_(args) if not term.name else clingo.Function(term.name, args)
    if t == ast.ASTType.BinaryOperation:
        left, right = _eval(term.left, b), _eval(term.right, b)
        if left is None or right is None:
            return None
        if left.type != clingo.SymbolType.Number or right.type != clingo.SymbolType.Number:
            raise _Unknown
        x, y = left.number, right.number
        ops = {ast.BinaryOperator.Plus: lambda: x + y, ast.BinaryOperator.Minus: lambda: x - y,
               ast.BinaryOperator.Multiplication: lambda: x * y,
               ast.BinaryOperator.Division: lambda: x // y if y else None,
               ast.BinaryOperator.Modulo: lambda: x % y if y else None}
        if term.operator_type not in ops or (value := ops[term.operator_type]()) is None:
            raise _Unknown
        return clingo.Number(value)
    raise _Unknown


_UNKNOWN = object()  # a term _eval cannot evaluate


def _eval_or(term: ast.AST, b: Binding, default):
    try:
        return _eval(term, b)
    except _Unknown:
        return default


def _match(term: ast.AST, value: clingo.Symbol, b: Binding) -> Binding | None:
    """Unify a term with a value; the extended binding, or None."""
    t = term.ast_type
    if t == ast.ASTType.Variable:
        if term.name == "_" or term.name.startswith("_"):
            return b
        bound = b.get(term.name)
        if bound is None:
            return {**b, term.name: value}
        return b if bound == value else None
    if t == ast.ASTType.Function and value.type == clingo.SymbolType.Function and \
            term.name == value.name and len(term.arguments) == len(value.arguments):
        for sub, v in zip(term.arguments, value.arguments):
            b = _match(sub, v, b)
            if b is None:
                return None
        return b
    if t == ast.ASTType.Function:
        return None
    got = _eval(term, b)
    if got is None:
        raise _Unknown
    return b if got == value else None


def _compare(op, x: clingo.Symbol, y: clingo.Symbol) -> bool:
    return {OP.GreaterEqual: x >= y, OP.GreaterThan: x > y, OP.LessEqual: x <= y,
            OP.LessThan: x < y, OP.Equal: x == y, OP.NotEqual: x != y}[op]


def _atom_parts(lit: ast.AST) -> tuple[str, list[ast.AST]]:
    sym = lit.atom.symbol
    if sym.ast_type == ast.ASTType.Function:
        return sym.name, list(sym.arguments)
    if sym.ast_type == ast.ASTType.SymbolicTerm and sym.symbol.type == clingo.SymbolType.Function:
        return sym.symbol.name, []
    raise _Unknown


def _variables(term: ast.AST) -> set[str]:
    found: set[str] = set()

    def walk(t):
        if t.ast_type == ast.ASTType.Variable:
            if t.name != "_" and not t.name.startswith("_"):
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

    walk(term)
    return found


def _kind(lit: ast.AST) -> str:
    if lit.ast_type != ast.ASTType.Literal:
        return "other"
    a = lit.atom.ast_type
    if a == ast.ASTType.SymbolicAtom:
        return "pos" if lit.sign == ast.Sign.NoSign else "neg"
    if a == ast.ASTType.Comparison and lit.sign == ast.Sign.NoSign and len(lit.atom.guards) == 1:
        return "cmp"
    if a == ast.ASTType.BooleanConstant:
        return "bool"
    return "other"


def _schedule(body, bound: set[str]) -> list[ast.AST]:
    """Body literals in source order, except that a comparison or negative literal waits
    until the positive literals before it have bound its variables."""
    pending, out, known = list(body), [], set(bound)
    while pending:
        for i, lit in enumerate(pending):
            kind = _kind(lit)
            if kind == "pos" or _variables(lit) <= known or all(_kind(p) != "pos" for p in pending):
                out.append(pending.pop(i))
                if kind == "pos":
                    known |= _variables(lit)
                break
    return out


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

    def __init__(self, policy: Policy, solved: Solved, key: int):
        self.policy = policy
        self.key = clingo.Number(key)
        self.atoms: dict[tuple[str, int], list[clingo.Symbol]] = defaultdict(list)
        for sym in [*solved.atoms, *solved.shared]:
            self.atoms[(sym.name, len(sym.arguments))].append(sym)
        self._by_head: dict[str, tuple[list, dict]] = {}
        self.fired: dict[str, list[Binding]] = defaultdict(list)
        for rule_id, values in solved.fired:
            rule = policy.rules_by_id.get(rule_id)
            if rule is not None:
                self.fired[rule_id].append(dict(zip(rule.variables, values)))

    # -- firing (why) ------------------------------------------------------------------------

    def firings(self, name: str, args: list[clingo.Symbol | None]) -> list[tuple[Rule, Binding]]:
        """The rules that fired for head name(args), with their bindings (None: any value)."""
        out = []
        for rule in self.policy.rules_for(name, len(args)):
            heads, by_head = self._heads(rule)
            if None not in args:  # the usual question: one look-up, not a walk through every firing
                out.extend((rule, b) for b in by_head.get(tuple(args), ()))
            else:
                out.extend((rule, b) for values, b in heads if all(a is None or v == a for v, a in zip(values, args)))
        return out

    def _heads(self, rule: Rule) -> tuple[list[tuple[tuple, Binding]], dict[tuple, list[Binding]]]:
        """A rule's firings with the head each derived, in order and by head (a case with 500
        lines asks 500 times: each question a look-up, not a walk through every firing)."""
        if rule.id not in self._by_head:
            heads: list[tuple[tuple, Binding]] = []
            by_head: dict[tuple, list[Binding]] = defaultdict(list)
            head_args = rule.node.head.atom.symbol.arguments
            for b in self.fired.get(rule.id, []):
                values = tuple(_eval_or(t, b, _UNKNOWN) for t in head_args)  # _UNKNOWN equals no value asked for
                heads.append((values, b))
                by_head[values].append(b)
            self._by_head[rule.id] = heads, by_head
        return self._by_head[rule.id]

    def because(self, rule: Rule, b: Binding) -> Reason:
        if rule.because:
            return Reason(rule.because, tuple(self._placeholders(rule.because, b)))
        return Reason(f"rule {rule.id} applies", ())

    @staticmethod
    def _placeholders(template: str, b: Binding) -> list[tuple[str, str]]:
        out = []
        for m in PLACEHOLDER.finditer(template):
            value = b.get(m.group(1))
            shown = show(value, m.group(2)) if value is not None else "?"
            out.append((m.group(0)[1:-1].split(":")[0], shown))
        return out

    # -- matching literals against the answer set --------------------------------------------

    def matches(self, lit: ast.AST, b: Binding) -> list[Binding]:
        name, args = _atom_parts(lit)
        out = []
        for sym in self.atoms.get((name, len(args)), []):
            nb: Binding | None = b
            for t, v in zip(args, sym.arguments):
                nb = _match(t, v, nb)
                if nb is None:
                    break
            if nb is not None:
                out.append(nb)
        return out

    def holds(self, lit: ast.AST, b: Binding) -> list[Binding]:
        """The bindings extending b under which a body literal is true."""
        kind = _kind(lit)
        if kind == "pos":
            return self.matches(lit, b)
        if kind == "neg":
            return [] if self.matches(lit, b) else [b]
        if kind == "cmp":
            left, guard = lit.atom.term, lit.atom.guards[0]
            x, y = _eval(left, b), _eval(guard.term, b)
            if x is None and guard.comparison == OP.Equal and y is not None:
                nb = _match(left, y, b)
                return [nb] if nb is not None else []
            if x is None or y is None:
                raise _Unknown
            return [b] if _compare(guard.comparison, x, y) else []
        if kind == "bool":
            return [b] if lit.atom.value else []
        raise _Unknown

    # -- why not -------------------------------------------------------------------------------

    def why_not(self, name: str, args: list[clingo.Symbol | None], depth: int = 0) -> list[Reason]:
        """Why no rule derived name(args): for each candidate rule, the first condition that
        no binding of the conditions before it satisfies."""
        reasons: list[Reason] = []
        for rule in self.policy.rules_for(name, len(args)):
            reasons.extend(self.rule_fails(rule, args, depth))
        return reasons

    def _head_binding(self, rule: Rule, args: list[clingo.Symbol | None]) -> Binding | None:
        b: Binding = {}
        for t, a in zip(rule.node.head.atom.symbol.arguments, args):
            if a is None:
                continue
            try:
                b = _match(t, a, b)
            except _Unknown:
                return None
            if b is None:
                return None
        return b

    def rule_fails(self, rule: Rule, args: list[clingo.Symbol | None], depth: int) -> list[Reason]:
        start = self._head_binding(rule, args)
        if start is None:
            return []  # the head cannot produce this atom (another constant)
        bindings = [start]
        origin: dict[str, tuple[ast.AST, Binding]] = {}
        try:
            for lit in _schedule(rule.node.body, set(start)):
                nxt = []
                for b in bindings:
                    nxt.extend(self.holds(lit, b))
                if not nxt:
                    out: list[Reason] = []
                    for b in bindings:
                        out.extend(self.failure(lit, b, origin, depth))
                    return out
                if _kind(lit) == "pos":
                    for var in _variables(lit):
                        origin.setdefault(var, (lit, nxt[0]))
                bindings = nxt
        except _Unknown:
            return [Reason("the conditions of rule {R} do not hold", (("R", rule.id),))]
        return []  # it holds: nothing to explain

    def describe(self, lit: ast.AST, b: Binding) -> Reason | None:
        """A positive literal's `holds:` words under a binding ("size 1.2 cm")."""
        name, args = _atom_parts(lit)
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
        return Reason(pred.holds, tuple(self._placeholders(pred.holds, values)))

    def failure(self, lit: ast.AST, b: Binding, origin, depth: int) -> list[Reason]:
        kind = _kind(lit)
        if kind == "cmp":
            return [self._comparison(lit, b, origin)]
        if kind == "neg":
            # `not p(...)` fails because p(...) holds: say why it holds
            out = []
            for nb in self.matches(lit, b):
                name, args = _atom_parts(lit)
                values = [_eval(t, nb) for t in args]
                fired = self.firings(name, values)
                if fired:
                    out.extend(self.because(rule, fb) for rule, fb in fired)
                elif (d := self.describe(lit, nb)) is not None:
                    out.append(d)
            return out or [Reason("{X} holds", (("X", str(lit.atom)),))]
        if kind != "pos":
            return [Reason("{X} does not hold", (("X", str(lit)),))]
        name, terms = _atom_parts(lit)
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
            near = [s for s in self.atoms.get((name, len(values)), []) if list(s.arguments[:-1]) == values[:-1]]
            if near and pred is not None and pred.holds:
                return [Reason(pred.holds, tuple(self._placeholders(pred.holds, dict(zip(pred.args, s.arguments)))))
                        for s in near]
        if pred is not None and pred.absent:
            known = {a: v for a, v in zip(pred.args, values) if v is not None}
            return [Reason(pred.absent, tuple(self._placeholders(pred.absent, known)))]
        if (name, len(terms)) in self.policy.derived and depth < MAX_DEPTH:
            inner = self.why_not(name, values, depth + 1)
            if inner:
                return inner
        shown = ", ".join("_" if v is None else show(v) for v in values)
        return [Reason("no {X}", (("X", f"{name}({shown})"),))]

    def _comparison(self, lit, b: Binding, origin) -> Reason:
        left, guard = lit.atom.term, lit.atom.guards[0]
        sides = []
        for term in (left, guard.term):
            value = _eval(term, b)
            desc = None
            if term.ast_type == ast.ASTType.Variable and term.name in origin:
                src_lit, src_b = origin[term.name]
                d = self.describe(src_lit, {**src_b, **b})
                desc = d.text() if d else None
            sides.append(desc or (show(value) if value is not None else str(term)))
        return Reason("{A} " + FAILS_WORDS[guard.comparison] + " {B}", (("A", sides[0]), ("B", sides[1])))

    # -- what would qualify ----------------------------------------------------------------

    def needs(self, name: str, args: list[clingo.Symbol | None], depth: int = 0) -> list[list[Reason]]:
        """For each rule that could derive name(args): what the case would have to document
        (a list of conditions, all needed), from the rule's body and the data's values."""
        out = []
        for rule in self.policy.rules_for(name, len(args)):
            start = self._head_binding(rule, args)
            if start is None:
                continue
            out.extend(self._rule_needs(rule, start, depth))
        return out

    def _rule_needs(self, rule: Rule, start: Binding, depth: int) -> list[list[Reason]]:
        open_lits: list[ast.AST] = []  # case facts the case would need
        options: dict[str, set[str]] = {}
        limits: dict[str, list[str]] = defaultdict(list)
        bindings = [start]
        alternatives: list[list[Reason]] | None = None
        free: set[str] = set()
        try:
            for lit in _schedule(rule.node.body, set(start)):
                kind = _kind(lit)
                if kind == "pos":
                    name, terms = _atom_parts(lit)
                    if name in CASE_FACT_PREDICATES:
                        # what the case documents is left open (only facts fixed by the head
                        # and already true, such as lesion(C,L), are taken as they are)
                        if not (_variables(lit) <= set(start) and self.matches(lit, start)):
                            open_lits.append(lit)
                            free |= _variables(lit) - set(start)
                        continue
                    if _variables(lit) & free:
                        # data that constrains an open value: the values it allows
                        relaxed = [{k: v for k, v in b.items() if k not in free} for b in bindings]
                        allowed = [nb for b in relaxed for nb in self.matches(lit, b)]
                        for var in _variables(lit) & free:
                            vals = {show(nb[var]) for nb in allowed if var in nb}
                            options[var] = vals if var not in options else options[var] & vals
                        bindings = [{**b, **{k: v for k, v in nb.items() if k not in free}} for b in bindings
                                    for nb in allowed[:1]] or bindings
                        continue
                    found = [nb for b in bindings for nb in self.matches(lit, b)]
                    if not found and (name, len(terms)) in self.policy.derived and depth < MAX_DEPTH:
                        values = [None if _variables(t) & free else _eval(t, bindings[0]) for t in terms]
                        inner = self.needs(name, values, depth + 1)
                        alternatives = inner if alternatives is None else \
                            [a + i for a in alternatives for i in inner]
                        continue
                    if not found:
                        return []  # needs something no documentation can supply
                    bindings = found
                elif kind == "cmp" and _variables(lit) & free:
                    left, guard = lit.atom.term, lit.atom.guards[0]
                    op, other = guard.comparison, guard.term
                    if left.ast_type == ast.ASTType.Variable and left.name in free:
                        var = left.name
                    elif other.ast_type == ast.ASTType.Variable and other.name in free:
                        var, other, op = other.name, left, FLIP[guard.comparison]
                    else:
                        raise _Unknown
                    value = _eval(other, bindings[0])
                    unit = self._unit_of(var, open_lits)
                    limits[var].append(f"{NEEDS_WORDS[op]} {show(value, unit)}".strip())
                else:
                    nxt = [nb for b in bindings for nb in self.holds(lit, b)]
                    if not nxt:
                        return []
                    bindings = nxt
        except _Unknown:
            return [[Reason("what rule {R} asks for", (("R", rule.id),))]]
        own: list[Reason] = []
        for lit in open_lits:
            own.append(self._need_words(lit, bindings[0], options, limits))
        if alternatives is None:
            return [own] if own else []
        return [own + alt for alt in alternatives]

    def _unit_of(self, var: str, open_lits) -> str | None:
        for lit in open_lits:
            name, terms = _atom_parts(lit)
            pred = self.policy.predicates.get((name, len(terms)))
            if pred and pred.holds:
                for arg_name, t in zip(pred.args, terms):
                    if t.ast_type == ast.ASTType.Variable and t.name == var:
                        m = re.search(r"\{" + re.escape(arg_name) + r":(\w+)\}", pred.holds)
                        return m.group(1) if m else None
        return None

    def _need_words(self, lit, b: Binding, options, limits) -> Reason:
        name, terms = _atom_parts(lit)
        pred = self.policy.predicates.get((name, len(terms)))
        if pred is None or not pred.holds:
            return Reason("{X}", (("X", str(lit)),))
        values: list[tuple[str, str]] = []
        for m in PLACEHOLDER.finditer(pred.holds):
            arg_name, unit = m.group(1), m.group(2)
            if arg_name not in pred.args:
                continue
            term = terms[pred.args.index(arg_name)]
            var = term.name if term.ast_type == ast.ASTType.Variable else None
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


def indication_order(policy: Policy) -> list[str]:
    """The indications in the order the policy's rules state them."""
    order: list[str] = []
    for rule in policy.rules_for("indication", 3):
        term = rule.node.head.atom.symbol.arguments[2]
        name = str(term.symbol) if term.ast_type == ast.ASTType.SymbolicTerm else str(term)
        if name not in order:
            order.append(name)
    return order


def _cite(rule: Rule) -> dict:
    return {"rule": rule.id, "source": rule.source, "policy": rule.policy}


def explain_answer(answer: dict, ex: Explainer) -> dict:
    """Add `explanation` to every lesion and line of an answer (and `would_qualify` to a
    lesion that meets no indication)."""
    policy = ex.policy
    key = ex.key
    for lesion in answer["lesions"]:
        lid = clingo.String(lesion["id"])
        entries = []
        for name in indication_order(policy):
            ind = clingo.Function(name)
            fired = ex.firings("indication", [key, lid, ind])
            if fired:
                rule = fired[0][0]
                because = merge([ex.because(r, b) for r, b in fired])
            else:
                candidates = [r for r in policy.rules_for("indication", 3) if ex._head_binding(r, [key, lid, ind]) is not None]
                rule = candidates[0]
                because = merge(ex.why_not("indication", [key, lid, ind]))
            entries.append({"indication": name, "met": bool(fired), **_cite(rule), "because": because})
        lesion["explanation"] = entries
        if not lesion["indications"]:
            lesion["would_qualify"] = would_qualify(ex, lid)
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


def would_qualify(ex: Explainer, lid: clingo.Symbol) -> list[dict]:
    """For each indication: what documentation would meet it, one list per rule."""
    out = []
    for name in indication_order(ex.policy):
        ind = clingo.Function(name)
        for rule in ex.policy.rules_for("indication", 3):
            start = ex._head_binding(rule, [ex.key, lid, ind])
            if start is None:
                continue
            for alternative in _merged_alternatives(ex._rule_needs(rule, start, 0)):
                out.append({"indication": name, "rule": rule.id, "needs": alternative})
    return out


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
    out = []
    for key, (case, s) in enumerate(zip(cases, solved)):
        answer = build_answer(case, s, policy)
        out.append(explain_answer(answer, Explainer(policy, s, key)))
    return out
