"""One rule of a policy's logic files, as the rule model holds it (mohs_asp/policy/rulebook.py reads
them all): its id, its quotes and words, where it is, its head predicate and its AST.

Annotations are comment lines above a rule:

    % rule: large_lesion
    % policy: "Exceptionally large-sized lesions (2.0 cm or greater) in any anatomic region."
    % because: "size {S:um} is at least {T:um}"
    indication(C,L,large_lesion) :- size_um(C,L,S), large_lesion_min_um(T), S >= T.

`% rule:` is the stable id; `% policy:` quotes the payer's sentence the rule encodes and
`% reading:` the contract's; `% because:` is the words an explanation gives when it fires,
with `{Variable}` or `{Variable:unit}` placeholders (PLACEHOLDER). Quotes are read by
`Annotations`, which also follows the literate layout: a rule that quotes nothing itself
takes the quotes of the paragraph heading its section (a comment block of quotes above it in
the same file that names no rule and stands above no rule of its own).

What lint, coverage and explanations read off the AST (the head's kind and atoms, the body's
literals and uses, the variables) is worked out when first asked for (mohs_asp/policy/rule_ast.py),
never on `check`'s path.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property

import clingo
from clingo import ast

ANNOTATION = re.compile(r"%\s*(rule|policy|reading|because|helper):\s*(.*?)\s*$")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_']*)(?::(\w+))?\}")  # in a `% because:`: {S} or {S:um}


def head_signature(head: ast.AST) -> tuple[str, int] | None:
    """The predicate (name, arity) of a rule head or body literal that is one plain atom, else None."""
    if head.ast_type == ast.ASTType.Literal and head.atom.ast_type == ast.ASTType.SymbolicAtom:
        term = head.atom.symbol
        if term.ast_type == ast.ASTType.Function:
            return term.name, len(term.arguments)
        if term.ast_type == ast.ASTType.SymbolicTerm and term.symbol.type == clingo.SymbolType.Function:
            return term.symbol.name, 0
    return None


def _unquote(text: str) -> str:
    """An annotation's quoted text: a JSON string (`"a \\"quoted\\" word"`), else what is
    between its outer quotes."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            value = json.loads(text)
        except ValueError:
            return text[1:-1]
        return value if isinstance(value, str) else text[1:-1]
    return text


class Annotations:
    """The annotation lines of the logic files (`% key: value`), read for the rule at a line.

    `comments` holds every comment line by (file, line); `starts` the (file, line) where each
    statement begins (a comment block right above one belongs to it)."""

    def __init__(self, comments: dict[tuple[str, int], str], starts: set[tuple[str, int]]):
        self.comments = comments
        self.starts = starts

    def block_above(self, file: str, line: int) -> dict[str, str]:
        """The annotations of the comment block ending right above `line`: the nearest line of each key."""
        notes: dict[str, str] = {}
        above = line - 1
        while (file, above) in self.comments:
            m = ANNOTATION.match(self.comments[(file, above)])
            if m and m.group(1) not in notes:
                notes[m.group(1)] = _unquote(m.group(2))
            above -= 1
        return notes

    def for_rule(self, file: str, line: int) -> dict[str, str]:
        """A rule's annotations: its own block's (the paragraph it sits under is the layout's:
        mohs_asp/policy/literate.py, read by the rulebook)."""
        return self.block_above(file, line)


class Rule:
    """One rule of logic/, with its annotations. (A plain class: a dataclass costs every `check`
    time to build at import.)"""

    def __init__(self, id: str, policy: str | None, because: str | None, file: str, line: int,
                 head: tuple[str, int] | None, node: ast.AST, annotated: bool = True, reading: str | None = None,
                 paragraph: str | None = None, paragraph_line: int | None = None, helper: bool = False):
        self.id = id
        self.policy = policy  # the payer's sentence (policy-source.txt) it encodes
        self.because = because  # the words an explanation gives when it fires
        self.file = file  # relative to the policy folder: logic/claims.lp
        self.line = line
        self.head = head  # predicate name and arity of the head atom
        self.node = node
        self.annotated = annotated  # it has a `% rule:` id
        self.reading = reading  # the contract's reading (policy.md, README.md) it follows
        self.paragraph = paragraph  # the payer's paragraph it sits under (mohs_asp/policy/literate.py)
        self.paragraph_line = paragraph_line  # where that paragraph is quoted, in the rule's file
        self.helper = helper  # serves the rules that quote (`% helper:`, or a head beginning with _): needs no quote

    def __repr__(self) -> str:
        return f"Rule({self.id!r}, {self.source})"

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}"

    def listing(self) -> dict:
        """The rule as `mohs-asp rules --format json` and serve's /rules list it."""
        return {"id": self.id, "source": self.source, "policy": self.policy,
                **({"reading": self.reading} if self.reading else {})}

    @property
    def placeholders(self) -> list[str]:
        """The variables its `% because:` names, in order."""
        return [m.group(1) for m in PLACEHOLDER.finditer(self.because or "")]

    @property
    def said_variables(self) -> tuple[str, ...]:
        """The variables its `% because:` words name ({L}, {S:um}), each once, in their order
        there: what its `__said` record binds (mohs_asp/policy/records.py), without reading its body."""
        return tuple(dict.fromkeys(self.placeholders))

    def variables_named(self, predicates: dict, name: str) -> frozenset[str]:
        """The variables of its body at an argument its predicate's `%!` signature calls `name`
        (L in `mms_line(C, N, L, K)`), read off the body's atoms without rule_ast (`check`'s path)."""
        found = set()
        for key, args in self.body_arguments:
            pred = predicates.get(key)
            if pred is not None:
                found.update(a for a, arg in zip(args, pred.args) if arg == name and a is not None)
        return frozenset(found)

    @cached_property
    def body_arguments(self) -> tuple[tuple[tuple[str, int], tuple[str | None, ...]], ...]:
        """Each body literal's atom with arguments: its (name, arity), and each argument's variable
        (None where it is not one). Plain values, kept with a cached policy (mohs_asp/policy/load.py),
        so that `check` walks no rule's nodes."""
        out = []
        for lit in self.node.body:
            symbol = getattr(getattr(lit, "atom", None), "symbol", None)
            args = getattr(symbol, "arguments", None)
            if args:
                out.append(((symbol.name, len(args)), tuple(a.name if a.ast_type.name == "Variable" else None
                                                              for a in args)))
        return tuple(out)

    # -- read off the AST when first asked for (mohs_asp/policy/rule_ast.py) --------------------------

    @cached_property
    def variables(self) -> tuple[str, ...]:
        """Its global variables, in first-seen order (what a firing record binds)."""
        from .rule_ast import rule_variables

        return rule_variables(self.node, self.head_terms, self.body)

    @cached_property
    def kind(self) -> str:
        """atom, constraint, choice, disjunction or other."""
        from .rule_ast import head_kind

        return head_kind(self.node)

    @cached_property
    def heads(self):
        """The atoms its head derives: ((name, arity), argument nodes) each."""
        from .rule_ast import head_atoms

        return head_atoms(self.node)

    @cached_property
    def uses(self):
        """The predicates its body reads (rule_ast.Use each), in order."""
        from .rule_ast import body_uses

        return body_uses(self.node)

    @cached_property
    def head_terms(self):
        """Its head atom's arguments (rule_ast.Term each)."""
        from .rule_ast import head_terms

        return head_terms(self.node)

    @cached_property
    def body(self):
        """Its body's literals (rule_ast.Lit each), in order."""
        from .rule_ast import literal

        return tuple(map(literal, self.node.body))

    def safe_order(self, bound=()) -> list:
        """Its body's literals in an order that binds each variable before a comparison or a
        negative literal reads it, given variables already bound (rule_ast.safe_order)."""
        from .rule_ast import safe_order

        key = frozenset(bound)
        if key not in self._orders:
            self._orders[key] = safe_order(self.body, key)
        return self._orders[key]

    @cached_property
    def _orders(self) -> dict:
        return {}


@dataclass(frozen=True)
class Predicate:
    """A predicate's description for explanations (`%! name(Args)` then `%!   holds: "..."`,
    `%!   absent: "..."`)."""

    name: str
    args: tuple[str, ...]
    holds: str | None = None
    absent: str | None = None
    source: str = ""

    @property
    def key(self) -> tuple[str, int]:
        return self.name, len(self.args)
