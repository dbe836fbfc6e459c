"""The data files of a policy (`data/*.csv`), checked and turned into facts.

Any data row may carry inclusive `effective_from` / `effective_to` columns (ISO dates; blank is
the policy's own first or last day, open when the policy has no end); each fact of a row ends
with its days as one term of two whole numbers, (20150921,99991231), and the rules select the
rows in force on a case's date of service (logic/dates.lp): no date of service is compared here.
The rows each file was read into are kept (`PolicyData.tables`): lint checks them without
reading the files again.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cached_property
from pathlib import Path

import clingo

from .dates import OPEN_END, parse_date, show_date
from ..errors import PolicyError
from .files import read_utf8

MAX_DATA_ROWS = 100_000  # a data file (all of ICD-10-CM is about 74,000 codes): loads in about 1 s
MAX_DATA_BYTES = 10 * 1024 * 1024
CONSTANT = re.compile(r"[a-z][A-Za-z0-9_]*")
CODE_SHAPE = re.compile(r"[0-9]{4}[0-9FTU]|[A-Z][0-9]{4}")
Rows = list[tuple[int, dict[str, str]]]  # a data file's rows, each with its line number


class DatedRow:
    """When a data row is in force (for `mohs-asp lint`, which checks the rows cover the policy)."""

    __slots__ = ("file", "line", "key", "effective_from", "effective_to", "dated")

    def __init__(self, file: str, line: int, key: str, effective_from: int, effective_to: int, dated: bool):
        self.file = file  # data/thresholds.csv
        self.line = line
        self.key = key  # what the row gives one value of: a threshold's name, a site, a term, a code
        self.effective_from = effective_from  # YYYYMMDD, the policy's first day when the row leaves it blank
        self.effective_to = effective_to  # YYYYMMDD, the policy's last day (or OPEN_END) when blank
        self.dated = dated  # the row gives effective_from or effective_to itself


@dataclass(frozen=True)
class Threshold:
    """A row of data/thresholds.csv: the value as written, its unit, and in micrometres."""

    value: str  # "2.0"
    unit: str  # "cm" or "mm"
    um: int
    line: int  # in data/thresholds.csv
    when: clingo.Symbol  # the days it is in force, (From,To)


@dataclass
class PolicyData:
    """The data files, checked and turned into facts."""

    facts: list[clingo.Symbol]
    sites: tuple[str, ...]  # the site vocabulary, as data/sites.csv lists it (on any date)
    histology: dict[str, str]  # term -> characteristic ("" for none), on any date
    code_ranges: list[tuple[str, int, int]]  # (set, first, last) numeric, on any date
    set_labels: dict[str, str]
    covered_diagnoses: list[tuple[str, int]]  # (code as listed, line in the file)
    rows: list[DatedRow] = field(default_factory=list)
    borders: tuple[str, ...] = ()  # the borders vocabulary, as data/borders.csv lists it
    # by the fact's name (large_lesion_min_um): its rows, one per period it is in force
    thresholds: dict[str, list[Threshold]] = field(default_factory=dict)
    tables: dict[str, Rows] = field(default_factory=dict)  # each file's rows as read (sites.csv: [(line, row)])

    @cached_property
    def written(self) -> dict[tuple[str, tuple[clingo.Symbol, ...]], dict[int, tuple[str, str]]]:
        """For explanations: each data fact whose value the data writes in other words (a
        threshold in micrometres as "2.0" "cm"), by its predicate and arguments."""
        return {(name, (clingo.Number(t.um), t.when)): {0: (t.value, t.unit)}
                for name, rows in self.thresholds.items() for t in rows}

    def code_sets_of(self, code: str) -> list[str]:
        """Which code sets a code is in (for input validation: which lines must name a lesion)."""
        if code not in self._sets_of:
            self._sets_of[code] = [s for s, lo, hi in self.code_ranges if code.isdigit() and lo <= int(code) <= hi]
        return self._sets_of[code]

    @cached_property
    def _sets_of(self) -> dict[str, list[str]]:
        return {}


def read_data_file(path: Path, name: str) -> str:
    """A data file's text, at most MAX_DATA_BYTES (an ICD-10-CM release too)."""
    return read_utf8(path, name, MAX_DATA_BYTES,
                     f"larger than {MAX_DATA_BYTES // (1024 * 1024)} MB (the limit for a data file)")


def read_csv(path: Path, columns: tuple[str, ...]) -> Rows:
    """Rows of a data file with their line numbers; lines starting with # are comments. At most
    MAX_DATA_ROWS rows and MAX_DATA_BYTES bytes: past them, the policy is broken."""
    if not path.exists():
        raise PolicyError(f"data file {path.parent.name}/{path.name} is missing")
    lines = read_utf8(path, f"data/{path.name}", MAX_DATA_BYTES,
                      f"larger than {MAX_DATA_BYTES // (1024 * 1024)} MB (the limit for a data file)").splitlines()
    kept = [(i + 1, line) for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")]
    if not kept:
        raise PolicyError(f"data/{path.name} is empty")
    if len(kept) - 1 > MAX_DATA_ROWS:
        raise PolicyError(f"data/{path.name}:{kept[MAX_DATA_ROWS + 1][0]}: more than {MAX_DATA_ROWS:,} rows "
                          f"(the limit for a data file)")
    reader = csv.DictReader(io.StringIO("\n".join(line for _, line in kept)))
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise PolicyError(f"data/{path.name}:{kept[0][0]}: missing column(s) {', '.join(missing)}")
    rows = []
    for (lineno, _), row in zip(kept[1:], reader):
        if None in row:  # more values than columns: an unquoted comma would cut a value short unseen
            raise PolicyError(f"data/{path.name}:{lineno}: {len(reader.fieldnames) + len(row[None])} values for "
                              f"{len(reader.fieldnames)} columns (a comma inside a value needs \"quotes\")")
        rows.append((lineno, {k: (v or "").strip() for k, v in row.items() if k}))
    return rows


def _yes_no(value: str, where: str) -> bool:
    if value in ("yes", "no"):
        return value == "yes"
    raise PolicyError(f"{where}: expected yes or no, found {value!r}")


class _Dated:
    """The dates of data rows: each row's (effective_from, effective_to) as whole numbers, blanks
    filled with the policy's own first and last day, given to its facts as one last argument
    (From,To); every distinct pair is also a `period(From,To)` fact, and rows of one key in
    force on the same day are refused."""

    def __init__(self, span: tuple[int, int]):
        self.span = span
        self.rows: list[DatedRow] = []
        self.periods: dict[tuple[int, int], clingo.Symbol] = {}  # each pair of days, and its (From,To) term
        self._keys: dict[tuple[str, str], list[DatedRow]] = {}

    def __call__(self, row: dict[str, str], file: str, lineno: int, key: str, unique: str | None = None) -> clingo.Symbol:
        """The row's days in force, the last argument of its facts: (From,To). With `unique` (the
        words for a key: "site"), a second row of that key in force on a day the first one is
        refuses the data."""
        given = row.get("effective_from", ""), row.get("effective_to", "")
        start, end = self.span
        if given[0] or given[1]:
            where = f"{file}:{lineno}"
            start = parse_date(given[0], where, "effective_from") if given[0] else start
            end = parse_date(given[1], where, "effective_to") if given[1] else end
            if start > end:
                raise PolicyError(f"{where}: effective_from {show_date(start)} is after effective_to {show_date(end)}")
        dated = DatedRow(file, lineno, key, start, end, bool(given[0] or given[1]))
        if unique is not None:
            for other in self._keys.setdefault((file, key), []):
                if other.effective_from <= end and start <= other.effective_to:
                    both = "" if not (dated.dated or other.dated) else " on the same days"
                    raise PolicyError(f"{file}:{lineno}: {unique} {key} is listed twice{both} (also line {other.line})")
            self._keys[(file, key)].append(dated)
        self.rows.append(dated)
        when = self.periods.get((start, end))
        if when is None:
            when = self.periods[(start, end)] = clingo.Tuple_([clingo.Number(start), clingo.Number(end)])
        return when


def load_data(folder: Path, span: tuple[int, int] = (0, OPEN_END)) -> PolicyData:
    """The data files as facts; `span` is the policy's first and last day (policy.toml), what a
    row's blank effective_from / effective_to stands for."""
    F, S, N = clingo.Function, clingo.String, clingo.Number
    facts: list[clingo.Symbol] = []
    dated = _Dated(span)
    tables: dict[str, Rows] = {}

    def table(name: str, columns: tuple[str, ...]) -> Rows:  # a file's rows, kept for lint
        tables[name] = read_csv(folder / name, columns)
        return tables[name]

    covered = []
    for lineno, row in table("covered_diagnoses.csv", ("code",)):
        covered.append((row["code"], lineno))
        when = dated(row, "data/covered_diagnoses.csv", lineno, row["code"].upper())
        facts.append(F("covered_diagnosis", [S(row["code"].upper()), when]))

    ranges: list[tuple[str, int, int]] = []
    labels: dict[str, str] = {}
    for lineno, row in table("code_sets.csv", ("set", "first", "last", "label")):
        where = f"data/code_sets.csv:{lineno}"
        name, first, last = row["set"], row["first"].upper(), row["last"].upper()
        if not CONSTANT.fullmatch(name):
            raise PolicyError(f"{where}: set name {name!r} must be lower case letters, digits and _")
        for code in (first, last):
            if not CODE_SHAPE.fullmatch(code):
                raise PolicyError(f"{where}: {code!r} is not a 5-character CPT/HCPCS code")
        if not (first.isdigit() and last.isdigit()):
            raise PolicyError(f"{where}: code sets hold 5-digit CPT codes (a row is one code or a range of them)")
        if int(first) > int(last):
            raise PolicyError(f"{where}: the range {first}-{last} runs backwards")
        ranges.append((name, int(first), int(last)))
        when = dated(row, "data/code_sets.csv", lineno, f"{name} {first}-{last}")
        facts.append(F("code_range", [F(name), N(int(first)), N(int(last)), when]))
        if name not in labels:
            labels[name] = row["label"] or name
            facts.append(F("code_set_label", [F(name), S(labels[name])]))

    families = set()
    for lineno, row in table("mms_codes.csv", ("code", "stage", "family", "primary")):
        where = f"data/mms_codes.csv:{lineno}"
        code = row["code"]
        if row["stage"] not in ("first", "additional"):
            raise PolicyError(f"{where}: stage must be first or additional")
        when = dated(row, "data/mms_codes.csv", lineno, code)
        facts.append(F("first_stage_code" if row["stage"] == "first" else "addon_code", [S(code), when]))
        if row["family"]:
            families.add(row["family"])
            facts.append(F("code_family", [S(code), S(row["family"]), when]))
        for primary in row["primary"].split():
            facts.append(F("addon_primary", [S(code), S(primary), when]))

    sites: list[str] = []
    for lineno, row in table("sites.csv", ("site", "family", "high_risk", "tissue_preservation", "area")):
        where = f"data/sites.csv:{lineno}"
        name = row["site"]
        when = dated(row, "data/sites.csv", lineno, name, unique="site")
        if row["family"] not in families | {"either"}:
            raise PolicyError(f"{where}: family must be one of data/mms_codes.csv ({', '.join(sorted(families))}) or either")
        if name not in sites:
            sites.append(name)
        facts.append(F("site_family", [S(name), S(row["family"]), when]))
        if _yes_no(row["high_risk"], where):
            facts.append(F("high_risk_site", [S(name), when]))
        if _yes_no(row["tissue_preservation"], where):
            facts.append(F("preservation_site", [S(name), S(row["area"] or name), when]))

    borders: list[str] = []
    for lineno, row in table("borders.csv", ("term",)):
        if row["term"] in borders:
            raise PolicyError(f"data/borders.csv:{lineno}: term {row['term']} is listed twice")
        borders.append(row["term"])

    histology: dict[str, str] = {}
    for lineno, row in table("histology.csv", ("term", "characteristic")):
        term = row["term"]
        when = dated(row, "data/histology.csv", lineno, term, unique="term")
        histology[term] = row["characteristic"]
        if row["characteristic"]:
            facts.append(F("histology_term", [S(term), S(row["characteristic"]), when]))

    thresholds: dict[str, Threshold] = {}
    for lineno, row in table("thresholds.csv", ("name", "value", "unit")):
        where = f"data/thresholds.csv:{lineno}"
        try:
            value = Decimal(row["value"])
        except InvalidOperation:
            raise PolicyError(f"{where}: {row['value']!r} is not a number") from None
        if row["unit"] not in ("cm", "mm"):
            raise PolicyError(f"{where}: unit must be cm or mm")
        if not CONSTANT.fullmatch(row["name"]):
            raise PolicyError(f"{where}: name {row['name']!r} must be lower case letters, digits and _")
        if not value.is_finite() or value.copy_abs() > 10000:  # a solver number holds at most 2**31-1 micrometres
            raise PolicyError(f"{where}: {row['value']} {row['unit']} is not a size (at most 10000 {row['unit']})")
        cm = value if row["unit"] == "cm" else value / 10
        um = cm * 10000
        if um != um.to_integral_value() or um <= 0:
            raise PolicyError(f"{where}: {row['value']} {row['unit']} is not a positive whole number of micrometres")
        when = dated(row, "data/thresholds.csv", lineno, row["name"], unique="threshold")
        facts.append(F(f"{row['name']}_um", [N(int(um)), when]))
        thresholds.setdefault(f"{row['name']}_um", []).append(Threshold(row["value"], row["unit"], int(um), lineno, when))

    facts.extend(F("period", [N(start), N(end)]) for start, end in dated.periods)
    return PolicyData(facts, tuple(sites), histology, ranges, labels, covered, dated.rows, tuple(borders), thresholds,
                      tables)

