"""A real `mohs-asp serve` for the tests: the installed command, started on a free loopback port."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from helpers import EXE

TESTS = Path(__file__).resolve().parent
INTERNAL = re.compile(r"Traceback|File \"|/site-packages/|\.venv|" + re.escape(str(TESTS.parent)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`mohs-asp serve --port N [args]`, waited for until /health answers."""

    def __init__(self, *args: str, wait: bool = True):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="mohs-asp-serve-", suffix=".log", delete=False)
        self.process = subprocess.Popen([EXE, "serve", "--port", str(self.port), *args],
                                        stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.client = httpx.Client(base_url=self.url, timeout=60)
        if wait:
            self.wait()

    def wait(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited {self.process.returncode}: {self.output()}")
            try:
                if self.client.get("/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"serve did not answer /health within {seconds} s: {self.output()}")

    said: str | None = None  # the log, once stopped

    def output(self) -> str:
        return self.said if self.said is not None else Path(self.log.name).read_text(errors="replace")

    def stop(self) -> int:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.log.close()
        self.said = Path(self.log.name).read_text(errors="replace")
        os.unlink(self.log.name)
        return self.process.returncode


def strip_expect(text: str) -> str:
    """A policy test file without its top-level `expect:` block (as text, so the case reaches
    both sides exactly as written); tests check it parses to what testing.split_test gives."""
    out, skipping = [], False
    for line in text.splitlines(keepends=True):
        top = line[:1] not in (" ", "\t", "#", "\n", "\r", "") and not line.startswith("- ")
        if top:
            skipping = line.startswith("expect:")
        if not skipping:
            out.append(line)
    return "".join(out)
