"""The executor strategy: blocking calls on a thread pool, CPU work on a process pool.

N blocking jobs take ceil(N / EXECUTOR_THREADS) times one job, so the thread
pool is sized from settings, never left to asyncio's default of cpus + 4.
Pure-Python CPU work holds the GIL: on threads it gains nothing and slows every
other request, so it runs on a process pool instead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import math
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

from .settings import read_number
from .strategy import Strategy
from .web import ApiError, JsonHandler, Routes

if TYPE_CHECKING:
    # Only for annotations: each process-pool worker imports this module to run
    # its job, and the service clients' libraries would add a third of a second.
    from .clients import Clients

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class PoolSettings:
    threads: int = 64
    processes: int = os.cpu_count() or 1
    # How long a job may wait for a free thread or process, beyond its own work:
    # past it the request answers 504.
    timeout: float = 30.0
    primes_max: int = 5_000_000

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        return cls(
            threads=read_number(env, "EXECUTOR_THREADS", cls.threads, int, 1, 4096),
            processes=read_number(env, "CPU_PROCESSES", cls.processes, int, 1, 256),
            timeout=read_number(env, "EXECUTOR_TIMEOUT", cls.timeout, float, 0.1, 3600.0),
            primes_max=read_number(env, "PRIMES_MAX", cls.primes_max, int, 2, 10**9),
        )


def blocking_sleep(seconds: float) -> float:
    """Stands for any blocking call: a sync database driver, a file, a legacy SDK."""
    time.sleep(seconds)
    return seconds


def count_primes(below: int) -> int:
    """Pure-Python CPU work (it holds the GIL): the primes smaller than `below`."""
    if below < 3:
        return 0
    sieve = bytearray([1]) * below
    sieve[0:2] = b"\x00\x00"
    for n in range(2, math.isqrt(below - 1) + 1):
        if sieve[n]:
            sieve[n * n :: n] = bytes(len(range(n * n, below, n)))
    return sum(sieve)


def start_threads(pool: ThreadPoolExecutor, count: int, timeout: float = 10.0) -> None:
    """Start `count` threads of `pool` now instead of one per `submit()` under load.

    ThreadPoolExecutor starts a thread inside `submit()` whenever none is idle:
    a burst of requests then pays for thread creation on the loop, one request
    at a time, and every other request (/health) waits behind it. Each no-op job
    here waits for the others, so no thread is idle when the next is submitted.
    Bounded: after `timeout` the jobs give up waiting, whatever has started.
    """
    together = threading.Barrier(count)

    def wait_for_the_others() -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            together.wait(timeout)

    jobs = [pool.submit(wait_for_the_others) for _ in range(count)]
    concurrent.futures.wait(jobs, timeout)


class SleepHandler(JsonHandler):
    """Waits for a blocking sleep to finish on the thread pool."""

    def initialize(self, strategy: ExecutorStrategy) -> None:  # type: ignore[override]
        super().initialize()
        self.strategy = strategy

    async def get(self) -> None:
        seconds = self.get_seconds()
        job = self.strategy.run_blocking(blocking_sleep, seconds)
        limit = seconds + self.strategy.pools.timeout
        slept = await self.wait(job, limit, "the thread pool")
        self.write_json({"slept": slept, "strategy": ExecutorStrategy.name})


class PrimesHandler(JsonHandler):
    """Waits for CPU-bound work on the process pool, so the loop stays free."""

    def initialize(self, strategy: ExecutorStrategy) -> None:  # type: ignore[override]
        super().initialize()
        self.strategy = strategy

    async def get(self) -> None:
        below = self.get_below()
        job = self.strategy.run_cpu(count_primes, below)
        primes = await self.wait(job, self.strategy.pools.timeout, "the process pool")
        self.write_json({"below": below, "primes": primes, "strategy": ExecutorStrategy.name})

    def get_below(self) -> int:
        limit = self.strategy.pools.primes_max
        raw = self.get_query_argument("below", None)
        if raw is None or not raw.isdigit() or not 0 <= int(raw) <= limit:
            raise ApiError(400, f"'below' must be a whole number from 0 to {limit}, got {raw!r}")
        return int(raw)


class ExecutorStrategy(Strategy):
    """A thread pool and a process pool, created in the serving process at start.

    `run_blocking` uses `loop.run_in_executor` rather than the tutorial's
    `@run_on_executor`: cancelling its Future (the client left, the wait timed
    out) also takes a job that has not started off the queue, so it never runs
    for nobody. A job that has started runs to its end: a thread cannot be
    interrupted.
    """

    name: ClassVar[str] = "executor"

    def __init__(self, pools: PoolSettings) -> None:
        self.pools = pools
        self._threads: ThreadPoolExecutor | None = None
        self._processes: ProcessPoolExecutor | None = None
        self.jobs = {"threads": 0, "processes": 0}  # submitted and not done, per pool

    @classmethod
    def from_env(cls, env: Mapping[str, str], clients: Clients) -> Self:
        return cls(PoolSettings.from_env(env))

    @property
    def threads(self) -> ThreadPoolExecutor:
        if self._threads is None:
            raise RuntimeError("ExecutorStrategy.start() was not awaited")
        return self._threads

    @property
    def processes(self) -> ProcessPoolExecutor:
        if self._processes is None:
            raise RuntimeError("ExecutorStrategy.start() was not awaited")
        return self._processes

    def run_blocking(self, function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """`function(*args)` on the thread pool."""
        job = asyncio.get_running_loop().run_in_executor(self.threads, function, *args)
        self._count(job, "threads")
        return job

    def _count(self, job: asyncio.Future[Any], pool: str) -> None:
        self.jobs[pool] += 1
        job.add_done_callback(lambda _: self.jobs.__setitem__(pool, self.jobs[pool] - 1))

    def stats(self) -> dict[str, int]:
        """Each pool's size and its jobs submitted and not done (queued or running)."""
        return {
            "executor_threads": self.pools.threads,
            "executor_thread_jobs": self.jobs["threads"],
            "executor_processes": self.pools.processes,
            "executor_process_jobs": self.jobs["processes"],
        }

    async def run_cpu(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` on the process pool, which is replaced if a worker died."""
        pool = self.processes
        try:  # submit() itself raises BrokenProcessPool once the pool knows it is broken
            job = asyncio.get_running_loop().run_in_executor(pool, function, *args)
            self._count(job, "processes")
            return await job
        except BrokenProcessPool:
            if pool is self._processes:  # not replaced yet by another request
                log.error("a process-pool worker died; replacing the pool")
                pool.shutdown(wait=False, cancel_futures=True)
                self._processes = self._new_process_pool()
                # Its processes started now, in the background, while the client
                # waits its Retry-After: an interpreter and this module's imports.
                for _ in range(self.pools.processes):
                    self._processes.submit(count_primes, 2)
            raise ApiError(
                503, "a worker process died; the pool was restarted", {"Retry-After": "1"}
            ) from None

    def routes(self) -> Routes:
        return [
            (r"/sleep", SleepHandler, {"strategy": self}),
            (r"/primes", PrimesHandler, {"strategy": self}),
        ]

    async def start(self) -> None:
        # Created here, in the serving process (after any fork), never shared.
        self._threads = ThreadPoolExecutor(self.pools.threads, thread_name_prefix="blocking")
        start_threads(self._threads, self.pools.threads)
        self._processes = self._new_process_pool()

    def _new_process_pool(self) -> ProcessPoolExecutor:
        # "spawn": forking a process that runs an event loop copies its state.
        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(self.pools.processes, mp_context=context)

    async def close(self) -> None:
        """Drop queued jobs; running ones finish on their own (requests have drained)."""
        for pool in (self._threads, self._processes):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        self._threads = self._processes = None

    async def health(self) -> dict[str, str]:
        return {"pools": "up" if self._threads and self._processes else "down"}
