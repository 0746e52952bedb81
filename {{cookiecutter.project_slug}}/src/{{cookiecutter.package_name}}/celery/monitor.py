"""The broker, the task queue and the workers, watched in the background.

`/health` and the admission of a new task read what was last seen: no request
ever waits for a broker round trip (a dead broker made each /health wait 2 s).
The checks are Celery's own blocking calls, on the pool for blocking calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from celery import Celery
from kombu import Queue

from .publishers import BlockingCalls

log = logging.getLogger(__name__)
BROKER_EVERY = 2.0  # seconds between broker checks (and queue lengths)
WORKERS_EVERY = 10.0  # between asking workers that answer: each time waits REPLY_TIMEOUT
REPLY_TIMEOUT = 1.0
MISSES_TO_DOWN = 3  # asks in a row without a reply, BROKER_EVERY apart, before "down"


class BrokerMonitor:
    """What is known of the broker, its queue and its workers; `watch()` keeps it fresh."""

    def __init__(self, app: Celery, queue: str, timeout: float) -> None:
        self.app = app
        self.queue = queue
        self.blocking = BlockingCalls(1, timeout + REPLY_TIMEOUT, "celery-monitor")
        self.broker_up = False
        self.queued = 0  # tasks waiting in the queue
        # Did a worker consuming our queue answer last time? None: not asked yet.
        self.workers_up: bool | None = None
        self._missed = 0  # asks in a row without a reply, the workers not yet down
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """A first look at the broker before serving; the workers are asked meanwhile."""
        await self.check_broker()
        self._task = asyncio.create_task(self._watch(), name="celery-monitor")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self.blocking.close()

    async def check_broker(self) -> None:
        try:
            self.queued = await self.blocking.run(self._queue_length)
        except Exception as error:  # whatever kombu raises, the broker is not usable
            if self.broker_up:
                log.warning("broker unreachable: %s", error)
            self.broker_up = self.workers_up = False
        else:
            if not self.broker_up:
                log.info("broker reachable; %d task(s) queued", self.queued)
            self.broker_up = True

    def broker_down(self, reason: str) -> None:
        """A publish just failed: refuse new tasks at once until the next check sees it up."""
        if self.broker_up:
            log.warning("broker unreachable: %s", reason)
        self.broker_up = self.workers_up = False

    async def check_workers(self) -> None:
        if not self.broker_up:
            self.workers_up = False
            return
        try:
            answered = await self.blocking.run(self._workers_consume_the_queue)
        except Exception:
            answered = False
        # A worker busy with a burst (or still starting) can miss reply windows for
        # seconds: it takes MISSES_TO_DOWN misses in a row to call the workers down
        # and turn /health into a 503 (a dead worker: within ~20 s).
        if answered:
            self.workers_up, self._missed = True, 0
            return
        if self.workers_up is False:
            return
        self._missed += 1
        if self._missed == MISSES_TO_DOWN:
            self.workers_up, self._missed = False, 0

    async def _watch(self) -> None:
        await self.check_workers()
        asked = time.monotonic()
        while True:
            await asyncio.sleep(BROKER_EVERY)
            await self.check_broker()
            # Not up, or a reply missed: ask again at once, so that a worker that
            # starts (or comes back) is seen within seconds, not WORKERS_EVERY.
            due = time.monotonic() - asked >= WORKERS_EVERY
            if not self.workers_up or self._missed or due:
                await self.check_workers()
                asked = time.monotonic()

    def _queue_length(self) -> int:
        """Tasks waiting in the queue; 0 for a queue nobody has declared yet."""
        with self.app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=1)
            # A channel of its own: a queue that is not there closes the channel.
            with contextlib.suppress(*connection.channel_errors), connection.channel() as channel:
                # (name, message_count, consumer_count); kombu's annotation says str.
                declared: Any = Queue(self.queue, channel=channel).queue_declare(passive=True)
                return int(declared.message_count)
            return 0

    def _workers_consume_the_queue(self) -> bool:
        """Does a worker that consumes our queue answer?

        A broadcast reaches every worker on the broker, other services' too: the
        replies say which queues each one consumes.
        """
        replies = self.app.control.inspect(timeout=REPLY_TIMEOUT).active_queues() or {}
        return any(queue["name"] == self.queue for queues in replies.values() for queue in queues)
