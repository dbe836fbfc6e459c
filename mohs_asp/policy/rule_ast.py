"""The parts of a rule, read off its clingo AST into plain Python: its head's kind and atoms,
its body's literals and the predicates they read, each term, and its variables.

A Rule (mohs_asp/policy/rule.py) reads these when first asked for: `check` never does (it needs no
more than each rule's head predicate), so this module stays off its path; lint, the test
runner's coverage, the firing records and explanations do.
"""

from __future__ import annotations

from dataclasses import dataclass

import clingo
from clingo import ast

T = ast.ASTType
Key = tuple[str, int]  # a predicate: name and arity


class Unread(Exception):
    """A term or literal these plain parts do not model (an aggregate, a pool...)."""


@dataclass(frozen=True, slots=True)
class Term:
    kind: str  # "var", "any" (_X), "val" (a constant), "fn" (a function or tuple), "op" (arithmetic), "?"
    node: ast.AST  # quoted (str) when an explanation names the term itself
    name: str = ""  # of a var, any or fn ("" for a tuple)
    value: clingo.Symbol | None = None  # of a val
    args: tuple[Term, ...] = ()  # of a fn; an op's two operands
    op: object = None  # of an op: its ast.BinaryOperator
    vars: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Lit:
    kind: str  # "pos", "neg", "cmp" (one guard), "bool", "other" (an aggregate...)
    node: ast.AST  # quoted (str) when an explanation names the literal itself
    vars: frozenset[str]
    name: str | None = None  # pos/neg: the predicate; None for an atom not read here (a pool)
    args: tuple[Term, ...] = ()  # pos/neg: the atom's arguments; cmp: its two sides
    op: object = None  # cmp: the comparison operator (ast.ComparisonOperator)
    value: bool = False  # bool

    def parts(self) -> tuple[str, tuple[Term, ...]]:
        if self.name is None:
            raise Unread
        return self.name, self.args


@dataclass(frozen=True)
class Use:
    """A predicate read in a rule's body."""

    key: Key
    args: tuple[ast.AST, ...]
    binds: bool  # a plain positive literal: it binds its variables
    negative: bool  # under `not`, in an aggregate or a condition (matters for one answer)
    location: ast.Location
    negated: bool = False  # under `not` (its own, or that of the aggregate or conditional literal it is in)


# -- variables -------------------------------------------------------------------------------


_LEAF_KEYS = frozenset({"location", "name", "sign", "external", "comparison", "operator_type", "function", "value",
                        "string", "sequence_type"})
_CHILD_KEYS: dict[object, tuple[str, ...]] = {}  # by AST type: the fields that may hold terms or literals


def _collect(node: ast.AST, into: dict[str, None]) -> None:
    """The named variables (not `_`, not `_X`) below a node, in source order."""
    kind = node.ast_type
    if kind == T.Variable:
        if not node.name.startswith("_"):
            into.setdefault(node.name)
        return
    if kind == T.SymbolicTerm:
        return
    keys = _CHILD_KEYS.get(kind)
    if keys is None:
        keys = _CHILD_KEYS[kind] = tuple(k for k in node.keys() if k not in _LEAF_KEYS)  # noqa: SIM118 -- an AST node, not a dict
    for key in keys:
        child = getattr(node, key)
        if isinstance(child, ast.AST):
            _collect(child, into)
        elif child is not None and not isinstance(child, (str, int)):
            for item in child:
                if isinstance(item, ast.AST):
                    _collect(item, into)


_BOUND_BY = ("arguments", "left", "right", "argument", "term", "symbol", "atom")


def variables_in(node: ast.AST) -> frozenset[str]:
    """The named variables of a term or literal that explanations bind: in its arguments,
    operands, atom and comparison guards, not inside an aggregate's elements or guards."""
    found: set[str] = set()

    def walk(t):
        if t.ast_type == T.Variable and not t.name.startswith("_"):
            found.add(t.name)
        for key in _BOUND_BY:
            child = getattr(t, key, None) if key in t.keys() else None  # noqa: SIM118 -- an AST node
            if isinstance(child, ast.AST):
                walk(child)
            elif isinstance(child, (list, tuple, ast.ASTSequence)):
                for c in child:
                    walk(c)
        if t.ast_type == T.Comparison:
            for g in t.guards:
                walk(g.term)

    walk(node)
    return frozenset(found)


def rule_variables(node: ast.AST, head: tuple[Term, ...], body: tuple[Lit, ...]) -> tuple[str, ...]:
    """A rule's global variables in first-seen order: those of its head and of its body's
    literals and aggregate guards (a variable local to an aggregate element is left out).
    Read off the rule's head terms and body literals (`head_terms`, `literal`: explanations
    read them too), walking the AST again only for what they do not model."""
    found: dict[str, None] = {}

    def terms(ts: tuple[Term, ...]) -> None:
        for t in ts:
            if t.kind == "var":
                found.setdefault(t.name)
            elif t.kind in ("fn", "op"):
                terms(t.args)
            elif t.kind == "?":
                _collect(t.node, found)

    if head or _is_atom(node.head):
        terms(head)
    else:
        _collect(node.head, found)
    for lit in body:
        if lit.kind in ("cmp",) or (lit.kind in ("pos", "neg") and lit.name is not None and
                                    lit.node.atom.symbol.ast_type == T.Function):
            terms(lit.args)
        elif lit.node.ast_type == T.Literal and lit.node.atom.ast_type == T.BodyAggregate:
            for guard in (lit.node.atom.left_guard, lit.node.atom.right_guard):
                if guard is not None:
                    _collect(guard.term, found)
        elif lit.kind != "bool":
            _collect(lit.node, found)
    return tuple(found)


def _is_atom(head: ast.AST) -> bool:
    return head.ast_type == T.Literal and head.atom.ast_type == T.SymbolicAtom


# -- terms and literals ----------------------------------------------------------------------


def term(node: ast.AST) -> Term:
    t = node.ast_type
    if t == T.Variable:
        anonymous = node.name.startswith("_")
        return Term("any" if anonymous else "var", node, node.name, vars=frozenset(() if anonymous else (node.name,)))
    if t == T.SymbolicTerm:
        return Term("val", node, value=node.symbol)
    if t == T.Function:
        args = tuple(map(term, node.arguments))
        return Term("fn", node, node.name, args=args, vars=_union(args))
    if t == T.BinaryOperation:
        args = (term(node.left), term(node.right))
        return Term("op", node, args=args, op=node.operator_type, vars=_union(args))
    return Term("?", node, vars=variables_in(node))


def _union(terms) -> frozenset[str]:
    return frozenset().union(*(t.vars for t in terms))


def literal(node: ast.AST) -> Lit:
    if node.ast_type != T.Literal:
        return Lit("other", node, variables_in(node))
    atom = node.atom
    if atom.ast_type == T.SymbolicAtom:
        sym, kind = atom.symbol, "pos" if node.sign == ast.Sign.NoSign else "neg"
        if sym.ast_type == T.Function:
            args = tuple(map(term, sym.arguments))
            return Lit(kind, node, _union(args), sym.name, args)
        name = sym.symbol.name if sym.ast_type == T.SymbolicTerm and \
            sym.symbol.type == clingo.SymbolType.Function else None
        return Lit(kind, node, variables_in(node), name)
    if atom.ast_type == T.Comparison and node.sign == ast.Sign.NoSign and len(atom.guards) == 1:
        args = (term(atom.term), term(atom.guards[0].term))
        return Lit("cmp", node, _union(args), args=args, op=atom.guards[0].comparison)
    if atom.ast_type == T.BooleanConstant:
        return Lit("bool", node, frozenset(), value=bool(atom.value))
    return Lit("other", node, variables_in(node))


def head_terms(node: ast.AST) -> tuple[Term, ...]:
    """The arguments of a rule's head atom (none for a constant or a head of another kind)."""
    head = node.head
    if head.ast_type != T.Literal or head.atom.ast_type != T.SymbolicAtom:
        return ()
    symbol = head.atom.symbol
    return tuple(map(term, symbol.arguments)) if symbol.ast_type == T.Function else ()


def safe_order(body: tuple[Lit, ...], bound: frozenset[str]) -> list[Lit]:
    """Body literals in source order, except that a comparison or negative literal waits
    until the positive literals before it have bound its variables (those in `bound` are
    bound from the start)."""
    pending, out, known = list(body), [], set(bound)
    while pending:
        for i, lit in enumerate(pending):
            if lit.kind == "pos" or lit.vars <= known or all(p.kind != "pos" for p in pending):
                out.append(pending.pop(i))
                if lit.kind == "pos":
                    known |= lit.vars
                break
    return out


# -- what a rule reads and derives -----------------------------------------------------------


def atom_of(node: ast.AST) -> tuple[Key, tuple[ast.AST, ...]] | None:
    """A symbolic term as an atom: its predicate and its argument terms."""
    if node.ast_type == T.Function and node.name and not node.external:
        return (node.name, len(node.arguments)), tuple(node.arguments)
    if node.ast_type == T.SymbolicTerm and node.symbol.type == clingo.SymbolType.Function and node.symbol.name:
        sym = node.symbol
        return (sym.name, len(sym.arguments)), tuple(ast.SymbolicTerm(node.location, a) for a in sym.arguments)
    return None


def constant(node: ast.AST) -> clingo.Symbol | None:
    """The value of a term that is a constant (a number, a string, a name), else None."""
    if node.ast_type == T.SymbolicTerm:
        return node.symbol
    if node.ast_type == T.Function and not node.arguments and node.name and not node.external:
        return clingo.Function(node.name)
    return None


def body_uses(node: ast.AST) -> tuple[Use, ...]:
    out: list[Use] = []

    def read(lit: ast.AST, nested: bool, negated: bool) -> None:
        if lit.ast_type == T.ConditionalLiteral:
            read(lit.literal, True, negated)
            for c in lit.condition:
                read(c, True, negated)
            return
        atom = lit.atom
        plain = lit.sign == ast.Sign.NoSign
        negated = negated or not plain
        if atom.ast_type == T.SymbolicAtom:
            found = atom_of(atom.symbol)
            if found:
                out.append(Use(found[0], found[1], plain and not nested, not plain or nested, lit.location, negated))
        elif atom.ast_type == T.BodyAggregate:
            for element in atom.elements:
                for c in element.condition:
                    read(c, True, negated)
        elif atom.ast_type == T.Aggregate:
            for element in atom.elements:
                read(element, True, negated)

    for lit in node.body:
        read(lit, False, False)
    return tuple(out)


def head_kind(node: ast.AST) -> str:
    """atom, constraint, choice, disjunction or other."""
    head = node.head
    if head.ast_type == T.Literal:
        if head.sign != ast.Sign.NoSign or head.atom.ast_type == T.BooleanConstant:
            return "constraint"
        return "atom" if head.atom.ast_type == T.SymbolicAtom else "other"
    if head.ast_type == T.Disjunction:
        return "disjunction"
    if head.ast_type in (T.Aggregate, T.HeadAggregate):
        return "choice"
    return "other"


def head_atoms(node: ast.AST) -> tuple[tuple[Key, tuple[ast.AST, ...]], ...]:
    head = node.head
    terms = []
    if head.ast_type == T.Literal and head.atom.ast_type == T.SymbolicAtom:
        terms = [head.atom.symbol]
    elif head.ast_type in (T.Disjunction, T.Aggregate):
        terms = [e.literal.atom.symbol for e in head.elements if e.literal.atom.ast_type == T.SymbolicAtom]
    elif head.ast_type == T.HeadAggregate:
        terms = [e.condition.literal.atom.symbol for e in head.elements if e.condition.literal.atom.ast_type == T.SymbolicAtom]
    return tuple(found for found in map(atom_of, terms) if found)
