"""`mohs-asp lint`: is a policy folder fit to decide claims?

Checks, in this order (each finding an error or a warning, with where it is):

1. The logic parses and the data loads (syntax errors with logic/FILE.lp:LINE:COL, in the
   same words `check` prints when it exits 3).
2. Every rule has a `% rule: ID` (unique) and a `% policy: "..."` or `% reading: "..."` quote,
   each a whole sentence of the text it names, word for word (mohs_asp/quotes.py); a size a
   quote names agrees with the threshold the rule reads; a `% because:` names only variables
   of its rule.
3. One answer per case: no choice rule, disjunction or integrity constraint, and no loop
   through `not` or an aggregate in the predicate dependency graph (the rules on it named).
4. Grounding the policy with its data and a sample case built from the data (plus the
   policy folder's own tests/, when it has one) logs no error or warning (an undefined atom is
   usually a misspelt predicate), and every case gets one decision and one outcome a line.
5. Vocabulary: a constant a rule reads (`histology_term(T,"sclerotic")`, `site_family(S,"17311")`,
   `in_code_set(C,N,biopsy)`) is one the data or some rule can give there; a data value no
   rule reads is pointed out; a rule that cannot fire with this data is pointed out.
6. Data: procedure codes well-formed, code sets disjoint, MMS codes consistent, site areas.
7. The ICD-10-CM list against the newest release the policy folder has (data/icd10cm/; the
   shipped one is simple-icd-10-cm's): codes written so a case can never match, codes not in
   ICD-10-CM (errors); listed codes that are no longer billable (naming the codes below them)
   and billable codes of a listed family that the list lacks (warnings, each with its
   description).
8. Dates (temporal coverage): the versions of policy.toml follow each other with no gap and
   no overlap; every dated parameter (a threshold, a site, a histology term, an MMS code) has
   exactly one row in force on every day of the policy, no gap and no overlap (errors, at
   the row); a covered code or a code range listed twice on the same days, a row never in
   force, and a change of data on a day no version begins (warnings); ICD-10-CM releases
   that overlap (an error).

A *listed family* is a subcategory (an ICD-10-CM code of four or more characters that has
codes below it) above a listed code: C44.1 for C44.111, C4A.1 for C4A.11. Three-character
categories are not families: the policy takes single codes out of some (C57.7 of C57, D48.5
of D48), and the rest of those categories is not an omission.
"""

from __future__ import annotations

import re
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from pathlib import Path

import clingo
from clingo import ast

from . import icd10, quotes
from .dates import OPEN_END, next_day, previous_day, show_date, span_words
from .errors import CaseInvalid, PolicyError, UsageError
from .explain import PLACEHOLDER
from .render import shown
from .policy import (CASE_FACT_PREDICATES, CODE_SHAPE, CONSTANT, LESION_FLAGS, METADATA, DatedRow, Policy, Rule,
                     _read_csv, default_root, load_data, load_policy, policy_span)

T = ast.ASTType
Key = tuple[str, int]
OPEN = None  # a position whose values come from the case (ids, codes, numbers): not checked
LOCATED = re.compile(r"(\S+?):(\d+(?::\d+)?): (error|warning|note): (.*)")
DATA_FILES = {
    "covered_diagnosis": "covered_diagnoses.csv", "code_range": "code_sets.csv",
    "code_set_label": "code_sets.csv", "first_stage_code": "mms_codes.csv", "addon_code": "mms_codes.csv",
    "code_family": "mms_codes.csv", "addon_primary": "mms_codes.csv", "site_family": "sites.csv",
    "high_risk_site": "sites.csv", "preservation_site": "sites.csv", "histology_term": "histology.csv",
}


@dataclass(frozen=True)
class Finding:
    severity: str  # "error" or "warning"
    where: str  # logic/claims.lp:12:5, data/sites.csv:7, data/covered_diagnoses.csv, or ""
    message: str
    details: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"severity": self.severity, "where": self.where, "message": self.message, "details": list(self.details)}

    def __str__(self) -> str:
        head = f"{self.where}: {self.severity}: {self.message}" if self.where else f"{self.severity}: {self.message}"
        return "\n".join([head, *(f"    {d}" for d in self.details)])


@dataclass
class LintReport:
    policy: str
    findings: list[Finding] = field(default_factory=list)
    rules: int = 0
    cases: int = 0  # cases solved to check for one answer
    release: str = ""
    loaded: bool = False  # the logic parsed and the data loaded (an empty logic/main.lp loads: 0 rules)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict:
        return {"policy": self.policy, "ok": self.ok, "errors": len(self.errors), "warnings": len(self.warnings),
                "rules": self.rules, "cases": self.cases, "icd10cm_release": self.release,
                "findings": [f.as_dict() for f in self.findings]}

    def render(self) -> str:
        out = [str(f) for f in self.findings]
        n_err, n_warn = len(self.errors), len(self.warnings)
        about = (f"{self.rules} rule{'s' * (self.rules != 1)}, {self.cases} case{'s' * (self.cases != 1)} solved"
                 + (f", ICD-10-CM {self.release}" if self.release else "")) if self.loaded else "the policy does not load"
        out.append(f"{n_err} error{'s' * (n_err != 1)}, {n_warn} warning{'s' * (n_warn != 1)} in {self.policy} ({about})")
        return "\n".join(out)


def _findings_from_message(text: str, default: str = "error") -> list[Finding]:
    """A cleaned clingo or PolicyError message, one finding per located line."""
    out: list[Finding] = []
    loose: list[str] = []
    for line in text.splitlines():
        m = LOCATED.match(line.strip())
        if m and m.group(3) == "note" and out:
            last = out.pop()
            note = f"{m.group(1)}:{m.group(2)}: {m.group(4)}"
            out.append(Finding(last.severity, last.where, last.message, (*last.details, note)))
        elif m and m.group(3) != "note":
            out.append(Finding(m.group(3), f"{m.group(1)}:{m.group(2)}", m.group(4)))
        elif line.strip():
            loose.append(line.strip())
    if not out and loose:
        where = ""
        m = re.match(r"((?:logic|data)/\S+?:\d+(?::\d+)?): (.*)", loose[0])
        if m:
            where, loose[0] = m.group(1), m.group(2)
        out.append(Finding(default, where, " ".join(loose)))
    return out


# -- the rules as a graph ----------------------------------------------------------------------


@dataclass(frozen=True)
class Use:
    """A predicate read in a rule's body."""

    key: Key
    args: tuple[ast.AST, ...]
    binds: bool  # a plain positive literal: it binds its variables
    negative: bool  # under `not`, in an aggregate or a condition (matters for one answer)
    location: ast.Location


def _atom(term: ast.AST) -> tuple[Key, tuple[ast.AST, ...]] | None:
    if term.ast_type == T.Function and term.name and not term.external:
        return (term.name, len(term.arguments)), tuple(term.arguments)
    if term.ast_type == T.SymbolicTerm and term.symbol.type == clingo.SymbolType.Function and term.symbol.name:
        sym = term.symbol
        return (sym.name, len(sym.arguments)), tuple(ast.SymbolicTerm(term.location, a) for a in sym.arguments)
    return None


def body_uses(node: ast.AST) -> list[Use]:
    out: list[Use] = []

    def literal(lit: ast.AST, nested: bool) -> None:
        if lit.ast_type == T.ConditionalLiteral:
            literal(lit.literal, True)
            for c in lit.condition:
                literal(c, True)
            return
        atom = lit.atom
        if atom.ast_type == T.SymbolicAtom:
            found = _atom(atom.symbol)
            if found:
                plain = lit.sign == ast.Sign.NoSign
                out.append(Use(found[0], found[1], plain and not nested, not plain or nested, lit.location))
        elif atom.ast_type == T.BodyAggregate:
            for element in atom.elements:
                for c in element.condition:
                    literal(c, True)
        elif atom.ast_type == T.Aggregate:
            for element in atom.elements:
                literal(element, True)

    for lit in node.body:
        literal(lit, False)
    return out


def head_kind(node: ast.AST) -> str:
    """atom, constraint, choice, disjunction or other."""
    head = node.head
    if head.ast_type == T.Literal:
        if head.sign != ast.Sign.NoSign or head.atom.ast_type == T.BooleanConstant:
            return "constraint"
        return "atom" if head.atom.ast_type == T.SymbolicAtom else "other"
    if head.ast_type == T.Disjunction:
        return "disjunction"
    if head.ast_type in (T.Aggregate, T.HeadAggregate):
        return "choice"
    return "other"


def head_atoms(node: ast.AST) -> list[tuple[Key, tuple[ast.AST, ...]]]:
    head = node.head
    terms = []
    if head.ast_type == T.Literal and head.atom.ast_type == T.SymbolicAtom:
        terms = [head.atom.symbol]
    elif head.ast_type in (T.Disjunction, T.Aggregate):
        terms = [e.literal.atom.symbol for e in head.elements if e.literal.atom.ast_type == T.SymbolicAtom]
    elif head.ast_type == T.HeadAggregate:
        terms = [e.condition.literal.atom.symbol for e in head.elements if e.condition.literal.atom.ast_type == T.SymbolicAtom]
    return [found for found in map(_atom, terms) if found]


def _constant(term: ast.AST) -> clingo.Symbol | None:
    if term.ast_type == T.SymbolicTerm:
        return term.symbol
    if term.ast_type == T.Function and not term.arguments and term.name and not term.external:
        return clingo.Function(term.name)
    return None


class Structure:
    """What lint needs to know about a policy's rules: reads, heads, domains, dormancy."""

    def __init__(self, policy: Policy):
        self.policy = policy
        self.uses = {id(r): body_uses(r.node) for r in policy.rules}
        self.heads = {id(r): head_atoms(r.node) for r in policy.rules}
        self.defined = {(s.name, s.arity) for s in policy.statements if s.ast_type == T.Defined}
        self.facts: dict[Key, list[clingo.Symbol]] = defaultdict(list)
        for fact in policy.data.facts:
            self.facts[(fact.name, len(fact.arguments))].append(fact)
        self.derived = {k for r in policy.rules for k, _ in self.heads[id(r)]}

    def is_case(self, key: Key) -> bool:
        return key[0] in CASE_FACT_PREDICATES and key not in self.derived

    @cached_property
    def reach(self) -> dict[Key, set[Key]]:
        """For each predicate, every predicate its rules read, directly or not."""
        edges: dict[Key, set[Key]] = defaultdict(set)
        for r in self.policy.rules:
            for h, _ in self.heads[id(r)]:
                edges[h].update(u.key for u in self.uses[id(r)])
        reach: dict[Key, set[Key]] = {}
        for start in list(edges):
            seen: set[Key] = set()
            todo = list(edges[start])
            while todo:
                k = todo.pop()
                if k not in seen:
                    seen.add(k)
                    todo.extend(edges.get(k, ()))
            reach[start] = seen
        return reach

    @cached_property
    def live(self) -> set[Key]:
        """Predicates that can hold: case facts, data facts, and heads of rules that can fire."""
        live = {k for k in self.facts if self.facts[k]}
        changed = True
        while changed:
            changed = False
            for r in self.policy.rules:
                if all(self._can_hold(u.key, live) for u in self.uses[id(r)] if u.binds):
                    for h, _ in self.heads[id(r)]:
                        if h not in live:
                            live.add(h)
                            changed = True
        return live

    def _can_hold(self, key: Key, live: set[Key]) -> bool:
        return key in live or self.is_case(key)

    def dormant(self) -> dict[str, list[Key]]:
        """Rules that cannot fire with this data, each with the predicates nothing gives."""
        out = {}
        for r in self.policy.rules:
            missing = [u.key for u in self.uses[id(r)] if u.binds and not self._can_hold(u.key, self.live)]
            if missing and self.heads[id(r)]:
                out[r.id] = list(dict.fromkeys(missing))
        return out

    @cached_property
    def domains(self) -> dict[tuple[Key, int], set[clingo.Symbol] | None]:
        """The values each predicate position can take: from the data for data predicates, from
        the vocabulary for the case's coded fields, and propagated through the rules for derived
        predicates. OPEN (None) where the case decides (ids, codes, numbers)."""
        data = self.policy.data
        dom: dict[tuple[Key, int], set[clingo.Symbol] | None] = {}
        for key, facts in self.facts.items():
            for i in range(key[1]):
                dom[(key, i)] = {f.arguments[i] for f in facts}
        booleans = {clingo.Function("true"), clingo.Function("false")}
        vocab = {("site", 3, 2): {clingo.String(s) for s in data.sites},
                 ("histology", 3, 2): {clingo.String(t) for t in data.histology},
                 ("borders", 3, 2): {clingo.String(b) for b in data.borders},
                 ("immunosuppressed", 2, 1): booleans, ("pre_surgical", 3, 2): booleans,
                 **{(flag, 3, 2): booleans for flag in LESION_FLAGS}}
        for name in CASE_FACT_PREDICATES:
            for (n, arity, i), values in vocab.items():
                if n == name:
                    dom[((n, arity), i)] = set(values)
        for key in self.defined:  # a #defined predicate with no data: no values (unless derived)
            for i in range(key[1]):
                dom.setdefault((key, i), OPEN if self.is_case(key) else set())
        for key in self.derived:
            for i in range(key[1]):
                dom.setdefault((key, i), set())
        changed = True
        while changed:
            changed = False
            for r in self.policy.rules:
                for key, args in self.heads[id(r)]:
                    for i, arg in enumerate(args):
                        if dom.get((key, i)) is OPEN:
                            continue
                        values = self._values(arg, self.uses[id(r)], dom)
                        if values is OPEN:
                            dom[(key, i)] = OPEN
                            changed = True
                        elif not values <= dom[(key, i)]:
                            dom[(key, i)] |= values
                            changed = True
        return dom

    @staticmethod
    def _values(arg: ast.AST, uses: list[Use], dom) -> set[clingo.Symbol] | None:
        const = _constant(arg)
        if const is not None:
            return {const}
        if arg.ast_type != T.Variable:
            return OPEN
        found: set[clingo.Symbol] | None = OPEN
        for u in uses:
            if not u.binds:
                continue
            for j, a in enumerate(u.args):
                if a.ast_type == T.Variable and a.name == arg.name and (u.key, j) in dom and dom[(u.key, j)] is not OPEN:
                    found = set(dom[(u.key, j)]) if found is OPEN else found & dom[(u.key, j)]
        return found


# -- the checks --------------------------------------------------------------------------------


def _where(policy: Policy, loc: ast.Location) -> str:
    return f"{policy._rel(loc.begin.filename)}:{loc.begin.line}:{loc.begin.column}"


def check_annotations(policy: Policy, structure: Structure) -> list[Finding]:
    out = []
    seen: dict[str, Rule] = {}
    for r in policy.rules:
        if not r.annotated:
            out.append(Finding("error", r.source, "this rule has no `% rule: ID` line above it (a stable id that tests "
                                                  "and explanations use)"))
        elif not (r.policy or r.reading):
            out.append(Finding("error", r.source, f"rule {r.id} quotes no policy sentence: add `% policy: \"...\"` (the "
                                                  f"payer's sentence) or `% reading: \"...\"` (the contract's) above it"))
        if r.annotated and not CONSTANT.fullmatch(r.id):
            out.append(Finding("warning", r.source, f"rule id {r.id!r} is not lower case letters, digits and _"))
        if r.annotated and r.id in seen:
            out.append(Finding("error", r.source, f"rule id {r.id} is used twice: also at {seen[r.id].source}"))
        seen.setdefault(r.id, r)
        for m in PLACEHOLDER.finditer(r.because or ""):
            if m.group(1) not in r.variables:
                out.append(Finding("warning", r.source, f"rule {r.id}: `% because:` names {{{m.group(1)}}}, which is not a "
                                                        f"variable of the rule (explanations would show ?)"))
    return out


def check_quotes(policy: Policy, structure: Structure) -> list[Finding]:
    """Each quote is a whole sentence of the text it names (`% policy:` the payer's, `% reading:`
    the contract's, or policy.toml's own `reading` of the dates: mohs_asp/quotes.py), and a size it names agrees with the data the rule reads."""
    sources = quotes.load_sources(policy.root)
    if not sources:
        return [Finding("warning", "", "no policy-source.txt found (docs/contract/ in the policy folder or the project): "
                                       "the rules' quotes were not checked")]
    out = []
    own = " ".join(str(policy.metadata.get("reading") or "").split())  # the pack's reading of its dates (policy.toml)
    for r in policy.rules:
        for kind, quote in (("policy", r.policy), ("reading", r.reading)):
            if not quote:
                continue
            if kind == "reading" and own and " ".join(quote.split()) == own:
                continue
            texts = sources.get(kind, [])
            if any(s.find(quote) for s in texts):
                continue
            names = " or ".join(s.name for s in texts)
            heading = next((s.name for s in texts if quotes.key(quote) in s.headings), None)
            part = next((found for s in texts if (found := s.part_of(quote))), None)
            if heading:
                why = f"it is a heading (or a list of codes) of {heading}, not a sentence: quote the sentence the rule encodes"
            elif part:
                why = f"it is part of a sentence: quote the whole sentence, {shown(part)}"
            else:
                why = f"it is not a sentence of {names}, word for word"
            out.append(Finding("error", r.source, f"rule {r.id}: `% {kind}:` {shown(quote)}: {why}"))
        out.extend(_figures_against_data(policy, structure, r))
    return out


def _figures_against_data(policy: Policy, structure: Structure, r: Rule) -> list[Finding]:
    """A size a quote names that no threshold the rule reads has: the quote and the data have
    drifted apart (the data says 1.5 cm, the sentence "2.0 cm or greater")."""
    said = [f for quote in (r.policy, r.reading) if quote for f in quotes.figures(quote)]
    if not said:
        return []
    out = []
    read = dict.fromkeys(u.key[0] for u in structure.uses[id(r)] if u.key[0] in policy.data.thresholds)
    for name in read:
        rows = policy.data.thresholds[name]
        if all(um != t.um for _, _, um in said for t in rows):  # no row of it (on any date) says it
            threshold = rows[-1]
            figures = ", ".join(f'"{value} {unit}"' for value, unit, _ in said)
            out.append(Finding("warning", r.source, f"rule {r.id} quotes {figures} but reads {name.removesuffix('_um')} = "
                                                    f"{threshold.value} {threshold.unit} (data/thresholds.csv:"
                                                    f"{threshold.line}): the quote and the data disagree"))
    return out


def check_one_answer(policy: Policy, structure: Structure) -> list[Finding]:
    out = []
    for r in policy.rules:
        kind = head_kind(r.node)
        if kind == "choice":
            out.append(Finding("error", r.source, f"rule {r.id} is a choice rule: one case could get several answers"))
        elif kind == "disjunction":
            out.append(Finding("error", r.source, f"rule {r.id} has a disjunction in its head: one case could get several answers"))
        elif kind == "constraint":
            out.append(Finding("error", r.source, f"rule {r.id} is an integrity constraint: a case that breaks it gets no answer at all"))
        elif kind == "other":
            out.append(Finding("error", r.source, f"rule {r.id}: this kind of head is not one a policy rule may have"))
    reach = structure.reach
    loops: dict[frozenset[Key], list[Rule]] = defaultdict(list)
    for r in policy.rules:
        for h, _ in structure.heads[id(r)]:
            if any(u.negative and (u.key == h or h in reach.get(u.key, ())) for u in structure.uses[id(r)]):
                component = frozenset({h} | {k for k in reach.get(h, ()) if h in reach.get(k, ())})
                loops[component].append(r)
    for component, negative_rules in loops.items():
        involved = [r for r in policy.rules if any(h in component for h, _ in structure.heads[id(r)])
                    and any(u.key in component for u in structure.uses[id(r)])]
        names = ", ".join(sorted(f"{k[0]}/{k[1]}" for k in component))
        out.append(Finding(
            "error", negative_rules[0].source,
            f"a loop through `not` (or an aggregate): {names} depend{'s' * (len(component) == 1)} on "
            f"{'its' if len(component) == 1 else 'their'} own negation, so a case could get "
            f"no answer or several; the rules involved:",
            tuple(f"{r.id} ({r.source})" for r in involved)))
    return out


def check_vocabulary(policy: Policy, structure: Structure) -> list[Finding]:
    out = []
    dom = structure.domains
    read_as_constant: dict[tuple[Key, int], set[clingo.Symbol] | None] = {}
    data_positions = {(k, i) for k, facts in structure.facts.items() if facts for i in range(k[1])}
    for r in policy.rules:
        for u in structure.uses[id(r)]:
            for i, arg in enumerate(u.args):
                const = _constant(arg)
                if (u.key, i) in data_positions:
                    prev = read_as_constant.get((u.key, i), set())
                    read_as_constant[(u.key, i)] = OPEN if const is None or prev is OPEN else prev | {const}
                if const is None or dom.get((u.key, i)) is OPEN or (u.key, i) not in dom:
                    continue
                known = dom[(u.key, i)]
                if const not in known:
                    shown = ", ".join(sorted(map(str, known))[:12]) or "none at all"
                    out.append(Finding("error", _where(policy, arg.location),
                                       f"rule {r.id} reads {const} as argument {i + 1} of {u.key[0]}/{u.key[1]}, but "
                                       f"no data or rule gives that value there (known: {shown})"))
    for (key, i), consts in read_as_constant.items():
        if consts is OPEN:
            continue
        unused = sorted({f.arguments[i] for f in structure.facts[key]} - consts, key=str)
        if unused:
            file = DATA_FILES.get(key[0], "thresholds.csv")
            out.append(Finding("warning", f"data/{file}", f"no rule reads {', '.join(map(str, unused))} as argument "
                                                          f"{i + 1} of {key[0]}/{key[1]}: it counts for nothing"))
    read = {u.key for uses in structure.uses.values() for u in uses}
    for key, facts in structure.facts.items():
        if facts and key not in read and key not in structure.defined:
            file = DATA_FILES.get(key[0], "thresholds.csv")
            out.append(Finding("warning", f"data/{file}", f"the data gives {key[0]}/{key[1]} but no rule reads it "
                                                          f"(and logic/input.lp does not declare it)"))
    by_id = policy.rules_by_id
    for rule_id, missing in structure.dormant().items():
        what = ", ".join(f"{k[0]}/{k[1]}" for k in missing)
        out.append(Finding("warning", by_id[rule_id].source,
                           f"rule {rule_id} cannot fire with this data: no data file and no rule gives {what}"))
    return out


def check_data(policy: Policy) -> list[Finding]:
    out = []
    folder = policy.data_dir
    rows = _read_csv(folder / "code_sets.csv", ("set", "first", "last", "label"))
    days = {r.line: (r.effective_from, r.effective_to) for r in policy.data.rows if r.file == "data/code_sets.csv"}
    spans = []
    for lineno, row in rows:
        first, last = row["first"].upper(), row["last"].upper()
        lo, hi = (int(first), int(last)) if first.isdigit() and last.isdigit() else (first, last)
        spans.append((row["set"], lo, hi, lineno))
    for i, (s1, lo1, hi1, l1) in enumerate(spans):
        for s2, lo2, hi2, l2 in spans[:i]:
            (start1, end1), (start2, end2) = days.get(l1, (0, OPEN_END)), days.get(l2, (0, OPEN_END))
            if type(lo1) is type(lo2) and lo1 <= hi2 and lo2 <= hi1 and start1 <= end2 and start2 <= end1:
                if s1 != s2:
                    out.append(Finding("error", f"data/code_sets.csv:{l1}", f"{s1} {lo1}-{hi1} overlaps {s2} {lo2}-{hi2} "
                                                                            f"(line {l2}): code sets must not share a code"))
                else:
                    out.append(Finding("warning", f"data/code_sets.csv:{l1}", f"{s1} {lo1}-{hi1} repeats codes of line {l2}"))
    mms = [c for s, lo, hi in policy.data.code_ranges if s == "mms" for c in range(lo, hi + 1)]
    mms_codes = {f"{c:05d}" for c in mms}
    staged: dict[str, str] = {}
    for lineno, row in _read_csv(folder / "mms_codes.csv", ("code", "stage", "family", "primary")):
        where, code = f"data/mms_codes.csv:{lineno}", row["code"]
        if not CODE_SHAPE.fullmatch(code):
            out.append(Finding("error", where, f"{code!r} is not a 5-character CPT/HCPCS code"))
        elif code not in mms_codes:
            out.append(Finding("error", where, f"{code} is not in the mms code set of data/code_sets.csv"))
        staged[code] = row["stage"]  # a code listed twice on the same days: check_dates says so
    for lineno, row in _read_csv(folder / "mms_codes.csv", ("code", "stage", "family", "primary")):
        for primary in row["primary"].split():
            if staged.get(primary) != "first":
                out.append(Finding("error", f"data/mms_codes.csv:{lineno}", f"{row['code']} needs primary {primary}, "
                                                                            f"which is not a first-stage code of this file"))
        if row["stage"] == "additional" and not row["primary"].split():
            out.append(Finding("error", f"data/mms_codes.csv:{lineno}", f"add-on code {row['code']} names no primary"))
    for code in sorted(mms_codes - set(staged)):
        out.append(Finding("warning", "data/mms_codes.csv", f"{code} is in the mms code set but has no row here "
                                                            f"(no stage or family: its coding edits cannot apply)"))
    for lineno, row in _read_csv(folder / "sites.csv", ("site", "family", "high_risk", "tissue_preservation", "area")):
        if row["tissue_preservation"] == "yes" and not row["area"]:
            out.append(Finding("warning", f"data/sites.csv:{lineno}", f"site {row['site']} is a tissue-preservation area "
                                                                      f"but names no area (ears, face, ...)"))
        if row["tissue_preservation"] == "no" and row["area"]:
            out.append(Finding("warning", f"data/sites.csv:{lineno}", f"site {row['site']} names area {row['area']} "
                                                                      f"but is not a tissue-preservation area"))
    return out


# what one row gives a value of, in each file whose rows are parameters (one in force a day)
PARAMETERS = {"data/thresholds.csv": "threshold", "data/sites.csv": "site", "data/histology.csv": "histology term",
              "data/mms_codes.csv": "MMS code"}
LISTS = {"data/covered_diagnoses.csv": "covered code", "data/code_sets.csv": "code range"}


def check_dates(policy: Policy) -> list[Finding]:
    """Temporal coverage: for every day of the policy exactly one version, and exactly one row
    of each dated parameter, in force."""
    out: list[Finding] = []
    first, last = policy_span(policy.versions)
    versions = policy.versions
    for before, after in zip(versions, versions[1:]):
        where = f"{METADATA}:{after.line}"
        if after.effective_from <= before.effective_to:
            out.append(Finding("error", where, f"version {after.name} ({span_words(after.effective_from, after.effective_to)}) "
                                               f"overlaps version {before.name} ({span_words(before.effective_from, before.effective_to)})"
                                               ": one version must be in force a day"))
        elif after.effective_from > next_day(before.effective_to):
            out.append(Finding("error", where, f"no version is in force {span_words(next_day(before.effective_to), previous_day(after.effective_from))}"
                                               f" (between versions {before.name} and {after.name}): cases of those days would be invalid"))
    starts = {v.effective_from for v in versions}
    by_key: dict[tuple[str, str], list[DatedRow]] = defaultdict(list)
    for row in policy.data.rows:
        by_key[(row.file, row.key)].append(row)
        where = f"{row.file}:{row.line}"
        if row.dated and (row.effective_to < first or row.effective_from > last):
            out.append(Finding("warning", where, f"the row is never in force: it is in force "
                                                 f"{span_words(row.effective_from, row.effective_to)}, the policy {span_words(first, last)}"))
            continue
        changes = [show_date(d) for d in (row.effective_from, next_day(row.effective_to)) if first < d <= last and d not in starts]
        if row.dated and changes:
            out.append(Finding("warning", where, f"the data changes on {' and '.join(changes)}, but no version of {METADATA} "
                                                 f"begins {'that day' if len(changes) == 1 else 'those days'}: add one saying "
                                                 f"what changed"))
    for (file, key), rows in by_key.items():
        rows = sorted(rows, key=lambda r: (r.effective_from, r.line))
        what = PARAMETERS.get(file) or LISTS.get(file)
        if what is None:
            continue
        severity = "error" if file in PARAMETERS else "warning"
        covered = first  # the first day of the policy not yet in force for this key
        for i, row in enumerate(rows):
            where = f"{file}:{row.line}"
            if i and row.effective_from <= rows[i - 1].effective_to:
                out.append(Finding(severity, where, f"{what} {key} is in force twice {span_words(row.effective_from, min(row.effective_to, rows[i - 1].effective_to))} "
                                                    f"(also line {rows[i - 1].line})" + (": one value must be in force a day" if severity == "error" else "")))
            if file in PARAMETERS and row.effective_from > covered and covered <= last:
                out.append(Finding("error", where, f"{what} {key} has no row in force {span_words(covered, min(previous_day(row.effective_from), last))}: "
                                                   f"every day of the policy needs one"))
            covered = max(covered, next_day(row.effective_to))
        if file in PARAMETERS and covered <= last:
            out.append(Finding("error", f"{file}:{rows[-1].line}", f"{what} {key} has no row in force "
                                                                   f"{span_words(covered, last)}: every day of the policy needs one"))
    releases = policy.icd10.all
    for before, after in zip(releases, releases[1:]):
        if after.effective_from <= before.effective_to:
            out.append(Finding("error", after.file, f"ICD-10-CM release {after.name} ({span_words(after.effective_from, after.effective_to)}) "
                                                    f"overlaps {before.name} ({span_words(before.effective_from, before.effective_to)}), "
                                                    f"{before.file}: one release must judge a day"))
    return out


def _describe(codes: list[str]) -> dict[str, str]:
    """ICD-10-CM descriptions (importing simple_icd_10_cm parses its XML: about 1.5 s)."""
    try:
        with warnings.catch_warnings():  # its use of importlib.resources is deprecated, not ours to fix
            warnings.simplefilter("ignore", DeprecationWarning)
            import simple_icd_10_cm as icd
    except ImportError:  # the code list alone still says what is billable
        return {}
    return {c: icd.get_description(c) if icd.is_valid_item(c) else "" for c in codes}


def check_diagnoses(policy: Policy) -> tuple[list[Finding], str]:
    codes = policy.icd10.latest.codes()
    rel = f"ICD-10-CM {codes.release}"
    out = []
    listed: dict[str, int] = {}
    families: set[str] = set()
    nonbillable: list[tuple[str, int, list[str]]] = []
    for code, lineno in policy.data.covered_diagnoses:
        where = f"data/covered_diagnoses.csv:{lineno}"
        norm = icd10.normalize(code)
        if norm != code.upper():
            out.append(Finding("error", where, f"{code} is not written as cases are compared (upper case, dot after "
                                               f"the category): write {norm}, or no case can ever match it"))
            continue
        if norm in listed:  # listed again (check_dates warns when it is on the same days)
            continue
        listed[norm] = lineno
        kind = codes.kind(norm)
        if kind is None:
            out.append(Finding("error", where, f"{norm} is not a code of {rel} (a typo, or a code deleted from the code "
                                               f"set): no case can carry it"))
            continue
        bare = norm.replace(".", "")
        families.update(icd10.normalize(bare[:n]) for n in range(4, len(bare) + 1) if codes.kind(bare[:n]) == "category")
        if kind == "category":
            nonbillable.append((norm, lineno, codes.billable_under(norm)))
    missing = sorted({c for f in families for c in codes.billable_under(f)} - set(listed))
    below = {c for _, _, children in nonbillable for c in children}
    described = _describe(sorted(below | set(missing))) if below or missing else {}
    for norm, lineno, children in nonbillable:
        out.append(Finding("warning", f"data/covered_diagnoses.csv:{lineno}",
                           f"{norm} is no longer billable in {rel}, so no case can carry it; list the "
                           f"{len(children)} codes below it instead:",
                           tuple(f"{c:<9} {described.get(c, '')}".rstrip() for c in children)))
    for code in missing:
        if code in below:
            why = f"it replaces listed {next(p for p, _, ch in nonbillable if code in ch)}"
        else:
            family = next(f for f in sorted(families, key=len) if code.replace(".", "").startswith(f.replace(".", "")))
            why = f"a billable code of listed family {family}"
        out.append(Finding("warning", "data/covered_diagnoses.csv",
                           f"{code} is not on the list: {described.get(code) or '(no description)'} ({why})"))
    return out, codes.release


def check_cases(policy: Policy, structure_failed: bool) -> tuple[list[Finding], int]:
    """Ground and solve the sample case and the policy folder's own test cases together: every
    message clingo logs, and one decision and one outcome a line for each case."""
    from .answer import build_answer
    from .case import parse_case
    from .engine import DECIDING, solve
    from .limits import LimitExceeded, bounded

    out: list[Finding] = []
    cases = []
    try:
        cases.append(parse_case(sample_case(policy), policy))
    except CaseInvalid as e:
        out.append(Finding("warning", "", f"could not build a sample case from the data ({e}); grounding was checked "
                                          f"with the policy's test cases only"))
    tests = policy.root / "tests"
    if tests.is_dir():
        from .testing import discover, read_test

        for path in discover([str(tests)]):
            try:
                cases.append(parse_case(read_test(path).doc, policy))
            except (CaseInvalid, PolicyError, UsageError):  # not a case, or unreadable: `mohs-asp test` reports it
                continue

    def run() -> tuple[list[str], str, list[str]]:  # clingo's messages, why it failed, what no answer can be read from
        messages: list[str] = []
        try:
            solved = solve(policy, cases, track=DECIDING, warnings=messages)
        except PolicyError as e:
            return messages, str(e), []
        unread = []
        for case, s in zip(cases, solved):
            try:
                build_answer(case, s, policy)
            except PolicyError as e:
                unread.append(str(e))
        return messages, "", unread

    try:
        messages, failure, unread = bounded(run, len(cases))
    except LimitExceeded as e:
        messages, unread = [], []
        failure = (f"the policy does not ground within {e.limit}: a rule that recurses without end, or a join "
                   f"that grows past what cases need?")
    seen: set[str] = set()
    for message in messages:
        if "no atoms over signature occur in program" in message:
            continue  # a #show of a derived predicate: clingo checks before the backend adds the facts
        for finding in _findings_from_message(message, "warning"):
            if str(finding) not in seen:
                seen.add(str(finding))
                out.append(finding)
    if failure and not any(f.severity == "error" for f in out) and not structure_failed:
        out.append(Finding("error", "", f"{failure} (solving a sample case and {len(cases) - 1} test cases)"))
    for message in unread:
        out.extend(_findings_from_message(message))  # where, when it names logic/FILE.lp:LINE
    return out, len(cases)


def sample_case(policy: Policy) -> dict:
    """A case that reads as much of the policy as one case can: every histology term, every
    flag, a large ill-defined lesion, and a line of every code set on it."""
    data = policy.data
    release = policy.icd10.latest
    codes = release.codes()
    first, last = policy_span(policy.versions)  # a day of the policy, under the newest ICD-10-CM release
    day = show_date(max(first, min(release.effective_from, last)))
    diagnosis = next((c.upper() for c, _ in data.covered_diagnoses if codes.kind(icd10.normalize(c)) == "billable"),
                     "C44.311")
    sites = list(data.sites)
    lesion = {"id": "A", "diagnosis": diagnosis, "site": sites[0] if sites else "", "size_cm": Decimal("5.0"),
              "borders": "ill_defined", "histology": list(data.histology), **{flag: True for flag in LESION_FLAGS}}
    lines = [{"code": f"{lo:05d}", "lesion": "A"} for _, lo, hi in data.code_ranges]
    lines.append({"code": "99213"})
    lesions = [lesion] + ([{"id": "B", "diagnosis": diagnosis, "site": sites[-1]}] if sites else [])
    return {"id": "lint-sample", "date_of_service": day, "patient": {"immunosuppressed": True},
            "lesions": lesions, "lines": lines}


def lint_policy(root: str | Path | None = None) -> LintReport:
    """Every check on a policy folder (default: the project's own)."""
    path = Path(root) if root is not None else default_root()
    report = LintReport(policy=str(path))
    try:
        policy = load_policy(path)
    except PolicyError as e:
        report.findings.extend(_findings_from_message(str(e)))
        if (path / "logic").is_dir() and (path / "data").is_dir():
            try:  # a broken logic file stops the load before the data: say about the data too
                load_data(path / "data")
            except PolicyError as data_error:
                if str(data_error) != str(e):
                    report.findings.extend(_findings_from_message(str(data_error)))
        return report
    report.rules, report.loaded = len(policy.rules), True
    for message in policy.messages:
        report.findings.extend(_findings_from_message(message, "warning"))
    structure = Structure(policy)
    report.findings.extend(check_annotations(policy, structure))
    report.findings.extend(check_quotes(policy, structure))
    answer_findings = check_one_answer(policy, structure)
    report.findings.extend(answer_findings)
    case_findings, report.cases = check_cases(policy, structure_failed=bool(answer_findings))
    report.findings.extend(case_findings)
    report.findings.extend(check_vocabulary(policy, structure))
    report.findings.extend(check_data(policy))
    icd_findings, report.release = check_diagnoses(policy)
    report.findings.extend(icd_findings)
    report.findings.extend(check_dates(policy))
    return report
