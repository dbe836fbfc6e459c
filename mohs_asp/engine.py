"""Cases in, solver atoms out: many cases share one clingo Control (ground once, solve once).

Facts reach clingo as symbols through the backend, never as program text. Each case gets
a number as its key (the first argument of every case atom), so cases cannot meet and a
case id is only ever data that Python echoes back.
"""

from __future__ import annotations

import re
from enum import Enum
from dataclasses import dataclass, field

import clingo
from clingo import ast

from .case import Case
from .errors import PolicyError
from .policy import Policy
from .rule import head_signature

try:  # clingo's own cffi handle (clingo 5.5 to 5.8); see _Backend
    from clingo._internal import _ffi, _lib
except ImportError:  # pragma: no cover
    _ffi = _lib = None

F, S, N = clingo.Function, clingo.String, clingo.Number
TRUE, FALSE = F("true"), F("false")
# Heads whose rules `check` names per line and per indication (cheap to track).
DECIDING = frozenset({"payable", "denied", "bundled", "not_addressed", "indication"})
FIRINGS = frozenset({"*"})  # every rule's firings (`mohs-asp test` counts which rules fired)
# explanations: every atom, the deciding rules' records, the firings they word and how far each
# rule they ask about got (records.instrumented); QUALIFYING: what would qualify (explain.py)
EVERYTHING = DECIDING | {"*", "?"}
QUALIFYING = frozenset({"?", "needs"})


class Record(Enum):
    """What a solve records beside each answer: the one option every caller of `solve` gives.
    Each is (the head predicates whose rules get firing records, records.instrumented; whether
    every shown atom comes back as a symbol, lesions named by id, as explanations read them)."""

    DECISIONS = (DECIDING, False)  # the rules that decided each line and indication: check, batch, lint, diff
    FIRINGS = (FIRINGS, False)  # which rules fired: `mohs-asp test`'s coverage
    EXPLANATIONS = (EVERYTHING, True)  # every atom, the deciding rules' records, how far each rule got
    QUALIFYING = (QUALIFYING, True)  # what would qualify, for explain's stand-in case
    DECISIONS_BY_ID = (DECIDING, True)  # the decisions with every atom as symbols (tests: lesions by id or by index alike)

    @property
    def track(self) -> frozenset[str]:
        return self.value[0]

    @property
    def symbols(self) -> bool:
        return self.value[1]


class Symbols(dict):
    """Each text (a String) or whole number (a Number) made into a symbol once per solver run:
    a chunk of cases repeats its lesion ids, codes, sites and line numbers."""

    def __missing__(self, value: str | int) -> clingo.Symbol:
        sym = self[value] = S(value) if isinstance(value, str) else N(value)
        return sym


Fact = tuple[str, tuple[clingo.Symbol, ...]]  # a predicate name and its arguments


def case_facts(k: clingo.Symbol, case: Case, out: list[Fact], sym: Symbols,
               code_nums: set[str], by_index: bool) -> None:
    """The facts of one case, keyed by `k` (logic/input.lp documents each predicate). With
    `by_index` a lesion is named by its position in the case (the rules only compare lesion
    names, and numbers come back from the solver cheaper than strings); else by its id."""
    add = out.append
    add(("case", (k,)))
    for name, value in case.facts:  # the case's fields and its patient's (case_format.CASE, PATIENT)
        add((name, (k, _symbol(value, sym))))
    names = {lesion.id: sym[i] if by_index else sym[lesion.id] for i, lesion in enumerate(case.lesions)}
    for lesion in case.lesions:
        lid = names[lesion.id]
        add(("lesion", (k, lid)))
        for name, value in lesion.facts:  # its documented fields (case_format.LESION)
            add((name, (k, lid, _symbol(value, sym))))
    for line in case.lines:
        n = sym[line.number]
        code = sym[line.code]
        add(("line", (k, n, code)))
        for name, value in line.facts:  # units, and the other fields it gives (case_format.LINE)
            add((name, (k, n, _symbol(value, sym))))
        for position, lid in enumerate(line.lesions, start=1):
            add(("line_lesion", (k, n, names[lid], sym[position])))
        if line.code not in code_nums:
            code_nums.add(line.code)
            if line.code.isdigit():
                add(("code_num", (code, sym[int(line.code)])))


def _symbol(value: str | int | bool, sym: Symbols) -> clingo.Symbol:
    """A field's value as the solver reads it: true/false as constants, text and numbers as themselves."""
    return (TRUE if value else FALSE) if isinstance(value, bool) else sym[value]


def written_values(k: clingo.Symbol, case: Case) -> dict[tuple[str, tuple[clingo.Symbol, ...]], dict[int, tuple[str, str]]]:
    """For explanations: the case facts whose values the case wrote in words of its own, by
    predicate and arguments, with the words of each such argument: a lesion's size in its unit,
    size_um(k, "A", 19990) -> {2: ("19.99", "mm")}. Lesions are named by their ids, as
    `solve(..., Record.EXPLANATIONS)` names them."""
    return {("size_um", (k, S(lesion.id), N(lesion.size_um))): {2: lesion.size_written}
            for lesion in case.lesions if lesion.size_written is not None and lesion.size_um is not None}


class _Backend:
    """Adds facts to a Control before grounding.

    Through clingo's C API, by the cffi handle of clingo's own Python package, when it is
    there: a fact then costs about 1 µs instead of about 5 µs through clingo.Function and
    Backend.add_atom (measured; a batch adds some twenty facts a case). The public API
    otherwise: the two give the same atoms (tests/test_engine.py)."""

    def __init__(self, backend: clingo.backend.Backend, raw: bool):
        self.backend = backend
        self.raw = raw and _lib is not None
        if self.raw:
            self.args = _ffi.new("clingo_symbol_t[8]")
            self.symbol = _ffi.new("clingo_symbol_t*")
            self.atom = _ffi.new("clingo_atom_t*")
            self.names: dict[str, bytes] = {}

    def add_all(self, facts: list[Fact]) -> None:
        if not self.raw:
            for name, args in facts:
                self.backend.add_rule([self.backend.add_atom(F(name, list(args)))])
            return
        buf, symbol, atom, rep, names = self.args, self.symbol, self.atom, self.backend._rep, self.names
        create, add_atom, add_rule, null = (_lib.clingo_symbol_create_function, _lib.clingo_backend_add_atom,
                                            _lib.clingo_backend_rule, _ffi.NULL)
        for name, args in facts:  # case_facts makes facts of at most 4 arguments
            for i, a in enumerate(args):
                buf[i] = a._rep
            encoded = names.get(name) or names.setdefault(name, name.encode())
            if not (create(encoded, buf, len(args), True, symbol) and add_atom(rep, symbol, atom)
                    and add_rule(rep, False, atom, 1, null, 0)):
                _check(False)

    def add_symbol(self, sym: clingo.Symbol) -> None:
        self.backend.add_rule([self.backend.add_atom(sym)])


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
    atoms: list[tuple[str, list[clingo.Symbol]]] = field(default_factory=list)  # (name, arguments) each
    fired: list[tuple[str, tuple[clingo.Symbol, ...]]] = field(default_factory=list)
    shared: list[clingo.Symbol] = field(default_factory=list)
    # (rule id, head atom, values of the variables its `% because:` words name) for each tracked
    # rule with such words (policy.said_by); `check` words each line's reasons with them
    said: list[tuple[str, Atom, tuple]] = field(default_factory=list)
    # explanations (records.Plans): how far each rule's body got (`__upto` atoms), and each way
    # the data lets a rule be met with the case's own facts left open (`__needs` atoms)
    reached: list[clingo.Symbol] = field(default_factory=list)
    needs: list[clingo.Symbol] = field(default_factory=list)


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
    rules = policy.rules
    if found == 0:
        said, suspects = "has no answer for this case (its rules contradict each other)", \
            [r for r in rules if r.node.head.ast_type == ast.ASTType.Literal and
             r.node.head.atom.ast_type == ast.ASTType.BooleanConstant]
    else:
        answers: list[set[clingo.Symbol]] = []
        ctl.solve(on_model=lambda model: answers.append(set(model.symbols(atoms=True))))
        differ = {(sym.name, len(sym.arguments)) for sym in answers[0] ^ answers[1]} if len(answers) > 1 else set()
        said = "gives more than one answer for this case (a choice, or a loop through `not`)"
        suspects = [r for r in rules if r.node.head.ast_type != ast.ASTType.Literal] or [  # a choice, a disjunction
            r for r in rules if r.head in differ and any(
                lit.ast_type == ast.ASTType.Literal and lit.sign != ast.Sign.NoSign and head_signature(lit) in differ
                for lit in r.node.body)]
    where = ", ".join(dict.fromkeys(r.source for r in suspects))
    return f"the policy {said}" + (f"; look at {where}" if where else "")


def control(options: list[str], logger=None, message_limit: int = 20) -> clingo.Control:
    """A clingo Control: the only place one is made (the solve below, and the compiled engine's
    grounding of its templates, mohs_asp/fastpath/)."""
    return clingo.Control(options, logger=logger, message_limit=message_limit)


def solve(policy: Policy, cases: list[Case], record: Record = Record.DECISIONS,
          warnings: list[str] | None = None, raw: bool = True) -> list[Solved]:
    """Ground and solve `cases` together; one Solved per case, in order.

    `record`: what to record beside each answer (Record: the rules that decided, which rules
    fired, or everything explanations read, as symbols).
    `warnings`: if given, receives every message clingo logs, in an author's words (for lint).
    `raw`: add the facts through clingo's C API when it is there (see _Backend).
    """
    track, everything = record.track, record.symbols
    messages: list[str] = []
    undefined: list[str] = []

    def logger(code: clingo.MessageCode, message: str) -> None:
        if warnings is not None:
            warnings.append(policy.rulebook.clean_message(message))
        if code == clingo.MessageCode.AtomUndefined:
            if "does not occur in any rule head" in message:  # input predicates are #defined: a typo
                undefined.append(message.strip())
        else:
            messages.append(message.strip())

    by_index = not everything
    ctl = control(["--models=2"], logger, 20)
    try:
        with clingo.ast.ProgramBuilder(ctl) as builder:
            for statement in policy.program(track):
                builder.add(statement)
        facts: list[Fact] = []
        symbols, code_nums = Symbols(), set()
        for key, case in enumerate(cases):
            case_facts(symbols[key], case, facts, symbols, code_nums, by_index)
        with ctl.backend() as b:
            backend = _Backend(b, raw)
            for sym in policy.data.facts:
                backend.add_symbol(sym)
            backend.add_all(facts)
        ctl.ground([("base", [])])
    except RuntimeError as e:
        detail = "\n".join(policy.rulebook.clean_message(m) for m in messages) or str(e)
        raise PolicyError(f"the policy does not ground:\n{detail}") from None
    if undefined and warnings is None:  # a rule reading what nothing defines would answer wrongly; lint lists them
        detail = "\n".join(policy.rulebook.clean_message(m) for m in undefined)
        raise PolicyError(f"the policy reads atoms that no rule, data file or case defines (a typo?):\n{detail}")

    models: list[list] = []

    def on_model(model: clingo.Model) -> None:
        if not models:  # the first answer is read; a second only proves the policy broken
            models.append(model.symbols(shown=True) if everything else _shown_texts(model))
        else:
            models.append([])

    ctl.solve(on_model=on_model)
    if len(models) != 1:
        raise PolicyError(_not_one_answer(policy, ctl, len(models)))

    out = [Solved(by_index=by_index) for _ in cases]
    ids = [rule.id for rule in policy.rules]
    keys = {str(i): solved for i, solved in enumerate(out)}  # a case's key as printed -> its answer
    shown = policy.shown_predicates
    unkeyed: list[tuple[str, Atom]] = []
    shared: list[clingo.Symbol] = []
    for item in models[0]:
        if everything:
            name = item.name
            if not _keep_symbol(item, name, out, policy):
                shared.append(item)
            if name not in shown and name not in ("__by", "__said"):
                continue
            item = str(item)
        atom = parse_atom(item)
        name = atom[0]
        if name == "__by":
            head = atom[2]
            solved = keys.get(head[1]) if len(head) > 1 else None
            (solved.by if solved is not None else unkeyed).append((ids[int(atom[1])], head))
        elif name == "__said":
            head, rule_id = atom[2], ids[int(atom[1])]
            solved = keys.get(head[1]) if len(head) > 1 else None
            (solved.by if solved is not None else unkeyed).append((rule_id, head))
            if solved is not None:
                solved.said.append((rule_id, head, atom[3][1:]))
        elif name == "__fired":  # Record.FIRINGS: which rules fired (test coverage)
            if not everything:
                solved, fired = keys.get(atom[1]), (ids[int(atom[2])], ())
                for target in [solved] if solved is not None else out:  # not about one case: all
                    target.fired.append(fired)
        elif len(atom) > 1 and (solved := keys.get(atom[1])) is not None:
            solved.derived.append(atom)
    for solved in out:
        solved.by.extend(unkeyed)
        solved.shared = shared
    return out


def _shown_texts(model: clingo.Model) -> list[str]:
    """The shown atoms of a model as clingo prints them: through the C API when it is there
    (two calls an atom, no Symbol objects), else through the public API."""
    if _lib is None:  # pragma: no cover
        return [str(sym) for sym in model.symbols(shown=True)]
    rep, size = model._rep, _ffi.new("size_t*")
    _check(_lib.clingo_model_symbols_size(rep, _lib.clingo_show_type_shown, size))
    count = size[0]
    symbols = _ffi.new("clingo_symbol_t[]", count)
    _check(_lib.clingo_model_symbols(rep, _lib.clingo_show_type_shown, symbols, count))
    capacity, buffer, texts = 256, _ffi.new("char[]", 256), []
    to_size, to_string, unpack = _lib.clingo_symbol_to_string_size, _lib.clingo_symbol_to_string, _ffi.unpack
    for i in range(count):
        _check(to_size(symbols[i], size))
        if size[0] > capacity:
            capacity, buffer = size[0], _ffi.new("char[]", size[0])
        _check(to_string(symbols[i], buffer, size[0]))
        texts.append(unpack(buffer, size[0] - 1).decode())
    return texts


def _check(ok: bool) -> None:
    if not ok:
        raise RuntimeError(_ffi.string(_lib.clingo_error_message()).decode(errors="replace"))


def _is_number(sym: clingo.Symbol) -> bool:
    """Whether a symbol is a number: through the C API when it is there (sym.type builds an enum)."""
    if _lib is None:  # pragma: no cover
        return sym.type == clingo.SymbolType.Number
    return _lib.clingo_symbol_type(sym._rep) == _lib.clingo_symbol_type_number


def _keep_symbol(sym: clingo.Symbol, name: str, out: list[Solved], policy: Policy) -> bool:
    """Explanations: each case's atoms and the firing records, kept as symbols. False for
    an atom of no one case (a derived atom of the data alone)."""
    args = sym.arguments
    key = args[0].number if args and _is_number(args[0]) else None
    mine = key is not None and 0 <= key < len(out)  # p(-5) is no case's: out[-5] would be someone else's
    if name == "__fired":
        rule_id = policy.rules[args[1].number].id
        for solved in [out[key]] if mine else out:  # not about one case: all
            solved.fired.append((rule_id, tuple(args[2].arguments)))
        return True
    if name == "__upto" or name == "__needs":
        for solved in [out[key]] if mine else out:  # not about one case (the body's data alone): all
            (solved.reached if name == "__upto" else solved.needs).append(sym)
        return True
    if mine and name in policy.case_predicates:
        out[key].atoms.append((name, args))
        return True
    return False
