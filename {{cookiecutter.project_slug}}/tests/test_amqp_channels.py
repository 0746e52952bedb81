"""What only the RabbitMQ client does: come back by itself after losing the broker."""

from __future__ import annotations

import asyncio

from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.async_client.amqp_channels import AmqpStrategy

from .support import AppTestCase, body


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
