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


def _wrap(text: str, indent: int) -> str:
    return textwrap.fill(text, WIDTH, initial_indent=" " * indent, subsequent_indent=" " * (indent + 2))


def _outcome(line: dict) -> str:
    return f"bundled into {line['into']}" if line["outcome"] == "bundled" else line["outcome"]


def _footer(answer: dict) -> list[str]:
    """The answer's warnings, and what decided it (decision_record), after a blank line."""
    out = [_wrap(f"warning: {safe(w['path'] or '(file)')}: {safe(w['message'])}", 0) for w in answer.get("warnings", [])]
    record = answer.get("decision_record")
    if record:
        version = f"version {record['policy_version']}" if record["policy_version"] else "no version in force"
        release = f"ICD-10-CM {record['icd10cm_release']}" if record["icd10cm_release"] else "no ICD-10-CM release"
        out.append(_wrap(f"decision record: policy {safe(record['policy_id'])} {safe(version)} (digest "
                         f"{record['policy_digest'][:12]}), {safe(release)}, mohs-asp {record['engine_version']}", 0))
    return [""] + out if out else []


def render_invalid(answer: dict) -> str:
    errors = answer["errors"]
    out = [f"{safe(answer.get('case') or '(no id)')}: INVALID, {len(errors)} problem{'s' if len(errors) != 1 else ''}"]
    for e in errors:
        out.append(_wrap(f"{safe(e['path'] or '(file)')}: {safe(e['message'])}", 2))
    return "\n".join(out + _footer(answer))


def render_check(answer: dict) -> str:
    if answer["status"] != "ok":
        return render_invalid(answer)
    out = [f"{safe(answer['case'])}: {answer['decision'].upper().replace('_', ' ')}", ""]
    for lesion in answer["lesions"]:
        out.append(f"Lesion {safe(lesion['id'])}  {lesion['site']}, {lesion['diagnosis']}")
        met = ", ".join(lesion["indications"]) or "meets none of the indications"
        out.append(_wrap(f"medically necessary: {'yes' if lesion['medically_necessary'] else 'no'} ({met})", 2))
        out.append(f"  diagnosis covered:   {'yes' if lesion['diagnosis_covered'] else 'no'}")
    if answer["lines"]:
        if answer["lesions"]:
            out.append("")
        out.append(f"{'Line':>5}  {'Code':<6} {'Outcome':<17} Rule")
        for line in answer["lines"]:
            rules = ", ".join(line.get("rules", []))
            row = f"{line['line']:>5}  {line['code']:<6} {_outcome(line):<17} "
            out.append(row + textwrap.shorten(rules, WIDTH - len(row), placeholder=" ...") if rules else row.rstrip())
    else:
        out.append("")
        out.append("No claim lines.")
    return "\n".join(out + _footer(answer))


def _tree(lines: list[str], items: list[str], first: str, rest: str) -> None:
    for item in items:
        wrapped = textwrap.wrap(item, WIDTH - len(first)) or [""]
        lines.append(first + wrapped[0])
        lines.extend(rest + w for w in wrapped[1:])


def render_explain(answer: dict) -> str:
    """The explained answer as a tree: the decision, each line and why, each lesion and why."""
    if answer["status"] != "ok":
        return render_invalid(answer)
    out = [f"{safe(answer['case'])}: {answer['decision'].upper().replace('_', ' ')}"]
    for line in answer["lines"]:
        ex = line["explanation"]
        out.append("")
        out.append(f"Line {line['line']}  {line['code']}  {_outcome(line).upper()}")
        if ex.get("rules"):
            out.append(_wrap("rules " + ", ".join(f"{r['rule']} ({r['source']})" for r in ex["rules"]), 2))
        elif ex.get("rule"):
            out.append(_wrap(f"rule {ex['rule']} ({ex['source']})", 2))
            if ex.get("policy"):
                out.append(_wrap(f'"{ex["policy"]}"', 2))
        _tree(out, [safe(b) for b in ex.get("because", [])], "  - ", "    ")
    for lesion in answer["lesions"]:
        out.append("")
        necessary = "medically necessary" if lesion["medically_necessary"] else "NOT medically necessary"
        covered = "diagnosis covered" if lesion["diagnosis_covered"] else "diagnosis NOT covered"
        out.append(_wrap(f"Lesion {safe(lesion['id'])}  {lesion['site']}, {lesion['diagnosis']}: {necessary}; {covered}", 0))
        for entry in lesion.get("explanation", []):
            mark = "[x]" if entry["met"] else "[ ]"
            out.append(f"  {mark} {entry['indication']}  ({entry['rule']}, {entry['source']})")
            _tree(out, [safe(b) for b in entry["because"]], "      ", "        ")
        if lesion.get("would_qualify"):
            out.append("  Would qualify with any one of:")
            for option in lesion["would_qualify"]:
                _tree(out, [" and ".join(option["needs"]) + f"  ({option['indication']})"], "    - ", "      ")
    return "\n".join(out + _footer(answer))


def render_rules(rules: list[dict]) -> str:
    out = []
    for r in rules:
        out.append(f"{r['id']}  {r['source']}")
        if r.get("policy"):
            out.append(_wrap(f'"{r["policy"]}"', 2))
    return "\n".join(out)
