#!/usr/bin/env python3
"""Write what `explain` gives (text, --full text and --format json) for every shipped example
and policy case, one file per case and view, into OUT: run it before and after a change to the
explanations and `diff -r` the two folders.

    python scripts/explain_outputs.py OUT [--policy DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from mohs_asp import render  # noqa: E402
from mohs_asp import api  # noqa: E402
from mohs_asp.errors import MohsError  # noqa: E402
from mohs_asp.policy.load import load_policy  # noqa: E402


def sources() -> list[Path]:
    return sorted((HERE / "tests" / "examples").glob("*.case.json")) + sorted((HERE / "tests" / "policy").glob("*.yaml"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--policy", default=None)
    parser.add_argument("--generated", type=int, default=2000)
    args = parser.parse_args()
    policy = load_policy(args.policy)
    args.out.mkdir(parents=True, exist_ok=True)
    for path in sources():
        name = path.name
        try:
            answer = next(api.answer([api.from_file(str(path))], policy, explain=True))
        except MohsError as e:
            (args.out / f"{name}.error").write_text(f"{type(e).__name__}: {e}\n")
            continue
        (args.out / f"{name}.json").write_text(json.dumps(answer, indent=2, ensure_ascii=False) + "\n")
        (args.out / f"{name}.txt").write_text(render.render_explain(answer) + "\n")
        (args.out / f"{name}.full.txt").write_text(render.render_explain_full(answer) + "\n")
    # generated cases (scripts/bench_batch.py's generator), explained in chunks as batch does
    sys.path.insert(0, str(HERE / "scripts"))
    import random

    from bench_batch import case as generated

    rng = random.Random(2026)
    docs = [generated(rng, n) for n in range(args.generated)]
    with open(args.out / "generated.jsonl", "w") as f:
        for answer in api.answer(docs, policy, explain=True):
            f.write(json.dumps(answer, ensure_ascii=False, sort_keys=False) + "\n")
    print(f"{len(sources())} cases and {args.generated} generated written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
