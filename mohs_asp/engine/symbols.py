"""clingo symbols by their handles, as explanations read and index them.

clingo makes each distinct symbol once and never frees it, so a symbol's handle (the number
clingo's Python package keeps in `Symbol._rep`) names it for as long as the process lives:
two symbols are equal exactly when their handles are. A handle hashes and compares as a
number, where a `clingo.Symbol` asks clingo (a C call through cffi) each time.

- `Reader`: a model's atoms read through clingo's C API (engine._read_model), each distinct
  argument made into a symbol, a number or parse_atom's text once per process;
  `PublicReader` the same through clingo's public API.
- `Atoms`, `Chain`: atoms by predicate and by the values of some of their arguments (explain/why.py).
"""

from __future__ import annotations

from collections import defaultdict

import clingo

try:  # clingo's own cffi handle (clingo 5.5 to 5.8), as engine/solver.py uses it
    from clingo._internal import _ffi, _lib
except ImportError:  # pragma: no cover
    _ffi = _lib = None

Atom = tuple  # as engine.parse_atom gives an atom: its name and its arguments' text


def check(ok: bool) -> None:
    if not ok:
        raise RuntimeError(_ffi.string(_lib.clingo_error_message()).decode(errors="replace"))


class Unread(Exception):
    """A symbol Reader does not put in words of its own (a negative function)."""


class Memo(dict):
    """A value worked out once for each key: `make(key)` when first asked."""

    def __init__(self, make):
        super().__init__()
        self.make = make

    def __missing__(self, key):
        value = self[key] = self.make(key)
        return value


_NUMBER, _STRING, _INFIMUM, _SUPREMUM = (t.value for t in (clingo.SymbolType.Number, clingo.SymbolType.String,
                                                         clingo.SymbolType.Infimum, clingo.SymbolType.Supremum))


class Reader:
    """A model's symbols read through clingo's C API, for explanations: each atom's name and
    arguments in a few calls, and each distinct argument made into a clingo.Symbol, a number
    or the text parse_atom gives it once per process (`symbols`, `numbers`, `texts`). clingo
    never frees a symbol, so its handle names it for as long as the process lives; the
    memos are bounded (LIMIT)."""

    LIMIT = 200_000  # arguments remembered, then forgotten all at once
    _memos: dict[type, tuple[Memo, Memo, Memo]] = {}
    _names: dict[bytes, str] = {}

    def __init__(self):
        self.name_out = _ffi.new("char**")
        self.args_out = _ffi.new("clingo_symbol_t**")
        self.size_out = _ffi.new("size_t*")
        self.number_out = _ffi.new("int*")
        self.positive_out = _ffi.new("bool*")
        self._shared_memos()

    def _shared_memos(self) -> None:
        memos = self._memos.get(type(self))
        if memos is None or any(len(m) > self.LIMIT for m in memos):
            memos = self._memos[type(self)] = (Memo(self.symbol), Memo(self.number), Memo(self.text))
        self.symbols, self.numbers, self.texts = memos

    def function(self, sym: int) -> tuple[str | None, list[int]]:
        """A positive function's name and its arguments' handles; (None, []) for any other symbol."""
        lib, positive, name_out, args_out, size = _lib, self.positive_out, self.name_out, self.args_out, self.size_out
        if lib.clingo_symbol_type(sym) != lib.clingo_symbol_type_function or not (
                lib.clingo_symbol_is_positive(sym, positive) and positive[0]):
            return None, []
        if not (lib.clingo_symbol_name(sym, name_out) and lib.clingo_symbol_arguments(sym, args_out, size)):
            check(False)
        raw = _ffi.string(name_out[0])
        name = self._names.get(raw)
        if name is None:
            name = self._names[raw] = raw.decode()
        return name, _ffi.unpack(args_out[0], size[0]) if size[0] else []

    def symbol(self, sym: int) -> clingo.Symbol:
        return clingo.symbol.Symbol(sym)

    def handles(self, symbols: list[clingo.Symbol]) -> list[int]:
        return [s._rep for s in symbols]

    def arguments(self, sym: int) -> list[int]:
        check(_lib.clingo_symbol_arguments(sym, self.args_out, self.size_out))
        size = self.size_out[0]
        return _ffi.unpack(self.args_out[0], size) if size else []

    def number(self, sym: int) -> int | None:
        """The value of a number symbol; None for any other symbol."""
        if _lib.clingo_symbol_type(sym) != _lib.clingo_symbol_type_number:
            return None
        check(_lib.clingo_symbol_number(sym, self.number_out))
        return self.number_out[0]

    def string(self, sym: int) -> str:
        check(_lib.clingo_symbol_string(sym, self.name_out))
        return _ffi.string(self.name_out[0]).decode()

    def kind(self, sym: int) -> int:
        """The symbol's type, as clingo.SymbolType's value."""
        return _lib.clingo_symbol_type(sym)

    def text(self, sym: int) -> Atom | str:
        """An argument as parse_atom reads it: a number or constant as written, a string
        unquoted, a function or tuple as a tuple of its name ("" for a tuple) and arguments;
        Unread for a negative function (whose text parse_atom reads its own way)."""
        kind = self.kind(sym)
        if kind == _NUMBER:
            return str(self.numbers[sym])
        if kind == _STRING:
            return self.string(sym)
        if kind == _INFIMUM:
            return "#inf"
        if kind == _SUPREMUM:
            return "#sup"
        name, args = self.function(sym)
        if name is None:
            raise Unread()
        if name and not args:
            return name
        return (name, *map(self.texts.__getitem__, args))


class PublicReader(Reader):
    """Reader's answers through clingo's public API (its symbols are their own handles):
    where clingo's C API is not at hand, and what Reader is tested against."""

    def __init__(self):
        self._shared_memos()

    def function(self, sym: clingo.Symbol) -> tuple[str | None, list[clingo.Symbol]]:
        if sym.type != clingo.SymbolType.Function or not sym.positive:
            return None, []
        return sym.name, sym.arguments

    def symbol(self, sym: clingo.Symbol) -> clingo.Symbol:
        return sym

    def handles(self, symbols: list[clingo.Symbol]) -> list[clingo.Symbol]:
        return symbols

    def arguments(self, sym: clingo.Symbol) -> list[clingo.Symbol]:
        return sym.arguments

    def number(self, sym: clingo.Symbol) -> int | None:
        return sym.number if sym.type == clingo.SymbolType.Number else None

    def string(self, sym: clingo.Symbol) -> str:
        return sym.string

    def kind(self, sym: clingo.Symbol) -> int:
        return sym.type.value


def handles(values) -> tuple:
    """Values as a key: each symbol's handle (None for None)."""
    return tuple(None if v is None else v._rep for v in values)


def same(a: clingo.Symbol, b: clingo.Symbol) -> bool:
    return a is b or a._rep == b._rep


class Chain:
    """Atoms found in several indexes in turn (the data's, then a run's derived atoms of no one case)."""

    def __init__(self, *parts: Atoms):
        self.parts = parts

    def find(self, pred: tuple[str, int], positions: tuple[int, ...], values: tuple) -> list[list[clingo.Symbol]]:
        return self.find_key(pred, positions, handles(values))

    def find_key(self, pred: tuple[str, int], positions: tuple[int, ...], key: tuple) -> list[list[clingo.Symbol]]:
        found = [part.find_key(pred, positions, key) for part in self.parts]
        return [args for part in found for args in part] if len(self.parts) > 1 and any(found[1:]) else found[0]


class Atoms:
    """Atoms (as their argument lists) by predicate, and by the values of some of their
    arguments: an index for each set of argument positions, built when first asked for."""

    def __init__(self, symbols: list[clingo.Symbol] = (), pairs: list[tuple[str, list[clingo.Symbol]]] = ()):
        self.by_pred: dict[tuple[str, int], list[list[clingo.Symbol]]] = defaultdict(list)
        for sym in symbols:
            args = sym.arguments
            self.by_pred[(sym.name, len(args))].append(args)
        for name, args in pairs:  # as the engine read them (Solved.atoms)
            self.by_pred[(name, len(args))].append(args)
        self.indexes: dict[tuple, dict[tuple, list]] = {}

    def find(self, pred: tuple[str, int], positions: tuple[int, ...], values: tuple) -> list[list[clingo.Symbol]]:
        return self.find_key(pred, positions, handles(values))

    def find_key(self, pred: tuple[str, int], positions: tuple[int, ...], key: tuple) -> list[list[clingo.Symbol]]:
        """find, with the values given as their handles (handles)."""
        if not positions:
            return self.by_pred.get(pred, [])
        index = self.indexes.get((pred, positions))
        if index is None:
            index = self.indexes[(pred, positions)] = defaultdict(list)
            for args in self.by_pred.get(pred, []):
                index[tuple(args[i]._rep for i in positions)].append(args)
        return index.get(key, [])
