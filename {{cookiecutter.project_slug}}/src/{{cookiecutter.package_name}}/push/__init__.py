"""Server push: what is notified on a channel streams to the clients subscribed to it.

The channels are long-polling's (`/notify`, channels.py): through the broker
when one is among the services, so a notify in any process reaches the clients
of every process; within the process otherwise. One way to push is served,
chosen when the project was generated (its module is here), with a page that
shows the stream live at `/live/` (static/).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

import tornado.web

from ..channels import Channels
from ..settings import SettingsError, read_number
from ..strategy import Feature
from ..web import ApiError, Routes

STATIC = Path(__file__).resolve().parent / "static"


@dataclasses.dataclass(frozen=True)
class PushSettings:
    # Origins (scheme://host[:port]) besides the service's own whose pages may connect.
    allowed_origins: frozenset[str] = frozenset()
    # Events a client may fall behind; past it, it is disconnected.
    queue_limit: int = 100
    # Server-Sent Events: a comment this often keeps proxies from closing an idle
    # stream; a stream lasts at most stream_max_seconds (the browser reconnects);
    # the latest events, up to replay_bytes, are kept for clients that come back.
    heartbeat_seconds: float = 15.0
    stream_max_seconds: float = 3600.0
    replay_bytes: int = 1024 * 1024
    # WebSocket and Socket.IO: a ping this often, and the connection closed when
    # the pong does not come back within as long; no message over max_message_bytes.
    ping_seconds: float = 20.0
    max_message_bytes: int = 64 * 1024
    processes: int = 1

    @classmethod
    def from_env(cls, env: Mapping[str, str], processes: int = 1) -> Self:
        return cls(
            allowed_origins=read_origins(env.get("PUSH_ALLOWED_ORIGINS", "")),
            queue_limit=read_number(env, "PUSH_QUEUE_LIMIT", cls.queue_limit, int, 1, 100_000),
            heartbeat_seconds=read_number(
                env, "PUSH_HEARTBEAT_SECONDS", cls.heartbeat_seconds, float, 0.1, 3600.0
            ),
            stream_max_seconds=read_number(
                env, "PUSH_STREAM_MAX_SECONDS", cls.stream_max_seconds, float, 1.0, 86400.0
            ),
            replay_bytes=read_number(env, "PUSH_REPLAY_BYTES", cls.replay_bytes, int, 0, 2**30),
            ping_seconds=read_number(
                env, "PUSH_PING_SECONDS", cls.ping_seconds, float, 0.1, 3600.0
            ),
            max_message_bytes=read_number(
                env, "PUSH_MAX_MESSAGE_BYTES", cls.max_message_bytes, int, 256, 2**24
            ),
            processes=processes,
        )

    def origin_allowed(self, origin: str, host: str) -> bool:
        """The page's origin is the service's own (same host and port), or an allowed one."""
        return origin in self.allowed_origins or urlsplit(origin).netloc.lower() == host.lower()


def read_origins(raw: str) -> frozenset[str]:
    """PUSH_ALLOWED_ORIGINS: comma-separated origins, each scheme://host[:port] and no more."""
    origins = {origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip()}
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path:
            raise SettingsError(
                f"PUSH_ALLOWED_ORIGINS: {origin!r} is not an origin such as https://example.com"
            )
    return frozenset(origins)


class Push(Feature):
    """What every way to push shares: the channels, its settings, its clients counted, the page."""

    def __init__(self, settings: PushSettings, channels: Channels) -> None:
        self.settings = settings
        self.channels = channels
        self.hub = channels.hub
        self.connected: set[Any] = set()  # this process's clients (handlers, or session ids)

    def routes(self) -> Routes:
        page = {"path": str(STATIC), "default_filename": "live.html"}
        return [
            (r"/live", tornado.web.RedirectHandler, {"url": "/live/"}),
            (r"/live/(.*)", LivePageHandler, page),
        ]

    def stats(self) -> dict[str, int]:
        return {"subscribers": len(self.connected)}

    def require_channels(self) -> None:
        """503 while this process is not subscribed: what is notified elsewhere would not come."""
        if not self.channels.healthy:
            raise ApiError(
                503, f"{self.channels.label} unavailable: not subscribed", {"Retry-After": "5"}
            )


class LivePageHandler(tornado.web.StaticFileHandler):
    """The page that shows a channel's events live (static/live.html), and its script."""

    def set_default_headers(self) -> None:
        # Scripts and connections from this service only: a message can never run as code.
        policy = "default-src 'self'; connect-src 'self'; img-src 'self' data:"
        self.set_header("Content-Security-Policy", policy)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.clear_header("Server")
