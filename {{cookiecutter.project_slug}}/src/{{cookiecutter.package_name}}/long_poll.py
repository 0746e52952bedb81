"""Long-polling: `/wait/<channel>` is held until `/notify/<channel>`, from any process.

The classic Tornado pattern (the chat demo's), spread over processes by a
broker (channels.py). The app serves it whenever one of its services is one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Self

from .channels import Broadcaster, Channels, ChannelSettings
from .clients import Clients
from .strategy import Feature
from .web import ApiError, JsonHandler, Routes, WaitTimedOut, parse_json

CHANNEL = r"[A-Za-z0-9_.-]{1,64}"
MAX_MESSAGE = 64 * 1024


class LongPoll(Feature):
    """`/wait` and `/notify` through the first broker among the app's services."""

    def __init__(self, channels: Channels) -> None:
        self.channels = channels

    @classmethod
    def from_env(cls, env: Mapping[str, str], clients: Clients) -> Self:
        broker = next(client for client in clients if isinstance(client, Broadcaster))
        return cls(broker.channels(ChannelSettings.from_env(env)))

    def routes(self) -> Routes:
        context = {"channels": self.channels}
        return [
            (rf"/wait/({CHANNEL})", WaitHandler, context),
            (rf"/notify/({CHANNEL})", NotifyHandler, context),
            (r"/(?:wait|notify)/.*", BadChannelHandler),
        ]

    async def start(self) -> None:
        await self.channels.start()

    async def close(self) -> None:
        await self.channels.close()


class ChannelHandler(JsonHandler):
    def initialize(self, channels: Channels) -> None:  # type: ignore[override]
        super().initialize()
        self.channels = channels


class WaitHandler(ChannelHandler):
    """Holds the request until a message on `channel` arrives (200), or 204 at the timeout."""

    async def get(self, channel: str) -> None:
        timeout = self.get_timeout(self.channels.settings.wait_max_seconds)
        if not self.channels.healthy:
            raise ApiError(
                503, f"{self.channels.label} unavailable: not subscribed", {"Retry-After": "5"}
            )
        waiting = self.channels.waiters.wait(channel)
        try:
            # Timed out or client gone: the Future is cancelled and leaves its channel.
            message = await self.wait(waiting, timeout, "the wait")
        except WaitTimedOut:
            self.set_status(204)  # nothing arrived: ask again
            self.finish()
            return
        self.write_json({"channel": channel, "message": message})

    def get_timeout(self, limit: float) -> float:
        raw = self.get_query_argument("timeout", str(limit))
        try:
            timeout = float(raw)
        except ValueError:
            raise ApiError(400, f"'timeout' must be a number, got {raw!r}") from None
        if not 0 < timeout <= limit:
            raise ApiError(400, f"'timeout' must be more than 0 and at most {limit:g}, got {raw!r}")
        return timeout


class NotifyHandler(ChannelHandler):
    """Publishes the JSON body to every process's waiters on `channel`."""

    async def post(self, channel: str) -> None:
        if len(self.request.body) > MAX_MESSAGE:
            raise ApiError(413, f"the message is over {MAX_MESSAGE // 1024} KiB")
        message = parse_json(self.request.body, MAX_MESSAGE)
        if not isinstance(message, dict):
            raise ApiError(400, "the message must be a JSON object")
        await self.wait(self.channels.notify(channel, message), 5, self.channels.label)
        self.write_json({"channel": channel, "sent": True}, status=202)


class BadChannelHandler(JsonHandler):
    def prepare(self) -> None:
        raise ApiError(400, f"a channel name is 1 to 64 of A-Z a-z 0-9 _ . - ({self.request.path})")
