"""What only the callback strategy does: a timer callback bridged to a Future."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from tornado.ioloop import IOLoop
from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.callback import call_back_later

from .support import AppTestCase


def test_the_timer_resolves_the_future_with_its_value() -> None:
    async def scenario() -> float:
        return await call_back_later(0.1, 42.0)

    started = time.monotonic()
    assert asyncio.run(scenario()) == 42.0
    assert time.monotonic() - started >= 0.1


def test_cancelling_the_future_removes_the_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    removed: list[object] = []

    async def scenario() -> None:
        loop = IOLoop.current()
        original = loop.remove_timeout

        def spy(timeout: Any) -> None:
            removed.append(timeout)
            original(timeout)

        monkeypatch.setattr(loop, "remove_timeout", spy)
        future = call_back_later(60, 1.0)
        future.cancel()
        await asyncio.sleep(0)  # done-callbacks run on the next loop iteration

    asyncio.run(scenario())
    assert len(removed) == 1


class CallbackSleepTest(AppTestCase):
    @gen_test(timeout=30)
    async def test_the_request_stays_open_until_the_callback_fires(self) -> None:
        # Tornado 6 finishes a handler that returns without awaiting at once: the
        # answer must come after the timer, with the body the callback produced.
        started = time.monotonic()
        response = await self.get("/sleep?seconds=0.3")
        assert time.monotonic() - started >= 0.3
        assert response.code == 200
        assert response.body.startswith(b'{"slept": 0.3')
