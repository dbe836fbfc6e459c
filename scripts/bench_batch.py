#!/usr/bin/env python3
"""Throughput and peak memory of `mohs-asp batch`, beside a plain-Python evaluation of the same
policy on the same file (seeded, reproducible).

    python scripts/bench_batch.py [--cases N] [--runs R] [--workers N] [--seed S] [--keep FILE]
                                  [--no-explain] [--clingo] [--distinct-lesion-ids]

Writes N cases as JSON Lines (1-3 lesions, 0-5 lines, a realistic mix of sites, codes and
diagnoses; about 3% invalid cases and 0.5% lines that are not JSON), then runs, R times and
interleaved (so that a change in the machine's load hits every contender alike), each as a
whole process from the same file:

- `mohs-asp batch FILE --out A` (plain batch; after the first run its compiled template
  comes from the disk cache, see README "The compiled engine");
- the same with `MOHS_ASP_CACHE=off` (the template built in the run);
- `python scripts/plain_policy.py FILE B`: the yardstick, the policy restated by hand in
  plain Python, one process (not part of the package; see its docstring);
- `mohs-asp batch FILE --explain --out C` (unless --no-explain);
- with --clingo, `MOHS_ASP_ENGINE=clingo mohs-asp batch` (every case through clingo).

For each it prints the best wall time of the runs (Python start-up included), cases/s, the
CPU time of all its processes, their peak resident memory (largest single process,
ru_maxrss), and the ratios: batch against the yardstick, explained batch against plain
batch. It checks that every line got an answer and that the yardstick's answers equal
batch's on every valid case (a yardstick that drifted from the policy would show here).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SITES_HEAD = ["nose", "cheek", "forehead", "temple", "ear", "lip", "eyelid", "scalp", "neck", "chin",
              "periorbital", "jawline", "periauricular", "eyebrow"]
SITES_BODY = ["back", "chest", "shoulder", "upper_arm", "forearm", "thigh", "lower_leg", "pretibial",
              "abdomen", "ankle", "nipple_areola"]
SITES_OTHER = ["hand", "finger", "foot", "toe", "nail_unit", "genitalia", "perianal"]
COVERED = ["C44.311", "C44.319", "C44.41", "C44.511", "C44.519", "C44.611", "C44.712", "C44.01", "C44.92",
           "D04.39", "D04.5", "D04.61", "D03.30", "C43.31", "C4A.39", "C44.1121", "D04.4", "C44.222"]
NOT_COVERED = ["L57.0", "D22.5", "D23.9", "L82.1", "D48.9", "C46.0"]
INVALID_DX = ["C44", "C44.3", "X99.9", "C44.31"]  # not a code, or a category
HISTOLOGY = ["nodular", "superficial", "infiltrative", "morpheaform", "micronodular", "sclerotic",
             "perineural", "well_differentiated", "poorly_differentiated", "in_situ", "Spiky shaped"]
OTHER_CODES = ["99213", "99214", "J3301", "17000", "96372", "0479T"]


def _lesion(rng: random.Random, lid: str) -> dict:
    site = rng.choice(rng.choices([SITES_HEAD, SITES_BODY, SITES_OTHER], weights=[60, 30, 10])[0])
    dx = rng.choice(COVERED) if rng.random() < 0.85 else rng.choice(NOT_COVERED)
    lesion: dict = {"id": lid, "diagnosis": dx if rng.random() < 0.8 else dx.replace(".", "").lower(), "site": site}
    if rng.random() < 0.8:
        if rng.random() < 0.7:
            lesion["size_cm"] = round(rng.uniform(0.3, 3.5), 1)
        else:
            lesion["size_mm"] = rng.randint(3, 35)
    if rng.random() < 0.5:
        lesion["borders"] = rng.choice(["well_defined", "ill_defined"])
    if rng.random() < 0.6:
        lesion["histology"] = rng.sample(HISTOLOGY, rng.randint(1, 2))
    for flag in ("recurrent", "incompletely_excised", "previously_irradiated", "rapid_growth",
                 "high_risk_metastasis", "deep_structures"):
        if rng.random() < 0.2:
            lesion[flag] = rng.random() < 0.3
    return lesion


def _lines(rng: random.Random, lesions: list[dict]) -> list[dict]:
    out: list[dict] = []
    for lesion in lesions:
        if len(out) >= 5:
            break
        lid = lesion["id"]
        head = lesion["site"] in SITES_HEAD or lesion["site"] in SITES_OTHER
        if rng.random() < 0.8:  # MMS, usually the right family
            first = "17311" if head == (rng.random() < 0.92) else "17313"
            out.append({"code": first, "lesion": lid})
            if rng.random() < 0.3:
                out.append({"code": "17312" if first == "17311" else "17314", "lesion": lid})
        extra = rng.choices(["88331", "88305", "11102", "13132", "14040", "15260", None],
                            weights=[25, 15, 15, 10, 10, 3, 22], k=rng.randint(0, 2))
        for code in extra:
            if code:
                line = {"code": code, "lesion": lid}
                if code == "11102" and rng.random() < 0.4:
                    line["pre_surgical"] = True
                out.append(line)
    if rng.random() < 0.15:
        out.append({"code": rng.choice(OTHER_CODES)})
    if len(lesions) >= 2 and rng.random() < 0.1:
        out.append({"code": "11103", "lesions": [lesions[0]["id"], lesions[1]["id"]], "units": rng.choice([1, 2])})
    out = out[:5]
    for i, line in enumerate(out, start=1):
        if rng.random() < 0.7:
            line["line"] = i
    return out


def case(rng: random.Random, n: int, distinct_ids: bool = False) -> dict:
    lesions = [_lesion(rng, f"{n}-{'ABC'[i]}" if distinct_ids else "ABC"[i]) for i in range(rng.choice([1, 1, 1, 2, 2, 3]))]
    doc: dict = {"id": f"claim-{n:07d}", "date_of_service": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"}
    if rng.random() < 0.15:
        doc["patient"] = {"immunosuppressed": rng.random() < 0.5}
    doc["lesions"] = lesions
    doc["lines"] = _lines(rng, lesions)
    roll = rng.random()  # about 3% invalid cases of a few kinds
    if roll < 0.008:
        lesions[0]["diagnosis"] = rng.choice(INVALID_DX)
    elif roll < 0.016:
        lesions[0]["site"] = "nsoe"
    elif roll < 0.022:
        lesions[0]["size_c"] = 1.0
    elif roll < 0.027:
        doc["lines"].append({"code": "1731"})
    elif roll < 0.030:
        del doc["date_of_service"]
    return doc


def write_cases(path: Path, count: int, seed: int, distinct_ids: bool = False) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        for n in range(count):
            if rng.random() < 0.005:  # a line that is not JSON at all
                f.write(rng.choice(['{"id": "cut-off", "lesions": [', "not json", "{'id': 'single quotes'}"]) + "\n")
            else:
                f.write(json.dumps(case(rng, n, distinct_ids), separators=(",", ":")) + "\n")


def _measure(cmd: list[str], env: dict | None = None) -> tuple[float, float, float, str]:
    """(wall s, CPU s of every process, peak MiB of the largest, stderr) of one whole run,
    measured from a fresh helper process (so that ru_maxrss is this run's own)."""
    probe = ("import resource,subprocess,sys,time\n"
             "t=time.perf_counter();r=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.PIPE)\n"
             "w=time.perf_counter()-t;u=resource.getrusage(resource.RUSAGE_CHILDREN)\n"
             "sys.stderr.buffer.write(r.stderr)\n"
             "print(r.returncode,w,u.ru_utime+u.ru_stime,u.ru_maxrss/1024)")
    result = subprocess.run([sys.executable, "-c", probe, *cmd], capture_output=True, text=True, env=env, check=False)
    if len(result.stdout.split()) != 4:
        raise SystemExit(f"{' '.join(cmd)}: the measuring process failed:\n{result.stderr}")
    code, wall, cpu, peak = result.stdout.split()
    if code != "0":
        raise SystemExit(f"{' '.join(cmd)} exited {code}:\n{result.stderr}")
    return float(wall), float(cpu), float(peak), result.stderr


def _agreement(batch_out: Path, plain_out: Path) -> tuple[int, int]:
    """(valid cases on which the two agree, cases on which they do not)."""
    same = differ = 0
    with batch_out.open(encoding="utf-8") as a, plain_out.open(encoding="utf-8") as b:
        for x, y in zip(a, b):
            x, y = json.loads(x), json.loads(y)
            if x["status"] == "ok" or y["status"] == "ok":
                if x == y:
                    same += 1
                else:
                    differ += 1
            elif x["status"] != y["status"]:
                differ += 1
    return same, differ


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3, help="runs of each contender, interleaved; the best counts")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", type=Path, default=None, help="write the generated cases here and keep them")
    parser.add_argument("--no-explain", action="store_true", help="leave out batch --explain")
    parser.add_argument("--clingo", action="store_true", help="also run batch with MOHS_ASP_ENGINE=clingo")
    parser.add_argument("--distinct-lesion-ids", action="store_true",
                        help="no lesion id used twice in the file (clingo keeps every symbol: the worst case for memory)")
    args = parser.parse_args()
    exe = shutil.which("mohs-asp", path=str(Path(sys.executable).parent)) or shutil.which("mohs-asp")
    if exe is None:
        print("mohs-asp is not installed in this environment", file=sys.stderr)
        return 2
    plain = Path(__file__).resolve().parent / "plain_policy.py"
    import mohs_asp
    from mohs_asp.policy.load import load_policy

    record = ["--digest", load_policy().digest, "--engine-version", mohs_asp.__version__]  # the decision record's constants
    with tempfile.TemporaryDirectory() as tmp:
        cases = args.keep or Path(tmp) / "cases.jsonl"
        write_cases(cases, args.cases, args.seed, args.distinct_lesion_ids)
        workers = ["--workers", str(args.workers)] if args.workers else []
        out = {name: Path(tmp) / f"{name}.jsonl" for name in ("batch", "plain", "cold", "explain", "clingo")}
        contenders = {"batch": ([exe, "batch", str(cases), "--out", str(out["batch"]), *workers], None),
                      "plain": ([sys.executable, str(plain), str(cases), str(out["plain"]), *record], None),
                      "cold": ([exe, "batch", str(cases), "--out", str(out["cold"]), *workers],
                               {**os.environ, "MOHS_ASP_CACHE": "off"})}
        if not args.no_explain:
            contenders["explain"] = ([exe, "batch", str(cases), "--explain", "--out", str(out["explain"]), *workers], None)
        if args.clingo:
            contenders["clingo"] = ([exe, "batch", str(cases), "--out", str(out["clingo"]), *workers],
                                    {**os.environ, "MOHS_ASP_ENGINE": "clingo"})
        best: dict[str, tuple] = {}
        summary = ""
        for _ in range(args.runs):
            for name, (cmd, env) in contenders.items():
                wall, cpu, peak, err = _measure(cmd, env)
                if name == "batch":
                    summary = err.strip()
                if name not in best or wall < best[name][0]:
                    best[name] = (wall, cpu, peak)
        for name in contenders:
            if name != "plain":
                with out[name].open(encoding="utf-8") as f:
                    answers = sum(1 for _ in f)
                if answers != args.cases:
                    print(f"{name}: {answers} answers for {args.cases} cases", file=sys.stderr)
                    return 1
        same, differ = _agreement(out["batch"], out["plain"])
    n = args.cases
    print(summary)
    print(f"cases {n:,}; best of {args.runs} interleaved runs each, whole processes, Python start-up included")
    print(f"{'':26}{'wall s':>8}{'cases/s':>10}{'CPU s':>8}{'CPU us/case':>12}{'peak MiB':>10}")
    labels = {"batch": "batch", "plain": "plain Python", "cold": "batch, no template cache",
              "explain": "batch --explain", "clingo": "batch, clingo only"}
    for name, (wall, cpu, peak) in best.items():
        print(f"{labels[name]:26.26}{wall:>8.2f}{n / wall:>10,.0f}{cpu:>8.2f}{cpu / n * 1e6:>12,.0f}{peak:>10,.0f}")
    b, p, c = best["batch"], best["plain"], best["cold"]
    print(f"batch / plain Python:       {b[0] / p[0]:.2f}x wall, {b[1] / p[1]:.2f}x CPU (target: within 2x)")
    print(f"  without the template cache {c[0] / p[0]:.2f}x wall, {c[1] / p[1]:.2f}x CPU (the template built in the run)")
    if "explain" in best:
        e = best["explain"]
        print(f"batch --explain / batch:    {e[0] / b[0]:.2f}x wall, {e[1] / b[1]:.2f}x CPU (target: within 3x)")
    if "clingo" in best:
        c = best["clingo"]
        print(f"clingo-only batch / batch:  {c[0] / b[0]:.2f}x wall, {c[1] / b[1]:.2f}x CPU")
    print(f"yardstick agrees with batch on {same:,} valid cases" + (f", DISAGREES on {differ:,}" if differ else ""))
    return 0 if not differ else 1


if __name__ == "__main__":
    sys.exit(main())
