"""The rule model: a policy's logic files, parsed once through clingo's AST into its statements
(what is grounded), its rules (mohs_asp/policy/rule.py: ids, quotes, words, heads, bodies, source
lines) and its predicates' descriptions (`%! name(Args)` then `%!   holds: "..."`,
`%!   absent: "..."`). Lint, the test runner's coverage, the firing records
(mohs_asp/policy/records.py), `mohs-asp rules` and explanations all read it.

The files are read before clingo reads them (`logic_files`): every #include is followed and
checked first, so that clingo parses only the policy folder's own regular files.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property, lru_cache
from pathlib import Path

import clingo
from clingo import ast

from ..case import format as case_format
from . import literate
from ..errors import PolicyError
from .files import read_utf8
from .rule import Annotations, Predicate, Rule, head_signature

MAIN = "main.lp"
MAX_LOGIC_BYTES = 1024 * 1024  # all logic files together: parsing 1 MB of rules takes about 1.5 s
PRED_DOC = re.compile(r"%!\s*([a-z_][A-Za-z0-9_]*)\s*(?:\(([^)]*)\))?\s*$")
PRED_TEXT = re.compile(r"%!\s+(holds|absent):\s*\"(.*)\"\s*$")
# a clingo message line: FILE:LINE:COL[-END]: KIND: TEXT
_LOCATED = re.compile(r"(\S*?\.lp|<\w+>):(\d+):(\d+)(?:-[\d:]+)?:\s*(\w+):\s*(.*)")
_TOKENS = {"<IDENTIFIER>": "name", "<VARIABLE>": "variable", "<NUMBER>": "number", "<STRING>": "string",
           "<EOF>": "end of file"}


def main_file(root: Path) -> Path:
    """A policy folder's logic/main.lp (PolicyError when there is none)."""
    main = root / "logic" / MAIN
    if not main.is_file():
        raise PolicyError(f"{root} holds no logic/{MAIN}: not a policy folder")
    return main


class Rulebook:
    """The parsed logic files of one policy folder (`root`, whose logic/main.lp includes the rest)."""

    def __init__(self, root: Path):
        self.root = root
        self.logic = root / "logic"
        main = main_file(root)
        self._names: dict[str, str] = {}
        self.messages: list[str] = []  # what clingo said while parsing (warnings), in an author's words
        self.statements: list[ast.AST] = []  # everything to ground, comments left out
        self.rules: list[Rule] = []
        self.predicates: dict[tuple[str, int], Predicate] = {}
        self.unannotated: list[Rule] = []  # rules without an id or a quote (lint says so)
        self._parse(main)

    def rel(self, filename: str) -> str:
        """A logic file's name relative to the policy folder (logic/claims.lp). clingo names an
        included file relative to logic/, the folder it parses in (see _parse)."""
        if filename not in self._names:
            try:
                self._names[filename] = (self.logic / filename).resolve().relative_to(self.root.resolve()).as_posix()
            except (ValueError, OSError):
                self._names[filename] = filename
        return self._names[filename]

    def _parse(self, main: Path) -> None:
        errors: list[str] = []

        def logger(code: clingo.MessageCode, message: str) -> None:
            errors.append(self.clean_message(message))

        files = self._logic_files(main)
        try:
            nodes = parse_logic(main, logger)
        except RuntimeError:
            raise PolicyError("the logic files do not parse:\n" + "\n".join(errors or ["(no message)"])) from None
        self.nodes = nodes  # what a cached rulebook points into (mohs_asp/policy/load.py): parse_logic gives them again
        if errors:
            self.messages.extend(errors)
        begins = [node.location.begin for node in nodes]  # looked up once: a location costs
        read = {os.path.realpath(self.logic / name) for name in {begin.filename for begin in begins}}
        if not read <= files:  # the scan below missed an #include that clingo followed: never trusted
            raise PolicyError(f"the logic files read {', '.join(sorted(read - files))}, which no #include the "
                              f"policy folder's files hold names")
        comments: dict[tuple[str, int], str] = {}
        by_file: dict[str, dict[int, str]] = {}
        for node, begin in zip(nodes, begins):
            if node.ast_type == ast.ASTType.Comment:
                file = self.rel(begin.filename)
                for offset, text in enumerate(str(node.value).splitlines()):
                    comments[(file, begin.line + offset)] = by_file.setdefault(file, {})[begin.line + offset] = text.strip()
        self._read_predicate_docs(comments)
        self.layouts = {file: literate.Layout(lines) for file, lines in by_file.items()}  # the quoted paragraphs
        statements = [(node, begin) for node, begin in zip(nodes, begins) if node.ast_type != ast.ASTType.Comment]
        annotations = Annotations(comments, {(self.rel(begin.filename), begin.line) for _, begin in statements})
        for node, begin in statements:
            self.statements.append(node)
            if node.ast_type == ast.ASTType.Rule:
                self._add_rule(node, begin, annotations)


    def _logic_files(self, main: Path) -> set[str]:
        """Every file logic/main.lp includes, followed before clingo reads any (the real path of
        each). Each must be a regular file inside the policy folder and UTF-8 text (clingo aborts on
        a message quoting bytes that are not), all of them together at most MAX_LOGIC_BYTES; no
        file may hold `#script` (mohs-asp runs no embedded Python or Lua). A FIFO or a device would
        hang the parser or feed it without end; a file outside the folder is not the policy's."""
        root = os.path.realpath(self.root)
        seen: set[str] = set()
        queue, total = [str(main)], 0
        while queue:
            path = queue.pop()
            real = os.path.realpath(path)
            if real in seen:
                continue
            seen.add(real)
            name = self.rel(path)
            text = read_utf8(Path(path), name, MAX_LOGIC_BYTES - total,
                              f"the logic files together are larger than {MAX_LOGIC_BYTES // (1024 * 1024)} MB "
                              f"(the limit for a policy)")
            total += len(text.encode("utf-8"))
            for offset, directive, target in _directives(text):
                where = f"{name}:{text.count(chr(10), 0, offset) + 1}"
                if directive == "#script":
                    raise PolicyError(f"{where}: #script is not allowed: mohs-asp runs no Python or Lua embedded in a "
                                      f"policy (write the rule in ASP, or the value in data/)")
                if target is None:
                    continue  # not a file name: clingo reports the syntax error
                if target.startswith("<") or target == "-":
                    shown = target if target.startswith("<") else f'"{target}"'
                    raise PolicyError(f"{where}: #include {shown} is not allowed: a policy includes only its own files "
                                      f"(\"-\" would read standard input)")
                candidates = [target] if os.path.isabs(target) else [str(self.logic / target), str(Path(path).parent / target)]
                for candidate in dict.fromkeys(candidates):
                    try:
                        info = os.stat(candidate)
                    except OSError:
                        continue  # not there: clingo says the file cannot be opened (or tries the other place)
                    if not stat.S_ISREG(info.st_mode):
                        raise PolicyError(f"{where}: #include \"{target}\" is not a regular file (a FIFO, a device or a "
                                          f"folder): refused")
                    if os.path.commonpath([root, os.path.realpath(candidate)]) != root:

                        raise PolicyError(f"{where}: #include \"{target}\" names a file outside the policy folder: refused")
                    queue.append(candidate)
        return seen

    def clean_message(self, message: str) -> str:
        """clingo says '/abs/logic/x.lp:3:5-9: error: unsafe variables in:' and more lines; authors
        read 'logic/x.lp:3:7: error: variable X is unsafe: ...', one problem a line, in plain words.
        `check` (exit 3) and `lint` both print this."""
        lines = [line.strip() for line in message.strip().splitlines()]
        found = [(_LOCATED.match(line), line) for line in lines]
        first = found[0][0] if found else None
        if first is None:
            return "\n".join(lines)

        def at(m: re.Match) -> str:
            return f"{self.rel(m.group(1))}:{m.group(2)}:{m.group(3)}"

        text = first.group(5).rstrip(":")
        quoted = " ".join(line for m, line in found[1:] if m is None)
        notes = [m for m, _ in found[1:] if m is not None]
        if text.startswith("unsafe variables in") and notes:
            return "\n".join(f"{at(n)}: error: variable {n.group(5).split()[0].strip(chr(39))} is unsafe: it must also "
                             "appear in a positive atom of the rule's body (not only under `not`, in a comparison or in the head)"
                             for n in notes)
        if text.startswith("atom does not occur in any rule head"):
            return f"{at(first)}: error: {quoted} is in no rule head and no data file (a misspelt predicate name?)"
        if text.startswith("operation undefined"):
            return f"{at(first)}: warning: {quoted} is undefined for some values (arithmetic on something not a number)"
        for token, words in _TOKENS.items():
            text = text.replace(token, words)
        if text.startswith("syntax error") and first.group(3) == "1":
            text += " (does the statement before it end with a `.`?)"
        severity = "error" if first.group(4) == "error" else "warning"
        out = [f"{at(first)}: {severity}: {text}" + (f": {quoted}" if quoted else "")]
        return "\n".join(out + [f"{at(n)}: note: {n.group(5)}" for n in notes])

    def _read_predicate_docs(self, comments: dict[tuple[str, int], str]) -> None:
        current: dict | None = None
        for (file, line), text in sorted(comments.items()):
            m = PRED_DOC.match(text)
            if m:
                args = tuple(a.strip() for a in (m.group(2) or "").split(",") if a.strip())
                current = {"name": m.group(1), "args": args, "source": f"{file}:{line}"}
                pred = Predicate(**current)
                self.predicates[pred.key] = pred
                continue
            t = PRED_TEXT.match(text)
            if t and current is not None:
                current[t.group(1)] = t.group(2)
                pred = Predicate(**current)
                self.predicates[pred.key] = pred
            elif not text.startswith("%!"):
                current = None
        # the words for a case fact left out are the case format's (case/format.py), not input.lp's
        for key, words in case_format.absent_words().items():
            if key in self.predicates:
                pred = self.predicates[key]
                self.predicates[key] = Predicate(pred.name, pred.args, pred.holds, words, pred.source)

    def _add_rule(self, node: ast.AST, begin: ast.Position, annotations: Annotations) -> None:
        file = self.rel(begin.filename)
        line = begin.line
        notes = annotations.for_rule(file, line)
        head = head_signature(node.head)
        layout = self.layouts.get(file)
        paragraph = layout.paragraph_above(line) if layout else None
        if "policy" not in notes and paragraph and literate.one_sentence(paragraph.text):
            notes["policy"] = literate.plain(paragraph.text)  # under a paragraph of one sentence: that sentence
        if head and head[0].startswith("__"):  # __by and __fired record which rule fired: a rule of that name would forge them
            raise PolicyError(f"{file}:{line}: {head[0]}/{head[1]}: predicate names beginning with __ are the engine's own; "
                              f"rename it")
        rule = Rule(id=notes.get("rule") or f"{file}:{line}", policy=notes.get("policy"), because=notes.get("because"),
                    file=file, line=line, head=head, node=node, annotated="rule" in notes, reading=notes.get("reading"),
                    paragraph=paragraph.text if paragraph else None, paragraph_line=paragraph.line if paragraph else None,
                    helper=literate.is_helper(head[0] if head else None, notes.get("helper")))
        self.rules.append(rule)
        if not rule.annotated or not (rule.policy or rule.reading or rule.helper):
            self.unannotated.append(rule)

    # -- looking rules up ------------------------------------------------------------------

    @cached_property
    def rules_by_id(self) -> dict[str, Rule]:
        return {r.id: r for r in self.rules}

    def rules_for(self, name: str, arity: int) -> list[Rule]:
        return [r for r in self.rules if r.head == (name, arity)]

    @cached_property
    def derived(self) -> frozenset[tuple[str, int]]:
        """The predicates some rule's head atom derives."""
        return frozenset(r.head for r in self.rules if r.head)

    @cached_property
    def shown_predicates(self) -> frozenset[str]:
        """The predicates the policy's `#show` statements name (what the answer is read from)."""
        return frozenset(n.name for n in self.statements if n.ast_type == ast.ASTType.ShowSignature)

    @cached_property
    def defined(self) -> frozenset[tuple[str, int]]:
        """The predicates the policy's `#defined` statements declare (logic/input.lp)."""
        return frozenset((n.name, n.arity) for n in self.statements if n.ast_type == ast.ASTType.Defined)

    def where(self, node: ast.AST) -> str:
        """Where a statement or term begins: logic/claims.lp:12:5."""
        begin = node.location.begin
        return f"{self.rel(begin.filename)}:{begin.line}:{begin.column}"

    def program(self, track: frozenset[str] | None) -> list[ast.AST]:
        """The statements to ground; with `track`, also the firing records (mohs_asp/policy/records.py)."""
        return self._programs(track)

    @lru_cache(maxsize=4)  # noqa: B019 -- one Rulebook per process and folder
    def _programs(self, track: frozenset[str] | None) -> list[ast.AST]:
        from .records import instrumented

        return instrumented(self.statements, self.rules, track, self.plans if track and "?" in track else None)

    @cached_property
    def plans(self):
        """What explanations ask of the rules, once per policy (records.Plans)."""
        from .records import Plans

        return Plans(self.rules, self.predicates, self.derived, frozenset(case_format.facts()))  # the case's facts


def parse_logic(main: Path, logger=None) -> list[ast.AST]:
    """Every node clingo's parser gives for logic/main.lp and the files it includes, comments
    included, in its order: the same files give the same nodes (RuntimeError when they do not
    parse; `logger` hears its messages)."""
    nodes: list[ast.AST] = []
    with _working_folder(main.parent):  # clingo looks for an #include in the working folder first
        ast.parse_files([str(main)], nodes.append, logger=logger, message_limit=50)
    return nodes


# -- reading logic files before clingo does ------------------------------------------------

_CODE = re.compile(r'%\*|%[^\n]*|"(?:[^"\\\n]|\\.)*"|#include\b|#script\b')  # as clingo's lexer reads them
_IN_COMMENT = re.compile(r"%\*|\*%")  # block comments nest
_SPACE = re.compile(r"\s*")
_FILE = re.compile(r'"((?:[^"\\\n]|\\.)*)"|(<[^>\n]*>)')


def _skip_comment(text: str, pos: int) -> int:
    """The end of the block comment opened just before `pos` (nested ones included)."""
    depth = 1
    while depth:
        m = _IN_COMMENT.search(text, pos)
        if m is None:
            return len(text)
        depth += 1 if m.group() == "%*" else -1
        pos = m.end()
    return pos


def _directives(text: str) -> Iterator[tuple[int, str, str | None]]:
    """(offset, "#include" or "#script", the file named or None) for each directive of a logic
    file outside comments and strings. An #include names a file in quotes (`"claims.lp"`, read
    as clingo reads a string) or in angle brackets (`<incmode>`, kept with its brackets)."""
    pos = 0
    while (m := _CODE.search(text, pos)) is not None:
        token, pos = m.group(), m.end()
        if token == "%*":
            pos = _skip_comment(text, pos)
        elif token == "#script":
            yield m.start(), token, None
        elif token == "#include":
            while True:  # comments may stand between #include and its file
                pos = _SPACE.match(text, pos).end()
                if text.startswith("%*", pos):
                    pos = _skip_comment(text, pos + 2)
                elif text.startswith("%", pos):
                    end = text.find("\n", pos)
                    pos = len(text) if end < 0 else end
                else:
                    break
            quoted = _FILE.match(text, pos)
            target = None
            if quoted:
                pos = quoted.end()
                target = quoted.group(2) or re.sub(r"\\(.)", lambda e: "\n" if e.group(1) == "n" else e.group(1),
                                                   quoted.group(1))
            yield m.start(), token, target


@contextmanager
def _working_folder(folder: Path) -> Iterator[None]:
    try:
        before = os.getcwd()
    except OSError:  # the working folder was removed: nothing to go back to
        before = None
    os.chdir(folder)
    try:
        yield
    finally:
        if before is not None:
            os.chdir(before)

