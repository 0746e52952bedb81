"""Channels through a broker: a notify in one process reaches another; the broker down."""

from __future__ import annotations

import asyncio
import time

import tornado.httpserver
import tornado.testing
from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.app import ServiceApp, make_app
from {{ cookiecutter.package_name }}.settings import Settings

from .support import AppTestCase, body, dead_brokers
from .test_long_poll import LongPollTestCase


class BrokerDownTest(AppTestCase):
    """Nothing listens where the broker should be: every call is a fast 503."""

    sleeps_on_the_broker = {{ cookiecutter.async_strategy == "async_client" }}

    def get_app(self) -> ServiceApp:
        self.app = make_app(Settings(sleep_max_seconds=5), env=dead_brokers())
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


class AcrossProcessesTest(LongPollTestCase):
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
