"""`mohs-asp serve`: the engine over HTTP (a JSON API, CDS Hooks CRD services, a page).

Imported only by the `serve` command (its imports never reach `check`'s start-up):
app.py (the Starlette application), crd.py (CDS Hooks and coverage-information), fhir.py
(FHIR R4 resources into cases), openapi.py, static/ (the page for billing staff).
"""

from __future__ import annotations

import os
import signal
import socket
import sys

from ..errors import UsageError
from ..policy.load import Policy


def run(policy: Policy, host: str, port: int, workers: int, time_limit: float, access_log: bool) -> None:
    """Serve until Ctrl-C or SIGTERM. The policy is checked first (a broken one raises
    PolicyError: exit 3 before anything listens); a port that cannot be had is bad usage (2)."""
    import uvicorn

    from .app import ENV_POLICY, ENV_TIME_LIMIT, create_app, warm_up

    warm_up(policy)
    sock = _listen(host, port)
    config = dict(log_level="warning", access_log=access_log, server_header=False,
                  timeout_graceful_shutdown=5, lifespan="on")
    where = sock.getsockname()
    shown = f"[{where[0]}]" if sock.family == socket.AF_INET6 else where[0]
    sys.stderr.write(f"mohs-asp serve: policy {policy.digest[:12]} ({len(policy.rules)} rules) on http://{shown}:{where[1]}"
                     f" with {workers} worker{'s' if workers != 1 else ''}; Ctrl-C stops\n")
    sys.stderr.flush()
    if workers == 1:
        server = uvicorn.Server(uvicorn.Config(create_app(policy, time_limit), **config))
        server.run(sockets=[sock])
        return
    from uvicorn.supervisors import Multiprocess

    os.environ[ENV_POLICY] = str(policy.root)
    os.environ[ENV_TIME_LIMIT] = str(time_limit)
    cfg = uvicorn.Config("mohs_asp.serve.app:from_environment", factory=True, workers=workers, **config)
    try:
        supervisor = Multiprocess(cfg, sockets=[sock])  # uvicorn 0.36 and later
    except TypeError:
        supervisor = Multiprocess(cfg, target=uvicorn.Server(cfg).run, sockets=[sock])
    got: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):  # noted, then handled by the supervisor
        handler = signal.getsignal(sig)
        signal.signal(sig, lambda s, frame, handler=handler: (got.append(s), handler(s, frame)))
    supervisor.run()
    if got:  # as one worker ends (uvicorn): Ctrl-C is KeyboardInterrupt (130), SIGTERM ends by the signal
        signal.signal(got[0], signal.SIG_DFL if got[0] != signal.SIGINT else signal.default_int_handler)
        signal.raise_signal(got[0])


def _listen(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as e:
        raise UsageError(f"cannot listen on {host}: {e}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    sock.set_inheritable(True)
    return sock
