"""What every handler shares: JSON answers and errors, query parsing, bounded waits.

The bottom layer of the package: it imports nothing else of it but the settings
and telemetry.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import socket
from collections.abc import Awaitable
from typing import Any, TypeVar

import tornado.escape
import tornado.httputil
import tornado.iostream
import tornado.web
from tornado.log import access_log

from .settings import Settings
from .telemetry.logs import RequestIdHeader
from .telemetry.metrics import Metrics

__all__ = [
    "ApiError",
    "BaseApp",
    "ClientGone",
    "JsonHandler",
    "NotFoundHandler",
    "Route",
    "Routes",
    "ShuttingDown",
    "WaitTimedOut",
    "answer_and_close",
    "log_request",
    "parse_json",
]

T = TypeVar("T")
log = logging.getLogger(__name__)

# A JSON number (see JsonHandler.get_number).
NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")

# A URL rule as Tornado's Application takes it: pattern, handler, and the
# keyword arguments its `initialize` receives.
Route = (
    tuple[str, type[tornado.web.RequestHandler]]
    | tuple[str, type[tornado.web.RequestHandler], dict[str, Any]]
)
Routes = list[Route]


class ApiError(tornado.web.HTTPError):
    """An error the client should read: answered as `{"error": message, "status": code}`."""

    def __init__(
        self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(status, "%s", message)
        self.message = message
        self.headers = headers or {}
        self.extra = extra  # more fields for the JSON answer


class WaitTimedOut(ApiError):
    """A bounded wait ran out: 504, unless the handler has a better answer."""

    def __init__(self, what: str, timeout: float) -> None:
        super().__init__(504, f"{what} did not finish within {timeout:g} s")


class ShuttingDown(ApiError):
    """The server stopped waiting for this request: shutdown ran out of time."""

    def __init__(self) -> None:
        super().__init__(503, "the service is shutting down", {"Retry-After": "1"})


class ClientGone(tornado.web.HTTPError):
    """The client closed its connection while the handler was waiting for it.

    Logged as 499, nginx's "client closed request"; nothing is sent.
    """

    def __init__(self) -> None:
        super().__init__(499, reason="Client Closed Request")


class BaseApp(tornado.web.Application):
    """A Tornado Application that knows its settings and its requests in flight.

    Graceful shutdown waits on `idle`; `/health` reports how many are `active`.
    Every request gets an id (RequestIdHeader); with `metrics` set, each answer
    is counted as it is logged.
    """

    def __init__(self, config: Settings, routes: Routes, **tornado_settings: Any) -> None:
        self.config = config
        self.active: set[tornado.web.RequestHandler] = set()
        self.idle = asyncio.Event()  # set while no request is in flight
        self.idle.set()
        self.metrics: Metrics | None = None
        super().__init__(
            routes,
            cookie_secret=config.cookie_secret or None,
            debug=config.debug,
            default_handler_class=NotFoundHandler,
            log_function=self.answered,
            **tornado_settings,
        )
        self.add_transform(RequestIdHeader)

    def answered(self, handler: tornado.web.RequestHandler) -> None:
        """Tornado's hook for each answer: count it, then log it."""
        if self.metrics is not None:
            request = handler.request
            name = type(handler).__name__
            seconds = request.request_time()
            self.metrics.observe(name, request.method or "", handler.get_status(), seconds)
        log_request(handler)

    def request_started(self, handler: tornado.web.RequestHandler) -> None:
        self.active.add(handler)
        self.idle.clear()

    def request_ended(self, handler: tornado.web.RequestHandler) -> None:
        self.active.discard(handler)
        if not self.active:
            self.idle.set()

    def stop_waiting(self) -> None:
        """Answer every request still waiting with a 503: the service is going away."""
        for handler in list(self.active):
            if isinstance(handler, JsonHandler):
                handler.stop_waiting()

    def start_request(
        self, server_conn: object, request_conn: tornado.httputil.HTTPConnection
    ) -> tornado.httputil.HTTPMessageDelegate:
        delegate = super().start_request(server_conn, request_conn)
        return BodyLimit(delegate, request_conn, self.config.max_body_bytes)


class BodyLimit(tornado.httputil.HTTPMessageDelegate):
    """Refuses a body over the limit with a JSON 413 before reading it.

    Tornado's own limit (max_body_size) answers a bare 400 and only after its
    check; a declared Content-Length is refused here, from the headers alone.
    """

    def __init__(
        self,
        delegate: tornado.httputil.HTTPMessageDelegate,
        connection: tornado.httputil.HTTPConnection,
        limit: int,
    ) -> None:
        self.delegate = delegate
        self.connection = connection
        self.limit = limit
        self.refused = False

    def headers_received(
        self,
        start_line: tornado.httputil.RequestStartLine | tornado.httputil.ResponseStartLine,
        headers: tornado.httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        length = headers.get("Content-Length", "0")
        if length.isdigit() and int(length) > self.limit:
            self.refused = True
            self.refuse()
            return None
        return self.delegate.headers_received(start_line, headers)

    def refuse(self) -> None:
        # Detached, Tornado stops reading: the body is never received.
        stream = self.connection.detach()  # type: ignore[attr-defined]
        message = f"the body is over the limit of {self.limit} bytes (MAX_BODY_BYTES)"
        answer_and_close(stream, 413, "Content Too Large", message)
        access_log.warning("413 %s", message)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        return None if self.refused else self.delegate.data_received(chunk)

    def finish(self) -> None:
        if not self.refused:
            self.delegate.finish()

    def on_connection_close(self) -> None:
        if not self.refused:
            self.delegate.on_connection_close()


class JsonHandler(tornado.web.RequestHandler):
    """Base handler: JSON in and out, and waits that end when the client goes away."""

    application: BaseApp

    def initialize(self) -> None:
        self._waits: set[asyncio.Task[Any]] = set()  # tasks inside `wait` now
        self._client_gone = False
        self._stopped = False

    def prepare(self) -> None:
        self.application.request_started(self)

    def on_finish(self) -> None:
        self.application.request_ended(self)

    def on_connection_close(self) -> None:
        # As in Tornado's chat demo: a client that left releases what it waits for.
        self.application.request_ended(self)
        self._client_gone = True
        self._cancel_waits()

    def stop_waiting(self) -> None:
        """Cancel this request's waits so that it answers 503 (see BaseApp.stop_waiting)."""
        self._stopped = True
        self._cancel_waits()

    def _cancel_waits(self) -> None:
        for task in self._waits:
            if not task.cancelling():  # once: `wait` takes back one cancellation
                task.cancel()

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.clear_header("Server")  # no need to tell the world which version runs here

    def write_json(self, payload: dict[str, Any], status: int = 200) -> None:
        """Strict JSON: ValueError for inf and nan, which browsers cannot parse."""
        body = json.dumps(payload, allow_nan=False).replace("</", "<\\/")
        self.set_status(status)
        self.finish(body)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, ClientGone):
            return  # nobody is listening
        payload: dict[str, Any] = {"error": self._reason, "status": status_code}
        if isinstance(error, ApiError):
            payload.update(error.extra, error=error.message)
            for name, value in error.headers.items():
                self.set_header(name, value)
        self.error_message = payload["error"]  # for the access log's line
        self.finish(tornado.escape.json_encode(payload))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, ClientGone):
            log.info("%s %s: client went away", self.request.method, self.request.uri)
            return
        if isinstance(value, ApiError):
            return  # an answer we chose: the access log's line says it, with its message
        super().log_exception(typ, value, tb)  # a bug: its traceback

    def get_seconds(self, name: str = "seconds") -> float:
        """The `seconds` query argument: a finite number in [0, SLEEP_MAX_SECONDS]."""
        limit = self.application.config.sleep_max_seconds
        raw = self.get_query_argument(name, None)
        if raw is None:
            raise ApiError(400, f"missing query parameter {name!r} (a number of seconds)")
        try:
            seconds = float(raw)
        except ValueError:
            raise ApiError(400, f"{name!r} must be a number, got {raw!r}") from None
        if not math.isfinite(seconds) or not 0 <= seconds <= limit:
            raise ApiError(400, f"{name!r} must be between 0 and {limit:g}, got {raw!r}")
        return seconds

    def get_number(self, name: str, limit: int) -> int | float:
        """The query argument `name`: a number as JSON writes it, between -limit and limit.

        Not NaN, Infinity, `0x10` or `1_000`, which Python reads but other programs may not.
        """
        raw = self.get_query_argument(name, None)
        if raw is None:
            raise ApiError(400, f"missing query parameter {name!r} (a number)")
        if len(raw) > 40 or not NUMBER.fullmatch(raw):
            raise ApiError(400, f"{name!r} must be a number, got {raw[:40]!r}")
        value = float(raw) if any(sign in raw for sign in ".eE") else int(raw)
        if not abs(value) <= limit:
            raise ApiError(400, f"{name!r} must be between {-limit} and {limit}, got {raw!r}")
        return value

    async def wait(self, awaitable: Awaitable[T], timeout: float, what: str) -> T:
        """Await `awaitable` for at most `timeout` seconds, or until the client leaves.

        Timeout: 504 naming `what`. Client gone: the wait is cancelled, so whatever
        it holds (a timer, a pool slot, a broker subscription) is released now.
        The awaitable runs in the caller's own task under `asyncio.timeout`, and a
        client that leaves cancels that task: no task and timer of its own per
        request, as `asyncio.wait_for` would make.
        """
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("wait() runs inside a task")
        if (unwanted := self._unwanted()) is not None:
            drop(awaitable)  # the client left, or shutdown began, before the wait did
            raise unwanted
        self._waits.add(task)
        try:
            async with asyncio.timeout(timeout):
                return await awaitable
        except TimeoutError:
            raise WaitTimedOut(what, timeout) from None
        except asyncio.CancelledError:
            if (unwanted := self._unwanted()) is None:
                raise  # the server itself is cancelling us: let it
            task.uncancel()  # the cancellation was ours (_cancel_waits): it ends here
            raise unwanted from None
        finally:
            self._waits.discard(task)

    def _unwanted(self) -> tornado.web.HTTPError | None:
        """Why nobody wants this request's answer any more, if so."""
        if self._client_gone:
            return ClientGone()
        if self._stopped:
            return ShuttingDown()
        return None


def drop(awaitable: Awaitable[Any]) -> None:
    """Release what will never be awaited: a coroutine is closed, a future cancelled."""
    if asyncio.iscoroutine(awaitable):
        awaitable.close()
    elif asyncio.isfuture(awaitable):
        awaitable.cancel()


class NotFoundHandler(JsonHandler):
    """Answers every unknown path with a JSON 404."""

    def prepare(self) -> None:
        raise ApiError(404, f"no such endpoint: {self.request.path}")


def answer_and_close(
    stream: tornado.iostream.IOStream, status: int, reason: str, message: str
) -> None:
    """A JSON error written straight to the connection, which is then closed.

    For what is refused before any handler runs (too many connections, a body
    too large): no handler is built, and what the client sends is discarded.
    """
    body = json.dumps({"error": message, "status": status}).encode()
    retry = "Retry-After: 1\r\n" if status == 503 else ""
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=UTF-8\r\n"
        f"{retry}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    task = asyncio.ensure_future(linger_close(stream, head.encode() + body))
    _closing.add(task)  # a reference until it is done
    task.add_done_callback(_closing.discard)


_closing: set[asyncio.Future[None]] = set()


async def linger_close(
    stream: tornado.iostream.IOStream, answer: bytes, seconds: float = 2.0, limit: int = 1 << 20
) -> None:
    """Write `answer`, then read and drop what the client still sends before closing.

    Closed with unread data in it, a socket is reset, and the client may lose
    the answer before reading it: it is usually still sending its request.
    """
    try:
        await stream.write(answer)
        stream.socket.shutdown(socket.SHUT_WR)
        async with asyncio.timeout(seconds):
            while limit > 0:
                limit -= len(await stream.read_bytes(65536, partial=True))
    except (OSError, TimeoutError, tornado.iostream.StreamClosedError):
        pass  # gone, or too slow or too much to wait for
    finally:
        stream.close()


def parse_json(body: bytes, limit: int = 64 * 1024) -> Any:
    """A request body as JSON: 413 past `limit` bytes, 400 when it is not JSON."""
    if len(body) > limit:
        raise ApiError(413, f"the body is over {limit // 1024} KiB")
    try:
        return json.loads(body)
    except RecursionError:  # 30,000 nested brackets fit in 60 KB
        raise ApiError(400, "the body is nested too deeply") from None
    except ValueError as error:
        raise ApiError(400, f"the body is not valid JSON: {error}") from None


def log_request(handler: tornado.web.RequestHandler) -> None:
    """Tornado's access log line, formatted only when its level is enabled.

    Tornado's default formats every line before the logger drops it, which
    costs a fast endpoint a few percent of its throughput. An error answer is
    one WARNING with its message; a bug adds its traceback (log_exception).
    """
    status = handler.get_status()
    level = logging.INFO if status < 400 else logging.WARNING
    if access_log.isEnabledFor(level):
        milliseconds = 1000 * handler.request.request_time()
        request = handler.request
        summary = f"{request.method} {request.uri} ({request.remote_ip})"
        why = getattr(handler, "error_message", "")
        suffix = f": {why}" if why else ""
        fields = {  # the line's parts, as fields of their own in JSON logs
            "method": request.method,
            "path": request.path,
            "status": status,
            "duration_ms": round(milliseconds, 3),
            "remote": request.remote_ip,
        }
        access_log.log(level, "%d %s %.2fms%s", status, summary, milliseconds, suffix, extra=fields)
