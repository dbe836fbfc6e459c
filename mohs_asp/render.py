"""Answers as text for people: readable in 80 columns; colour (on a terminal) only where asked.

Nothing from a case or a policy can forge a line: every value is passed through `safe` (no
control or format character reaches the terminal), an id in a heading through `label` (at most
ID_COLUMNS wide, so the heading and its decision stay on one line), and every line of `check`,
`explain` and `rules` is at most WIDTH columns (`fit`: a longer one goes on indented, so no
terminal wraps a value to the left margin).

With `colour` (the command asks for it on a terminal without NO_COLOR), the decision of the
headline and each line's outcome are written in colour (ANSI SGR codes, no library): NOT COVERED
and DENIED bold red, COVERED and payable green. The words stay the same; colour is laid over a
finished, fitted text at places recorded while writing it (`_Spans`), never found by searching,
so nothing a case holds is ever coloured.
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


SGR = {"bad": "1;31", "good": "1;32", "fine": "32", "note": "1;36"}
DECISION_STYLE = {"covered": "good", "not_covered": "bad", "no_mms": "note"}
OUTCOME_STYLE = {"denied": "bad", "payable": "fine"}


class _Spans:
    """Where colour goes in a text being written: (row, start, end, style), rows counted in `out`."""

    def __init__(self, colour: bool):
        self.colour = colour
        self.spans: list[tuple[int, int, int, str]] = []

    def add(self, row: int, start: int, length: int, style: str | None) -> None:
        if self.colour and style:
            self.spans.append((row, start, start + length, style))

    def finish(self, out: list[str]) -> str:
        """The text, fitted to WIDTH; in colour when asked and fitting it moved nothing."""
        text = fit("\n".join(out))
        if not self.spans or text != "\n".join(out):
            return text
        rows = list(out)
        for row, start, end, style in sorted(self.spans, reverse=True):
            line = rows[row]
            rows[row] = f"{line[:start]}\x1b[{SGR[style]}m{line[start:end]}\x1b[0m{line[end:]}"
        return "\n".join(rows)


def _headline(out: list[str], answer: dict, spans: _Spans) -> None:
    """The headline, its decision word(s) coloured."""
    text = headline(answer)
    start = len(_heading(answer, ""))  # the decision follows the heading's id and ": "
    spans.add(len(out), start, len("NO MMS LINES") if answer["decision"] == "no_mms" else len(_decision(answer)),
              DECISION_STYLE.get(answer["decision"]))
    out.extend(text.split("\n"))


def _wrap(text: str, indent: int) -> str:
    return textwrap.fill(text, WIDTH, initial_indent=" " * indent, subsequent_indent=" " * (indent + 2))


def _outcome(line: dict) -> str:
    return f"bundled into {line['into']}" if line["outcome"] == "bundled" else line["outcome"]


def _heading(answer: dict, said: str, source: str | None = None) -> str:
    """The case's id; for a case without one, the file it was read from (`source`), else `(no id)`."""
    named = answer.get("case") or ({"-": "(standard input)"}.get(source, source) if source else None)
    return f"{label(named or '(no id)')}: {said}"


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


def render_invalid(answer: dict, source: str | None = None) -> str:
    errors = answer["errors"]
    out = [_heading(answer, f"INVALID, {len(errors)} problem{'s' if len(errors) != 1 else ''}", source)]
    for e in errors:
        out.append(_wrap(f"{safe(e['path'] or '(file)')}: {safe(e['message'])}", 2))
        out.extend(f"    {safe(x)}" for x in e.get("excerpt", ()))  # the file's line there, and a caret
    return fit("\n".join(out + _footer(answer)))


def headline(answer: dict) -> str:
    """The decision, as the first line of a text answer. A case without MMS lines (a
    prior-authorization question) says so, with the indications each lesion meets."""
    if answer["decision"] != "no_mms":
        return _heading(answer, _decision(answer))
    met = [(safe(lesion["id"]), ", ".join(map(safe, lesion["indications"])) or "none") for lesion in answer["lesions"]]
    said = met[0][1] if len(met) == 1 else "; ".join(f"{lid}: {m}" for lid, m in met)
    return _wrap(_heading(answer, "NO MMS LINES") + (f": indications met: {said}" if met else ""), 0)


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
        return safe(outcome)
    return safe(f"{outcome}: {'; '.join(reasons)}")


def render_check(answer: dict, colour: bool = False, source: str | None = None) -> str:
    """Decision first; one line per claim line (its lesion, outcome and reasons); then each
    lesion's indications met and whether its diagnosis is covered; then warnings and the
    decision record."""
    if answer["status"] != "ok":
        return render_invalid(answer, source)
    out: list[str] = []
    spans = _Spans(colour)
    _headline(out, answer, spans)
    out.append("")
    if answer["lines"]:
        out.append("Lines")
        for line in answer["lines"]:
            row = f"{line['line']:>4}  {safe(line['code']):<6} {_lesions_of(line):<9} "
            if width(row) > WIDTH // 2:  # a long code or lesion id: the outcome goes on below it
                out.append(row.rstrip())
                row = " " * 23
            wrapped = textwrap.wrap(_said(line), WIDTH - len(row)) or [""]
            spans.add(len(out), len(row), len(line["outcome"]), OUTCOME_STYLE.get(line["outcome"]))
            out.append(row + wrapped[0])
            out.extend(" " * len(row) + w for w in wrapped[1:])
    else:
        out.append("No claim lines.")
    if answer["lesions"]:
        out.append("")
        out.append("Lesions")
        for lesion in answer["lesions"]:
            met = ", ".join(map(safe, lesion["indications"])) or "meets no indication"
            covered = "diagnosis covered" if lesion["diagnosis_covered"] else "diagnosis NOT covered"
            out.append(_wrap(f"{label(lesion['id'])}  {safe(lesion['site'])}, {safe(lesion['diagnosis'])}: "
                             f"{met}; {covered}", 2))
    return spans.finish(out + _footer(answer))


def _tree(lines: list[str], items: list[str], first: str, rest: str) -> None:
    for item in items:
        wrapped = textwrap.wrap(safe(item), WIDTH - len(first)) or [""]
        lines.append(first + wrapped[0])
        lines.extend(rest + w for w in wrapped[1:])


def _lesion_heading(lesion: dict) -> str:
    necessary = "medically necessary" if lesion["medically_necessary"] else "NOT medically necessary"
    covered = "diagnosis covered" if lesion["diagnosis_covered"] else "diagnosis NOT covered"
    return _wrap(f"Lesion {label(lesion['id'])}  {safe(lesion['site'])}, {safe(lesion['diagnosis'])}: "
                 f"{necessary}; {covered}", 0)


def render_explain(answer: dict, colour: bool = False, source: str | None = None) -> str:
    """The explained answer for a surgeon's office: the decision; each line, with the reasons
    of one that is not payable; each lesion's indications met and not, one row each (why, in
    the case's values); and, for a lesion that meets none, what documentation would qualify
    it (only what the case left undocumented: its site or measured size is told as a fact)."""
    if answer["status"] != "ok":
        return render_invalid(answer, source)
    out: list[str] = []
    spans = _Spans(colour)
    _headline(out, answer, spans)
    if answer["lines"]:
        out.append("")
    for line in answer["lines"]:
        row = f"Line {line['line']}  {safe(line['code'])}  {_lesions_of(line)}: "
        spans.add(len(out), len(row), len(line["outcome"]), OUTCOME_STYLE.get(line["outcome"]))
        outcome = f"bundled into line {line['into']}" if line["outcome"] == "bundled" else line["outcome"].replace("_", " ")
        if line["outcome"] in ("payable", "bundled"):
            out.append(row + safe(outcome))
            continue
        out.append(row + safe(outcome).upper())
        _tree(out, line.get("reasons", []), "  - ", "    ")
    for lesion in answer["lesions"]:
        out.append("")
        out.append(_lesion_heading(lesion))
        entries = lesion.get("explanation", [])
        for entry in entries:
            # a lesion that qualifies: why, for each indication met, and the rest in one list
            if entry["met"] or not lesion["medically_necessary"]:
                out.append(_row(f"  {'[x]' if entry['met'] else '[ ]'} {safe(entry['indication'])}: ",
                                "; ".join(map(safe, entry["because"]))))
        if lesion["medically_necessary"] and (unmet := [safe(e["indication"]) for e in entries if not e["met"]]):
            out.append(_wrap("not met: " + ", ".join(unmet), 2))
        if lesion.get("could_document"):
            out.append("  Would qualify if the record documents any one of:")
            for option in lesion["could_document"]:
                _tree(out, [" or ".join(option["needs"]) + f"  ({option['indication']})"], "    - ", "      ")
        elif not lesion["medically_necessary"]:
            out.append("  No documentation the case leaves out would qualify it.")
    return spans.finish(out + _footer(answer))


def render_explain_full(answer: dict, colour: bool = False, source: str | None = None) -> str:
    """The explained answer for policy authors, as a tree: the decision, each line and the
    rules (id, logic/FILE.lp:LINE) that gave its outcome, each lesion and why, what would qualify."""
    if answer["status"] != "ok":
        return render_invalid(answer, source)
    out: list[str] = []
    spans = _Spans(colour)
    _headline(out, answer, spans)
    if answer["lines"]:
        out.append("")
    for line in answer["lines"]:
        ex = line["explanation"]
        lead = f"Line {line['line']}  {safe(line['code'])}  "
        spans.add(len(out), len(lead), len(line["outcome"]), OUTCOME_STYLE.get(line["outcome"]))
        cited = ", ".join(f"{safe(r['rule'])} {safe(r['source'])}" for r in ex["rules"]) if ex.get("rules") else \
            f"{safe(ex['rule'])} {safe(ex['source'])}" if ex.get("rule") else ""
        # the rule's sentence and reading: `mohs-asp rules ID`
        out.append(_wrap(f"Line {line['line']}  {safe(line['code'])}  {safe(_outcome(line)).upper()}"
                         + (f"  ({cited})" if cited else ""), 0))
        _tree(out, ex.get("because", []), "  - ", "    ")
    for lesion in answer["lesions"]:
        out.append("")
        out.append(_lesion_heading(lesion))
        for entry in lesion.get("explanation", []):
            mark = "[x]" if entry["met"] else "[ ]"
            row = f"  {mark} {safe(entry['indication'])}  ({safe(entry['rule'])}, {safe(entry['source'])})"
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
                out.append(_row(f"    - ({safe(option['indication'])}) ", " and ".join(map(safe, option["needs"]))))
    return spans.finish(out + _footer(answer))


def _row(lead: str, text: str) -> str:
    """One row of at most 80 columns: `text` cut at a word, with " ..." (the JSON form has it whole)."""
    return lead + textwrap.shorten(text, max(WIDTH - len(lead), 20), placeholder=" ...")


def _quotes(entry: dict, indent: int) -> list[str]:
    """The payer's sentence and the contract's reading a rule cites, each labelled."""
    return [_wrap(f"{kind}: {shown(safe(entry[kind]))}", indent) for kind in ("policy", "reading", "because") if entry.get(kind)]


def render_rules(rules: list[dict]) -> str:
    out = []
    for r in rules:
        out.append(f"{safe(r['id'])}  {safe(r['source'])}")
        out.extend(_quotes(r, 2))
    return fit("\n".join(out))
