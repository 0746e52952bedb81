"""WebSocket: `/ws/<channel>` sends each event on the channel as a text frame.

A frame the client sends (a JSON object) is notified on the channel, as
`POST /notify/<channel>` would: every subscriber, this one included, gets it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import tornado.websocket

from ..channels import CHANNEL
from ..long_poll import NOTIFY_TIMEOUT, BadChannelHandler, read_message
from ..web import ApiError, Routes, WaitTimedOut
from . import Push

log = logging.getLogger(__name__)
POLICY_VIOLATION = 1008  # RFC 6455: the close code for a client that broke the rules
GOING_AWAY = 1001


class WebSocketPush(Push):
    """`/ws/<channel>`: one subscription per open socket."""

    def routes(self) -> Routes:
        return [
            (rf"/ws/({CHANNEL.pattern})", ChannelSocket, {"push": self}),
            (r"/ws/.*", BadChannelHandler),
            *super().routes(),
        ]

    def closing(self) -> None:
        for socket in list(self.connected):
            socket.close(GOING_AWAY, "the server is shutting down")


class ChannelSocket(tornado.websocket.WebSocketHandler):
    """Waits for events on `channel` for as long as the socket is open.

    Tornado pings the client every PUSH_PING_SECONDS and closes a socket whose
    pong does not come back as long, so a dead client does not hold its
    subscription for ever. A client that reads too slowly is closed with 1008
    once it is PUSH_QUEUE_LIMIT events behind; a frame over
    PUSH_MAX_MESSAGE_BYTES closes the socket with 1009 (Tornado's check).
    """

    def initialize(self, push: WebSocketPush) -> None:
        self.push = push
        self.sending: asyncio.Future[None] | None = None

    @property
    def ping_interval(self) -> float:
        return self.push.settings.ping_seconds

    @property
    def ping_timeout(self) -> float:
        return self.push.settings.ping_seconds

    @property
    def max_message_size(self) -> int:
        return self.push.settings.max_message_bytes

    def check_origin(self, origin: str) -> bool:
        """Pages of the service's own origin and of PUSH_ALLOWED_ORIGINS; others get 403."""
        return self.push.settings.origin_allowed(origin, self.request.host)

    async def get(self, channel: str) -> None:
        if not self.push.channels.healthy:  # refused before the upgrade, as JSON
            self.set_status(503)
            self.set_header("Retry-After", "5")
            label = self.push.channels.label
            self.finish({"error": f"{label} unavailable: not subscribed", "status": 503})
            return
        await super().get(channel)

    def open(self, channel: str) -> None:
        limit = self.push.settings.queue_limit
        self.subscription = self.push.hub.subscribe(channel, limit, on_lagging=self.too_slow)
        self.push.connected.add(self)
        self.sending = asyncio.ensure_future(self.send_events())

    async def send_events(self) -> None:
        """Each event as a frame, the next one once the last is with the kernel."""
        with contextlib.suppress(tornado.websocket.WebSocketClosedError):
            while True:
                event = await self.subscription.next()
                await self.write_message(event.text)

    def too_slow(self) -> None:
        """Let go of the subscription now, and close: the close frame waits behind the rest."""
        limit = self.push.settings.queue_limit
        log.warning("closing a WebSocket %d events behind: %s", limit, self.request.remote_ip)
        self.release()
        self.close(POLICY_VIOLATION, f"too slow: more than {limit} events behind")

    async def on_message(self, message: str | bytes) -> None:
        """A JSON object, notified on this socket's channel; an error frame otherwise."""
        try:
            await self.notify(message)
        except ApiError as error:
            reply = {"error": error.message, "status": error.status_code}
            with contextlib.suppress(tornado.websocket.WebSocketClosedError):
                await self.write_message(json.dumps(reply))

    async def notify(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            raise ApiError(400, "send text frames: a JSON object")
        notice = read_message(message.encode())
        channels = self.push.channels
        try:
            async with asyncio.timeout(NOTIFY_TIMEOUT):
                await channels.notify(self.subscription.channel, notice)
        except TimeoutError:
            raise WaitTimedOut(channels.label, NOTIFY_TIMEOUT) from None

    def on_close(self) -> None:
        self.release()

    def release(self) -> None:
        if self.sending is not None:
            self.sending.cancel()
            self.subscription.close()
        self.push.connected.discard(self)
