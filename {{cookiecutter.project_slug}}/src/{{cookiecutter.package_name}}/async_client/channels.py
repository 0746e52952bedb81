"""The handlers every broker client shares: /sleep, and long-polling across processes.

`/wait/<channel>` is held until `/notify/<channel>`.

The classic Tornado pattern (the chat demo's), spread over processes by a broker:
each process keeps ONE subscription to the broker and wakes its own local waiters,
so a thousand waiting requests cost a thousand Futures, not a thousand connections.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from typing import TYPE_CHECKING, Any, Protocol

from ..web import ApiError, JsonHandler, WaitTimedOut

if TYPE_CHECKING:
    from ..web import Routes

CHANNEL = r"[A-Za-z0-9_.-]{1,64}"
MAX_MESSAGE = 64 * 1024


class Broker(Protocol):
    """What a broker client (redis_channels.py, amqp_channels.py) offers the handlers."""

    service: str  # its name in messages: "Redis", "RabbitMQ"
    waiters: LocalWaiters
    wait_max_seconds: float
    sleep_margin: float  # how long a /sleep may take beyond the time asked for

    @property
    def healthy(self) -> bool: ...

    async def sleep(self, seconds: float) -> None: ...

    async def notify(self, channel: str, message: dict[str, Any]) -> None: ...


class BrokerDown(Exception):
    """The broker cannot be reached; the message says which and why."""


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


class BrokerHandler(JsonHandler):
    def initialize(self, broker: Broker) -> None:  # type: ignore[override]
        super().initialize()
        self.broker = broker

    def unavailable(self, error: BrokerDown) -> ApiError:
        return ApiError(503, f"{self.broker.service} unavailable: {error}", {"Retry-After": "5"})


class SleepHandler(BrokerHandler):
    """Waits for the broker itself to time the sleep (see each client's `sleep`)."""

    async def get(self) -> None:
        seconds = self.get_seconds()
        try:
            limit = seconds + self.broker.sleep_margin
            await self.wait(self.broker.sleep(seconds), limit, "the broker")
        except BrokerDown as error:
            raise self.unavailable(error) from None
        self.write_json({"slept": seconds, "strategy": "async_client"})


class WaitHandler(BrokerHandler):
    """Holds the request until a message on `channel` arrives (200), or 204 at the timeout."""

    async def get(self, channel: str) -> None:
        limit = self.broker.wait_max_seconds
        timeout = self.get_timeout(limit)
        if not self.broker.healthy:
            raise self.unavailable(BrokerDown("not subscribed"))
        waiting = self.broker.waiters.wait(channel)
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


class NotifyHandler(BrokerHandler):
    """Publishes the JSON body to every process's waiters on `channel`."""

    async def post(self, channel: str) -> None:
        if len(self.request.body) > MAX_MESSAGE:
            raise ApiError(413, f"the message is over {MAX_MESSAGE // 1024} KiB")
        try:
            message = json.loads(self.request.body)
        except ValueError as error:
            raise ApiError(400, f"the body is not valid JSON: {error}") from None
        if not isinstance(message, dict):
            raise ApiError(400, "the message must be a JSON object")
        try:
            await self.wait(self.broker.notify(channel, message), 5, "the broker")
        except BrokerDown as error:
            raise self.unavailable(error) from None
        self.write_json({"channel": channel, "sent": True}, status=202)


class BadChannelHandler(JsonHandler):
    def prepare(self) -> None:
        raise ApiError(400, f"a channel name is 1 to 64 of A-Z a-z 0-9 _ . - ({self.request.path})")


def broker_routes(broker: Broker) -> Routes:
    context = {"broker": broker}
    return [
        (r"/sleep", SleepHandler, context),
        (rf"/wait/({CHANNEL})", WaitHandler, context),
        (rf"/notify/({CHANNEL})", NotifyHandler, context),
        (r"/(?:wait|notify)/.*", BadChannelHandler),
    ]
