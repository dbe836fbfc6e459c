#!/usr/bin/env python3
"""Throughput and peak memory of `mohs-asp batch` on generated claims (seeded, reproducible).

    python scripts/bench_batch.py [--cases N] [--workers N] [--seed S] [--keep FILE] [--distinct-lesion-ids]

Writes N cases as JSON Lines (1-3 lesions, 0-5 lines, a realistic mix of sites, codes and
diagnoses; about 3% invalid cases and 0.5% lines that are not JSON), runs `mohs-asp batch`
on them as a subprocess, checks that every line got its answer, and prints the wall time
(Python start-up included), cases/s, the CPU time of all its processes (a figure that moves
less than wall time when other work shares the machine) and the peak resident memory of the
largest of its processes (resource.getrusage RUSAGE_CHILDREN, ru_maxrss).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", type=Path, default=None, help="write the generated cases here and keep them")
    parser.add_argument("--distinct-lesion-ids", action="store_true",
                        help="no lesion id used twice in the file (clingo keeps every symbol: the worst case for memory)")
    args = parser.parse_args()
    exe = shutil.which("mohs-asp", path=str(Path(sys.executable).parent)) or shutil.which("mohs-asp")
    if exe is None:
        print("mohs-asp is not installed in this environment", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        cases = args.keep or Path(tmp) / "cases.jsonl"
        out = Path(tmp) / "answers.jsonl"
        write_cases(cases, args.cases, args.seed, args.distinct_lesion_ids)
        cmd = [exe, "batch", str(cases), "--out", str(out)]
        if args.workers:
            cmd += ["--workers", str(args.workers)]
        start = time.perf_counter()
        result = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
        seconds = time.perf_counter() - start
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak_mib, cpu = usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime
        if result.returncode != 0:
            print(f"mohs-asp batch exited {result.returncode}:\n{result.stderr}", file=sys.stderr)
            return 1
        with out.open(encoding="utf-8") as f:
            answers = sum(1 for _ in f)
        print(result.stderr.rstrip())
    print(f"cases                {args.cases:>10,}")
    print(f"answers              {answers:>10,}{'' if answers == args.cases else '  MISMATCH'}")
    print(f"wall time            {seconds:>10.2f} s (Python start-up included)")
    print(f"throughput           {args.cases / seconds:>10,.0f} cases/s")
    print(f"CPU time             {cpu:>10.2f} s, all processes ({cpu / args.cases * 1e6:,.0f} us a case)")
    print(f"peak memory          {peak_mib:>10,.0f} MiB (largest single process, ru_maxrss)")
    return 0 if answers == args.cases else 1


if __name__ == "__main__":
    sys.exit(main())
