"""Long-polling: `/wait/<channel>` is held until `/notify/<channel>`, from any process.

The classic Tornado pattern (the chat demo's), spread over processes by a
broker when one is among the services (channels.py), within the process
otherwise. It also owns the channels: opened first, closed last.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Self

from .channels import CHANNEL, Broadcaster, Channels, ChannelSettings, LocalChannels
from .clients import Clients
from .strategy import Feature
from .web import ApiError, JsonHandler, Routes, WaitTimedOut, parse_json

MAX_MESSAGE = 64 * 1024
NOTIFY_TIMEOUT = 5.0


class LongPoll(Feature):
    """`/wait` and `/notify` through the first broker among the app's services, if any."""

    def __init__(self, channels: Channels) -> None:
        self.channels = channels
        self.waiting = 0  # requests held in /wait now

    @classmethod
    def from_env(cls, env: Mapping[str, str], clients: Clients) -> Self:
        settings = ChannelSettings.from_env(env)
        broker = next((client for client in clients if isinstance(client, Broadcaster)), None)
        return cls(broker.channels(settings) if broker else LocalChannels(settings))

    def routes(self) -> Routes:
        context = {"long_poll": self}
        channel = CHANNEL.pattern
        return [
            (rf"/wait/({channel})", WaitHandler, context),
            (rf"/notify/({channel})", NotifyHandler, context),
            (r"/(?:wait|notify)/.*", BadChannelHandler),
        ]

    async def start(self) -> None:
        await self.channels.start()

    async def close(self) -> None:
        await self.channels.close()

    def stats(self) -> dict[str, int]:
        return {"waiting": self.waiting}


class ChannelHandler(JsonHandler):
    def initialize(self, long_poll: LongPoll) -> None:  # type: ignore[override]
        super().initialize()
        self.long_poll = long_poll
        self.channels = long_poll.channels

    def require_channels(self) -> None:
        """503 while this process is not subscribed: a notify elsewhere would not reach it."""
        if not self.channels.healthy:
            raise ApiError(
                503, f"{self.channels.label} unavailable: not subscribed", {"Retry-After": "5"}
            )


class WaitHandler(ChannelHandler):
    """Holds the request until an event on `channel` arrives (200), or 204 at the timeout."""

    async def get(self, channel: str) -> None:
        timeout = self.get_timeout(self.channels.settings.wait_max_seconds)
        self.require_channels()
        self.long_poll.waiting += 1
        try:
            with self.channels.hub.subscribe(channel) as subscription:
                # Timed out or client gone: the wait is cancelled and leaves its channel.
                event = await self.wait(subscription.next(), timeout, "the wait")
        except WaitTimedOut:
            self.set_status(204)  # nothing arrived: ask again
            self.finish()
            return
        finally:
            self.long_poll.waiting -= 1
        self.finish(event.text)  # {"channel": ..., "id": ..., "message": {...}}

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
    """Publishes the JSON body to every process's subscribers of `channel`."""

    async def post(self, channel: str) -> None:
        message = read_message(self.request.body)
        notifying = self.channels.notify(channel, message)
        event = await self.wait(notifying, NOTIFY_TIMEOUT, self.channels.label)
        self.write_json({"channel": channel, "id": event.id, "sent": True}, status=202)


def read_message(body: bytes) -> dict[str, object]:
    """A message to notify: a JSON object of at most MAX_MESSAGE bytes, else 400 or 413."""
    if len(body) > MAX_MESSAGE:
        raise ApiError(413, f"the message is over {MAX_MESSAGE // 1024} KiB")
    message = parse_json(body, MAX_MESSAGE)
    if not isinstance(message, dict):
        raise ApiError(400, "the message must be a JSON object")
    return message


class BadChannelHandler(JsonHandler):
    def prepare(self) -> None:
        raise ApiError(400, f"a channel name is 1 to 64 of A-Z a-z 0-9 _ . - ({self.request.path})")
