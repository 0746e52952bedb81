"""The celery strategy's own measurement: HTTP -> task -> result, three ways, one worker.

Compares this project's awaiting layer with the two ways people usually await
Celery from Tornado, served by `python -m bench.celery_tasks PORT` against the
same broker and worker, in the same run:
- /executor: `send_task` on the loop, then `run_in_executor(None, result.get)`,
  a thread of asyncio's default pool held per waiting request (and it hangs with
  rpc://: the reply queue belongs to the publishing thread);
- /polling: `send_task`, then `result.ready()` every 10 ms to 0.5 s, each a
  blocking backend call on the loop.
They are what the awaiting layer replaces: never use them in a service.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import math
import os
import sys
import time

import tornado.httpserver
import tornado.netutil
import tornado.web
from celery import Celery

from {{ cookiecutter.package_name }}.celery.app import delete_queue, make_celery
from {{ cookiecutter.package_name }}.celery.jobs import task_name
from {{ cookiecutter.package_name }}.celery.settings import CelerySettings

from .load import burst
from .processes import PACKAGE, cpu_seconds, free_port, proc_status, running
from .run import Row, rps

TIMEOUT = 10.0
CONNECTIONS = (50, 200)


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


async def serve_baselines(port: int) -> None:
    celery = make_celery(CelerySettings.from_env())
    app = tornado.web.Application(
        [
            (r"/executor", ExecutorGet, {"app": celery}),
            (r"/polling", Polling, {"app": celery}),
            (r"/", tornado.web.RedirectHandler, {"url": "/polling?seconds=0"}),
        ],
        log_function=lambda _: None,
    )
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(tornado.netutil.bind_sockets(port, "127.0.0.1", backlog=4096))
    await asyncio.Event().wait()


def threads_while_waiting(port: int, pid: int, path: str, count: int = 200) -> float:
    """Threads of process `pid` while `count` one-second tasks are awaited."""

    async def sample() -> float:
        in_flight = asyncio.ensure_future(burst(port, path, count, timeout=30))
        await asyncio.sleep(0.5)
        threads = proc_status(pid, "Threads")
        in_flight.cancel()  # the count is all we wanted: hang up
        with contextlib.suppress(asyncio.CancelledError):
            await in_flight
        return threads

    return asyncio.run(sample())


class AwaitingComparison:
    """Task round trips through our awaiting layer, against the usual two ways.

    On a queue and result keys of its own: a worker you run on the same broker
    never sees the benchmark's tasks, and the benchmark never waits behind yours.
    """

    def __init__(self) -> None:
        self.queue = f"bench-{os.getpid()}"

    def environment(self) -> dict[str, str]:
        return {"CELERY_QUEUE": self.queue, "CELERY_KEY_PREFIX": f"{self.queue}:"}

    def clean_up(self) -> None:
        settings = dataclasses.replace(CelerySettings.from_env(), queue=self.queue)
        delete_queue(make_celery(settings), self.queue)

    def processes(self, args: argparse.Namespace) -> list[list[str]]:
        # Enough worker threads for the whole burst (and for the 200-task comparison);
        # a node name of its own, so a worker you already run on this host is no obstacle.
        options = [
            f"--concurrency={max(args.requests, 200)}",
            f"--hostname=bench-{os.getpid()}@%h",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
        ]
        return [[sys.executable, "-m", PACKAGE, "worker", *options]]

    def measure(
        self, args: argparse.Namespace, env: dict[str, str], port: int, pid: int
    ) -> dict[str, dict[str, float]]:
        baselines = free_port()
        command = [sys.executable, "-m", "bench.celery_tasks", str(baselines)]
        # With rpc:// results, result.get() in a pool thread never returns (the reply
        # queue belongs to the publishing thread): that baseline is not measured.
        hangs = CelerySettings.from_env().result_backend.startswith("rpc://")
        results: dict[str, float] = {}
        if hangs:
            for key in ("c50", "c200", "cpu_ms_c50", "cpu_ms_c200"):
                results[f"executor_{key}"] = math.nan
            results["threads_executor"] = math.nan
        with running(command, baselines, env) as baseline_pid:
            ways = [
                ("ours", port, pid, "/sleep?seconds=0"),
                ("executor", baselines, baseline_pid, "/executor?seconds=0"),
                ("polling", baselines, baseline_pid, "/polling?seconds=0"),
            ]
            for connections in CONNECTIONS:
                for name, target, target_pid, path in ways:
                    if hangs and name == "executor":
                        continue
                    cpu_before, started = cpu_seconds(target_pid), time.perf_counter()
                    rate = rps(args, target, path, connections)
                    answered = rate * (time.perf_counter() - started)
                    cpu_ms = 1000 * (cpu_seconds(target_pid) - cpu_before)
                    per_trip = cpu_ms / answered if answered else 0.0
                    results[f"{name}_c{connections}"] = rate
                    results[f"{name}_cpu_ms_c{connections}"] = per_trip
            results["threads_ours"] = threads_while_waiting(port, pid, "/sleep?seconds=1")
            if not hangs:
                results["threads_executor"] = threads_while_waiting(
                    baselines, baseline_pid, "/executor?seconds=1"
                )
        return {"celery": results}

    def ratios(self, m: dict[str, float]) -> dict[str, float]:
        found = {}
        for connections in CONNECTIONS:
            ours = m[f"celery.ours_c{connections}"]
            for other in ("executor", "polling"):
                baseline = m[f"celery.{other}_c{connections}"] or math.nan
                found[f"celery_vs_{other}_c{connections}"] = ours / baseline
        return found

    def rows(self, m: dict[str, float], r: dict[str, float]) -> list[Row]:
        """Our awaiting layer against the usual two, from the same run."""
        rates = f"{m['celery.ours_c50']:.0f} / {m['celery.ours_c200']:.0f}"
        executor = f"x{r['celery_vs_executor_c50']:.2f} / x{r['celery_vs_executor_c200']:.2f}"
        polling = f"x{r['celery_vs_polling_c50']:.2f} / x{r['celery_vs_polling_c200']:.2f}"
        cpu = {name: m[f"celery.{name}_cpu_ms_c200"] for name in ("ours", "executor", "polling")}
        if math.isnan(m["celery.executor_c200"]):
            executor = "(hangs with rpc://: not measured)"
        return [
            (
                "task round trips/s",
                "c=50 / c=200",
                rates,
                f"{executor} of run_in_executor(result.get); {polling} of polling",
            ),
            (
                "web CPU per round trip",
                "c=200",
                f"{cpu['ours']:.2f} ms",
                f"run_in_executor(result.get) {cpu['executor']:.2f} ms; "
                f"polling {cpu['polling']:.2f} ms",
            ),
            (
                "web threads",
                "200 tasks waiting",
                f"{m['celery.threads_ours']:.0f}",
                f"run_in_executor(result.get): {m['celery.threads_executor']:.0f}",
            ),
        ]


if __name__ == "__main__":
    asyncio.run(serve_baselines(int(sys.argv[1])))
