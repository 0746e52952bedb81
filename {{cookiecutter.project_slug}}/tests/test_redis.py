"""The Redis client against the real server: a bounded pool, a subscription that heals."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from {{ cookiecutter.package_name }}.channels import ChannelSettings
from {{ cookiecutter.package_name }}.clients import ServiceUnavailable
from {{ cookiecutter.package_name }}.clients.redis import RedisClient, RedisSettings

from .support import closed_port, started, time_a_sleep, until_available


def test_a_lost_subscription_comes_back_by_itself() -> None:
    async def scenario() -> None:
        client = RedisClient.from_env(os.environ)
        channels = client.channels(ChannelSettings.from_env(os.environ))
        async with started(client):
            await channels.start()
            try:
                # Cut this process's subscription, as a Redis restart or a network cut would.
                connections = await client.redis.client_list()
                ours = [
                    c
                    for c in connections
                    if c.get("name") == client.client_name and c["cmd"] == "psubscribe"
                ]
                assert len(ours) == 1
                await client.redis.client_kill_filter(_id=ours[0]["id"])
                for expected in (False, True):  # it notices the cut, then subscribes again
                    for _ in range(100):
                        if channels.healthy is expected:
                            break
                        await asyncio.sleep(0.05)
                    assert channels.healthy is expected
                with channels.hub.subscribe("after") as subscription:
                    await channels.notify("after", {"ok": True})
                    event = await asyncio.wait_for(subscription.next(), 10)
                assert event.message == {"ok": True}
            finally:
                await channels.close()

    asyncio.run(scenario())


def test_a_sleep_past_the_pool_limit_gets_503_instead_of_queueing() -> None:
    """Past REDIS_MAX_CONNECTIONS, a call waits REDIS_TIMEOUT for a connection, then 503."""

    async def scenario() -> None:
        settings = RedisSettings.from_env(
            {**os.environ, "REDIS_MAX_CONNECTIONS": "2", "REDIS_TIMEOUT": "0.5"}
        )
        async with started(RedisClient(settings)) as client:
            assert isinstance(client, RedisClient)
            await until_available([client])  # a first ping within 0.5 s can fail when busy
            holding = asyncio.gather(client.sleep(1.5), client.sleep(1.5))
            await asyncio.sleep(0.3)
            begun = time.monotonic()
            with pytest.raises(ServiceUnavailable) as refused:
                await client.sleep(1)
            assert 0.4 < time.monotonic() - begun < 1.2  # REDIS_TIMEOUT, not the sleep
            assert refused.value.status_code == 503
            assert refused.value.headers["Retry-After"] == "5"
            assert refused.value.message == (
                "Redis unavailable: all 2 connections are busy (REDIS_MAX_CONNECTIONS)"
            )
            await holding  # the ones that got a connection are unharmed
            await client.sleep(0.1)  # and it was given back
            assert client.health() == "up"  # a full pool is not an outage

    asyncio.run(scenario())


def test_redis_down_is_a_fast_503_and_health_says_so() -> None:
    async def scenario() -> None:
        settings = RedisSettings(url=f"redis://127.0.0.1:{closed_port()}/0", timeout=0.5)
        async with started(RedisClient(settings)) as client:
            assert isinstance(client, RedisClient)
            assert client.health() == "down"
            begun = time.monotonic()
            with pytest.raises(ServiceUnavailable) as refused:
                await client.sleep(1)
            assert time.monotonic() - begun < 0.5
            assert refused.value.message.startswith("Redis unavailable:")

    asyncio.run(scenario())


def test_a_wait_longer_than_redis_pys_socket_timeout_is_not_cut() -> None:
    """redis-py's default socket timeout (5 s) cut every longer BLPOP with a 503."""
    assert 5.5 <= time_a_sleep(RedisClient.from_env(os.environ), 5.5) < 7
