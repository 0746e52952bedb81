"""RabbitMQ through aio-pika.

It replaces the tutorial's Pika `TornadoConnection`: aio-pika is Pika's
maintained asyncio successor. The connection is robust: after a broker restart
aio-pika reconnects and re-declares every queue, exchange and consumer declared
on it; until then, 503.
- `sleep`: a message with a time-to-live in a delay queue (one per length of
  sleep, shared by the requests that ask for it); when it expires RabbitMQ
  dead-letters it to this process's wake-up queue. The connection lost, every
  sleep in progress gets its 503 at once.
- `AmqpChannels`: a topic exchange; ONE queue per process bound to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, Self

import aio_pika

from ..amqp import connect_robust
from ..channels import ChannelSettings, Event, Hub
from ..settings import read_number
from .base import Client, ServiceUnavailable, url_address

log = logging.getLogger(__name__)
PACKAGE = __name__.split(".")[0]
URL_VARIABLE = "AMQP_URL"
DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/"
AMQP_ERRORS = (aio_pika.exceptions.AMQPError, OSError, TimeoutError, RuntimeError)
DELAY_QUEUE_EXPIRES = 60.0  # seconds a delay queue outlives its last declaration
OnConnect = Callable[[aio_pika.abc.AbstractRobustChannel], Awaitable[None]]


@dataclasses.dataclass(frozen=True)
class AmqpSettings:
    url: str = DEFAULT_URL
    # Connecting and every publish or declare must answer within this.
    timeout: float = 2.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        return cls(
            url=env.get(URL_VARIABLE) or cls.url,
            timeout=read_number(env, "AMQP_TIMEOUT", cls.timeout, float, 0.1, 60.0),
        )


class RabbitMQClient(Client):
    """One robust connection and channel per process."""

    name: ClassVar[str] = "rabbitmq"
    label: ClassVar[str] = "RabbitMQ"

    def __init__(self, settings: AmqpSettings) -> None:
        super().__init__(settings.timeout)
        self.settings = settings
        self.sleep_margin = 2 * settings.timeout  # declare + publish, then the expiry
        self.process_id = uuid.uuid4().hex
        self.wakeup_queue = f"{PACKAGE}.wakeup.{self.process_id}"
        self.sleepers: dict[str, asyncio.Future[None]] = {}
        self.delay_queues: dict[int, tuple[str, float]] = {}  # ttl ms -> (name, declared at)
        self.connection: aio_pika.abc.AbstractRobustConnection | None = None
        self.channel: aio_pika.abc.AbstractRobustChannel | None = None
        self.ready = asyncio.Event()
        self._on_connect: list[OnConnect] = [self._consume_wakeups]
        self._connecting: asyncio.Task[None] | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        return cls(AmqpSettings.from_env(env))

    def channels(self, settings: ChannelSettings) -> AmqpChannels:
        """Fan-out across processes for long-polling, on this client's connection."""
        return AmqpChannels(self, settings)

    def on_connect(self, callback: OnConnect) -> None:
        """Run `callback(channel)` once connected, to declare what it needs."""
        self._on_connect.append(callback)

    def address(self) -> tuple[str, int]:
        return url_address(self.settings.url, 5672)

    async def open(self, timeout: float = 5.0) -> None:
        """Connect in the background; a broker that is down gives 503s, not a crash."""
        self._connecting = asyncio.create_task(self._connect())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ready.wait(), timeout)

    async def _connect(self) -> None:
        delay = 0.5
        while self.connection is None:
            try:
                self.connection = await connect_robust(self.settings.url, self.settings.timeout)
            except AMQP_ERRORS as error:
                log.warning("RabbitMQ unreachable (%s); retrying in %g s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        self.connection.close_callbacks.add(self._on_lost)
        channel = await self.connection.channel()
        for callback in self._on_connect:
            await callback(channel)
        self.channel = channel
        self.ready.set()

    def _on_lost(self, _sender: object, error: BaseException | None) -> None:
        """The connection is gone: sleeps in progress would never wake. 503 each, now."""
        self.delay_queues.clear()  # declared again once reconnected
        lost = self.lost(error or ConnectionError("connection lost"))
        for sleeper in self.sleepers.values():
            if not sleeper.done():
                sleeper.set_exception(lost)

    async def release(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            await asyncio.gather(self._connecting, return_exceptions=True)
        if self.connection is not None:
            self.connection.close_callbacks.discard(self._on_lost)  # closed, not lost
            await self._close_connection(self.connection)
        self.connection = self.channel = None

    async def _close_connection(self, connection: aio_pika.abc.AbstractRobustConnection) -> None:
        """Close within the timeout: a robust connection caught between a loss and its
        reconnect can wait on a socket that is gone, and shutdown must not hang on it."""
        try:
            async with asyncio.timeout(self.settings.timeout):
                await connection.close()
        except AMQP_ERRORS as error:
            log.warning("RabbitMQ connection not closed cleanly: %r", error)

    @property
    def available(self) -> bool:
        """Live, at no cost: aio-pika's heartbeats notice a dead connection."""
        return self.channel is not None and not self.channel.is_closed

    async def ping(self) -> None:
        if not self.available:
            raise ConnectionError("not connected")

    def live_channel(self) -> aio_pika.abc.AbstractRobustChannel:
        if self.channel is None or self.channel.is_closed:
            raise ServiceUnavailable(self.label, "not connected")
        return self.channel

    async def _consume_wakeups(self, channel: aio_pika.abc.AbstractRobustChannel) -> None:
        wakeups = await channel.declare_queue(self.wakeup_queue, exclusive=True)
        await wakeups.consume(self._on_wakeup, no_ack=True)

    async def _on_wakeup(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        sleeper = self.sleepers.get(message.correlation_id or "")
        if sleeper is not None and not sleeper.done():
            sleeper.set_result(None)

    async def sleep(self, seconds: float) -> None:
        channel = self.live_channel()
        ttl_ms = max(1, round(seconds * 1000))
        sleep_id = uuid.uuid4().hex
        woken = self.sleepers[sleep_id] = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(self.settings.timeout):
                queue = await self._delay_queue(channel, ttl_ms)
                await channel.default_exchange.publish(
                    aio_pika.Message(b"", correlation_id=sleep_id), routing_key=queue
                )
        except AMQP_ERRORS as error:
            self.sleepers.pop(sleep_id, None)
            raise self.lost(error) from error
        try:
            await woken
        finally:
            self.sleepers.pop(sleep_id, None)

    async def _delay_queue(self, channel: aio_pika.abc.AbstractRobustChannel, ttl_ms: int) -> str:
        """The delay queue for sleeps of `ttl_ms`, declared again before it can expire.

        Publishing does not count as using a queue: unused (no consumer, not
        declared) for DELAY_QUEUE_EXPIRES, RabbitMQ deletes it.
        """
        name, declared_at = self.delay_queues.get(ttl_ms, ("", 0.0))
        if time.monotonic() - declared_at < DELAY_QUEUE_EXPIRES / 2:
            return name
        queue = await channel.declare_queue(
            f"{PACKAGE}.delay.{self.process_id}.{ttl_ms}",
            arguments={
                "x-message-ttl": ttl_ms,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": self.wakeup_queue,
                "x-expires": round(DELAY_QUEUE_EXPIRES * 1000),
            },
            robust=False,  # a reconnect declares it again on the next sleep
        )
        self.delay_queues[ttl_ms] = (queue.name, time.monotonic())
        return queue.name


class AmqpChannels:
    """`notify` publishes to a topic exchange; ONE queue per process is bound to it."""

    label = RabbitMQClient.label

    def __init__(self, client: RabbitMQClient, settings: ChannelSettings) -> None:
        self.client = client
        self.settings = settings
        self.hub = Hub()
        self.exchange: aio_pika.abc.AbstractExchange | None = None
        client.on_connect(self._subscribe)

    @property
    def healthy(self) -> bool:
        return self.exchange is not None and self.client.available

    async def start(self) -> None:
        """The subscription is declared when the client connects (see `_subscribe`)."""

    async def close(self) -> None:
        self.exchange = None

    async def _subscribe(self, channel: aio_pika.abc.AbstractRobustChannel) -> None:
        prefix = self.settings.prefix
        exchange = await channel.declare_exchange(
            f"{prefix}.notify", aio_pika.ExchangeType.TOPIC, durable=True
        )
        notices = await channel.declare_queue(
            f"{prefix}.notify.{self.client.process_id}", exclusive=True
        )
        await notices.bind(exchange, routing_key="#")
        await notices.consume(self._on_notice, no_ack=True)
        self.exchange = exchange

    async def _on_notice(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.hub.receive(message.routing_key or "", message.body)

    async def notify(self, channel: str, message: dict[str, Any]) -> Event:
        self.client.live_channel()
        if self.exchange is None:
            raise ServiceUnavailable(self.label, "not connected")
        event = Event.new(channel, message)
        try:
            async with asyncio.timeout(self.client.settings.timeout):
                body = event.text.encode()
                await self.exchange.publish(aio_pika.Message(body), routing_key=channel)
        except AMQP_ERRORS as error:
            raise self.client.lost(error) from error
        return event
