"""The callback strategy: schedule work on the IOLoop and finish from the callback.

Tornado 6 removed the tutorial's `@web.asynchronous`: a handler that returns
without awaiting is finished at once, with an empty 200, and a later callback
would write to a finished request. So the callback resolves a Future and the
handler awaits it: the request stays open exactly as long as the work. Use
this shape to wrap any callback-based API.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from tornado.ioloop import IOLoop

from .strategy import Strategy
from .web import JsonHandler, Routes


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
        limit = seconds + self.application.config.wait_margin
        slept = await self.wait(call_back_later(seconds, seconds), limit, "the timer")
        self.write_json({"slept": slept, "strategy": CallbackStrategy.name})


class CallbackStrategy(Strategy):
    """Nothing to open or close: pending timers die with their requests."""

    name: ClassVar[str] = "callback"

    def routes(self) -> Routes:
        return [(r"/sleep", SleepHandler)]
