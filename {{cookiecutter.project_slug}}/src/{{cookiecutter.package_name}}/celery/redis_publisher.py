"""Publish a Celery task on a Redis broker with one awaited LPUSH, no thread hop.

kombu's Redis transport turns `send_task` into one `LPUSH <queue> <message>`,
where the message is a JSON envelope around the task (its body in base64).
`RedisPublisher` builds the same envelope with Celery's own
`create_task_message` and kombu's serializer, and pushes it on redis.asyncio:
a stock `celery worker` cannot tell the two apart (tests/test_redis_publisher.py
compares them and runs one). Publishing on threads (publishers.ThreadPublisher)
went through kombu's producer and a fresh client per publish, most of the web
process's CPU per task.

While Redis is down a publish fails at once (connection refused, no retries)
and the client marks the broker down until its monitor sees it back.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Mapping
from typing import Any

import redis.asyncio
from celery import Celery
from kombu import serialization
from kombu.transport.redis import PRIORITY_STEPS, Channel
from kombu.utils.json import dumps
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .errors import BrokerUnavailable, PublishersBusy


def queue_key(queue: str, priority: int = 0, prefix: str = "") -> str:
    """The list kombu's Redis transport keeps a queue's messages of `priority` in.

    Priority 0 (Celery's default) is the queue's own name; higher ones round
    down to a step and get a suffix, as kombu's `Channel._q_for_pri` does.
    """
    step = max(s for s in PRIORITY_STEPS if s <= priority) if priority > 0 else 0
    key = f"{queue}{Channel.sep}{step}" if step else queue
    return f"{prefix}{key}"


def envelope(
    app: Celery,
    name: str,
    args: list[Any],
    kwargs: dict[str, Any],
    task_id: str,
    *,
    queue: str,
    expires: float | None = None,
    reply_to: str = "",
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The message `app.send_task` would LPUSH for this task, as a dict.

    Task protocol 2 headers and body from Celery, `headers` merged over them
    (as send_task's `headers=` does), the properties kombu's producer and
    virtual channel add, delivery through the default exchange to `queue`.
    """
    message = app.amqp.create_task_message(
        task_id, name, args, kwargs, expires=expires, reply_to=reply_to
    )
    task_headers = dict(message.headers)
    if headers:
        task_headers.update(headers)
    content_type, encoding, body = serialization.dumps(message.body, serializer="json")
    raw = body.encode(encoding) if isinstance(body, str) else body
    properties: dict[str, Any] = {**message.properties, "delivery_mode": 2}
    if expires is not None:
        properties["expiration"] = str(int(max(expires, 0) * 1000))
    properties |= {
        "delivery_info": {"exchange": "", "routing_key": queue},
        "priority": 0,
        "body_encoding": "base64",
        "delivery_tag": str(uuid.uuid4()),
    }
    return {
        "body": base64.b64encode(raw).decode("ascii"),
        "content-encoding": encoding,
        "content-type": content_type,
        "headers": task_headers,
        "properties": properties,
    }


class RedisPublisher:
    """LPUSH on a small redis.asyncio pool; every wait bounded by `timeout`.

    At most `connections` publishes talk to Redis at once; the next waits up to
    half the timeout for one to finish, then gets PublishersBusy (503) rather
    than queueing without end behind a Redis that has stopped answering.
    """

    def __init__(self, app: Celery, url: str, queue: str, timeout: float, connections: int) -> None:
        self.app = app
        self.queue = queue
        self.timeout = timeout
        prefix = app.conf.broker_transport_options.get("global_keyprefix", "")
        self.key = queue_key(queue, 0, prefix)
        self.slots = asyncio.Semaphore(connections)
        self.pool = redis.asyncio.ConnectionPool.from_url(
            url,
            max_connections=connections,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 0),  # a refused connection is an answer: no retries
        )
        self.client = redis.asyncio.Redis(connection_pool=self.pool)

    @property
    def ready(self) -> bool:
        return True  # a refused publish says it at once; the broker monitor knows more

    async def start(self) -> None:
        """Connections are made on first use and again after an outage."""

    async def close(self) -> None:
        await self.client.aclose()
        await self.pool.aclose()

    async def publish(
        self,
        name: str,
        args: list[Any],
        kwargs: dict[str, Any],
        task_id: str,
        expires: float | None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        message = envelope(
            self.app,
            name,
            args,
            kwargs,
            task_id,
            queue=self.queue,
            expires=expires,
            reply_to=self.app.thread_oid,  # as send_task: unused with a Redis result backend
            headers=headers,
        )
        await self.push(dumps(message))

    async def push(self, message: str) -> None:
        """One LPUSH of an encoded message, or BrokerUnavailable / PublishersBusy."""
        try:
            async with asyncio.timeout(self.timeout / 2):
                await self.slots.acquire()
        except TimeoutError:
            raise PublishersBusy(self.timeout / 2) from None
        try:
            async with asyncio.timeout(self.timeout):
                await self.client.lpush(self.key, message)
        except (TimeoutError, OSError, RedisError) as error:
            raise BrokerUnavailable(str(error) or type(error).__name__) from error
        finally:
            self.slots.release()
