"""Explanations reused (mohs_asp/explain/reuse.py) against explanations solved afresh: the same
answers, byte for byte.

The solver's explanation is the reference: every case is explained with reuse on (as batch
--explain runs it, chunk after chunk in one process) and with MOHS_ASP_REUSE=off, and the two
must be equal as `json.dumps(..., sort_keys=True)` writes them. A rule that reads beyond its
lesion makes its indication not reusable, and such a policy is still explained rightly.
"""

from __future__ import annotations

import json
import random

import pytest
from helpers import EXE, batch_outputs, copy_policy
from strategies import POLICY, boundary_days, claim

from mohs_asp import api
from mohs_asp.case.check import parse_case
from mohs_asp.engine import fastpath
from mohs_asp.explain import reuse
from mohs_asp.policy.load import Policy
from test_fastpath import _bench_generator, _valid, bench_file, dated_policy

CHUNK = 500


def _explained(policy, cases: list) -> list[str]:
    out = []
    for i in range(0, len(cases), CHUNK):
        out += [json.dumps(a, sort_keys=True) for a in api.answer(cases[i:i + CHUNK], policy, CHUNK, explain=True)]
    return out


@pytest.fixture
def fresh(monkeypatch):
    """The compiled engine on for any number of cases; no templates or kept entries from another test."""
    monkeypatch.setenv(fastpath.ENGINE_VARIABLE, "compiled")
    fastpath._ENGINES.clear()
    reuse._REUSE.clear()
    yield monkeypatch
    fastpath._ENGINES.clear()
    reuse._REUSE.clear()


def _both(policy, cases: list, monkeypatch) -> tuple[list[str], list[str]]:
    reused = _explained(policy, cases)
    monkeypatch.setenv(reuse.VARIABLE, "off")
    solved = _explained(policy, cases)
    monkeypatch.delenv(reuse.VARIABLE)
    return reused, solved


def test_reused_explanations_are_the_solvers_byte_for_byte(fresh):
    """The benchmark's cases and the edge generator's (thresholds, every site and code set, up
    to 6 lesions, every day either side of a date): even here (the edge cases are chosen to
    differ) most cases are explained from entries kept from others, and every answer is the
    one the solver gives it."""
    bench = _bench_generator()
    rng = random.Random(2027)
    docs = [bench(rng, n) for n in range(3000)] + [claim(rng, n) for n in range(2000)]
    cases = _valid(docs, POLICY)
    learned = []
    real = reuse.Reuse.learn
    fresh.setattr(reuse.Reuse, "learn", lambda self, some, keys: learned.extend(some) or real(self, some, keys))
    reused, solved = _both(POLICY, cases, fresh)
    bad = [(a, b) for a, b in zip(reused, solved) if a != b]
    assert not bad, f"{len(bad)} of {len(cases)} differ; the first:\nreused {bad[0][0]}\nsolved {bad[0][1]}"
    assert len(learned) < 0.6 * len(cases), f"{len(learned)} of {len(cases)} cases were solved to learn their entries"


def test_dated_rows_are_reused_only_on_their_own_side_of_their_dates(fresh, tmp_path):
    """A threshold lowered from 2023-01-01 and a diagnosis covered only until 2021-12-31: the
    date of service stands in keys by the stretch between the data's dates, so a day either side
    of a change never borrows the other side's explanation."""
    policy = dated_policy(tmp_path)
    days = boundary_days(policy)
    assert {"2021-12-31", "2022-01-01", "2022-12-31", "2023-01-01"} <= set(days)
    rng = random.Random(41)
    cases = _valid([claim(rng, n, days) for n in range(2500)], policy)
    reused, solved = _both(policy, cases, fresh)
    assert reused == solved
    kept = reuse._REUSE[policy]
    assert kept.classify is not None and not kept.shows_date
    assert kept.keys(cases[0]) is not None


def test_an_indication_read_beyond_its_lesion_is_not_reused(fresh, tmp_path):
    """A rule that gives a lesion an indication from another lesion's facts: its indication's
    explanation is not keyed by the lesion's facts (it could not be), so the policy is solved
    for every case, and explained rightly."""
    root = copy_policy(tmp_path / "policy")
    with (root / "logic/indications.lp").open("a", encoding="utf-8") as f:
        f.write("\nindication(C,L,recurrent_or_incomplete) :- lesion(C,L), recurrent(C,L2,true), L != L2.\n")
    policy = Policy(root)
    rng = random.Random(5)
    cases = _valid([claim(rng, n) for n in range(600)], policy)
    assert len(cases) > 400
    reused, solved = _both(policy, cases, fresh)
    assert reused == solved
    kept = reuse._REUSE[policy]
    assert kept.reads["recurrent_or_incomplete"] is None
    assert kept.reads["irradiated_skin"] is not None  # the others are read as before
    assert kept.keys(cases[0]) is None and not kept.entries


def test_a_rule_whose_words_show_the_date_keys_by_the_date_itself(fresh, tmp_path):
    """An indication whose words name the date of service: its explanation differs from day to
    day, so the date stands for itself in keys."""
    root = copy_policy(tmp_path / "policy")
    with (root / "logic/indications.lp").open("a", encoding="utf-8") as f:
        f.write('\n% because: "lesion {L} is treated on {D:date}, past the study\'s start"\n'
                "indication(C,L,high_risk_metastasis) :- lesion(C,L), date_of_service(C,D), D >= 20260601.\n")
    policy = Policy(root)
    rng = random.Random(8)
    cases = _valid([claim(rng, n, ["2026-05-31", "2026-06-01", "2026-06-02", "2026-07-15"]) for n in range(800)], policy)
    reused, solved = _both(policy, cases, fresh)
    assert reused == solved
    assert reuse._REUSE[policy].shows_date


def test_keys_hold_only_the_facts_an_indication_reads():
    """Two lesions that differ only in size share every entry but the large lesion's; the size
    in other words (mm for cm) is another key, since the words show it."""
    view = reuse.policy_view(POLICY)
    kept = reuse.Reuse(POLICY, view)
    base = {"id": "k", "date_of_service": "2026-03-02",
            "lesions": [{"id": "A", "diagnosis": "C44.311", "site": "nose", "size_cm": 1.2, "recurrent": True}],
            "lines": [{"code": "17311", "lesion": "A"}]}
    other = json.loads(json.dumps(base))
    other["lesions"][0]["size_cm"] = 2.5
    mm = json.loads(json.dumps(base))
    del mm["lesions"][0]["size_cm"]
    mm["lesions"][0]["size_mm"] = 12
    [(a, _)], [(b, _)], [(c, _)] = (kept.keys(parse_case(d, POLICY)) for d in (base, other, mm))
    names = list(view.indications)
    differ = {names[i] for i in range(len(names)) if a[i] != b[i]}
    assert differ == {"large_lesion"}
    assert {names[i] for i in range(len(names)) if a[i] != c[i]} == {"large_lesion"}


@pytest.mark.skipif(EXE is None, reason="mohs-asp is not installed in this environment")
def test_batch_explain_writes_the_same_bytes_with_and_without_reuse(tmp_path):
    path = bench_file(tmp_path, 2500, 12)
    (off, solved), (on, reused) = batch_outputs(path, ["--explain"], [{reuse.VARIABLE: "off"}, {reuse.VARIABLE: "on"}])
    assert off == on == 0 and solved == reused


def test_a_case_is_explained_alike_alone_and_among_others(fresh):
    """A case's explanation does not depend on the cases solved with it: the solver's records
    are put in the order of their values, not the model's (which follows the whole chunk)."""
    fresh.setenv(reuse.VARIABLE, "off")
    rng = random.Random(428)
    cases = _valid([claim(rng, n) for n in range(300)], POLICY)
    together = _explained(POLICY, cases)
    assert together == [json.dumps(next(api.answer([c], POLICY, 1, explain=True)), sort_keys=True) for c in cases]


def test_lesion_ids_that_never_repeat_are_explained_from_kept_entries(fresh):
    """A lesion's id only names it (the rules never compare it): entries are kept with the id
    left out and named again where reused, so a file whose ids never repeat reuses them as
    much as one that calls every first lesion A; the answers are the solver's."""
    bench = _bench_generator()
    rng = random.Random(77)
    cases = _valid([bench(rng, n, True) for n in range(2500)], POLICY)
    assert len({lesion.id for case in cases for lesion in case.lesions}) == sum(len(case.lesions) for case in cases)
    learned = []
    real = reuse.Reuse.learn
    fresh.setattr(reuse.Reuse, "learn", lambda self, some, keys: learned.extend(some) or real(self, some, keys))
    reused, solved = _both(POLICY, cases, fresh)
    assert reused == solved
    assert len(learned) < 0.4 * len(cases)


def test_a_fault_in_reuse_costs_no_answer(fresh):
    """An unexpected error while entries are learnt turns reuse off for the policy: the cases
    are explained by the solver, as without reuse."""
    rng = random.Random(9)
    cases = _valid([claim(rng, n) for n in range(300)], POLICY)
    assert len(cases) > 200
    fresh.setattr(reuse.Reuse, "learn", lambda self, some, keys: 1 / 0)
    reused = _explained(POLICY, cases)
    assert reuse._REUSE[POLICY].refused.startswith("learning failed (ZeroDivisionError")
    fresh.setenv(reuse.VARIABLE, "off")
    assert reused == _explained(POLICY, cases)


@pytest.mark.skipif(EXE is None, reason="mohs-asp is not installed in this environment")
def test_reuse_and_no_reuse_agree_under_a_tight_memory_limit(tmp_path):
    """Under MOHS_ASP_MEMORY_MB=9, three cases of 100 lesions (200 biopsy lines naming 50 each)
    among 97 small ones: with reuse the small cases are explained in this process and the
    large ones in a child, refused as too large; without it the chunk's child runs out of
    memory, and each case is then run alone, with the same answers. (Found by a probe:
    clingo's bad_alloc was reported as a broken policy, exit 3, and glibc's abort for a thread
    it could not allocate as an internal error, exit 4; both are the memory limit.)"""
    sites = ["nose", "back", "scalp", "lower_leg"]

    def big(n):
        lesions = [{"id": f"L{i}", "diagnosis": "C44.311", "site": sites[i % 4], "size_cm": 1.5} for i in range(100)]
        lines = [{"code": "11102" if j % 2 else "11103", "lesions": [f"L{(j * 7 + 3 * x) % 100}" for x in range(50)]}
                 for j in range(200)]
        return {"id": f"big-{n}", "date_of_service": "2026-05-02", "lesions": lesions,
                "lines": lines + [{"code": "17311", "lesion": "L0"}]}

    small = {"date_of_service": "2026-05-02", "lines": [{"code": "17311", "lesion": "A"}],
             "lesions": [{"id": "A", "diagnosis": "C44.311", "site": "nose", "size_cm": 1.0}]}
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in [big(n) for n in range(3)] +
                            [{"id": f"small-{n}", **small} for n in range(97)]), encoding="utf-8")
    settings = [{reuse.VARIABLE: setting, "MOHS_ASP_MEMORY_MB": "9"} for setting in ("off", "on")]
    solved, reused = batch_outputs(path, ["--explain"], settings)
    assert solved == reused
