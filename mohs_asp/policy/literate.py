"""Literate logic files: the payer's text in its own order, the rules for each paragraph below it.

In `logic/*.lp`, in comments (in the manner of Catala's literate programs):

    % # Procedure Codes                  a heading naming the payer's section
    % > Separate payment can be made     a paragraph of the payer's text (policy-source.txt),
    % > for a repair, flap, or ...       quoted once, word for word, over as many lines as it takes
    % Not encoded: ...                   a paragraph the engine does not encode says so, and why

A rule *sits under* the nearest quoted paragraph above it in its file (a heading ends a
paragraph's reach). A rule cites the payer's sentence it encodes with `% policy: "..."`, which
must be a sentence of the paragraph it sits under; under a paragraph of one sentence it may
leave `% policy:` out and cites that sentence. A rule that follows the contract's reading
instead carries `% reading: "..."`. A helper rule, whose head's predicate begins with `_` or
which carries `% helper: ...` (what it is for), needs no quote: it only serves the rules that
quote. `mohs-asp lint` checks all of this (mohs_asp/authoring/quotes.py, lint.py).

This module reads the comment lines only; it knows nothing of clingo or of the policy.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

HEADING = re.compile(r"%\s?#+\s+(.*?)\s*$")
QUOTE = re.compile(r"%\s?>\s?(.*?)\s*$")
NOT_ENCODED = re.compile(r"%\s*Not encoded:\s*(.*?)\s*$", re.IGNORECASE)
HELPER = re.compile(r"%\s*helper:\s*(.*?)\s*$")
_FOOTNOTE = re.compile(r"(?<![\w*])\*(?=\w)")  # "*aggressive": the footnote mark, not the word
_JOINER = re.compile(r"\s*;(?:\s*or)?\s*$")


@dataclass(frozen=True)
class Block:
    """A heading, a quoted paragraph or a note that a paragraph is not encoded, at its first line."""

    kind: str  # "heading", "quote", "not_encoded"
    line: int
    text: str  # a quote's lines joined by single spaces
    lines: tuple[str, ...] = ()  # a quote's lines as written (a list keeps its items apart)


def blocks(comments: dict[int, str]) -> list[Block]:
    """The headings, quotes and notes among a file's comment lines (line number -> text)."""
    out: list[Block] = []
    quote: list[str] = []
    start = 0

    def close() -> None:
        if quote:
            out.append(Block("quote", start, " ".join(" ".join(quote).split()), tuple(quote)))
            quote.clear()

    last = None
    for line in sorted(comments):
        text = comments[line].strip()
        if (m := QUOTE.match(text)) and not text.startswith("%!"):
            if not quote or last != line - 1:
                close()
                start = line
            quote.append(m.group(1))
            last = line
            continue
        close()
        if m := HEADING.match(text):
            out.append(Block("heading", line, m.group(1)))
        elif m := NOT_ENCODED.match(text):
            out.append(Block("not_encoded", line, m.group(1)))
    close()
    return out


class Layout:
    """A file's blocks, for finding the paragraph a rule sits under."""

    def __init__(self, comments: dict[int, str]):
        self.blocks = blocks(comments)
        self._lines = [b.line for b in self.blocks]

    def paragraph_above(self, line: int) -> Block | None:
        """The quoted paragraph a rule at `line` sits under (None past a heading, or before any)."""
        i = bisect.bisect_left(self._lines, line) - 1
        while i >= 0:
            block = self.blocks[i]
            if block.kind == "quote":
                return block
            if block.kind == "heading":
                return None
            i -= 1
        return None


_SPLIT = re.compile(r"(?<=[.!?])\s+")
_ABBREVIATIONS = ("e.g.", "i.e.", "cf.")


def sentences(text: str) -> list[str]:
    """A paragraph's sentences (a sentence ends in . ! or ?; "e.g." ends none)."""
    out: list[str] = []
    for piece in _SPLIT.split(" ".join(text.split())):
        if out and out[-1].lower().endswith(_ABBREVIATIONS):
            out[-1] += " " + piece
        elif piece:
            out.append(piece)
    return out


def one_sentence(text: str) -> bool:
    """A paragraph of one sentence (or one list item): what a rule under it cites unless it names another."""
    return len(sentences(text)) == 1 and "\u2022" not in text[1:]


def plain(text: str) -> str:
    """A quoted paragraph, list item or sentence as a rule cites it: no footnote asterisk, no
    bullet, no joining "; or"."""
    return _JOINER.sub("", _FOOTNOTE.sub("", text).lstrip("\u2022").strip())


def is_helper(head_name: str | None, helper_note: str | None) -> bool:
    return helper_note is not None or (head_name is not None and head_name.startswith("_") and not head_name.startswith("__"))
