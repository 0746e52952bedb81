"""Server-Sent Events: `GET /events/<channel>` streams each event on the channel as it comes.

A browser's `EventSource` reads the stream and reconnects by itself when it
ends, sending the id of the last event it saw (`Last-Event-ID`): the stream
resumes from there, as far back as the replay buffer reaches.
"""

from __future__ import annotations

import asyncio

import tornado.iostream

from ..channels import CHANNEL, EVENT_ID, Channels, Event, Subscription
from ..long_poll import BadChannelHandler
from ..web import ApiError, ClientGone, JsonHandler, Routes, ShuttingDown, WaitTimedOut
from . import Push, PushSettings

RETRY_MS = 2000  # how long EventSource waits before it reconnects


class EventStream(Push):
    """`/events/<channel>`, and the replay buffer its clients resume from."""

    def __init__(self, settings: PushSettings, channels: Channels) -> None:
        super().__init__(settings, channels)
        self.history = self.hub.keep_history(settings.replay_bytes)

    def routes(self) -> Routes:
        return [
            (rf"/events/({CHANNEL.pattern})", EventStreamHandler, {"push": self}),
            (r"/events/.*", BadChannelHandler),
            *super().routes(),
        ]

    def closing(self) -> None:
        for handler in list(self.connected):
            handler.stop_waiting()  # each stream ends; the browsers reconnect elsewhere


class EventStreamHandler(JsonHandler):
    """Streams `channel`'s events, waiting for each up to PUSH_HEARTBEAT_SECONDS.

    A comment line is sent whenever nothing came for that long, so that proxies
    keep the connection open; the stream ends after PUSH_STREAM_MAX_SECONDS and
    at shutdown. A client that leaves releases its subscription at once; one that
    reads too slowly is disconnected (and resumes with Last-Event-ID).
    """

    def initialize(self, push: EventStream) -> None:  # type: ignore[override]
        super().initialize()
        self.push = push

    async def get(self, channel: str) -> None:
        self.allow_origin()
        last_id = self.last_event_id()
        self.push.require_channels()
        limit = self.push.settings.queue_limit
        self.push.connected.add(self)
        try:
            # Subscribed before the replay is read: nothing falls between the two.
            with self.push.hub.subscribe(channel, limit, on_lagging=self.hang_up) as subscription:
                self.start_stream()
                replayed = self.replay(channel, last_id)
                await self.send()
                await self.stream(subscription, replayed)
        except ClientGone:
            return  # nobody left to finish the stream for
        finally:
            self.push.connected.discard(self)
        self.finish()

    def start_stream(self) -> None:
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")  # nginx: pass each event on at once
        self.write(f"retry: {RETRY_MS}\n\n")

    def replay(self, channel: str, last_id: str) -> set[str]:
        """Write what a returning client missed; the ids written."""
        missed = self.push.history.since(channel, last_id) if last_id else []
        for event in missed:
            self.write_event(event)
        return {event.id for event in missed}

    async def stream(self, subscription: Subscription, replayed: set[str]) -> None:
        """Write each event as it comes, or a heartbeat, until the stream's time is up."""
        settings = self.push.settings
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.stream_max_seconds
        while (left := deadline - loop.time()) > 0:
            try:
                waited = min(settings.heartbeat_seconds, left)
                event = await self.wait(subscription.next(), waited, "the next event")
            except WaitTimedOut:
                self.write(": keep-alive\n\n")
            except ShuttingDown:
                return
            else:
                if event.id in replayed:
                    continue  # it came while the replay was read
                self.write_event(event)
            await self.send()

    def write_event(self, event: Event) -> None:
        self.write(f"id: {event.id}\ndata: {event.text}\n\n")

    async def send(self) -> None:
        """Flush to the client; a client that takes longer than a heartbeat is hung up on."""
        try:
            await self.wait(self.flush(), self.push.settings.heartbeat_seconds, "the client")
        except WaitTimedOut:
            self.hang_up()
            raise ClientGone() from None
        except tornado.iostream.StreamClosedError:
            raise ClientGone() from None

    def hang_up(self) -> None:
        """Close the connection: the client is gone, or too slow to keep up."""
        if self.request.connection is not None:
            self.request.connection.close()  # type: ignore[attr-defined]

    def allow_origin(self) -> None:
        """A page of an allowed origin may read the stream (CORS); others are refused."""
        origin = self.request.headers.get("Origin")
        if origin is None:
            return  # not a browser's cross-origin request
        if not self.push.settings.origin_allowed(origin, self.request.host):
            raise ApiError(403, f"origin {origin!r} is not allowed (PUSH_ALLOWED_ORIGINS)")
        self.set_header("Access-Control-Allow-Origin", origin)
        self.set_header("Vary", "Origin")

    def last_event_id(self) -> str:
        last_id = self.request.headers.get("Last-Event-ID", "")
        if last_id and not EVENT_ID.fullmatch(last_id):
            raise ApiError(400, "Last-Event-ID is not an id this service sent")
        return last_id
