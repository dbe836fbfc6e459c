"""The texts a policy's rules quote, cut into whole sentences (for `mohs-asp lint`).

A rule's `% policy: "..."` quotes a whole sentence of the payer's text (`policy-source.txt`);
its `% reading: "..."` a whole sentence of the contract's readings (`policy.md`, or the
contract's `README.md`). A *sentence* here is what a reader would quote whole:

- a sentence of running text (ending in `.`, `:`, `?` or `!`);
- an item of a bulleted list (its joining "; or" left off), alone or after the sentence that
  leads into its list ("Aggressive behavior must include ANY ONE of the following histologic
  characteristics: Sclerotic");
- in the Markdown readings, a sentence of a list item, a paragraph or a table cell.

Headings ("Diagnosis Codes"), lists of codes and parts of sentences are not sentences. Quotes
are compared word for word, leaving out Markdown emphasis and code marks, footnote asterisks,
line breaks and a sentence's closing punctuation.

The texts are the policy folder's own `docs/contract/` (or `contract/`, as installed) when it
has one, else the project's snapshot of the contract (docs/contract/ in the repository,
shipped inside the package).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from .policy import default_root

SOURCES = {"policy": ("policy-source.txt",), "reading": ("policy.md", "README.md")}
_SPLIT = re.compile(r"(?<=[.!?])\s+")
_ABBREVIATIONS = ("e.g.", "i.e.", "cf.")
_JOINER = re.compile(r"\s*;(?:\s*or)?\s*$")
_FIGURE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*(cm|mm)\b")


def key(text: str) -> str:
    """A sentence as quotes are compared: no emphasis, code marks or footnote asterisks, curly
    quotes straight, one space between words, no closing punctuation."""
    text = text.replace("`", "").replace("*", "").replace("\u201c", '"').replace("\u201d", '"')
    return " ".join(text.split()).rstrip(".;: ")


def _sentences(text: str) -> list[str]:
    text = " ".join(text.split())
    out: list[str] = []
    for piece in _SPLIT.split(text):
        if out and out[-1].lower().endswith(_ABBREVIATIONS):
            out[-1] += " " + piece
        elif piece:
            out.append(piece)
    return out


@dataclass
class Source:
    """One quoted text: its sentences (by comparison key) and what is not a sentence in it."""

    name: str
    path: Path
    sentences: dict[str, str]  # key -> the sentence as written
    headings: set[str]  # keys of headings and code lists

    def find(self, quote: str) -> str | None:
        return self.sentences.get(key(quote))

    def part_of(self, quote: str) -> str | None:
        """The sentence a quote is only part of, if any."""
        k = key(quote)
        return next((s for sk, s in self.sentences.items() if k and k in sk), None)


def _plain_text(name: str, path: Path, text: str) -> Source:
    """policy-source.txt: paragraphs of running text, bulleted lists, headings, code lists."""
    sentences: dict[str, str] = {}
    headings: set[str] = set()

    def add(sentence: str) -> None:
        sentences.setdefault(key(sentence), sentence.strip())

    lead = None  # the sentence leading into a list (it ends with ":")
    for paragraph in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in paragraph.splitlines() if line.strip()]
        if not lines:
            continue
        if all(line.startswith("\u2022") for line in lines):
            for line in lines:
                item = _JOINER.sub("", line.lstrip("\u2022").strip())
                add(item)
                if lead:
                    add(f"{lead} {item}")
            continue
        body = " ".join(lines)
        if not body.endswith((".", ":", "?", "!")):
            headings.add(key(body))  # a heading or a list of codes
            lead = None
            continue
        found = _sentences(body)
        for sentence in found:
            add(sentence)
        lead = found[-1] if found[-1].endswith(":") else None
    return Source(name, path, sentences, headings)


def _markdown(name: str, path: Path, text: str) -> Source:
    """policy.md and README.md: paragraphs, list items and table cells, code blocks left out."""
    sentences: dict[str, str] = {}
    headings: set[str] = set()
    blocks: list[str] = []
    current: list[str] = []
    fenced = False

    def close() -> None:
        if current:
            blocks.append(" ".join(current))
            current.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            close()
            fenced = not fenced
        elif fenced:
            continue
        elif stripped.startswith("#"):
            close()
            headings.add(key(stripped.lstrip("#")))
        elif stripped.startswith("|"):
            close()
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells if c):
                blocks.extend(c for c in cells if c)
        elif not stripped:
            close()
        elif re.match(r"([-*]|\d+\.)\s", stripped):
            close()
            current.append(re.sub(r"^([-*]|\d+\.)\s+", "", stripped))
        else:
            current.append(stripped)
    close()
    for block in blocks:
        for sentence in _sentences(block.replace("**", "")):
            sentences.setdefault(key(sentence), sentence.strip())
    return Source(name, path, sentences, headings)


def contract_folder(root: Path) -> Path | None:
    """Where a policy folder's quoted texts are: its own, else the project's snapshot."""
    for folder in (root / "docs" / "contract", root / "contract", default_root() / "docs" / "contract",
                   default_root() / "contract"):
        if (folder / SOURCES["policy"][0]).is_file():
            return folder
    return None


def load_sources(root: Path) -> dict[str, list[Source]]:
    """The texts each kind of quote is looked for in ({} when there are none to be found)."""
    folder = contract_folder(root)
    if folder is None:
        return {}
    out: dict[str, list[Source]] = {}
    for kind, names in SOURCES.items():
        for name in names:
            path = folder / name
            if path.is_file():
                text = path.read_text(encoding="utf-8", errors="replace")
                read = _plain_text if name.endswith(".txt") else _markdown
                out.setdefault(kind, []).append(read(name, path, text))
    return out


def figures(text: str) -> list[tuple[str, str, int]]:
    """The sizes a sentence names, as written and in micrometres: ("2.0", "cm", 20000)."""
    per = {"cm": 10000, "mm": 1000}
    return [(value, unit, int(Decimal(value) * per[unit])) for value, unit in _FIGURE.findall(text)]
