"""Channels: a message notified in any serving process reaches the subscribers of every one.

Each process keeps ONE subscription to the broker and hands each event to its
own subscribers (a waiting request, an open stream), so a thousand of them cost
a thousand small queues, not a thousand broker connections. The broker side
lives with its client (`RedisChannels`, `AmqpChannels` in clients/); with no
broker among the services, `LocalChannels` keeps messages within the process.
long_poll.py serves the channels over HTTP{{ ", push/ as a stream" if cookiecutter.push != "none" }}.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol, Self, runtime_checkable

from .settings import read_number

CHANNEL = re.compile(r"[A-Za-z0-9_.-]{1,64}")
EVENT_ID = re.compile(r"[0-9a-f]{16,64}")


@dataclasses.dataclass(frozen=True)
class ChannelSettings:
    # Names this service's keys, queues and exchanges on a shared broker.
    prefix: str = "{{ cookiecutter.package_name }}"
    wait_max_seconds: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        return cls(
            prefix=env.get("CHANNEL_PREFIX") or cls.prefix,
            wait_max_seconds=read_number(
                env, "WAIT_MAX_SECONDS", cls.wait_max_seconds, float, 1.0, 3600.0
            ),
        )


def new_event_id() -> str:
    """Unique, and ordered by time: the clock in nanoseconds (hex), then random bits."""
    return f"{time.time_ns():016x}{secrets.token_hex(4)}"


class Event:
    """A message notified on a channel, under the id every process knows it by.

    `text` is the JSON every subscriber is sent (`{"channel", "id", "message"}`),
    encoded once however many receive it; it is also what crosses the broker.
    """

    __slots__ = ("channel", "id", "message", "text")

    def __init__(self, channel: str, event_id: str, message: dict[str, Any], text: str) -> None:
        self.channel = channel
        self.id = event_id
        self.message = message
        self.text = text

    @classmethod
    def new(cls, channel: str, message: dict[str, Any]) -> Self:
        event_id = new_event_id()
        payload = {"channel": channel, "id": event_id, "message": message}
        # "</" escaped: the text stays valid JSON and can never close an HTML <script>.
        return cls(channel, event_id, message, json.dumps(payload).replace("</", "<\\/"))

    @classmethod
    def decode(cls, channel: str, data: bytes) -> Self | None:
        """An event as it came from the broker; None if it is not one of ours."""
        try:
            payload = json.loads(data)
        except ValueError:
            return None
        if not isinstance(payload, dict) or payload.get("channel") != channel:
            return None
        event_id, message = payload.get("id"), payload.get("message")
        if not isinstance(event_id, str) or not EVENT_ID.fullmatch(event_id):
            return None
        if not isinstance(message, dict):
            return None
        return cls(channel, event_id, message, data.decode())


class Subscription:
    """One subscriber's events, not yet taken: at most `limit` of them.

    A subscriber that falls further behind is `lagging`: later events are
    dropped for it and `on_lagging` is called once, for its handler to hang up
    (a slow client is disconnected, never buffered for ever).
    """

    __slots__ = ("_arrived", "_hub", "channel", "events", "lagging", "limit", "on_lagging")

    def __init__(
        self, hub: Hub, channel: str, limit: int, on_lagging: Callable[[], None] | None
    ) -> None:
        self._hub = hub
        self.channel = channel
        self.limit = limit
        self.on_lagging = on_lagging
        self.events: deque[Event] = deque()
        self.lagging = False
        self._arrived: asyncio.Future[None] | None = None

    def deliver(self, event: Event) -> None:
        if len(self.events) >= self.limit:
            if not self.lagging and self.on_lagging is not None:
                self.on_lagging()
            self.lagging = True
            return
        self.events.append(event)
        if self._arrived is not None and not self._arrived.done():
            self._arrived.set_result(None)

    async def next(self) -> Event:
        """The next event, waiting for one if need be (callers bound the wait)."""
        while not self.events:
            self._arrived = asyncio.get_running_loop().create_future()
            await self._arrived
        return self.events.popleft()

    def close(self) -> None:
        self._hub.unsubscribe(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class History:
    """The latest events of every channel, for subscribers that come back: `max_bytes` at most."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.order: deque[Event] = deque()  # every event kept, oldest first
        self.by_channel: dict[str, deque[Event]] = {}

    def add(self, event: Event) -> None:
        self.order.append(event)
        self.by_channel.setdefault(event.channel, deque()).append(event)
        self.size += len(event.text)
        while self.size > self.max_bytes:
            oldest = self.order.popleft()
            kept = self.by_channel[oldest.channel]
            kept.popleft()  # the oldest of all is the oldest of its channel
            if not kept:
                del self.by_channel[oldest.channel]
            self.size -= len(oldest.text)

    def since(self, channel: str, last_id: str) -> list[Event]:
        """The events of `channel` after `last_id`, as far as they are kept.

        An id that is no longer kept (or comes from elsewhere) is placed by the
        time it carries: what is newer is sent, nothing twice.
        """
        kept = list(self.by_channel.get(channel, ()))
        for index, event in enumerate(kept):
            if event.id == last_id:
                return kept[index + 1 :]
        return [event for event in kept if event.id > last_id]


class Hub:
    """This process's subscribers by channel, and, if asked, the recent events for replay."""

    def __init__(self) -> None:
        self.by_channel: dict[str, set[Subscription]] = {}
        self.history: History | None = None

    def keep_history(self, max_bytes: int) -> History:
        self.history = History(max_bytes)
        return self.history

    def subscribe(
        self, channel: str, limit: int = 1, on_lagging: Callable[[], None] | None = None
    ) -> Subscription:
        subscription = Subscription(self, channel, limit, on_lagging)
        self.by_channel.setdefault(channel, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self.by_channel.get(subscription.channel)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self.by_channel[subscription.channel]

    def publish(self, event: Event) -> int:
        """Hand `event` to every subscriber of its channel here; return how many there are."""
        if self.history is not None:
            self.history.add(event)
        subscribers = self.by_channel.get(event.channel, ())
        for subscription in list(subscribers):
            subscription.deliver(event)
        return len(subscribers)

    def receive(self, channel: str, data: bytes) -> None:
        """An event from the broker: published here unless it is not one of ours."""
        event = Event.decode(channel, data)
        if event is not None:
            self.publish(event)

    def __iter__(self) -> Iterator[Subscription]:
        for subscribers in self.by_channel.values():
            yield from subscribers

    def count(self) -> int:
        return sum(len(subscribers) for subscribers in self.by_channel.values())


class Channels(Protocol):
    """A fan-out of events to every process's `hub` (one broker subscription per process)."""

    label: str  # what errors name: "Redis", "RabbitMQ"
    hub: Hub
    settings: ChannelSettings

    @property
    def healthy(self) -> bool:
        """Subscribed: a notify from any process reaches this one's subscribers."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def notify(self, channel: str, message: dict[str, Any]) -> Event:
        """Send `message` to every process's subscribers of `channel`; the event sent."""


@runtime_checkable
class Broadcaster(Protocol):
    """A client that can fan messages out to every serving process."""

    def channels(self, settings: ChannelSettings) -> Channels: ...


class LocalChannels:
    """No broker among the services: a notify reaches the subscribers of this process only."""

    label = "channels"
    healthy = True

    def __init__(self, settings: ChannelSettings) -> None:
        self.settings = settings
        self.hub = Hub()

    async def start(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        """Nothing to release."""

    async def notify(self, channel: str, message: dict[str, Any]) -> Event:
        event = Event.new(channel, message)
        self.hub.publish(event)
        return event
