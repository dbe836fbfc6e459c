"""Unit tests of the engine: facts in through either path, answers read back as text."""

import copy
from pathlib import Path

import clingo
import pytest

from mohs_asp.engine import solver as engine, symbols
from mohs_asp.case.check import parse_case
from mohs_asp.engine.solver import parse_atom
from helpers import policy_tests

TESTS = Path(__file__).resolve().parent


def policy_cases(policy):
    cases = []
    for test in policy_tests():
        cases.append(parse_case(test.doc, policy))
    return cases


def test_the_c_api_path_and_the_public_path_give_the_same_answers(policy):
    assert engine._lib is not None, "clingo's cffi handle is gone: the fast path is off"
    cases = policy_cases(policy)
    fast = engine.solve(policy, cases, raw=True)
    public = engine.solve(policy, cases, raw=False)
    assert [(sorted(a.derived), sorted(a.decided_by)) for a in fast] == [(sorted(b.derived), sorted(b.decided_by)) for b in public]


def test_lesions_by_position_and_by_id_give_the_same_answer(policy):
    from mohs_asp.engine.answer import build_answer

    cases = policy_cases(policy)
    by_index = engine.solve(policy, cases)
    by_id = engine.solve(policy, cases, engine.Record.DECISIONS_BY_ID)
    for case, a, b in zip(cases, by_index, by_id):
        assert build_answer(case, a, policy) == build_answer(case, b, policy), case.id


def test_an_answer_changed_by_its_caller_leaves_the_next_answer_as_it_was(policy):
    """build_answer keeps the reasons and sentences it has worded (answer._Wording): each answer
    still gets lists of its own."""
    from mohs_asp.engine.answer import build_answer

    cases = policy_cases(policy)
    solved = engine.solve(policy, cases)
    first = [build_answer(case, s, policy) for case, s in zip(cases, solved)]
    expected = copy.deepcopy(first)
    assert any(line["reasons"] for answer in first for line in answer["lines"])
    for answer in first:
        for line in answer["lines"]:
            line["reasons"].append("edited")
            line["rules"].append("edited")
        for lesion in answer["lesions"]:
            lesion["indications"].append("edited")
    assert [build_answer(case, s, policy) for case, s in zip(cases, solved)] == expected


@pytest.mark.parametrize("value", ["A", 'a"). covered. %', "back\\slash", "new\nline", "tab\there", "ünï", "",
                                   "(x,y)", "1,2", "#show"])
def test_atoms_printed_by_clingo_parse_back(value):
    sym = clingo.Function("f", [clingo.Number(-3), clingo.String(value),
                                clingo.Function("g", [clingo.Function("c"), clingo.Tuple_([clingo.Number(1)])])])
    assert parse_atom(str(sym)) == ("f", "-3", value, ("g", "c", ("", "1")))


@pytest.mark.parametrize("value", ["A", 'a"). covered. %', "back\\slash", "new\nline", "ünï", "", "(x,y)", "#show"])
def test_explanations_read_symbols_through_the_c_api_as_the_public_api_and_their_text_do(value):
    """symbols.Reader (explanations' bulk read of a model) gives each atom's name, arguments
    and text as clingo's public API and parse_atom of the printed atom do."""
    inner = clingo.Function("g", [clingo.Function("c"), clingo.Tuple_([clingo.Number(1)]), clingo.Tuple_([])])
    sym = clingo.Function("f", [clingo.Number(-3), clingo.String(value), inner, clingo.Infimum, clingo.Supremum])
    fast, public = symbols.Reader(), symbols.PublicReader()
    name, args = fast.function(sym._rep)
    assert (name, [fast.symbols[a] for a in args]) == public.function(sym) == ("f", sym.arguments)
    assert [fast.numbers[a] for a in args] == [-3, None, None, None, None]
    assert (name, *map(fast.texts.__getitem__, args)) == parse_atom(str(sym)) == \
        (name, *map(public.texts.__getitem__, sym.arguments))
    negative = clingo.Function("p", [clingo.Number(1)], False)  # clingo's classical negation: not read as p(1)
    assert fast.function(negative._rep) == public.function(negative) == (None, [])
    with pytest.raises(symbols.Unread):
        fast.texts[clingo.Function("f", [negative])._rep]


def test_explanations_read_the_same_through_the_c_api_and_the_public_api(policy, monkeypatch):
    cases = policy_cases(policy)[:40]
    fields = ("derived", "decided_by", "atoms", "fired", "data_atoms", "said", "reached", "needs")
    fast = engine.solve(policy, cases, engine.Record.EXPLANATIONS)
    monkeypatch.setattr(engine, "_lib", None)
    public = engine.solve(policy, cases, engine.Record.EXPLANATIONS)
    assert any(s.reached for s in fast) and any(s.fired for s in fast)
    assert [[getattr(s, f) for f in fields] for s in fast] == [[getattr(s, f) for f in fields] for s in public]


def test_number_and_constant_atoms_take_the_fast_path():
    assert parse_atom("bundled(12,3,1)") == ("bundled", "12", "3", "1")
    assert parse_atom("__by(7,indication(0,1,high_risk_area))") == ("__by", "7", ("indication", "0", "1", "high_risk_area"))
    assert parse_atom("covered") == ("covered",)


def test_explanations_hold_every_atom_the_solver_holds_for_each_case(policy, monkeypatch):
    """A case's facts are taken as given (not shown and read back): each case's atoms are still
    exactly the ones in the solver's answer set, facts and derived atoms alike."""
    cases = policy_cases(policy)[:30]
    held: list[clingo.Symbol] = []
    shown = engine._shown_symbols

    def also_every_atom(model):
        held.extend(model.symbols(atoms=True))
        return shown(model)

    monkeypatch.setattr(engine, "_shown_symbols", also_every_atom)
    solved = engine.solve(policy, cases, engine.Record.EXPLANATIONS)
    for key, s in enumerate(solved):
        mine = sorted(str(sym) for sym in held if sym.name in policy.case_predicates and sym.arguments
                      and sym.arguments[0] == clingo.Number(key))
        assert sorted(str(clingo.Function(name, args)) for name, args in s.atoms) == mine, cases[key].id
        assert any(name == "lesion" for name, _ in s.atoms) == bool(cases[key].lesions)
