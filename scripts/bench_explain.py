#!/usr/bin/env python3
"""What explanations cost, each against its reference from the same run, interleaved, best of
several runs:

- `mohs-asp explain CASE --format json` against `mohs-asp check CASE --format json` (issue 11:
  explain within 2x check), on CASE and on a generated large case (20 lesions, 60 lines, half
  the lesions meeting no indication: scripts/bench_check.py's);
- `mohs-asp batch --explain` against plain `mohs-asp batch` on N generated cases
  (scripts/bench_batch.py's generator; issue 12: explained batch within 3x plain batch).

    python scripts/bench_explain.py [CASE] [--runs N] [--cases N] [--batch-runs N] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_batch import write_cases  # noqa: E402
from bench_check import DEFAULT_CASE, large_case  # noqa: E402


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    seconds = time.perf_counter() - start
    if result.returncode not in (0, 1):  # 1: a case not covered, which is an answer
        raise SystemExit(f"{' '.join(cmd)} exited {result.returncode}: {result.stderr.decode()[-2000:]}")
    return seconds


def best_of(commands: dict[str, list[str]], runs: int) -> dict[str, float]:
    """Each command's best time over `runs` rounds, the commands taking turns in each round."""
    best = {name: float("inf") for name in commands}
    for _ in range(runs):
        for name, cmd in commands.items():
            best[name] = min(best[name], timed(cmd))
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("case", nargs="?", default=str(DEFAULT_CASE))
    parser.add_argument("--runs", type=int, default=10, help="rounds for check and explain")
    parser.add_argument("--cases", type=int, default=20_000, help="generated cases for batch (0: no batch figures)")
    parser.add_argument("--batch-runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    exe = shutil.which("mohs-asp", path=str(Path(sys.executable).parent)) or shutil.which("mohs-asp")
    if exe is None:
        print("mohs-asp is not installed in this environment", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        large = Path(tmp) / "large.case.json"
        large.write_text(json.dumps(large_case()))
        one = best_of({"check": [exe, "check", args.case, "--format", "json"],
                       "explain": [exe, "explain", args.case, "--format", "json"],
                       "large check": [exe, "check", str(large), "--format", "json"],
                       "large explain": [exe, "explain", str(large), "--format", "json"]}, args.runs)
        print(f"check --format json            {one['check'] * 1000:8.1f} ms  (best of {args.runs}, interleaved)")
        print(f"explain --format json          {one['explain'] * 1000:8.1f} ms  explain / check "
              f"{one['explain'] / one['check']:.2f} (target <= 2)")
        print(f"large case check               {one['large check'] * 1000:8.1f} ms")
        print(f"large case explain             {one['large explain'] * 1000:8.1f} ms  explain / check "
              f"{one['large explain'] / one['large check']:.2f}")
        if args.cases:
            cases = Path(tmp) / "cases.jsonl"
            write_cases(cases, args.cases, args.seed)
            workers = ["--workers", str(args.workers)] if args.workers else []
            batch = best_of({"plain": [exe, "batch", str(cases), "--out", str(Path(tmp) / "plain.jsonl"), *workers],
                             "explain": [exe, "batch", str(cases), "--out", str(Path(tmp) / "explained.jsonl"),
                                         "--explain", *workers]}, args.batch_runs)
            print(f"batch, {args.cases:,} cases          {batch['plain']:8.2f} s   ({args.cases / batch['plain']:,.0f} cases/s, "
                  f"best of {args.batch_runs}, interleaved)")
            print(f"batch --explain                {batch['explain']:8.2f} s   ({args.cases / batch['explain']:,.0f} cases/s)"
                  f"  explained / plain {batch['explain'] / batch['plain']:.2f} (target <= 3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
