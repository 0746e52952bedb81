"""Long-polling across processes through the broker, and what clients see when it is down."""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import tornado.httpserver
import tornado.testing
from tornado.httpclient import HTTPResponse
from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.app import ServiceApp, make_app
from {{ cookiecutter.package_name }}.channels import Channels, LocalWaiters
from {{ cookiecutter.package_name }}.long_poll import LongPoll
from {{ cookiecutter.package_name }}.settings import Settings

from .support import AppTestCase, body, closed_port


def channels_of(app: ServiceApp) -> Channels:
    return next(part for part in app.features if isinstance(part, LongPoll)).channels


def waiters_of(app: ServiceApp) -> LocalWaiters:
    return channels_of(app).waiters


class BrokerDownTest(AppTestCase):
    """Nothing listens where the broker should be: every call is a fast 503."""

    sleeps_on_the_broker = {{ cookiecutter.async_strategy == "async_client" }}

    def get_app(self) -> ServiceApp:
        dead = {
            "REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0",
            "AMQP_URL": f"amqp://guest:guest@127.0.0.1:{closed_port()}/",
        }
        self.app = make_app(Settings(sleep_max_seconds=5), env={**os.environ, **dead})
        return self.app

    @gen_test(timeout=30)
    async def test_every_endpoint_answers_503_fast(self) -> None:
        requests = [
            self.get("/wait/news?timeout=5"),
            self.get("/notify/news", method="POST", body="{}"),
        ]
        if self.sleeps_on_the_broker:
            requests.append(self.get("/sleep?seconds=1"))
        started = time.monotonic()
        responses = await asyncio.gather(*requests)
        assert time.monotonic() - started < 3
        labels = {client.label for client in self.app.clients}
        for response in responses:
            assert response.code == 503, response.body
            assert response.headers["Retry-After"] == "5"
            error = body(response)["error"]
            assert any(error.startswith(f"{label} unavailable:") for label in labels), error
        health = await self.get("/health")
        brokers = {client.name for client in self.app.clients} & {"redis", "rabbitmq"}
        checks = body(health)["checks"]
        assert health.code == 503
        assert {name: checks[name] for name in brokers} == dict.fromkeys(brokers, "down")


class LongPollTest(AppTestCase):
    async def notify(self, channel: str, message: Any, url: str | None = None) -> HTTPResponse:
        target = url or self.get_url(f"/notify/{channel}")
        return await self.http_client.fetch(
            target, method="POST", body=json.dumps(message), raise_error=False
        )

    async def until_waiting(self, app: ServiceApp, count: int) -> None:
        waiters = waiters_of(app)
        for _ in range(200):
            if waiters.count() >= count:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"{waiters.count()} waiters, expected {count}")

    @gen_test(timeout=30)
    async def test_a_notify_wakes_a_wait(self) -> None:
        waiting = asyncio.ensure_future(self.get("/wait/news?timeout=10"))
        await self.until_waiting(self.app, 1)
        sent = await self.notify("news", {"headline": "hello"})
        assert (sent.code, body(sent)) == (202, {"channel": "news", "sent": True})
        response = await waiting
        assert response.code == 200
        assert body(response) == {"channel": "news", "message": {"headline": "hello"}}

    @gen_test(timeout=30)
    async def test_a_notify_on_one_server_wakes_a_wait_on_another(self) -> None:
        other = make_app(Settings())  # a second instance: another process in production
        await other.start()
        server = tornado.httpserver.HTTPServer(other)
        sock, port = tornado.testing.bind_unused_port()
        server.add_socket(sock)
        try:
            url = f"http://127.0.0.1:{port}"
            waiting = asyncio.ensure_future(
                self.http_client.fetch(f"{url}/wait/shared?timeout=10", raise_error=False)
            )
            await self.until_waiting(other, 1)
            await self.notify("shared", {"from": "the first server"})
            response = await waiting
            assert body(response)["message"] == {"from": "the first server"}
        finally:
            server.stop()
            await other.close()

    @gen_test(timeout=60)
    async def test_one_notify_wakes_200_waiters_and_the_loop_stays_free(self) -> None:
        waiting = [asyncio.ensure_future(self.get("/wait/crowd?timeout=20")) for _ in range(200)]
        await self.until_waiting(self.app, 200)
        started = time.monotonic()
        health = await self.get("/health")
        assert health.code == 200
        assert time.monotonic() - started < 0.5
        await self.notify("crowd", {"n": 1})
        responses = await asyncio.gather(*waiting)
        assert [r.code for r in responses] == [200] * 200
        assert waiters_of(self.app).count() == 0

    @gen_test(timeout=30)
    async def test_no_message_before_the_timeout_is_a_204(self) -> None:
        started = time.monotonic()
        response = await self.get("/wait/quiet?timeout=0.3")
        assert response.code == 204
        assert 0.3 <= time.monotonic() - started < 2
        assert waiters_of(self.app).count() == 0

    @gen_test(timeout=30)
    async def test_bad_input_gets_json_errors(self) -> None:
        cases = [
            (await self.get("/wait/bad%20name"), 400, "a channel name is 1 to 64 of"),
            (await self.get("/wait/" + "x" * 65), 400, "a channel name is 1 to 64 of"),
            (await self.get("/wait/ok?timeout=abc"), 400, "'timeout' must be a number"),
            (await self.get("/wait/ok?timeout=0"), 400, "'timeout' must be more than 0"),
            (await self.get("/wait/ok?timeout=9999"), 400, "'timeout' must be more than 0"),
            (await self.notify("ok", [1, 2]), 400, "the message must be a JSON object"),
            (await self.notify("ok", {"big": "x" * 70_000}), 413, "the message is over 64 KiB"),
        ]
        deep = await self.http_client.fetch(
            self.get_url("/notify/ok"), method="POST", body="[" * 30_000, raise_error=False
        )
        cases.append((deep, 400, "the body is nested too deeply"))
        for response, status, message in cases:
            assert response.code == status, body(response)
            assert body(response)["error"].startswith(message)
        raw = await self.http_client.fetch(
            self.get_url("/notify/ok"), method="POST", body="{oops", raise_error=False
        )
        assert (raw.code, body(raw)["error"][:26]) == (400, "the body is not valid JSON")

    @gen_test(timeout=30)
    async def test_a_waiter_whose_client_leaves_is_dropped_at_once(self) -> None:
        waiting = asyncio.ensure_future(self.get("/wait/left?timeout=10", request_timeout=0.3))
        await self.until_waiting(self.app, 1)
        await asyncio.gather(waiting, return_exceptions=True)  # our client hangs up
        for _ in range(50):
            if waiters_of(self.app).count() == 0:
                break
            await asyncio.sleep(0.02)
        assert waiters_of(self.app).count() == 0
