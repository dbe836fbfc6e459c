"""How the compiled engine reads a template's shown atoms back for a case: a plan made once a
template, and each atom with the case's own values in place of its stand-ins (kept per
template). Split from fastpath/__init__.py, which evaluates the templates."""

from __future__ import annotations

from .values import CACHE_LIMIT, SYMBOL_TEXT


def reading(engine, template) -> list:
    """How each shown atom a case can hold is read back, worked out once per template:
    (its place in the template's values, the (sort, stand-in) of each of its holes or None,
    None for each (the holes of a case whose values stand for themselves), None for an atom
    of the case, whether it is a __said record for a record, what the case's Solved gets:
    the atom, or (rule id, head) and (rule id, head, values))."""
    plan = []
    for n, output in enumerate(template.outputs):
        if not output.by and not output.keyed:
            continue
        keys = tuple((root, rep) for _, root, rep in output.holes) or None
        plan.append((n, keys, (None,) * len(keys) if keys else None,
                     output.said if output.by else None, read(engine, output, output.atom)))
    return plan


def read(engine, output, atom: tuple):
    if not output.by:
        return atom
    rule_id = engine.rule_ids[int(atom[1])]
    return (rule_id, atom[2]), ((rule_id, atom[2], atom[3][1:]) if output.said else None)  # as engine.solve reads a __said record


def filled(engine, template, n: int, texts: tuple):
    """What a shown atom gives a case whose values its stand-ins hold (their texts, None for
    a stand-in that is the case's own value), kept per template."""
    output = template.outputs[n]
    atom = output.atom
    for (path, _, _), text in zip(output.holes, texts):
        if text is not None:
            atom = replace(atom, path, text)
    filled = template.filled
    if len(filled) > CACHE_LIMIT:
        filled.clear()
    got = filled[(n, texts)] = read(engine, output, atom)
    return got


def replace(atom: tuple, path: tuple, text: str) -> tuple:
    i = path[0]
    if len(path) == 1:
        return atom[:i] + (text,) + atom[i + 1:]
    return atom[:i] + (replace(atom[i], path[1:], text),) + atom[i + 1:]


def text(key) -> str:
    """A value as engine.parse_atom reads it back: a number's digits, a string unquoted,
    any other symbol as clingo prints it."""
    if type(key) is int or type(key) is str:
        return str(key)
    return SYMBOL_TEXT[key]
