"""The compiled engine (mohs_asp/engine/fastpath) against clingo: the same answers, byte for byte.

clingo is the reference: every case is answered through the compiled templates and through
`engine.solve` (clingo, many cases to a Control, as batch runs it) and the two answers must
be equal as `json.dumps(..., sort_keys=True)` writes them. A policy construct the templates
do not take falls back to clingo by itself; MOHS_ASP_ENGINE=clingo turns the templates off.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import clingo
import pytest
from helpers import EXE, batch_outputs, copy_policy
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import POLICY, boundary_days, cases, claim

from mohs_asp.engine import fastpath
from mohs_asp.engine.fastpath import cache
from mohs_asp.engine.answer import build_answer
from mohs_asp import api
from mohs_asp.case.check import parse_case
from mohs_asp.engine.solver import solve
from mohs_asp.errors import CaseInvalid, PolicyError
from mohs_asp.policy.load import Policy
from helpers import policy_tests

TESTS = Path(__file__).resolve().parent
SCRIPTS = TESTS.parent / "scripts"
CHUNK = 500


def _bench_generator():
    """scripts/bench_batch.py's case generator (the benchmark's own cases)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_batch", SCRIPTS / "bench_batch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.case


def bench_file(tmp_path: Path, count: int, seed: int) -> Path:
    """A JSON Lines file of `count` of the benchmark's cases (seeded)."""
    bench, rng = _bench_generator(), random.Random(seed)
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps(bench(rng, n), default=str) + "\n" for n in range(count)), encoding="utf-8")
    return path


def _valid(docs, policy) -> list:
    out = []
    for doc in docs:
        try:
            out.append(parse_case(doc, policy))
        except CaseInvalid:
            pass
    return out


def _claims(seed: int, count: int, policy) -> list:
    """`count` generated documents (tests/strategies.py claim), seeded; the valid ones as Cases."""
    rng = random.Random(seed)
    return _valid([claim(rng, n) for n in range(count)], policy)


def _policy_cases(policy) -> list:
    return _valid((t.doc for t in policy_tests()), policy)


def _text(answer: dict) -> str:
    return json.dumps(answer, sort_keys=True)


def _clingo(policy, cases: list) -> list[str]:
    out = []
    for i in range(0, len(cases), CHUNK):
        chunk = cases[i:i + CHUNK]
        out += [_text(build_answer(c, s, policy)) for c, s in zip(chunk, solve(policy, chunk))]
    return out


def _compiled(policy, cases: list) -> list[str]:
    out = []
    for i in range(0, len(cases), CHUNK):
        chunk = cases[i:i + CHUNK]
        out += [_text(answer) for answer in list(api.answer(chunk, policy))]  # the templates, clingo (bounded) for the rest
    return out


@pytest.fixture
def compiled(monkeypatch):
    """The compiled engine on for any number of cases, with no templates left from another test."""
    monkeypatch.setenv(fastpath.ENGINE_VARIABLE, "compiled")
    fastpath._ENGINES.clear()
    yield
    fastpath._ENGINES.clear()


def _differ(policy, cases: list) -> list[tuple[str, str]]:
    fast, ref = _compiled(policy, cases), _clingo(policy, cases)
    assert len(fast) == len(ref) == len(cases)
    return [(a, b) for a, b in zip(fast, ref) if a != b]


def test_twenty_thousand_generated_cases_get_clingos_answers_byte_for_byte(compiled):
    """The benchmark's cases (realistic mix) and the seeded edge generator's (thresholds, every
    site and code set, biopsies of several lesions, add-ons, deep structures, line numbers in any
    order, up to 6 lesions and 9 lines), and every policy case of tests/policy."""
    bench = _bench_generator()
    rng = random.Random(20260)
    docs = [bench(rng, n) for n in range(10_000)] + [claim(rng, n) for n in range(12_000)]
    cases = _policy_cases(POLICY) + _valid(docs, POLICY)
    assert len(cases) >= 20_000
    bad = _differ(POLICY, cases)
    assert not bad, f"{len(bad)} answers differ; the first:\ncompiled {bad[0][0]}\nclingo   {bad[0][1]}"
    stats = fastpath.engine_for(POLICY).stats
    assert fastpath.engine_for(POLICY).refused is None
    assert stats["compiled"] >= 0.9 * len(cases), stats  # the templates did the work, not clingo


@settings(max_examples=60, deadline=None)
@given(st.lists(cases(), min_size=1, max_size=40))
def test_hypothesis_cases_get_clingos_answers(docs):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(fastpath.ENGINE_VARIABLE, "compiled")
        valid = _valid(docs, POLICY)
        assert _compiled(POLICY, valid) == _clingo(POLICY, valid)


def test_cases_the_templates_do_not_cover_go_to_clingo(compiled):
    rng = random.Random(7)
    docs = [claim(rng, n) for n in range(600)]
    small = [c for c in _valid(docs, POLICY) if len(c.lesions) <= 2 and len(c.lines) <= 4]
    fastpath.solve(POLICY, small[:400])  # templates for these shapes only
    big = {"id": "big", "date_of_service": "2026-01-01",
           "lesions": [{"id": f"L{i}", "diagnosis": "C44.311", "site": "nose"} for i in range(12)],
           "lines": [{"code": "17311", "lesion": f"L{i}"} for i in range(12)]}
    cases = small[:5] + _valid([big], POLICY) + small[5:10]
    before = dict(fastpath.engine_for(POLICY).stats)
    assert _compiled(POLICY, cases) == _clingo(POLICY, cases)
    assert fastpath.engine_for(POLICY).stats["clingo"] > before["clingo"]


def test_cases_the_templates_leave_are_solved_under_the_work_limits(compiled, monkeypatch):
    """Only the cases no template covers reach clingo, and they reach it through the bounded
    run (api.within_limits: a forked child under the limits), as every clingo solve does."""
    from mohs_asp import api

    small = [c for c in _claims(37, 600, POLICY) if len(c.lesions) <= 2 and len(c.lines) <= 4]
    list(api.answer(small[:400], POLICY))  # templates for these shapes
    big = _valid([{"id": "big", "date_of_service": "2026-01-01",
                   "lesions": [{"id": f"L{i}", "diagnosis": "C44.311", "site": "nose"} for i in range(12)],
                   "lines": [{"code": "17311", "lesion": f"L{i}"} for i in range(12)]}], POLICY)
    runs = []
    real = api.bounded
    monkeypatch.setattr(api, "bounded", lambda work, cases=1: runs.append(cases) or real(work, cases))
    cases = small[400:410] + big + small[410:420]
    assert [_text(a) for a in list(api.answer(cases, POLICY))] == _clingo(POLICY, cases)
    assert runs == [1]  # one bounded clingo run, for the one case left
    runs.clear()
    list(api.answer(small[400:420], POLICY))
    assert runs == []  # the templates covered them all: no clingo run


# -- constructs the templates do not take: clingo answers ---------------------------------------------

CONSTRUCTS = {
    "a constraint": ("logic/claims.lp", "\n:- decision(C,covered), decision(C,not_covered).\n"),
    "an aggregate other than #count, #min and #max": (
        "logic/claims.lp", "\nbig_case(C) :- case(C), #sum{ U,N : units(C,N,U) } > 1000.\n"
                           "denied(C,N) :- mms_line(C,N,L,K), big_case(C).\n"),
    "recursion that loops once ground": (
        "logic/claims.lp", "\nsame_lesion(C,M,N) :- mms_line(C,M,L,K), mms_line(C,N,L,K2).\n"
                           "same_lesion(C,M,N) :- same_lesion(C,N,M).\n"
                           "payable(C,N) :- same_lesion(C,N,N), line(C,N,\"00000\").\n"),
    "a rule joining two cases": ("logic/claims.lp", "\ndenied(C,N) :- mms_line(C,N,L,K), case(D), D != C, #false.\n"
                                                    "payable(C,N) :- line(C,N,K), case(D), D < C, K = \"99999\".\n"),
    "#const": ("logic/claims.lp", "\n#const limit = 20000.\n"),
    "a code-level fact about a code the case need not have": (
        "logic/claims.lp", "\ndenied(C,N) :- line(C,N,K), code_listed(J,repair,W), K = \"00000\".\n"),
}


@pytest.mark.parametrize("construct", sorted(CONSTRUCTS))
def test_a_construct_the_templates_do_not_take_falls_back_to_clingo(construct, compiled, tmp_path):
    file, text = CONSTRUCTS[construct]
    root = copy_policy(tmp_path / "policy")
    with (root / file).open("a", encoding="utf-8") as f:
        f.write(text)
    policy = Policy(root)
    rng = random.Random(3)
    cases = _valid([claim(rng, n) for n in range(400)], policy)
    assert _compiled(policy, cases) == _clingo(policy, cases)
    engine = fastpath.engine_for(policy)
    assert engine.refused, "the templates took a construct they must refuse"
    assert engine.stats["compiled"] == 0 and not engine.templates


def test_recursion_that_grounds_without_a_loop_is_taken(compiled, tmp_path):
    """Recursion whose ground rules form no loop (each step to a higher line number) has one
    answer per case, computed in dependency order: the templates take it, and agree."""
    root = copy_policy(tmp_path / "policy")
    with (root / "logic/claims.lp").open("a", encoding="utf-8") as f:
        f.write("\nmms_after(C,L,M,N) :- mms_line(C,M,L,K), mms_line(C,N,L,K2), M < N.\n"
                "mms_after(C,L,M,N) :- mms_after(C,L,M,X), mms_after(C,L,X,N).\n"
                "denied(C,N) :- mms_after(C,L,M,N), mms_after(C,L,X,N), M < X.\n")
    policy = Policy(root)
    cases = _claims(4, 1000, policy)
    fast, ref = _compiled(policy, cases), _clingo(policy, cases)
    assert fast == ref
    assert fastpath.engine_for(policy).stats["compiled"] > 0.9 * len(cases)
    assert fast != _compiled(POLICY, cases)  # the new rule denies some lines


def test_a_choice_is_refused_and_clingo_reports_the_broken_policy(compiled, tmp_path):
    root = copy_policy(tmp_path / "policy")
    with (root / "logic/claims.lp").open("a", encoding="utf-8") as f:
        f.write("\n{ note(C) } :- case(C).\n")
    policy = Policy(root)
    cases = _claims(5, 200, policy)
    with pytest.raises(PolicyError) as theirs:
        solve(policy, cases)
    with pytest.raises(PolicyError) as ours:
        list(api.answer(cases, policy))
    assert str(ours.value) == str(theirs.value)
    assert fastpath.engine_for(policy).stats["compiled"] == 0


def test_an_edited_threshold_is_followed(compiled, tmp_path):
    """The templates are the rules and data as they are: lowering the size threshold in the
    data changes the compiled answers as it changes clingo's."""
    root = copy_policy(tmp_path / "policy")
    path = root / "data/thresholds.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("large_lesion_min,2.0,cm", "large_lesion_min,1.5,cm"),
                    encoding="utf-8")
    policy = Policy(root)
    cases = _claims(11, 1500, policy)
    fast, ref = _compiled(policy, cases), _clingo(policy, cases)
    assert fast == ref
    assert fastpath.engine_for(policy).stats["compiled"] > 0.9 * len(cases)
    assert fast != _compiled(POLICY, cases)  # the edit changed some answers


def dated_policy(tmp_path: Path) -> Policy:
    """The shipped policy with data that change on dates: the size threshold lowered from
    2023-01-01, two diagnoses covered only until 2021-12-31."""
    root = copy_policy(tmp_path / "policy")
    path = root / "data/thresholds.csv"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "large_lesion_min,2.0,cm,2015-09-21,,",
        "large_lesion_min,2.0,cm,2015-09-21,2022-12-31,\"Before the change.\"\nlarge_lesion_min,1.5,cm,2023-01-01,,"),
        encoding="utf-8")
    path = root / "data/covered_diagnoses.csv"
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    header = lines.index("code")
    lines[header] = "code,effective_from,effective_to"
    lines = [f"{line},," if i > header and line and not line.startswith("#") else line for i, line in enumerate(lines)]
    lines = [f"{line.split(',')[0]},,2021-12-31" if line.startswith(("C44.311", "C43.3")) else line for line in lines]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Policy(root)


def test_dated_rows_are_followed_on_both_sides_of_their_dates(compiled, tmp_path):
    """A policy whose data change on dates (the size threshold lowered from 2023-01-01, a
    diagnosis covered only until 2021-12-31): the date of service is an input like the others,
    and the compiled answers follow clingo's on every day either side of every change."""
    policy = dated_policy(tmp_path)
    days = boundary_days(policy)
    assert {"2021-12-31", "2022-01-01", "2022-12-31", "2023-01-01"} <= set(days)
    rng = random.Random(31)
    cases = _valid([claim(rng, n, days) for n in range(3000)], policy)
    fast, ref = _compiled(policy, cases), _clingo(policy, cases)
    assert fast == ref
    assert fastpath.engine_for(policy).stats["compiled"] > 0.9 * len(cases)
    assert fast != _compiled(POLICY, cases)  # the dated rows changed some answers
    for day in ("2021-12-31", "2022-01-01", "2022-12-31", "2023-01-01"):
        assert any(c.date_of_service.isoformat() == day for c in cases)


def test_a_fault_in_the_compiled_engine_costs_no_answer(compiled, monkeypatch):
    """An unexpected error inside the compiled engine turns it off for the policy; clingo answers."""
    cases = _claims(29, 400, POLICY)
    _compiled(POLICY, cases[:200])

    def broken(*args):
        raise RuntimeError("a fault")

    monkeypatch.setattr(fastpath, "_evaluate", broken)
    assert _compiled(POLICY, cases) == _clingo(POLICY, cases)
    assert "a fault" in fastpath.engine_for(POLICY).refused


def test_engine_clingo_turns_the_templates_off(monkeypatch):
    monkeypatch.setenv(fastpath.ENGINE_VARIABLE, "clingo")
    fastpath._ENGINES.clear()
    cases = _claims(9, 300, POLICY)
    assert _compiled(POLICY, cases) == _clingo(POLICY, cases)
    assert id(POLICY) not in fastpath._ENGINES


def test_the_analysis_reads_the_shipped_policy_as_documented(compiled):
    """How each input sort may stand in: line numbers by rank, lesions and codes for
    themselves; the diagnosis, the size and the site too, since the firing records of the
    rules whose `% because:` words name them (`__said`, records.py) show their values, each
    rule's record its own position (the records of two rules never join two sorts)."""
    cases = _claims(13, 300, POLICY)
    fastpath.solve(POLICY, cases)
    engine = fastpath.engine_for(POLICY)
    a = engine.analysis
    kind = {name: a.kind(((name, arity, arity - 1),)) for name, arity in a.input_arities.items()}
    assert kind["diagnosis"] == "injective" and kind["size_um"] == "injective" and kind["site"] == "injective"
    assert kind["line"] == "injective" and kind["histology"] == "injective"
    assert len({a.root(((name, 3, 2),)) for name in ("diagnosis", "size_um", "site", "histology")}) == 4
    assert a.kind((("line", 3, 1),)) == "injective" and a.sort((("line", 3, 1),)).ordered  # line numbers: ranks
    assert a.kind((("case", 1, 0),)) == "case"
    dx = engine.maps[a.root((("diagnosis", 3, 2),))]
    assert not dx.ordered and len(dx.fixed) >= len(POLICY.data.covered_diagnoses)  # the listed codes stand for themselves


def test_a_template_from_the_disk_cache_answers_as_a_fresh_one(compiled, monkeypatch, tmp_path):
    monkeypatch.setenv(cache.CACHE_VARIABLE, str(tmp_path / "cache"))
    cases = _claims(17, 1000, POLICY)
    fresh = _compiled(POLICY, cases)
    assert not fastpath.engine_for(POLICY).templates[0].from_cache
    assert list((tmp_path / "cache").glob("*.template"))
    fastpath._ENGINES.clear()
    again = _compiled(POLICY, cases)
    assert fastpath.engine_for(POLICY).templates[0].from_cache
    assert again == fresh == _clingo(POLICY, cases)


def test_an_edited_rule_is_never_served_a_cached_template(compiled, monkeypatch, tmp_path):
    monkeypatch.setenv(cache.CACHE_VARIABLE, str(tmp_path / "cache"))
    cases = _claims(19, 600, POLICY)
    shipped = _compiled(POLICY, cases)
    root = copy_policy(tmp_path / "policy")
    path = root / "logic/indications.lp"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "indication(C,L,irradiated_skin) :- previously_irradiated(C,L,true).",
        "indication(C,L,irradiated_skin) :- previously_irradiated(C,L,false)."), encoding="utf-8")
    edited = Policy(root)
    fast = _compiled(edited, cases)
    assert fast == _clingo(edited, cases)
    assert not fastpath.engine_for(edited).templates[0].from_cache
    assert fast != shipped


@pytest.mark.parametrize("spoil", ["garbage", "unwritable"])
def test_a_broken_cache_only_costs_a_build(spoil, compiled, monkeypatch, tmp_path):
    folder = tmp_path / "cache"
    cases = _claims(23, 600, POLICY)
    if spoil == "garbage":
        monkeypatch.setenv(cache.CACHE_VARIABLE, str(folder))
        _compiled(POLICY, cases)
        for file in folder.glob("*.template"):
            file.write_bytes(b"not a template")
        fastpath._ENGINES.clear()
    else:
        folder.write_text("a file where the folder would go")
        monkeypatch.setenv(cache.CACHE_VARIABLE, str(folder / "templates"))
    assert _compiled(POLICY, cases) == _clingo(POLICY, cases)
    assert not fastpath.engine_for(POLICY).templates[0].from_cache


@pytest.mark.skipif(EXE is None, reason="mohs-asp is not installed in this environment")
def test_batch_writes_the_same_bytes_with_and_without_the_templates(tmp_path):
    path = bench_file(tmp_path, 3000, 2)
    (clingo, ok), (auto, fast) = batch_outputs(path, [], [{fastpath.ENGINE_VARIABLE: "clingo"}, {fastpath.ENGINE_VARIABLE: "auto"}])
    assert clingo == auto == 0 and ok == fast


def test_a_template_build_past_the_memory_limit_is_refused_and_clingo_answers(compiled, monkeypatch, tmp_path):
    """Grounding over open inputs is done in a child under the work limits: when its memory
    runs out there (clingo's allocation fails), the build is refused (no template, the reason
    kept) and every case gets clingo's answer all the same."""
    from mohs_asp.engine import limits
    from mohs_asp.engine.fastpath import template

    if not limits.FORKS:
        pytest.skip("the limits need fork")

    def out_of_memory(*args):
        raise MemoryError("std::bad_alloc")

    monkeypatch.setenv(cache.CACHE_VARIABLE, str(tmp_path / "cache"))  # no template from the disk
    monkeypatch.setattr(template, "_ground_and_compile", out_of_memory)
    cases = _claims(21, 300, POLICY)
    fast = _compiled(POLICY, cases)
    engine = fastpath.engine_for(POLICY)
    assert not engine.templates and "memory" in engine.last_failure, engine.refused
    assert fast == _clingo(POLICY, cases)


@pytest.mark.skipif(EXE is None, reason="mohs-asp is not installed in this environment")
def test_a_template_and_analysis_cached_by_one_process_answer_alike_in_another(tmp_path):
    """The cache is read by later processes, where a clingo symbol's handle (a pointer) means
    nothing: what it keeps must be written as text (a symbol pickled as its handle crashed the
    process that loaded it). Three runs: clingo, then one that builds and keeps the template
    and the sort analysis, then one that loads both."""
    bench = _bench_generator()
    rng = random.Random(5)
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps(bench(rng, n), default=str) + "\n" for n in range(1500)), encoding="utf-8")
    env = {**__import__("os").environ, cache.CACHE_VARIABLE: str(tmp_path / "cache")}
    outputs = []
    for engine in ("clingo", "auto", "auto"):
        out = tmp_path / f"{len(outputs)}.jsonl"
        result = subprocess.run([EXE, "batch", str(path), "--out", str(out)], capture_output=True, timeout=300,
                                env={**env, fastpath.ENGINE_VARIABLE: engine})
        assert result.returncode == 0, result.stderr
        outputs.append(out.read_bytes())
        if len(outputs) == 2:
            assert len(list((tmp_path / "cache").glob("*.template"))) >= 2  # the template and the analysis
    assert outputs[0] == outputs[1] == outputs[2]


def test_the_cache_writes_a_clingo_symbol_as_its_text(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_VARIABLE, str(tmp_path))
    symbols = [clingo.Function("site", [clingo.String("nose"), clingo.Number(3)]), clingo.Function("true")]
    cache.save("symbols", {"values": symbols})
    script = ("import sys, clingo; from mohs_asp.engine.fastpath import cache; "
              "print([str(s) for s in cache.load('symbols')['values']])")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                            env={**__import__("os").environ, cache.CACHE_VARIABLE: str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str([str(s) for s in symbols])
