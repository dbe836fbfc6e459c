"""Which values of a case the rules can tell apart: a sort analysis of the policy's AST.

The compiled engine (template.py) grounds the rules once over *open* inputs, each input
argument ranging over a small domain of stand-in values, and must then map every case's
values onto those stand-ins without changing any answer. This module decides, from the
rules alone, how each input argument may be mapped; it restates nothing of the policy.

Argument positions (`site/3` argument 2, `__by/2` argument 1 inside `payable/2` argument
1, ...) are joined into *sorts* wherever one variable or one comparison connects them,
so values of different sorts are never compared by any rule. For each sort that input
facts feed, the analysis records the constants the rules write at its positions, whether
any rule compares its values by order (`<`, `>=`), and whether any rule computes with them
(arithmetic, intervals, pools, #count results, or #sum), and
chooses one of four mappings, the first that is sound:

- ``class`` (the sort is *projected*: its values reach no head, every variable of the
  sort occurs in at most one input literal of its rule, positively and outside any
  #count tuple, and is compared only with constants and with values that data literals
  bind): a value matters only through the data facts it takes part in (and its order
  relative to the data's and the rules' numbers, for an ordered sort), so every value
  of one class has one stand-in. A diagnosis is on the covered list or not; a size is
  below, at or above each threshold.
- ``injective``: values the rules or the data name stand for themselves; the case's other
  values get distinct stand-ins, in order of first appearance (equality-only sorts) or
  in their order, interval by interval (ordered sorts of whole numbers: line numbers
  become their ranks). A stand-in in an answer is mapped back to the case's value.
- ``exact``: values are taken as they are, from a finite domain (arithmetic and
  aggregate results need the real numbers).

The case key (argument 0 of every keyed input) must be *separable*: each rule uses at
most one case variable, writes no constant there, never compares it, and its head carries
it; and an input with no case key (code_num, a fact about a code, made once a solver run
for all its cases) may be read by a rule with a case only about a value that case brings.
So a case's answer never depends on another case, and one case is the template.

Anything outside the fragment this understands (a constraint, a choice, a disjunction,
`#const`, an external function, a theory atom, a #sum or a #min/#max of anything but a
variable in a body (a #min or #max of a variable is of that variable's sort, compared by
order: line numbers keep their ranks, so the minimum keeps its place),
`#show t : body`, ...) makes `analyse` return a refusal: the caller then leaves every case
to clingo.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import clingo
from clingo import ast

T = ast.ASTType
OP = ast.ComparisonOperator
ORDER_OPS = {OP.LessThan, OP.LessEqual, OP.GreaterThan, OP.GreaterEqual}
Position = tuple  # ((name, arity, index), (fname, farity, index), ...): a path into an atom

ALLOWED_STATEMENTS = {T.Rule, T.ShowSignature, T.Defined, T.Program, T.Comment}


class Refused(Exception):
    """The policy uses a construct the compiled engine does not take; clingo answers."""


@dataclass
class Sort:
    positions: set = field(default_factory=set)
    constants: set = field(default_factory=set)  # clingo Symbols the rules write at these positions
    ordered: bool = False  # compared by <, <=, >, >=
    computed: bool = False  # arithmetic, intervals, pools, aggregate results, non-count aggregates
    structured: bool = False  # holds function terms (nested arguments)
    counted: bool = False  # a #count tuple holds it

    def absorb(self, other: "Sort") -> None:
        self.positions |= other.positions
        self.constants |= other.constants
        self.ordered |= other.ordered
        self.computed |= other.computed
        self.structured |= other.structured
        self.counted |= other.counted


class _UnionFind:
    def __init__(self):
        self.parent: dict = {}
        self.info: dict = {}

    def add(self, node) -> None:
        if node not in self.parent:
            self.parent[node] = node
            self.info[node] = Sort(positions={node} if node[0] == "pos" else set())

    def find(self, node):
        self.add(node)
        root = node
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[node] != root:
            self.parent[node], node = root, self.parent[node]
        return root

    def union(self, a, b) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra
            self.info[ra].absorb(self.info.pop(rb))

    def sort(self, node) -> Sort:
        return self.info[self.find(node)]


@dataclass
class _Occurrence:
    pred: tuple[str, int]
    position: Position
    positive: bool
    in_aggregate: bool


@dataclass
class _RuleFacts:
    """What the projected test needs of one rule: each variable's atom occurrences and the
    comparisons, by variable node."""

    head: tuple[str, int]
    occurrences: dict = field(default_factory=lambda: defaultdict(list))  # var node -> [_Occurrence]
    comparisons: list = field(default_factory=list)  # (left, right): var nodes or ("const", Symbol)
    counted: set = field(default_factory=set)  # var nodes in a #count tuple
    head_vars: set = field(default_factory=set)
    head_first: object = None  # the head's argument 0: a var node, ("const", Symbol) or None
    literals: list = field(default_factory=list)  # (predicate, positive, in an aggregate, argument 0 as head_first)


@dataclass
class Analysis:
    """The outcome: each sort that inputs feed, with its mapping kind."""

    uf: _UnionFind
    inputs: frozenset[str]  # input predicate names
    keyed: frozenset[str]  # input predicates whose argument 0 is the case key
    case_level: frozenset[tuple[str, int]]  # derived predicates that depend on inputs
    kinds: dict  # sort root -> "class" | "injective" | "exact" | "case" | "unused"
    input_arities: dict[str, int]

    def root(self, position: Position):
        return self.uf.find(("pos", position))

    def sort(self, position: Position) -> Sort:
        return self.uf.sort(("pos", position))

    def kind(self, position: Position) -> str:
        return self.kinds.get(self.root(position), "unused")


RECORD_VALUES = ("__said", 3, 2)  # records.py: __said(I, Head, (V1,...,Vn)), the values of rule I


def argument_position(name: str, arity: int, index: int, first: clingo.Symbol | None) -> Position:
    """The position of an atom's argument. The values tuple of a firing record (`__said`) is
    one position per rule (its number, argument 0, in the path): rule 24's `(D,)` (a
    diagnosis) and rule 9's `(S,)` (a site) are tuples of one value at one place, but no
    rule compares them (records are only shown), and joining them would join every sort a
    `% because:` names into one (measured: lesions, codes, diagnoses, sites, sizes and
    histology terms one exact sort of 362 values, whose template grew past 20 GB)."""
    if (name, arity, index) == RECORD_VALUES and first is not None:
        return ((name, arity, index), ("#rule", first.number if first.type == clingo.SymbolType.Number else str(first), 0))
    return ((name, arity, index),)


def _symbol_position(symbol_fn: ast.AST) -> tuple[str, int]:
    return symbol_fn.name, len(symbol_fn.arguments)


class _Walker:
    def __init__(self, inputs: frozenset[str]):
        self.uf = _UnionFind()
        self.inputs = inputs
        self.rules: list[_RuleFacts] = []
        self.heads: set[tuple[str, int]] = set()
        self.body_preds: dict[tuple[str, int], set[tuple[str, int]]] = defaultdict(set)  # head -> body preds
        self.input_arities: dict[str, int] = {}
        self.anonymous = 0

    # -- terms --------------------------------------------------------------------------------

    def var_node(self, rule: int, name: str):
        if name == "_":
            self.anonymous += 1
            return ("var", rule, f"_#{self.anonymous}")
        return ("var", rule, name)

    def mark_computed(self, term: ast.AST, rule: int) -> None:
        """Every variable inside an arithmetic term (or interval, pool) computes."""
        for name in _variables(term):
            self.uf.sort(self.var_node(rule, name)).computed = True

    def at_position(self, term: ast.AST, pos: Position, rule: int, facts: _RuleFacts | None,
                    occurrence: _Occurrence | None) -> None:
        node = ("pos", pos)
        self.uf.add(node)
        kind = term.ast_type
        if kind == T.Variable:
            var = self.var_node(rule, term.name)
            self.uf.union(node, var)
            if facts is not None and occurrence is not None:
                facts.occurrences[var].append(occurrence)
        elif kind == T.SymbolicTerm:
            self._constant(term.symbol, pos)
        elif kind == T.Function:
            if term.external:
                raise Refused("an external function (@f) is called")
            self.uf.sort(node).structured = True
            for i, arg in enumerate(term.arguments):
                sub = _Occurrence(occurrence.pred, pos + ((term.name, len(term.arguments), i),), occurrence.positive,
                                  occurrence.in_aggregate) if occurrence else None
                self.at_position(arg, pos + ((term.name, len(term.arguments), i),), rule, facts, sub)
        else:  # arithmetic, interval, pool at an argument: values are computed
            self.uf.sort(node).computed = True
            self.mark_computed(term, rule)
            for name in _variables(term):
                self.uf.union(node, self.var_node(rule, name))

    def _constant(self, symbol: clingo.Symbol, pos: Position) -> None:
        node = ("pos", pos)
        if symbol.type == clingo.SymbolType.Function and symbol.arguments:
            self.uf.sort(node).structured = True
            for i, arg in enumerate(symbol.arguments):
                sub = pos + ((symbol.name, len(symbol.arguments), i),)
                self.uf.add(("pos", sub))
                self._constant(arg, sub)
        else:
            self.uf.sort(node).constants.add(symbol)

    def atom(self, fn: ast.AST, rule: int, facts: _RuleFacts | None, positive: bool, in_aggregate: bool,
             head: bool = False) -> tuple[str, int]:
        if fn.ast_type == T.SymbolicTerm and fn.symbol.type == clingo.SymbolType.Function and not fn.symbol.arguments:
            return fn.symbol.name, 0
        if fn.ast_type != T.Function or fn.external:
            raise Refused(f"an atom of an unusual form: {fn}")
        pred = _symbol_position(fn)
        if pred[0] in self.inputs:
            known = self.input_arities.setdefault(pred[0], pred[1])
            if known != pred[1]:
                raise Refused(f"input predicate {pred[0]} is used with arities {known} and {pred[1]}")
        for i, arg in enumerate(fn.arguments):
            pos = argument_position(pred[0], pred[1], i, fn.arguments[0].symbol
                                    if fn.arguments[0].ast_type == T.SymbolicTerm else None)
            occ = _Occurrence(pred, pos, positive, in_aggregate)
            if head:
                occ = None
                if arg.ast_type == T.Variable and facts is not None:
                    facts.head_vars.add(self.var_node(rule, arg.name))
                for name in _variables(arg):
                    if facts is not None:
                        facts.head_vars.add(self.var_node(rule, name))
            self.at_position(arg, pos, rule, facts, occ)
        return pred

    def first(self, fn: ast.AST, rule: int):
        """An atom's argument 0: its variable node, ("const", Symbol), or None."""
        if fn.ast_type != T.Function or not fn.arguments:
            return None
        arg = fn.arguments[0]
        if arg.ast_type == T.Variable:
            return None if arg.name == "_" else ("var", rule, arg.name)
        if arg.ast_type == T.SymbolicTerm:
            return ("const", arg.symbol)
        return None

    def comparison_side(self, term: ast.AST, rule: int):
        if term.ast_type == T.Variable:
            return self.var_node(rule, term.name)
        if term.ast_type == T.SymbolicTerm and not (term.symbol.type == clingo.SymbolType.Function and term.symbol.arguments):
            return ("const", term.symbol)
        self.mark_computed(term, rule)  # arithmetic or a function term: exact values only
        names = _variables(term)
        if names:
            node = self.var_node(rule, sorted(names)[0])
            for name in names:
                self.uf.union(node, self.var_node(rule, name))
            return ("computed", node)
        return ("const-term", None)

    def compare(self, left, op, right, facts: _RuleFacts) -> None:
        nodes = [side[1] if side[0] == "computed" else side for side in (left, right) if side[0] in ("var", "computed")]
        for a, b in zip(nodes, nodes[1:]):
            self.uf.union(a, b)
        for side, other in ((left, right), (right, left)):
            if side[0] in ("var", "computed"):
                node = side[1] if side[0] == "computed" else side
                sort = self.uf.sort(node)
                if op in ORDER_OPS:
                    sort.ordered = True
                if other[0] == "const" and other[1].type not in (clingo.SymbolType.Infimum, clingo.SymbolType.Supremum):
                    sort.constants.add(other[1])  # (every number lies between #inf and #sup: no stand-in changes that)
                if other[0] in ("computed", "const-term"):
                    sort.computed = True
        facts.comparisons.append((left, right))

    # -- rules --------------------------------------------------------------------------------

    def rule(self, node: ast.AST, index: int) -> None:
        head = node.head
        if head.ast_type != T.Literal or head.atom.ast_type != T.SymbolicAtom:
            if head.ast_type == T.Literal and head.atom.ast_type == T.BooleanConstant and not head.atom.value:
                raise Refused("a constraint (a rule with no head)")
            raise Refused(f"a rule head of kind {head.ast_type.name} (a choice, disjunction or aggregate)")
        if head.sign != ast.Sign.NoSign:
            raise Refused("a negated head")
        facts = _RuleFacts(head=("", 0))
        pred = self.atom(head.atom.symbol, index, facts, True, False, head=True)
        facts.head = pred
        facts.head_first = self.first(head.atom.symbol, index)
        self.heads.add(pred)
        for lit in node.body:
            self.body_literal(lit, index, facts, pred, in_aggregate=False)
        self.rules.append(facts)

    def body_literal(self, lit: ast.AST, index: int, facts: _RuleFacts, head: tuple[str, int], in_aggregate: bool) -> None:
        if lit.ast_type != T.Literal:
            raise Refused(f"a body element of kind {lit.ast_type.name} (a conditional literal?)")
        if lit.sign == ast.Sign.DoubleNegation:
            raise Refused("a double negation (not not)")
        atom = lit.atom
        positive = lit.sign == ast.Sign.NoSign
        if atom.ast_type == T.SymbolicAtom:
            pred = self.atom(atom.symbol, index, facts, positive, in_aggregate)
            self.body_preds[head].add(pred)
            facts.literals.append((pred, positive, in_aggregate, self.first(atom.symbol, index)))
        elif atom.ast_type == T.Comparison:
            sides = [self.comparison_side(atom.term, index)] + [self.comparison_side(g.term, index) for g in atom.guards]
            for (left, guard, right) in zip(sides, atom.guards, sides[1:]):
                self.compare(left, guard.comparison, right, facts)
        elif atom.ast_type == T.BooleanConstant:
            pass
        elif atom.ast_type == T.BodyAggregate:
            if in_aggregate:
                raise Refused("an aggregate inside an aggregate")
            if atom.function in (ast.AggregateFunction.Min, ast.AggregateFunction.Max):
                self.extremum(atom, index, facts, head, positive)
                return
            if atom.function != ast.AggregateFunction.Count:
                raise Refused("an aggregate other than #count, #min and #max (#sum)")
            if not positive:
                raise Refused("a negated aggregate")
            for guard in (atom.left_guard, atom.right_guard):
                if guard is not None:
                    side = self.comparison_side(guard.term, index)
                    if side[0] in ("var", "computed"):
                        node = side[1] if side[0] == "computed" else side
                        self.uf.sort(node).computed = True  # its value is the count
            for element in atom.elements:
                for term in element.terms:
                    for name in _variables(term):
                        var = self.var_node(index, name)
                        self.uf.sort(var).counted = True
                        facts.counted.add(var)
                    if term.ast_type not in (T.Variable, T.SymbolicTerm):
                        self.mark_computed(term, index)
                for cond in element.condition:
                    self.body_literal(cond, index, facts, head, in_aggregate=True)
        else:
            raise Refused(f"a body literal of kind {atom.ast_type.name}")


    def extremum(self, atom: ast.AST, index: int, facts: _RuleFacts, head: tuple[str, int], positive: bool) -> None:
        """`M = #min{ N, ... : body }` (or #max): its value is one of the elements' first terms,
        chosen by their order, so M is of N's sort, compared by order. A map that keeps the
        order of the sort (ranks of line numbers) keeps the minimum; the other terms of a
        tuple only make elements distinct, which changes no minimum."""
        if not positive:
            raise Refused("a negated #min or #max")
        guards = [g for g in (atom.left_guard, atom.right_guard) if g is not None]
        for element in atom.elements:
            if not element.terms or element.terms[0].ast_type != T.Variable:
                raise Refused("a #min or #max whose value is not a variable")
            value = self.var_node(index, element.terms[0].name)
            self.uf.sort(value).ordered = True
            for term in element.terms[1:]:
                if term.ast_type not in (T.Variable, T.SymbolicTerm):
                    self.mark_computed(term, index)
            for cond in element.condition:
                self.body_literal(cond, index, facts, head, in_aggregate=True)
            for guard in guards:
                side = self.comparison_side(guard.term, index)
                self.compare(("var", value[1], value[2]), guard.comparison, side, facts)

def _variables(node: ast.AST) -> set[str]:
    found: set[str] = set()

    def visit(n):
        if isinstance(n, ast.AST):
            if n.ast_type == T.Variable:
                found.add(n.name)
            for key in n.child_keys:
                value = getattr(n, key)
                if isinstance(value, ast.AST):
                    visit(value)
                elif value is not None and not isinstance(value, (str, int)):
                    for item in value:
                        visit(item)

    visit(node)
    return found


def data_positions(symbol: clingo.Symbol, prefix: Position = ()):
    """(position, value) for each argument of a data atom, nested arguments included."""
    if symbol.type != clingo.SymbolType.Function:
        return
    for i, arg in enumerate(symbol.arguments):
        pos = prefix + ((symbol.name, len(symbol.arguments), i),)
        yield pos, arg
        if arg.type == clingo.SymbolType.Function and arg.arguments:
            yield from data_positions(arg, pos)


def analyse(statements: list[ast.AST], inputs: frozenset[str], keyed: frozenset[str],
            data_atoms: list[clingo.Symbol]) -> Analysis:
    """The sort analysis of a program (the statements clingo grounds), given the names of
    the input predicates, which of them carry the case key first, and every data atom
    (data facts and what rules derive from data alone). Raises Refused."""
    walker = _Walker(inputs)
    for index, node in enumerate(statements):
        if node.ast_type not in ALLOWED_STATEMENTS:
            raise Refused(f"a statement of kind {node.ast_type.name}")
        if node.ast_type == T.ShowSignature and node.name in inputs:
            raise Refused(f"#show {node.name}/{node.arity} (an input predicate)")
        if node.ast_type == T.Program and (node.name != "base" or node.parameters):
            raise Refused(f"#program {node.name}")
        if node.ast_type == T.Rule:
            walker.rule(node, index)
    uf = walker.uf
    heads = walker.heads
    if any(name in inputs for name, _ in heads):
        raise Refused("a rule derives an input predicate")

    # derived predicates that depend on inputs (case level), the rest is data level
    case_level: set[tuple[str, int]] = set()
    changed = True
    while changed:
        changed = False
        for head in heads:
            if head not in case_level and any(p[0] in inputs or p in case_level for p in walker.body_preds[head]):
                case_level.add(head)
                changed = True
    # values the data puts at each position
    for sym in data_atoms:
        for pos, value in data_positions(sym):
            node = ("pos", pos)
            uf.add(node)
            if value.type == clingo.SymbolType.Function and value.arguments:
                uf.sort(node).structured = True

    # input positions and their sorts
    input_positions = [((name, arity, i),) for name, arity in walker.input_arities.items() for i in range(arity)]
    for pos in input_positions:
        uf.add(("pos", pos))
    case_root = None
    for name in sorted(keyed & set(walker.input_arities)):
        node = ("pos", ((name, walker.input_arities[name], 0),))
        if case_root is None:
            case_root = uf.find(node)
        else:
            uf.union(case_root, node)
            case_root = uf.find(case_root)

    roots = {uf.find(("pos", pos)) for pos in input_positions}
    kinds: dict = {}
    data_values: dict = defaultdict(set)
    for sym in data_atoms:
        for pos, value in data_positions(sym):
            data_values[uf.find(("pos", pos))].add(value)

    if case_root is not None:
        _check_case_sort(walker, uf, case_root, data_values)
        kinds[case_root] = "case"
    _check_facts_about_values(walker, uf, case_root, inputs, keyed, case_level)
    for root in roots:
        if root == case_root:
            continue
        sort = uf.info[root]
        if sort.computed or sort.structured:
            kinds[root] = "exact"
        elif _projected(walker, uf, root, inputs, case_level):
            kinds[root] = "class"
        else:
            kinds[root] = "injective"
        if sort.ordered and kinds[root] != "exact":
            values = sort.constants | data_values[root]
            if any(v.type != clingo.SymbolType.Number for v in values):
                kinds[root] = "exact"  # an order over strings or constants: stand-ins cannot keep it
    # every input whose argument 0 is of the case key's sort is keyed (seen so or not)
    keyed = frozenset(name for name, arity in walker.input_arities.items()
                      if arity and case_root is not None and uf.find(("pos", ((name, arity, 0),))) == case_root)
    analysis = Analysis(uf, inputs, keyed, frozenset(case_level), kinds, dict(walker.input_arities))
    analysis.data_values = {root: data_values[root] for root in roots}
    return analysis


def _check_case_sort(walker: _Walker, uf: _UnionFind, case_root, data_values) -> None:
    sort = uf.info[case_root]
    if sort.constants or sort.ordered or sort.computed or sort.structured or sort.counted or data_values[case_root]:
        raise Refused("the case key is compared, computed with or written as a constant by a rule")
    for facts in walker.rules:
        case_vars = {var for var in facts.occurrences if uf.find(var) == case_root}
        case_vars |= {var for var in facts.head_vars if uf.find(var) == case_root}
        if len(case_vars) > 1:
            raise Refused("a rule joins two cases (two variables of the case key)")
        if case_vars and not (case_vars & facts.head_vars):
            raise Refused(f"a rule for {facts.head[0]}/{facts.head[1]} reads a case but its head does not carry the case key")


def _check_facts_about_values(walker: _Walker, uf: _UnionFind, case_root, inputs: frozenset[str],
                              keyed: frozenset[str], case_level: set) -> None:
    """Inputs with no case key (code_num: a code's number) are facts about a value, made once
    a solver run for every value its cases bring; in batch's clingo runs a chunk of cases
    shares them. A case is answered alone here, so its answer must not depend on such facts
    about values it does not bring: each rule deriving from them without a case (code_listed)
    must be about one value (argument 0 of every such literal and of its head the same
    variable), and a rule with a case may read them only about a value one of its case
    literals brings (argument 0 a variable of a positive literal that carries the case)."""
    if case_root is None:
        return
    value_preds = {(name, arity) for name, arity in walker.input_arities.items() if name not in keyed}
    without_case = [facts for facts in walker.rules
                    if not any(uf.find(v) == case_root for v in [*facts.occurrences, *facts.head_vars])]
    changed = True
    while changed:
        changed = False
        for facts in without_case:
            if facts.head not in value_preds and any(lit[0] in value_preds for lit in facts.literals):
                value_preds.add(facts.head)
                changed = True
    if not value_preds:
        return
    no_case = {id(facts) for facts in without_case}
    for facts in walker.rules:
        about = [lit for lit in facts.literals if lit[0] in value_preds]
        if not about:
            continue
        if id(facts) in no_case:
            subject = facts.head_first
            if subject is None or subject[0] != "var" or any(
                    not positive or first != subject for _, positive, _, first in about):
                raise Refused(f"a rule for {facts.head[0]}/{facts.head[1]} reads facts about values "
                              "(code_num) of more than one value")
            continue
        bound = {v for v, occs in facts.occurrences.items()
                 if any(o.positive and not o.in_aggregate and o.pred not in value_preds
                        and (o.pred[0] in keyed or o.pred in case_level) for o in occs)}
        for pred, _, _, first in about:
            if first is None or first[0] != "var" or first not in bound:
                raise Refused(f"a rule for {facts.head[0]}/{facts.head[1]} reads {pred[0]}/{pred[1]} about a value "
                              "none of its case's facts brings (the answer would depend on other cases of a batch)")


def _projected(walker: _Walker, uf: _UnionFind, root, inputs: frozenset[str], case_level: set) -> bool:
    """True when the sort's values reach no case-level head and each of its variables is
    read from at most one input literal (positively), is in no #count tuple and is
    compared only with constants or with variables no input literal binds."""
    sort = uf.info[root]
    if sort.counted:
        return False
    for pos in sort.positions:
        pred = pos[1][0][:2]
        if pred in case_level or pred[0] == "__by" or len(pos[1]) > 1 and pos[1][0][0] == "__by":
            return False
    for facts in walker.rules:
        mine = [var for var in facts.occurrences if uf.find(var) == root]
        input_bound = set()
        for var in mine:
            occ = [o for o in facts.occurrences[var] if o.pred[0] in inputs]
            if len(occ) > 1 or any(not o.positive for o in occ):
                return False
            if var in facts.head_vars and facts.head in case_level:
                return False
            if occ:
                input_bound.add(var)
        for left, right in facts.comparisons:
            for side, other in ((left, right), (right, left)):
                side_var = side[1] if side[0] == "computed" else side if side[0] == "var" else None
                if side_var is None or uf.find(side_var) != root or side_var not in input_bound:
                    continue
                other_var = other[1] if other[0] == "computed" else other if other[0] == "var" else None
                if other_var is not None and other_var in input_bound:
                    return False
    return True
