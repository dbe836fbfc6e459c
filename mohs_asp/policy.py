"""A policy: the rules of `logic/` (parsed, with their annotations) and the facts of `data/`.

A policy folder holds `logic/main.lp` (the umbrella file) and `data/*.csv`. The default
is the project's own, shipped inside the package; `--policy DIR` points at an author's copy.

Annotations are comments read through clingo's AST (clingo 5.7+ hands comments over):

    % rule: large_lesion
    % policy: "Exceptionally large-sized lesions (2.0 cm or greater) in any anatomic region."
    % because: "size {S:um} is at least {T:um}"
    indication(C,L,large_lesion) :- size_um(C,L,S), large_lesion_min_um(T), S >= T.

and predicate descriptions (`%! name(Args)` then `%!   holds: "..."`, `%!   absent: "..."`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cached_property, lru_cache
from pathlib import Path

import clingo
from clingo import ast

from .errors import PolicyError, UsageError

MAIN = "main.lp"
METADATA = "policy.yaml"  # the pack's metadata (id, version, ...), beside logic/ and data/
CASE_FACT_PREDICATES = frozenset(
    {"case", "lesion", "diagnosis", "site", "size_um", "borders", "histology", "recurrent",
     "incompletely_excised", "previously_irradiated", "rapid_growth", "high_risk_metastasis",
     "deep_structures", "immunosuppressed", "line", "line_lesion", "units", "pre_surgical", "code_num"}
)
LESION_FLAGS = ("recurrent", "incompletely_excised", "previously_irradiated", "rapid_growth",
                "high_risk_metastasis", "deep_structures")
# a placeholder of `% because:` and `%!` words: {X}, or {X:um} for a size in micrometres
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_']*)(?::(\w+))?\}")
ANNOTATION = re.compile(r"%\s*(rule|policy|reading|because):\s*(.*?)\s*$")
PRED_DOC = re.compile(r"%!\s*([a-z_][A-Za-z0-9_]*)\s*(?:\(([^)]*)\))?\s*$")
PRED_TEXT = re.compile(r"%!\s+(holds|absent):\s*\"(.*)\"\s*$")
CONSTANT = re.compile(r"[a-z][A-Za-z0-9_]*")
CODE_SHAPE = re.compile(r"[0-9]{4}[0-9FTU]|[A-Z][0-9]{4}")
# a clingo message line: FILE:LINE:COL[-END]: KIND: TEXT
_LOCATED = re.compile(r"(\S*?\.lp|<\w+>):(\d+):(\d+)(?:-[\d:]+)?:\s*(\w+):\s*(.*)")
_TOKENS = {"<IDENTIFIER>": "name", "<VARIABLE>": "variable", "<NUMBER>": "number", "<STRING>": "string",
           "<EOF>": "end of file"}


def default_root() -> Path:
    """The project's own policy: inside the installed package, or the source checkout."""
    here = Path(__file__).resolve().parent
    return here if (here / "logic").is_dir() else here.parent


def _unquote(text: str) -> str:
    """An annotation's quoted text: a JSON string (`"a \\"quoted\\" word"`), else what is
    between its outer quotes."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            value = json.loads(text)
        except ValueError:
            return text[1:-1]
        return value if isinstance(value, str) else text[1:-1]
    return text


@dataclass(frozen=True)
class Rule:
    """One rule of logic/, with the annotation above it."""

    id: str
    policy: str | None  # the payer's sentence (policy-source.txt) it encodes
    because: str | None
    file: str  # relative to the policy folder: logic/claims.lp
    line: int
    head: tuple[str, int] | None  # predicate name and arity of the head atom
    node: ast.AST = field(repr=False, compare=False)
    variables: tuple[str, ...] = ()  # the rule's global variables, in first-seen order
    annotated: bool = True
    reading: str | None = None  # the contract's reading (policy.md, README.md) it follows

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def said_variables(self) -> tuple[str, ...]:
        """The variables its `% because:` words name ({L}, {S:um}), in the rule's order."""
        named = {m.group(1) for m in PLACEHOLDER.finditer(self.because or "")}
        return tuple(v for v in self.variables if v in named)

    def listing(self) -> dict:
        """The rule as `mohs-asp rules --format json` and serve's /rules list it."""
        return {"id": self.id, "source": self.source, "policy": self.policy,
                **({"reading": self.reading} if self.reading else {})}


@dataclass(frozen=True)
class Predicate:
    """A predicate's description for explanations (`%!` lines)."""

    name: str
    args: tuple[str, ...]
    holds: str | None = None
    absent: str | None = None
    source: str = ""

    @property
    def key(self) -> tuple[str, int]:
        return self.name, len(self.args)


@dataclass(frozen=True)
class Threshold:
    """A row of data/thresholds.csv: the value as written, its unit, and in micrometres."""

    value: str  # "2.0"
    unit: str  # "cm" or "mm"
    um: int
    line: int  # in data/thresholds.csv


@dataclass
class PolicyData:
    """The data files, checked and turned into facts."""

    facts: list[clingo.Symbol]
    sites: tuple[str, ...]  # the site vocabulary, as data/sites.csv lists it
    histology: dict[str, str]  # term -> characteristic ("" for none)
    code_ranges: list[tuple[str, int, int]]  # (set, first, last) numeric
    set_labels: dict[str, str]
    covered_diagnoses: list[tuple[str, int]]  # (code as listed, line in the file)
    borders: tuple[str, ...] = ()  # the borders vocabulary, as data/borders.csv lists it
    thresholds: dict[str, Threshold] = field(default_factory=dict)  # by the fact's name (large_lesion_min_um)

    @cached_property
    def written(self) -> dict[tuple[str, tuple[clingo.Symbol, ...]], dict[int, tuple[str, str]]]:
        """For explanations: each data fact whose value the data writes in other words (a
        threshold in micrometres as "2.0" "cm"), by its predicate and arguments."""
        return {(name, (clingo.Number(t.um),)): {0: (t.value, t.unit)} for name, t in self.thresholds.items()}

    def code_sets_of(self, code: str) -> list[str]:
        """Which code sets a code is in (for input validation: which lines must name a lesion)."""
        if code not in self._sets_of:
            self._sets_of[code] = [s for s, lo, hi in self.code_ranges if code.isdigit() and lo <= int(code) <= hi]
        return self._sets_of[code]

    @cached_property
    def _sets_of(self) -> dict[str, list[str]]:
        return {}


class Policy:
    """Parsed rules and loaded data of one policy folder. Build it with `load_policy`."""

    def __init__(self, root: Path):
        self.root = root
        self.logic = root / "logic"
        self.data_dir = root / "data"
        main = self.logic / MAIN
        if not main.is_file():
            raise PolicyError(f"{root} holds no logic/{MAIN}: not a policy folder")
        self._names: dict[str, str] = {}
        self.messages: list[str] = []
        self.statements: list[ast.AST] = []
        self.rules: list[Rule] = []
        self.predicates: dict[tuple[str, int], Predicate] = {}
        self.unannotated: list[Rule] = []
        self._parse(main)
        self.data = load_data(self.data_dir)

    # -- logic ---------------------------------------------------------------------------

    def _rel(self, filename: str) -> str:
        """A logic file's name relative to the policy folder (logic/claims.lp)."""
        if filename not in self._names:
            try:
                self._names[filename] = Path(filename).resolve().relative_to(self.root.resolve()).as_posix()
            except ValueError:
                self._names[filename] = filename
        return self._names[filename]

    def _parse(self, main: Path) -> None:
        nodes: list[ast.AST] = []
        errors: list[str] = []

        def logger(code: clingo.MessageCode, message: str) -> None:
            errors.append(self._clean_message(message))

        for file in sorted(self.logic.rglob("*.lp")):  # clingo aborts on a message quoting bytes that are not UTF-8
            if file.is_file():  # a folder named x.lp is no logic file (clingo says so if it is #included)
                _read_utf8(file, self._rel(str(file)))
        try:
            ast.parse_files([str(main)], nodes.append, logger=logger, message_limit=50)
        except RuntimeError:
            raise PolicyError("the logic files do not parse:\n" + "\n".join(errors or ["(no message)"])) from None
        if errors:
            self.messages.extend(errors)
        comments: dict[tuple[str, int], str] = {}
        for node in nodes:
            if node.ast_type == ast.ASTType.Comment:
                loc = node.location
                for offset, text in enumerate(str(node.value).splitlines()):
                    comments[(self._rel(loc.begin.filename), loc.begin.line + offset)] = text.strip()
        self._read_predicate_docs(comments)
        for node in nodes:
            if node.ast_type == ast.ASTType.Comment:
                continue
            self.statements.append(node)
            if node.ast_type == ast.ASTType.Rule:
                self._add_rule(node, comments)

    def _clean_message(self, message: str) -> str:
        """clingo says '/abs/logic/x.lp:3:5-9: error: unsafe variables in:' and more lines; authors
        read 'logic/x.lp:3:7: error: variable X is unsafe: ...', one problem a line, in plain words.
        `check` (exit 3) and `lint` both print this."""
        lines = [line.strip() for line in message.strip().splitlines()]
        found = [(_LOCATED.match(line), line) for line in lines]
        first = found[0][0] if found else None
        if first is None:
            return "\n".join(lines)

        def at(m: re.Match) -> str:
            return f"{self._rel(m.group(1))}:{m.group(2)}:{m.group(3)}"

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

    def _add_rule(self, node: ast.AST, comments: dict[tuple[str, int], str]) -> None:
        file = self._rel(node.location.begin.filename)
        line = node.location.begin.line
        notes: dict[str, str] = {}
        above = line - 1
        while (file, above) in comments:
            m = ANNOTATION.match(comments[(file, above)])
            if m and m.group(1) not in notes:
                notes[m.group(1)] = _unquote(m.group(2))
            above -= 1
        head = _head_signature(node.head)
        if head and head[0].startswith("__"):  # __by and __fired record which rule fired: a rule of that name would forge them
            raise PolicyError(f"{file}:{line}: {head[0]}/{head[1]}: predicate names beginning with __ are the engine's own; "
                              f"rename it")
        rule = Rule(
            id=notes.get("rule") or f"{file}:{line}",
            policy=notes.get("policy"),
            because=notes.get("because"),
            file=file,
            line=line,
            head=head,
            node=node,
            variables=tuple(global_variables(node)),
            annotated="rule" in notes,
            reading=notes.get("reading"),
        )
        self.rules.append(rule)
        if not rule.annotated or not (rule.policy or rule.reading):
            self.unannotated.append(rule)

    @cached_property
    def digest(self) -> str:
        """sha256 (hex) of the policy's files: every file under logic/ and data/, in the order
        of their paths relative to the policy folder, each as its path and its bytes."""
        h = hashlib.sha256()
        files = [p for part in (self.logic, self.data_dir) for p in part.rglob("*")
                 if p.is_file() and "__pycache__" not in p.parts]
        for path in sorted(files, key=lambda p: p.relative_to(self.root).as_posix()):
            data = path.read_bytes()
            h.update(f"{path.relative_to(self.root).as_posix()}\0{len(data)}\0".encode())
            h.update(data)
        return h.hexdigest()

    @cached_property
    def metadata(self) -> dict:
        """The pack's metadata file (`policy.yaml` beside logic/), as a dict; empty without one."""
        path = self.root / METADATA
        if not path.is_file():
            return {}
        import yaml  # only a policy with a metadata file pays for the import

        try:
            found = yaml.safe_load(_read_utf8(path, METADATA))
        except yaml.YAMLError as e:
            raise PolicyError(f"{METADATA}: not valid YAML: {' '.join(str(e).split())}") from None
        if found is None:
            return {}
        if not isinstance(found, dict):
            raise PolicyError(f"{METADATA}: must be a mapping of fields")
        return found

    @cached_property
    def rules_by_id(self) -> dict[str, Rule]:
        return {r.id: r for r in self.rules}

    def rules_for(self, name: str, arity: int) -> list[Rule]:
        return [r for r in self.rules if r.head == (name, arity)]

    @cached_property
    def derived(self) -> frozenset[tuple[str, int]]:
        return frozenset(r.head for r in self.rules if r.head)

    @cached_property
    def shown(self) -> frozenset[str]:
        """The predicates the policy's `#show` statements name (what the answer is read from)."""
        return frozenset(n.name for n in self.statements if n.ast_type == ast.ASTType.ShowSignature)

    @cached_property
    def case_predicates(self) -> frozenset[str]:
        """Predicates whose first argument is the case key: the case facts and every derived one."""
        return frozenset(name for name, _ in self.derived) | CASE_FACT_PREDICATES

    def program(self, track: frozenset[str] | None) -> list[ast.AST]:
        """The statements to ground; with `track`, also a firing record for each rule whose
        head predicate is in `track` (or every rule when `track` holds "*")."""
        return self._programs(track)

    @lru_cache(maxsize=4)  # noqa: B019 -- one Policy per process and folder
    def _programs(self, track: frozenset[str] | None) -> list[ast.AST]:
        everything = bool(track) and "*" in track
        # the tracked heads are read off their __by records: not shown a second time
        out = [n for n in self.statements
               if everything or not track or n.ast_type != ast.ASTType.ShowSignature or n.name not in track]
        if track:
            for index, rule in enumerate(self.rules):
                if rule.head and (everything or rule.head[0] in track):
                    said = not everything and rule.said_variables
                    out.append(said_by(rule, index) if said else decided_by(rule, index))
                if rule.head and everything:
                    out.append(firing_rule(rule, index))
            ast.parse_string("#show __by/2. #show __said/3." + (" #show __fired/3." if everything else ""), out.append)
        return out


# -- AST helpers ---------------------------------------------------------------------------


def _head_signature(head: ast.AST) -> tuple[str, int] | None:
    if head.ast_type == ast.ASTType.Literal and head.atom.ast_type == ast.ASTType.SymbolicAtom:
        term = head.atom.symbol
        if term.ast_type == ast.ASTType.Function:
            return term.name, len(term.arguments)
        if term.ast_type == ast.ASTType.SymbolicTerm and term.symbol.type == clingo.SymbolType.Function:
            return term.symbol.name, 0
    return None


_STRING = re.compile(r'"(?:\\.|[^"\\])*"')
_VARIABLE = re.compile(r"(?<![A-Za-z0-9_'])[A-Z][A-Za-z0-9_']*")


def _variables_in(text: str, into: list[str]) -> None:
    for name in _VARIABLE.findall(_STRING.sub('""', text)):
        if name not in into:
            into.append(name)


def global_variables(rule: ast.AST) -> list[str]:
    """Variables of the head and of the body's plain literals and aggregate guards, in
    first-seen order (variables local to an aggregate element are left out). Read off the
    printed rule: walking the AST from Python costs far more."""
    names: list[str] = []
    _variables_in(str(rule.head), names)
    for lit in rule.body:
        if lit.ast_type == ast.ASTType.Literal and lit.atom.ast_type == ast.ASTType.BodyAggregate:
            for guard in (lit.atom.left_guard, lit.atom.right_guard):
                if guard is not None:
                    _variables_in(str(guard.term), names)
        else:
            _variables_in(str(lit), names)
    return names


def firing_rule(rule: Rule, index: int) -> ast.AST:
    """`__fired(C, I, (V1,...,Vn)) :- Body.`: rule number I fired with these values of its
    variables; C is the head's first argument (the case). Explanations read the bindings."""
    loc = rule.node.location
    head_fn = rule.node.head.atom.symbol
    case_term = head_fn.arguments[0] if head_fn.ast_type == ast.ASTType.Function and head_fn.arguments else \
        ast.SymbolicTerm(loc, clingo.Number(0))
    values = ast.Function(loc, "", [ast.Variable(loc, v) for v in rule.variables], 0)
    atom = ast.SymbolicAtom(ast.Function(loc, "__fired", [case_term, ast.SymbolicTerm(loc, clingo.Number(index)), values], 0))
    return ast.Rule(loc, ast.Literal(loc, ast.Sign.NoSign, atom), rule.node.body)


def said_by(rule: Rule, index: int) -> ast.AST:
    """`__said(I, Head, (V1,...,Vn)) :- Body.`: rule number I derived this head, with these
    values of the variables its `% because:` words name (`check` words its reasons with them)."""
    loc = rule.node.location
    values = ast.Function(loc, "", [ast.Variable(loc, v) for v in rule.said_variables], 0)
    atom = ast.SymbolicAtom(ast.Function(loc, "__said", [ast.SymbolicTerm(loc, clingo.Number(index)),
                                                          rule.node.head.atom.symbol, values], 0))
    return ast.Rule(loc, ast.Literal(loc, ast.Sign.NoSign, atom), rule.node.body)


def decided_by(rule: Rule, index: int) -> ast.AST:
    """`__by(I, Head) :- Body.`: rule number I derived this head (the answer names the rule)."""
    loc = rule.node.location
    atom = ast.SymbolicAtom(ast.Function(loc, "__by", [ast.SymbolicTerm(loc, clingo.Number(index)), rule.node.head.atom.symbol], 0))
    return ast.Rule(loc, ast.Literal(loc, ast.Sign.NoSign, atom), rule.node.body)


# -- data ------------------------------------------------------------------------------------


def _read_utf8(path: Path, name: str) -> str:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise PolicyError(f"{name}: cannot be read: {e.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise PolicyError(f"{name}:{line}: the file is not UTF-8 text (byte {e.start})") from None


def _read_csv(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """Rows of a data file with their line numbers; lines starting with # are comments."""
    if not path.is_file():
        raise PolicyError(f"data file {path.parent.name}/{path.name} is missing")
    lines = _read_utf8(path, f"data/{path.name}").splitlines()
    kept = [(i + 1, line) for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")]
    if not kept:
        raise PolicyError(f"data/{path.name} is empty")
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


def load_data(folder: Path) -> PolicyData:
    F, S, N = clingo.Function, clingo.String, clingo.Number
    facts: list[clingo.Symbol] = []

    covered = []
    for lineno, row in _read_csv(folder / "covered_diagnoses.csv", ("code",)):
        covered.append((row["code"], lineno))
        facts.append(F("covered_diagnosis", [S(row["code"].upper())]))

    ranges: list[tuple[str, int, int]] = []
    labels: dict[str, str] = {}
    for lineno, row in _read_csv(folder / "code_sets.csv", ("set", "first", "last", "label")):
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
        facts.append(F("code_range", [F(name), N(int(first)), N(int(last))]))
        if name not in labels:
            labels[name] = row["label"] or name
            facts.append(F("code_set_label", [F(name), S(labels[name])]))

    families = set()
    for lineno, row in _read_csv(folder / "mms_codes.csv", ("code", "stage", "family", "primary")):
        where = f"data/mms_codes.csv:{lineno}"
        code = row["code"]
        if row["stage"] not in ("first", "additional"):
            raise PolicyError(f"{where}: stage must be first or additional")
        facts.append(F("first_stage_code" if row["stage"] == "first" else "addon_code", [S(code)]))
        if row["family"]:
            families.add(row["family"])
            facts.append(F("code_family", [S(code), S(row["family"])]))
        for primary in row["primary"].split():
            facts.append(F("addon_primary", [S(code), S(primary)]))

    sites: list[str] = []
    for lineno, row in _read_csv(folder / "sites.csv", ("site", "family", "high_risk", "tissue_preservation", "area")):
        where = f"data/sites.csv:{lineno}"
        name = row["site"]
        if name in sites:
            raise PolicyError(f"{where}: site {name} is listed twice")
        if row["family"] not in families | {"either"}:
            raise PolicyError(f"{where}: family must be one of data/mms_codes.csv ({', '.join(sorted(families))}) or either")
        sites.append(name)
        facts.append(F("site_family", [S(name), S(row["family"])]))
        if _yes_no(row["high_risk"], where):
            facts.append(F("high_risk_site", [S(name)]))
        if _yes_no(row["tissue_preservation"], where):
            facts.append(F("preservation_site", [S(name), S(row["area"] or name)]))

    borders: list[str] = []
    for lineno, row in _read_csv(folder / "borders.csv", ("term",)):
        if row["term"] in borders:
            raise PolicyError(f"data/borders.csv:{lineno}: term {row['term']} is listed twice")
        borders.append(row["term"])

    histology: dict[str, str] = {}
    for lineno, row in _read_csv(folder / "histology.csv", ("term", "characteristic")):
        term = row["term"]
        if term in histology:
            raise PolicyError(f"data/histology.csv:{lineno}: term {term} is listed twice")
        histology[term] = row["characteristic"]
        if row["characteristic"]:
            facts.append(F("histology_term", [S(term), S(row["characteristic"])]))

    thresholds: dict[str, Threshold] = {}
    for lineno, row in _read_csv(folder / "thresholds.csv", ("name", "value", "unit")):
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
        facts.append(F(f"{row['name']}_um", [N(int(um))]))
        thresholds[f"{row['name']}_um"] = Threshold(row["value"], row["unit"], int(um), lineno)

    return PolicyData(facts, tuple(sites), histology, ranges, labels, covered, tuple(borders), thresholds)


@lru_cache(maxsize=8)
def _load(root: str) -> Policy:
    return Policy(Path(root))


def load_policy(root: str | Path | None = None) -> Policy:
    """The policy of a folder (default: the project's own), parsed once per process."""
    path = Path(root) if root is not None else default_root()
    try:
        found = path.is_dir()
    except OSError as e:  # a name too long, a folder we may not enter
        raise UsageError(f"cannot read policy folder {path}: {e.strerror}") from None
    if not found:  # a mistyped --policy is bad usage (2), like a missing case file
        raise UsageError(f"no such policy folder: {path}")
    return _load(str(path.resolve()))
