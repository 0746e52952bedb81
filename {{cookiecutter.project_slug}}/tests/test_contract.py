"""The HTTP contract every strategy passes: the same file in every generated project."""

from __future__ import annotations

import asyncio
import inspect
import time
from unittest import mock

import pytest
from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine
from tornado.simple_httpclient import HTTPTimeoutError
from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.app import make_app
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.web import BaseApp, ClientGone, JsonHandler, ShuttingDown

from .support import AppTestCase, body

CONCURRENT = 20
SLOW = 0.5


class HealthTest(AppTestCase):
    @gen_test(timeout=30)
    async def test_health_answers_json_with_the_strategy(self) -> None:
        # A check that runs in the background says "unknown" until it has run, and
        # "down" if its first ping timed out on a busy machine, until the next one.
        deadline = time.monotonic() + 20
        while True:
            response = await self.get("/health")
            checks = body(response)["checks"].values()
            if all(state == "up" for state in checks) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert response.code == 200
        assert response.headers["Content-Type"].startswith("application/json")
        payload = body(response)
        assert payload["status"] == "ok"
        assert payload["strategy"] == self.app.strategy.name
        assert all(state == "up" for state in payload["checks"].values())

    @gen_test(timeout=30)
    async def test_unknown_path_is_a_json_404(self) -> None:
        response = await self.get("/no-such-page")
        assert response.code == 404
        assert body(response) == {"error": "no such endpoint: /no-such-page", "status": 404}


class SleepTest(AppTestCase):
    @gen_test(timeout=30)
    async def test_sleep_answers_after_the_requested_time(self) -> None:
        started = time.monotonic()
        response = await self.get("/sleep?seconds=0.2")
        elapsed = time.monotonic() - started
        assert response.code == 200, response.body
        assert body(response) == {"slept": 0.2, "strategy": self.app.strategy.name}
        assert 0.2 <= elapsed < 5

    @gen_test(timeout=30)
    async def test_zero_seconds_is_allowed(self) -> None:
        response = await self.get("/sleep?seconds=0")
        assert response.code == 200, response.body
        assert body(response)["slept"] == 0

    @gen_test(timeout=30)
    async def test_bad_seconds_get_a_400_that_says_why(self) -> None:
        cases = {
            "/sleep": "missing query parameter 'seconds'",
            "/sleep?seconds=abc": "'seconds' must be a number, got 'abc'",
            "/sleep?seconds=-1": "'seconds' must be between 0 and 5, got '-1'",
            "/sleep?seconds=6": "'seconds' must be between 0 and 5, got '6'",
            "/sleep?seconds=nan": "'seconds' must be between 0 and 5, got 'nan'",
            "/sleep?seconds=inf": "'seconds' must be between 0 and 5, got 'inf'",
        }
        for path, message in cases.items():
            response = await self.get(path)
            assert response.code == 400, path
            assert body(response)["error"].startswith(message), body(response)

    @gen_test(timeout=60)
    async def test_slow_requests_do_not_block_the_loop(self) -> None:
        """N slow requests take about as long as one, and /health answers meanwhile."""
        sleeps = asyncio.ensure_future(self.timed_gather(*[f"/sleep?seconds={SLOW}"] * CONCURRENT))
        await asyncio.sleep(SLOW / 5)
        started = time.monotonic()
        health = await self.get("/health")
        health_took = time.monotonic() - started
        elapsed, responses = await sleeps
        assert [r.code for r in responses] == [200] * CONCURRENT
        # 503 when a service of this project blinked on a busy machine: answered all the same.
        assert health.code in (200, 503)
        assert body(health)["in_flight"] >= 1
        # Sequentially this is CONCURRENT x SLOW = 10 s; allow a generous 4x of one.
        assert elapsed < SLOW * 4, f"{CONCURRENT} requests took {elapsed:.2f} s"
        assert health_took < SLOW, f"/health took {health_took:.2f} s under load"


class ClientGoneTest(AppTestCase):
    @gen_test(timeout=30)
    async def test_a_client_that_leaves_releases_its_request(self) -> None:
        with self.assertLogs("{{ cookiecutter.package_name }}.web", "INFO") as logs:
            with pytest.raises(HTTPTimeoutError):  # our client gives up and hangs up
                await self.get("/sleep?seconds=3", request_timeout=0.3)
            for _ in range(40):  # the server cancels the wait promptly, not after 3 s
                if any("client went away" in line for line in logs.output):
                    break
                await asyncio.sleep(0.05)
        assert any("GET /sleep?seconds=3: client went away" in line for line in logs.output)
        assert not self.app.active


def handler_of(app: BaseApp) -> JsonHandler:
    """A JSON handler of `app` for a request on a connection that is not really there."""
    start = RequestStartLine("GET", "/", "HTTP/1.1")
    headers = HTTPHeaders({"Host": "127.0.0.1"})
    request = HTTPServerRequest(start_line=start, headers=headers, connection=mock.Mock())
    return JsonHandler(app, request)


def test_a_wait_ends_as_its_request_is_given_up() -> None:
    """Client gone: ClientGone (499), before or during the wait; shutdown: 503."""

    async def scenario() -> None:
        app = make_app(Settings())
        left_before = handler_of(app)
        left_before.on_connection_close()
        never_awaited = asyncio.sleep(10)
        with pytest.raises(ClientGone):  # at once, and the sleep is closed, not leaked
            await left_before.wait(never_awaited, 20, "the sleep")
        assert inspect.getcoroutinestate(never_awaited) == inspect.CORO_CLOSED

        for give_up, expected in (
            (JsonHandler.on_connection_close, ClientGone),
            (JsonHandler.stop_waiting, ShuttingDown),
        ):
            handler = handler_of(app)
            waiting = asyncio.ensure_future(handler.wait(asyncio.sleep(10), 20, "the sleep"))
            await asyncio.sleep(0.01)
            give_up(handler)
            with pytest.raises(expected):
                await asyncio.wait_for(waiting, 1)
            assert not waiting.cancelling()  # the cancellation was taken back

        cancelled = asyncio.ensure_future(handler_of(app).wait(asyncio.sleep(10), 20, "it"))
        await asyncio.sleep(0.01)
        cancelled.cancel()  # the server's own cancellation goes through
        with pytest.raises(asyncio.CancelledError):
            await cancelled

    asyncio.run(scenario())


class ShutdownTest(AppTestCase):
    @gen_test(timeout=30)
    async def test_close_twice_is_harmless(self) -> None:
        await self.app.close()  # tearDown closes a second time
        assert not self.app.active


def test_make_app_uses_the_generated_strategy() -> None:
    app = make_app(Settings())
    assert app.strategy.name == "{{ cookiecutter.async_strategy }}"
    assert app.default_router is not None
