"""A policy's rules as a graph of predicates, read off the rule model (mohs_asp/policy/rulebook.py):
which predicates each reads, directly or not; which can hold with the data, and so which rules
cannot fire (lint warns, and `mohs-asp test` leaves them out of its coverage); and the values
each predicate's arguments can take (lint checks the constants rules read against them).
"""

from __future__ import annotations

from collections import defaultdict
from functools import cached_property

import clingo
from clingo import ast

from ..case import format as case_format
from ..policy.load import CASE_FACT_PREDICATES, Policy
from ..policy.rule_ast import Key, Use, constant

T = ast.ASTType
OPEN = None  # a position whose values come from the case (ids, codes, numbers): not checked


class RuleGraph:
    """A policy's rules as a graph of predicates: what each reads (reach), what can hold with the
    data (live, dormant) and which values each argument can take (domains)."""

    def __init__(self, policy: Policy):
        self.policy = policy
        self.defined = policy.rulebook.defined
        self.facts: dict[Key, list[clingo.Symbol]] = defaultdict(list)
        for fact in policy.data.facts:
            self.facts[(fact.name, len(fact.arguments))].append(fact)
        self.derived = {k for r in policy.rules for k, _ in r.heads}

    def is_case(self, key: Key) -> bool:
        return key[0] in CASE_FACT_PREDICATES and key not in self.derived

    @cached_property
    def reach(self) -> dict[Key, set[Key]]:
        """For each predicate, every predicate its rules read, directly or not."""
        edges: dict[Key, set[Key]] = defaultdict(set)
        for r in self.policy.rules:
            for h, _ in r.heads:
                edges[h].update(u.key for u in r.uses)
        reach: dict[Key, set[Key]] = {}
        for start in list(edges):
            seen: set[Key] = set()
            todo = list(edges[start])
            while todo:
                k = todo.pop()
                if k not in seen:
                    seen.add(k)
                    todo.extend(edges.get(k, ()))
            reach[start] = seen
        return reach

    @cached_property
    def live(self) -> set[Key]:
        """Predicates that can hold: case facts, data facts, and heads of rules that can fire."""
        live = {k for k in self.facts if self.facts[k]}
        changed = True
        while changed:
            changed = False
            for r in self.policy.rules:
                if all(self._can_hold(u.key, live) for u in r.uses if u.binds):
                    for h, _ in r.heads:
                        if h not in live:
                            live.add(h)
                            changed = True
        return live

    def _can_hold(self, key: Key, live: set[Key]) -> bool:
        return key in live or self.is_case(key)

    def dormant(self) -> dict[str, list[Key]]:
        """Rules that cannot fire with this data, each with the predicates nothing gives."""
        out = {}
        for r in self.policy.rules:
            missing = [u.key for u in r.uses if u.binds and not self._can_hold(u.key, self.live)]
            if missing and r.heads:
                out[r.id] = list(dict.fromkeys(missing))
        return out

    @cached_property
    def domains(self) -> dict[tuple[Key, int], set[clingo.Symbol] | None]:
        """The values each predicate position can take: from the data for data predicates, from
        the vocabulary for the case's coded fields, and propagated through the rules for derived
        predicates. OPEN (None) where the case decides (ids, codes, numbers)."""
        data = self.policy.data
        dom: dict[tuple[Key, int], set[clingo.Symbol] | None] = {}
        for key, facts in self.facts.items():
            for i in range(key[1]):
                dom[(key, i)] = {f.arguments[i] for f in facts}
        booleans = {clingo.Function("true"), clingo.Function("false")}
        vocab = {}  # the case's coded fields (case/format.py): a value of data/'s vocabulary, or true/false
        arity = case_format.facts()
        for fields in case_format.RECORDS.values():
            for f in fields:
                if f.fact is not None and (f.vocabulary or f.type == "flag"):
                    values = booleans if f.type == "flag" else {clingo.String(t) for t in getattr(data, f.vocabulary[0])}
                    vocab[(f.fact, arity[f.fact], arity[f.fact] - 1)] = values
        for name in CASE_FACT_PREDICATES:
            for (n, arity, i), values in vocab.items():
                if n == name:
                    dom[((n, arity), i)] = set(values)
        for key in self.defined:  # a #defined predicate with no data: no values (unless derived)
            for i in range(key[1]):
                dom.setdefault((key, i), OPEN if self.is_case(key) else set())
        for key in self.derived:
            for i in range(key[1]):
                dom.setdefault((key, i), set())
        changed = True
        while changed:
            changed = False
            for r in self.policy.rules:
                for key, args in r.heads:
                    for i, arg in enumerate(args):
                        if dom.get((key, i)) is OPEN:
                            continue
                        values = self._values(arg, r.uses, dom)
                        if values is OPEN:
                            dom[(key, i)] = OPEN
                            changed = True
                        elif not values <= dom[(key, i)]:
                            dom[(key, i)] |= values
                            changed = True
        return dom

    @staticmethod
    def _values(arg: ast.AST, uses: tuple[Use, ...], dom) -> set[clingo.Symbol] | None:
        const = constant(arg)
        if const is not None:
            return {const}
        if arg.ast_type != T.Variable:
            return OPEN
        found: set[clingo.Symbol] | None = OPEN
        for u in uses:
            if not u.binds:
                continue
            for j, a in enumerate(u.args):
                if a.ast_type == T.Variable and a.name == arg.name and (u.key, j) in dom and dom[(u.key, j)] is not OPEN:
                    found = set(dom[(u.key, j)]) if found is OPEN else found & dom[(u.key, j)]
        return found
