"""The contract's explanation fields that are put together from what explain/why.py found:
which rule an explanation names, a line's explanation (read off its answer alone), and
which documentation could qualify a lesion. explain/reuse.py puts them together the same way."""

from __future__ import annotations

from collections.abc import Callable

from ..policy.rule import Rule


def cite(rule: Rule) -> dict:
    """The rule an explanation names: its id, where it is, the payer's sentence it encodes
    (None for a rule that follows the contract's reading alone) and that reading."""
    return {"rule": rule.id, "source": rule.source, "policy": rule.policy, **({"reading": rule.reading} if rule.reading else {})}


def line_explanation(view, rules: list[str], reasons: list[str]) -> dict:
    """A line's explanation: the first of the rules that gave its outcome (in source order),
    its reasons (in the rules' order, as check words them), and each rule when several agree.
    Read off a line's answer alone (explain/reuse.py gives it so)."""
    if not rules:
        return {"rule": None, "source": None, "policy": None, "because": []}
    out = {**view.cite(view.rules_by_id[rules[0]]), "because": list(reasons)}
    if len(rules) > 1:
        out["rules"] = [cite(view.rules_by_id[r]) for r in rules]
    return out


def could_document(view, options: list[dict], documented: Callable[[str], bool]) -> list[dict]:
    """What would qualify, kept to what documentation could add: the options every one of
    whose case facts the case left undocumented (a flag, borders; histology, a fact per term,
    always); the lesion's own site and measured size are facts, told in its indications, not
    options. Histology terms are named by the characteristic they spell (data/histology.csv),
    each once. `documented(p)`: whether the case has a fact of input predicate p for the
    lesion (or for the case, of a predicate of the case alone)."""
    spelled = view.spelled
    out = []
    for option in options:
        # histology is one fact per term: a further term can always be documented
        if not option["reads"] or any(p != "histology" and documented(p) for p in option["reads"]):
            continue
        needs = list(option["needs"])
        if option["reads"] == ["histology"]:
            needs = [_respelled(n, spelled) for n in needs]
        for entry in out:
            if entry["indication"] == option["indication"]:
                entry["needs"].extend(n for n in needs if n not in entry["needs"])
                break
        else:
            out.append({"indication": option["indication"], "needs": needs})
    return out


def _respelled(need: str, spelled: dict[str, str]) -> str:
    head, sep, terms = need.partition("one of: ")
    if not sep:
        return need
    words = list(dict.fromkeys(spelled.get(t, t) for t in terms.split(", ")))
    return head + sep + ", ".join(words)


