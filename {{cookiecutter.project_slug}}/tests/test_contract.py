"""The HTTP contract every strategy passes: the same file in every generated project."""

from __future__ import annotations

import asyncio
import time

import pytest
from tornado.simple_httpclient import HTTPTimeoutError
from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.app import make_app
from {{ cookiecutter.package_name }}.settings import Settings

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


class ShutdownTest(AppTestCase):
    @gen_test(timeout=30)
    async def test_close_twice_is_harmless(self) -> None:
        await self.app.close()  # tearDown closes a second time
        assert not self.app.active


def test_make_app_uses_the_generated_strategy() -> None:
    app = make_app(Settings())
    assert app.strategy.name == "{{ cookiecutter.async_strategy }}"
    assert app.default_router is not None
