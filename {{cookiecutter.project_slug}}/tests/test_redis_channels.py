"""What only the Redis client does: come back by itself after losing the broker."""

from __future__ import annotations

import asyncio

from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.async_client.redis_channels import RedisStrategy

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
