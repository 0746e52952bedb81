"""The executor strategy: blocking calls on a thread pool, CPU work on a process pool.

N blocking jobs take ceil(N / EXECUTOR_THREADS) times one job, so the thread
pool is sized from settings, never left to asyncio's default of cpus + 4.
Pure-Python CPU work holds the GIL: on threads it gains nothing and slows every
other request, so it runs on a process pool instead. A thread cannot be
interrupted: a timed-out request answers 504 at once, but its job still runs to
the end on its thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import multiprocessing
import os
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import TYPE_CHECKING, ClassVar, Self

from tornado.concurrent import run_on_executor

from .clients import Clients
from .settings import read_number
from .strategy import Strategy
from .web import ApiError, JsonHandler, Routes

if TYPE_CHECKING:
    from concurrent.futures import Future


@dataclasses.dataclass(frozen=True)
class PoolSettings:
    threads: int = 64
    processes: int = os.cpu_count() or 1
    # Longest a request waits for a pool, queueing included, before it answers 504.
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


class SleepHandler(JsonHandler):
    """Waits for a blocking sleep to finish on the thread pool (`run_on_executor`)."""

    def initialize(self, strategy: ExecutorStrategy) -> None:  # type: ignore[override]
        super().initialize()
        self.strategy = strategy
        self.executor = strategy.threads  # where @run_on_executor runs the call

    @run_on_executor
    def sleep_on_thread(self, seconds: float) -> float:
        return blocking_sleep(seconds)

    async def get(self) -> None:
        seconds = self.get_seconds()
        job: Future[float] = self.sleep_on_thread(seconds)
        timeout = self.strategy.pools.timeout
        slept = await self.wait(asyncio.wrap_future(job), timeout, "the thread pool")
        self.write_json({"slept": slept, "strategy": ExecutorStrategy.name})


class PrimesHandler(JsonHandler):
    """Waits for CPU-bound work on the process pool, so the loop stays free."""

    def initialize(self, strategy: ExecutorStrategy) -> None:  # type: ignore[override]
        super().initialize()
        self.strategy = strategy

    async def get(self) -> None:
        below = self.get_below()
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(self.strategy.processes, count_primes, below)
        primes = await self.wait(job, self.strategy.pools.timeout, "the process pool")
        self.write_json({"below": below, "primes": primes, "strategy": ExecutorStrategy.name})

    def get_below(self) -> int:
        limit = self.strategy.pools.primes_max
        raw = self.get_query_argument("below", None)
        if raw is None or not raw.isdigit() or not 0 <= int(raw) <= limit:
            raise ApiError(400, f"'below' must be a whole number from 0 to {limit}, got {raw!r}")
        return int(raw)


class ExecutorStrategy(Strategy):
    """A thread pool and a process pool, created in the serving process at start."""

    name: ClassVar[str] = "executor"

    def __init__(self, pools: PoolSettings) -> None:
        self.pools = pools
        self._threads: ThreadPoolExecutor | None = None
        self._processes: ProcessPoolExecutor | None = None

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

    def routes(self) -> Routes:
        return [
            (r"/sleep", SleepHandler, {"strategy": self}),
            (r"/primes", PrimesHandler, {"strategy": self}),
        ]

    async def start(self) -> None:
        # Created here, in the serving process (after any fork), never shared.
        self._threads = ThreadPoolExecutor(self.pools.threads, thread_name_prefix="blocking")
        # "spawn": forking a process that runs an event loop copies its state.
        self._processes = ProcessPoolExecutor(
            self.pools.processes, mp_context=multiprocessing.get_context("spawn")
        )

    async def close(self) -> None:
        """Drop queued jobs and wait for running ones (requests have drained by now)."""
        pools = [pool for pool in (self._threads, self._processes) if pool is not None]
        self._threads = self._processes = None
        for pool in pools:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    async def health(self) -> dict[str, str]:
        return {"pools": "up" if self._threads and self._processes else "down"}
