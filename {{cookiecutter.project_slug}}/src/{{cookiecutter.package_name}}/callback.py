"""The callback strategy: schedule work on the IOLoop and finish from the callback.

The tutorial's Tornado 3 version decorated `get` with `@web.asynchronous`, called
`IOLoop.instance().add_timeout(...)` and returned; the callback later called
`self.finish()`. Tornado 6 removed `@asynchronous`: a handler that returns
without awaiting is finished at once, with an empty 200, and the callback would
then write to a finished request. So the callback resolves a Future and the
handler awaits it: the request stays open exactly as long as the work.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, ClassVar

from tornado.ioloop import IOLoop

from .settings import Settings
from .web import JsonHandler

if TYPE_CHECKING:
    from .web import Routes


def call_back_later(seconds: float, value: float) -> asyncio.Future[float]:
    """A Future that the IOLoop's timer resolves with `value` after `seconds`.

    Cancelling the Future (the client went away) also removes the timer.
    """
    loop = IOLoop.current()
    done: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    def on_timeout() -> None:  # runs on the IOLoop, like the tutorial's callback
        if not done.done():
            done.set_result(value)

    timer = loop.call_later(seconds, on_timeout)
    done.add_done_callback(lambda _: loop.remove_timeout(timer))
    return done


class SleepHandler(JsonHandler):
    """Waits for an IOLoop timer callback (`call_later`, the new `add_timeout`)."""

    async def get(self) -> None:
        seconds = self.get_seconds()
        slept = await self.wait(call_back_later(seconds, seconds), seconds + 1, "the timer")
        self.write_json({"slept": slept, "strategy": CallbackStrategy.name})


class CallbackStrategy:
    name: ClassVar[str] = "callback"

    def routes(self) -> Routes:
        return [(r"/sleep", SleepHandler)]

    async def start(self) -> None:
        """Nothing to open: the IOLoop's timers are all this strategy needs."""

    async def close(self) -> None:
        """Nothing to release: pending timers die with their requests."""

    async def health(self) -> dict[str, str]:
        return {}


def make_strategy(config: Settings) -> CallbackStrategy:
    return CallbackStrategy()
