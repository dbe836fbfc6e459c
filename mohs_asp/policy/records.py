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


def instrumented(statements: list[ast.AST], rules: list[Rule], track: frozenset[str] | None,
                 plans: Plans | None = None) -> list[ast.AST]:
    """The statements to ground; with `track`, also a firing record for each of the rules
    (numbered by their place in `rules`) whose head predicate is in `track` (or every rule
    when `track` holds "*").

    For explanations `track` also holds "?" (and `plans` is given): `__by` records for the
    heads it names, `__fired` records for those and the heads explanations word firings of
    (`Plans.fired_heads`), and the `__upto` records of how far each rule why-not asks about
    got; with "needs", the `__needs` records of what would qualify (engine.QUALIFYING)."""
    everything = bool(track) and "*" in track
    explaining = bool(track) and "?" in track and plans is not None
    # the tracked heads are read off their __by records: not shown a second time
    out = [n for n in statements
           if everything or not track or n.ast_type != ast.ASTType.ShowSignature or n.name not in track]
    if track:
        fired = track | plans.fired_heads if explaining else track
        for index, rule in enumerate(rules):
            if not rule.head:
                continue
            if explaining:
                if rule.head[0] in track:
                    out.append(decided_by(rule, index))
                if rule.head[0] in fired:
                    out.append(firing_rule(rule, index))
                continue
            if everything or rule.head[0] in track:
                said = not everything and rule.said_variables
                out.append(said_by(rule, index) if said else decided_by(rule, index))
            if everything:
                out.append(firing_rule(rule, index))
        if explaining:
            out.extend(plans.statements("needs" in track))
            # explanations read the derived atoms and the records, not the data (the policy has it) nor
            # the case's facts (as given: engine.solve)
            shows = " ".join(f"#show {name}/{arity}." for name, arity in sorted(plans.shown))
            ast.parse_string(shows + " #show __upto/5. #show __needs/3. #show __fired/3.", out.append)
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



# -- why not, and what would qualify: records of how far a rule's body got ---------------------

WHY_NOT_ROOTS = (("indication", 3),)  # the conclusions explanations ask why-not of (explain/why.py)
OPEN = clingo.Function("__open")  # in a record, an argument the literals before it leave unbound
SEEDS = frozenset({("case", 1), ("date_of_service", 2)})  # what no documentation changes, to begin with


class Plan:
    """How far a rule's body got, as its `__upto` records say (why not), and what it needs
    documented, as its `__needs` record says (what would qualify): read off the rule model.

    Why not: the body in the rule's safe order (`order`); `__upto(K0, I, K, (V...), (A...))`
    says the first K literals held with these values of `bound[K]` (the variables they bind),
    and A are the arguments of literal K+1 under them (`OPEN` where unbound; a comparison's two
    sides); K0 is the case when the first K literals bind the head's case variable, else 0 and
    the record is every case's.

    What would qualify, for a lesion named by the head's case and lesion arguments (`fixed`,
    the head positions its question fixes): the case facts the body reads are left open
    (`open`), unless the head fixes all their variables (`held`: the lesion may have them);
    a derived predicate no documentation fixes is asked in turn (`inner`, with the positions
    the literal fixes); a comparison with an open variable is worded as a limit (`limits`);
    the rest (the data, what the date fixes) is kept, and `__needs(C, I, J, (V...))` records
    each way it holds (the values of `kept_vars`, then each limit's other side)."""

    def __init__(self, rule: Rule, index: int, given: frozenset, derived: frozenset, case_facts: frozenset,
                 fixed: tuple[int, ...], number: int):
        self.rule, self.index, self.number, self.fixed = rule, index, number, fixed
        self.order = rule.safe_order(())
        self.other = any(lit.kind == "other" for lit in self.order)  # a literal the records cannot say how far it got
        # origin[K]: for each variable the first K literals bind, the first positive literal binding it
        self.origin: list[dict] = [{}]
        for lit in self.order:
            self.origin.append({**self.origin[-1], **{v: lit for v in lit.vars if v not in self.origin[-1]}}
                               if lit.kind == "pos" else self.origin[-1])
        self.bound: list[tuple[str, ...]] = [()]
        for lit in self.order:
            new = sorted(lit.vars - set(self.bound[-1]))
            self.bound.append(self.bound[-1] + tuple(new))
        head = rule.head_terms
        self.case_var = head[0].name if head and head[0].kind == "var" else None
        # -- what would qualify
        start = set().union(*(head[i].vars for i in fixed if i < len(head)))
        self.open, self.held, self.inner, self.limits, self.kept = [], [], [], [], []
        self.unsure = any(head[i].kind not in ("var", "val", "any") for i in fixed if i < len(head))
        bound, free, kept_vars = set(start), set(), set()
        for lit in rule.safe_order(start):
            key = (lit.name, len(lit.args)) if lit.name is not None else None
            if lit.kind == "pos" and key is not None and lit.name in case_facts and key not in given:
                self.open.append(lit)
                if lit.vars <= start:
                    self.held.append(lit)  # the lesion may have it already: then it needs no documenting
                else:
                    free |= lit.vars - bound
                continue
            if lit.kind == "pos" and key in derived and key not in given and not lit.vars & free:
                positions = tuple(i for i, t in enumerate(lit.args) if t.kind != "any" and t.vars <= bound)
                self.inner.append((lit, positions))
                continue
            if lit.kind == "cmp" and lit.vars & free:
                (left, other), op = lit.args, lit.op
                if left.kind == "var" and left.name in free:
                    var = left.name
                elif other.kind == "var" and other.name in free:
                    var, other, op = other.name, left, FLIP[op]
                else:
                    self.unsure = True
                    continue
                self.limits.append((var, op, other))
                continue
            reads_lesion = lit.vars & (start - {self.case_var})
            if lit.kind in ("pos", "neg", "cmp", "bool") and not reads_lesion and (lit.kind == "pos" or lit.vars <= kept_vars | start):
                self.kept.append(lit)
                kept_vars |= lit.vars
                if lit.kind == "pos":
                    bound |= lit.vars
                continue
            self.unsure = True
        self.free = frozenset(free)
        self.kept_vars = tuple(sorted(kept_vars | ({self.case_var} if self.case_var else set())))
        if any(not (other.vars <= set(self.kept_vars)) for _, _, other in self.limits) or self.case_var is None:
            self.unsure = True

    def upto_rules(self) -> list[ast.AST]:
        """`__upto` for each K from 1 to n; where the first K literals bind the head's variables
        H, only for H no binding of which gets further (`__past(I, K, H)`: the first K+1 held)."""
        loc = self.rule.node.location
        head = sorted(set().union(*(t.vars for t in self.rule.head_terms)))
        out = []
        for k in range(1, len(self.order) + 1):
            bound = set(self.bound[k])
            key = ast.Variable(loc, self.case_var) if self.case_var in bound else _number(loc, 0)
            values = ast.Function(loc, "", [ast.Variable(loc, v) for v in self.bound[k]], 0)
            nxt = ast.Function(loc, "", [_shown_term(t, bound, loc) for t in _next_terms(self.order[k])], 0) \
                if k < len(self.order) else ast.Function(loc, "", [], 0)
            body = [lit.node for lit in self.order[:k]]
            if k < len(self.order) and set(head) <= bound:
                past = ast.Function(loc, "__past", [_number(loc, self.index), _number(loc, k),
                                                    ast.Function(loc, "", [ast.Variable(loc, v) for v in head], 0)], 0)
                out.append(ast.Rule(loc, _literal(loc, past), [lit.node for lit in self.order[:k + 1]]))
                body.append(_literal(loc, past, ast.Sign.Negation))
            atom = ast.Function(loc, "__upto", [key, _number(loc, self.index), _number(loc, k), values, nxt], 0)
            out.append(ast.Rule(loc, _literal(loc, atom), body))
        return out

    def needs_rule(self) -> ast.AST | None:
        if self.unsure:
            return None
        loc = self.rule.node.location
        body = [lit.node for lit in self.kept]
        if self.case_var not in {v for lit in self.kept if lit.kind == "pos" for v in lit.vars}:  # (`not p(C)` binds no C)
            case = ast.Function(loc, "case", [ast.Variable(loc, self.case_var)], 0)
            body.insert(0, ast.Literal(loc, ast.Sign.NoSign, ast.SymbolicAtom(case)))
        values = ast.Function(loc, "", [ast.Variable(loc, v) for v in self.kept_vars] +
                              [other.node for _, _, other in self.limits], 0)
        atom = ast.SymbolicAtom(ast.Function(loc, "__needs", [ast.Variable(loc, self.case_var), _number(loc, self.number),
                                                              values], 0))
        return ast.Rule(loc, ast.Literal(loc, ast.Sign.NoSign, atom), body)


FLIP = {ast.ComparisonOperator.GreaterEqual: ast.ComparisonOperator.LessEqual,
        ast.ComparisonOperator.GreaterThan: ast.ComparisonOperator.LessThan,
        ast.ComparisonOperator.LessEqual: ast.ComparisonOperator.GreaterEqual,
        ast.ComparisonOperator.LessThan: ast.ComparisonOperator.GreaterThan,
        ast.ComparisonOperator.Equal: ast.ComparisonOperator.Equal,
        ast.ComparisonOperator.NotEqual: ast.ComparisonOperator.NotEqual}


def _literal(loc, function: ast.AST, sign=ast.Sign.NoSign) -> ast.AST:
    return ast.Literal(loc, sign, ast.SymbolicAtom(function))


def _number(loc, n: int) -> ast.AST:
    return ast.SymbolicTerm(loc, clingo.Number(n))


def _next_terms(lit) -> tuple:
    return lit.args if lit.kind in ("pos", "neg", "cmp") else ()


def _shown_term(term, bound: set[str], loc) -> ast.AST:
    if term.kind in ("any", "?") or not term.vars <= bound:
        return ast.SymbolicTerm(loc, OPEN)
    return term.node


class Plans:
    """The plans of a policy's rules for explanations (once per policy): the rules why-not can
    ask about (the roots' rules and, in turn, those of each derived predicate without `absent:`
    words that they read), and what would qualify for the roots' rules, asked in turn."""

    def __init__(self, rules: list[Rule], predicates: dict, derived: frozenset, case_facts: frozenset):
        self.rules = rules
        by_head: dict = {}
        for i, rule in enumerate(rules):
            if rule.head and rule.kind == "atom":
                by_head.setdefault(rule.head, []).append(i)
        self.by_head = by_head
        self.shown = derived  # what explanations read off the model (the case's facts as given: engine.solve)
        self.given = _given(rules, by_head, derived, case_facts)
        self.upto: dict[int, Plan] = {}
        heads, seen = list(WHY_NOT_ROOTS), set()
        while heads:
            head = heads.pop(0)
            if head in seen:
                continue
            seen.add(head)
            for i in by_head.get(head, []):
                self.upto[i] = plan = Plan(rules[i], i, self.given, derived, case_facts, (), -1)
                for lit in plan.order:
                    key = (lit.name, len(lit.args)) if lit.name is not None else None
                    if lit.kind == "pos" and key in derived and (key not in predicates or not predicates[key].absent):
                        heads.append(key)
        self.needs: list[Plan] = []
        self._needs: dict = {}
        for root in WHY_NOT_ROOTS:
            self.needs_for(root, tuple(range(root[1])), derived, case_facts, 0)

    def needs_for(self, head, fixed: tuple[int, ...], derived=None, case_facts=None, depth: int = 0) -> list[Plan]:
        """The plans of what would qualify for head's rules, with these head positions fixed."""
        if (head, fixed) not in self._needs:
            self._needs[(head, fixed)] = plans = []
            for i in self.by_head.get(head, []):
                plan = Plan(self.rules[i], i, self.given, derived, case_facts, fixed, len(self.needs))
                self.needs.append(plan)
                plans.append(plan)
                if depth < 4:
                    for lit, positions in plan.inner:
                        self.needs_for((lit.name, len(lit.args)), positions, derived, case_facts, depth + 1)
        return self._needs[(head, fixed)]

    @property
    def fired_heads(self) -> frozenset[str]:
        """The heads whose firings a why-not words: those a rule it asks about reads under `not`."""
        return frozenset(lit.name for plan in self.upto.values() for lit in plan.order
                         if lit.kind == "neg" and lit.name is not None)

    def statements(self, needs: bool) -> list[ast.AST]:
        """The `__upto` records, or with `needs` the `__needs` records alone."""
        if needs:
            return [r for plan in self.needs if (r := plan.needs_rule()) is not None]
        return [r for plan in self.upto.values() for r in plan.upto_rules()]


def _given(rules, by_head, derived, case_facts) -> frozenset:
    """What no documentation changes: the case and its date of service, and every predicate
    the rules derive from those and the data alone (which rows are in force on the date)."""
    given = set(SEEDS)

    def fixed(lit) -> bool:
        if lit.kind in ("cmp", "bool"):
            return True
        if lit.kind not in ("pos", "neg") or lit.name is None:
            return False
        key = (lit.name, len(lit.args))
        return key in given or (key not in derived and lit.name not in case_facts)

    changed = True
    while changed:
        changed = False
        for key, indexes in by_head.items():
            if key not in given and all(fixed(lit) for i in indexes for lit in rules[i].body):
                given.add(key)
                changed = True
    return frozenset(given)
