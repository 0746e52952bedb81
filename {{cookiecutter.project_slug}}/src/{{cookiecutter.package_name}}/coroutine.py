"""The coroutine strategy: `async def` handlers that `await` instead of blocking.

Tornado 3/4 spelled this `@gen.coroutine` with `yield gen.Task(...)`; since
Tornado 5 runs on asyncio, a native coroutine is the whole story.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from .strategy import Strategy
from .web import JsonHandler, Routes


class SleepHandler(JsonHandler):
    """Waits `seconds` on the event loop's timer; the loop serves others meanwhile."""

    async def get(self) -> None:
        seconds = self.get_seconds()
        limit = seconds + self.application.config.wait_margin
        await self.wait(asyncio.sleep(seconds), limit, "the sleep")
        self.write_json({"slept": seconds, "strategy": CoroutineStrategy.name})


class CoroutineStrategy(Strategy):
    """Nothing to open or close: the event loop is all it needs."""

    name: ClassVar[str] = "coroutine"

    def routes(self) -> Routes:
        return [(r"/sleep", SleepHandler)]
