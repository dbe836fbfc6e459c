"""Reading a case file's text into Python values, the same way for every command.

JSON (text beginning with { or [) is read strictly; anything else is YAML, read as YAML 1.2's
core schema and made stricter for case files. Numbers with a point or an exponent become exact
Decimals of their text. What the values mean is case/check.py's to check (against case/format.py).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import IO, Any

from ..errors import CaseInvalid, InputProblem, UsageError

# Input limits (README, "Limits"): past these a file is refused rather than read.
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_YAML_CHARS = 1024 * 1024  # YAML reads ~1 MB/s in ~90 MB of memory: hand-written cases are far smaller
# YAML plain scalars that are not text (YAML 1.2 core schema, made stricter: no octal or leading 0); patterns,
# compiled when a YAML case is first read (a JSON case does not pay for them)
YAML_BOOL = r"true|True|TRUE|false|False|FALSE"
YAML_INT = r"[-+]?(?:0|[1-9][0-9]*)"
# a number with a point or an exponent (2e0, as JSON and YAML 1.2 read it); a whole number's digits
# take no leading 0 here either (02e0 stays text)
YAML_DECIMAL = r"[-+]?(?:(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|(?:0|[1-9][0-9]*)[eE][-+]?[0-9]+)"
YAML_FLOAT = rf"{YAML_DECIMAL}|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"

def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


class _Beyond(Decimal):
    """A number whose exponent is past what Decimal can hold (`1e99999999999999999999`, beyond
    10**18): it compares as the nearest number Decimal holds (so a size is above 100 cm or below
    a micrometre, as it is) and is shown as written."""

    text: str

    def __new__(cls, text: str) -> _Beyond:
        mantissa, _, exponent = text.lower().partition("e")
        sign = "-" if mantissa.startswith("-") else ""
        if not mantissa.strip("+-0."):
            near = f"{sign}0"
        elif exponent.startswith("-"):
            near = f"{sign}1E-999999999999999999"
        else:
            near = f"{sign}9E+999999999999999999"
        self = super().__new__(cls, near)
        self.text = text
        return self

    def __str__(self) -> str:
        return self.text


def _whole_number(text: str) -> int:
    """A whole number's digits as an int; past Python's limit for reading digits (4300), an
    error in words (JSON's and YAML's alike)."""
    digits, limit = len(text.lstrip("+-")), sys.get_int_max_str_digits()  # 0: no limit
    if limit and digits > limit:
        raise ValueError(f"the whole number {text[:20]}... has {digits:,} digits, more than a case can hold")
    return int(text)


def exact_number(text: str) -> Decimal:
    """A number with a point or an exponent, as written: an exact Decimal of its text, however
    many digits (JSON's and YAML's alike)."""
    try:
        return Decimal(text)
    except InvalidOperation:  # the one way a well-formed number's text fails: its exponent
        return _Beyond(text)


class _Fields(dict):
    """A mapping read from a case file; `repeated` names the keys the file gives twice
    (the checker reports each at its path: a claims file saying `id` twice is a mistake)."""

    repeated: tuple = ()


def _json_object(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) < len(pairs):
        obj = _Fields(obj)
        obj.repeated = _repeated(key for key, _ in pairs)
    return obj


def _repeated(keys) -> tuple:
    seen: set = set()
    return tuple(dict.fromkeys(k for k in keys if k in seen or seen.add(k)))


# How parse_text reads JSON, made once (json.loads given these makes a decoder a call, a fifth of
# the time a case's line takes to read).
CASE_JSON = json.JSONDecoder(parse_float=exact_number, parse_int=_whole_number, parse_constant=_reject_constant,
                             object_pairs_hook=_json_object)


@lru_cache(maxsize=1)
def _yaml_loader() -> type:
    """PyYAML's safe loader (libyaml's when installed: faster, and it bounds nesting), made
    stricter for case files: tags that build Python objects are unknown to it; aliases
    (`*name`) and merge keys (`<<`) are refused, so a "billion laughs" file cannot expand;
    a key given twice is kept for the checker to report; a date that does not exist
    (`2026-02-30`) stays text, for the checker to report at its path.

    Plain scalars are typed as in YAML 1.2's core schema, not 1.1's: only true/false (any of
    the three cases) are booleans (`yes`, `on` stay text); a whole number is decimal digits
    with an optional sign and no leading 0 (`020`, `0x10`, `1:0`, `1_000` stay text, for the
    checker to report as the wrong type); a number with a point is a Decimal of its text, so
    `1.99999999999999999` is not 2.0."""
    import yaml  # only YAML cases pay for the import

    error = yaml.constructor.ConstructorError
    tags = {name: f"tag:yaml.org,2002:{name}" for name in ("bool", "int", "float")}

    class CaseLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        def construct_object(self, node, deep=False):
            if node in self.constructed_objects or node in self.recursive_objects:
                raise error(None, None, "anchors and aliases (&name, *name) are not allowed in a case file", node.start_mark)
            return super().construct_object(node, deep)

        def flatten_mapping(self, node):
            for key, _ in node.value:
                if key.tag == "tag:yaml.org,2002:merge":
                    raise error(None, None, "a merge key (<<) is not allowed in a case file", key.start_mark)

        def construct_fields(self, node):
            data = _Fields()
            yield data
            data.update(self.construct_mapping(node))
            if len(data) < len(node.value):
                data.repeated = _repeated(self.constructed_objects[key] for key, _ in node.value)

        def construct_date(self, node):  # `!!timestamp x` stays text too, for the checker to report
            if not self.timestamp_regexp.match(self.construct_scalar(node)):
                return self.construct_scalar(node)
            try:
                return self.construct_yaml_timestamp(node)
            except (ValueError, OverflowError):
                return self.construct_scalar(node)

        # explicit tags too: `!!int 020` and `!!bool yes` are refused, not read the 1.1 way
        def construct_bool(self, node):
            text = self.construct_scalar(node)
            if text.lower() not in ("true", "false"):
                raise error(None, None, f"{text!r} is not true or false", node.start_mark)
            return text.lower() == "true"

        def construct_int(self, node):
            text = self.construct_scalar(node)
            if not re.fullmatch(YAML_INT, text):
                raise error(None, None, f"{text!r} is not a whole number in decimal digits", node.start_mark)
            return _whole_number(text)

        def construct_float(self, node):  # `!!float` with no value, or `!!float x`, is not a number
            text = self.construct_scalar(node)
            if re.fullmatch(YAML_DECIMAL, text):
                return exact_number(text)
            if not re.fullmatch(YAML_FLOAT, text):
                raise error(None, None, f"{text!r} is not a number", node.start_mark)
            return self.construct_yaml_float(node)  # .inf, .nan: the checker says they are not finite

    CaseLoader.yaml_implicit_resolvers = {
        first: [(tag, form) for tag, form in resolvers if tag not in tags.values()]
        for first, resolvers in CaseLoader.yaml_implicit_resolvers.items()}
    for name, form, first in (("bool", YAML_BOOL, "tTfF"), ("int", YAML_INT, "-+0123456789"),
                              ("float", YAML_FLOAT, "-+.0123456789")):
        CaseLoader.add_implicit_resolver(tags[name], re.compile(rf"^(?:{form})$"), list(first))
    CaseLoader.add_constructor("tag:yaml.org,2002:map", CaseLoader.construct_fields)
    CaseLoader.add_constructor("tag:yaml.org,2002:timestamp", CaseLoader.construct_date)
    CaseLoader.add_constructor(tags["bool"], CaseLoader.construct_bool)
    CaseLoader.add_constructor(tags["int"], CaseLoader.construct_int)
    CaseLoader.add_constructor(tags["float"], CaseLoader.construct_float)
    return CaseLoader


def parse_text(text: str, what: str = "the file") -> Any:
    """A case document's text to Python values, read the same way by every command: text whose
    first character (after blanks) is `{` or `[` is JSON, read strictly (no trailing comma, no
    comment); anything else is YAML. The file's name plays no part. A number with a point or an
    exponent becomes an exact Decimal of its text. `what` names the text in messages ("the line")."""
    stripped = text.lstrip()
    if not stripped:
        raise CaseInvalid([InputProblem("", f"{what} is empty")])
    if stripped[0] in "{[":
        try:
            return CASE_JSON.decode(text)
        except RecursionError:
            raise CaseInvalid([InputProblem("", f"{what} is nested too deeply to be a case")]) from None
        except json.JSONDecodeError as e:
            said = next((words for start, words in JSON_PROBLEMS if e.msg.startswith(start)), e.msg)
            raise CaseInvalid([InputProblem("", f"{what} is not valid JSON (text beginning with {{ or [ is read as JSON): "
                                              f"line {e.lineno}, column {e.colno}: {said}",
                                          excerpt(text, e.lineno, e.colno))]) from None
        except ValueError as e:  # a number JSON does not allow (NaN), or too many digits
            raise CaseInvalid([InputProblem("", f"{what} is not valid JSON (text beginning with {{ or [ is read as JSON): "
                                              f"{e}")]) from None
    if len(text) > MAX_YAML_CHARS:
        raise CaseInvalid([InputProblem("", f"{what} is not JSON (it does not begin with {{ or [), and a YAML case may be at "
                                          f"most {MAX_YAML_CHARS // (1024 * 1024)} MB (a JSON one {MAX_FILE_BYTES // (1024 * 1024)} MB)")])
    import yaml  # only YAML cases pay for the import

    try:
        return yaml.load(text, Loader=_yaml_loader())  # noqa: S506 -- a safe loader, made stricter
    except RecursionError:
        raise CaseInvalid([InputProblem("", f"{what} is nested too deeply to be a case")]) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = " ".join(f"{e.context or ''} {e.problem or ''}".split())
        said = next((words for start, words in YAML_PROBLEMS if start in problem), e.problem or problem)
        if mark is not None and _char_at(text, mark.line, mark.column) == "\t":  # libyaml words it several ways
            said = YAML_PROBLEMS[0][1]
        if mark is None:
            raise CaseInvalid([InputProblem("", f"{what} is not valid YAML: {said}")]) from None
        raise CaseInvalid([InputProblem("", f"{what} is not valid YAML: line {mark.line + 1}, column {mark.column + 1}: "
                                          f"{said}", excerpt(text, mark.line + 1, mark.column + 1))]) from None
    except (yaml.YAMLError, ValueError) as e:  # ValueError: a value YAML types but Python cannot hold
        said = " ".join(str(e).replace('in "<unicode string>", ', "at ").split())
        raise CaseInvalid([InputProblem("", f"{what} is not valid YAML: {said}")]) from None


# What a parser's message means, in a sentence a billing clerk can act on: the first entry
# whose words begin (JSON) or are in (YAML) the parser's message; else the parser's own words.
JSON_PROBLEMS = (
    ("Expecting ',' delimiter", "a comma (,) is missing between two items"),
    ("Expecting ':' delimiter", "a colon (:) is missing after a field name"),
    ("Expecting property name enclosed in double quotes",
     "a field name must be in double quotes (or a comma is left before a closing brace)"),
    ("Expecting value", "a value is missing here (a comma left before a closing bracket, or text JSON does not allow)"),
    ("Extra data", "there is more text after the end of the case"),
    ("Unterminated string", "a text in quotes is not closed"),
    ("Invalid control character", "a text in quotes holds a line break or a tab (write \\n or \\t)"),
    ("Invalid \\escape", "a backslash in a text begins no escape JSON knows (write \\\\ for a backslash)"),
)
YAML_PROBLEMS = (
    ("found character '\\t' that cannot start any token", "YAML does not allow tabs for indentation: indent with spaces"),
    ("that cannot start any token", "a value cannot begin with this character: put the value in quotes"),
    ("mapping values are not allowed here",
     "a colon (:) where YAML expects none: put a value holding \": \" in quotes, or indent this line like its neighbours"),
    ("could not find expected ':'", "a field name is not followed by a colon (:), or the line is indented wrongly"),
    ("did not find expected key", "this line is not indented like the fields around it"),
    ("did not find expected '-' indicator", "this line is not indented like the list items around it"),
    ("while scanning a quoted scalar", "a text in quotes is not closed"),
    ("found unexpected end of stream", "the file ends inside a quoted text or a list: a quote or bracket is not closed"),
    ("expected ',' or ']'", "a list in brackets is not closed with ]"),
    ("expected ',' or '}'", "an object in braces is not closed with }"),
)
EXCERPT_WIDTH = 34  # characters of the line shown either side of the caret, at most (80 columns in all)


def _char_at(text: str, line: int, column: int) -> str:
    """The character at a 0-based line and column of `text`, or ""."""
    row = excerpt(text, line + 1, column + 1, plain=True)
    return row[0][column:column + 1] if row else ""


def excerpt(text: str, line: int, column: int, plain: bool = False) -> tuple[str, ...]:
    """The line of `text` a parser stopped at (1-based line and column) and a caret under the
    place: a tab shown as \\t, a long line cut around the place."""
    start = 0
    for _ in range(line - 1):
        start = text.find("\n", start) + 1
        if start == 0:
            return ()
    end = text.find("\n", start)
    row = text[start:end if end >= 0 else len(text)].rstrip("\r")
    if plain:
        return (row,)
    at = min(column - 1, len(row))
    left = max(0, at - EXCERPT_WIDTH)
    before, after = row[left:at], row[at:at + EXCERPT_WIDTH]
    before = ("..." if left else "") + before.replace("\t", "\\t")
    after = after.replace("\t", "\\t") + ("..." if at + EXCERPT_WIDTH < len(row) else "")
    return before + after, " " * len(before) + "^"


@contextmanager
def open_source(source: str, what: str = "a case file") -> Iterator[IO[bytes]]:
    """A file to read as bytes, or standard input for `-`; a path that cannot be read is bad
    usage (UsageError), said in words."""
    if source == "-":
        yield sys.stdin.buffer
        return
    try:
        stream = open(source, "rb")  # noqa: SIM115 -- closed below
    except FileNotFoundError:
        raise UsageError(f"no such file: {source}") from None
    except IsADirectoryError:
        raise UsageError(f"{source} is a folder, not {what}") from None
    except OSError as e:
        raise UsageError(f"cannot read {source}: {e.strerror}") from None
    with stream:
        yield stream


def read_document(source: str) -> Any:
    """Read a case file (or `-` for standard input) into Python values."""
    with open_source(source) as stream:
        data = stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise CaseInvalid([InputProblem("", f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise CaseInvalid([InputProblem("", f"the file is not UTF-8 text (byte {e.start})")]) from None
    return parse_text(text)
