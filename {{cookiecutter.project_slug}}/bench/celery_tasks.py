"""The celery strategy's own measurement: HTTP -> task -> result, five ways, same run.

Compares this project's awaiting layer (the native Redis publisher and the lean
worker, as shipped) with:
- v0.1.0's settings: `CELERY_PUBLISHER=thread`, `CELERY_TRACK_STARTED=true` and
  `CELERY_TASK_LOG=true`, a web process and a worker of their own;
- the two ways people usually await Celery from Tornado, each served in a
  process of its own by `python -m bench.celery_tasks PORT` against our worker:
  /executor, `send_task` on the loop, then `run_in_executor(None, result.get)`,
  a thread of asyncio's default pool held per waiting request (it hangs with
  rpc://: the reply queue belongs to the publishing thread); /polling,
  `send_task`, then `result.ready()` every 10 ms to 0.5 s, each a blocking
  backend call on the loop. They are what the awaiting layer replaces: never
  use them in a service;
- saq, an asyncio-native queue on the same Redis (bench/saq_reference.py), when
  it is installed: where Celery stands against a queue written for asyncio.
Besides round trips/s: CPU per round trip of the web process and of the worker.
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
from collections.abc import Iterator
from pathlib import Path

import tornado.httpserver
import tornado.netutil
import tornado.web
from celery import Celery

from {{ cookiecutter.package_name }}.celery.app import delete_queue, make_celery
from {{ cookiecutter.package_name }}.celery.jobs import task_name
from {{ cookiecutter.package_name }}.celery.settings import CelerySettings

from . import saq_reference
from .load import burst, one_request
from .processes import PACKAGE, cpu_seconds, free_port, proc_status, running, serve_command
from .run import Row, rps

TIMEOUT = 10.0
CONNECTIONS = (50, 200)
# What this project shipped in v0.1.0, for the web process and the worker.
V010 = {"CELERY_PUBLISHER": "thread", "CELERY_TRACK_STARTED": "true", "CELERY_TASK_LOG": "true"}
# The rows, in the order they are measured and reported; "ours" first.
WAYS = ("ours", "v010", "executor", "polling", "saq")
LABELS = {
    "v010": "v0.1.0 settings",
    "executor": "run_in_executor(result.get)",
    "polling": "polling",
    "saq": "saq",
}


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


def pid_with_argument(argument: str) -> int:
    """The process whose command line has `argument` (a worker's node name); 0 if none."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if argument.encode() in (entry / "cmdline").read_bytes().split(b"\0"):
                    return int(entry.name)
    return 0


def until_answered(port: int, path: str, timeout: float = 60) -> None:
    """Until `path` answers 200 (a worker that has just started takes its first task)."""
    deadline = time.monotonic() + timeout
    while asyncio.run(one_request(port, path, TIMEOUT)) != 200:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} on port {port} never answered 200 in {timeout:g} s")
        time.sleep(0.2)


@dataclasses.dataclass(frozen=True)
class Way:
    """One way to run the round trip: where to send it, which processes do the work."""

    name: str
    port: int
    web: int  # pid
    worker: int  # pid; 0 when unknown
    path: str = "/sleep?seconds=0"


def round_trips(args: argparse.Namespace, way: Way, connections: int) -> dict[str, float]:
    """Round trips/s, and CPU per round trip of the web process and of the worker."""
    pids = {"web": way.web, "worker": way.worker}
    before = {role: cpu_seconds(pid) if pid else math.nan for role, pid in pids.items()}
    started = time.perf_counter()
    rate = rps(args, way.port, way.path, connections)
    answered = rate * (time.perf_counter() - started)
    found = {f"{way.name}_c{connections}": rate}
    for role, pid in pids.items():
        used_ms = 1000 * ((cpu_seconds(pid) if pid else math.nan) - before[role])
        found[f"{way.name}_{role}_ms_c{connections}"] = used_ms / answered if answered else math.nan
    return found


class AwaitingComparison:
    """Task round trips through our awaiting layer, against four other ways.

    On queues and result keys of its own: a worker you run on the same broker
    never sees the benchmark's tasks, and the benchmark never waits behind yours.
    """

    def __init__(self) -> None:
        self.queue = f"bench-{os.getpid()}"

    def environment(self) -> dict[str, str]:
        return {"CELERY_QUEUE": self.queue, "CELERY_KEY_PREFIX": f"{self.queue}:"}

    def clean_up(self) -> None:
        for queue in (self.queue, f"{self.queue}-v010"):
            settings = dataclasses.replace(CelerySettings.from_env(), queue=queue)
            delete_queue(make_celery(settings), queue)

    def worker_command(self, args: argparse.Namespace, name: str) -> list[str]:
        # Enough worker threads for the whole burst (and for the 200-task comparison);
        # a node name of its own, so a worker you already run on this host is no obstacle.
        options = [
            f"--concurrency={max(args.requests, 200)}",
            f"--hostname={name}-{os.getpid()}@%h",
            "--without-gossip",
            "--without-mingle",
        ]
        return [sys.executable, "-m", PACKAGE, "worker", *options]

    def processes(self, args: argparse.Namespace) -> list[list[str]]:
        return [self.worker_command(args, "bench")]

    def measure(
        self, args: argparse.Namespace, env: dict[str, str], port: int, pid: int
    ) -> dict[str, dict[str, float]]:
        worker = pid_with_argument(f"--hostname=bench-{os.getpid()}@%h")
        results = {f"{name}_{key}": math.nan for name in WAYS for key in self.keys()}
        ours = Way("ours", port, pid, worker)
        results |= self.measure_way(args, ours)
        results["threads_ours"] = threads_while_waiting(port, pid, "/sleep?seconds=1")
        with self.v010(args, env) as way:
            results |= self.measure_way(args, way)
        # With rpc:// results, result.get() in a pool thread never returns (the reply
        # queue belongs to the publishing thread): that baseline is not measured.
        hangs = CelerySettings.from_env().result_backend.startswith("rpc://")
        results["threads_executor"] = results["executor_failed_of_200"] = math.nan
        for name in ("polling",) if hangs else ("executor", "polling"):
            with self.baseline(env, name, worker) as way:
                results |= self.measure_way(args, way)
                if name == "executor":
                    results |= self.executor_under_burst(way)
        if saq_reference.available():
            with self.saq(env) as way:
                results |= self.measure_way(args, way)
        return {"celery": results}

    @staticmethod
    def keys() -> Iterator[str]:
        for connections in CONNECTIONS:
            yield from (f"c{connections}", f"web_ms_c{connections}", f"worker_ms_c{connections}")

    @staticmethod
    def measure_way(args: argparse.Namespace, way: Way) -> dict[str, float]:
        found: dict[str, float] = {}
        for connections in CONNECTIONS:
            found |= round_trips(args, way, connections)
        return found

    @staticmethod
    def executor_under_burst(way: Way) -> dict[str, float]:
        """What 200 concurrent run_in_executor(result.get) requests see, and its threads.

        Celery's Redis result backend shares one connection between the pool's
        threads: under concurrency it has answered garbled replies and hung.
        Each request is bounded by TIMEOUT; the failures are counted, not hidden.
        """
        done = asyncio.run(burst(way.port, way.path, 200, timeout=TIMEOUT + 5))
        threads = threads_while_waiting(way.port, way.web, "/executor?seconds=1")
        return {"executor_failed_of_200": done["failed"], "threads_executor": threads}

    @contextlib.contextmanager
    def v010(self, args: argparse.Namespace, env: dict[str, str]) -> Iterator[Way]:
        """A web process and a worker with v0.1.0's settings, on a queue of their own."""
        queue = f"{self.queue}-v010"
        v010 = {**env, **V010, "CELERY_QUEUE": queue, "CELERY_KEY_PREFIX": f"{queue}:"}
        port = free_port()
        with (
            running(self.worker_command(args, "v010"), None, v010) as worker,
            running(serve_command(port), port, v010) as web,
        ):
            until_answered(port, "/sleep?seconds=0")
            yield Way("v010", port, web, worker)

    @contextlib.contextmanager
    def baseline(self, env: dict[str, str], name: str, worker: int) -> Iterator[Way]:
        """One of the usual ways, in a process of its own, against our worker."""
        port = free_port()
        command = [sys.executable, "-m", "bench.celery_tasks", str(port)]
        with running(command, port, env) as web:
            yield Way(name, port, web, worker, f"/{name}?seconds=0")

    @contextlib.contextmanager
    def saq(self, env: dict[str, str]) -> Iterator[Way]:
        """A saq worker and a Tornado app that awaits its jobs."""
        port = free_port()
        saq = {**env, "SAQ_QUEUE": f"{self.queue}-saq"}
        module = [sys.executable, "-m", "bench.saq_reference"]
        with (
            running([*module, "worker"], None, saq) as worker,
            running([*module, "serve", str(port)], port, saq) as web,
        ):
            until_answered(port, "/sleep?seconds=0")
            yield Way("saq", port, web, worker)

    def ratios(self, m: dict[str, float]) -> dict[str, float]:
        found = {}
        for connections in CONNECTIONS:
            ours = m[f"celery.ours_c{connections}"]
            for other in WAYS[1:]:
                baseline = m[f"celery.{other}_c{connections}"] or math.nan
                found[f"celery_vs_{other}_c{connections}"] = ours / baseline
        return found

    def rows(self, m: dict[str, float], r: dict[str, float]) -> list[Row]:
        """Our awaiting layer against the others, from the same run."""
        rates = f"{m['celery.ours_c50']:.0f} / {m['celery.ours_c200']:.0f}"
        versus = "; ".join(
            f"x{r[f'celery_vs_{other}_c50']:.2f} / x{r[f'celery_vs_{other}_c200']:.2f} "
            f"of {LABELS[other]}"
            for other in WAYS[1:]
        )
        cpu = "; ".join(
            f"{LABELS[other]} {m[f'celery.{other}_web_ms_c200']:.2f} + "
            f"{m[f'celery.{other}_worker_ms_c200']:.2f} ms"
            for other in WAYS[1:]
        )
        ours_cpu = f"{m['celery.ours_web_ms_c200']:.2f} + {m['celery.ours_worker_ms_c200']:.2f} ms"
        failed = m["celery.executor_failed_of_200"]
        return [
            ("task round trips/s", "c=50 / c=200", rates, versus.replace("xnan", "n/a")),
            ("CPU per round trip", "web + worker, c=200", ours_cpu, cpu.replace("nan", "n/a")),
            (
                "web threads",
                "200 tasks waiting",
                f"{m['celery.threads_ours']:.0f}",
                f"run_in_executor(result.get): {m['celery.threads_executor']:.0f}",
            ),
            (
                "run_in_executor(result.get)",
                "200 at once",
                "",
                f"{failed:.0f} of 200 failed or timed out".replace("nan", "n/a"),
            ),
        ]


if __name__ == "__main__":
    asyncio.run(serve_baselines(int(sys.argv[1])))
