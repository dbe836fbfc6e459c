"""Answers as text for people: readable in 80 columns, no colour codes."""

from __future__ import annotations

import re
import textwrap

WIDTH = 80
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def safe(text) -> str:
    """A value from the case, with control characters escaped: an id holding a newline must
    not be able to print a line of its own (a forged "COVERED")."""
    return _CONTROL.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), str(text))


def shown(text: str) -> str:
    """A quote as `rules` and explanations print it between straight quotes: quotes inside it
    become curly, so that none is doubled (“That lesion's first-stage MMS line” is ...)."""
    out, opening = [], True
    for ch in text:
        if ch == '"':
            out.append("\u201c" if opening else "\u201d")
            opening = not opening
        else:
            out.append(ch)
    return f'"{"".join(out)}"'


def _wrap(text: str, indent: int) -> str:
    return textwrap.fill(text, WIDTH, initial_indent=" " * indent, subsequent_indent=" " * (indent + 2))


def _outcome(line: dict) -> str:
    return f"bundled into {line['into']}" if line["outcome"] == "bundled" else line["outcome"]


def render_invalid(answer: dict) -> str:
    errors = answer["errors"]
    out = [f"{safe(answer.get('case') or '(no id)')}: INVALID, {len(errors)} problem{'s' if len(errors) != 1 else ''}"]
    for e in errors:
        out.append(_wrap(f"{safe(e['path'] or '(file)')}: {safe(e['message'])}", 2))
    return "\n".join(out)


def headline(answer: dict) -> str:
    """The decision, as the first line of a text answer. A case without MMS lines (a
    prior-authorization question) says so, with the indications each lesion meets."""
    decision = answer["decision"]
    if decision != "no_mms":
        return f"{safe(answer['case'])}: {decision.upper().replace('_', ' ')}"
    lesions = answer["lesions"]
    met = [(safe(lesion["id"]), ", ".join(lesion["indications"]) or "none") for lesion in lesions]
    said = met[0][1] if len(met) == 1 else "; ".join(f"{lid}: {m}" for lid, m in met)
    return _wrap(f"{safe(answer['case'])}: NO MMS LINES" + (f": indications met: {said}" if met else ""), 0)


def _lesions_of(line: dict) -> str:
    if "lesion" in line:
        return f"lesion {safe(line['lesion'])}"
    if line.get("lesions"):
        return "lesions " + ", ".join(map(safe, line["lesions"]))
    return "no lesion"


def _said(line: dict) -> str:
    """A line's outcome and, unless it is payable, its reasons: "denied: lesion A meets none
    of the nine indications"."""
    outcome = f"bundled into line {line['into']}" if line["outcome"] == "bundled" else line["outcome"].replace("_", " ")
    reasons = line.get("reasons") or []
    if line["outcome"] == "payable" or not reasons:
        return outcome
    return f"{outcome}: {'; '.join(map(safe, reasons))}"


def render_check(answer: dict) -> str:
    """Decision first; one line per claim line (its lesion, outcome and reasons); then each
    lesion's indications met and whether its diagnosis is covered."""
    if answer["status"] != "ok":
        return render_invalid(answer)
    out = [headline(answer), ""]
    if answer["lines"]:
        out.append("Lines")
        for line in answer["lines"]:
            row = f"{line['line']:>4}  {line['code']:<6} {_lesions_of(line):<9} "
            wrapped = textwrap.wrap(_said(line), WIDTH - len(row)) or [""]
            out.append(row + wrapped[0])
            out.extend(" " * len(row) + w for w in wrapped[1:])
    else:
        out.append("No claim lines.")
    if answer["lesions"]:
        out.append("")
        out.append("Lesions")
        for lesion in answer["lesions"]:
            met = ", ".join(lesion["indications"]) or "meets no indication"
            covered = "diagnosis covered" if lesion["diagnosis_covered"] else "diagnosis NOT covered"
            out.append(_wrap(f"{safe(lesion['id'])}  {lesion['site']}, {lesion['diagnosis']}: {met}; {covered}", 2))
    return "\n".join(out)


def _tree(lines: list[str], items: list[str], first: str, rest: str) -> None:
    for item in items:
        wrapped = textwrap.wrap(item, WIDTH - len(first)) or [""]
        lines.append(first + wrapped[0])
        lines.extend(rest + w for w in wrapped[1:])


def render_explain(answer: dict) -> str:
    """The explained answer for a surgeon's office: the decision; each line, with the reasons
    of one that is not payable; each lesion's indications met and not, one row each (why, in
    the case's values); and, for a lesion that meets none, what documentation would qualify
    it (only what the case left undocumented: its site or measured size is told as a fact)."""
    if answer["status"] != "ok":
        return render_invalid(answer)
    out = [headline(answer)]
    if answer["lines"]:
        out.append("")
    for line in answer["lines"]:
        row = f"Line {line['line']}  {line['code']}  {_lesions_of(line)}: "
        outcome = f"bundled into line {line['into']}" if line["outcome"] == "bundled" else line["outcome"].replace("_", " ")
        if line["outcome"] in ("payable", "bundled"):
            out.append(row + outcome)
            continue
        out.append(row + outcome.upper())
        _tree(out, [safe(r) for r in line.get("reasons", [])], "  - ", "    ")
    for lesion in answer["lesions"]:
        out.append("")
        necessary = "medically necessary" if lesion["medically_necessary"] else "NOT medically necessary"
        covered = "diagnosis covered" if lesion["diagnosis_covered"] else "diagnosis NOT covered"
        out.append(_wrap(f"Lesion {safe(lesion['id'])}  {lesion['site']}, {lesion['diagnosis']}: {necessary}; {covered}", 0))
        entries = lesion.get("explanation", [])
        for entry in entries:
            # a lesion that qualifies: why, for each indication met, and the rest in one list
            if entry["met"] or not lesion["medically_necessary"]:
                out.append(_row(f"  {'[x]' if entry['met'] else '[ ]'} {entry['indication']}: ", "; ".join(map(safe, entry["because"]))))
        if lesion["medically_necessary"] and (unmet := [e["indication"] for e in entries if not e["met"]]):
            out.append(_wrap("not met: " + ", ".join(unmet), 2))
        if lesion.get("could_document"):
            out.append("  Would qualify if the record documents any one of:")
            for option in lesion["could_document"]:
                _tree(out, [" or ".join(option["needs"]) + f"  ({option['indication']})"], "    - ", "      ")
        elif not lesion["medically_necessary"]:
            out.append("  No documentation the case leaves out would qualify it.")
    return "\n".join(out)


def render_explain_full(answer: dict) -> str:
    """The explained answer for policy authors, as a tree: the decision, each line and the
    rules (id, logic/FILE.lp:LINE) that gave its outcome, each lesion and why, what would qualify."""
    if answer["status"] != "ok":
        return render_invalid(answer)
    out = [headline(answer)]
    for line in answer["lines"]:
        ex = line["explanation"]
        if line is answer["lines"][0]:
            out.append("")
        cited = ", ".join(f"{r['rule']} {r['source']}" for r in ex["rules"]) if ex.get("rules") else \
            f"{ex['rule']} {ex['source']}" if ex.get("rule") else ""
        # the rule's sentence and reading: `mohs-asp rules ID`
        out.append(_wrap(f"Line {line['line']}  {line['code']}  {_outcome(line).upper()}" + (f"  ({cited})" if cited else ""), 0))
        _tree(out, [safe(b) for b in ex.get("because", [])], "  - ", "    ")
    for lesion in answer["lesions"]:
        out.append("")
        necessary = "medically necessary" if lesion["medically_necessary"] else "NOT medically necessary"
        covered = "diagnosis covered" if lesion["diagnosis_covered"] else "diagnosis NOT covered"
        out.append(_wrap(f"Lesion {safe(lesion['id'])}  {lesion['site']}, {lesion['diagnosis']}: {necessary}; {covered}", 0))
        for entry in lesion.get("explanation", []):
            mark = "[x]" if entry["met"] else "[ ]"
            row = f"  {mark} {entry['indication']}  ({entry['rule']}, {entry['source']})"
            because = [safe(b) for b in entry["because"]]
            if len(because) == 1 and len(row) + 2 + len(because[0]) <= WIDTH:  # one row when it fits
                out.append(f"{row}: {because[0]}")
                continue
            out.append(row)
            joined = "; ".join(because)
            out.extend([_row("      ", joined)] if len(joined) <= WIDTH - 6 else (_row("      ", b) for b in because))
        if lesion.get("would_qualify"):
            out.append("  Would qualify with any one of:")
            for option in lesion["would_qualify"]:
                out.append(_row(f"    - ({option['indication']}) ", " and ".join(option["needs"])))
    return "\n".join(out)


def _row(lead: str, text: str) -> str:
    """One row of at most 80 columns: `text` cut at a word, with " ..." (the JSON form has it whole)."""
    return lead + textwrap.shorten(text, WIDTH - len(lead), placeholder=" ...")


def _quotes(entry: dict, indent: int) -> list[str]:
    """The payer's sentence and the contract's reading a rule cites, each labelled."""
    return [_wrap(f"{kind}: {shown(safe(entry[kind]))}", indent) for kind in ("policy", "reading", "because") if entry.get(kind)]


def render_rules(rules: list[dict]) -> str:
    out = []
    for r in rules:
        out.append(f"{safe(r['id'])}  {r['source']}")
        out.extend(_quotes(r, 2))
    return "\n".join(out)
