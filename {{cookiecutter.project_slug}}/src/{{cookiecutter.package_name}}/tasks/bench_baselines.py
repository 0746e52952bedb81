"""Bench only: the two ways people usually await Celery from Tornado, for comparison.

`python -m {{ cookiecutter.package_name }} bench` serves these from a second process
against the same broker and worker, and compares them with this project's
awaiting layer (tasks/client.py) in the same run:
- /executor: `apply_async` on the loop, then `run_in_executor(None, result.get)`,
  a thread of asyncio's default pool held per waiting request (and it hangs with
  rpc://: the reply queue belongs to the publishing thread);
- /polling: `apply_async`, then `result.ready()` every 10 ms to 0.5 s, each a
  blocking backend call on the loop.
Never use these in a service: they are what the awaiting layer replaces.
"""

from __future__ import annotations

import asyncio

import tornado.httpserver
import tornado.netutil
import tornado.web
from celery import Celery

from .settings import CelerySettings
from .worker import make_celery, task_name

TIMEOUT = 10.0


class ExecutorGet(tornado.web.RequestHandler):
    def initialize(self, app: Celery) -> None:
        self.celery = app

    async def get(self) -> None:
        result = self.celery.send_task(task_name("sleep"), [float(self.get_argument("seconds"))])
        loop = asyncio.get_running_loop()
        value = await loop.run_in_executor(None, lambda: result.get(timeout=TIMEOUT))
        self.write({"slept": value})


class Polling(tornado.web.RequestHandler):
    def initialize(self, app: Celery) -> None:
        self.celery = app

    async def get(self) -> None:
        result = self.celery.send_task(task_name("sleep"), [float(self.get_argument("seconds"))])
        delay = 0.01
        async with asyncio.timeout(TIMEOUT):
            while not result.ready():
                await asyncio.sleep(delay)
                delay = min(delay * 1.5, 0.5)
        self.write({"slept": result.result})


def serve_baselines(port: int, backlog: int) -> None:
    async def main() -> None:
        celery = make_celery(CelerySettings.from_env())
        app = tornado.web.Application(
            [(r"/executor", ExecutorGet, {"app": celery}), (r"/polling", Polling, {"app": celery}),
             (r"/", tornado.web.RedirectHandler, {"url": "/polling?seconds=0"})],
            log_function=lambda _: None,
        )  # fmt: skip
        server = tornado.httpserver.HTTPServer(app)
        server.add_sockets(tornado.netutil.bind_sockets(port, "127.0.0.1", backlog=backlog))
        await asyncio.Event().wait()

    asyncio.run(main())
