"""The coroutine strategy: `async def` handlers that `await` instead of blocking.

History: Tornado 3/4 spelled this `@gen.coroutine` with `yield gen.Task(...)`.
Since Tornado 5 runs on asyncio, a native coroutine is the whole story.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, ClassVar

from .settings import Settings
from .web import JsonHandler

if TYPE_CHECKING:
    from .web import Routes


class SleepHandler(JsonHandler):
    """Waits `seconds` on the event loop's timer; the loop serves others meanwhile."""

    async def get(self) -> None:
        seconds = self.get_seconds()
        await self.wait(asyncio.sleep(seconds), timeout=seconds + 1, what="the sleep")
        self.write_json({"slept": seconds, "strategy": CoroutineStrategy.name})


class CoroutineStrategy:
    name: ClassVar[str] = "coroutine"

    def routes(self) -> Routes:
        return [(r"/sleep", SleepHandler)]

    async def start(self) -> None:
        """Nothing to open: the event loop is all this strategy needs."""

    async def close(self) -> None:
        """Nothing to release."""

    async def health(self) -> dict[str, str]:
        return {}


def make_strategy(config: Settings) -> CoroutineStrategy:
    return CoroutineStrategy()
