"""Answers as text for people: readable in 80 columns, no colour codes.

Nothing from a case or a policy can forge a line: every value is passed through `safe` (no
control or format character reaches the terminal), an id in a heading through `label` (at most
ID_COLUMNS wide, so the heading and its decision stay on one line), and every line of `check`,
`explain` and `rules` is at most WIDTH columns (`fit`: a longer one goes on indented, so no
terminal wraps a value to the left margin).
"""

from __future__ import annotations

import re
import textwrap
import unicodedata

WIDTH = 80
# an id in a heading: wider ones are cut (JSON output keeps them whole), so that the heading with
# its longest ending, ": INVALID, 101 problems", fits in WIDTH
ID_COLUMNS = 56
_PLAIN = re.compile(r"[ -~]*")  # printable ASCII: nothing to escape, one column each
# escaped: controls (C0, C1), format characters (bidi embeddings, overrides, isolates and marks,
# zero-width spaces and joiners, the word joiner, U+FEFF), line and paragraph separators, surrogates
_ESCAPED = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def _escape(char: str) -> str:
    return char.encode("unicode_escape").decode("ascii") if unicodedata.category(char) in _ESCAPED else char


def safe(text) -> str:
    """Text from a case or a policy, with every character that could steer a terminal written as
    an escape (`\\n`, `\\u202e`): an id holding a newline cannot print a line of its own, one
    holding U+202E cannot reverse the words after it, a zero-width space cannot hide in it."""
    text = str(text)
    if _PLAIN.fullmatch(text):
        return text
    return "".join(map(_escape, text))


def _columns(char: str) -> int:
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


def width(text: str) -> int:
    """Columns a line takes on a terminal (wide East Asian characters take two)."""
    return len(text) if text.isascii() else sum(map(_columns, text))


def label(text) -> str:
    """An id for a heading: `safe`, and cut to ID_COLUMNS with its length said (`claim-7...
    (200 characters)`) when wider, so that no id, however padded, pushes words onto a line of
    their own."""
    shown = safe(text)
    if width(shown) <= ID_COLUMNS:
        return shown
    cut, used = [], 0
    for char in shown:
        used += _columns(char)
        if used > ID_COLUMNS - 20:
            break
        cut.append(char)
    return f"{''.join(cut)}... ({len(str(text))} characters)"


def fit(text: str) -> str:
    """Every line at most WIDTH columns: a longer one is cut there and goes on, indented four
    spaces more than it, so a terminal never wraps a value to the left margin."""
    out = []
    for line in text.split("\n"):
        if len(line) <= WIDTH // 2 or width(line) <= WIDTH:
            out.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip(" ")) + 4)
        piece, used = "", 0
        for char in line:
            if used + _columns(char) > WIDTH:
                out.append(piece)
                piece, used = indent, len(indent)
            piece += char
            used += _columns(char)
        out.append(piece)
    return "\n".join(out)


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


def _heading(answer: dict, said: str) -> str:
    return f"{label(answer.get('case') or '(no id)')}: {said}"


def _decision(answer: dict) -> str:
    return safe(answer["decision"]).upper().replace("_", " ")
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
    out = [_heading(answer, f"INVALID, {len(errors)} problem{'s' if len(errors) != 1 else ''}")]
    for e in errors:
        out.append(_wrap(f"{safe(e['path'] or '(file)')}: {safe(e['message'])}", 2))
    return fit("\n".join(out + _footer(answer)))


def render_check(answer: dict) -> str:
    if answer["status"] != "ok":
        return render_invalid(answer)
    out = [_heading(answer, _decision(answer)), ""]
    for lesion in answer["lesions"]:
        out.append(f"Lesion {label(lesion['id'])}  {safe(lesion['site'])}, {safe(lesion['diagnosis'])}")
        met = ", ".join(map(safe, lesion["indications"])) or "meets none of the indications"
        out.append(_wrap(f"medically necessary: {'yes' if lesion['medically_necessary'] else 'no'} ({met})", 2))
        out.append(f"  diagnosis covered:   {'yes' if lesion['diagnosis_covered'] else 'no'}")
    if answer["lines"]:
        if answer["lesions"]:
            out.append("")
        out.append(f"{'Line':>5}  {'Code':<6} {'Outcome':<17} Rule")
        for line in answer["lines"]:
            rules = ", ".join(map(safe, line.get("rules", [])))
            row = f"{line['line']:>5}  {safe(line['code']):<6} {safe(_outcome(line)):<17} "
            out.append(row + textwrap.shorten(rules, WIDTH - len(row), placeholder=" ...") if rules else row.rstrip())
    else:
        out.append("")
        out.append("No claim lines.")
    return fit("\n".join(out + _footer(answer)))


def _tree(lines: list[str], items: list[str], first: str, rest: str) -> None:
    for item in items:
        wrapped = textwrap.wrap(safe(item), WIDTH - len(first)) or [""]
        lines.append(first + wrapped[0])
        lines.extend(rest + w for w in wrapped[1:])


def render_explain(answer: dict) -> str:
    """The explained answer as a tree: the decision, each line and why, each lesion and why."""
    if answer["status"] != "ok":
        return render_invalid(answer)
    out = [_heading(answer, _decision(answer))]
    for line in answer["lines"]:
        ex = line["explanation"]
        out.append("")
        out.append(f"Line {line['line']}  {safe(line['code'])}  {safe(_outcome(line)).upper()}")
        if ex.get("rules"):
            out.append(_wrap("rules " + ", ".join(f"{safe(r['rule'])} ({safe(r['source'])})" for r in ex["rules"]), 2))
        elif ex.get("rule"):
            out.append(_wrap(f"rule {safe(ex['rule'])} ({safe(ex['source'])})", 2))
            out.extend(_quotes(ex, 2))
        _tree(out, ex.get("because", []), "  - ", "    ")
    for lesion in answer["lesions"]:
        out.append("")
        necessary = "medically necessary" if lesion["medically_necessary"] else "NOT medically necessary"
        covered = "diagnosis covered" if lesion["diagnosis_covered"] else "diagnosis NOT covered"
        out.append(_wrap(f"Lesion {label(lesion['id'])}  {safe(lesion['site'])}, {safe(lesion['diagnosis'])}: "
                         f"{necessary}; {covered}", 0))
        for entry in lesion.get("explanation", []):
            mark = "[x]" if entry["met"] else "[ ]"
            out.append(f"  {mark} {safe(entry['indication'])}  ({safe(entry['rule'])}, {safe(entry['source'])})")
            _tree(out, entry["because"], "      ", "        ")
        if lesion.get("would_qualify"):
            out.append("  Would qualify with any one of:")
            for option in lesion["would_qualify"]:
                _tree(out, [" and ".join(option["needs"]) + f"  ({option['indication']})"], "    - ", "      ")
    return fit("\n".join(out + _footer(answer)))


def _quotes(entry: dict, indent: int) -> list[str]:
    """The payer's sentence and the contract's reading a rule cites, each labelled."""
    return [_wrap(f"{kind}: {shown(safe(entry[kind]))}", indent) for kind in ("policy", "reading") if entry.get(kind)]


def render_rules(rules: list[dict]) -> str:
    out = []
    for r in rules:
        out.append(f"{safe(r['id'])}  {safe(r['source'])}")
        out.extend(_quotes(r, 2))
    return fit("\n".join(out))
