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

from ..case.check import Case
from ..errors import PolicyError
from ..policy.load import Policy
from ..policy.rule import head_signature
from .symbols import PublicReader, Reader, Unread, check as _check

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
# rule they ask about got (records.instrumented); QUALIFYING: what would qualify (explain/why.py)
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
    and constants as written, strings unquoted); `decided_by`: (rule id, head atom) for each rule that
    derived a tracked head. With `everything` (explanations) also every atom of the case and
    the data as symbols (`atoms`, `data_atoms`: those of no one case, derived from the data alone) and each firing with its variables' values (`fired`).
    """

    derived: list[Atom] = field(default_factory=list)
    decided_by: list[tuple[str, Atom]] = field(default_factory=list)
    lesions_by_position: bool = True  # lesions are named by their position in the case (see case_facts)
    atoms: list[tuple[str, list[clingo.Symbol]]] = field(default_factory=list)  # (name, arguments) each
    fired: list[tuple[str, tuple[clingo.Symbol, ...]]] = field(default_factory=list)
    data_atoms: list[tuple[str, list[clingo.Symbol]]] = field(default_factory=list)  # (name, arguments) each
    # (rule id, head atom, values of the variables its `% because:` words name) for each tracked
    # rule with such words (policy.said_by); `check` words each line's reasons with them
    said: list[tuple[str, Atom, tuple]] = field(default_factory=list)
    # explanations (records.Plans): how far each rule's body got (`__upto` atoms), and each way
    # the data lets a rule be met with the case's own facts left open (`__needs` atoms)
    # as their values: (rule number, K, values of the first K literals' variables, next literal's
    # arguments) for each `__upto`; (plan number, values) for each `__needs`
    reached: list[tuple[int, int, list[clingo.Symbol], list[clingo.Symbol]]] = field(default_factory=list)
    needs: list[tuple[int, list[clingo.Symbol]]] = field(default_factory=list)


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
    grounding of its templates, mohs_asp/engine/fastpath/)."""
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
        ends = []  # where each case's facts end
        for key, case in enumerate(cases):
            case_facts(symbols[key], case, facts, symbols, code_nums, by_index)
            ends.append(len(facts))
        with ctl.backend() as b:
            backend = _Backend(b, raw)
            for sym in policy.data.facts:
                backend.add_symbol(sym)
            backend.add_all(facts)
        ctl.ground([("base", [])])
    except RuntimeError as e:
        if "bad_alloc" in str(e):  # clingo out of memory (the work limits' RLIMIT_AS): a limit, not the policy's fault
            raise MemoryError from None
        detail = "\n".join(policy.rulebook.clean_message(m) for m in messages) or str(e)
        raise PolicyError(f"the policy does not ground:\n{detail}") from None
    if undefined and warnings is None:  # a rule reading what nothing defines would answer wrongly; lint lists them
        detail = "\n".join(policy.rulebook.clean_message(m) for m in undefined)
        raise PolicyError(f"the policy reads atoms that no rule, data file or case defines (a typo?):\n{detail}")

    models: list[list] = []

    def on_model(model: clingo.Model) -> None:
        if not models:  # the first answer is read; a second only proves the policy broken
            models.append(_shown_symbols(model) if everything else _shown_texts(model))
        else:
            models.append([])

    try:
        ctl.solve(on_model=on_model)
    except RuntimeError as e:
        if "bad_alloc" in str(e):
            raise MemoryError from None
        raise
    if len(models) != 1:
        raise PolicyError(_not_one_answer(policy, ctl, len(models)))

    out = [Solved(lesions_by_position=by_index) for _ in cases]
    ids = [rule.id for rule in policy.rules]
    keys = {str(i): solved for i, solved in enumerate(out)}  # a case's key as printed -> its answer
    unkeyed: list[tuple[str, Atom]] = []
    if everything:  # explanations: every atom, the records kept as values (_read_model)
        atoms, shared = _read_model(models[0], out, policy)
        _given_facts(facts, ends, symbols, out, shared, policy)
    else:
        atoms, shared = map(parse_atom, models[0]), []
    for atom in atoms:
        name = atom[0]
        if name == "__by":
            head = atom[2]
            solved = keys.get(head[1]) if len(head) > 1 else None
            (solved.decided_by if solved is not None else unkeyed).append((ids[int(atom[1])], head))
        elif name == "__said":
            head, rule_id = atom[2], ids[int(atom[1])]
            solved = keys.get(head[1]) if len(head) > 1 else None
            (solved.decided_by if solved is not None else unkeyed).append((rule_id, head))
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
        solved.decided_by.extend(unkeyed)
        solved.data_atoms = shared
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


def _read_model(handles: list, out: list[Solved], policy: Policy) -> tuple[list[Atom], list]:
    """Explanations: a model's atoms, each read once (Reader). Each case's atoms go to its
    Solved as symbols (`atoms`), the firing records as their values (`fired`, `reached`,
    `needs`); the atoms of no one case (derived from the data alone) are returned as `shared`,
    with the shown atoms and decision records as parse_atom gives them (as `check` reads them)."""
    read = Reader() if _lib is not None else PublicReader()
    function, arguments, symbol = read.function, read.arguments, read.symbols.__getitem__
    number, text = read.numbers.__getitem__, read.texts.__getitem__
    case_predicates, rules, cases = policy.case_predicates, policy.rules, len(out)
    texted = policy.shown_predicates | {"__by", "__said"}
    atoms: list[Atom] = []
    shared: list[tuple[str, list[clingo.Symbol]]] = []
    for item in handles:
        name, args = function(item)
        plain = name is not None
        if not plain:  # clingo's classical negation, -p(X): through the public API
            sym = read.symbol(item)
            name, args = sym.name, read.handles(sym.arguments)
        key = number(args[0]) if args else None
        mine = key is not None and 0 <= key < cases  # p(-5) is no case's: out[-5] would be someone else's
        if name == "__fired":  # (C, I, (V1,...,Vn)): rule I fired with these values of its variables
            fired = (rules[number(args[1])].id, tuple(map(symbol, arguments(args[2]))))
            for solved in [out[key]] if mine else out:  # not about one case: all
                solved.fired.append(fired)
        elif name == "__upto":  # (K0, I, K, (V...), (A...)): records.Plan
            reached = (number(args[1]), number(args[2]), list(map(symbol, arguments(args[3]))),
                       list(map(symbol, arguments(args[4]))))
            for solved in [out[key]] if mine else out:  # not about one case (the body's data alone): all
                solved.reached.append(reached)
        elif name == "__needs":  # (C, J, (V...)): records.Plan
            needs = (number(args[1]), list(map(symbol, arguments(args[2]))))
            for solved in [out[key]] if mine else out:
                solved.needs.append(needs)
        elif mine and name in case_predicates:
            out[key].atoms.append((name, list(map(symbol, args))))
        elif name != "__by" and name != "__said":  # (the decision records are read as text, below)
            shared.append((name, list(map(symbol, args))))
        if name in texted:
            try:
                atoms.append((name, *map(text, args)) if plain else parse_atom(str(read.symbol(item))))
            except Unread:  # an argument Reader.text does not take: as clingo prints the atom
                atoms.append(parse_atom(str(read.symbol(item))))
    return atoms, shared


def _given_facts(facts: list[Fact], ends: list[int], symbols: Symbols, out: list[Solved], shared: list,
                 policy: Policy) -> None:
    """Explanations: each case's facts as given (`Solved.atoms`, beside what the rules derive,
    _read_model), and the facts of no one case (a code's number) with the shared atoms. The
    solver holds them as they were given, so they are not shown and read back (records.py)."""
    derived, case_predicates, start = policy.derived, policy.case_predicates, 0
    for key, (solved, end) in enumerate(zip(out, ends)):
        k = symbols[key]
        for name, args in facts[start:end]:
            if (name, len(args)) not in derived:  # (what a rule also derives is shown: read with the model)
                if args and args[0] is k and name in case_predicates:
                    solved.atoms.append((name, list(args)))
                else:
                    shared.append((name, list(args)))
        start = end


def _shown_symbols(model: clingo.Model) -> list:
    """The shown atoms of a model as clingo's symbol handles, in one call (see Reader);
    without the C API, as symbols (PublicReader)."""
    if _lib is None:  # pragma: no cover
        return model.symbols(shown=True)
    rep, size = model._rep, _ffi.new("size_t*")
    _check(_lib.clingo_model_symbols_size(rep, _lib.clingo_show_type_shown, size))
    count = size[0]
    symbols = _ffi.new("clingo_symbol_t[]", count)
    _check(_lib.clingo_model_symbols(rep, _lib.clingo_show_type_shown, symbols, count))
    return _ffi.unpack(symbols, count)
