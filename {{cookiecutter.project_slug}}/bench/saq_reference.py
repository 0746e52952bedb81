"""The Celery bench's reference row: saq, a queue written for asyncio, on the same Redis.

Measurement code only, never part of the service. `python -m bench.saq_reference
worker` runs a saq worker with one no-op job; `python -m bench.saq_reference
serve PORT` serves `/sleep`, which enqueues it and awaits
`job.refresh(until_complete=...)`: the same HTTP -> job -> result round trip as
the Celery rows. It needs saq (`pip install 'saq>=0.26,<0.27'`) and a Redis
broker; without them the bench leaves the row out.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web

from {{ cookiecutter.package_name }}.celery.settings import CelerySettings

TIMEOUT = 10.0
CONCURRENCY = 50  # jobs one saq worker runs at once (a single asyncio process)
# saq's Redis connections: a waiting job or request may hold one; redis-py's
# default of 100 ran out at 200 requests at once.
CONNECTIONS = 1000


def available() -> bool:
    """saq is installed and the broker is Redis."""
    redis = CelerySettings.from_env().broker_url.startswith(("redis://", "rediss://"))
    return redis and importlib.util.find_spec("saq") is not None


def make_queue() -> Any:
    """The bench's saq queue, named after SAQ_QUEUE, on the Celery broker's Redis."""
    import redis.asyncio
    from saq.queue.redis import RedisQueue

    url = CelerySettings.from_env().broker_url
    client = redis.asyncio.from_url(url, max_connections=CONNECTIONS)
    return RedisQueue(client, name=os.environ["SAQ_QUEUE"])


async def noop(ctx: Any, *, seconds: float) -> float:
    """The job: Celery's `sleep` with 0 s, i.e. nothing but the round trip."""
    await asyncio.sleep(seconds)
    return seconds


class Sleep(tornado.web.RequestHandler):
    def initialize(self, queue: Any) -> None:
        self.queue = queue

    async def get(self) -> None:
        seconds = float(self.get_argument("seconds"))
        job = await self.queue.enqueue("noop", seconds=seconds, timeout=TIMEOUT)
        await job.refresh(until_complete=TIMEOUT)
        self.write({"slept": job.result})


async def serve(port: int) -> None:
    queue = make_queue()
    await queue.connect()
    app = tornado.web.Application(
        [(r"/sleep", Sleep, {"queue": queue})], log_function=lambda _: None
    )
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(tornado.netutil.bind_sockets(port, "127.0.0.1", backlog=4096))
    await asyncio.Event().wait()


async def work() -> None:
    from saq import Worker

    worker = Worker(make_queue(), functions=[("noop", noop)], concurrency=CONCURRENCY)
    await worker.start()


if __name__ == "__main__":
    if sys.argv[1] == "worker":
        asyncio.run(work())
    else:
        asyncio.run(serve(int(sys.argv[2])))
