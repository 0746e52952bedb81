"""Publish a Celery task without ever blocking the loop, even when the broker is down.

- ThreadPublisher (any broker): Celery's own `send_task` on a few dedicated
  threads, with a timeout. A dead broker costs a pool thread for a second or
  two instead of freezing the loop.
- AmqpPublisher (RabbitMQ): fully asynchronous with aio-pika and publisher
  confirms, building the message with Celery's own `create_task_message`.
- RedisPublisher (Redis, redis_publisher.py): one awaited LPUSH of kombu's
  own message on redis.asyncio.
Every `publish` takes `headers`, merged into the task message's headers.
`BlockingCalls` runs Celery's other blocking calls (revoke, a broker ping, a
result poll) on threads of their own, so they never queue behind publishing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Protocol, TypeVar

import aio_pika
from celery import Celery
from kombu import serialization

from ..amqp import connect_robust
from .errors import BrokerUnavailable

T = TypeVar("T")
log = logging.getLogger(__name__)
OnConnect = Callable[[aio_pika.abc.AbstractChannel], Awaitable[None]]


class BlockingCalls:
    """A small thread pool for blocking calls, each bounded by `timeout`."""

    def __init__(self, threads: int, timeout: float, name: str) -> None:
        self.timeout = timeout
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix=name)

    async def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `function` on the pool; BrokerUnavailable after the timeout."""
        call = partial(function, *args, **kwargs)
        try:
            async with asyncio.timeout(self.timeout):
                return await asyncio.get_running_loop().run_in_executor(self.pool, call)
        except TimeoutError:
            raise BrokerUnavailable(f"no answer within {self.timeout:g} s") from None

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


class Publisher(Protocol):
    """How tasks reach the broker."""

    @property
    def ready(self) -> bool:
        """Can take a message now, as far as is known without trying."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(
        self,
        name: str,
        args: list[Any],
        kwargs: dict[str, Any],
        task_id: str,
        expires: float | None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Hand the task to the broker, or raise BrokerUnavailable."""


class ThreadPublisher:
    """`send_task` on `threads` dedicated threads; kombu connects on first use."""

    def __init__(self, app: Celery, threads: int, timeout: float) -> None:
        self.app = app
        self.calls = BlockingCalls(threads, timeout, "celery-publish")

    @property
    def ready(self) -> bool:
        return True  # kombu finds out by trying; the broker monitor knows better

    async def start(self) -> None:
        """Connections are made by kombu on first use, in the pool's threads."""

    async def close(self) -> None:
        self.calls.close()

    async def publish(
        self,
        name: str,
        args: list[Any],
        kwargs: dict[str, Any],
        task_id: str,
        expires: float | None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        options = {"headers": dict(headers)} if headers else {}
        try:
            await self.calls.run(
                self.app.send_task, name, args, kwargs, task_id=task_id, expires=expires, **options
            )
        except BrokerUnavailable:
            raise
        except Exception as error:
            raise BrokerUnavailable(str(error) or type(error).__name__) from error


class AmqpPublisher:
    """aio-pika, publisher confirms, `mandatory`: a message is either queued or an error.

    The connection is robust: aio-pika reconnects and re-declares what was
    declared (the task queue, the reply queue and its consumer) after a broker
    restart; while it is down, publishing fails at once.
    """

    def __init__(self, app: Celery, url: str, queue: str, timeout: float) -> None:
        self.app = app
        self.url = url
        self.queue = queue
        self.timeout = timeout
        self.reply_to = ""
        self.channel: aio_pika.abc.AbstractChannel | None = None
        self.connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._on_connect: list[OnConnect] = []
        self._connecting: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    @property
    def ready(self) -> bool:
        return self.channel is not None and not self.channel.is_closed

    def on_connect(self, callback: OnConnect) -> None:
        """Run `callback(channel)` once connected (for the reply queue's consumer)."""
        self._on_connect.append(callback)

    async def start(self, timeout: float = 5.0) -> None:
        """Connect in the background; wait briefly so the first requests find it ready.

        A broker that is down at start-up does not stop the service: requests
        get 503 until the connection is made.
        """
        self._connecting = asyncio.create_task(self._connect())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout)

    async def _connect(self) -> None:
        delay = 0.5
        while True:
            try:
                self.connection = await connect_robust(self.url, self.timeout, reconnect_interval=5)
                break
            except (OSError, aio_pika.exceptions.AMQPError, TimeoutError) as error:
                log.warning("broker unreachable (%s); retrying in %g s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        channel = await self.connection.channel(publisher_confirms=True, on_return_raises=True)
        # The same durable queue Celery's worker declares, so a task published
        # before any worker started is kept, not dropped as unroutable.
        await channel.declare_queue(self.queue, durable=True)
        for callback in self._on_connect:
            await callback(channel)
        self.channel = channel
        self._connected.set()

    async def close(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._connecting
        if self.connection is not None:
            await self.connection.close()
        self.channel = None

    async def publish(
        self,
        name: str,
        args: list[Any],
        kwargs: dict[str, Any],
        task_id: str,
        expires: float | None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if self.channel is None or self.channel.is_closed:
            raise BrokerUnavailable("not connected to the broker")
        message = self.app.amqp.create_task_message(
            task_id, name, args, kwargs, expires=expires, reply_to=self.reply_to or None
        )
        content_type, encoding, body = serialization.dumps(message.body, serializer="json")
        merged = {**message.headers, **(headers or {})}
        amqp_headers = {k: list(v) if isinstance(v, tuple) else v for k, v in merged.items()}
        try:
            async with asyncio.timeout(self.timeout):
                await self.channel.default_exchange.publish(
                    aio_pika.Message(
                        body.encode() if isinstance(body, str) else body,
                        headers=amqp_headers,
                        content_type=content_type,
                        content_encoding=encoding,
                        correlation_id=task_id,
                        reply_to=self.reply_to or None,
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=self.queue,
                    mandatory=True,
                )
        except (TimeoutError, OSError, aio_pika.exceptions.AMQPError) as error:
            raise BrokerUnavailable(str(error) or type(error).__name__) from error
