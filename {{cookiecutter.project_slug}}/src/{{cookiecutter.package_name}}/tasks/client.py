"""`await client.call(task, args, timeout=...)`: a Celery task's result, awaited.

The modern successor of tornado-celery, in a page: publish without blocking
(publishers.py), await without holding a thread (waiters.py), and turn every
way it can go wrong into an exception the handlers map to an HTTP answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from celery import Celery, states

from .publishers import AmqpPublisher, BrokerUnavailable, ThreadPublisher
from .settings import CelerySettings
from .waiters import PollingWaiter, RedisResultWaiter, ReplyQueueWaiter, ResultWaiter, TaskState

log = logging.getLogger(__name__)
HEALTH_CHECK_INTERVAL = 2.0

__all__ = ["BrokerUnavailable", "Overloaded", "TaskClient", "TaskFailed", "TaskTimeout"]


class Overloaded(Exception):
    """This process already waits for its maximum number of tasks."""


class TaskTimeout(Exception):
    """The task did not finish in time; it was revoked."""


class TaskFailed(Exception):
    """The task raised (or was revoked); `error` is its exception, rebuilt."""

    def __init__(self, state: TaskState) -> None:
        error = state.error or RuntimeError(state.state)
        super().__init__(f"{type(error).__name__}: {error}")
        self.state = state
        self.error = error


class TaskClient:
    """Publishes tasks and awaits their results for one web process."""

    def __init__(self, app: Celery, settings: CelerySettings) -> None:
        self.app = app
        self.settings = settings
        self.in_flight = 0
        # Control messages (revoke) and a sync backend use these threads too.
        self.threads = ThreadPublisher(app, settings.publish_threads, settings.publish_timeout)
        self.publisher: ThreadPublisher | AmqpPublisher = self.threads
        if settings.broker_url.startswith("amqp"):
            self.publisher = AmqpPublisher(
                app, settings.broker_url, settings.queue, settings.publish_timeout
            )
        self.waiter = self._pick_waiter()
        self._broker_checked = (0.0, True)
        self._broker_check: asyncio.Task[bool] | None = None
        self._revoking: set[asyncio.Task[None]] = set()

    def _pick_waiter(self) -> ResultWaiter:
        backend = self.settings.result_backend
        if backend.startswith(("redis://", "rediss://")):
            return RedisResultWaiter(self.app, backend)
        if backend.startswith("rpc://") and isinstance(self.publisher, AmqpPublisher):
            waiter = ReplyQueueWaiter(self.app, self.publisher)
            self.publisher.reply_to = waiter.queue_name
            return waiter
        return PollingWaiter(self.app, self.threads.run_blocking)

    async def start(self) -> None:
        await self.waiter.start()  # before the publisher: it hooks the AMQP connect
        if self.publisher is not self.threads:
            await self.publisher.start()

    async def close(self) -> None:
        if self._broker_check is not None:
            self._broker_check.cancel()
            await asyncio.gather(self._broker_check, return_exceptions=True)
        await self.waiter.close()
        if self.publisher is not self.threads:
            await self.publisher.close()
        await self.threads.close()

    async def call(self, name: str, args: list[Any], kwargs: dict[str, Any], timeout: float) -> Any:
        """Run task `name` and return its result; raise what the task raised.

        Raises Overloaded, BrokerUnavailable, TaskTimeout or TaskFailed. A task
        that times out, or whose caller is cancelled, is revoked.
        """
        self._admit()
        task_id = str(uuid.uuid4())
        future = self.waiter.expect(task_id)  # listen before publishing
        self.in_flight += 1
        try:
            await self.publisher.publish(name, args, kwargs, task_id, expires=timeout)
            state = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            self.revoke_soon(task_id)
            raise TaskTimeout(f"task {task_id} did not finish within {timeout:g} s") from None
        except asyncio.CancelledError:
            self.revoke_soon(task_id)  # nobody waits for it any more
            raise
        finally:
            self.in_flight -= 1
            self.waiter.forget(task_id)
        if state.state != states.SUCCESS:
            raise TaskFailed(state)
        return state.result

    async def submit(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> str:
        """Publish task `name` and return its id at once."""
        self._admit()
        task_id = str(uuid.uuid4())
        if isinstance(self.waiter, ReplyQueueWaiter):
            self.waiter.remember(task_id, TaskState(task_id, states.PENDING))
        expires = self.app.conf.result_expires
        await self.publisher.publish(name, args, kwargs, task_id, expires=expires)
        return task_id

    async def status(self, task_id: str) -> TaskState | None:
        """What the result backend knows; None when this process cannot know."""
        try:
            state = await self.waiter.fetch(task_id)
        except Exception as error:
            raise BrokerUnavailable(f"result backend: {error}") from error
        if state is None and not isinstance(self.waiter, ReplyQueueWaiter):
            return TaskState(task_id, states.PENDING)  # Celery's word for "unknown"
        return state

    async def revoke(self, task_id: str) -> None:
        """Ask every worker to discard the task (a broadcast on the broker)."""
        try:
            await self.threads.run_blocking(self.app.control.revoke, task_id)
        except Exception as error:
            raise BrokerUnavailable(str(error)) from error

    def revoke_soon(self, task_id: str) -> None:
        async def revoke() -> None:
            try:
                await self.revoke(task_id)
            except BrokerUnavailable as error:
                log.warning("could not revoke task %s: %s", task_id, error)

        task = asyncio.get_running_loop().create_task(revoke())
        self._revoking.add(task)  # keep a reference until it is done
        task.add_done_callback(self._revoking.discard)

    def _admit(self) -> None:
        if self.in_flight >= self.settings.max_in_flight:
            raise Overloaded(f"{self.in_flight} tasks already in flight in this process")
        if not self.waiter.healthy:
            raise BrokerUnavailable("result backend unreachable")
        if isinstance(self.publisher, AmqpPublisher) and not self.publisher.healthy:
            raise BrokerUnavailable("broker unreachable")

    async def health(self) -> dict[str, str]:
        return {
            "broker": "up" if await self._broker_answers() else "down",
            "result_backend": "up" if self.waiter.healthy else "down",
        }

    async def _broker_answers(self) -> bool:
        if isinstance(self.publisher, AmqpPublisher):
            return self.publisher.healthy
        checked_at, answered = self._broker_checked
        if time.monotonic() - checked_at <= HEALTH_CHECK_INTERVAL:
            return answered
        # One ping at a time, however many /health requests ask: under load,
        # a ping each (a new broker connection) cost a quarter of the CPU.
        if self._broker_check is None:
            self._broker_check = asyncio.get_running_loop().create_task(self._check_broker())
        # Shielded: a client that hangs up must not cancel the others' answer.
        return await asyncio.shield(self._broker_check)

    async def _check_broker(self) -> bool:
        try:
            await self.threads.run_blocking(self._ping_broker)
            answered = True
        except Exception:
            answered = False
        self._broker_checked = (time.monotonic(), answered)
        self._broker_check = None
        return answered

    def _ping_broker(self) -> None:
        with self.app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=1)
