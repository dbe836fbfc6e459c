#!/usr/bin/env python3
"""`mohs-asp batch --dask` against the local `mohs-asp batch` on the same generated claims.

    python scripts/bench_cluster.py [--cases N] [--workers N] [--rounds R] [--seed S]

Writes N cases (bench_batch's generator), starts a `dask scheduler` and N single-threaded
`dask worker` processes on 127.0.0.1, then runs, interleaved, R rounds of the local batch
(`--workers N`) and of `--dask` on that cluster (the cluster's start-up not counted; each
run's own connection is), checks every run wrote the same bytes, and prints the best wall
time of each and their ratio.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch import write_cases  # noqa: E402

BIN = Path(sys.executable).parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    exe = shutil.which("mohs-asp", path=str(BIN)) or "mohs-asp"
    dask = shutil.which("dask", path=str(BIN)) or "dask"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases = folder / "cases.jsonl"
        write_cases(cases, args.cases, args.seed)
        info = folder / "scheduler.json"
        common = ["--no-dashboard", "--host", "127.0.0.1"]
        log = (folder / "dask.log").open("wb")
        processes = [subprocess.Popen([dask, "scheduler", "--port", "0", "--scheduler-file", str(info), *common],
                                      stdout=log, stderr=subprocess.STDOUT)]
        try:
            processes += [subprocess.Popen([dask, "worker", "--scheduler-file", str(info), "--nworkers", "1",
                                            "--nthreads", "1", *common], stdout=log, stderr=subprocess.STDOUT)
                          for _ in range(args.workers)]
            while not info.exists():
                time.sleep(0.1)
            address = json.loads(info.read_text())["address"]
            from distributed import Client

            with Client(address, timeout=30, set_as_default=False) as client:
                client.wait_for_workers(args.workers, timeout=60)
            runs = {"local": [exe, "batch", cases, "--workers", str(args.workers)],
                    "dask": [exe, "batch", cases, "--dask", address]}
            best: dict[str, float] = {}
            outputs: dict[str, bytes] = {}
            for _ in range(args.rounds):
                for name, command in runs.items():
                    out = folder / f"{name}.jsonl"
                    start = time.perf_counter()
                    subprocess.run([*map(str, command), "--out", str(out)], check=True, stderr=subprocess.DEVNULL)
                    seconds = time.perf_counter() - start
                    best[name] = min(best.get(name, seconds), seconds)
                    data = out.read_bytes()
                    if outputs.setdefault(name, data) != data or data != outputs["local"]:
                        ours, theirs = data.splitlines(), outputs["local"].splitlines()
                        line = next((i for i, (a, b) in enumerate(zip(ours, theirs), start=1) if a != b), None)
                        print(f"{name}: the answers differ from the local run's ({len(ours)} lines against {len(theirs)}; "
                              f"first at line {line})", file=sys.stderr)
                        return 1
        finally:
            for process in reversed(processes):
                process.terminate()
                process.wait(30)
            log.close()
    n = args.cases
    print(f"{n:,} cases, {args.workers} workers, best of {args.rounds} (interleaved); the same bytes from each run")
    for name, seconds in best.items():
        print(f"  {name:<6} {seconds:6.2f} s  {n / seconds:8,.0f} cases/s  {seconds / best['local']:.2f}x local")
    return 0


if __name__ == "__main__":
    sys.exit(main())
