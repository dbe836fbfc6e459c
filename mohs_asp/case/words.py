"""The words of the case checker's messages: names of what was found, suggestions of the
nearest known name, the spelling rules of the vocabulary fields (case/check.py, field_checks.py)."""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache
from typing import Any

from .format import MAX_TEXT

SUGGEST_CUTOFF = 0.4  # difflib similarity below which no name is suggested (`face` still gets `back`)
SUGGEST_MAX = 40  # characters: longer words and names are not compared (difflib is quadratic)
# entries in each of the checker's memos (a text's verdict, a code's form, a term's reading): a claims
# file repeats a few hundred lesion ids, codes and terms; past this many, an lru_cache forgets the
# least recent and a dict memo starts afresh
MEMO = 1 << 12


def suggest(word: str, known: list[str] | tuple[str, ...]) -> str:
    """`_suggest`, remembered for a short word (a claims file misspells the same few terms again
    and again; difflib's comparisons cost most of an invalid case)."""
    if type(word) is str and len(word) <= SUGGEST_MAX:
        return _remembered(word, tuple(known))
    return _suggest(word, known)


def _suggest(word: str, known: list[str] | tuple[str, ...]) -> str:
    """The nearest known name, as " (did you mean `X`?)", or two that fit equally well
    (" (did you mean `X` or `Y`?)"), or "" when none is near. First choice: the names holding
    most of the word's parts, then those holding the word or held in it (`arm`: forearm or
    upper_arm; `leg`: lower_leg; `upper lip`: lip); else the most similar by difflib."""
    names = [name for name in known if len(name) <= SUGGEST_MAX]
    w = word.lower()
    if not names or len(w) > SUGGEST_MAX:
        return ""
    lows = [name.lower() for name in names]
    parts = [p for p in re.split(r"[\W_]+", w) if len(p) >= 3]
    fits = [(sum(p in k for p in parts), (len(w) >= 3 and w in k) or (len(k) >= 3 and k in w)) for k in lows]
    best = max(fits)

    import difflib  # only a message with a suggestion pays for it

    def ratio(i: int) -> float:
        return difflib.SequenceMatcher(None, w, lows[i]).ratio()

    if best > (0, False):
        near = sorted((i for i, fit in enumerate(fits) if fit == best), key=ratio, reverse=True)[:2]
    else:
        near = list(dict.fromkeys(lows.index(k) for k in difflib.get_close_matches(w, lows, n=2, cutoff=SUGGEST_CUTOFF)))
        near = sorted(near) if len(near) < 2 or ratio(near[0]) == ratio(near[1]) else near[:1]
    if not near:
        return ""
    return f" (did you mean `{names[near[0]]}`{f' or `{names[near[1]]}`' if len(near) > 1 else ''}?)"


_remembered = lru_cache(maxsize=256)(_suggest)  # by the word and the names (a tuple: a vocabulary, a case's lesion ids)


VOCAB_SEPARATORS = r"[\s_\-]+"  # runs of spaces, hyphens and underscores read as one _


def vocab_key(text: str) -> str:
    """Site, histology and borders values (contract README): case-insensitive, runs of spaces,
    hyphens and underscores read as one `_` ("Ill-Defined" is ill_defined, "Lower -  Leg"
    lower_leg)."""
    return re.sub(VOCAB_SEPARATORS, "_", text.strip().lower())


def vocab_pattern(term: str) -> str:
    """The spellings `vocab_key` reads as `term`, as a regular expression in JSON Schema's
    dialect (no flags: each letter as its two cases)."""
    def word(part: str) -> str:
        return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() and c.lower() != c.upper() else re.escape(c)
                       for c in part)

    return r"^\s*" + VOCAB_SEPARATORS.join(word(part) for part in term.split("_")) + r"\s*$"


def as_written(value: Any) -> str:
    """A checked size as the case wrote it ("19.99"): explanations name it so, in its unit; the
    rules compare the micrometres made of it."""
    if type(value) is Decimal and "E" not in (text := str(value)):
        return text  # already plain digits, as format(value, "f") gives them
    if isinstance(value, float):  # from a Python caller: its shortest repr, in plain digits
        value = Decimal(repr(value))
    if isinstance(value, Decimal) and isinstance(exp := value.as_tuple().exponent, int) and abs(exp) > 1000:
        return str(value)  # `0.5e-1000000000000000000` in plain digits would not fit in memory
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def short(value: Any) -> str:
    """A number as a message shows it: 10**400 is not worth 401 digits."""
    text = str(value)
    return text if len(text) <= 40 else f"{text[:20]}... ({len(text)} characters)"


def unusable(text: str) -> bool:
    """Text that cannot reach the solver or the answer unchanged: a NUL (clingo strings end
    there, so `A<NUL>x` and `A<NUL>y` would be one lesion) or an unpaired surrogate (not UTF-8)."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8") if unusable(text) else text


UNUSABLE = "contains a character a case cannot hold (a NUL or an unpaired surrogate)"


def text_problem(value: Any) -> str | None:
    """What keeps a value from being a field's text, or None."""
    if not isinstance(value, str):
        return not_text(value)
    if type(value) is str and len(value) <= MAX_TEXT:  # a str itself: a subclass may compare as it likes
        return short_problem(value)
    return _str_problem(value)


def _str_problem(value: str) -> str | None:
    if not value.strip():
        return "must not be empty"
    if len(value) > MAX_TEXT:
        return f"is longer than {MAX_TEXT} characters"
    return UNUSABLE if unusable(value) else None


short_problem = lru_cache(maxsize=MEMO)(_str_problem)  # of a str of at most MAX_TEXT characters, remembered


def not_text(value: Any) -> str:
    """The message for a value that is not text where text is expected; a number (`code: 17311`
    unquoted in YAML) is told how to write it."""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return f'must be text: write it in quotes, "{short(value)}"'
    return f"must be text, found {type_name(value)}"


def type_name(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float, Decimal)):
        return f"the number {short(value)}"
    if isinstance(value, str):
        return f'the text "{value[:40]}"'
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
