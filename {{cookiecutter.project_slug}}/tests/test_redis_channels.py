"""What only the Redis client does: reconnect by itself, and a bounded pool."""

from __future__ import annotations

import asyncio
import os
import time

from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.app import ServiceApp, make_app
from {{ cookiecutter.package_name }}.async_client.redis_channels import RedisStrategy, make_strategy
from {{ cookiecutter.package_name }}.settings import Settings

from .support import AppTestCase, body


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


class RedisPoolLimitTest(AppTestCase):
    """Past REDIS_MAX_CONNECTIONS, a /sleep waits REDIS_TIMEOUT for a connection, then 503."""

    def get_app(self) -> ServiceApp:
        # Two connections: the subscription's, and one for a /sleep.
        env = {**os.environ, "REDIS_MAX_CONNECTIONS": "2", "REDIS_TIMEOUT": "0.5"}
        self.app = make_app(Settings(sleep_max_seconds=5), make_strategy(Settings(), env))
        return self.app

    @gen_test(timeout=30)
    async def test_a_sleep_past_the_limit_gets_503_instead_of_queueing(self) -> None:
        holding = asyncio.ensure_future(self.get("/sleep?seconds=1.5"))
        await asyncio.sleep(0.3)
        started = time.monotonic()
        refused = await self.get("/sleep?seconds=1")
        assert 0.4 < time.monotonic() - started < 1.2  # REDIS_TIMEOUT, not the sleep
        assert refused.code == 503, refused.body
        assert refused.headers["Retry-After"] == "5"
        assert body(refused)["error"] == (
            "Redis unavailable: all 2 connections are busy (REDIS_MAX_CONNECTIONS)"
        )
        assert (await holding).code == 200  # the one that got a connection is unharmed
        assert (await self.get("/sleep?seconds=0.1")).code == 200  # and it was given back
