"""The application factory: shared routes plus the chosen strategy's routes."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import tornado.web
from tornado.log import access_log

from . import {{ cookiecutter.__strategy_module }} as chosen
from .settings import Settings
from .web import HealthHandler, NotFoundHandler

if TYPE_CHECKING:
    from .web import Routes


class Strategy(Protocol):
    """How a slow request waits. One module per strategy implements this."""

    name: ClassVar[str]

    def routes(self) -> Routes:
        """URL rules served by this strategy (at least `/sleep`)."""

    async def start(self) -> None:
        """Open pools and connections; called in the serving process, inside its loop."""

    async def close(self) -> None:
        """Release everything `start` opened; called once at shutdown."""

    async def health(self) -> dict[str, str]:
        """Name of each dependency -> "up" or "down" (empty when there are none)."""


class ServiceApp(tornado.web.Application):
    """A Tornado Application that knows its settings, its strategy and its open requests."""

    def __init__(self, config: Settings, strategy: Strategy, **tornado_settings: Any) -> None:
        self.config = config
        self.strategy = strategy
        self.active: set[tornado.web.RequestHandler] = set()
        self.idle = asyncio.Event()  # set while no request is in flight
        self.idle.set()
        routes: Routes = [(r"/health", HealthHandler), *strategy.routes()]
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

    async def start(self) -> None:
        await self.strategy.start()

    async def close(self) -> None:
        await self.strategy.close()


def log_request(handler: tornado.web.RequestHandler) -> None:
    """Tornado's access log line, formatted only when its level is enabled.

    Tornado's default formats every line before the logger drops it: a few
    percent of a fast endpoint's throughput.
    """
    status = handler.get_status()
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    if access_log.isEnabledFor(level):
        milliseconds = 1000 * handler.request.request_time()
        request = handler.request
        summary = f"{request.method} {request.uri} ({request.remote_ip})"
        access_log.log(level, "%d %s %.2fms", status, summary, milliseconds)


def make_app(config: Settings, strategy: Strategy | None = None) -> ServiceApp:
    """Build the app; `strategy` defaults to the one this project was generated with."""
    return ServiceApp(config, strategy or chosen.make_strategy(config))
