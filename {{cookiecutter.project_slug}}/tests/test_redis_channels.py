"""What only the Redis client does: its /sleep, and a Redis that is down."""

from __future__ import annotations

import asyncio
import time

from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.app import ServiceApp, make_app
from {{ cookiecutter.package_name }}.async_client.redis_channels import RedisSettings, RedisStrategy
from {{ cookiecutter.package_name }}.settings import Settings

from .support import AppTestCase, body, closed_port


class RedisSleepTest(AppTestCase):
    @gen_test(timeout=30)
    async def test_the_broker_times_the_sleep(self) -> None:
        started = time.monotonic()
        response = await self.get("/sleep?seconds=0.3")
        assert response.code == 200
        assert 0.3 <= time.monotonic() - started < 2


class RedisDownTest(AppTestCase):
    """Nothing listens where Redis should be: every call is a fast 503."""

    def get_app(self) -> ServiceApp:
        settings = RedisSettings(url=f"redis://127.0.0.1:{closed_port()}/0", timeout=0.5)
        self.app = make_app(Settings(sleep_max_seconds=5), RedisStrategy(settings))
        return self.app

    @gen_test(timeout=30)
    async def test_every_endpoint_answers_503_fast(self) -> None:
        requests = [
            self.get("/sleep?seconds=1"),
            self.get("/wait/news?timeout=5"),
            self.get("/notify/news", method="POST", body="{}"),
        ]
        started = time.monotonic()
        responses = await asyncio.gather(*requests)
        assert time.monotonic() - started < 2
        for response in responses:
            assert response.code == 503, response.body
            assert response.headers["Retry-After"] == "5"
        health = await self.get("/health")
        assert (health.code, body(health)["checks"]) == (503, {"redis": "down"})


class RedisReconnectTest(AppTestCase):
    @gen_test(timeout=60)
    async def test_a_lost_subscription_comes_back_by_itself(self) -> None:
        strategy = self.app.strategy
        assert isinstance(strategy, RedisStrategy)
        # Cut this process's subscription, as a Redis restart or a network cut would.
        clients = await strategy.redis.client_list()
        ours = [
            c for c in clients if c.get("name") == strategy.client_name and c["cmd"] == "psubscribe"
        ]
        assert len(ours) == 1
        await strategy.redis.client_kill_filter(_id=ours[0]["id"])
        for expected in (False, True):  # it notices the cut, then subscribes again
            for _ in range(100):
                if strategy.healthy is expected:
                    break
                await asyncio.sleep(0.05)
            assert strategy.healthy is expected
        waiting = asyncio.ensure_future(self.get("/wait/after?timeout=10"))
        await asyncio.sleep(0.2)
        await self.get("/notify/after", method="POST", body='{"ok": true}')
        assert body(await waiting)["message"] == {"ok": True}
