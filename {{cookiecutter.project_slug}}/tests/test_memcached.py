"""The Memcached client and the /squares cache against the real server, and without it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time

import pytest
from emcache import NotFoundCommandError
from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.clients import BadAnswer, ServiceUnavailable
from {{ cookiecutter.package_name }}.clients.memcached import MemcachedClient, MemcachedSettings

from .support import AppTestCase, ProxiedAppTestCase, body, closed_port, started


def unique_key() -> bytes:
    return f"test-{random.getrandbits(64):x}".encode()


def test_a_value_set_is_got_until_it_expires() -> None:
    async def scenario() -> None:
        async with started(MemcachedClient.from_env(os.environ)) as client:
            assert isinstance(client, MemcachedClient)
            key = unique_key()
            assert await client.get(key) is None
            await client.set(key, b"value", ttl=1)
            assert await client.get(key) == b"value"
            await asyncio.sleep(2.1)  # Memcached counts whole seconds
            assert await client.get(key) is None

    asyncio.run(scenario())


def test_a_value_memcached_will_not_store_is_a_502_saying_so() -> None:
    async def scenario() -> None:
        async with started(MemcachedClient.from_env(os.environ)) as client:
            assert isinstance(client, MemcachedClient)
            with pytest.raises(BadAnswer) as refused:
                await client.set(b"too-big", b"x" * (2 * 1024 * 1024), ttl=10)  # items: 1 MiB
            assert refused.value.status_code == 502
            assert refused.value.message.startswith("Memcached answered badly: it did not store")

    asyncio.run(scenario())


def test_memcached_down_is_a_fast_503_and_health_says_so() -> None:
    async def scenario() -> None:
        settings = MemcachedSettings(url=f"memcached://127.0.0.1:{closed_port()}", timeout=0.5)
        async with started(MemcachedClient(settings)) as client:
            assert isinstance(client, MemcachedClient)
            assert client.health() == "down"
            begun = time.monotonic()
            with pytest.raises(ServiceUnavailable) as refused:
                await client.get(b"anything")
            assert time.monotonic() - begun < 0.1  # no 0.5 s wait: it is known to be down
            assert refused.value.message.startswith("Memcached unavailable:")

    asyncio.run(scenario())


def test_bad_settings_are_refused_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="MEMCACHED_URL must be a memcached://host:port URL"):
        MemcachedSettings.from_env({"MEMCACHED_URL": "redis://127.0.0.1:6379"})


class SquaresTest(AppTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.n = random.randrange(10**6)  # other runs share this Memcached
        cache = self.app.clients.get(MemcachedClient).cache
        with contextlib.suppress(NotFoundCommandError):
            self.io_loop.run_sync(lambda: cache.delete(f"square:{self.n}".encode()))

    @gen_test(timeout=30)
    async def test_the_first_ask_computes_and_the_next_is_a_hit(self) -> None:
        first = await self.get(f"/squares/{self.n}")
        assert first.headers["X-Cache"] == "miss"
        assert body(first) == {"n": self.n, "square": self.n**2, "cached": False}
        begun = time.monotonic()
        second = await self.get(f"/squares/{self.n}")
        assert time.monotonic() - begun < 0.1  # no slow computation this time
        assert second.headers["X-Cache"] == "hit"
        assert body(second) == {"n": self.n, "square": self.n**2, "cached": True}

    @gen_test(timeout=30)
    async def test_a_number_out_of_range_is_a_400(self) -> None:
        response = await self.get("/squares/1000001")
        assert (response.code, body(response)["error"]) == (400, "n must be at most 1000000")
        assert (await self.get("/squares/-1")).code == 404  # not a route at all


class SquaresWithoutMemcachedTest(ProxiedAppTestCase):
    """Memcached stops: /squares still answers, uncached; it returns: hits again."""

    def proxied_setting(self) -> tuple[str, str]:
        return "MEMCACHED_URL", os.environ.get("MEMCACHED_URL", "memcached://127.0.0.1:11211")

    @gen_test(timeout=30)
    async def test_a_stopped_cache_is_skipped_and_comes_back(self) -> None:
        n = random.randrange(10**6)
        self.proxy.cut()
        for _ in range(2):  # the first finds out (MEMCACHED_TIMEOUT), the next knows
            response = await self.get(f"/squares/{n}")
            assert response.code == 200
            assert response.headers["X-Cache"] == "unavailable"
            assert body(response) == {"n": n, "square": n**2, "cached": False}
        health = await self.get("/health")
        assert (health.code, body(health)["checks"]["memcached"]) == (503, "down")
        self.proxy.restore()
        for _ in range(50):  # the monitor looks again every second
            if body(await self.get("/health"))["checks"]["memcached"] == "up":
                break
            await asyncio.sleep(0.1)
        await self.get(f"/squares/{n}")
        again = await self.get(f"/squares/{n}")
        assert again.headers["X-Cache"] == "hit"
