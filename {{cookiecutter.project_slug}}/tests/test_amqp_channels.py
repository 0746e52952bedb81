"""What only the RabbitMQ client does: its /sleep, and a RabbitMQ that is down."""

from __future__ import annotations

import asyncio
import time

from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.app import ServiceApp, make_app
from {{ cookiecutter.package_name }}.async_client.amqp_channels import AmqpSettings, AmqpStrategy
from {{ cookiecutter.package_name }}.settings import Settings

from .support import AppTestCase, body, closed_port


class RabbitMQSleepTest(AppTestCase):
    @gen_test(timeout=30)
    async def test_the_broker_times_the_sleep(self) -> None:
        started = time.monotonic()
        response = await self.get("/sleep?seconds=0.3")
        assert response.code == 200
        assert 0.3 <= time.monotonic() - started < 2


class RabbitMQDownTest(AppTestCase):
    """Nothing listens where RabbitMQ should be: every call is a fast 503."""

    def get_app(self) -> ServiceApp:
        settings = AmqpSettings(url=f"amqp://guest:guest@127.0.0.1:{closed_port()}/", timeout=0.5)
        self.app = make_app(Settings(sleep_max_seconds=5), AmqpStrategy(settings))
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
        assert (health.code, body(health)["checks"]) == (503, {"rabbitmq": "down"})


class RabbitMQReconnectTest(AppTestCase):
    @gen_test(timeout=60)
    async def test_a_lost_connection_gives_503_then_recovers_by_itself(self) -> None:
        strategy = self.app.strategy
        assert isinstance(strategy, AmqpStrategy)
        assert strategy.connection is not None
        assert strategy.connection.transport is not None
        # What a network cut looks like to the client: the connection fails under it.
        await strategy.connection.transport.connection.close(ConnectionError("network cut"))
        response = await self.get("/sleep?seconds=0.1")
        assert response.code == 503
        for _ in range(150):  # aio-pika reconnects and re-declares queues and consumers
            if (await self.get("/health")).code == 200:
                break
            await asyncio.sleep(0.1)
        assert (await self.get("/sleep?seconds=0.1")).code == 200
        waiting = asyncio.ensure_future(self.get("/wait/after?timeout=10"))
        await asyncio.sleep(0.2)
        await self.get("/notify/after", method="POST", body='{"ok": true}')
        assert body(await waiting)["message"] == {"ok": True}
