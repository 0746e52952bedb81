"""`await client.call(task, args, kwargs, timeout)`: a Celery task's result, awaited.

The modern successor of tornado-celery, in a page: publish without blocking
(publishers.py), await without holding a thread (waiters.py), and turn every
way it can go wrong into an error with its HTTP answer (errors.py).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from celery import Celery, states

from ..settings import SettingsError
from ..telemetry.logs import REQUEST_ID
from .errors import BrokerUnavailable, Overloaded, QueueFull, TaskFailed, TaskTimeout
from .monitor import BrokerMonitor
from .publishers import AmqpPublisher, BlockingCalls, Publisher, ThreadPublisher
from .redis_publisher import RedisPublisher
from .settings import CelerySettings
from .waiters import PollingWaiter, RedisResultWaiter, ReplyQueueWaiter, ResultWaiter, TaskState

log = logging.getLogger(__name__)


class TaskClient:
    """Publishes tasks and awaits their results for one web process."""

    def __init__(self, app: Celery, settings: CelerySettings) -> None:
        self.app = app
        self.settings = settings
        self.in_flight = 0
        # What /health and /metrics count: tasks published, failed, timed out, and
        # calls refused for overload (503 while CELERY_MAX_IN_FLIGHT wait).
        self.counts = dict.fromkeys(("published", "failed", "timed_out", "overloaded"), 0)
        # Revoke and result polls: never queued behind publishing.
        self.blocking = BlockingCalls(2, settings.publish_timeout, "celery-blocking")
        self.publisher, self.waiter = connect(app, settings, self.blocking)
        self.monitor = BrokerMonitor(app, settings.queue, settings.publish_timeout)
        self._revoking: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.waiter.start()  # before the publisher: it hooks the AMQP connect
        await self.publisher.start()
        await self.monitor.start()

    async def close(self) -> None:
        await self.monitor.close()
        await self.waiter.close()
        await self.publisher.close()
        self.blocking.close()

    async def call(
        self,
        name: str,
        args: list[Any],
        kwargs: dict[str, Any],
        timeout: float,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Run task `name` and return its result; raise what the task raised.

        Raises Overloaded, BrokerUnavailable, TaskTimeout or TaskFailed. A task
        that times out, or whose caller is cancelled, is revoked. `headers` go
        into the task message's headers (the worker sees them in `task.request`).
        """
        self._admit()
        task_id = str(uuid.uuid4())
        future = self.waiter.expect(task_id)  # listen before publishing
        self.in_flight += 1
        try:
            await self.publish(name, args, kwargs, task_id, timeout, headers)
            self.counts["published"] += 1
            state = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            self.counts["timed_out"] += 1
            self.revoke_soon(task_id)
            raise TaskTimeout(task_id, timeout) from None
        except asyncio.CancelledError:
            self.revoke_soon(task_id)  # nobody waits for it any more
            raise
        finally:
            self.in_flight -= 1
            self.waiter.forget(task_id)
        if state.state != states.SUCCESS:
            self.counts["failed"] += 1
            error = state.error or RuntimeError(state.state)
            raise TaskFailed(name.rpartition(".")[2], task_id, error)
        return state.result

    async def submit(
        self,
        name: str,
        args: list[Any],
        kwargs: dict[str, Any],
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Publish task `name` and return its id at once.

        It never expires: a task handed back by a worker that died must still run
        when it comes back, a visibility timeout later. What bounds these is the
        queue's length (CELERY_MAX_QUEUED).
        """
        self._admit()
        if self.monitor.queued >= self.settings.max_queued:
            raise QueueFull(self.monitor.queued)
        task_id = str(uuid.uuid4())
        self.waiter.submitted(task_id)
        await self.publish(name, args, kwargs, task_id, None, headers)
        self.counts["published"] += 1
        return task_id

    async def publish(
        self,
        name: str,
        args: list[Any],
        kwargs: dict[str, Any],
        task_id: str,
        expires: float | None,
        headers: Mapping[str, str] | None,
    ) -> None:
        """Publish; a broker that refused makes the next tasks a 503 at once, not a retry each."""
        request_id = REQUEST_ID.get()
        if request_id:  # the worker puts it on the task's log lines
            headers = {"request_id": request_id, **(headers or {})}
        try:
            await self.publisher.publish(name, args, kwargs, task_id, expires, headers)
        except BrokerUnavailable as error:
            self.monitor.broker_down(error.message)
            raise

    async def status(self, task_id: str) -> TaskState | None:
        """What the result backend knows; None when this process cannot know."""
        try:
            return await self.waiter.fetch(task_id)
        except BrokerUnavailable:
            raise
        except Exception as error:
            raise BrokerUnavailable(f"result backend: {error}") from error

    async def revoke(self, task_id: str) -> None:
        """Ask every worker to drop the task (a broadcast on the broker).

        A task not started yet is discarded; a running one stops at its next
        check (see jobs.py), or, in the prefork pool, its process is terminated.
        """
        try:
            await self.blocking.run(self.app.control.revoke, task_id, terminate=True)
        except BrokerUnavailable:
            raise
        except Exception as error:
            raise BrokerUnavailable(str(error)) from error

    def revoke_soon(self, task_id: str) -> None:
        async def revoke() -> None:
            try:
                await self.revoke(task_id)
            except BrokerUnavailable as error:
                log.warning("could not revoke task %s: %s", task_id, error.message)

        task = asyncio.get_running_loop().create_task(revoke())
        self._revoking.add(task)  # keep a reference until it is done
        task.add_done_callback(self._revoking.discard)

    def _admit(self) -> None:
        if self.in_flight >= self.settings.max_in_flight:
            self.counts["overloaded"] += 1
            raise Overloaded(self.in_flight)
        if not self.waiter.healthy:
            raise BrokerUnavailable("result backend unreachable")
        if not (self.publisher.ready and self.monitor.broker_up):
            raise BrokerUnavailable("broker unreachable")

    def stats(self) -> dict[str, int]:
        counts = {f"celery_tasks_{event}_total": n for event, n in self.counts.items()}
        return {"celery_tasks_in_flight": self.in_flight, **counts}

    async def health(self) -> dict[str, str]:
        """Broker down, or no worker answering: told apart, from what was last seen."""
        workers = {True: "up", False: "down", None: "unknown"}[self.monitor.workers_up]
        return {
            "broker": "up" if self.monitor.broker_up else "down",
            "result_backend": "up" if self.waiter.healthy else "down",
            "workers": workers,
        }


def connect(
    app: Celery, settings: CelerySettings, blocking: BlockingCalls
) -> tuple[Publisher, ResultWaiter]:
    """The publisher that fits the broker URL and the waiter that fits the backend URL."""
    publisher: Publisher
    amqp: AmqpPublisher | None = None
    if settings.broker_url.startswith("amqp"):
        amqp = AmqpPublisher(app, settings.broker_url, settings.queue, settings.publish_timeout)
        publisher = amqp
    elif settings.broker_url.startswith(("redis://", "rediss://")) and (
        settings.publisher == "native"
    ):
        publisher = RedisPublisher(
            app,
            settings.broker_url,
            settings.queue,
            settings.publish_timeout,
            settings.publish_connections,
        )
    else:
        publisher = ThreadPublisher(app, settings.publish_threads, settings.publish_timeout)
    backend = settings.result_backend
    waiter: ResultWaiter
    if backend.startswith(("redis://", "rediss://")):
        waiter = RedisResultWaiter(app, backend)
    elif backend.startswith("rpc://"):
        if amqp is None:  # results come back as messages, on the AMQP connection
            raise SettingsError("CELERY_RESULT_BACKEND=rpc:// needs a RabbitMQ broker")
        waiter = ReplyQueueWaiter(app, amqp)
        amqp.reply_to = waiter.queue_name
    else:
        waiter = PollingWaiter(app, blocking)
    return publisher, waiter
