#!/usr/bin/env python3
"""Latency of `mohs-asp check` on one case, against a bare `python -c pass` of the same
environment (median of several runs), and of `mohs-asp explain` against `check`, on CASE and
on a generated large case (20 lesions, 60 lines, half the lesions meeting no indication).
Targets: check at most 100 ms above bare Python (issue 12; 150 ms in issue 2), its parsed
policy from the disk cache (README, "Start-up"; the same without it, MOHS_ASP_CACHE=off, is
printed beside); explain at most twice check on CASE (issue 3). The large case's ratio is
reported, not held to a target.

    python scripts/bench_check.py [CASE] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
DEFAULT_CASE = HERE / "tests" / "examples" / "nose-bcc-covered.case.json"


def median_ms(cmd: list[str], runs: int, terminal: bool = False, env: dict | None = None) -> float:
    """The median wall time of `cmd`; with `terminal`, its standard output a pseudo-terminal (the
    path that writes colour)."""
    import pty

    times = []
    for _ in range(runs):
        ours, theirs = pty.openpty() if terminal else (None, subprocess.DEVNULL)
        start = time.perf_counter()
        subprocess.run(cmd, stdout=theirs, stderr=subprocess.DEVNULL, check=False, env=env)
        times.append((time.perf_counter() - start) * 1000)
        if terminal:
            os.close(theirs)
            os.close(ours)
    return statistics.median(times)


def large_case(lesions: int = 20) -> dict:
    """A valid case of `lesions` lesions and three lines each: head and body sites, sizes around
    the 2.0 cm threshold, some histology and flags; half the lesions meet no indication, so their
    explanations are the why-not walks and would-qualify lists, the costly part."""
    sites = [("back", "17313"), ("thigh", "17313"), ("scalp", "17311"), ("back", "17313"), ("nose", "17311")]
    out = []
    for i in range(lesions):
        site, family = sites[i % len(sites)]
        lesion = {"id": f"L{i}", "diagnosis": ["C44.519", "C44.41", "C44.311", "L57.0"][i % 4], "site": site,
                  "size_cm": [0.8, 1.9, 2.0, 1.2][i % 4]}
        if i % 3 == 0:
            lesion["histology"] = ["nodular"] if i % 2 else ["infiltrative"]
        if i % 5 == 1:
            lesion["recurrent"] = False
        out.append(lesion)
    lines = []
    for i in range(lesions):
        family = sites[i % len(sites)][1]
        lines += [{"code": family, "lesion": f"L{i}"}, {"code": "88331", "lesion": f"L{i}"},
                  {"code": str(int(family) + 1) if i % 2 else "11102", "lesion": f"L{i}"}]
    return {"id": "bench-large", "date_of_service": "2026-03-01", "patient": {"immunosuppressed": False},
            "lesions": out, "lines": lines}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("case", nargs="?", default=str(DEFAULT_CASE))
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--target-ms", type=float, default=100.0)
    args = parser.parse_args()
    exe = shutil.which("mohs-asp", path=str(Path(sys.executable).parent)) or shutil.which("mohs-asp")
    if exe is None:
        print("mohs-asp is not installed in this environment", file=sys.stderr)
        return 2
    median_ms([exe, "check", args.case], 2)  # warm the file cache
    bare = median_ms([sys.executable, "-c", "pass"], args.runs)
    check = median_ms([exe, "check", args.case], args.runs)
    uncached = median_ms([exe, "check", args.case], args.runs, env={**os.environ, "MOHS_ASP_CACHE": "off"})
    check_tty = median_ms([exe, "check", args.case], args.runs, terminal=True)
    check_json = median_ms([exe, "check", args.case, "--format", "json"], args.runs)
    explain = median_ms([exe, "explain", args.case, "--format", "json"], args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        large = Path(tmp) / "large.case.json"
        large.write_text(json.dumps(large_case()))
        large_check = median_ms([exe, "check", str(large), "--format", "json"], args.runs)
        large_explain = median_ms([exe, "explain", str(large), "--format", "json"], args.runs)
    over = check - bare
    ratio = explain / check_json
    print(f"python -c pass          {bare:7.1f} ms (median of {args.runs})")
    print(f"mohs-asp check          {check:7.1f} ms")
    print(f"  no policy cache (off)  {uncached:6.1f} ms")
    print(f"  on a terminal (colour) {check_tty:6.1f} ms")
    print(f"mohs-asp check --json   {check_json:7.1f} ms")
    print(f"mohs-asp explain --json {explain:7.1f} ms")
    print(f"check above bare python {over:7.1f} ms (target <= {args.target_ms:.0f} ms): {'OK' if over <= args.target_ms else 'OVER'}")
    print(f"explain / check         {ratio:7.2f}    (target <= 2): {'OK' if ratio <= 2 else 'OVER'}")
    print(f"large case (20 lesions, 60 lines): check --json {large_check:.1f} ms, explain --json {large_explain:.1f} ms, "
          f"explain / check {large_explain / large_check:.2f}")
    return 0 if over <= args.target_ms and ratio <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
