"""A template: the policy grounded by clingo once over open inputs, compiled to Python.

`build` asks clingo to ground the policy's program (exactly what `engine.solve` grounds,
`__by` records included) with the data facts and a choice over every input atom a case
could bring, each argument ranging over its sort's stand-ins (analysis.py). The ground
program is read through `clingo.Observer` and accepted only when it is a plain
acyclic program: normal rules, #count-style weight rules, the one input choice, shown
atoms; no constraint, disjunction, other choice, minimize, external, theory atom, loop
(positive or through `not`). An acyclic ground program has exactly one answer set for
each choice of inputs, and it is computed by evaluating its rules in dependency order,
so the template is compiled to straight-line Python over integers used as bit sets:
bit i of an atom's integer is that atom's truth in case i of a chunk, `&` is a rule
body's "and", `|` the "or" of the rules for one head, `& ~` a `not`.

Every gate of the compiled code is one of clingo's ground rules; nothing of the policy
is restated here. Two things are left out, both sound: rules no shown atom depends on, and
rules that could only fire for a case breaking a functional dependency the template's cases
keep (one code a line: grounding over open inputs joins every code a line could have with
every other); a case that breaks one is not evaluated here (the caller checks each case).
A built template is kept on disk (cache.py) under a digest of everything it depends on.
"""

from __future__ import annotations

import bisect
import graphlib
import itertools
import types
from dataclasses import dataclass, field

import clingo
from clingo import ast

from ..solver import control, parse_atom
from . import cache
from .analysis import Analysis, Refused, argument_position, data_positions
from .values import key_symbol, symbol_key

TEMPLATE_KEY = clingo.Number(0)  # the one case of a template (what `check` uses too)
MAX_EXPRESSION_TERMS = 40  # an "or" of more rules is split over statements (compile depth)
MAX_WEIGHT_BOUND = 64  # a #count compared with more is left to clingo (the compiled count grows with it)
MAX_GROUND_RULES = 4_000_000  # a template grounding to more is left to clingo (the memory limit bounds it too)
BUILD_CASES = 500  # a template is built within the work limits of a chunk of this many cases (limits.py)
MAX_INTERVAL_REPS = 64  # stand-ins of an ordered sort between two of its fixed numbers, at most


# -- sorts at run time -----------------------------------------------------------------------------


class SortMap:
    """How one sort's values become stand-ins. `kind` is the analysis's: case, class,
    injective or exact."""

    def __init__(self, sid: int, kind: str, ordered: bool, fixed: set, symbols: dict):
        self.sid = sid
        self.kind = kind
        self.ordered = ordered
        self.fixed = fixed  # keys that stand for themselves (the rules' and the data's values)
        self.symbols = symbols  # key -> clingo Symbol, for every key the sort may map to
        self.classes: dict = {}  # class kind: key -> stand-in key
        self.points: list[int] = []  # ordered: the fixed numbers, sorted
        self.fresh = None  # class kind, equality: the stand-in of values in no data fact

    # class sorts ------------------------------------------------------------------------------

    def class_of(self, key):
        """The stand-in of a value of a class sort; None for one that cannot be placed (a
        string where whole numbers are compared)."""
        if not self.ordered:
            return self.classes.get(key, self.fresh)
        if type(key) is not int:
            return None
        found = self.classes.get(key)
        if found is not None:
            return found
        i = bisect.bisect_left(self.points, key)
        return self.interval_reps[i][0] if self.interval_reps[i] else None

    # injective sorts --------------------------------------------------------------------------

    def injective(self, keys: list) -> dict | None:
        """Stand-ins for the distinct values of one case: fixed values for themselves, the
        others in order of first appearance (equality) or in their order within each
        interval between fixed numbers (ordered)."""
        out = {}
        if not self.ordered:
            j = 0
            for key in keys:
                if key in out:
                    continue
                if key in self.fixed:
                    out[key] = key
                else:
                    if j >= len(self.reps):
                        return None
                    out[key] = self.reps[j]
                    j += 1
            return out
        per_interval: dict[int, list] = {}
        for key in set(keys):
            if type(key) is not int:
                return None
            if key in self.fixed:
                out[key] = key
            else:
                per_interval.setdefault(bisect.bisect_left(self.points, key), []).append(key)
        for i, values in per_interval.items():
            reps = self.interval_reps[i]
            if len(values) > len(reps):
                return None
            for key, rep in zip(sorted(values), reps):
                out[key] = rep
        return out


def _fresh_numbers(taken: set, count: int, start: int = 0) -> list[int]:
    out, n = [], start
    while len(out) < count:
        if n not in taken:
            out.append(n)
        n += 1
    return out


def _interval_reps(points: list[int], k: int) -> list[list[int]]:
    """For each of the len(points)+1 open intervals around sorted whole numbers, up to k
    whole numbers inside it, ascending. The first j of them are the same whatever k is (the
    engine maps a case with up to MAX_INTERVAL_REPS of them, a template holds the k its cases
    need: the first j of each must agree), so below the lowest point they start at a fixed
    distance from it."""
    out = []
    if not points:
        return [list(range(1, k + 1))]
    k = min(k, MAX_INTERVAL_REPS)
    out.append(list(range(points[0] - MAX_INTERVAL_REPS, points[0] - MAX_INTERVAL_REPS + k)))
    for lo, hi in zip(points, points[1:]):
        out.append(list(range(lo + 1, min(hi, lo + 1 + k))))
    out.append(list(range(points[-1] + 1, points[-1] + 1 + k)))
    return out


def sort_maps(analysis: Analysis, data_values: dict, data_atoms: list[clingo.Symbol], params: dict) -> dict:
    """A SortMap for each sort inputs feed. `params`: for injective sorts the number of
    stand-ins (per interval, for ordered ones); for exact sorts the extra values allowed."""
    maps = {}
    for sid, root in enumerate(sorted(analysis.kinds, key=repr)):
        kind = analysis.kinds[root]
        sort = analysis.uf.info[root]
        fixed_syms = set(sort.constants) | set(data_values.get(root, ()))
        fixed = {symbol_key(s) for s in fixed_syms}
        symbols = {symbol_key(s): s for s in fixed_syms}
        m = SortMap(sid, kind, sort.ordered, fixed, symbols)
        m.root = root
        if kind == "case":
            m.symbols = {0: TEMPLATE_KEY}
        elif kind == "class":
            known = getattr(analysis, "_class_maps", None)
            if known is None:
                known = analysis._class_maps = {}
            if root in known:  # a class sort's map depends on the rules and data alone
                maps[root] = known[root]
                continue
            known[root] = m
            _classes(m, analysis, root, sort, data_atoms)
            reps = set(m.classes.values()) | {r for reps in getattr(m, "interval_reps", ()) for r in reps}
            if m.fresh is not None:
                reps.add(m.fresh)
            m.symbols = {key: sym for key, sym in m.symbols.items() if key in reps}
        elif kind == "injective":
            k = params.get(("k", root), 1)
            if sort.ordered:
                m.points = sorted(fixed)
                m.interval_reps = _interval_reps(m.points, k)
                for reps in m.interval_reps:
                    for r in reps:
                        m.symbols[r] = clingo.Number(r)
            else:
                # values seen often stand for themselves (any injective map fixing the rules'
                # and the data's values is sound); the case's others get generic stand-ins
                m.fixed = fixed | set(params.get(("S", root), ()))
                for key in m.fixed - fixed:
                    m.symbols[key] = key_symbol(key)
                m.reps = []
                for j in range(k):
                    sym = clingo.Function("__rep", [clingo.Number(m.sid), clingo.Number(j)])
                    m.reps.append(symbol_key(sym))
                    m.symbols[m.reps[-1]] = sym
        else:  # exact
            for key in params.get(("values", root), ()):
                m.symbols[key] = key_symbol(key)
        maps[root] = m
    return maps


def _classes(m: SortMap, analysis: Analysis, root, sort, data_atoms) -> None:
    """Classes of a projected sort. Ordered: each fixed number alone, and each open interval
    between them one class. Equality: each constant the rules write alone, values whose
    data facts are the same (the value itself blanked out) one class, values in no data
    fact one class."""
    m.single = set()  # stand-ins that stand for one value only
    if sort.ordered:
        m.points = sorted(m.fixed)
        for p in m.points:
            m.classes[p] = p
            m.single.add(p)
        m.interval_reps = _interval_reps(m.points, 1)
        for reps in m.interval_reps:
            for r in reps:
                m.symbols[r] = clingo.Number(r)
        return
    constants = {symbol_key(s) for s in sort.constants}
    profiles: dict = {}
    for text, hits in _data_hits(analysis, data_atoms).get(root, ()):
        if len(hits) > 1:
            raise Refused(f"a data atom holds two values of one projected sort: {text}")
        pos, key, blanked = hits[0]
        profiles.setdefault(key, set()).add(blanked)
    groups: dict = {}
    for key, profile in profiles.items():
        if key not in constants:
            groups.setdefault(frozenset(profile), []).append(key)
    for members in groups.values():
        rep = min(members, key=repr)
        for key in members:
            m.classes[key] = rep
        if len(members) == 1:
            m.single.add(rep)
    for key in constants:
        m.classes[key] = key
        m.single.add(key)
    m.fresh = _fresh_numbers({k for k in m.fixed if type(k) is int}, 1, start=-1_000_000)[0]
    m.symbols[m.fresh] = clingo.Number(m.fresh)


def _data_hits(analysis: Analysis, data_atoms: list) -> dict:
    """For each sort, the data atoms holding one of its values: (atom text, [(position,
    value key, the atom's text with that value blanked out)]). Worked out once per analysis."""
    cached = getattr(analysis, "_data_hits", None)
    if cached is not None:
        return cached
    out: dict = {}
    for sym in data_atoms:
        per_root: dict = {}
        for pos, value in data_positions(sym):
            node = ("pos", pos)
            if node in analysis.uf.parent:
                per_root.setdefault(analysis.uf.find(node), []).append((pos, symbol_key(value), _blanked(sym, pos)))
        text = str(sym)
        for root, hits in per_root.items():
            out.setdefault(root, []).append((text, hits))
    analysis._data_hits = out
    return out


def _blanked(sym: clingo.Symbol, pos) -> str:
    """A data atom's text with the argument at `pos` replaced by a blank."""
    def walk(s: clingo.Symbol, path):
        if not path:
            return "\x00"
        name, arity, i = path[0]
        args = [walk(a, path[1:]) if j == i else str(a) for j, a in enumerate(s.arguments)]
        return f"{s.name}({','.join(args)})"
    return walk(sym, pos)


# -- building ------------------------------------------------------------------------------------


class _Observer(clingo.Observer):
    def __init__(self):
        self.rules: list[tuple[list[int], list[int]]] = []
        self.weights: list[tuple[int, int, list[tuple[int, int]]]] = []
        self.choices: list[list[int]] = []
        self.outputs: list[tuple[clingo.Symbol, int]] = []
        self.refused: list[str] = []

    def rule(self, choice, head, body):
        if choice:
            self.choices.append(list(head))
            if body:
                self.refused.append("a choice rule with a body")
        elif len(head) != 1:
            self.refused.append("a constraint" if not head else "a disjunction")
        else:
            self.rules.append((head[0], list(body)))

    def weight_rule(self, choice, head, lower_bound, body):
        if choice or len(head) != 1:
            self.refused.append("a choice or constraint over an aggregate")
        elif any(w < 0 for _, w in body):
            self.refused.append("an aggregate with negative weights")
        else:
            self.weights.append((head[0], lower_bound, list(body)))

    def output_atom(self, symbol, atom):
        self.outputs.append((symbol, atom))

    def output_term(self, symbol, condition):
        self.refused.append("#show of a term")

    def minimize(self, priority, literals):
        self.refused.append("a #minimize")

    def external(self, atom, value):
        self.refused.append("an #external")

    def assume(self, literals):
        self.refused.append("an assumption")

    def heuristic(self, atom, type_, bias, priority, condition):
        self.refused.append("a #heuristic")

    def acyc_edge(self, node_u, node_v, condition):
        self.refused.append("an #edge")

    def project(self, atoms):
        self.refused.append("a #project")

    def theory_atom(self, *args):
        self.refused.append("a theory atom")

    def theory_atom_with_guard(self, *args):
        self.refused.append("a theory atom")


@dataclass
class Output:
    """A shown atom of the template: its parsed text, and where its stand-ins are."""

    atom: tuple
    holes: list = field(default_factory=list)  # (path into the tuple, sort root, stand-in key)
    keyed: bool = True
    by: bool = False
    said: bool = False  # a __said record: also the values its rule's `% because:` words name


@dataclass
class Template:
    params: dict
    maps: dict  # sort root -> SortMap
    preds: dict  # input predicate -> (arity, keyed, [sort root per argument])
    index: dict  # canonical input atom key -> input slot
    outputs: list[Output]
    run: object  # the compiled evaluation: run(inputs, all_ones) -> output values
    rules: int = 0
    seconds: float = 0.0
    reading: list | None = None  # how the engine reads its shown atoms back (fastpath/readback.py)
    filled: dict = field(default_factory=dict)  # (shown atom, texts of the case's values) -> what a case gets (fastpath/readback.py)


def build(policy, analysis: Analysis, data_atoms: list[clingo.Symbol], params: dict, program: list) -> Template:
    import time

    start = time.perf_counter()
    maps = sort_maps(analysis, analysis.data_values, data_atoms, params)
    preds = {}
    inputs: list[tuple[tuple, clingo.Symbol]] = []
    for name, arity in sorted(analysis.input_arities.items()):
        keyed = name in analysis.keyed
        roots = [analysis.root(((name, arity, i),)) for i in range(arity)]
        preds[name] = (arity, keyed, roots)
        domains = []
        for i, root in enumerate(roots):
            if keyed and i == 0:
                domains.append([(0, TEMPLATE_KEY)])
            else:
                domains.append(sorted(maps[root].symbols.items(), key=lambda kv: repr(kv[0])))
        observed = params.get(("observed", name))
        generic = [i for i, root in enumerate(roots) if maps[root].kind == "injective" and not maps[root].ordered]
        for combo in itertools.product(*domains):
            key = (name, *(k for k, _ in combo))
            if observed is not None and key not in observed and not any(
                    combo[i][0] not in maps[roots[i]].fixed for i in generic):
                # a fact with no case key is a fact about its values (a code's number): of its
                # combinations of values that stand for themselves, those the cases showed
                continue
            inputs.append((key, clingo.Function(name, [s for _, s in combo])))
    index = {key: slot for slot, (key, _) in enumerate(inputs)}
    group_ids: dict = {}
    slot_members: list = [()] * len(inputs)  # (group, member) pairs of each input slot
    for slot, (key, _) in enumerate(inputs):
        mine = []
        for j in params.get(("fd", key[0]), ()):
            gid = group_ids.setdefault((key[0], j, key[:j] + key[j + 1:]), len(group_ids))
            mine.append((gid, key[j]))
        slot_members[slot] = tuple(mine)
    fds = sorted((k, v) for k, v in params.items() if k[0] == "fd")
    name = cache.digest(program, policy.data.facts, inputs, repr(fds))
    stored = cache.load(name)
    from_cache = stored is not None
    if stored is None:
        shown_text, code, count = _bounded_build(policy, program, inputs, slot_members, analysis, maps)
        outputs = _outputs([clingo.parse_term(text) for text in shown_text], analysis, maps)
        stored = {"outputs": cache.portable(outputs), "code": code, "rules": count}
        cache.save(name, stored)
    else:  # the shown atoms as read when it was built (a function of what the digest covers)
        outputs = cache.local(stored["outputs"])
    run = types.FunctionType(stored["code"], {"__builtins__": {}}, "run")
    spare = len(inputs)  # the slot of facts no rule reads: set, never read
    index[None] = spare
    template = Template(params, maps, preds, index, outputs, run, stored["rules"], time.perf_counter() - start)
    template.slot_groups = [tuple(g for g, _ in members) for members in slot_members] + [()]
    template.from_cache = from_cache
    return template


def _bounded_build(policy, program: list, inputs: list, slot_members: list, analysis: Analysis, maps: dict):
    """_ground_and_compile in a child process under the work limits (limits.py), given the time
    of BUILD_CASES cases: grounding over open inputs can grow past any memory (a sort whose
    domain is far larger than the rules need: measured 23 GB), and clingo's grounder cannot be
    stopped from outside. Past a limit, or refused in the child, the template is refused and
    clingo answers. Returns (shown atoms as text, code, rules)."""
    from ..limits import LimitExceeded, bounded

    def work():
        try:
            shown, code, count = _ground_and_compile(policy, program, inputs, slot_members, analysis, maps)
        except Refused as e:
            return ("refused", str(e))
        return ("ok", ([str(sym) for sym in shown], code, count))

    try:
        kind, value = bounded(work, BUILD_CASES)
    except LimitExceeded as e:
        raise Refused(f"building the template took more than {e.limit}") from None
    except MemoryError:  # run in this process (no fork): clingo's allocation failed
        raise Refused("building the template ran out of memory") from None
    if kind != "ok":
        raise Refused(value)
    return value


def _ground_and_compile(policy, program: list, inputs: list, slot_members: list, analysis: Analysis, maps: dict):
    """clingo grounds the program over the inputs; the ground program is checked and compiled.
    Returns the shown symbols (in the order the compiled code returns their values), the code
    and the number of ground rules compiled."""
    messages: list[str] = []

    def logger(code, message):
        if code == clingo.MessageCode.AtomUndefined and "does not occur in any rule head" in message:
            messages.append(message)

    observer = _Observer()
    ctl = control(["--models=1"], logger, 1000)
    ctl.register_observer(observer)
    # The inputs are a choice in the program itself, built from symbols (never text): given
    # through the backend instead, the grounder takes such atoms as it takes facts and keeps,
    # of the atoms a variable read by one literal alone could match, the first (measured:
    # `diagnosis(C,L,D)` in a denial rule grounded for one diagnosis only).
    loc = ast.Location(ast.Position("<template>", 1, 1), ast.Position("<template>", 1, 1))
    elements = [ast.ConditionalLiteral(loc, ast.Literal(loc, ast.Sign.NoSign, ast.SymbolicAtom(ast.SymbolicTerm(loc, sym))), [])
                for _, sym in inputs]
    with ast.ProgramBuilder(ctl) as builder:
        for statement in program:
            builder.add(statement)
        builder.add(ast.Rule(loc, ast.Aggregate(loc, None, elements, None), []))
    with ctl.backend() as backend:
        for sym in policy.data.facts:
            backend.add_rule([backend.add_atom(sym)])
    ctl.ground([("base", [])])
    slot_of_atom: dict[int, int] = {}
    atoms = []
    for slot, (_key, sym) in enumerate(inputs):
        found = ctl.symbolic_atoms[sym]
        if found is None:
            raise Refused(f"input atom {sym} did not reach the ground program")
        atoms.append(found.literal)
        slot_of_atom[found.literal] = slot
    if messages:
        raise Refused("the policy reads atoms no rule defines")
    if len(observer.rules) + len(observer.weights) > MAX_GROUND_RULES:
        raise Refused(f"the template grounds to {len(observer.rules):,} rules")
    if observer.refused:
        raise Refused(observer.refused[0])
    if len(observer.choices) != 1 or set(observer.choices[0]) != set(atoms):
        raise Refused("a choice rule")
    shown = [symbol for symbol, _ in observer.outputs]
    _outputs(shown, analysis, maps)  # refuses a shown atom that holds a class stand-in
    groups = {atoms[slot]: list(members) for slot, members in enumerate(slot_members) if members}
    code, count = _compile(observer, slot_of_atom, [atom for _, atom in observer.outputs], groups)
    return shown, code, count


def _outputs(shown: list, analysis: Analysis, maps: dict) -> list[Output]:
    outputs = []
    for symbol in shown:
        out = Output(parse_atom(str(symbol)))
        _holes(symbol, (), (), analysis, maps, out)
        name = out.atom[0]
        if name in ("__by", "__said"):  # records.py: __by(I, Head), __said(I, Head, Values)
            head = out.atom[2] if len(out.atom) > 2 else ()
            out.by = True
            out.said = name == "__said"
            out.keyed = isinstance(head, tuple) and len(head) > 1 and head[1] == "0"
        else:
            out.keyed = len(out.atom) > 1 and out.atom[1] == "0"
        outputs.append(out)
    return outputs


def _holes(sym: clingo.Symbol, pos: tuple, path: tuple, analysis: Analysis, maps: dict, out: Output) -> None:
    """Record where a shown atom holds a stand-in of an injective sort; refuse one that holds
    a class stand-in (it would stand for many values, not one)."""
    if sym.type != clingo.SymbolType.Function:
        return
    for i, arg in enumerate(sym.arguments):
        p = pos + argument_position(sym.name, len(sym.arguments), i, sym.arguments[0]) if not pos else \
            pos + ((sym.name, len(sym.arguments), i),)
        node = ("pos", p)
        root = analysis.uf.find(node) if node in analysis.uf.parent else None
        m = maps.get(root)
        here = path + (i + 1,)
        if m is not None and m.kind == "injective":
            key = symbol_key(arg)
            if key not in m.fixed:
                out.holes.append((here, root, key))
        elif m is not None and m.kind == "class":  # noqa: SIM102 -- one case of several
            if symbol_key(arg) not in m.single:
                raise Refused(f"a shown atom holds a value the template cannot tell apart: {sym}")
        if arg.type == clingo.SymbolType.Function and arg.arguments:
            _holes(arg, p, here, analysis, maps, out)


def _compile(observer: _Observer, slot_of_atom: dict[int, int], output_atoms: list[int], groups: dict):
    """Straight-line Python for the ground program, from the inputs to the shown atoms.

    `groups`: for each input atom, the (group, member) pairs of the functional dependencies it
    is in (a line has one code: line(C,N,K) for one K per N). Only cases that keep them are
    evaluated, so a rule whose positive body needs two members of one group never fires and
    is left out (grounding over open inputs joins every code of a line with every other)."""
    definitions: dict[int, list] = {}
    for head, body in observer.rules:
        if head in slot_of_atom:
            raise Refused("a rule derives an input atom")
        definitions.setdefault(head, []).append(("rule", body))
    for head, bound, body in observer.weights:
        if head in slot_of_atom:
            raise Refused("a rule derives an input atom")
        definitions.setdefault(head, []).append(("weight", bound, body))
    # the atoms the shown ones depend on
    needed: set[int] = set()
    stack = [a for a in output_atoms if a]
    graph: dict[int, set[int]] = {}
    while stack:
        atom = stack.pop()
        if atom in needed:
            continue
        needed.add(atom)
        deps = set()
        for d in definitions.get(atom, ()):
            lits = d[1] if d[0] == "rule" else [lit for lit, _ in d[2]]
            deps.update(abs(lit) for lit in lits)
        graph[atom] = deps
        stack.extend(deps - needed)
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError:
        raise Refused("the ground program has a loop (recursion, or a cycle through not)") from None
    # which members of each group an atom can be true with (no entry: any); no entry at all: never true
    allowed: dict[int, dict] = {}
    live: dict[int, list] = {}
    for atom in order:
        if atom in slot_of_atom:
            allowed[atom] = {g: frozenset((m,)) for g, m in groups.get(atom, ())}
            continue
        union = None
        kept = []
        for d in definitions.get(atom, ()):
            cons: dict = {}
            if d[0] == "rule":
                dead = False
                for lit in d[1]:
                    if lit < 0:
                        continue
                    found = allowed.get(lit)
                    if found is None:
                        dead = True
                        break
                    for g, members in found.items():
                        current = cons.get(g)
                        members = members if current is None else current & members
                        if not members:
                            dead = True
                            break
                        cons[g] = members
                    if dead:
                        break
                if dead:
                    continue
            kept.append(d)
            union = cons if union is None else {g: union[g] | cons[g] for g in union.keys() & cons.keys()}
        if kept:
            allowed[atom] = union
            live[atom] = kept
    lines = ["def run(I, A):"]
    name = {}
    count = 0
    temp = itertools.count()

    for atom in order:
        if atom in slot_of_atom:
            name[atom] = f"v{atom}"
            lines.append(f" v{atom}=I[{slot_of_atom[atom]}]")
            continue
        terms = []
        for d in live.get(atom, ()):
            count += 1
            if d[0] == "rule":
                body = d[1]
                pos = [name.get(lit, "0") for lit in body if lit > 0]
                neg = [name.get(-lit, "0") for lit in body if lit < 0]
                if "0" in pos:
                    continue  # an atom that is never true: the rule never fires
                neg = [n for n in neg if n != "0"]
                expr = "&".join(pos) if pos else "A"
                if neg:
                    expr += "&~(" + "|".join(neg) + ")"
                terms.append(expr)
            else:
                _, bound, body = d
                if bound <= 0:
                    terms.append("A")
                    continue
                if bound > MAX_WEIGHT_BOUND:
                    raise Refused(f"an aggregate bound of {bound}")
                # c[j]: the cases whose literals so far weigh at least j (j = 1..bound)
                cs = [f"w{next(temp)}" for _ in range(bound)]
                lines.append(" " + "=".join(cs) + "=0")
                for lit, weight in body:
                    if weight == 0:
                        continue
                    x = name.get(abs(lit), "0")
                    x = x if lit > 0 else f"(A&~{x})"
                    if x == "0":
                        continue
                    for j in range(bound, 0, -1):
                        below = "A" if j - weight <= 0 else cs[j - weight - 1]
                        lines.append(f" {cs[j - 1]}|={below}&{x}")
                terms.append(cs[-1])
        if not terms:
            continue  # never true: stays "0"
        name[atom] = f"v{atom}"
        for i in range(0, len(terms), MAX_EXPRESSION_TERMS):
            part = "|".join(f"({t})" for t in terms[i:i + MAX_EXPRESSION_TERMS])
            lines.append(f" v{atom}={part}" if i == 0 else f" v{atom}|={part}")
    results = ",".join("A" if a == 0 else name.get(a, "0") for a in output_atoms)
    lines.append(f" return ({results}{',' if len(output_atoms) == 1 else ''})")
    namespace: dict = {}
    source = "\n".join(lines)
    exec(compile(source, "<mohs-asp template>", "exec"), namespace)  # noqa: S102 -- code made here from clingo's ground rules
    return namespace["run"].__code__, count
