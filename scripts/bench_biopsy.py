"""How `check` grounds many biopsy lines that name many lesions (issue 10, item 6).

A case of 100 lesions and N pre-surgical biopsy lines, each naming every lesion, is answered
with the shipped policy and with a copy whose `biopsy_lesion_already_biopsied` compares every
pair of lines naming a lesion (the rule as it was, quadratic in the lines); the two are timed
interleaved in this process, best of --repeat, with the ratio. Both must give the same answer.

    python scripts/bench_biopsy.py [--lines 125 250 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from mohs_asp import api


def check(doc, policy):
    return next(api.answer([doc], policy))
from mohs_asp.policy.load import default_root, load_policy

SHIPPED = "denied(C,N) :- presurgical_biopsy(C,N), line_lesion(C,N,L,_), first_biopsy(C,L,M), M < N."
PAIRWISE = "denied(C,N) :- presurgical_biopsy(C,N), line_lesion(C,N,L,P), presurgical_biopsy(C,M), line_lesion(C,M,L,Q), M < N."


def case(lesions: int, lines: int) -> dict:
    ids = [f"L{i}" for i in range(lesions)]
    return {"id": f"biopsies-{lesions}x{lines}", "date_of_service": "2026-03-01",
            "lesions": [{"id": i, "diagnosis": "C44.519", "site": "back"} for i in ids],
            "lines": [{"line": n + 1, "code": "11102", "lesions": ids, "units": 99} for n in range(lines)]}


def pairwise_policy(folder: Path) -> Path:
    for part in ("logic", "data"):
        shutil.copytree(default_root() / part, folder / part)
    claims = folder / "logic" / "claims.lp"
    text = claims.read_text()
    assert SHIPPED in text, "the shipped rule changed: update this script"
    claims.write_text(text.replace(SHIPPED, PAIRWISE))
    return folder


def best(doc: dict, policy, repeat: int) -> tuple[float, dict]:
    times, answer = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        answer = check(doc, policy)
        times.append(time.perf_counter() - start)
    return min(times), answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lesions", type=int, default=100)
    parser.add_argument("--lines", type=int, nargs="+", default=[125, 250, 500])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    shipped = load_policy()
    with tempfile.TemporaryDirectory() as tmp:
        old = load_policy(pairwise_policy(Path(tmp)))
        check(case(2, 2), shipped), check(case(2, 2), old)  # parse both policies first
        print(f"{'lesions':>7} {'lines':>5} {'pairs':>7}  {'shipped':>9}  {'pairwise':>9}  ratio")
        for lines in args.lines:
            doc = case(args.lesions, lines)
            new_times, old_times = [], []
            for _ in range(args.repeat):  # interleaved: the machine's speed drifts alike for both
                t, new_answer = best(doc, shipped, 1)
                new_times.append(t)
                t, old_answer = best(doc, old, 1)
                old_times.append(t)
            assert new_answer == old_answer, "the two rules answer differently"
            new_t, old_t = min(new_times), min(old_times)
            print(f"{args.lesions:>7} {lines:>5} {args.lesions * lines:>7}  {new_t:>8.3f}s  {old_t:>8.3f}s  "
                  f"{old_t / new_t:>5.1f}x")


if __name__ == "__main__":
    main()
