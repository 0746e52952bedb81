"""Socket.IO: python-socketio's server, mounted in the app at `/socket.io/`.

A client emits `subscribe` with a channel name and joins that channel's room;
each event on the channel is emitted to the room as `message`
(`{"channel", "id", "message"}`). Emitting `notify` with `{"channel", "message"}`
notifies a channel, as `POST /notify/<channel>` does. Each room is fed by ONE
subscription to the channels per process, however many clients it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import socketio
import tornado.web

from ..channels import CHANNEL, Channels, Subscription
from ..long_poll import NOTIFY_TIMEOUT
from ..web import ApiError, Routes
from . import Push, PushSettings

log = logging.getLogger(__name__)
POLICY_VIOLATION = 1008  # RFC 6455: the close code for a client that broke the rules


class SocketIOPush(Push):
    """The Socket.IO server, its rooms, and the subscription that feeds each room."""

    def __init__(self, settings: PushSettings, channels: Channels) -> None:
        super().__init__(settings, channels)
        self.server = socketio.AsyncServer(
            async_mode="tornado",
            cors_allowed_origins=self.origin_allowed,
            ping_interval=settings.ping_seconds,
            ping_timeout=settings.ping_seconds,
            max_http_buffer_size=settings.max_message_bytes,
            # Long-polling needs all of a session's requests to reach one process:
            # with several, WebSocket only (or sticky sessions in front of them).
            transports=["polling", "websocket"] if settings.processes == 1 else ["websocket"],
        )
        self.members: dict[str, set[str]] = {}  # channel -> session ids in its room
        self.feeds: dict[str, asyncio.Task[None]] = {}  # channel -> what feeds its room
        self.disconnecting: asyncio.Future[Any] | None = None
        for event in ("connect", "disconnect", "subscribe", "unsubscribe", "notify"):
            self.server.on(event, getattr(self, f"on_{event}"))

    def routes(self) -> Routes:
        return [(r"/socket.io/", socket_handler(self)), *super().routes()]

    def origin_allowed(self, origin: str | None, environ: Mapping[str, Any]) -> bool:
        return origin is None or self.settings.origin_allowed(origin, environ.get("HTTP_HOST", ""))

    async def on_connect(self, sid: str, environ: Mapping[str, Any], auth: Any = None) -> bool:
        self.connected.add(sid)
        return True

    async def on_disconnect(self, sid: str, reason: str = "") -> None:
        self.connected.discard(sid)
        for channel in [name for name, sids in self.members.items() if sid in sids]:
            self.leave(sid, channel)

    async def on_subscribe(self, sid: str, channel: Any) -> dict[str, Any]:
        """Join `channel`'s room; the answer is the client's acknowledgement."""
        if not isinstance(channel, str) or not CHANNEL.fullmatch(channel):
            return {"error": "a channel name is 1 to 64 of A-Z a-z 0-9 _ . -", "status": 400}
        try:
            self.require_channels()
        except ApiError as error:
            return {"error": error.message, "status": error.status_code}
        await self.server.enter_room(sid, channel)
        self.members.setdefault(channel, set()).add(sid)
        if channel not in self.feeds:
            subscription = self.hub.subscribe(channel, self.settings.queue_limit, self.lagging)
            self.feeds[channel] = asyncio.create_task(self.feed(subscription))
        return {"channel": channel}

    async def on_unsubscribe(self, sid: str, channel: Any) -> dict[str, Any]:
        if isinstance(channel, str) and sid in self.members.get(channel, ()):
            await self.server.leave_room(sid, channel)
            self.leave(sid, channel)
        return {"channel": channel}

    async def on_notify(self, sid: str, data: Any) -> dict[str, Any]:
        """`{"channel": ..., "message": {...}}` notified; the event's id, or an error."""
        if not isinstance(data, dict) or not CHANNEL.fullmatch(str(data.get("channel", ""))):
            return {"error": "emit notify with {channel, message}", "status": 400}
        if not isinstance(data.get("message"), dict):
            return {"error": "the message must be a JSON object", "status": 400}
        try:
            async with asyncio.timeout(NOTIFY_TIMEOUT):
                event = await self.channels.notify(data["channel"], data["message"])
        except ApiError as error:
            return {"error": error.message, "status": error.status_code}
        except TimeoutError:
            label = self.channels.label
            return {"error": f"{label} did not answer within {NOTIFY_TIMEOUT:g} s", "status": 504}
        return {"channel": event.channel, "id": event.id}

    def leave(self, sid: str, channel: str) -> None:
        """`sid` left the room; the room's feed stops with its last member."""
        members = self.members.get(channel, set())
        members.discard(sid)
        if not members:
            self.members.pop(channel, None)
            feed = self.feeds.pop(channel, None)
            if feed is not None:
                feed.cancel()

    async def feed(self, subscription: Subscription) -> None:
        """Emit each event of the channel to its room, as it comes."""
        with subscription:
            while True:
                event = await subscription.next()
                message = {"channel": event.channel, "id": event.id, "message": event.message}
                await self.server.emit("message", message, room=event.channel)

    def lagging(self) -> None:
        log.warning("a Socket.IO room fell %d events behind", self.settings.queue_limit)

    def closing(self) -> None:
        disconnects = [self.server.disconnect(sid) for sid in list(self.connected)]
        self.disconnecting = asyncio.gather(*disconnects, return_exceptions=True)

    async def close(self) -> None:
        if self.disconnecting is not None:
            await self.disconnecting
        for feed in self.feeds.values():
            feed.cancel()
        await asyncio.gather(*self.feeds.values(), return_exceptions=True)
        self.feeds.clear()
        await self.server.shutdown()


def socket_handler(push: SocketIOPush) -> type[tornado.web.RequestHandler]:
    """python-socketio's Tornado handler, with this app's limits."""
    base: type[Any] = socketio.get_tornado_handler(push.server)
    limit = push.settings.queue_limit

    class SocketIOHandler(base):  # type: ignore[misc]
        """Engine.IO's connection: polling requests, or one WebSocket."""

        unsent = 0  # frames written that have not reached the kernel yet

        @property
        def max_message_size(self) -> int:
            return push.settings.max_message_bytes

        def get_compression_options(self) -> None:
            return None  # compressed, each frame would cost CPU once per client

        def check_origin(self, origin: str) -> bool:
            return push.settings.origin_allowed(origin, self.request.host)

        def write_message(self, message: str | bytes, binary: bool = False) -> Any:
            """A client more than PUSH_QUEUE_LIMIT frames behind is closed with 1008."""
            written = super().write_message(message, binary)
            self.unsent += 1
            written.add_done_callback(self.sent)
            if self.unsent > limit:
                log.warning("closing a Socket.IO client %d frames behind", limit)
                with contextlib.suppress(Exception):
                    self.close(POLICY_VIOLATION, f"too slow: more than {limit} frames behind")
            return written

        def sent(self, written: asyncio.Future[None]) -> None:
            self.unsent -= 1
            if not written.cancelled():
                written.exception()  # a write to a socket closed meanwhile: nothing to do

    return SocketIOHandler
