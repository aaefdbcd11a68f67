"""The HTTP API of a Service: routes, the token, the body limit, and every error as a JSON document.

No endpoint writes rules or deletes log records. Errors: invalid input 422 with the problems list of
the command line, a body over the limit 413, no token 401, an unknown decision 404, a bug 500 with
an id that the server's log has beside the traceback; no traceback ever reaches a response.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kamrules import __version__
from kamrules.errors import InvalidInput, KamrulesError
from kamrules.lang import json_schema
from kamrules.render import service as words
from kamrules.serve import models
from kamrules.serve.documents import TABLE_TYPES, Upload
from kamrules.serve.service import Answer, NotRecorded, Service

logger = logging.getLogger("kamrules.serve")
FOLLOW_EVERY_S = 1.0  # besides each request's own look at the shared file
OPEN_PATHS = ("/healthz", "/readyz")  # health probes answer without the token
Detail = Literal["compact", "full"]
DETAIL = Query(
    "compact",
    description="compact: each decision without its per-condition reasons (`GET /v1/decisions/{id}` has them); "
    "full: each as `kamrules evaluate --format json`.",
)
AS_OF = Query(None, description="Review date (YYYY-MM-DD; default today): computed facts read it as `as_of`.")


class TooLarge(Exception):
    """A request body over the service's limit."""


def create_app(service: Service) -> ASGIApp:
    """The FastAPI application of a service; closing it (lifespan end) commits every decision made."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        watch = asyncio.create_task(_follow_reloads(service)) if service.shared is not None else None
        yield
        if watch is not None:
            watch.cancel()
        service.close()

    app = FastAPI(
        title="kamrules decision service",
        version=__version__,
        description="Key Account Management decisions over HTTP; every decision is recorded in the decision log.",
        lifespan=lifespan,
    )
    _errors(app, service)
    _routes(app, service)
    return Guard(app, service)


async def _follow_reloads(service: Service) -> None:
    """Follow another process's reload within a second even without requests, so every process logs it."""
    while True:
        await asyncio.sleep(FOLLOW_EVERY_S)
        with contextlib.suppress(Exception):  # logged by the reload itself; the next request tries again
            await service.catch_up()


def _json(answer: Answer, status: int = 200) -> Response:
    return Response(answer.text, status, {words.VERSION_HEADER: answer.version}, media_type=words.MEDIA_TYPE)


def _doc(service: Service, data: dict[str, Any], status: int) -> Response:
    return _json(Answer(words.compact(data), service.rules.current.version), status)


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it is known to pass the limit."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def _received(scope: Scope, receive: Receive, limit: int) -> bytes:
    """``_body`` read from the ASGI messages themselves (no Request and stream of Starlette's)."""
    declared = next((v for k, v in scope["headers"] if k == b"content-length"), b"")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _account_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_ACCOUNT = json_schema("account")
_BATCH = {"type": "object", "required": ["accounts"], "properties": {"accounts": {"type": "array", "items": _ACCOUNT}}}
_TABLE = {"content": {t: {"schema": {"type": "string", "format": "binary"}} for t in TABLE_TYPES}}
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": models.ErrorOut},
    413: {"model": models.ErrorOut},
    422: {"model": models.ProblemsOut},
    500: {"model": models.ErrorOut},
}


def _routes(app: FastAPI, service: Service) -> None:
    limit = service.config.max_body

    @app.post("/v1/evaluate", openapi_extra=_account_body(_ACCOUNT), responses=_ERRORS, tags=["decisions"])
    async def evaluate(request: Request, as_of: dt.date | None = AS_OF) -> Response:
        """One account (an account file as JSON) → its decision, as `kamrules evaluate --format json`."""
        return _json(await service.evaluate(await _body(request, limit), as_of, batch=False))

    @app.post("/v1/evaluate/batch", openapi_extra=_account_body(_BATCH), responses=_ERRORS, tags=["decisions"])
    async def evaluate_batch(request: Request, as_of: dt.date | None = AS_OF, detail: Detail = DETAIL) -> Response:
        """Several accounts → their decisions, evaluated together: compact by default, `detail=full` with reasons."""
        return _json(await service.batch(await _body(request, limit), as_of, full=detail == "full"))

    @app.post("/v1/explain", openapi_extra=_account_body(_ACCOUNT), responses=_ERRORS, tags=["decisions"])
    async def explain(request: Request, as_of: dt.date | None = AS_OF) -> Response:
        """One account → why, why not the next move, and what it would take (`kamrules explain`)."""
        return _json(await service.explain(await _body(request, limit), as_of))

    @app.post("/v1/portfolio", openapi_extra={"requestBody": _TABLE}, responses=_ERRORS, tags=["decisions"])
    async def portfolio(
        request: Request,
        as_of: dt.date | None = AS_OF,
        transactions: bool = Query(False, description="The body holds invoice lines, not one row per account."),
        period: str | None = Query(None, description="With transactions: 2026-07, 2026Q3, 2026 or a date range."),
        previous: str | None = Query(None, description="With transactions: the previous period."),
        columns: str | None = Query(None, description="Column mapping, e.g. account=Cliente,date=Data."),
        filename: str | None = Query(None, description="The table's file name; its extension says its format."),
        traces: bool = Query(False, description="Each account's whole decision instead of its row (`--traces`)."),
    ) -> Response:
        """An account table or invoice lines (CSV, JSON, YAML, XLSX) → the review, as `kamrules portfolio`."""
        kind = request.headers.get("content-type", "")
        upload = Upload(kind, filename, transactions, period, previous, columns, traces)
        return _json(await service.portfolio(await _body(request, limit), as_of, upload))

    @app.get("/v1/rules", tags=["rules"])
    async def rules() -> Response:
        """The rules being served: their version, where they come from, every rule."""
        return _json(service.rules_listing())

    @app.post("/v1/rules/reload", responses={422: {"model": models.ProblemsOut}}, tags=["rules"])
    async def reload() -> Response:
        """Check the rules folder again and serve it; a broken folder is refused and the old version serves on."""
        try:
            previous, current = await service.run(service.reload)
        except InvalidInput as err:
            return _doc(service, words.refused_reload_document(err, service.rules.current.version), 422)
        return _doc(service, words.reloaded_document(previous, current), 200)

    @app.get("/v1/decisions/{decision_id}", responses={404: {"model": models.ProblemsOut}}, tags=["decisions"])
    async def decision(decision_id: str) -> Response:
        """A recorded decision by id (or a unique prefix of 6 characters or more), as `kamrules audit show`."""
        try:
            return _json(await service.decision(decision_id))
        except InvalidInput as err:
            return _doc(service, words.problems_document(err, service.rules.current.version), 404)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> Response:
        """The process answers."""
        return _doc(service, {"status": "ok"}, 200)

    @app.get("/readyz", tags=["health"])
    async def readyz() -> Response:
        """The service can decide and record: rules loaded, decision log writer running."""
        ready = service.log.alive
        return _doc(service, {"status": "ready" if ready else "not ready"}, 200 if ready else 503)


def _errors(app: FastAPI, service: Service) -> None:
    def version() -> str:
        return service.rules.current.version

    async def parameters(_request: Request, err: Exception) -> Response:
        assert isinstance(err, RequestValidationError)
        problems = [
            words.parameter_problem(".".join(str(x) for x in e["loc"]), e["msg"], e.get("input")) for e in err.errors()
        ]
        return _doc(service, words.problems_document(InvalidInput(problems), version()), 422)

    async def http_error(_request: Request, err: Exception) -> Response:
        assert isinstance(err, HTTPException)
        return _doc(service, words.error_document("HTTPError", str(err.detail), version()), err.status_code)

    async def failed(request: Request, err: Exception) -> Response:
        return failure(service, request, err)

    app.add_exception_handler(RequestValidationError, parameters)
    app.add_exception_handler(HTTPException, http_error)
    # Any other KamrulesError is a bug (EngineError), as is any other exception.
    for kind in (InvalidInput, TooLarge, NotRecorded, KamrulesError, Exception):
        app.add_exception_handler(kind, failed)


def failure(service: Service, request: Request, err: Exception) -> Response:
    """The answer to a request that failed: bad input 422, too large 413, not recorded 503, a bug 500 (logged)."""
    version = service.rules.current.version
    if isinstance(err, InvalidInput):
        return _doc(service, words.problems_document(err, version), 422)
    if isinstance(err, TooLarge):
        return _doc(service, words.too_large(service.config.max_body, version), 413)
    if isinstance(err, NotRecorded):
        return _doc(service, words.not_recorded(_logged(request, err), version), 503)
    return _doc(service, words.internal(_logged(request, err), version), 500)


def _logged(request: Request, err: Exception) -> str:
    """Log an error of the service with its traceback under a new id, for the answer to name."""
    error_id = uuid.uuid4().hex[:12]
    logger.error(words.internal_log_line(error_id, request.method, request.url.path), exc_info=err)
    return error_id


class Guard:
    """The bearer token on every path but the health probes, and the rules version on every response."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app, self.service = app, service
        token = service.config.token
        self._expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.service.catch_up()  # a reload in another process of this service reaches this one here
        version = self.service.rules.current.version
        if self._expected is not None and scope["path"] not in OPEN_PATHS and not self._allowed(scope):
            await _send(
                send, 401, words.compact(words.unauthorized(version)), version, [(b"www-authenticate", b"Bearer")]
            )
            return

        if scope["method"] == "POST" and scope["path"] == "/v1/evaluate" and (day := _plain_day(scope)) is not False:
            await self._evaluate(scope, receive, send, day)
            return

        async def send_versioned(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k == words.VERSION_HEADER.encode() for k, _ in headers):
                    headers.append((words.VERSION_HEADER.encode(), version.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_versioned)

    async def _evaluate(self, scope: Scope, receive: Receive, send: Send, day: dt.date | None) -> None:
        """POST /v1/evaluate without FastAPI's request handling: the route's answer and errors, with less CPU."""
        try:
            body = await _received(scope, receive, self.service.config.max_body)
            answer = await self.service.evaluate_one(body, day)
        except Exception as err:  # as the route's exception handlers answer
            await failure(self.service, Request(scope, receive), err)(scope, receive, send)
            return
        await _send(send, 200, answer.text, answer.version, [])

    def _allowed(self, scope: Scope) -> bool:
        given = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        assert self._expected is not None
        return hmac.compare_digest(given, self._expected)


def _plain_day(scope: Scope) -> dt.date | Literal[False] | None:
    """The review date of a query that is empty or only ``as_of=YYYY-MM-DD``; False for any other (FastAPI reads it)."""
    query = scope.get("query_string", b"")
    if not query:
        return None
    m = _AS_OF.fullmatch(query)
    try:
        return dt.date.fromisoformat(m[1].decode()) if m else False
    except ValueError:  # not a day of the calendar: the route says so, as for any bad parameter
        return False


_AS_OF = re.compile(rb"as_of=(\d{4}-\d{2}-\d{2})")


async def _send(send: Send, status: int, text: str, version: str, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [
        (b"content-type", words.MEDIA_TYPE.encode()),
        (b"content-length", str(len(text.encode())).encode()),
        (words.VERSION_HEADER.encode(), version.encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text.encode()})
