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

The texts are the folder the pack's policy.toml names (`[pack] texts`, by default
`docs/contract/`; mohs_asp/policy/pack.py) when it has them, else the project's snapshot of the
contract (docs/contract/ in the repository, shipped inside the package as mohs_asp/docs/contract).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from ..policy.literate import sentences
from ..policy.load import default_root

SOURCES = {"policy": ("policy-source.txt",), "reading": ("policy.md", "README.md")}
_JOINER = re.compile(r"\s*;(?:\s*or)?\s*$")
_FIGURE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*(cm|mm)\b")


def key(text: str) -> str:
    """A sentence as quotes are compared: no emphasis, code marks or footnote asterisks, curly
    quotes straight, one space between words, no closing punctuation."""
    text = text.replace("`", "").replace("*", "").replace("\u201c", '"').replace("\u201d", '"')
    return " ".join(text.split()).rstrip(".;: ")


_sentences = sentences


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of the payer's text a logic file may quote (`% >`): running text, a bulleted
    list, one item of a list, or a paragraph with the list it leads into."""

    index: int  # its place in the text (an item, and a paragraph with its list, share the list's)
    kind: str  # "text", "list", "item", "text+list"
    text: str  # as written, on one line, one space between words (a no-break space too)

    @property
    def key(self) -> str:
        return key(self.text)


@dataclass
class Source:
    """One quoted text: its sentences (by comparison key) and what is not a sentence in it."""

    name: str
    path: Path
    sentences: dict[str, str]  # key -> the sentence as written
    headings: set[str]  # keys of headings and code lists
    paragraphs: list[Paragraph] = field(default_factory=list)  # policy-source.txt's, in order

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

    paragraphs: list[Paragraph] = []

    def add(sentence: str) -> None:
        sentences.setdefault(key(sentence), sentence.strip())

    lead = None  # the sentence leading into a list (it ends with ":")
    for index, paragraph in enumerate(re.split(r"\n\s*\n", text)):
        lines = [line.strip() for line in paragraph.splitlines() if line.strip()]
        if not lines:
            continue
        if all(line.startswith("\u2022") for line in lines):
            lines = [" ".join(line.split()) for line in lines]
            whole = " ".join(lines)
            paragraphs.append(Paragraph(index, "list", whole))
            if lead:
                paragraphs.append(Paragraph(index, "text+list", f"{paragraphs[-2].text} {whole}"))
            for line in lines:
                paragraphs.append(Paragraph(index, "item", line))
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
        paragraphs.append(Paragraph(index, "text", " ".join(body.split())))
        found = _sentences(body)
        for sentence in found:
            add(sentence)
        lead = found[-1] if found[-1].endswith(":") else None
    return Source(name, path, sentences, headings, paragraphs)


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
    """Where a policy folder's quoted texts are: the folder its policy.toml names ([pack]
    texts, else docs/contract), else its contract/, else the project's own."""
    from ..policy.pack import METADATA, TEXTS

    declared = TEXTS
    try:
        texts = tomllib.loads((root / METADATA).read_text(encoding="utf-8")).get("pack", {}).get("texts")
        declared = texts if isinstance(texts, str) else TEXTS
    except (OSError, ValueError, AttributeError):  # a broken policy.toml: lint says so on its own
        pass
    for folder in (root / declared, root / "docs" / "contract", root / "contract", default_root() / "docs" / "contract",
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


def check_paragraphs(policy, source: Source) -> list[tuple[str, str, str]]:
    """The literate layout of the logic files (mohs_asp/policy/literate.py) against the payer's text:
    (severity, where, message) for each problem. Each `% >` quote is a paragraph of the text
    (or an item of a list, or a paragraph with its list) word for word, quoted once, in the
    text's order; each paragraph is quoted somewhere; a quote with no rule under it says, in a
    `% Not encoded:` note, why not; each rule that cites the payer sits under the paragraph
    its sentence is in, and a rule neither under a paragraph nor following a reading (nor a
    helper) is pointed out."""
    out: list[tuple[str, str, str]] = []
    by_key = {p.key: p for p in source.paragraphs}
    quoted: dict[str, str] = {}  # paragraph key -> where it is quoted
    covered: set[int] = set()  # indexes of the text's paragraphs quoted whole (a list: by all its items too)
    items: dict[int, set[str]] = {}
    last: tuple[int, str] | None = None
    under = {(r.file, r.paragraph_line) for r in policy.rules if getattr(r, "paragraph_line", None)}
    for file, layout in policy.rulebook.layouts.items():
        for i, block in enumerate(layout.blocks):
            if block.kind != "quote":
                continue
            where = f"{file}:{block.line}"
            found = by_key.get(key(block.text))
            if found is None:
                part = min((p for p in source.paragraphs if key(block.text) and key(block.text) in p.key),
                           key=lambda p: len(p.text), default=None)  # the item, not its whole list
                why = (f"it is part of a paragraph: quote the whole paragraph, \"{part.text}\"" if part else
                       f"it is not a paragraph of {source.name}, word for word")
                out.append(("error", where, f"`% >` \"{block.text}\": {why}"))
                continue
            if found.key in quoted:
                out.append(("error", where, f"this paragraph is quoted twice (also at {quoted[found.key]}): quote it "
                                            f"once, with every rule for it below"))
            quoted.setdefault(found.key, where)
            if found.kind == "item":
                items.setdefault(found.index, set()).add(found.key)
            else:
                covered.add(found.index)
                if found.kind == "text+list":
                    covered.add(next(p.index for p in source.paragraphs if p.kind == "text" and p.text in found.text))
            if last is not None and found.index < last[0]:
                out.append(("warning", where, f"this paragraph comes before the one quoted at {last[1]} in {source.name}: "
                                              f"quote the payer's text in its own order"))
            last = (found.index, where)
            rest = layout.blocks[i + 1:]
            reach = next((b.line for b in rest if b.kind in ("quote", "heading")), None)
            noted = any(b.kind == "not_encoded" for b in rest if reach is None or b.line < reach)
            if not noted and (file, block.line) not in under:
                out.append(("warning", where, "no rule sits under this paragraph: add `% Not encoded: WHY` below it "
                                              "(the engine does not encode it, and why)"))
    for p in source.paragraphs:
        if p.kind == "list":
            whole = {q.key for q in source.paragraphs if q.kind == "item" and q.index == p.index}
            if whole <= items.get(p.index, set()):
                covered.add(p.index)
    for p in source.paragraphs:
        if p.kind == "list" and p.index not in covered and items.get(p.index):  # some items quoted: name the others
            missing = [q for q in source.paragraphs if q.kind == "item" and q.index == p.index and q.key not in items[p.index]]
            out.extend(("warning", source.name, f"the list item \"{q.text}\" is quoted in no logic file: quote it "
                                                f"(`% >`) above the rules that encode it, or with a `% Not encoded:` note "
                                                f"saying why") for q in missing)
        elif p.kind in ("text", "list") and p.index not in covered:
            out.append(("warning", f"{source.name}", f"the paragraph \"{p.text[:70]}{'...' if len(p.text) > 70 else ''}\" "
                                                     f"is quoted in no logic file: quote it (`% >`) above the rules that "
                                                     f"encode it, or with a `% Not encoded:` note saying why"))
    for r in policy.rules:
        if getattr(r, "helper", False):
            continue
        if r.paragraph is None and r.policy and not any(key(r.policy) in k for k in quoted):
            out.append(("error", r.source, f"rule {r.id} cites \"{r.policy}\", whose paragraph is quoted in no logic "
                                           f"file: quote the paragraph (`% >`) and put the rule under it"))
        elif r.paragraph is None and r.policy and not r.reading:
            out.append(("error", r.source, f"rule {r.id} cites the payer's sentence but sits under no quoted paragraph: "
                                           f"put it under the paragraph its sentence is in (or add the reading it follows)"))
        elif r.paragraph is not None and r.policy and key(r.policy) not in key(r.paragraph):
            out.append(("error", r.source, f"rule {r.id}: `% policy:` \"{r.policy}\" is not a sentence of the paragraph "
                                           f"it sits under (line {r.paragraph_line}): move the rule under its paragraph"))
        elif r.paragraph is not None and not r.policy and not r.reading:
            out.append(("error", r.source, f"rule {r.id} sits under a paragraph of several sentences: name the one it "
                                           f"encodes with `% policy: \"...\"`"))
    return out
