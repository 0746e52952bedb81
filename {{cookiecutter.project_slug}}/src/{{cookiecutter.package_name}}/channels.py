"""Channels: a message notified in any serving process reaches the waiters of every one.

Each process keeps ONE subscription to the broker and wakes its own local
waiters, so a thousand waiting requests cost a thousand Futures, not a thousand
connections. The broker side lives with its client (`RedisChannels`,
`AmqpChannels` in clients/); long_poll.py serves them over HTTP.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Protocol, Self, runtime_checkable

from .settings import read_number


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


class LocalWaiters:
    """This process's waiting requests, by channel."""

    def __init__(self) -> None:
        self.by_channel: defaultdict[str, set[asyncio.Future[dict[str, Any]]]] = defaultdict(set)

    def wait(self, channel: str) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.by_channel[channel].add(future)
        future.add_done_callback(lambda done: self._discard(channel, done))
        return future

    def _discard(self, channel: str, future: asyncio.Future[dict[str, Any]]) -> None:
        waiting = self.by_channel.get(channel)
        if waiting is not None:
            waiting.discard(future)
            if not waiting:
                del self.by_channel[channel]

    def wake(self, channel: str, message: dict[str, Any]) -> int:
        """Resolve every waiter on `channel`; return how many there were."""
        woken = 0
        for future in list(self.by_channel.get(channel, ())):
            if not future.done():
                future.set_result(message)
                woken += 1
        return woken

    def wake_from_bytes(self, channel: str, data: bytes) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            return  # not ours: only /notify publishes here, and it sends JSON objects
        if isinstance(message, dict):
            self.wake(channel, message)

    def count(self) -> int:
        return sum(len(futures) for futures in self.by_channel.values())


class Channels(Protocol):
    """A broker's fan-out: one subscription per process, feeding `waiters`."""

    label: str  # the broker, as errors name it: "Redis", "RabbitMQ"
    waiters: LocalWaiters
    settings: ChannelSettings

    @property
    def healthy(self) -> bool:
        """Subscribed: a notify from any process reaches this one's waiters."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def notify(self, channel: str, message: dict[str, Any]) -> None:
        """Send `message` to every process's waiters on `channel`."""


@runtime_checkable
class Broadcaster(Protocol):
    """A client that can fan messages out to every serving process."""

    def channels(self, settings: ChannelSettings) -> Channels: ...
