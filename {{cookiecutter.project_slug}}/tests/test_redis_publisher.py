"""The Redis broker's native publisher: kombu's own message, one LPUSH, a stock worker reads it."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
import redis
from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.app import ServiceApp, make_app
from {{ cookiecutter.package_name }}.celery import CeleryStrategy
from {{ cookiecutter.package_name }}.celery.app import delete_queue, make_celery
from {{ cookiecutter.package_name }}.celery.client import TaskClient
from {{ cookiecutter.package_name }}.celery.errors import BrokerUnavailable, PublishersBusy
from {{ cookiecutter.package_name }}.celery.jobs import task_name
from {{ cookiecutter.package_name }}.celery.redis_publisher import RedisPublisher, queue_key
from {{ cookiecutter.package_name }}.celery.settings import CelerySettings
from {{ cookiecutter.package_name }}.settings import Settings

from .fixtures_celery import Worker, require_broker
from .support import PACKAGE, AppTestCase, Proxy, body

ADD = task_name("add")
TASK_ID = "0b7e1f2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b"


@pytest.fixture
def queue() -> Iterator[str]:
    """A queue of this test's own, that no worker consumes; deleted after it."""
    require_broker()
    name = f"{os.environ['CELERY_QUEUE']}-native-{uuid.uuid4().hex[:6]}"
    yield name
    settings = dataclasses.replace(CelerySettings.from_env(), queue=name)
    delete_queue(make_celery(settings), name)


def waiting(settings: CelerySettings) -> list[dict[str, Any]]:
    """The messages in the queue's Redis list, oldest first, decoded."""
    with redis.Redis.from_url(settings.broker_url) as client:
        raw: list[bytes] = client.lrange(queue_key(settings.queue), 0, -1)
    return [json.loads(message) for message in reversed(raw)]


def test_priority_0_is_the_plain_queue_and_others_get_kombus_suffix() -> None:
    assert queue_key("jobs") == "jobs"
    assert queue_key("jobs", 4) == "jobs\x06\x163"
    assert queue_key("jobs", 9, prefix="app:") == "app:jobs\x06\x169"


@pytest.mark.parametrize("expires", [None, 10.0])
def test_the_message_is_the_one_send_task_pushes(queue: str, expires: float | None) -> None:
    """The same JSON in the same list as Celery's send_task, headers merged alike."""
    settings = dataclasses.replace(CelerySettings.from_env(), queue=queue)
    app = make_celery(settings, web=True)
    headers = {"x-request-id": "r-42"}
    app.send_task(ADD, [2, 3], {"b": 1}, task_id=TASK_ID, expires=expires, headers=headers)

    async def publish() -> None:
        publisher = RedisPublisher(app, settings.broker_url, queue, 2.0, 2)
        try:
            await publisher.publish(ADD, [2, 3], {"b": 1}, TASK_ID, expires, headers)
        finally:
            await publisher.close()

    asyncio.run(publish())
    theirs, ours = waiting(settings)
    for message in (theirs, ours):
        assert len(message["properties"].pop("delivery_tag")) == 36  # a uuid4 each
        if expires is not None:  # "now + 10 s" as a date: apart by the time between them
            assert message["headers"].pop("expires").endswith("+00:00")
    assert ours == theirs
    assert ours["headers"]["x-request-id"] == "r-42"
    assert ours["properties"]["delivery_info"] == {"exchange": "", "routing_key": queue}


def test_a_stock_celery_worker_runs_what_it_publishes(queue: str) -> None:
    """`celery worker`, not this project's command: the task runs, its result comes back."""

    class StockWorker(Worker):
        def command(self) -> list[str]:
            app = f"--app={PACKAGE}.celery.app:celery_app"
            options = [f"--queues={queue}", "--pool=threads", "--loglevel=INFO"]
            return [sys.executable, "-m", "celery", app, "worker", *options]

    settings = dataclasses.replace(CelerySettings.from_env(), queue=queue)

    async def call() -> Any:
        client = TaskClient(make_celery(settings, web=True), settings)
        assert isinstance(client.publisher, RedisPublisher)
        await client.start()
        try:
            return await client.call(ADD, [2, 3], {}, timeout=20, headers={"x-request-id": "r"})
        finally:
            await client.close()

    worker = StockWorker(CELERY_WORKER_CONCURRENCY="2").wait_until_ready()
    try:
        assert asyncio.run(call()) == 5
    except BaseException:
        print(worker.output())
        raise
    finally:
        worker.stop()


class RedisDownTest(AppTestCase):
    """The broker's Redis stops (a proxy cuts it): 503 at once, then back by itself."""

    def setUp(self) -> None:
        require_broker()
        live = CelerySettings.from_env()
        self.proxy = Proxy(live.broker_url)
        self.settings_ = dataclasses.replace(
            live,
            broker_url=self.proxy.url(live.broker_url),
            queue=f"{live.queue}-native-down",
        )
        # Celery lets this variable win over its configuration: the proxy's for both.
        self.environ = mock.patch.dict(os.environ, {"CELERY_BROKER_URL": self.settings_.broker_url})
        self.environ.start()
        super().setUp()

    def tearDown(self) -> None:
        super().tearDown()
        self.environ.stop()
        self.proxy.close()
        settings = dataclasses.replace(CelerySettings.from_env(), queue=self.settings_.queue)
        delete_queue(make_celery(settings), settings.queue)

    def get_app(self) -> ServiceApp:
        self.app = make_app(Settings(sleep_max_seconds=5), CeleryStrategy(self.settings_))
        return self.app

    async def submit(self) -> Any:
        return await self.get("/tasks/add", method="POST", body=json.dumps({"args": [1, 2]}))

    @gen_test(timeout=60)
    async def test_503_at_once_while_down_then_202_again(self) -> None:
        assert (await self.submit()).code == 202
        await asyncio.to_thread(self.proxy.cut)
        for _ in range(3):
            started = time.monotonic()
            refused = await self.submit()
            assert refused.code == 503
            assert body(refused)["error"].startswith("broker unavailable:")
            assert refused.headers["Retry-After"] == "5"
            assert time.monotonic() - started < 1
        await asyncio.to_thread(self.proxy.restore)
        deadline = time.monotonic() + 20  # the monitor looks every 2 s
        while (response := await self.submit()).code != 202:
            assert time.monotonic() < deadline, body(response)
            await asyncio.sleep(0.2)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers: a Redis that hangs."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join(5)
    for connection in accepted:
        connection.close()
    listener.close()


def test_a_full_pool_is_a_503_not_a_hang(silent_server: int) -> None:
    """One connection, held by a publish Redis never answers: the next one waits half the
    timeout for it, then gets 503; the held one gives up at the timeout, also a 503."""
    settings = CelerySettings(broker_url=f"redis://127.0.0.1:{silent_server}/0")
    publisher = RedisPublisher(make_celery(settings, web=True), settings.broker_url, "q", 1.0, 1)

    async def two_publishes() -> tuple[list[BaseException | None], float]:
        started = time.monotonic()
        first = asyncio.ensure_future(publisher.publish(ADD, [1, 2], {}, TASK_ID, None))
        await asyncio.sleep(0.1)
        second = publisher.publish(ADD, [1, 2], {}, TASK_ID, None)
        outcomes = await asyncio.gather(first, second, return_exceptions=True)
        await publisher.close()
        return [o if isinstance(o, BaseException) else None for o in outcomes], started

    (held, waited), started = asyncio.run(two_publishes())
    assert time.monotonic() - started < 3
    assert isinstance(held, BrokerUnavailable)
    assert isinstance(waited, PublishersBusy)
    for error in (held, waited):
        assert error.status_code == 503
    assert waited.message == (
        "too busy: no broker connection free within 0.5 s (CELERY_PUBLISH_CONNECTIONS)"
    )
