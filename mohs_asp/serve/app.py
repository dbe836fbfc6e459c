"""The HTTP service of `mohs-asp serve`: a Starlette application, run by uvicorn.

Every answer comes from the one pipeline (mohs_asp/api.py: api.answer), on solver
threads so the event loop stays free. Requests that arrive while a solver run is under way
are answered together in the next run, in one clingo Control, as `batch` answers a chunk:
one case alone costs about 2 ms of set-up, a case among many about 0.15 ms, and the answers
are the same (tests/test_properties.py holds that solving many cases together changes no
answer). `check` and `explain` have a solver thread each, so a slow explanation never holds
up a check.

Limits (README, "Serve"): a body is read no further than its limit (a case 10 MB, a YAML
case 1 MB, a hook call 10 MB, a /batch body 100 MB with lines of at most 10 MB), and every
answer but /batch's stream comes within the time limit or is a 503. No traceback or path of
this machine reaches an answer: errors become JSON in `Guard`, and a bug is logged in one line.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import __version__
from .. import api
from ..case.jsonl import document as line_document  # a JSON Lines line read exactly as `batch` reads it
from ..case.check import MAX_FILE_BYTES, MAX_YAML_CHARS, parse_text
from ..errors import CaseInvalid, InputProblem, MohsError, PolicyError
from ..policy.load import Policy, load_policy
from ..case.schema import case_schema
from . import crd, fhir
from .openapi import openapi

STATIC = Path(__file__).resolve().parent / "static"
JSON_TYPES = frozenset({"application/json"})
YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml"})
LINES_TYPES = frozenset({"application/x-ndjson", "application/jsonl", "application/jsonlines", "application/json-lines"})
MAX_HOOK_BYTES = 10 * 1024 * 1024
MAX_BATCH_BYTES = 100 * 1024 * 1024
MAX_LINE_BYTES = MAX_FILE_BYTES
BATCH_CHUNK = 500  # lines a solver run, as batch
SOLVE_AT_ONCE = 500  # requests answered together, at most
DEFAULT_TIME_LIMIT = 10.0  # seconds (CRD asks for an answer within 5 s, 90% of the time)
ENV_POLICY, ENV_TIME_LIMIT = "MOHS_ASP_SERVE_POLICY", "MOHS_ASP_SERVE_TIME_LIMIT"
_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


def log(text: str) -> None:
    sys.stderr.write(f"mohs-asp serve: {' '.join(text.split())}\n")
    sys.stderr.flush()


class Problem(Exception):
    """An answer that is not a case's: (status, error, message) as JSON."""

    def __init__(self, status: int, error: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.error, self.headers = status, error, headers


def problem_response(p: Problem) -> JSONResponse:
    return JSONResponse({"error": p.error, "message": str(p)}, status_code=p.status, headers=p.headers)


# -- answering on solver threads, many requests at once -----------------------------------------


def _case_document(body: bytes, hint: str) -> Any:
    """A request body as api.answer takes it: the parsed case, or the CaseInvalid saying why not."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        return CaseInvalid([InputProblem("", f"the body is not UTF-8 text (byte {e.start})")])
    try:
        return parse_text(text, "the body")  # the content decides JSON or YAML, as for a file (the media type sets the size limit)
    except CaseInvalid as e:
        return e


class Answerer:
    """One solver thread; the requests waiting when it is free are answered in one run."""

    def __init__(self, policy: Policy, explain: bool):
        self.policy, self.explain = policy, explain
        self.pending: list[tuple[bytes, str, asyncio.Future]] = []
        self.wake = asyncio.Event()
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="explain" if explain else "check")
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def answer(self, body: bytes, hint: str) -> dict:
        future = asyncio.get_running_loop().create_future()
        self.pending.append((body, hint, future))
        self.wake.set()
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.wake.wait()
            taken, self.pending = self.pending[:SOLVE_AT_ONCE], self.pending[SOLVE_AT_ONCE:]
            if not self.pending:
                self.wake.clear()
            taken = [item for item in taken if not item[2].done()]  # given up on (time limit)
            if not taken:
                continue
            answers = await loop.run_in_executor(self.pool, self._solve, [(b, h) for b, h, _ in taken])
            for (_, _, future), answer in zip(taken, answers):
                if not future.done():
                    if isinstance(answer, BaseException):
                        future.set_exception(answer)
                    else:
                        future.set_result(answer)

    def _solve(self, items: list[tuple[bytes, str]]) -> list[dict | BaseException]:
        docs = [_case_document(body, hint) for body, hint in items]
        try:
            return list(api.answer(docs, self.policy, len(docs), self.explain))
        except Exception as e:  # noqa: BLE001 -- one case's fault must not cost the others their answers
            if len(docs) == 1:
                return [e]
        out: list[dict | BaseException] = []
        for doc in docs:
            try:
                out.append(next(api.answer([doc], self.policy, 1, self.explain)))
            except Exception as e:  # noqa: BLE001
                out.append(e)
        return out

    def close(self) -> None:
        self.task.cancel()
        self.pool.shutdown(wait=False, cancel_futures=True)


# -- reading requests -----------------------------------------------------------------------------


def media_type(request: Request, accepted: frozenset[str], what: str) -> str:
    raw = request.headers.get("content-type", "")
    kind, *params = [part.strip() for part in raw.split(";")]
    kind = kind.lower()
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise Problem(415, "unsupported_media_type", f"{what} must be UTF-8, not charset {value.strip()}")
    if kind not in accepted:
        said = f"Content-Type {raw!r}" if raw else "no Content-Type"
        raise Problem(415, "unsupported_media_type", f"{what} must be one of {', '.join(sorted(accepted))}; found {said}")
    return kind


def _too_large(limit: int, what: str) -> Problem:
    return Problem(413, "too_large", f"{what} may be at most {limit // (1024 * 1024)} MB")


async def read_body(request: Request, limit: int, what: str) -> bytes:
    """The body, read no further than `limit` bytes (413 past it)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, what)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit, what)
        chunks.append(chunk)
    return b"".join(chunks)


def limited(handler):
    """The handler's answer within the time limit, else 503 (the work it started is dropped)."""
    async def run(request: Request) -> Response:
        limit = request.app.state.time_limit
        try:
            async with asyncio.timeout(limit):
                return await handler(request)
        except TimeoutError:
            return problem_response(Problem(503, "time_limit", f"no answer within the time limit ({limit:g} s); "
                                                               "try again, or send the case to mohs-asp check",
                                            {"Retry-After": "1"}))
        except Problem as p:
            return problem_response(p)
        except PolicyError as e:
            log(f"policy error: {e}")
            return problem_response(Problem(500, "policy", f"the policy is broken: {e}"))
        except MohsError as e:
            return problem_response(Problem(400, "bad_request", str(e)))
    run.__name__ = handler.__name__
    return run


# -- the JSON API ---------------------------------------------------------------------------------


async def _decide(request: Request, explain: bool) -> Response:
    kind = media_type(request, JSON_TYPES | YAML_TYPES, "a case")
    hint, limit = (".json", MAX_FILE_BYTES) if kind in JSON_TYPES else (".yaml", MAX_YAML_CHARS)
    body = await read_body(request, limit, "a JSON case" if hint == ".json" else "a YAML case")
    answer = await request.app.state.answerers[explain].answer(body, hint)
    return JSONResponse(answer, status_code=200 if answer.get("status") == "ok" else 422)


@limited
async def check(request: Request) -> Response:
    return await _decide(request, explain=False)


@limited
async def explain(request: Request) -> Response:
    return await _decide(request, explain=True)


@limited
async def rules(request: Request) -> Response:
    return JSONResponse(request.app.state.rules)


@limited
async def schema(request: Request) -> Response:
    return JSONResponse(request.app.state.schema)


@limited
async def health(request: Request) -> Response:
    return JSONResponse(request.app.state.health)


@limited
async def openapi_document(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)


@limited
async def discovery(request: Request) -> Response:
    return JSONResponse(crd.discovery())


@limited
async def hook(request: Request) -> Response:
    try:
        media_type(request, JSON_TYPES, "a hook request")
        body = await read_body(request, MAX_HOOK_BYTES, "a hook request")
    except Problem as p:
        return JSONResponse(crd.outcome(str(p), "too-costly" if p.status == 413 else "not-supported"), status_code=p.status)
    base = str(request.base_url).rstrip("/")
    status, answer = await asyncio.get_running_loop().run_in_executor(
        request.app.state.hook_pool, crd.answer_hook, request.path_params["service"], body,
        request.app.state.policy, base)
    return JSONResponse(answer, status_code=status)


async def page(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


class BatchEndpoint:
    """POST /batch: JSON Lines in, one answer a line out, in order, streamed: each chunk of
    500 lines is answered (one solver run) as soon as it has been read, so memory holds a chunk,
    not the body. A line is read exactly as `mohs-asp batch` reads it (blank, non-UTF-8, non-JSON
    and over-long lines are answered invalid with their input_line)."""

    async def __call__(self, scope, receive, send) -> None:
        request = Request(scope, receive)
        app = request.app
        try:
            if request.method != "POST":
                raise Problem(405, "method_not_allowed", "POST JSON Lines to /batch")
            media_type(request, LINES_TYPES, "a batch")
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_BATCH_BYTES:
                raise _too_large(MAX_BATCH_BYTES, "a batch body")
        except Problem as p:
            await problem_response(p)(scope, receive, send)
            return
        explain = request.query_params.get("explain", "").lower() in ("1", "true", "yes")
        loop = asyncio.get_running_loop()
        started = False
        number = 1
        try:
            async for chunk in self._chunks(receive):
                work = loop.run_in_executor(app.state.batch_pool, self._answer, app.state.policy, number, chunk, explain)
                try:
                    out = await asyncio.wait_for(work, app.state.time_limit)
                except asyncio.TimeoutError:
                    if not started:
                        await problem_response(Problem(503, "time_limit", "a chunk of 500 lines took longer than the "
                                                                          "time limit; send smaller batches",
                                                       {"Retry-After": "1"}))(scope, receive, send)
                        return
                    log(f"/batch: lines from {number} took longer than the time limit; the answer is cut off")
                    return  # the response stays incomplete: the client sees a broken stream, not a short one
                if not started:
                    await send({"type": "http.response.start", "status": 200,
                                "headers": [(b"content-type", b"application/x-ndjson; charset=utf-8")]})
                    started = True
                await send({"type": "http.response.body", "body": out, "more_body": True})
                number += len(chunk)
        except Problem as p:  # the body went over its limit
            if not started:
                await problem_response(p)(scope, receive, send)
                return
            log(f"/batch: {p}; the answer is cut off after line {number - 1}")
            return
        if not started:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/x-ndjson; charset=utf-8")]})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    async def _chunks(receive):
        """The body's lines (None for one over MAX_LINE_BYTES, never held), BATCH_CHUNK at a time."""
        buffer, total, skipping = b"", 0, False
        chunk: list[bytes | None] = []
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            data, more = message.get("body", b""), message.get("more_body", False)
            total += len(data)
            if total > MAX_BATCH_BYTES:
                raise _too_large(MAX_BATCH_BYTES, "a batch body")
            buffer += data
            while True:
                cut = buffer.find(b"\n")
                if cut < 0:
                    if len(buffer) > MAX_LINE_BYTES:
                        if not skipping:
                            chunk.append(None)
                        skipping, buffer = True, b""
                    break
                line, buffer = buffer[:cut + 1], buffer[cut + 1:]
                if skipping:
                    skipping = False
                elif len(line) > MAX_LINE_BYTES:
                    chunk.append(None)
                else:
                    chunk.append(line)
                if len(chunk) >= BATCH_CHUNK:
                    yield chunk
                    chunk = []
        if buffer and not skipping:
            chunk.append(buffer)
        if chunk:
            yield chunk

    @staticmethod
    def _answer(policy: Policy, first: int, lines: list[bytes | None], explain: bool) -> bytes:
        docs = [line_document(raw) for raw in lines]
        out = []
        for n, answer in enumerate(api.answer(docs, policy, len(docs), explain), start=first):
            if answer["status"] != "ok":
                answer["input_line"] = n
            out.append(_compact(answer))
        out.append("")
        return "\n".join(out).encode("utf-8")


# -- what no handler answers: JSON errors, one-line logs -------------------------------------------


async def http_error(request: Request, exc: HTTPException) -> Response:
    names = {404: "not_found", 405: "method_not_allowed"}
    message = {404: f"no such endpoint: {request.url.path} (GET /openapi.json lists them)",
               405: f"{request.method} is not allowed on {request.url.path}"}.get(exc.status_code, str(exc.detail))
    return JSONResponse({"error": names.get(exc.status_code, "http_error"), "message": message},
                        status_code=exc.status_code, headers=getattr(exc, "headers", None))


class Guard:
    """The catch-all: an exception no handler answered becomes a 500 with no detail (a bug,
    logged in one line on standard error), never a traceback in the answer or the log."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as e:  # noqa: BLE001
            log(f"internal error on {scope.get('method')} {scope.get('path')}: {type(e).__name__}: {e}")
            if not started:
                await JSONResponse({"error": "internal", "message": "internal error: the service logged it"},
                                   status_code=500)(scope, receive, send)


class Headers:
    """nosniff everywhere; CORS on /cds-services (CDS Hooks: a browser-based EHR or the
    sandbox calls the services from its own origin); a strict CSP for the page (no CDN)."""

    CORS = [(b"access-control-allow-origin", b"*"),
            (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
            (b"access-control-allow-headers", b"authorization, content-type"),
            (b"access-control-max-age", b"600")]
    CSP = (b"content-security-policy",
           b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
           b"form-action 'none'; base-uri 'none'; frame-ancestors 'none'")

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        cors = path == "/cds-services" or path.startswith("/cds-services/")
        if cors and scope.get("method") == "OPTIONS":
            await Response(status_code=204, headers={k.decode(): v.decode() for k, v in self.CORS})(scope, receive, send)
            return
        extra = [(b"x-content-type-options", b"nosniff")] + (self.CORS if cors else [])
        if path == "/" or path.startswith("/static/"):
            extra.append(self.CSP)

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        await self.app(scope, receive, with_headers)


# -- the application ------------------------------------------------------------------------------


def warm_up(policy: Policy) -> None:
    """Decide and explain an empty case, and read the CRD tables: a policy that is broken only
    when it grounds (an atom no rule defines) or a bad mapping row stops the start (exit 3)."""
    probe = {"id": "mohs-asp-serve-start-up", "date_of_service": dt.date.today().isoformat()}
    next(api.answer([probe], policy))
    next(api.answer([probe], policy, 1, explain=True))
    fhir.tables(policy)
    crd.reading(policy)


def create_app(policy: Policy, time_limit: float = DEFAULT_TIME_LIMIT) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette):
        app.state.answerers = {False: Answerer(policy, False), True: Answerer(policy, True)}
        app.state.batch_pool = ThreadPoolExecutor(1, thread_name_prefix="batch")
        app.state.hook_pool = ThreadPoolExecutor(2, thread_name_prefix="hook")
        try:
            yield
        finally:
            for answerer in app.state.answerers.values():
                answerer.close()
            app.state.batch_pool.shutdown(wait=False, cancel_futures=True)
            app.state.hook_pool.shutdown(wait=False, cancel_futures=True)

    routes = [
        Route("/", page, methods=["GET"]),
        Route("/check", check, methods=["POST"]),
        Route("/explain", explain, methods=["POST"]),
        Route("/batch", BatchEndpoint()),
        Route("/rules", rules, methods=["GET"]),
        Route("/schema", schema, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/openapi.json", openapi_document, methods=["GET"]),
        Route("/cds-services", discovery, methods=["GET"]),
        Route("/cds-services/{service}", hook, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(Guard), Middleware(Headers)],
                    exception_handlers={HTTPException: http_error})
    app.state.policy = policy
    app.state.time_limit = time_limit
    app.state.rules = [r.listing() for r in policy.rules]
    app.state.schema = case_schema(policy)
    app.state.health = {
        "status": "ok",
        "engine_version": __version__,
        "policy": {"id": policy.id,  # policy.toml's
                   "version": _version(policy),
                   "digest": policy.digest,
                   "rules": len(policy.rules)},
    }
    app.state.openapi = openapi(policy, __version__)
    return app


def _version(policy) -> str | None:
    """The version of the policy in force today (policy.toml), else its latest."""
    import datetime as dt

    from ..policy.dates import date_number

    found = policy.version_on(date_number(dt.date.today())) or (policy.versions[-1] if policy.versions else None)
    return found.name if found is not None else None


def from_environment() -> Starlette:
    """The application of one worker process (`--workers N` > 1): the policy and time limit
    the parent process checked, passed in the environment."""
    root = os.environ.get(ENV_POLICY) or None
    policy = load_policy(root)
    warm_up(policy)
    return create_app(policy, float(os.environ.get(ENV_TIME_LIMIT) or DEFAULT_TIME_LIMIT))
