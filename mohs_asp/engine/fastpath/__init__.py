"""The compiled engine: the policy as clingo grounds it, evaluated for many cases at once.

`solve(policy, cases)` gives what `engine.solve(policy, cases)` gives, one
Solved per case it can take (None for the others), in order, without running clingo per chunk:

1. analysis.py reads the rules (never a restatement of them) and decides how each input
   argument may stand in for the case's values without changing any answer;
2. template.py has clingo ground the rules once over open inputs (each argument over its
   stand-ins) and compiles the ground program to straight-line bit-set code;
3. here each case is turned into its input atoms exactly as `engine.case_facts` makes them
   (the one translation from a case to facts), mapped onto the stand-ins (each fact's key and
   each sort's stand-ins for a case's values kept per process), the template evaluated for
   all its cases at once (one bit a case), and the shown atoms read back by a plan made once
   a template, stand-ins mapped back to the case's own values.

A case the templates do not cover (more lesions or lines than any template has, a value
outside an exact domain) is left to the caller (None in its place), which has clingo solve
it as before, in one Control for all such cases of the chunk and under the work limits
(api.within_limits); so is every case when the policy uses a construct the templates do not
take (the analysis or the ground program is refused: a constraint, a choice, a disjunction,
a cyclic rule, a #sum, ...). Each case is answered as `check` answers it alone. The date of
service is an input like the others: the rules compare it only with the data's periods, so
a template holds those days and a stand-in for each stretch between them.

`MOHS_ASP_ENGINE=clingo` turns the compiled engine off (every case through clingo, the
reference); `MOHS_ASP_ENGINE=compiled` uses it even for a handful of cases (by default a
call with fewer than FAST_MIN cases goes to clingo unless a template is already built,
since building one takes a fraction of a second).
"""

from __future__ import annotations

import gc
import os
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from itertools import chain
from operator import itemgetter

from ..solver import DECIDING, Solved, case_facts, control
from ...errors import PolicyError
from ...policy.load import CASE_FACT_PREDICATES, Policy
from . import readback
from .values import CACHE_LIMIT, CASE, value_key

if TYPE_CHECKING:
    from .template import Template

# analysis.py, template.py and cache.py are imported when a template is first wanted: `check`
# (one case, clingo) does not pay for them

ENGINE_VARIABLE = "MOHS_ASP_ENGINE"
FAST_MIN = 100  # cases in one call before a template is worth building
BUILD_MIN = 20  # cases a new template must cover to be built
MAX_TEMPLATES = 4  # per policy and process
MAX_STAND_INS = 16  # per sort and case: a case needing more goes to clingo
MAX_SEEN = 64  # values of an equality sort that stand for themselves in a template
MAX_EXACT_VALUES = 128  # values of an exact sort (units) a template takes


class Compiled(Solved):
    """A Solved read off a compiled template (the same fields, the same meaning)."""


class _Identity(dict):
    """engine.case_facts's symbol table, handing back plain values (ints and strs)."""

    def __missing__(self, value):
        if len(self) > CACHE_LIMIT:
            self.clear()
        self[value] = value
        return value


_IDENTITY = _Identity()
_FIRST = itemgetter(0)
_THIRD = itemgetter(2)


@dataclass
class _Encoded:
    keys: list  # canonical input atom keys
    inverse: dict | None  # (sort root, stand-in key) -> the text of the case's value it stands for, where a shown atom can hold it; None when none is moved


@dataclass
class Engine:
    policy: Policy
    refused: str | None = None
    analysis: object = None
    data_atoms: list = field(default_factory=list)
    maps: dict = field(default_factory=dict)
    seen: dict = field(default_factory=dict)  # root of an equality sort -> values seen often (stand for themselves)
    templates: list[Template] = field(default_factory=list)
    failed_builds: int = 0
    stats: dict = field(default_factory=lambda: {"compiled": 0, "clingo": 0})
    cache: dict = field(default_factory=dict)  # fact -> (key, holes): Engine._entry
    shown: set = field(default_factory=set)  # roots of the sorts whose stand-ins a template's shown atoms hold
    _mappings: dict = field(default_factory=dict)  # (root, a case's values) -> Engine._mapping

    # -- the analysis, once --------------------------------------------------------------------

    def prepare(self, facts_of_cases: list[list]) -> None:
        from .analysis import Refused

        keyed = set()
        names = set(CASE_FACT_PREDICATES)
        for facts in facts_of_cases:
            for name, args in facts:
                names.add(name)
                if args and args[0] is CASE:
                    keyed.add(name)
        try:
            self.data_atoms, self.analysis = _analysed(self.policy, frozenset(names), frozenset(keyed))
            a = self.analysis
            self.roots = {name: tuple(a.root(((name, arity, i),)) for i in range(arity))
                          for name, arity in a.input_arities.items()}
            self._remap({})
        except (Refused, RuntimeError) as e:
            self.refused = str(e)

    def _remap(self, seen: dict) -> None:
        """The maps used to encode cases: generic stand-ins up to MAX_STAND_INS, the values
        seen often standing for themselves."""
        params = {}
        for root, kind in self.analysis.kinds.items():
            if kind == "injective":
                params[("k", root)] = MAX_STAND_INS
                params[("S", root)] = seen.get(root, ())
        self.seen = seen
        from .template import sort_maps

        self.maps = sort_maps(self.analysis, self.analysis.data_values, self.data_atoms, params)
        self.cache = {}
        self._mappings = {}

    # -- cases to input atoms --------------------------------------------------------------------

    def _entry(self, fact):
        """A fact's canonical key with each value of an injective sort as it is, its holes:
        (place in the key, sort root, value) for each such value that is not fixed (the case's
        other values decide its stand-in), and their (sort root, value) pairs. Kept per process
        (self.cache)."""
        name, args = fact
        a = self.analysis
        arity = a.input_arities.get(name)
        if arity is None:
            if name not in a.inputs:
                return None
            entry = self.cache[fact] = (None, (), ())  # an input no rule reads (and none is shown)
            return entry
        if arity != len(args) or ((bool(args) and args[0] is CASE) != (name in a.keyed)):
            return None
        key = [name]
        holes = []
        for root, arg in zip(self.roots[name], args):
            if arg is CASE:
                if len(key) != 1:
                    return None
                key.append(0)
                continue
            value = value_key(arg)
            m = self.maps[root]
            if m.kind == "class":
                rep = m.class_of(value)
                if rep is None:
                    return None
                key.append(rep)
                continue
            if m.kind == "injective" and value not in m.fixed:
                holes.append((len(key), root, value))
            key.append(value)
        if len(self.cache) > CACHE_LIMIT:
            self.cache.clear()
        entry = self.cache[fact] = (tuple(key), tuple(holes), tuple((root, value) for _, root, value in holes))
        return entry

    def _mapping(self, root, values: tuple):
        """Stand-ins for a case's values of one injective sort that are not fixed (in order of
        appearance): (value -> stand-in for those that are not their own, (sort, stand-in) ->
        the value's text for shown sorts), both None when each stands for itself; False
        when the template cannot take them. Kept per process."""
        memo = self._mappings
        found = memo.get((root, values))
        if found is not None:
            return found
        reps = self.maps[root].injective(values)
        if reps is None:
            found = False
        else:
            moved = {value: rep for value, rep in reps.items() if value != rep}
            texts = {(root, rep): readback.text(value) for value, rep in moved.items()} if root in self.shown else {}
            found = (moved or None, texts or None)
        if len(memo) > CACHE_LIMIT:
            memo.clear()
        memo[(root, values)] = found
        return found

    def encode(self, facts: list) -> _Encoded | None:
        """The case's input atoms, its values of injective sorts mapped onto their stand-ins;
        None when a fact is not an input the templates can take."""
        entries = list(map(self.cache.get, facts))
        if None in entries:
            entries = [e if e is not None else self._entry(f) for e, f in zip(entries, facts)]
            if None in entries:
                return None
        holes = dict.fromkeys(chain.from_iterable(map(_THIRD, entries)))  # in order of first appearance
        if not holes:  # every value stands for itself
            return _Encoded(list(map(_FIRST, entries)), None)
        per_root: dict = {}
        for root, value in holes:
            if root in per_root:
                per_root[root].append(value)
            else:
                per_root[root] = [value]
        moved = {}
        shown = {}
        for root, values in per_root.items():
            found = self._mapping(root, tuple(values))
            if found is False:
                return None
            if found[0] is not None:
                moved[root] = found[0]
                if found[1] is not None:
                    shown.update(found[1])
        if not moved:
            return _Encoded(list(map(_FIRST, entries)), None)
        keys = []
        for key, mine, _ in entries:
            if mine:
                key = list(key)
                for i, root, value in mine:
                    reps = moved.get(root)
                    if reps is not None and value in reps:
                        key[i] = reps[value]
                key = tuple(key)
            keys.append(key)
        return _Encoded(keys, shown or None)

    # -- templates ---------------------------------------------------------------------------------

    def new_template(self, facts_of: list[list]) -> Template | None:
        """A template for these cases (their facts): their exact values; of each equality sort,
        the values seen in at least 1% of them standing for themselves, generic stand-ins for
        the others; as many ranks as the cases need."""
        from .analysis import Refused
        from .template import build

        a = self.analysis
        plan = {}  # predicate -> [(argument, root, kind)] for injective and exact arguments
        for name, roots in self.roots.items():
            plan[name] = [(i, root, a.kinds[root]) for i, root in enumerate(roots) if a.kinds.get(root) in ("injective", "exact")]
        per_case = []
        counts: dict = {}
        exact: dict = {}
        for facts in facts_of:
            mine: dict = {}
            for name, args in facts:
                for i, root, _kind in plan.get(name, ()):
                    arg = args[i]
                    if arg is not CASE:
                        mine.setdefault(root, set()).add(value_key(arg))
            for root, vals in mine.items():
                if a.kinds[root] == "exact":
                    c = exact.setdefault(root, {})
                    for v in vals:
                        c[v] = c.get(v, 0) + 1
                elif not self.maps[root].ordered:
                    c = counts.setdefault(root, {})
                    for v in vals:
                        c[v] = c.get(v, 0) + 1
            per_case.append(mine)
        # an exact sort (values the rules compute with) takes its most frequent values only
        exact = {root: sorted(c, key=lambda v: (-c[v], repr(v)))[:MAX_EXACT_VALUES] for root, c in exact.items()}
        seen = {root: set(vals) for root, vals in self.seen.items()}
        for root, c in counts.items():
            often = [v for v, n in c.items() if n >= max(2, len(facts_of) // 100)]
            seen.setdefault(root, set()).update(sorted(often, key=lambda v: (-c[v], repr(v)))[:MAX_SEEN])
        needs: dict = {}
        for mine in per_case:
            for root, vals in mine.items():
                m = self.maps[root]
                if a.kinds[root] != "injective":
                    continue
                if m.ordered:
                    found = m.injective(list(vals))
                    n = _per_interval(m, found) if found is not None else MAX_STAND_INS + 1
                else:
                    extra = seen.get(root, ())
                    n = sum(1 for v in vals if v not in m.fixed and v not in extra)
                needs.setdefault(root, []).append(n)
        # stand-ins for what 99% of these cases need: a case with many more lines than the rest
        # goes to clingo rather than make the template (which grows with them) slow for all
        need = {root: sorted(ns)[(len(ns) * 99) // 100 if len(ns) >= 100 else -1] for root, ns in needs.items()}
        params = {}
        for root, kind in a.kinds.items():
            if kind == "injective":
                ordered = self.maps[root].ordered
                params[("k", root)] = min(need.get(root, 1 if ordered else 0), MAX_STAND_INS)
                if not ordered:
                    params[("S", root)] = sorted(seen.get(root, ()), key=repr)
            elif kind == "exact":
                params[("values", root)] = sorted(exact.get(root, ()), key=repr)
        if seen != self.seen:
            self._remap(seen)
        keys_of = [[key for key in enc.keys if key is not None]
                   for enc in (self.encode(facts) for facts in facts_of) if enc is not None]
        for name in a.input_arities:
            if name not in a.keyed:  # facts about values (code_num): the combinations the cases show
                params[("observed", name)] = {key for keys in keys_of for key in keys if key[0] == name}
        # functional dependencies the cases keep (one code a line, one site a lesion): the
        # template leaves out rules that would need two at once, and checks each case keeps them
        for name, arity in a.input_arities.items():
            held = []
            for j in range(1, arity + 1):
                if name in a.keyed and j == 1:
                    continue
                ok, some = True, False
                for keys in keys_of:
                    rest = [key[:j] + key[j + 1:] for key in keys if key[0] == name]
                    if len(set(rest)) != len(rest):
                        ok = False
                        break
                    some = some or bool(rest)
                if ok and some:
                    held.append(j)
            if held:
                params[("fd", name)] = tuple(held)
        try:
            template = build(self.policy, self.analysis, self.data_atoms, params, self.policy.program(DECIDING))
        except Refused as e:
            self.last_failure = str(e)
            self.failed_builds += 1
            if not self.templates:
                self.refused = str(e)
            return None
        self.templates.append(template)
        self.shown |= {root for output in template.outputs for _, root, _ in output.holes}
        self._mappings = {}
        return template


def _per_interval(m, found: dict) -> int:
    counts: dict = {}
    for key in found:
        if key not in m.fixed:
            i = bisect_left(m.points, key)
            counts[i] = counts.get(i, 0) + 1
    return max(counts.values(), default=1)


def _analysed(policy: Policy, names: frozenset, keyed: frozenset):
    """(data atoms, the sort analysis) of a policy for these input predicates, from the disk
    cache when a run before worked them out for the same program, data and code (cache.py)."""
    from . import cache
    from .analysis import analyse

    program = policy.program(DECIDING)
    name = cache.digest(program, policy.data.facts, [], f"analysis {sorted(names)} {sorted(keyed)}")
    stored = cache.load(name)
    if stored is not None and "analysis" in stored:
        return stored["data_atoms"], stored["analysis"]
    data_atoms = _data_atoms(policy)
    analysis = analyse(program, names, keyed, data_atoms)
    cache.save(name, {"data_atoms": data_atoms, "analysis": analysis})
    return data_atoms, analysis


def _data_atoms(policy: Policy) -> list:
    """The data facts and every atom the rules derive from the data alone (no case)."""
    from clingo import ast

    from .analysis import Refused

    ctl = control(["--models=2"], lambda code, message: None)
    with ast.ProgramBuilder(ctl) as builder:
        for statement in policy.program(DECIDING):
            builder.add(statement)
    with ctl.backend() as backend:
        for sym in policy.data.facts:
            backend.add_rule([backend.add_atom(sym)])
    ctl.ground([("base", [])])
    models = []
    ctl.solve(on_model=lambda m: models.append(m.symbols(atoms=True)))
    if len(models) != 1:
        raise Refused("the data alone do not give one answer")
    return list(models[0])


_ENGINES: dict[int, Engine] = {}


def engine_for(policy: Policy) -> Engine:
    engine = _ENGINES.get(id(policy))
    if engine is None or engine.policy is not policy:
        engine = _ENGINES[id(policy)] = Engine(policy)
        engine.rule_ids = [rule.id for rule in policy.rules]
    return engine


def mode() -> str:
    value = os.environ.get(ENGINE_VARIABLE, "auto").strip().lower() or "auto"
    return value if value in ("auto", "clingo", "compiled") else "auto"


def solve(policy: Policy, cases: list, vetted: Callable[[], None] | None = None) -> list[Solved | None]:
    """One Solved per case the compiled templates cover, as engine.solve(policy, cases,
    Record.DECISIONS) gives it; None for each of the others (the caller has clingo solve those,
    under the work limits). `vetted()` is called before the first template is built (it raises
    when the policy cannot decide a small case within the limits: then none is built)."""
    none: list[Solved | None] = [None] * len(cases)
    how = mode()
    if how == "clingo" or not cases:
        return none
    engine = engine_for(policy)
    if engine.refused or (how == "auto" and len(cases) < FAST_MIN and not engine.templates):
        return none
    try:
        return _solve(policy, engine, cases, vetted)
    except PolicyError:
        raise
    except Exception as e:  # noqa: BLE001 -- a fault of the compiled engine must never cost an answer
        engine.refused = f"the compiled engine failed ({type(e).__name__}: {e}); clingo answers"
        return none


def value_class(policy: Policy, cases: list, name: str, position: int) -> Callable | None:
    """For input `name`'s argument `position`, when it is the only input argument of its sort
    (the date of service): a function giving each value the stand-in the compiled engine gives
    it, which it shares with every value the rules cannot tell it from but by the value itself
    (a day and the other days between the same two dates of the data), or None for a value it
    cannot place; None instead of a function when the compiled engine is off or refused. The
    analysis is worked out from these cases when first asked (as `solve` does)."""
    if mode() == "clingo" or not cases:
        return None
    engine = engine_for(policy)
    if engine.analysis is None and not engine.refused:
        try:
            _facts(engine, cases)
        except Exception:  # noqa: BLE001 -- as in solve: the engine's fault costs only its speed
            engine.refused = "the analysis failed"
    if engine.refused or name not in engine.roots or position >= len(engine.roots[name]):
        return None
    root = engine.roots[name][position]
    if any(r == root and (n, i) != (name, position) for n, roots in engine.roots.items() for i, r in enumerate(roots)):
        return None  # another input shares the sort: a value's stand-in depends on the others
    found = engine.maps.get(root)
    if found is None or found.kind not in ("class", "injective"):
        return None
    if found.kind == "class":
        return lambda value: found.class_of(value_key(value))

    def stand_in(value):
        key = value_key(value)
        reps = found.injective([key])
        return None if reps is None else reps[key]

    return stand_in


def _facts(engine: Engine, cases: list) -> list[list]:
    """Each case's facts, as engine.case_facts makes them (plain values); the policy's analysis
    worked out from the first cases seen."""
    facts_of = []
    for case in cases:
        facts: list = []
        case_facts(CASE, case, facts, _IDENTITY, set(), True)
        facts_of.append(facts)
    if engine.analysis is None:
        engine.prepare(facts_of)
    return facts_of


def _solve(policy: Policy, engine: Engine, cases: list, vetted: Callable[[], None] | None) -> list[Solved | None]:
    facts_of = _facts(engine, cases)
    if engine.refused:
        return [None] * len(cases)
    encoded: list = [None] * len(cases)
    groups: dict[int, list] = {}
    left: list[int] = []
    for i, facts in enumerate(facts_of):
        encoded[i] = enc = engine.encode(facts)
        found = _covering(engine, enc)
        if found is None:
            left.append(i)
            continue
        groups.setdefault(found[0], []).append((i, found[1]))
    buildable = [i for i in left if encoded[i] is not None]
    if len(buildable) >= min(BUILD_MIN, len(cases)) and len(engine.templates) < MAX_TEMPLATES and engine.failed_builds < 2:
        if vetted is not None and not engine.templates:
            vetted()
        if engine.new_template([facts_of[i] for i in buildable]) is not None:
            still = []
            for i in left:
                enc = engine.encode(facts_of[i]) if encoded[i] is not None else None
                encoded[i] = enc
                found = _covering(engine, enc)
                if found is None:
                    still.append(i)
                else:
                    groups.setdefault(found[0], []).append((i, found[1]))
            left = still
    out: list[Solved | None] = [None] * len(cases)
    for t, members in groups.items():
        for (i, _), solved in zip(members, _evaluate(engine, engine.templates[t], [(encoded[i], slots) for i, slots in members])):
            out[i] = solved
    engine.stats["compiled"] += len(cases) - len(left)
    engine.stats["clingo"] += len(left)
    return out


def warm_up(policy: Policy, docs: list, vetted: Callable[[], None] | None = None) -> None:
    """Build the templates for these documents (batch's first chunk) now, before worker
    processes are forked: they start with the templates instead of each building its own.
    Documents that are not valid cases are passed over; nothing is answered here. `vetted()`
    is called before a template is built (as `solve` calls it)."""
    if mode() == "clingo" or engine_for(policy).templates or engine_for(policy).refused:
        return
    try:
        _warm_up(policy, docs, vetted)
    except PolicyError:
        raise  # the policy cannot decide a small case within the limits: batch reports it (exit 3)
    except Exception as e:  # noqa: BLE001 -- a fault of the compiled engine must never cost an answer
        engine_for(policy).refused = f"the compiled engine failed ({type(e).__name__}: {e}); clingo answers"


def _warm_up(policy: Policy, docs: list, vetted: Callable[[], None] | None) -> None:
    from ...case.check import parse_case
    from ...errors import CaseInvalid

    cases = []
    for doc in docs:
        if isinstance(doc, CaseInvalid):
            continue
        try:
            cases.append(parse_case(doc, policy))
        except CaseInvalid:
            continue
    if len(cases) < FAST_MIN and mode() == "auto":
        return
    engine = engine_for(policy)
    facts_of = _facts(engine, cases)
    if engine.refused:
        return
    if len(facts_of) >= BUILD_MIN:
        if vetted is not None:
            vetted()
        engine.new_template(facts_of)
    gc.freeze()  # what is built lives as long as the process: the collector need not look at it again


def _covering(engine: Engine, enc: _Encoded | None):
    """(template number, input slots) of the first template whose domain holds every input
    atom of the case; None when none does."""
    if enc is None:
        return None
    for t, template in enumerate(engine.templates):
        try:
            slots = list(map(template.index.__getitem__, enc.keys))
        except KeyError:
            continue
        used = list(chain.from_iterable(map(template.slot_groups.__getitem__, slots)))
        if len(used) == len(set(used)):  # the case keeps the template's functional dependencies
            return t, slots
    return None


def _evaluate(engine: Engine, template: Template, members: list) -> list[Solved]:
    inputs = [0] * len(template.index)
    for i, (_, slots) in enumerate(members):
        bit = 1 << i
        for slot in slots:
            inputs[slot] |= bit
    values = template.run(inputs, (1 << len(members)) - 1)
    plan = template.reading
    if plan is None:
        plan = template.reading = readback.reading(engine, template)
    moved = [enc.inverse for enc, _ in members]
    derived: list[list] = [[] for _ in members]
    by: list[list] = [[] for _ in members]
    said: list[list] = [[] for _ in members]
    filled = template.filled
    for n, keys, unmoved, said_too, read in plan:
        value = values[n]
        if not value:
            continue
        while value:
            low = value & -value
            i = low.bit_length() - 1
            value ^= low
            got = read
            if keys is not None:
                texts = moved[i]
                if texts is not None:
                    texts = tuple(map(texts.get, keys))
                    if texts != unmoved:  # a stand-in of the case's own values: the atom as the case has it
                        got = filled.get((n, texts))
                        if got is None:
                            got = readback.filled(engine, template, n, texts)
            if said_too is None:
                derived[i].append(got)
            else:
                by[i].append(got[0])
                if said_too:
                    said[i].append(got[1])
    return [Compiled(derived=d, decided_by=b, said=s) for d, b, s in zip(derived, by, said)]
