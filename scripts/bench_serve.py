"""Load on `mohs-asp serve` over loopback: throughput and latency of POST /check, beside the
in-process pipeline's time per case from the same run.

    python scripts/bench_serve.py [--clients 200] [--requests 20000] [--workers 1] [--rounds 3]

Starts the installed `mohs-asp serve` on a free 127.0.0.1 port, and sends the shared example
cases (tests/examples/*.case.json, in turn) from CLIENTS keep-alive connections, each sending its
next request when its answer is in (a closed loop), REQUESTS in all; then REQUESTS / 20 requests
from one connection, one at a time ("one /check request" alone). Every answer is checked
against the pipeline's. The client is raw asyncio sockets (the least client-side cost Python
has), and it shares the machine's cores with the server: the figures are a lower bound of what
the server does alone. Bounded: at most REQUESTS requests, and the run gives up after 10 minutes.
Prints each round and the best.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "tests" / "examples").glob("*.case.json"))
GIVE_UP = 600.0  # seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request_bytes(body: bytes) -> bytes:
    return (b"POST /check HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body))


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def load(port: int, clients: int, total: int, payloads: list[bytes], expected: list[bytes]) -> tuple[float, list[float]]:
    latencies: list[float] = []
    counter = iter(range(total))
    wrong = 0

    async def client() -> None:
        nonlocal wrong
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for i in counter:
                k = i % len(payloads)
                start = time.perf_counter()
                writer.write(payloads[k])
                status, body = await read_response(reader)
                latencies.append(time.perf_counter() - start)
                if status not in (200, 422) or json.loads(body) != json.loads(expected[k]):
                    wrong += 1
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(client() for _ in range(clients))), GIVE_UP)
    elapsed = time.perf_counter() - start
    if wrong:
        raise SystemExit(f"{wrong} answers differ from the pipeline's")
    return elapsed, latencies


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def pipeline_reference(bodies: list[bytes], n: int) -> tuple[float, float]:
    """ms per case in process: one case a solver run (what a lone request costs), and 200 a run."""
    from mohs_asp import api
    from mohs_asp.case.check import parse_text
    from mohs_asp.policy.load import load_policy

    policy = load_policy()
    docs = lambda k: [parse_text(bodies[i % len(bodies)].decode(), ".json") for i in range(k)]  # noqa: E731
    list(api.answer(docs(50), policy))
    start = time.perf_counter()
    for i in range(n):
        list(api.answer([parse_text(bodies[i % len(bodies)].decode(), ".json")], policy))
    one = (time.perf_counter() - start) / n * 1000
    start = time.perf_counter()
    for _ in range(max(1, n // 200)):
        list(api.answer(docs(200), policy))
    many = (time.perf_counter() - start) / (max(1, n // 200) * 200) * 1000
    return one, many


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    exe = shutil.which("mohs-asp", path=str(Path(sys.executable).parent)) or shutil.which("mohs-asp")
    if exe is None:
        raise SystemExit("mohs-asp is not installed in this environment")
    bodies = [p.read_bytes() for p in EXAMPLES]
    payloads = [request_bytes(b) for b in bodies]
    port = free_port()
    server = subprocess.Popen([exe, "serve", "--port", str(port), "--workers", str(args.workers)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None:
                    raise SystemExit(server.stderr.read().decode()) from None
                time.sleep(0.1)

        async def expected_answers() -> list[bytes]:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            out = []
            for p in payloads:
                writer.write(p)
                out.append((await read_response(reader))[1])
            writer.close()
            return out

        expected = asyncio.run(expected_answers())
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        print(f"mohs-asp serve --workers {args.workers}; {cpus} cores shared by server and client; "
              f"{len(bodies)} example cases in turn")
        rows = []
        for r in range(args.rounds):
            elapsed, lat = asyncio.run(load(port, args.clients, args.requests, payloads, expected))
            _, alone = asyncio.run(load(port, 1, max(200, args.requests // 20), payloads, expected))
            one, many = pipeline_reference(bodies, 400)
            rows.append((args.requests / elapsed, pct(lat, 50), pct(lat, 99), pct(alone, 50), pct(alone, 99), one, many))
            print(f"round {r + 1}: {args.clients} clients, {args.requests:,} requests in {elapsed:.1f} s: "
                  f"{args.requests / elapsed:,.0f} requests/s, p50 {pct(lat, 50):.1f} ms, p99 {pct(lat, 99):.1f} ms | "
                  f"one client: p50 {pct(alone, 50):.2f} ms, p99 {pct(alone, 99):.2f} ms | "
                  f"pipeline in process: {one:.2f} ms a case alone, {many:.3f} ms a case among 200")
        best = max(rows, key=lambda row: row[0])
        print(f"best: {best[0]:,.0f} requests/s with {args.clients} clients (p50 {best[1]:.1f} ms, p99 {best[2]:.1f} ms); "
              f"one request alone: p50 {min(r[3] for r in rows):.2f} ms, p99 {min(r[4] for r in rows):.2f} ms "
              f"(target: under 50 ms); pipeline alone {min(r[5] for r in rows):.2f} ms a case")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
