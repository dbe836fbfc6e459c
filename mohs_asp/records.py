"""The firing records: rules added beside a policy's own, so that the solver says which rule
derived what (and with which values of its variables), read off the rule model.

- `__by(I, Head) :- Body.` for rule number I whose head predicate is tracked: the answer
  names the rule that decided each line and indication.
- `__said(I, Head, (V1,...,Vn)) :- Body.` instead, for a tracked rule with `% because:`
  words (when not everything is tracked): rule I derived this head, with these values of the
  variables its words name; `check` words each line's reasons with them.
- `__fired(C, I, (V1,...,Vn)) :- Body.` for every rule, when everything is tracked: rule I
  fired with these values of its variables (C is the head's first argument, the case);
  explanations fill the rule's `% because:` words with them, and `mohs-asp test` counts
  which rules fired.
"""

from __future__ import annotations

import clingo
from clingo import ast

from .rule import Rule


def instrumented(statements: list[ast.AST], rules: list[Rule], track: frozenset[str] | None) -> list[ast.AST]:
    """The statements to ground; with `track`, also a firing record for each of the rules
    (numbered by their place in `rules`) whose head predicate is in `track` (or every rule
    when `track` holds "*")."""
    everything = bool(track) and "*" in track
    # the tracked heads are read off their __by records: not shown a second time
    out = [n for n in statements
           if everything or not track or n.ast_type != ast.ASTType.ShowSignature or n.name not in track]
    if track:
        for index, rule in enumerate(rules):
            if rule.head and (everything or rule.head[0] in track):
                said = not everything and rule.said_variables
                out.append(said_by(rule, index) if said else decided_by(rule, index))
            if rule.head and everything:
                out.append(firing_rule(rule, index))
        ast.parse_string("#show __by/2. #show __said/3." + (" #show __fired/3." if everything else ""), out.append)
    return out


def firing_rule(rule: Rule, index: int) -> ast.AST:
    """`__fired(C, I, (V1,...,Vn)) :- Body.`: rule number I fired with these values of its
    variables; C is the head's first argument (the case). Explanations read the bindings."""
    loc = rule.node.location
    head_fn = rule.node.head.atom.symbol
    case_term = head_fn.arguments[0] if head_fn.ast_type == ast.ASTType.Function and head_fn.arguments else \
        ast.SymbolicTerm(loc, clingo.Number(0))
    values = ast.Function(loc, "", [ast.Variable(loc, v) for v in rule.variables], 0)
    atom = ast.SymbolicAtom(ast.Function(loc, "__fired", [case_term, ast.SymbolicTerm(loc, clingo.Number(index)), values], 0))
    return ast.Rule(loc, ast.Literal(loc, ast.Sign.NoSign, atom), rule.node.body)


def said_by(rule: Rule, index: int) -> ast.AST:
    """`__said(I, Head, (V1,...,Vn)) :- Body.`: rule number I derived this head, with these
    values of the variables its `% because:` words name (`check` words its reasons with them)."""
    loc = rule.node.location
    values = ast.Function(loc, "", [ast.Variable(loc, v) for v in rule.said_variables], 0)
    atom = ast.SymbolicAtom(ast.Function(loc, "__said", [ast.SymbolicTerm(loc, clingo.Number(index)),
                                                          rule.node.head.atom.symbol, values], 0))
    return ast.Rule(loc, ast.Literal(loc, ast.Sign.NoSign, atom), rule.node.body)


def decided_by(rule: Rule, index: int) -> ast.AST:
    """`__by(I, Head) :- Body.`: rule number I derived this head (the answer names the rule)."""
    loc = rule.node.location
    atom = ast.SymbolicAtom(ast.Function(loc, "__by", [ast.SymbolicTerm(loc, clingo.Number(index)), rule.node.head.atom.symbol], 0))
    return ast.Rule(loc, ast.Literal(loc, ast.Sign.NoSign, atom), rule.node.body)

