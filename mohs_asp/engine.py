"""Cases in, solver atoms out: many cases share one clingo Control (ground once, solve once).

Facts reach clingo as symbols through the backend, never as program text. Each case gets
a number as its key (the first argument of every case atom), so cases cannot meet and a
case id is only ever data that Python echoes back.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import clingo

from .case import Case
from .errors import PolicyError
from .policy import Policy

F, S, N = clingo.Function, clingo.String, clingo.Number
TRUE, FALSE = F("true"), F("false")
# Heads whose rules `check` names per line and per indication (cheap to track).
DECIDING = frozenset({"payable", "denied", "bundled", "not_addressed", "indication", "decision"})
EVERYTHING = frozenset({"*"})


def case_facts(key: int, case: Case, out: list[clingo.Symbol], code_nums: dict[str, clingo.Symbol | None]) -> None:
    """The facts of one case (logic/input.lp documents each predicate)."""
    k = N(key)
    out.append(F("case", [k]))
    if case.immunosuppressed is not None:
        out.append(F("immunosuppressed", [k, TRUE if case.immunosuppressed else FALSE]))
    for lesion in case.lesions:
        lid = S(lesion.id)
        out.append(F("lesion", [k, lid]))
        out.append(F("diagnosis", [k, lid, S(lesion.diagnosis)]))
        out.append(F("site", [k, lid, S(lesion.site)]))
        if lesion.size_um is not None:
            out.append(F("size_um", [k, lid, N(lesion.size_um)]))
        if lesion.borders is not None:
            out.append(F("borders", [k, lid, S(lesion.borders)]))
        for term in lesion.histology:
            out.append(F("histology", [k, lid, S(term)]))
        for name, value in lesion.flags:
            out.append(F(name, [k, lid, TRUE if value else FALSE]))
    for line in case.lines:
        n = N(line.number)
        code = S(line.code)
        out.append(F("line", [k, n, code]))
        out.append(F("units", [k, n, N(line.units)]))
        for position, lid in enumerate(line.lesions, start=1):
            out.append(F("line_lesion", [k, n, S(lid), N(position)]))
        if line.pre_surgical is not None:
            out.append(F("pre_surgical", [k, n, TRUE if line.pre_surgical else FALSE]))
        if line.code not in code_nums:
            code_nums[line.code] = F("code_num", [code, N(int(line.code))]) if line.code.isdigit() else None
            if code_nums[line.code] is not None:
                out.append(code_nums[line.code])


@dataclass
class Solved:
    """What the solver said about one case: its shown atoms, and the rules that fired."""

    atoms: list[clingo.Symbol] = field(default_factory=list)
    fired: list[tuple[str, tuple[clingo.Symbol, ...]]] = field(default_factory=list)
    shared: list[clingo.Symbol] = field(default_factory=list)  # data facts (with `everything`)


def solve(policy: Policy, cases: list[Case], track: frozenset[str] | None = DECIDING, everything: bool = False) -> list[Solved]:
    """Ground and solve `cases` together; one Solved per case, in order.

    `track`: record which rules fired for these head predicates (None: none).
    `everything`: return every atom (data facts and helpers too), for explanations.
    """
    messages: list[str] = []

    def logger(code: clingo.MessageCode, message: str) -> None:
        if code != clingo.MessageCode.AtomUndefined:  # input predicates are #defined; lint reports the rest
            messages.append(message.strip())

    ctl = clingo.Control(["--models=2"], logger=logger, message_limit=20)
    try:
        with clingo.ast.ProgramBuilder(ctl) as builder:
            for statement in policy.program(track):
                builder.add(statement)
        facts = list(policy.data.facts)
        code_nums: dict[str, clingo.Symbol | None] = {}
        for key, case in enumerate(cases):
            case_facts(key, case, facts, code_nums)
        with ctl.backend() as backend:
            for fact in facts:
                backend.add_rule([backend.add_atom(fact)])
        ctl.ground([("base", [])])
    except RuntimeError as e:
        detail = "\n".join(policy._clean_message(m) for m in messages) or str(e)
        raise PolicyError(f"the policy does not ground:\n{detail}") from None

    models: list[list[clingo.Symbol]] = []

    def on_model(model: clingo.Model) -> None:
        models.append(model.symbols(atoms=True) if everything else model.symbols(shown=True))

    ctl.solve(on_model=on_model)
    if not models:
        raise PolicyError("the policy has no answer for this case (its rules contradict each other)")
    if len(models) > 1:
        raise PolicyError("the policy gives more than one answer for this case (a choice or a loop through `not`)")

    out = [Solved() for _ in cases]
    keyed = policy.case_predicates
    shared: list[clingo.Symbol] = []
    for sym in models[0]:
        if sym.name == "__fired":
            key, rule_id, values = sym.arguments
            if key.type == clingo.SymbolType.Number and 0 <= key.number < len(out):
                out[key.number].fired.append((rule_id.string, tuple(values.arguments)))
        elif sym.name in keyed and sym.arguments and sym.arguments[0].type == clingo.SymbolType.Number \
                and 0 <= sym.arguments[0].number < len(out):
            out[sym.arguments[0].number].atoms.append(sym)
        else:
            shared.append(sym)
    if everything:
        for solved in out:
            solved.shared = shared
    return out
