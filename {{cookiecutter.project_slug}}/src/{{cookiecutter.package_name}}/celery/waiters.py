"""Await Celery results without blocking the loop and without a thread per request.

The waiter is picked from the result backend URL, so the code keeps working when
CELERY_RESULT_BACKEND changes:
- redis://  one pattern subscription per process resolves a Future per task;
- rpc://    one reply queue per process, consumed with aio-pika;
- others    polling with capped backoff (a thread call per poll, never a held thread).
Every waiter registers a task's Future *before* the task is published, so a fast
result cannot slip past.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import uuid
from typing import TYPE_CHECKING, Any, Protocol, cast

import redis.asyncio as aioredis
from celery import Celery, states
from celery.backends.redis import RedisBackend
from kombu import serialization

from .publishers import BlockingCalls

if TYPE_CHECKING:
    import aio_pika

    from .publishers import AmqpPublisher

log = logging.getLogger(__name__)
SWEEP_INTERVAL = 5.0
RECENT_RESULTS = 10_000


@dataclasses.dataclass(frozen=True)
class TaskState:
    """What is known of one task: its state, and its value or error once ready."""

    task_id: str
    state: str
    result: Any = None
    error: BaseException | None = None

    @property
    def ready(self) -> bool:
        return self.state in states.READY_STATES

    @classmethod
    def from_meta(cls, task_id: str, meta: dict[str, Any], app: Celery) -> TaskState:
        state, result = meta["status"], meta.get("result")
        if state in states.EXCEPTION_STATES:
            error = result
            if not isinstance(error, BaseException):
                error = app.backend.exception_to_python(result)
            return cls(task_id, state, error=error)
        return cls(task_id, state, result=result)


class ResultWaiter(Protocol):
    """Awaits results for one web process; `expect` a task before publishing it."""

    @property
    def healthy(self) -> bool:
        """Connected to wherever results arrive."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def expect(self, task_id: str) -> asyncio.Future[TaskState]:
        """A Future resolved with the task's final state."""

    def forget(self, task_id: str) -> None:
        """Stop waiting for the task (done, timed out, or its client left)."""

    def submitted(self, task_id: str) -> None:
        """A task published without waiting, whose state may be asked for later."""

    async def fetch(self, task_id: str) -> TaskState | None:
        """The task's state now; None when this process cannot know it."""


class WebRedisBackend(RedisBackend):
    """Celery's Redis backend for the web process.

    Celery's own backend SUBSCRIBEs to every published task with blocking I/O,
    from `apply_async` and again when an `AsyncResult` is collected. The web
    process awaits results through RedisResultWaiter instead, so this is off.
    """

    def on_task_call(self, producer: Any, task_id: str) -> None:
        return None


class RedisResultWaiter:
    """One PSUBSCRIBE per process; a Future per awaited task; a rare MGET sweep.

    Celery's Redis backend stores a result with SET and PUBLISHes it on a
    channel named like the key. Pub/sub drops what is sent while disconnected,
    so pending keys are re-read every few seconds and after a reconnect.
    """

    def __init__(self, app: Celery, url: str, max_connections: int = 16) -> None:
        self.app = app
        # Celery's Redis backend, for key names (with the prefix) and decoding. Any:
        # its stubs say keys are str; at run time they are bytes.
        self.backend = cast(Any, app.backend)
        # Blocking pool: the default pool raises past its limit instead of waiting.
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=5, socket_connect_timeout=2
        )
        self.redis = aioredis.Redis(connection_pool=pool)
        self.pubsub = self.redis.pubsub()
        self.pattern = self.backend.task_keyprefix + b"*"
        self.waiting: dict[bytes, tuple[str, asyncio.Future[TaskState]]] = {}
        self.connected = False
        self._subscribed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def healthy(self) -> bool:
        return self.connected

    async def start(self, timeout: float = 2.0) -> None:
        """Subscribe in the background; wait briefly so the first requests find it ready.

        A backend that is down at start-up does not stop the service: requests
        get 503 until the subscription is made.
        """
        self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._sweep())]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]
        await self.redis.aclose(close_connection_pool=True)

    def key(self, task_id: str) -> bytes:
        return bytes(self.backend.get_key_for_task(task_id))

    def expect(self, task_id: str) -> asyncio.Future[TaskState]:
        future = asyncio.get_running_loop().create_future()
        self.waiting[self.key(task_id)] = (task_id, future)
        return future

    def forget(self, task_id: str) -> None:
        self.waiting.pop(self.key(task_id), None)

    def submitted(self, task_id: str) -> None:
        """Nothing to note: every process can read every result from Redis."""

    async def fetch(self, task_id: str) -> TaskState | None:
        raw = await self.redis.get(self.key(task_id))
        if raw is None:  # Celery's word for "unknown": no result stored (yet)
            return TaskState(task_id, states.PENDING)
        return TaskState.from_meta(task_id, self.backend.decode_result(raw), self.app)

    def _resolve(self, key: bytes, raw: bytes) -> None:
        entry = self.waiting.get(key)
        if entry is None:
            return  # another process's task, or one nobody waits for any more
        task_id, future = entry
        state = TaskState.from_meta(task_id, self.backend.decode_result(raw), self.app)
        if state.ready and not future.done():
            future.set_result(state)

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            try:
                await self.pubsub.psubscribe(self.pattern)
                self.connected, backoff = True, 0.1
                self._subscribed.set()
                await self._check_pending()  # results published while we were away
                while True:
                    message = await self.pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=1.0
                    )
                    if message and message["type"] == "pmessage":
                        self._resolve(bytes(message["channel"]), bytes(message["data"]))
            except (aioredis.RedisError, OSError) as error:
                if self.connected:
                    log.warning("result backend unreachable (%s); reconnecting", error)
                self.connected = False
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                with contextlib.suppress(aioredis.RedisError, OSError):
                    await self.pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            with contextlib.suppress(aioredis.RedisError, OSError):
                await self._check_pending()

    async def _check_pending(self) -> None:
        keys = list(self.waiting)
        if keys:
            for key, raw in zip(keys, await self.redis.mget(keys), strict=True):
                if raw is not None:
                    self._resolve(key, cast(bytes, raw))


class ReplyQueueWaiter:
    """rpc://: the worker sends each result to the task's `reply_to` queue.

    One named queue per process, consumed with aio-pika; `correlation_id` (the
    task id) finds the Future. Results of tasks this process submitted without
    waiting are kept (the most recent ones) for `GET /tasks/<id>`; other
    processes never see them: that is what rpc:// means.
    """

    def __init__(self, app: Celery, publisher: AmqpPublisher) -> None:
        self.app = app
        self.publisher = publisher
        self.queue_name = f"{app.main}.reply.{uuid.uuid4().hex}"
        self.waiting: dict[str, asyncio.Future[TaskState]] = {}
        self.recent: collections.OrderedDict[str, TaskState] = collections.OrderedDict()

    @property
    def healthy(self) -> bool:
        return self.publisher.ready

    async def start(self) -> None:
        self.publisher.on_connect(self._consume)

    async def close(self) -> None:
        """The reply queue expires by itself a minute after its consumer is gone."""

    async def _consume(self, channel: aio_pika.abc.AbstractChannel) -> None:
        queue = await channel.declare_queue(
            self.queue_name, durable=False, arguments={"x-expires": 60_000}
        )
        await queue.consume(self._on_reply, no_ack=True)

    def expect(self, task_id: str) -> asyncio.Future[TaskState]:
        future = asyncio.get_running_loop().create_future()
        self.waiting[task_id] = future
        self.remember(task_id, TaskState(task_id, states.PENDING))
        return future

    def forget(self, task_id: str) -> None:
        self.waiting.pop(task_id, None)

    def submitted(self, task_id: str) -> None:
        self.remember(task_id, TaskState(task_id, states.PENDING))

    def remember(self, task_id: str, state: TaskState) -> None:
        self.recent[task_id] = state
        self.recent.move_to_end(task_id)
        while len(self.recent) > RECENT_RESULTS:
            self.recent.popitem(last=False)

    async def fetch(self, task_id: str) -> TaskState | None:
        return self.recent.get(task_id)

    async def _on_reply(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        task_id = message.correlation_id
        if task_id is None or task_id not in self.recent:
            return
        meta = serialization.loads(
            message.body,
            message.content_type or "application/json",
            message.content_encoding or "utf-8",
            accept={"application/json"},
        )
        state = TaskState.from_meta(task_id, meta, self.app)
        self.remember(task_id, state)
        future = self.waiting.get(task_id)
        if state.ready and future is not None and not future.done():
            future.set_result(state)


class PollingWaiter:
    """Any other backend: ask it, backing off from 10 ms to 0.5 s between polls.

    The backend's client is synchronous, so each poll is one short call on the
    pool for blocking calls; no thread is held while a task runs.
    """

    def __init__(self, app: Celery, blocking: BlockingCalls) -> None:
        self.app = app
        self.blocking = blocking
        self.polls: dict[str, asyncio.Task[None]] = {}
        self.answered = True

    @property
    def healthy(self) -> bool:
        return self.answered

    async def start(self) -> None:
        """Nothing to open: each poll uses the backend's own connection."""

    async def close(self) -> None:
        for poll in self.polls.values():
            poll.cancel()

    def expect(self, task_id: str) -> asyncio.Future[TaskState]:
        future: asyncio.Future[TaskState] = asyncio.get_running_loop().create_future()
        self.polls[task_id] = asyncio.create_task(self._poll(task_id, future))
        return future

    def forget(self, task_id: str) -> None:
        poll = self.polls.pop(task_id, None)
        if poll is not None:
            poll.cancel()

    def submitted(self, task_id: str) -> None:
        """Nothing to note: the backend keeps every result."""

    async def fetch(self, task_id: str) -> TaskState | None:
        meta = await self.blocking.run(self.app.backend.get_task_meta, task_id)
        return TaskState.from_meta(task_id, meta, self.app)

    async def _poll(self, task_id: str, future: asyncio.Future[TaskState]) -> None:
        delay = 0.01
        while not future.done():
            try:
                state = await self.fetch(task_id)
                self.answered = True
            except Exception as error:  # the backend is down: keep trying until the timeout
                log.warning("polling task %s failed: %s", task_id, error)
                self.answered = False
                state = None
            if state is not None and state.ready and not future.done():
                future.set_result(state)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.5)
