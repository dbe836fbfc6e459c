"""Cases in, solver atoms out: many cases share one clingo Control (ground once, solve once).

Facts reach clingo as symbols through the backend, never as program text. Each case gets
a number as its key (the first argument of every case atom), so cases cannot meet and a
case id is only ever data that Python echoes back.
"""

from __future__ import annotations

import re
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


def case_facts(k: clingo.Symbol, case: Case, out: list[clingo.Symbol], sym: Symbols,
               code_nums: dict[str, clingo.Symbol | None], by_index: bool) -> None:
    """The facts of one case, keyed by `k` (logic/input.lp documents each predicate). With
    `by_index` a lesion is named by its position in the case (the rules only compare lesion
    names, and numbers come back from the solver cheaper than strings); else by its id."""
    out.append(F("case", [k]))
    if case.immunosuppressed is not None:
        out.append(F("immunosuppressed", [k, TRUE if case.immunosuppressed else FALSE]))
    names = {lesion.id: sym[i] if by_index else sym[lesion.id] for i, lesion in enumerate(case.lesions)}
    for lesion in case.lesions:
        lid = names[lesion.id]
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
            out.append(F("line_lesion", [k, n, names[lid], sym[position]]))
        if line.pre_surgical is not None:
            out.append(F("pre_surgical", [k, n, TRUE if line.pre_surgical else FALSE]))
        if line.code not in code_nums:
            code_nums[line.code] = F("code_num", [code, sym[int(line.code)]]) if line.code.isdigit() else None
            if code_nums[line.code] is not None:
                out.append(code_nums[line.code])


Atom = tuple  # ("payable", "3", "2"): a derived atom, read off the solver as text


@dataclass
class Solved:
    """What the solver said about one case.

    `derived`: the shown atoms of the case, as tuples of their name and arguments' text (numbers
    and constants as written, strings unquoted); `by`: (rule id, head atom) for each rule that
    derived a tracked head. With `everything` (explanations) also every atom of the case and
    the data as symbols (`atoms`, `shared`) and each firing with its variables' values (`fired`).
    """

    derived: list[Atom] = field(default_factory=list)
    by: list[tuple[str, Atom]] = field(default_factory=list)
    by_index: bool = True  # lesions are named by their position in the case (see case_facts)
    atoms: list[clingo.Symbol] = field(default_factory=list)
    fired: list[tuple[str, tuple[clingo.Symbol, ...]]] = field(default_factory=list)
    shared: list[clingo.Symbol] = field(default_factory=list)


_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|(-?[0-9]+)|([A-Za-z_#][A-Za-z0-9_\']*)|([(),])')
_ESCAPE = re.compile(r"\\(.)")


def parse_atom(text: str) -> Atom:
    """A symbol as clingo prints it, to nested tuples of text. Atoms of numbers and constants
    (all the engine shows when lesions are numbered) take the fast path."""
    if '"' not in text:
        if "(" not in text:
            return (text,)
        if text.startswith("__by("):
            comma = text.index(",")
            return ("__by", text[5:comma], parse_atom(text[comma + 1:-1]))
        if text.count("(") == 1:
            i = text.index("(")
            return (text[:i], *text[i + 1:-1].split(","))
    tokens, pos = _TOKEN.findall(text), 0

    def punct(i: int) -> str:
        return tokens[i][3] if i < len(tokens) else ""

    def term():
        nonlocal pos
        string, number, name, p = tokens[pos]
        pos += 1
        if number:
            return number
        if name and punct(pos) != "(":
            return name
        if name or p == "(":
            if name:
                pos += 1  # the "(" after a function's name
            args = [name]
            while punct(pos) != ")":  # arguments, each followed by "," or ")"; (x,) is a 1-tuple
                args.append(term())
                if punct(pos) == ",":
                    pos += 1
            pos += 1
            return tuple(args)
        return _ESCAPE.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), string)

    return term()


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

    `track`: record which rules derived these head predicates (None: none; EVERYTHING: every
    rule, with its variables' values).
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

    by_index = not everything
    ctl = clingo.Control(["--models=2"], logger=logger, message_limit=20)
    try:
        with clingo.ast.ProgramBuilder(ctl) as builder:
            for statement in policy.program(track):
                builder.add(statement)
        facts = list(policy.data.facts)
        symbols, code_nums = Symbols(), {}
        for key, case in enumerate(cases):
            case_facts(symbols[key], case, facts, symbols, code_nums, by_index)
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

    out = [Solved(by_index=by_index) for _ in cases]
    ids = [rule.id for rule in policy.rules]
    shown = policy.shown
    unkeyed: list[tuple[str, Atom]] = []
    shared: list[clingo.Symbol] = []
    for sym in models[0]:
        if everything:
            if not _keep_symbol(sym, out, policy):
                shared.append(sym)
            if sym.name not in shown and sym.name != "__by":
                continue
        atom = parse_atom(str(sym))  # one call into clingo per atom; reading its parts costs more
        if atom[0] == "__by":
            entry, head = (ids[int(atom[1])], atom[2]), atom[2]
            key = head[1] if len(head) > 1 else None
            if key is not None and key.isdigit() and int(key) < len(out):
                out[int(key)].by.append(entry)
            else:
                unkeyed.append(entry)  # a rule not about one case (code_in_set): ran for all of them
        elif atom[0] == "__fired":  # track=EVERYTHING without `everything`: which rules fired (tests)
            if not everything:
                key, fired = atom[1], (ids[int(atom[2])], ())
                for solved in [out[int(key)]] if key.isdigit() and int(key) < len(out) else out:
                    solved.fired.append(fired)
        elif len(atom) > 1 and atom[1].isdigit() and int(atom[1]) < len(out):
            out[int(atom[1])].derived.append(atom)
    for solved in out:
        solved.by.extend(unkeyed)
        solved.shared = shared
    return out


def _keep_symbol(sym: clingo.Symbol, out: list[Solved], policy: Policy) -> bool:
    """Explanations: each case's atoms and the firing records, kept as symbols. False for
    an atom of no one case (the data)."""
    args = sym.arguments
    key = args[0].number if args and args[0].type == clingo.SymbolType.Number else None
    if sym.name == "__fired":
        rule_id = policy.rules[args[1].number].id
        for solved in [out[key]] if key is not None and key < len(out) else out:  # not about one case: all
            solved.fired.append((rule_id, tuple(args[2].arguments)))
        return True
    if key is not None and key < len(out) and sym.name in policy.case_predicates:
        out[key].atoms.append(sym)
        return True
    return False
