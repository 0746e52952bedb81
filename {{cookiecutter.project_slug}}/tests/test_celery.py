"""What only the celery strategy does: the awaiting layer, the task API, the faults."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from celery import Celery, signals
from celery.backends.redis import RedisBackend
from celery.contrib.testing.worker import start_worker as start_worker_thread
from tornado.httpclient import HTTPResponse
from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.app import ServiceApp, make_app
from {{ cookiecutter.package_name }}.celery import CeleryStrategy
from {{ cookiecutter.package_name }}.celery.app import delete_queue, make_celery, share_result_backend
from {{ cookiecutter.package_name }}.celery.client import TaskClient
from {{ cookiecutter.package_name }}.celery.jobs import task_name
from {{ cookiecutter.package_name }}.celery.monitor import MISSES_TO_DOWN, BrokerMonitor
from {{ cookiecutter.package_name }}.celery.publishers import AmqpPublisher, ThreadPublisher
from {{ cookiecutter.package_name }}.celery.redis_publisher import RedisPublisher
from {{ cookiecutter.package_name }}.celery.settings import CelerySettings
from {{ cookiecutter.package_name }}.celery.waiters import (
    PollingWaiter,
    RedisResultWaiter,
    ReplyQueueWaiter,
    WebRedisBackend,
)
from {{ cookiecutter.package_name }}.settings import Settings, SettingsError

from .fixtures_celery import Worker, require_broker
from .support import PACKAGE, SRC, AppTestCase, Proxy, body, closed_port

LIVE = CelerySettings.from_env  # the project's broker, with this session's queue


# -- settings and wiring (no broker needed) ----------------------------------------------


def test_the_waiter_follows_the_result_backend() -> None:
    def waiter(broker: str, backend: str) -> type:
        settings = CelerySettings(broker_url=broker, result_backend=backend)
        return type(TaskClient(make_celery(settings, web=True), settings).waiter)

    assert waiter("redis://h:1/0", "redis://h:1/1") is RedisResultWaiter
    assert waiter("amqp://h:1//", "rpc://") is ReplyQueueWaiter
    assert waiter("amqp://h:1//", "redis://h:1/1") is RedisResultWaiter
    assert waiter("redis://h:1/0", "db+sqlite:///results.db") is PollingWaiter


def test_the_publisher_follows_the_broker() -> None:
    def publisher(broker: str, chosen: str = "native") -> type:
        settings = CelerySettings(
            broker_url=broker, result_backend="redis://h:1/1", publisher=chosen
        )
        return type(TaskClient(make_celery(settings, web=True), settings).publisher)

    assert publisher("amqp://guest:guest@h:1//") is AmqpPublisher
    assert publisher("redis://h:1/0") is RedisPublisher
    assert publisher("redis://h:1/0", "thread") is ThreadPublisher
    assert publisher("sqs://h:1/0") is ThreadPublisher  # any other broker kombu speaks


def test_rpc_results_need_a_rabbitmq_broker() -> None:
    with pytest.raises(SettingsError, match=r"rpc:// needs a RabbitMQ broker"):
        CelerySettings.from_env(
            {"CELERY_BROKER_URL": "redis://h/0", "CELERY_RESULT_BACKEND": "rpc://"}
        )


def test_the_web_process_does_not_subscribe_per_task(monkeypatch: pytest.MonkeyPatch) -> None:
    # Celery reads this variable itself: it must not bring the blocking backend back.
    monkeypatch.setenv("CELERY_RESULT_BACKEND", "redis://h:1/1")
    settings = CelerySettings(broker_url="redis://h:1/0", result_backend="redis://h:1/1")
    web_backend = type(make_celery(settings, web=True).backend)
    assert web_backend is WebRedisBackend
    assert web_backend.on_task_call is not RedisBackend.on_task_call  # no blocking SUBSCRIBE
    assert type(make_celery(settings).backend) is RedisBackend  # the worker's


def test_the_documented_celery_command_finds_the_app() -> None:
    from celery.app.utils import find_app

    from {{ cookiecutter.package_name }}.celery.app import worker_app

    app = find_app("{{ cookiecutter.package_name }}.celery.app:celery_app")
    assert app is worker_app()
    assert "{{ cookiecutter.package_name }}.celery.jobs.sleep" in app.tasks


def test_worker_defaults_suit_sleeping_tasks() -> None:
    settings = CelerySettings.from_env({})
    assert (settings.worker_pool, settings.worker_concurrency) == ("threads", 100)
    conf = make_celery(settings).conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1


def test_the_worker_logs_no_line_per_task_nor_started_unless_told() -> None:
    default = CelerySettings.from_env({})
    assert (default.track_started, default.task_log) == (False, False)
    assert make_celery(default).conf.task_track_started is False
    asked = CelerySettings.from_env({"CELERY_TRACK_STARTED": "true", "CELERY_TASK_LOG": "true"})
    assert (asked.track_started, asked.task_log) == (True, True)
    assert make_celery(asked).conf.task_track_started is True
    with pytest.raises(SettingsError, match="CELERY_PUBLISHER must be one of native, thread"):
        CelerySettings.from_env({"CELERY_PUBLISHER": "fast"})


def test_the_worker_shares_one_result_backend_sized_for_its_threads() -> None:
    """Celery's default, a backend per thread built on its first use, stalled a threads
    worker: with task_track_started off, a burst's 300 threads all built theirs (each
    scanning every package's entry points) when their tasks ended, at once."""
    redis_results = {"CELERY_RESULT_BACKEND": "redis://127.0.0.1:6379/1"}
    app = make_celery(CelerySettings.from_env(redis_results))
    share_result_backend(app)
    signals.worker_init.send(sender=mock.Mock(concurrency=300))  # no connection is made
    built = app.backend
    assert isinstance(built, RedisBackend)
    assert app.conf.result_backend_thread_safe is True
    seen: list[Any] = []
    thread = threading.Thread(target=lambda: seen.append(app.backend))
    thread.start()
    thread.join()
    assert seen == [built]  # a pool thread uses the main thread's backend
    # Room for every thread at once: redis-py 8's pool raises past 100 by default.
    assert built.client.connection_pool.max_connections >= 301


# -- fast tests: Celery's in-memory broker and a worker thread -------------------------------

MEMORY = CelerySettings(
    broker_url="memory://",
    result_backend="cache+memory://",
    queue="memory",
    result_timeout=5.0,
    publish_timeout=2.0,
)


@pytest.fixture(scope="module")
def memory_app() -> Iterator[Celery]:
    app = make_celery(MEMORY, web=True)
    app.conf.broker_transport_options = {"polling_interval": 0.01}
    with start_worker_thread(app, pool="threads", concurrency=8, perform_ping_check=False):
        yield app


@pytest.mark.parametrize("reachable", [True, False])
def test_health_never_waits_for_the_broker(reachable: bool) -> None:
    """50 /health at once answer from what the monitor last saw: not one broker call.

    (Under load, a ping per /health cost a quarter of the CPU; with the broker
    down, each /health waited 2 s for it.)
    """
    client = TaskClient(make_celery(MEMORY, web=True), MEMORY)
    calls = []

    def queue_length() -> int:
        calls.append(time.monotonic())
        if not reachable:
            raise ConnectionRefusedError
        return 0

    async def check() -> list[dict[str, str]]:
        with mock.patch.object(client.monitor, "_queue_length", queue_length):
            await client.start()  # one look at the broker before serving
            try:
                started = time.monotonic()
                answers = await asyncio.gather(*(client.health() for _ in range(50)))
                assert time.monotonic() - started < 1  # one wait on the broker: 2 s
                return answers
            finally:
                await client.close()

    answers = asyncio.run(check())
    assert len(calls) == 1
    expected = "up" if reachable else "down"
    assert {answer["broker"] for answer in answers} == {expected}


class MemoryTest(AppTestCase):
    """The HTTP layer over the in-memory broker: fast, no services needed."""

    @pytest.fixture(autouse=True)
    def _use_memory_app(self, memory_app: Celery) -> None:
        self.memory_app = memory_app

    def get_app(self) -> ServiceApp:
        strategy = CeleryStrategy(MEMORY, TaskClient(self.memory_app, MEMORY))
        self.app = make_app(Settings(sleep_max_seconds=5), strategy)
        return self.app

    @gen_test(timeout=30)
    async def test_a_result_comes_back_through_the_polling_waiter(self) -> None:
        response = await self.post("/tasks/add", {"args": [2, 3], "wait": True})
        assert (response.code, body(response)) == (200, {"state": "SUCCESS", "result": 5})

    @gen_test(timeout=30)
    async def test_a_failing_task_is_a_500_naming_the_exception(self) -> None:
        response = await self.post("/tasks/fail", {"args": ["boom"], "wait": True})
        assert response.code == 500
        payload = body(response)
        assert payload["error"] == "task fail failed: ValueError: boom"
        assert payload["exception"] == "ValueError"

    async def post(self, path: str, payload: Any) -> HTTPResponse:
        return await self.get(path, method="POST", body=json.dumps(payload))


# -- live tests: the project's real broker and a real worker --------------------------------


@pytest.mark.usefixtures("live_worker")
class LiveTest(AppTestCase):
    async def post(self, path: str, payload: Any, raw: bytes | None = None) -> HTTPResponse:
        data = raw if raw is not None else json.dumps(payload).encode()
        return await self.get(path, method="POST", body=data)

    @gen_test(timeout=30)
    async def test_add_waits_for_the_result(self) -> None:
        response = await self.post("/tasks/add", {"args": [2, 3], "wait": True})
        assert (response.code, body(response)) == (200, {"state": "SUCCESS", "result": 5})

    @gen_test(timeout=30)
    async def test_a_task_that_raises_is_a_500_with_its_type_and_message(self) -> None:
        response = await self.post("/tasks/fail", {"args": ["on purpose"], "wait": True})
        assert response.code == 500
        payload = body(response)
        assert payload["error"] == "task fail failed: ValueError: on purpose"
        assert payload["exception"] == "ValueError"

    @gen_test(timeout=30)
    async def test_a_task_that_is_too_slow_is_a_504_and_is_revoked(self) -> None:
        response = await self.post("/tasks/sleep", {"args": [3], "wait": True, "timeout": 0.5})
        assert response.code == 504
        assert body(response)["error"].endswith("did not finish within 0.5 s; it was revoked")
        # It stops at its next check instead of running on to a SUCCESS nobody wants.
        task_id = body(response)["task_id"]
        for _ in range(50):
            state = body(await self.get(f"/tasks/{task_id}"))["state"]
            if state == "REVOKED":
                break
            await asyncio.sleep(0.1)
        assert state == "REVOKED"

    @gen_test(timeout=30)
    async def test_submit_then_look_the_task_up(self) -> None:
        response = await self.post("/tasks/add", {"args": [20, 22]})
        assert response.code == 202
        task_id = body(response)["id"]
        assert response.headers["Location"] == f"/tasks/{task_id}"
        for _ in range(100):
            state = body(await self.get(f"/tasks/{task_id}"))
            if state["state"] == "SUCCESS":
                break
            await asyncio.sleep(0.05)
        assert state == {"id": task_id, "state": "SUCCESS", "result": 42}

    @gen_test(timeout=30)
    async def test_a_running_task_reads_pending_then_success(self) -> None:
        """CELERY_TRACK_STARTED is off: no STARTED, PENDING until the task ends."""
        task_id = body(await self.post("/tasks/sleep", {"args": [0.5]}))["id"]
        seen = []
        for _ in range(100):
            state = body(await self.get(f"/tasks/{task_id}"))["state"]
            seen.append(state)
            if state == "SUCCESS":
                break
            await asyncio.sleep(0.05)
        assert set(seen) == {"PENDING", "SUCCESS"}
        assert seen[-1] == "SUCCESS"

    @gen_test(timeout=30)
    async def test_the_worker_logs_no_line_per_task(self) -> None:
        """CELERY_TASK_LOG is off: the banner and "ready." stay, a task adds no line."""
        response = await self.post("/tasks/add", {"args": [1, 1], "wait": True})
        assert response.code == 200
        output = self.live_worker.log.read_text()
        assert " ready." in output
        assert "[tasks]" in output  # the start-up banner
        assert "] received" not in output
        assert "] succeeded in" not in output

    @pytest.fixture(autouse=True)
    def _live(self, live_worker: Worker) -> None:
        self.live_worker = live_worker

    @gen_test(timeout=30)
    async def test_a_task_this_process_never_saw(self) -> None:
        unknown = "8f2b3c1e-1111-4222-8333-944455556666"
        response = await self.get(f"/tasks/{unknown}")
        if LIVE().result_backend.startswith("rpc://"):
            assert response.code == 404
            assert "rpc:// result backend" in body(response)["error"]
        else:  # a shared backend: Celery cannot tell "unknown" from "not started"
            assert (response.code, body(response)["state"]) == (200, "PENDING")

    @gen_test(timeout=30)
    async def test_revoke(self) -> None:
        task_id = body(await self.post("/tasks/sleep", {"args": [0.1]}))["id"]
        response = await self.get(f"/tasks/{task_id}", method="DELETE")
        assert (response.code, body(response)) == (202, {"id": task_id, "state": "REVOKED"})

    @gen_test(timeout=30)
    async def test_bad_requests_get_json_errors(self) -> None:
        cases = [
            ("/tasks/nope", b"{}", 404, "no such task: 'nope' (tasks: add, fail, sleep)"),
            ("/tasks/add", b"{not json", 400, "the body is not valid JSON"),
            ("/tasks/add", b"[1, 2]", 400, "the body must be a JSON object"),
            ("/tasks/add", b'{"args": 5}', 400, "'args' must be a JSON array"),
            ("/tasks/add", b'{"timeout": -1}', 400, "'timeout' must be a number"),
            ("/tasks/add", b"x" * 70_000, 413, "the body is over 64 KiB"),
            ("/tasks/add", b"[" * 30_000 + b"]" * 30_000, 400, "the body is nested too deeply"),
            ("/tasks/add", b'{"args": [1]}', 400, "wrong arguments for task add: missing a"),
            ("/tasks/add", b'{"kwargs": {"x": 1, "z": 2}}', 400, "wrong arguments for task add"),
            ("/tasks/add", b'{"args": ["a", 1]}', 400, "task add: 'x' must be a finite number"),
            ("/tasks/sleep", b'{"args": [86400]}', 400, "task sleep: 'seconds' must be between"),
            ("/tasks/fail", b'{"args": [3]}', 400, "task fail: 'message' must be a string"),
        ]
        for path, raw, status, message in cases:
            response = await self.post(path, None, raw=raw)
            assert response.code == status, (path, raw[:20])
            assert body(response)["error"].startswith(message)
        response = await self.get("/tasks/not-a-uuid-but-long-enough-0000000000")
        assert response.code == 404

    @gen_test(timeout=30)
    async def test_a_result_json_cannot_carry_is_a_502(self) -> None:
        response = await self.post("/tasks/add", {"args": [1e308, 1e308], "wait": True})
        assert response.code == 502
        assert body(response)["error"].startswith("task add returned what JSON cannot carry")

    @gen_test(timeout=60)
    async def test_50_slow_tasks_wait_together_without_a_thread_each(self) -> None:
        threads_before = threading.active_count()
        sleeps = asyncio.ensure_future(self.timed_gather(*["/sleep?seconds=0.5"] * 50))
        await asyncio.sleep(0.25)
        started = time.monotonic()
        health = await self.get("/health")
        health_took = time.monotonic() - started
        threads_during = threading.enumerate()
        elapsed, responses = await sleeps
        assert [r.code for r in responses] == [200] * 50
        assert elapsed < 0.5 * 6, f"50 tasks took {elapsed:.2f} s (25 s one after another)"
        assert health.code == 200, body(health)
        assert health_took < 2  # a blocked loop would hold it for seconds of tasks
        # No thread per waiting request: 4 publish threads, 2 for other blocking calls
        # (the broker ping), plus asyncio's default pool (at most 6 here) where the
        # test client resolves "localhost".
        publishing = [t for t in threads_during if t.name.startswith("celery-publish")]
        assert len(publishing) <= 4
        assert len(threads_during) - threads_before <= 4 + 2 + 6


@pytest.mark.usefixtures("live_worker")
class BackpressureTest(AppTestCase):
    def get_app(self) -> ServiceApp:
        settings = dataclasses.replace(LIVE(), max_in_flight=2)
        self.app = make_app(Settings(sleep_max_seconds=5), CeleryStrategy(settings))
        return self.app

    @gen_test(timeout=30)
    async def test_past_the_limit_a_request_gets_503_and_retry_after(self) -> None:
        _, responses = await self.timed_gather(*["/sleep?seconds=1"] * 3)
        codes = sorted(r.code for r in responses)
        assert codes == [200, 200, 503]
        refused = next(r for r in responses if r.code == 503)
        assert refused.headers["Retry-After"] == "1"
        assert body(refused)["error"].startswith("too busy: 2 tasks already in flight")


class BrokerDownTest(AppTestCase):
    """The broker's port is closed: 503 at once, and the loop keeps answering."""

    def setUp(self) -> None:
        # Celery lets these variables win over its configuration: keep them out.
        self.environ = mock.patch.dict(os.environ)
        self.environ.start()
        os.environ.pop("CELERY_BROKER_URL", None)
        os.environ.pop("CELERY_RESULT_BACKEND", None)
        super().setUp()

    def tearDown(self) -> None:
        super().tearDown()
        self.environ.stop()

    def get_app(self) -> ServiceApp:
        live = LIVE()
        dead = live.broker_url.replace(str(urlport(live.broker_url)), str(closed_port()))
        backend = live.result_backend
        if backend.startswith("redis"):
            backend = backend.replace(str(urlport(backend)), str(closed_port()))
        settings = dataclasses.replace(live, broker_url=dead, result_backend=backend)
        self.app = make_app(Settings(sleep_max_seconds=5), CeleryStrategy(settings))
        return self.app

    @gen_test(timeout=30)
    async def test_sleep_is_a_fast_503_and_health_says_why(self) -> None:
        started = time.monotonic()
        response = await self.get("/sleep?seconds=1")
        assert response.code == 503
        assert body(response)["error"].startswith("broker unavailable:")
        assert response.headers["Retry-After"] == "5"
        assert time.monotonic() - started < 3
        started = time.monotonic()
        health = await self.get("/health")
        assert health.code == 503
        assert body(health)["status"] == "degraded"
        assert "down" in body(health)["checks"].values()
        assert time.monotonic() - started < 3


def urlport(url: str) -> int:
    from urllib.parse import urlsplit

    return urlsplit(url).port or 0


class WorkerDiesTest(AppTestCase):
    """A worker killed mid-task: the task is delivered again and finishes elsewhere."""

    def setUp(self) -> None:
        require_broker()
        self.queue = f"{os.environ['CELERY_QUEUE']}-kill"
        self.settings_ = dataclasses.replace(LIVE(), queue=self.queue)
        super().setUp()

    def get_app(self) -> ServiceApp:
        self.strategy = CeleryStrategy(self.settings_)
        self.app = make_app(Settings(sleep_max_seconds=5), self.strategy)
        return self.app

    @pytest.fixture(autouse=True)
    def _workers(self, start_worker: type[Worker]) -> None:
        self.start_worker = start_worker

    @gen_test(timeout=90)
    async def test_the_task_is_redelivered_to_the_next_worker(self) -> None:
        # STARTED tells when the first worker has the task: it must die holding it.
        env = {"CELERY_QUEUE": self.queue, "CELERY_TRACK_STARTED": "true"}
        first = await asyncio.to_thread(lambda: self.start_worker(**env).wait_until_ready())
        client = self.strategy.client
        task_id = await client.submit(task_name("sleep"), [2], {})
        await self.until_state(task_id, "STARTED")
        first.kill()
        second = await asyncio.to_thread(lambda: self.start_worker(**env).wait_until_ready())
        try:
            state = await self.until_state(task_id, "SUCCESS", timeout=60)
        except AssertionError as error:
            raise AssertionError(f"{error}\nthe next worker printed:\n{second.output()}") from None
        assert state.result == 2

    async def until_state(self, task_id: str, wanted: str, timeout: float = 20) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = await self.strategy.client.status(task_id)
            if state is not None and state.state == wanted:
                return state
            await asyncio.sleep(0.1)
        raise AssertionError(f"task {task_id} never reached {wanted} (last: {state})")


class OwnWorkerTestCase(AppTestCase):
    """The app on a queue of its own (`queue_suffix`), for a worker the test starts."""

    queue_suffix = "own"

    def setUp(self) -> None:
        require_broker()
        self.queue = f"{os.environ['CELERY_QUEUE']}-{self.queue_suffix}"
        self.settings_ = dataclasses.replace(LIVE(), queue=self.queue)
        super().setUp()

    def get_app(self) -> ServiceApp:
        self.strategy = CeleryStrategy(self.settings_)
        self.app = make_app(Settings(sleep_max_seconds=5), self.strategy)
        return self.app

    @pytest.fixture(autouse=True)
    def _workers(self, start_worker: type[Worker]) -> None:
        self.start_worker = start_worker


class WorkerAskedForMoreTest(OwnWorkerTestCase):
    """A worker told CELERY_TRACK_STARTED=true and CELERY_TASK_LOG=true."""

    queue_suffix = "verbose"

    @gen_test(timeout=90)
    async def test_started_while_it_runs_and_each_task_is_logged(self) -> None:
        env = {"CELERY_QUEUE": self.queue, "CELERY_TRACK_STARTED": "true", "CELERY_TASK_LOG": "1"}
        worker = await asyncio.to_thread(lambda: self.start_worker(**env).wait_until_ready())
        task_id = await self.strategy.client.submit(task_name("sleep"), [1], {})
        states = []
        for _ in range(100):
            state = await self.strategy.client.status(task_id)
            states.append(state.state if state else None)
            if states[-1] == "SUCCESS":
                break
            await asyncio.sleep(0.05)
        assert "STARTED" in states
        assert states[-1] == "SUCCESS"
        output = worker.log.read_text()
        assert f"[{task_id}] received" in output
        assert f"[{task_id}] succeeded in" in output


class RequestIdTest(OwnWorkerTestCase):
    """The id a client sends reaches the log lines of the task its request started."""

    queue_suffix = "traced"

    @gen_test(timeout=90)
    async def test_a_json_log_line_of_the_task_carries_the_request_id(self) -> None:
        env = {"CELERY_QUEUE": self.queue, "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}
        worker = await asyncio.to_thread(lambda: self.start_worker(**env).wait_until_ready())
        sent = {"X-Request-ID": "checkout-4711"}
        response = await self.get("/sleep?seconds=0.1", headers=sent)
        assert response.code == 200
        assert response.headers["X-Request-ID"] == "checkout-4711"
        printed = worker.log.read_text().splitlines()
        lines = [json.loads(line) for line in printed if line.startswith("{")]
        [sleeping] = [line for line in lines if line["message"] == "sleeping 0.1 s"]
        assert sleeping["request_id"] == "checkout-4711"
        assert sleeping["logger"] == f"{PACKAGE}.celery.jobs"
        await asyncio.to_thread(worker.stop)
        delete_queue(self.strategy.client.app, self.queue)


class PrivateQueueTest(AppTestCase):
    """The live broker, on a queue of this test's own that no worker consumes."""

    max_queued = 10_000

    def setUp(self) -> None:
        require_broker()
        self.queue = f"{os.environ['CELERY_QUEUE']}-{type(self).__name__}"
        self.settings_ = dataclasses.replace(LIVE(), queue=self.queue, max_queued=self.max_queued)
        super().setUp()

    def tearDown(self) -> None:
        super().tearDown()
        delete_queue(make_celery(self.settings_), self.queue)

    def get_app(self) -> ServiceApp:
        self.strategy = CeleryStrategy(self.settings_)
        self.app = make_app(Settings(sleep_max_seconds=5), self.strategy)
        return self.app

    async def post(self, path: str, payload: Any) -> HTTPResponse:
        return await self.get(path, method="POST", body=json.dumps(payload))


class NoWorkerTest(PrivateQueueTest):
    @gen_test(timeout=30)
    async def test_health_tells_no_worker_apart_from_broker_down(self) -> None:
        for _ in range(MISSES_TO_DOWN):  # unknown until then: a worker may be starting
            await self.strategy.client.monitor.check_workers()
        health = await self.get("/health")
        assert health.code == 503
        checks = body(health)["checks"]
        celery = {name: checks[name] for name in ("broker", "result_backend", "workers")}
        assert celery == {"broker": "up", "result_backend": "up", "workers": "down"}


def workers_seen(replies: list[bool]) -> list[bool | None]:
    """What the monitor says of the workers after each ask, the asks getting `replies`."""

    async def scenario() -> list[bool | None]:
        monitor = BrokerMonitor(make_celery(MEMORY), MEMORY.queue, timeout=1)
        monitor.broker_up = True
        seen = []
        with mock.patch.object(monitor, "_workers_consume_the_queue", side_effect=replies):
            for _ in replies:
                await monitor.check_workers()
                seen.append(monitor.workers_up)
        monitor.blocking.close()
        return seen

    return asyncio.run(scenario())


def test_workers_that_miss_two_replies_stay_up_three_make_them_down() -> None:
    """A worker busy with a burst may not answer in time for a while; a dead one never does."""
    replies = [True, False, True, False, False, False, False, True]
    assert workers_seen(replies) == [True, True, True, True, True, False, False, True]


def test_workers_not_yet_seen_stay_unknown_until_three_asks_go_unanswered() -> None:
    """Just after start a worker may be busy with a burst or still starting."""
    assert workers_seen([False] * 4) == [None, None, False, False]


class QueueFullTest(PrivateQueueTest):
    max_queued = 2

    @gen_test(timeout=30)
    async def test_past_max_queued_a_task_started_without_waiting_gets_503(self) -> None:
        for _ in range(2):
            assert (await self.post("/tasks/add", {"args": [1, 2]})).code == 202
        await self.strategy.client.monitor.check_broker()  # it looks every 2 s
        refused = await self.post("/tasks/add", {"args": [1, 2]})
        assert refused.code == 503
        assert refused.headers["Retry-After"] == "5"
        assert body(refused)["error"] == (
            "too busy: 2 tasks already wait in the queue (CELERY_MAX_QUEUED)"
        )


OUTAGE = 30.0  # seconds


class BrokerOutageTest(AppTestCase):
    """The broker stops for 30 s with tasks in flight, and starts again.

    Through a proxy (the shared broker is never stopped). What a client sees: a
    503 at once during the outage; the next request after it is answered by the
    same worker, which rode the outage out (celery 5.7.0's died in 3 ms).
    """

    def setUp(self) -> None:
        require_broker()
        live = LIVE()
        self.proxy = Proxy(live.broker_url)
        backend = live.result_backend
        if backend.startswith("redis"):  # the same server, through the proxy too
            backend = self.proxy.url(backend)
        self.env = {
            "CELERY_BROKER_URL": self.proxy.url(live.broker_url),
            "CELERY_RESULT_BACKEND": backend,
            "CELERY_QUEUE": f"{live.queue}-outage",
        }
        # Celery reads these variables itself and lets them win: set them for both sides.
        self.environ = mock.patch.dict(os.environ, self.env)
        self.environ.start()
        super().setUp()

    def tearDown(self) -> None:
        super().tearDown()
        self.environ.stop()
        self.proxy.close()
        settings = dataclasses.replace(LIVE(), queue=self.env["CELERY_QUEUE"])
        delete_queue(make_celery(settings), settings.queue)

    def get_app(self) -> ServiceApp:
        self.strategy = CeleryStrategy(CelerySettings.from_env())
        self.app = make_app(Settings(sleep_max_seconds=5), self.strategy)
        return self.app

    @pytest.fixture(autouse=True)
    def _workers(self, start_worker: type[Worker]) -> None:
        self.start_worker = start_worker

    @gen_test(timeout=OUTAGE + 120)
    async def test_the_worker_rides_out_the_outage(self) -> None:
        worker = await asyncio.to_thread(lambda: self.start_worker(**self.env).wait_until_ready())
        # Tasks in flight when the broker goes: what killed celery 5.7.0's worker.
        in_flight = [asyncio.ensure_future(self.get("/sleep?seconds=2")) for _ in range(3)]
        await asyncio.sleep(0.5)
        await asyncio.to_thread(self.proxy.cut)
        await asyncio.sleep(0.5)
        started = time.monotonic()
        refused = await self.get("/sleep?seconds=0.1")
        assert refused.code == 503
        assert body(refused)["error"].startswith("broker unavailable:")
        assert time.monotonic() - started < 1
        await asyncio.sleep(OUTAGE)
        assert worker.process.poll() is None, "the worker died in the outage"
        await asyncio.to_thread(self.proxy.restore)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            response = await self.get("/sleep?seconds=0.1")
            if response.code == 200:
                break
            await asyncio.sleep(1)
        assert response.code == 200, response.body
        assert worker.process.poll() is None
        await asyncio.gather(*in_flight)  # answered (504 or 503), not left hanging


def test_a_worker_that_cannot_run_exits_with_an_error() -> None:
    """A process manager restarts on a failing exit status: 0 would mean "done"."""
    done = subprocess.run(
        [sys.executable, "-m", PACKAGE, "worker", "--pool=no-such-pool"],
        env={**os.environ, "PYTHONPATH": SRC},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "no-such-pool" in done.stderr
