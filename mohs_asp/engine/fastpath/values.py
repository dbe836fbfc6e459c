"""Case values as the compiled engine handles them: plain Python keys for clingo symbols.

engine.case_facts hands over, with an identity symbol table, ints and strs as they are and
a few clingo symbols (true, false); a symbol of the template is turned into the same key:
a Number into its int, a String into its str, any other symbol into ("S", its clingo
handle) (clingo makes each symbol once, so equal symbols have one handle). Kept apart from
template.py so that the engine's hot path and `check`'s start-up import only this.
"""

from __future__ import annotations

import clingo

from ..solver import parse_atom

CACHE_LIMIT = 200_000  # entries of a per-process (or per-template) lookup table before it is emptied
CASE = object()  # the case key handed to engine.case_facts: tells keyed facts from others
SYMBOL_TEXT: dict = {}  # ("S", handle) -> the symbol as engine.parse_atom reads it
SYMBOLS: dict = {}  # ("S", handle) -> the symbol
_KEYS: dict[int, object] = {}


def symbol_key(sym: clingo.Symbol):
    """A symbol as the plain Python value engine.case_facts passes for it (ints, strs),
    or ("S", its clingo handle) for any other symbol (true, false)."""
    if sym.type == clingo.SymbolType.Number:
        return sym.number
    if sym.type == clingo.SymbolType.String:
        return sym.string
    key = ("S", sym._rep)
    SYMBOLS.setdefault(key, sym)
    return key


def value_key(value):
    """The key of a value as engine.case_facts hands it over (with an identity symbol table)."""
    kind = type(value)
    if kind is int or kind is str:
        return value
    if isinstance(value, clingo.Symbol):
        rep = value._rep
        key = _KEYS.get(rep)
        if key is None:
            key = _KEYS[rep] = symbol_key(value)
            if type(key) is tuple:
                SYMBOLS[key] = value
                SYMBOL_TEXT[key] = parse_atom(str(value)) if value.arguments else str(value)
        return key
    raise TypeError(value)


def key_symbol(key) -> clingo.Symbol:
    if type(key) is int:
        return clingo.Number(key)
    if type(key) is str:
        return clingo.String(key)
    return SYMBOLS[key]
