#!/usr/bin/env python3
"""Latency of `mohs-asp check` on one case, against a bare `python -c pass` of the same
environment (median of several runs), and of `mohs-asp explain` against `check`.
Targets: check at most 150 ms above bare Python (issue 2); explain at most twice check (issue 3).

    python scripts/bench_check.py [CASE] [--runs N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
DEFAULT_CASE = HERE / "tests" / "examples" / "nose-bcc-covered.case.json"


def median_ms(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("case", nargs="?", default=str(DEFAULT_CASE))
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--target-ms", type=float, default=150.0)
    args = parser.parse_args()
    exe = shutil.which("mohs-asp", path=str(Path(sys.executable).parent)) or shutil.which("mohs-asp")
    if exe is None:
        print("mohs-asp is not installed in this environment", file=sys.stderr)
        return 2
    median_ms([exe, "check", args.case], 2)  # warm the file cache
    bare = median_ms([sys.executable, "-c", "pass"], args.runs)
    check = median_ms([exe, "check", args.case], args.runs)
    check_json = median_ms([exe, "check", args.case, "--format", "json"], args.runs)
    explain = median_ms([exe, "explain", args.case, "--format", "json"], args.runs)
    over = check - bare
    ratio = explain / check_json
    print(f"python -c pass          {bare:7.1f} ms (median of {args.runs})")
    print(f"mohs-asp check          {check:7.1f} ms")
    print(f"mohs-asp check --json   {check_json:7.1f} ms")
    print(f"mohs-asp explain --json {explain:7.1f} ms")
    print(f"check above bare python {over:7.1f} ms (target <= {args.target_ms:.0f} ms): {'OK' if over <= args.target_ms else 'OVER'}")
    print(f"explain / check         {ratio:7.2f}    (target <= 2): {'OK' if ratio <= 2 else 'OVER'}")
    return 0 if over <= args.target_ms and ratio <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
