"""Reading a case file and checking it against the contract (../shared/contract/README.md).

`parse_case` reports every problem at once, each with its path (`lesions[0].size_cm`) and a
message a billing clerk understands. It normalises what the contract says means the same
(`c44311` is `C44.311`, `Lower Leg` is `lower_leg`, `Ill-Defined` is `ill_defined`) and converts sizes exactly (Decimal to
whole micrometres). It decides nothing about coverage: that is logic/'s job.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from functools import lru_cache
from typing import IO, Any

from . import icd10
from .dates import date_number
from .errors import CaseInvalid, InputError, UsageError
from .policy import CODE_SHAPE, LESION_FLAGS, Policy

# Input limits (README, "Limits"): past these a case is refused rather than read.
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_YAML_CHARS = 1024 * 1024  # YAML reads ~1 MB/s in ~90 MB of memory: hand-written cases are far smaller
MAX_LESIONS = 100
MAX_LINES = 500
MAX_TEXT = 200  # characters in an id or a term
MAX_LINE_NUMBER = 2**31 - 1  # the solver's numbers are 32-bit; the contract asks only for a positive int
MAX_ERRORS = 100  # errors listed one by one; past this, one more error counts the rest
SUGGEST_CUTOFF = 0.4  # difflib similarity below which no name is suggested (`face` still gets `back`)
SUGGEST_MAX = 40  # characters: longer words and names are not compared (difflib is quadratic)

CASE_FIELDS = ("id", "date_of_service", "patient", "lesions", "lines")
PATIENT_FIELDS = ("immunosuppressed",)
LESION_FIELDS = ("id", "diagnosis", "site", "size_cm", "size_mm", "borders", "histology", *LESION_FLAGS)
LINE_FIELDS = ("line", "code", "units", "lesion", "lesions", "modifiers", "pre_surgical")
# The fields whose values come from a vocabulary of data/, matched by `_vocab_key` (the checker
# and `mohs-asp schema` both read this): field -> (what a message calls a value, the PolicyData
# attribute holding the vocabulary).
VOCABULARY = {"site": ("site", "sites"), "borders": ("borders value", "borders"),
              "histology": ("histology term", "histology")}
BIOPSY_SET = "biopsy"
MODIFIER_FORM = re.compile(r"[0-9A-Z]{2}")
DATE_FORM = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# YAML plain scalars that are not text (YAML 1.2 core schema, made stricter: no octal or leading 0)
YAML_BOOL = re.compile(r"true|True|TRUE|false|False|FALSE")
YAML_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
# a number with a point or an exponent (2e0, as JSON and YAML 1.2 read it); a whole number's digits
# take no leading 0 here either (02e0 stays text)
YAML_DECIMAL = re.compile(r"[-+]?(?:(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|(?:0|[1-9][0-9]*)[eE][-+]?[0-9]+)")
YAML_FLOAT = re.compile(rf"{YAML_DECIMAL.pattern}|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)")
MAX_SIZE_UM = Decimal(1_000_000)  # 100 cm


@dataclass(frozen=True)
class Lesion:
    id: str
    diagnosis: str  # "C44.311"
    site: str  # "lower_leg"
    size_um: int | None = None
    borders: str | None = None
    histology: tuple[str, ...] = ()
    flags: tuple[tuple[str, bool], ...] = ()  # documented flags only
    size_written: tuple[str, str] | None = None  # the size as the case wrote it, for explanations: ("19.99", "mm")


@dataclass(frozen=True)
class Line:
    number: int
    code: str
    units: int = 1
    lesions: tuple[str, ...] = ()
    modifiers: tuple[str, ...] = ()
    pre_surgical: bool | None = None


@dataclass(frozen=True)
class Case:
    id: str
    date_of_service: dt.date
    immunosuppressed: bool | None
    lesions: tuple[Lesion, ...]
    lines: tuple[Line, ...]
    policy_version: str = ""  # the version of the policy in force on the date of service (policy.toml)
    icd10cm_release: str = ""  # the ICD-10-CM release the diagnoses were checked against
    warnings: tuple[InputError, ...] = ()  # the answer carries them (the case is still decided)


# -- reading ---------------------------------------------------------------------------------


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
            if not YAML_INT.fullmatch(text):
                raise error(None, None, f"{text!r} is not a whole number in decimal digits", node.start_mark)
            return _whole_number(text)

        def construct_float(self, node):  # `!!float` with no value, or `!!float x`, is not a number
            text = self.construct_scalar(node)
            if YAML_DECIMAL.fullmatch(text):
                return exact_number(text)
            if not YAML_FLOAT.fullmatch(text):
                raise error(None, None, f"{text!r} is not a number", node.start_mark)
            return self.construct_yaml_float(node)  # .inf, .nan: the checker says they are not finite

    CaseLoader.yaml_implicit_resolvers = {
        first: [(tag, form) for tag, form in resolvers if tag not in tags.values()]
        for first, resolvers in CaseLoader.yaml_implicit_resolvers.items()}
    for name, form, first in (("bool", YAML_BOOL, "tTfF"), ("int", YAML_INT, "-+0123456789"),
                              ("float", YAML_FLOAT, "-+.0123456789")):
        CaseLoader.add_implicit_resolver(tags[name], re.compile(rf"^(?:{form.pattern})$"), list(first))
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
        raise CaseInvalid([InputError("", f"{what} is empty")])
    if stripped[0] in "{[":
        try:
            return json.loads(text, parse_float=exact_number, parse_int=_whole_number, parse_constant=_reject_constant,
                              object_pairs_hook=_json_object)
        except RecursionError:
            raise CaseInvalid([InputError("", f"{what} is nested too deeply to be a case")]) from None
        except ValueError as e:
            raise CaseInvalid([InputError("", f"{what} is not valid JSON (text beginning with {{ or [ is read as JSON): "
                                              f"{e}")]) from None
    if len(text) > MAX_YAML_CHARS:
        raise CaseInvalid([InputError("", f"{what} is not JSON (it does not begin with {{ or [), and a YAML case may be at "
                                          f"most {MAX_YAML_CHARS // (1024 * 1024)} MB (a JSON one {MAX_FILE_BYTES // (1024 * 1024)} MB)")])
    import yaml  # only YAML cases pay for the import

    try:
        return yaml.load(text, Loader=_yaml_loader())  # noqa: S506 -- a safe loader, made stricter
    except RecursionError:
        raise CaseInvalid([InputError("", f"{what} is nested too deeply to be a case")]) from None
    except (yaml.YAMLError, ValueError) as e:  # ValueError: a value YAML types but Python cannot hold
        said = " ".join(str(e).replace('in "<unicode string>", ', "at ").split())
        raise CaseInvalid([InputError("", f"{what} is not valid YAML: {said}")]) from None


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
        raise CaseInvalid([InputError("", f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise CaseInvalid([InputError("", f"the file is not UTF-8 text (byte {e.start})")]) from None
    return parse_text(text)


# -- checking --------------------------------------------------------------------------------


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


VOCAB_SEPARATORS = r"[\s_\-]+"  # runs of spaces, hyphens and underscores read as one _


def _vocab_key(text: str) -> str:
    """Site, histology and borders values (contract README): case-insensitive, runs of spaces,
    hyphens and underscores read as one `_` ("Ill-Defined" is ill_defined, "Lower -  Leg"
    lower_leg)."""
    return re.sub(VOCAB_SEPARATORS, "_", text.strip().lower())


def vocab_pattern(term: str) -> str:
    """The spellings `_vocab_key` reads as `term`, as a regular expression in JSON Schema's
    dialect (no flags: each letter as its two cases)."""
    def word(part: str) -> str:
        return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() and c.lower() != c.upper() else re.escape(c)
                       for c in part)

    return r"^\s*" + VOCAB_SEPARATORS.join(word(part) for part in term.split("_")) + r"\s*$"


def _size_as_written(obj: dict) -> tuple[str, str]:
    """A checked size as the case wrote it, with its unit: ("19.99", "mm"). Explanations name
    it so; the rules compare the micrometres `size` made of it."""
    key = "size_cm" if "size_cm" in obj else "size_mm"
    value = obj[key]
    if isinstance(value, float):  # from a Python caller: its shortest repr, in plain digits
        value = Decimal(repr(value))
    return format(value, "f") if isinstance(value, Decimal) else str(value), key.removeprefix("size_")


def _short(value: Any) -> str:
    """A number as a message shows it: 10**400 is not worth 401 digits."""
    text = str(value)
    return text if len(text) <= 40 else f"{text[:20]}... ({len(text)} characters)"


def _unusable(text: str) -> bool:
    """Text that cannot reach the solver or the answer unchanged: a NUL (clingo strings end
    there, so `A<NUL>x` and `A<NUL>y` would be one lesion) or an unpaired surrogate (not UTF-8)."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8") if _unusable(text) else text


UNUSABLE = "contains a character a case cannot hold (a NUL or an unpaired surrogate)"


def _not_text(value: Any) -> str:
    """The message for a value that is not text where text is expected; a number (`code: 17311`
    unquoted in YAML) is told how to write it."""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return f'must be text: write it in quotes, "{_short(value)}"'
    return f"must be text, found {_type_name(value)}"


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float, Decimal)):
        return f"the number {_short(value)}"
    if isinstance(value, str):
        return f'the text "{value[:40]}"'
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class _Checker:
    def __init__(self, policy: Policy):
        self.policy = policy
        self.errors: list[InputError] = []
        self.unlisted = 0  # errors past MAX_ERRORS, counted only
        self.warnings: list[InputError] = []
        self.release = policy.icd10.latest  # until the date of service says which release is in force
        self.codes: icd10.CodeSet | None = None  # the release's code list, read when a diagnosis asks
        self.dated = False  # the date of service was read (and chose the release)
        self.version: str | None = None  # the version of the policy in force on the date of service

    @property
    def count(self) -> int:
        return len(self.errors) + self.unlisted

    def err(self, path: str, message: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(InputError(_printable(path), _printable(message)))
        else:
            self.unlisted += 1

    def suggest(self, word: str, known: list[str] | tuple[str, ...]) -> str:
        """`_suggest`, skipped once the error list is full (a file of a million typos stays fast)."""
        return "" if len(self.errors) >= MAX_ERRORS else _suggest(word, known)

    def unknown_fields(self, obj: dict, known: tuple[str, ...], prefix: str) -> None:
        for key in getattr(obj, "repeated", ()):
            self.err(f"{prefix}{key}", f"`{key}` is given more than once; give each field once")
        for key in obj:
            if key not in known:
                name = str(key)
                self.err(f"{prefix}{name}", f"`{name}` is not a field of the case format{self.suggest(name, known)}")

    def text(self, obj: dict, key: str, path: str, required: bool) -> str | None:
        if key not in obj:
            if required:
                self.err(path, "is required")
            return None
        value = obj[key]
        if not isinstance(value, str):
            self.err(path, _not_text(value))
            return None
        if not value.strip():
            self.err(path, "must not be empty")
            return None
        if len(value) > MAX_TEXT:
            self.err(path, f"is longer than {MAX_TEXT} characters")
            return None
        if _unusable(value):
            self.err(path, UNUSABLE)
            return None
        return value

    def boolean(self, obj: dict, key: str, path: str) -> bool | None:
        if key not in obj:
            return None
        value = obj[key]
        if not isinstance(value, bool):
            self.err(path, f"must be true or false, found {_type_name(value)}")
            return None
        return value

    def integer(self, obj: dict, key: str, path: str, low: int, high: int | None) -> int | None:
        if key not in obj:
            return None
        value = obj[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.err(path, f"must be a whole number, found {_type_name(value)}")
            return None
        if value < low or (high is not None and value > high):
            self.err(path, f"must be from {low} to {high}, found {_short(value)}" if high else f"must be {low} or more, found {_short(value)}")
            return None
        return value

    def string_list(self, obj: dict, key: str, path: str) -> list[tuple[str, str]] | None:
        """A list of texts, as (path, text) pairs."""
        if key not in obj:
            return None
        value = obj[key]
        if not isinstance(value, list):
            self.err(path, f"must be a list, found {_type_name(value)}")
            return None
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.err(f"{path}[{i}]", _not_text(item))
            elif not item.strip():
                self.err(f"{path}[{i}]", "must not be empty")
            elif len(item) > MAX_TEXT:
                self.err(f"{path}[{i}]", f"is longer than {MAX_TEXT} characters")
            elif _unusable(item):
                self.err(f"{path}[{i}]", UNUSABLE)
            else:
                out.append((f"{path}[{i}]", item))
        return out

    # -- the case ---------------------------------------------------------------------------

    def case(self, doc: Any) -> Case | None:
        if not isinstance(doc, dict):
            self.err("", f"a case must be an object (a mapping of fields), found {_type_name(doc)}")
            return None
        self.unknown_fields(doc, CASE_FIELDS, "")
        case_id = self.text(doc, "id", "id", required=True)
        date = self.date(doc)
        if date is not None:
            # the policy's versions (policy.toml) say whether it is in force that day, and which
            version = self.policy.version_on(date_number(date))
            if version is None:
                self.err("date_of_service", self.policy.outside(date.isoformat()))
            else:
                self.version = version.name
            # the diagnoses are checked against the ICD-10-CM release in force that day
            self.release, warning = self.policy.icd10.on(date)
            self.dated = True
            if warning is not None:
                self.warnings.append(warning)
        immunosuppressed = None
        if "patient" in doc:
            patient = doc["patient"]
            if isinstance(patient, dict):
                self.unknown_fields(patient, PATIENT_FIELDS, "patient.")
                immunosuppressed = self.boolean(patient, "immunosuppressed", "patient.immunosuppressed")
            elif patient is not None:
                self.err("patient", f"must be an object, found {_type_name(patient)}")
        lesions, declared = self.lesions(doc.get("lesions", []))
        lines = self.lines(doc.get("lines", []), declared)
        if self.errors or case_id is None or date is None:
            return None
        return Case(case_id, date, immunosuppressed, tuple(lesions), tuple(lines), self.version, self.release.name,
                    tuple(self.warnings))

    def date(self, doc: dict) -> dt.date | None:
        if "date_of_service" not in doc:
            self.err("date_of_service", "is required")
            return None
        value = doc["date_of_service"]
        if isinstance(value, dt.datetime):
            self.err("date_of_service", "must be a date (YYYY-MM-DD) without a time")
            return None
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str) and DATE_FORM.fullmatch(value.strip()):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                self.err("date_of_service", f'"{value}" is not a real date')
                return None
        self.err("date_of_service", f"must be a date written YYYY-MM-DD, found {_type_name(value)}")
        return None

    def lesions(self, value: Any) -> tuple[list[Lesion], set[str] | None]:
        """The valid lesions, and the ids of all lesions (valid or not) that have a usable id:
        lines may name those without a second error. None for lesions not read at all (not a
        list, too many): the one error says so, and lines are not checked against them."""
        if not isinstance(value, list):
            self.err("lesions", f"must be a list, found {_type_name(value)}")
            return [], None
        if len(value) > MAX_LESIONS:
            self.err("lesions", f"a case may have at most {MAX_LESIONS} lesions, found {len(value)}")
            return [], None
        seen: dict[str, int] = {}  # id -> the index of its first lesion
        out = [lesion for i, obj in enumerate(value) if (lesion := self.lesion(obj, i, seen)) is not None]
        return out, set(seen)

    def lesion(self, obj: Any, index: int, seen: dict[str, int]) -> Lesion | None:
        path = f"lesions[{index}]"
        if not isinstance(obj, dict):
            self.err(path, f"a lesion must be an object, found {_type_name(obj)}")
            return None
        before = self.count
        self.unknown_fields(obj, LESION_FIELDS, f"{path}.")
        lesion_id = self.text(obj, "id", f"{path}.id", required=True)
        if lesion_id in seen:  # reported whatever else is wrong with either lesion
            self.err(f"{path}.id", f'lesion id "{lesion_id}" is used twice (also lesions[{seen[lesion_id]}])')
        elif lesion_id is not None:
            seen[lesion_id] = index
        diagnosis = self.diagnosis(obj, f"{path}.diagnosis")
        site = self.vocabulary(obj, "site", f"{path}.site", required=True)
        size_um = self.size(obj, path)
        borders = self.vocabulary(obj, "borders", f"{path}.borders", required=False)
        histology = []
        for item_path, term in self.string_list(obj, "histology", f"{path}.histology") or []:
            key = self.term(term, item_path, "histology")
            if key is not None:
                histology.append(key)
        flags = []
        for name in LESION_FLAGS:
            flag = self.boolean(obj, name, f"{path}.{name}")
            if flag is not None:
                flags.append((name, flag))
        if self.count > before or lesion_id is None or diagnosis is None or site is None:
            return None
        return Lesion(lesion_id, diagnosis, site, size_um, borders, tuple(dict.fromkeys(histology)), tuple(flags),
                      _size_as_written(obj) if size_um is not None else None)

    def vocabulary(self, obj: dict, key: str, path: str, required: bool) -> str | None:
        value = self.text(obj, key, path, required)
        return None if value is None else self.term(value, path, key)

    def term(self, value: str, path: str, field: str) -> str | None:
        """A value of a vocabulary of data/ (VOCABULARY), as the vocabulary spells it; or None,
        with an error suggesting the nearest known value."""
        what, attribute = VOCABULARY[field]
        known = getattr(self.policy.data, attribute)
        norm = _vocab_key(value)
        if norm in known:
            return norm
        self.err(path, f'"{value}" is not a known {what}{self.suggest(norm, list(known))}')
        return None

    def diagnosis(self, obj: dict, path: str) -> str | None:
        value = self.text(obj, "diagnosis", path, required=True)
        if value is None:
            return None
        code = icd10.normalize(value)
        codes = self.codes = self.codes or self.release.codes()
        kind = codes.kind(code)
        if kind is None:
            self.err(path, f'"{value}" is not an ICD-10-CM code (release {codes.release})')
            return None
        if kind == "category":
            under = codes.billable_under(code)
            shown = ", ".join(under[:12]) + (f" and {len(under) - 12} more" if len(under) > 12 else "")
            self.err(path, f"{code} is a category, not a billable code; the billable codes under it are {shown}")
            return None
        return code

    def size(self, obj: dict, path: str) -> int | None:
        """A size as whole micrometres, exactly: compared and cut below a micrometre on the
        digits as written, however many (Decimal's 28-digit arithmetic is never used on them)."""
        if "size_cm" in obj and "size_mm" in obj:
            self.err(path, "give size_cm or size_mm, not both")
            return None
        for key, shift, unit in (("size_cm", 4, "cm"), ("size_mm", 3, "mm")):
            if key not in obj:
                continue
            value = obj[key]
            if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
                self.err(f"{path}.{key}", f"must be a number, found {_type_name(value)}")
                return None
            try:
                exact = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
            except InvalidOperation:
                exact = Decimal("NaN")
            if not exact.is_finite():
                self.err(f"{path}.{key}", "must be a finite number")
                return None
            if exact <= 0:  # -0.0 too
                self.err(f"{path}.{key}", f"must be above 0, found {_short(value)} {unit}")
                return None
            if exact > MAX_SIZE_UM.scaleb(-shift):  # comparisons are exact: 1e999999999 cannot overflow
                self.err(f"{path}.{key}", f"must be at most 100 cm, found {_short(value)} {unit}")
                return None
            micrometre = Decimal(1).scaleb(-shift)
            # exact: at most 7 digits remain. A size above 0 but below a micrometre is 0 µm: the
            # contract refuses only sizes not above 0, and every threshold is whole micrometres
            # (the data loader insists), so the cut changes no comparison.
            return int(exact.quantize(micrometre, rounding=ROUND_FLOOR).scaleb(shift))
        return None

    def lines(self, value: Any, lesion_ids: set[str] | None) -> list[Line]:
        if not isinstance(value, list):
            self.err("lines", f"must be a list, found {_type_name(value)}")
            return []
        if len(value) > MAX_LINES:
            self.err("lines", f"a case may have at most {MAX_LINES} lines, found {len(value)}")
            return []
        seen: dict[int, int] = {}  # line number -> the index of its first line
        return [line for i, obj in enumerate(value) if (line := self.line(obj, i, seen, lesion_ids)) is not None]

    def line(self, obj: Any, index: int, seen: dict[int, int], lesion_ids: set[str] | None) -> Line | None:
        path = f"lines[{index}]"
        if not isinstance(obj, dict):
            self.err(path, f"a line must be an object, found {_type_name(obj)}")
            return None
        before = self.count
        self.unknown_fields(obj, LINE_FIELDS, f"{path}.")
        number = self.integer(obj, "line", f"{path}.line", 1, MAX_LINE_NUMBER) if "line" in obj else index + 1
        if number in seen:  # reported whatever else is wrong with either line
            self.err(f"{path}.line", f"line number {number} is used twice (also lines[{seen[number]}])")
        elif number is not None:
            seen[number] = index
        units = self.integer(obj, "units", f"{path}.units", 1, 99)
        code = self.text(obj, "code", f"{path}.code", required=True)
        sets: list[str] = []
        if code is not None:
            code = code.strip().upper()
            if not CODE_SHAPE.fullmatch(code):
                self.err(f"{path}.code", f'"{obj["code"]}" is not a CPT/HCPCS code (5 characters: 5 digits, '
                                         "4 digits and F/T/U, or a letter and 4 digits)")
                code = None
            else:
                sets = self.policy.data.code_sets_of(code)
        named: list[tuple[str, str]] = []  # (path, lesion id)
        if "lesion" in obj and "lesions" in obj:
            self.err(path, "give lesion or lesions, not both")
        elif "lesion" in obj:
            one = self.text(obj, "lesion", f"{path}.lesion", required=True)
            if one is not None:
                named = [(f"{path}.lesion", one)]
        elif "lesions" in obj:
            many = self.string_list(obj, "lesions", f"{path}.lesions")
            if many is not None and not many:
                self.err(f"{path}.lesions", "must name at least one lesion")
            named = many or []
            if code is not None and BIOPSY_SET not in sets:
                self.err(f"{path}.lesions", f"only a biopsy line may name several lesions; {code} is not a biopsy code (use `lesion`)")
        first: dict[str, str] = {}  # lesion id -> the path naming it first on this line
        for where, name in named:
            if name in first:
                self.err(where, f'lesion "{name}" is named twice on this line (also {first[name]}): name each lesion once')
            first.setdefault(name, where)
            if lesion_ids is not None and name not in lesion_ids:
                self.err(where, f'lesion "{name}" is not in the case{self.suggest(name, sorted(lesion_ids))}')
        lesions = [name for _, name in named]
        if code is not None and sets and "lesion" not in obj and "lesions" not in obj:
            self.err(f"{path}.lesion", f"{code} is a {self.policy.data.set_labels.get(sets[0], sets[0])} code: the line must name its lesion")
        pre = self.boolean(obj, "pre_surgical", f"{path}.pre_surgical")
        if pre is not None and code is not None and BIOPSY_SET not in sets:
            self.err(f"{path}.pre_surgical", f"pre_surgical is for biopsy lines only; {code} is not a biopsy code")
        modifiers = []
        for mod_path, mod in self.string_list(obj, "modifiers", f"{path}.modifiers") or []:
            if MODIFIER_FORM.fullmatch(mod.strip().upper()):
                modifiers.append(mod.strip().upper())
            else:
                self.err(mod_path, f'"{mod}" is not a modifier (2 letters or digits)')
        if self.count > before or code is None:
            return None
        return Line(number, code, units or 1, tuple(lesions), tuple(modifiers), pre)


def parse_case(doc: Any, policy: Policy) -> Case:
    """Check a parsed document against the contract; raise CaseInvalid with every problem."""
    checker = _Checker(policy)
    case = checker.case(doc)
    if case is None:
        case_id = doc.get("id") if isinstance(doc, dict) and isinstance(doc.get("id"), str) else None
        if case_id is not None and (len(case_id) > MAX_TEXT or _unusable(case_id)):
            case_id = None  # an id the case may not have is not echoed either
        errors = checker.errors or [InputError("", "the case is not valid")]
        if checker.unlisted:
            errors.append(InputError("", f"{checker.unlisted} more problems are not listed (the first {MAX_ERRORS} are)"))
        raise CaseInvalid(errors, case_id, checker.warnings, checker.release.name if checker.dated else None, checker.version)
    return case


def load_case(source: str, policy: Policy) -> Case:
    return parse_case(read_document(source), policy)
