"""The RabbitMQ client against the real broker: it comes back by itself after a cut."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from {{ cookiecutter.package_name }}.channels import ChannelSettings
from {{ cookiecutter.package_name }}.clients import ServiceUnavailable
from {{ cookiecutter.package_name }}.clients.rabbitmq import AmqpSettings, RabbitMQClient

from .support import closed_port, started, time_a_sleep


def test_a_lost_connection_gives_503_then_recovers_by_itself() -> None:
    async def scenario() -> None:
        client = RabbitMQClient.from_env(os.environ)
        channels = client.channels(ChannelSettings.from_env(os.environ))
        async with started(client):
            assert client.connection is not None
            assert client.connection.transport is not None
            # What a network cut looks like to the client: the connection fails under it.
            await client.connection.transport.connection.close(ConnectionError("network cut"))
            with pytest.raises(ServiceUnavailable) as refused:
                await client.sleep(0.1)
            assert refused.value.status_code == 503
            for _ in range(150):  # aio-pika reconnects and re-declares queues and consumers
                if client.health() == "up" and channels.healthy:
                    break
                await asyncio.sleep(0.1)
            await client.sleep(0.1)
            with channels.hub.subscribe("after") as subscription:
                await asyncio.sleep(0.2)
                await channels.notify("after", {"ok": True})
                event = await asyncio.wait_for(subscription.next(), 10)
            assert event.message == {"ok": True}

    asyncio.run(scenario())


def test_the_broker_times_the_sleep() -> None:
    assert 0.3 <= time_a_sleep(RabbitMQClient.from_env(os.environ), 0.3) < 2


def test_rabbitmq_down_is_a_fast_503_and_health_says_so() -> None:
    async def scenario() -> None:
        url = f"amqp://guest:guest@127.0.0.1:{closed_port()}/"
        client = RabbitMQClient(AmqpSettings(url=url, timeout=0.5))
        await client.open(timeout=0.5)
        try:
            assert client.health() == "down"
            begun = time.monotonic()
            with pytest.raises(ServiceUnavailable) as refused:
                await client.sleep(1)
            assert time.monotonic() - begun < 0.5
            assert refused.value.message.startswith("RabbitMQ unavailable:")
        finally:
            await client.close()

    asyncio.run(scenario())


def test_sleeps_in_progress_get_a_503_at_once_when_the_connection_is_lost() -> None:
    async def scenario() -> None:
        async with started(RabbitMQClient.from_env(os.environ)) as client:
            assert isinstance(client, RabbitMQClient)
            assert client.connection is not None
            assert client.connection.transport is not None
            sleeping = asyncio.ensure_future(client.sleep(5))
            await asyncio.sleep(0.3)
            begun = time.monotonic()
            await client.connection.transport.connection.close(ConnectionError("network cut"))
            with pytest.raises(ServiceUnavailable) as refused:
                await asyncio.wait_for(sleeping, 3)  # a TimeoutError here: never told
            assert time.monotonic() - begun < 1  # not the 5 s asked for
            assert refused.value.message.startswith("RabbitMQ unavailable:")

    asyncio.run(scenario())


def test_sleeps_of_one_length_share_one_delay_queue() -> None:
    async def scenario() -> int:
        async with started(RabbitMQClient.from_env(os.environ)) as client:
            assert isinstance(client, RabbitMQClient)
            await asyncio.gather(*(client.sleep(0.2) for _ in range(20)))
            return len(client.delay_queues)

    assert asyncio.run(scenario()) == 1
