"""What only the executor strategy does: pool sizing, process pool, timeouts, shutdown."""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import pytest
from tornado.testing import gen_test

from {{ cookiecutter.package_name }} import executor
from {{ cookiecutter.package_name }}.app import ServiceApp, make_app
from {{ cookiecutter.package_name }}.executor import ExecutorStrategy, PoolSettings, count_primes
from {{ cookiecutter.package_name }}.settings import SettingsError

from .support import AppTestCase, body


def test_count_primes() -> None:
    assert [count_primes(n) for n in (0, 2, 3, 10, 100, 1000)] == [0, 0, 1, 4, 25, 168]


def test_pool_settings_come_from_the_environment() -> None:
    pools = PoolSettings.from_env({"EXECUTOR_THREADS": "8", "CPU_PROCESSES": "2"})
    assert (pools.threads, pools.processes) == (8, 2)
    with pytest.raises(SettingsError, match="EXECUTOR_THREADS must be between 1 and 4096"):
        PoolSettings.from_env({"EXECUTOR_THREADS": "0"})


class SmallPoolTest(AppTestCase):
    threads = 4

    def get_app(self) -> ServiceApp:
        pools = PoolSettings(threads=self.threads, processes=1, timeout=3.0, primes_max=10**6)
        self.strategy = ExecutorStrategy(pools)
        self.app = make_app(self.settings(), self.strategy)
        return self.app

    @gen_test(timeout=60)
    async def test_wall_time_is_ceil_jobs_over_threads_times_the_job(self) -> None:
        jobs, job = 10, 0.3
        elapsed, responses = await self.timed_gather(*[f"/sleep?seconds={job}"] * jobs)
        assert [r.code for r in responses] == [200] * jobs
        waves = math.ceil(jobs / self.threads)  # 3 waves of 4 threads
        assert waves * job <= elapsed < waves * job + 1.5, elapsed

    @gen_test(timeout=30)
    async def test_a_long_sleep_is_not_cut_short_by_the_pool_timeout(self) -> None:
        response = await self.get("/sleep?seconds=3.2")  # more than EXECUTOR_TIMEOUT (3 s)
        assert response.code == 200, response.body

    @gen_test(timeout=60)
    async def test_cpu_work_runs_on_the_process_pool(self) -> None:
        response = await self.get("/primes?below=100000")
        assert response.code == 200, response.body
        assert body(response) == {"below": 100000, "primes": 9592, "strategy": "executor"}

    @gen_test(timeout=30)
    async def test_bad_primes_argument_gets_a_400(self) -> None:
        for query in ("", "?below=x", "?below=-5", "?below=2000000"):
            response = await self.get(f"/primes{query}")
            assert response.code == 400, query
            assert "'below' must be a whole number from 0 to 1000000" in body(response)["error"]

    def test_every_thread_is_started_before_the_first_request(self) -> None:
        """A burst does not start threads on the loop: they all run from the start."""
        started = self.strategy.threads._threads  # the pool's own record of its threads
        assert len(started) == self.threads
        assert all(thread.is_alive() for thread in started)

    def test_start_threads_is_bounded_when_the_pool_is_smaller(self) -> None:
        """Asked for more threads than the pool has, it gives up at its timeout."""
        with ThreadPoolExecutor(2, thread_name_prefix="small") as pool:
            began = time.monotonic()
            executor.start_threads(pool, 3, timeout=0.5)
            assert time.monotonic() - began < 2
            assert len([t for t in threading.enumerate() if t.name.startswith("small")]) == 2

    @gen_test(timeout=30)
    async def test_close_shuts_both_pools_down(self) -> None:
        threads, processes = self.strategy.threads, self.strategy.processes
        await self.app.close()
        for pool in (threads, processes):
            with pytest.raises(RuntimeError, match="after shutdown"):
                pool.submit(time.sleep, 0)
        await self.app.start()  # tearDown closes again


class OneThreadTest(AppTestCase):
    """One thread and a short EXECUTOR_TIMEOUT: what a queue behind a busy pool does."""

    def get_app(self) -> ServiceApp:
        pools = PoolSettings(threads=1, processes=1, timeout=0.5, primes_max=10**6)
        self.strategy = ExecutorStrategy(pools)
        self.app = make_app(self.settings(), self.strategy)
        return self.app

    @gen_test(timeout=30)
    async def test_a_job_that_waits_too_long_for_a_thread_gets_a_504(self) -> None:
        busy = asyncio.ensure_future(self.get("/sleep?seconds=2"))
        await asyncio.sleep(0.2)
        response = await self.get("/sleep?seconds=0.1")
        assert response.code == 504
        assert body(response)["error"] == "the thread pool did not finish within 0.6 s"
        assert (await busy).code == 200

    @gen_test(timeout=30)
    async def test_jobs_whose_clients_left_never_run(self) -> None:
        with mock.patch.object(executor, "blocking_sleep", wraps=executor.blocking_sleep) as job:
            busy = asyncio.ensure_future(self.get("/sleep?seconds=1"))
            await asyncio.sleep(0.2)
            leaving = [self.get("/sleep?seconds=0.5", request_timeout=0.2) for _ in range(5)]
            await asyncio.gather(*leaving, return_exceptions=True)  # they hang up
            assert (await busy).code == 200
            started = time.monotonic()
            assert (await self.get("/sleep?seconds=0.1")).code == 200
            assert time.monotonic() - started < 0.5  # not behind 5 x 0.5 s of abandoned work
        assert mock.call(0.5) not in job.call_args_list

    @gen_test(timeout=60)
    async def test_a_dead_process_worker_is_replaced(self) -> None:
        self.strategy.processes.submit(os._exit, 1)  # a worker dies, as in an OOM kill
        await asyncio.sleep(0.5)
        response = await self.get("/primes?below=1000")
        assert response.code == 503
        assert body(response)["error"] == "a worker process died; the pool was restarted"
        assert response.headers["Retry-After"] == "1"
        for _ in range(15):  # as told: again a second later, while the new pool starts
            await asyncio.sleep(1)
            response = await self.get("/primes?below=1000")
            if response.code == 200:
                break
        assert (response.code, body(response)["primes"]) == (200, 168)
