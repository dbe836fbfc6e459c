"""`mohs-asp lint`: is a policy folder fit to decide claims?

Checks, in this order (each finding an error or a warning, with where it is):

1. The logic parses and the data loads (syntax errors with logic/FILE.lp:LINE:COL, in the
   same words `check` prints when it exits 3).
2. Every rule has a `% rule: ID` (unique) and a `% policy: "..."` or `% reading: "..."` quote,
   each a whole sentence of the text it names, word for word (mohs_asp/authoring/quotes.py); a size a
   quote names agrees with the threshold the rule reads; a `% because:` names only variables
   of its rule.
3. One answer per case: no choice rule, disjunction or integrity constraint, and no loop
   through `not` or an aggregate in the predicate dependency graph (the rules on it named).
4. Grounding the policy with its data and a sample case built from the data (plus the
   policy folder's own tests/, when it has one) logs no error or warning (an undefined atom is
   usually a misspelt predicate), and every case gets one decision and one outcome a line.
5. Vocabulary: a constant a rule reads (`histology_term(T,"sclerotic")`, `site_family(S,"17311")`,
   `line_in_set(C,N,biopsy)`) is one the data or some rule can give there; a data value no
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
from collections import defaultdict
from pathlib import Path

import clingo

from ..case import format as case_format
from . import quotes
from ..errors import CaseInvalid, PolicyError, UsageError
from .finding import Finding, LintReport
from .graph import OPEN, RuleGraph
from .lint_data import check_data, check_dates, check_diagnoses
from ..policy.load import Policy, default_root, load_policy, sample_case
from ..policy.data import CONSTANT, load_data
from ..render import shown
from ..policy.rule import Rule
from ..policy.rule_ast import Key, constant

LOCATED = re.compile(r"(\S+?):(\d+(?::\d+)?): (error|warning|note): (.*)")
INPUT = "logic/input.lp"  # the input interface: every fact the engine asserts, documented once
DATA_FILES = {
    "covered_diagnosis": "covered_diagnoses.csv", "code_range": "code_sets.csv",
    "code_set_label": "code_sets.csv", "first_stage_code": "mms_codes.csv", "addon_code": "mms_codes.csv",
    "code_family": "mms_codes.csv", "addon_primary": "mms_codes.csv", "site_family": "sites.csv",
    "high_risk_site": "sites.csv", "preservation_site": "sites.csv", "histology_term": "histology.csv",
}


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


# -- the checks --------------------------------------------------------------------------------


def check_annotations(policy: Policy, structure: RuleGraph) -> list[Finding]:
    out = []
    seen: dict[str, Rule] = {}
    for r in policy.rules:
        if not r.annotated:
            out.append(Finding("error", r.source, "this rule has no `% rule: ID` line above it (a stable id that tests "
                                                  "and explanations use)"))
        elif not (r.policy or r.reading or r.helper or r.paragraph):  # under a paragraph: quotes.check_paragraphs
            out.append(Finding("error", r.source, f"rule {r.id} quotes no policy sentence: add `% policy: \"...\"` (the "
                                                  f"payer's sentence) or `% reading: \"...\"` (the contract's) above it, "
                                                  f"put it under the paragraph it encodes (`% >`), or mark it `% helper:`"))
        if r.annotated and not CONSTANT.fullmatch(r.id):
            out.append(Finding("warning", r.source, f"rule id {r.id!r} is not lower case letters, digits and _"))
        if r.annotated and r.id in seen:
            out.append(Finding("error", r.source, f"rule id {r.id} is used twice: also at {seen[r.id].source}"))
        seen.setdefault(r.id, r)
        for name in r.placeholders:
            if name not in r.variables:
                out.append(Finding("warning", r.source, f"rule {r.id}: `% because:` names {{{name}}}, which is not a "
                                                        f"variable of the rule (explanations would show ?)"))
    return out


def check_quotes(policy: Policy, structure: RuleGraph) -> list[Finding]:
    """Each quote is a whole sentence of the text it names (`% policy:` the payer's, `% reading:`
    the contract's, or policy.toml's own `reading` of the dates: mohs_asp/authoring/quotes.py), and a size it names agrees with the data the rule reads."""
    sources = quotes.load_sources(policy.root)
    if not sources:
        return [Finding("warning", "", "no policy-source.txt found (docs/contract/ in the policy folder or the project): "
                                       "the rules' quotes were not checked")]
    out = []
    for source in sources.get("policy", [])[:1]:  # the literate layout: paragraphs quoted once, rules under them
        out.extend(Finding(severity, where, message) for severity, where, message in quotes.check_paragraphs(policy, source))
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


def _figures_against_data(policy: Policy, structure: RuleGraph, r: Rule) -> list[Finding]:
    """A size a quote names that no threshold the rule reads has: the quote and the data have
    drifted apart (the data says 1.5 cm, the sentence "2.0 cm or greater")."""
    said = [f for quote in (r.policy, r.reading) if quote for f in quotes.figures(quote)]
    if not said:
        return []
    out = []
    read = dict.fromkeys(u.key[0] for u in r.uses if u.key[0] in policy.data.thresholds)
    for name in read:
        rows = policy.data.thresholds[name]
        if all(um != t.um for _, _, um in said for t in rows):  # no row of it (on any date) says it
            threshold = rows[-1]
            figures = ", ".join(f'"{value} {unit}"' for value, unit, _ in said)
            out.append(Finding("warning", r.source, f"rule {r.id} quotes {figures} but reads {name.removesuffix('_um')} = "
                                                    f"{threshold.value} {threshold.unit} (data/thresholds.csv:"
                                                    f"{threshold.line}): the quote and the data disagree"))
    return out


def check_one_answer(policy: Policy, structure: RuleGraph) -> list[Finding]:
    out = []
    for r in policy.rules:
        kind = r.kind
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
        for h, _ in r.heads:
            if any(u.negative and (u.key == h or h in reach.get(u.key, ())) for u in r.uses):
                component = frozenset({h} | {k for k in reach.get(h, ()) if h in reach.get(k, ())})
                loops[component].append(r)
    for component, negative_rules in loops.items():
        involved = [r for r in policy.rules if any(h in component for h, _ in r.heads)
                    and any(u.key in component for u in r.uses)]
        names = ", ".join(sorted(f"{k[0]}/{k[1]}" for k in component))
        out.append(Finding(
            "error", negative_rules[0].source,
            f"a loop through `not` (or an aggregate): {names} depend{'s' * (len(component) == 1)} on "
            f"{'its' if len(component) == 1 else 'their'} own negation, so a case could get "
            f"no answer or several; the rules involved:",
            tuple(f"{r.id} ({r.source})" for r in involved)))
    return out


def check_input_documentation(policy: Policy, structure: RuleGraph) -> list[Finding]:
    """logic/input.lp documents exactly the facts a case becomes (mohs_asp/case/format.py) and
    the data's: each with its `%!` line and its `#defined`."""
    out = []
    documented = {key: p for key, p in policy.predicates.items() if p.source.startswith(f"{INPUT}:")}
    given = set(case_format.facts().items()) | {(f.name, len(f.arguments)) for f in policy.data.facts}
    for name, arity in case_format.facts().items():
        if (name, arity) not in documented:
            out.append(Finding("error", INPUT, f"a case gives {name}/{arity} (mohs_asp/case/format.py) but {INPUT} "
                                               f"does not document it: add `%! {name}(...)` and `#defined {name}/{arity}.`"))
        elif (name, arity) not in structure.defined:
            out.append(Finding("error", documented[(name, arity)].source,
                               f"{name}/{arity} is documented but not declared: add `#defined {name}/{arity}.`"))
    for key, pred in documented.items():
        if key not in given:
            out.append(Finding("error", pred.source, f"{INPUT} documents {key[0]}/{key[1]}, which neither a case "
                                                     f"(mohs_asp/case/format.py) nor data/ gives"))
    return out


def check_vocabulary(policy: Policy, structure: RuleGraph) -> list[Finding]:
    out = []
    dom = structure.domains
    read_as_constant: dict[tuple[Key, int], set[clingo.Symbol] | None] = {}
    data_positions = {(k, i) for k, facts in structure.facts.items() if facts for i in range(k[1])}
    for r in policy.rules:
        for u in r.uses:
            for i, arg in enumerate(u.args):
                const = constant(arg)
                if (u.key, i) in data_positions:
                    prev = read_as_constant.get((u.key, i), set())
                    read_as_constant[(u.key, i)] = OPEN if const is None or prev is OPEN else prev | {const}
                if const is None or dom.get((u.key, i)) is OPEN or (u.key, i) not in dom:
                    continue
                known = dom[(u.key, i)]
                if const not in known:
                    shown = ", ".join(sorted(map(str, known))[:12]) or "none at all"
                    out.append(Finding("error", policy.rulebook.where(arg),
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
    read = {u.key for r in policy.rules for u in r.uses}
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


def check_cases(policy: Policy, structure_failed: bool) -> tuple[list[Finding], int]:
    """Ground and solve the sample case and the policy folder's own test cases together: every
    message clingo logs, and one decision and one outcome a line for each case."""
    from ..engine.answer import build_answer
    from ..case.check import parse_case
    from ..engine.solver import solve
    from ..engine.limits import LimitExceeded, bounded

    out: list[Finding] = []
    cases = []
    try:
        cases.append(parse_case(sample_case(policy), policy))
    except CaseInvalid as e:
        out.append(Finding("warning", "", f"could not build a sample case from the data ({e}); grounding was checked "
                                          f"with the policy's test cases only"))
    tests = policy.root / "tests"
    if tests.is_dir():
        from .policy_tests import discover, read_tests

        for path in discover([str(tests)]):
            try:
                docs = [t.doc for t in read_tests(path)]
            except (CaseInvalid, UsageError):  # unreadable: `mohs-asp test` reports it
                continue
            for doc in docs:
                try:
                    cases.append(parse_case(doc, policy))
                except (CaseInvalid, PolicyError, UsageError):  # not a case: `mohs-asp test` reports it
                    continue

    def run() -> tuple[list[str], str, list[str]]:  # clingo's messages, why it failed, what no answer can be read from
        messages: list[str] = []
        try:
            solved = solve(policy, cases, warnings=messages)
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
    structure = RuleGraph(policy)
    report.findings.extend(check_annotations(policy, structure))
    report.findings.extend(check_quotes(policy, structure))
    answer_findings = check_one_answer(policy, structure)
    report.findings.extend(answer_findings)
    case_findings, report.cases = check_cases(policy, structure_failed=bool(answer_findings))
    report.findings.extend(case_findings)
    report.findings.extend(check_vocabulary(policy, structure))
    report.findings.extend(check_input_documentation(policy, structure))
    report.findings.extend(check_data(policy))
    icd_findings, report.release = check_diagnoses(policy)
    report.findings.extend(icd_findings)
    report.findings.extend(check_dates(policy))
    return report
