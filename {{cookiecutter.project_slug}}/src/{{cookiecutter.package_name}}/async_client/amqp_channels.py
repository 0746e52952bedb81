"""RabbitMQ through aio-pika: a broker-timed sleep, and long-polling.

- `/sleep`: a message with a time-to-live in a short-lived queue of its own;
  when it expires RabbitMQ dead-letters it to this process's wake-up queue.
- `/wait` + `/notify`: a topic exchange; ONE queue per process bound to it.
The connection is robust: after a broker restart aio-pika reconnects and
re-declares the exchange, both queues and their consumers; until then, 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Self

import aio_pika

from ..settings import Settings, read_number
from .channels import BrokerDown, LocalWaiters, broker_routes

if TYPE_CHECKING:
    from ..web import Routes

log = logging.getLogger(__name__)
SERVICE = "RabbitMQ"
URL_VARIABLE = "AMQP_URL"
DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/"
AMQP_ERRORS = (aio_pika.exceptions.AMQPError, OSError, TimeoutError, RuntimeError)


@dataclasses.dataclass(frozen=True)
class AmqpSettings:
    url: str = DEFAULT_URL
    # Connecting and every publish or declare must answer within this.
    timeout: float = 2.0
    prefix: str = "{{ cookiecutter.package_name }}"
    wait_max_seconds: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        return cls(
            url=env.get(URL_VARIABLE) or cls.url,
            timeout=read_number(env, "AMQP_TIMEOUT", cls.timeout, float, 0.1, 60.0),
            prefix=env.get("CHANNEL_PREFIX") or cls.prefix,
            wait_max_seconds=read_number(
                env, "WAIT_MAX_SECONDS", cls.wait_max_seconds, float, 1.0, 3600.0
            ),
        )


class AmqpStrategy:
    name: ClassVar[str] = "async_client"
    service = SERVICE

    def __init__(self, settings: AmqpSettings) -> None:
        self.settings = settings
        self.wait_max_seconds = settings.wait_max_seconds
        self.sleep_margin = 2 * settings.timeout  # declare + publish, then the expiry
        self.waiters = LocalWaiters()
        self.sleepers: dict[str, asyncio.Future[None]] = {}
        self.process_id = uuid.uuid4().hex
        self.wakeup_queue = f"{settings.prefix}.wakeup.{self.process_id}"
        self.connection: aio_pika.abc.AbstractRobustConnection | None = None
        self.channel: aio_pika.abc.AbstractRobustChannel | None = None
        self.exchange: aio_pika.abc.AbstractExchange | None = None
        self.ready = asyncio.Event()
        self._connecting: asyncio.Task[None] | None = None

    @property
    def healthy(self) -> bool:
        return self.channel is not None and not self.channel.is_closed

    def routes(self) -> Routes:
        return broker_routes(self)

    async def start(self, timeout: float = 5.0) -> None:
        """Connect in the background; a broker that is down gives 503s, not a crash."""
        self._connecting = asyncio.create_task(self._connect())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ready.wait(), timeout)

    async def _connect(self) -> None:
        delay = 0.5
        while self.connection is None:
            try:
                self.connection = await aio_pika.connect_robust(
                    self.settings.url, timeout=self.settings.timeout, reconnect_interval=1
                )
            except AMQP_ERRORS as error:
                log.warning("RabbitMQ unreachable (%s); retrying in %g s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        channel = await self.connection.channel()
        self.exchange = await channel.declare_exchange(
            f"{self.settings.prefix}.notify", aio_pika.ExchangeType.TOPIC, durable=True
        )
        notices = await channel.declare_queue(
            f"{self.settings.prefix}.notify.{self.process_id}", exclusive=True
        )
        await notices.bind(self.exchange, routing_key="#")
        await notices.consume(self._on_notice, no_ack=True)
        wakeups = await channel.declare_queue(self.wakeup_queue, exclusive=True)
        await wakeups.consume(self._on_wakeup, no_ack=True)
        self.channel = channel
        self.ready.set()

    async def close(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            await asyncio.gather(self._connecting, return_exceptions=True)
        if self.connection is not None:
            await self.connection.close()
        self.connection = self.channel = self.exchange = None

    async def health(self) -> dict[str, str]:
        return {"rabbitmq": "up" if self.healthy else "down"}

    async def _on_notice(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.waiters.wake_from_bytes(message.routing_key or "", message.body)

    async def _on_wakeup(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        sleeper = self.sleepers.get(message.correlation_id or "")
        if sleeper is not None and not sleeper.done():
            sleeper.set_result(None)

    def _live_channel(self) -> aio_pika.abc.AbstractRobustChannel:
        if self.channel is None or self.channel.is_closed:
            raise BrokerDown("not connected")
        return self.channel

    async def sleep(self, seconds: float) -> None:
        channel = self._live_channel()
        ttl_ms = max(1, round(seconds * 1000))
        sleep_id = uuid.uuid4().hex
        woken = self.sleepers[sleep_id] = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(self.settings.timeout):
                # robust=False: this queue lives for one request; nothing to restore.
                queue = await channel.declare_queue(
                    f"{self.settings.prefix}.sleep.{sleep_id}",
                    arguments={
                        "x-message-ttl": ttl_ms,
                        "x-dead-letter-exchange": "",
                        "x-dead-letter-routing-key": self.wakeup_queue,
                        "x-expires": ttl_ms + 60_000,  # then RabbitMQ deletes it
                    },
                    robust=False,
                )
                await channel.default_exchange.publish(
                    aio_pika.Message(b"", correlation_id=sleep_id), routing_key=queue.name
                )
        except AMQP_ERRORS as error:
            self.sleepers.pop(sleep_id, None)
            raise BrokerDown(str(error) or type(error).__name__) from error
        try:
            await woken
        finally:
            self.sleepers.pop(sleep_id, None)

    async def notify(self, channel: str, message: dict[str, Any]) -> None:
        self._live_channel()
        if self.exchange is None:
            raise BrokerDown("not connected")
        try:
            async with asyncio.timeout(self.settings.timeout):
                body = json.dumps(message).encode()
                await self.exchange.publish(aio_pika.Message(body), routing_key=channel)
        except AMQP_ERRORS as error:
            raise BrokerDown(str(error) or type(error).__name__) from error


def make_strategy(config: Settings, env: Mapping[str, str] | None = None) -> AmqpStrategy:
    return AmqpStrategy(AmqpSettings.from_env(os.environ if env is None else env))
