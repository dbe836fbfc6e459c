"""Cases in, solver atoms out: many cases share one clingo Control (ground once, solve once).

Facts reach clingo as symbols through the backend, never as program text. Each case gets
a number as its key (the first argument of every case atom), so cases cannot meet and a
case id is only ever data that Python echoes back.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import clingo
from clingo import ast

from .case import Case
from .errors import PolicyError
from .policy import Policy, _head_signature

F, S, N = clingo.Function, clingo.String, clingo.Number
TRUE, FALSE = F("true"), F("false")
# Heads whose rules `check` names per line and per indication (cheap to track).
DECIDING = frozenset({"payable", "denied", "bundled", "not_addressed", "indication"})
EVERYTHING = frozenset({"*"})


class Symbols(dict):
    """Each text (a String) or whole number (a Number) made into a symbol once per solver run:
    a chunk of cases repeats its lesion ids, codes, sites and line numbers."""

    def __missing__(self, value: str | int) -> clingo.Symbol:
        sym = self[value] = S(value) if isinstance(value, str) else N(value)
        return sym


def case_facts(k: clingo.Symbol, case: Case, out: list[clingo.Symbol], sym: Symbols, code_nums: dict[str, clingo.Symbol | None]) -> None:
    """The facts of one case, keyed by `k` (logic/input.lp documents each predicate)."""
    out.append(F("case", [k]))
    if case.immunosuppressed is not None:
        out.append(F("immunosuppressed", [k, TRUE if case.immunosuppressed else FALSE]))
    for lesion in case.lesions:
        lid = sym[lesion.id]
        out.append(F("lesion", [k, lid]))
        out.append(F("diagnosis", [k, lid, sym[lesion.diagnosis]]))
        out.append(F("site", [k, lid, sym[lesion.site]]))
        if lesion.size_um is not None:
            out.append(F("size_um", [k, lid, sym[lesion.size_um]]))
        if lesion.borders is not None:
            out.append(F("borders", [k, lid, sym[lesion.borders]]))
        for term in lesion.histology:
            out.append(F("histology", [k, lid, sym[term]]))
        for name, value in lesion.flags:
            out.append(F(name, [k, lid, TRUE if value else FALSE]))
    for line in case.lines:
        n = sym[line.number]
        code = sym[line.code]
        out.append(F("line", [k, n, code]))
        out.append(F("units", [k, n, sym[line.units]]))
        for position, lid in enumerate(line.lesions, start=1):
            out.append(F("line_lesion", [k, n, sym[lid], sym[position]]))
        if line.pre_surgical is not None:
            out.append(F("pre_surgical", [k, n, TRUE if line.pre_surgical else FALSE]))
        if line.code not in code_nums:
            code_nums[line.code] = F("code_num", [code, sym[int(line.code)]]) if line.code.isdigit() else None
            if code_nums[line.code] is not None:
                out.append(code_nums[line.code])


@dataclass
class Solved:
    """What the solver said about one case: its shown atoms, and the rules that fired."""

    atoms: list[clingo.Symbol] = field(default_factory=list)
    fired: list[tuple[str, tuple[clingo.Symbol, ...]]] = field(default_factory=list)
    shared: list[clingo.Symbol] = field(default_factory=list)  # data facts (with `everything`)


def _not_one_answer(policy: Policy, ctl: clingo.Control, found: int) -> str:
    """Why a policy gave no answer or two, with the rules that can cause it (logic/FILE.lp:LINE):
    for none, its constraints; for two, its choices and disjunctions, or if it has none, the
    rules reaching through `not` to an atom on which the two answers differ (an even loop)."""
    rules = [n for n in policy.statements if n.ast_type == ast.ASTType.Rule]
    if found == 0:
        said, suspects = "has no answer for this case (its rules contradict each other)", \
            [n for n in rules if n.head.ast_type == ast.ASTType.Literal and n.head.atom.ast_type == ast.ASTType.BooleanConstant]
    else:
        answers: list[set[clingo.Symbol]] = []
        ctl.solve(on_model=lambda model: answers.append(set(model.symbols(atoms=True))))
        differ = {(sym.name, len(sym.arguments)) for sym in answers[0] ^ answers[1]} if len(answers) > 1 else set()
        said = "gives more than one answer for this case (a choice, or a loop through `not`)"
        suspects = [n for n in rules if n.head.ast_type != ast.ASTType.Literal] or [  # a choice, a disjunction
            n for n in rules if _head_signature(n.head) in differ and any(
                lit.ast_type == ast.ASTType.Literal and lit.sign != ast.Sign.NoSign and _head_signature(lit) in differ
                for lit in n.body)]
    where = ", ".join(dict.fromkeys(f"{policy._rel(n.location.begin.filename)}:{n.location.begin.line}" for n in suspects))
    return f"the policy {said}" + (f"; look at {where}" if where else "")


def solve(policy: Policy, cases: list[Case], track: frozenset[str] | None = DECIDING, everything: bool = False,
          warnings: list[str] | None = None) -> list[Solved]:
    """Ground and solve `cases` together; one Solved per case, in order.

    `track`: record which rules fired for these head predicates (None: none).
    `everything`: return every atom (data facts and helpers too), for explanations.
    `warnings`: if given, receives every message clingo logs, in an author's words (for lint).
    """
    messages: list[str] = []
    undefined: list[str] = []

    def logger(code: clingo.MessageCode, message: str) -> None:
        if warnings is not None:
            warnings.append(policy._clean_message(message))
        if code == clingo.MessageCode.AtomUndefined:
            if "does not occur in any rule head" in message:  # input predicates are #defined: a typo
                undefined.append(message.strip())
        else:
            messages.append(message.strip())

    ctl = clingo.Control(["--models=2"], logger=logger, message_limit=20)
    try:
        with clingo.ast.ProgramBuilder(ctl) as builder:
            for statement in policy.program(track):
                builder.add(statement)
        facts = list(policy.data.facts)
        symbols, code_nums = Symbols(), {}
        for key, case in enumerate(cases):
            case_facts(symbols[key], case, facts, symbols, code_nums)
        with ctl.backend() as backend:
            for fact in facts:
                backend.add_rule([backend.add_atom(fact)])
        ctl.ground([("base", [])])
    except RuntimeError as e:
        detail = "\n".join(policy._clean_message(m) for m in messages) or str(e)
        raise PolicyError(f"the policy does not ground:\n{detail}") from None
    if undefined and warnings is None:  # a rule reading what nothing defines would answer wrongly; lint lists them
        detail = "\n".join(policy._clean_message(m) for m in undefined)
        raise PolicyError(f"the policy reads atoms that no rule, data file or case defines (a typo?):\n{detail}")

    models: list[list[clingo.Symbol]] = []

    def on_model(model: clingo.Model) -> None:
        models.append(model.symbols(atoms=True) if everything else model.symbols(shown=True))

    ctl.solve(on_model=on_model)
    if len(models) != 1:
        raise PolicyError(_not_one_answer(policy, ctl, len(models)))

    out = [Solved() for _ in cases]
    keyed = policy.case_predicates
    shared: list[clingo.Symbol] = []
    number = {symbols[key]: key for key in range(len(cases))}  # a case's key symbol -> its index
    rule_ids: dict[clingo.Symbol, str] = {}
    for sym in models[0]:  # each Symbol method is a call into clingo: few calls per atom
        name, args = sym.name, sym.arguments
        key = number.get(args[0]) if args else None
        if name == "__fired":
            if key is not None:
                rule_id = rule_ids.get(args[1]) or rule_ids.setdefault(args[1], args[1].string)
                out[key].fired.append((rule_id, tuple(args[2].arguments)))
        elif key is not None and name in keyed:
            out[key].atoms.append(sym)
        else:
            shared.append(sym)
    if everything:
        for solved in out:
            solved.shared = shared
    return out
