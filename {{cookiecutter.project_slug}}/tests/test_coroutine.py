"""What only the coroutine strategy does."""

from __future__ import annotations

import time

from tornado.testing import gen_test

from .support import AppTestCase


class ManySleepsTest(AppTestCase):
    @gen_test(timeout=60)
    async def test_200_concurrent_sleeps_cost_about_one(self) -> None:
        # Each waiting request is a suspended coroutine and a timer: no thread, no socket.
        started = time.monotonic()
        elapsed, responses = await self.timed_gather(*["/sleep?seconds=0.5"] * 200)
        assert [r.code for r in responses] == [200] * 200
        assert elapsed < 0.5 * 6, f"200 sleeps took {elapsed:.2f} s"
        assert time.monotonic() - started >= 0.5
