"""What every handler shares: JSON answers and errors, query parsing, bounded waits.

The bottom layer of the package: it imports nothing else of it but the settings.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable
from typing import Any, TypeVar

import tornado.escape
import tornado.web
from tornado.log import access_log

from .settings import Settings

__all__ = [
    "ApiError",
    "BaseApp",
    "ClientGone",
    "JsonHandler",
    "NotFoundHandler",
    "Route",
    "Routes",
    "WaitTimedOut",
    "log_request",
]

T = TypeVar("T")
log = logging.getLogger(__name__)

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


class ClientGone(tornado.web.HTTPError):
    """The client closed its connection while the handler was waiting for it.

    Logged as 499, nginx's "client closed request"; nothing is sent.
    """

    def __init__(self) -> None:
        super().__init__(499, reason="Client Closed Request")


class BaseApp(tornado.web.Application):
    """A Tornado Application that knows its settings and its requests in flight.

    Graceful shutdown waits on `idle`; `/health` reports how many are `active`.
    """

    def __init__(self, config: Settings, routes: Routes, **tornado_settings: Any) -> None:
        self.config = config
        self.active: set[tornado.web.RequestHandler] = set()
        self.idle = asyncio.Event()  # set while no request is in flight
        self.idle.set()
        super().__init__(
            routes,
            cookie_secret=config.cookie_secret or None,
            debug=config.debug,
            default_handler_class=NotFoundHandler,
            log_function=log_request,
            **tornado_settings,
        )

    def request_started(self, handler: tornado.web.RequestHandler) -> None:
        self.active.add(handler)
        self.idle.clear()

    def request_ended(self, handler: tornado.web.RequestHandler) -> None:
        self.active.discard(handler)
        if not self.active:
            self.idle.set()


class JsonHandler(tornado.web.RequestHandler):
    """Base handler: JSON in and out, and waits that end when the client goes away."""

    application: BaseApp

    def initialize(self) -> None:
        self._waits: set[asyncio.Future[Any]] = set()
        self._client_gone = False

    def prepare(self) -> None:
        self.application.request_started(self)

    def on_finish(self) -> None:
        self.application.request_ended(self)

    def on_connection_close(self) -> None:
        # As in Tornado's chat demo: a client that left releases what it waits for.
        self.application.request_ended(self)
        self._client_gone = True
        for waiting in self._waits:
            waiting.cancel()

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")

    def write_json(self, payload: dict[str, Any], status: int = 200) -> None:
        self.set_status(status)
        self.finish(tornado.escape.json_encode(payload))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, ClientGone):
            return  # nobody is listening
        payload: dict[str, Any] = {"error": self._reason, "status": status_code}
        if isinstance(error, ApiError):
            payload.update(error.extra, error=error.message)
            for name, value in error.headers.items():
                self.set_header(name, value)
        self.finish(tornado.escape.json_encode(payload))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, ClientGone):
            log.info("%s %s: client went away", self.request.method, self.request.uri)
            return
        if isinstance(value, ApiError) and value.status_code < 500:
            return  # the client's mistake: the access log's line is enough
        super().log_exception(typ, value, tb)

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

    async def wait(self, awaitable: Awaitable[T], timeout: float, what: str) -> T:
        """Await `awaitable` for at most `timeout` seconds, or until the client leaves.

        Timeout: 504 naming `what`. Client gone: the wait is cancelled, so whatever
        it holds (a timer, a pool slot, a broker subscription) is released now.
        """
        future = asyncio.ensure_future(awaitable)
        self._waits.add(future)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise WaitTimedOut(what, timeout) from None
        except asyncio.CancelledError:
            if self._client_gone:
                raise ClientGone() from None
            raise  # the server itself is cancelling us: let it
        finally:
            self._waits.discard(future)


class NotFoundHandler(JsonHandler):
    """Answers every unknown path with a JSON 404."""

    def prepare(self) -> None:
        raise ApiError(404, f"no such endpoint: {self.request.path}")


def log_request(handler: tornado.web.RequestHandler) -> None:
    """Tornado's access log line, formatted only when its level is enabled.

    Tornado's default formats every line before the logger drops it, which
    costs a fast endpoint a few percent of its throughput.
    """
    status = handler.get_status()
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    if access_log.isEnabledFor(level):
        milliseconds = 1000 * handler.request.request_time()
        request = handler.request
        summary = f"{request.method} {request.uri} ({request.remote_ip})"
        access_log.log(level, "%d %s %.2fms", status, summary, milliseconds)
