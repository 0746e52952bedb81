"""/squares/<n>: a read-through cache in front of something slow, an example to copy.

The first ask computes (a tenth of a second, standing for a slow query or call)
and stores the answer in Memcached for CACHE_SECONDS; the next ones within that
time are read from the cache. `X-Cache: hit` or `miss` says which, as does
`"cached"`. Memcached down: the answer is computed, not cached, and says so.
"""

from __future__ import annotations

import asyncio

from ..clients.memcached import MemcachedClient
from ..web import ApiError, JsonHandler, Routes

CACHE_SECONDS = 60
MAX_N = 10**6


async def slow_square(n: int) -> int:
    await asyncio.sleep(0.1)  # stands for the slow thing the cache is in front of
    return n * n


class SquareHandler(JsonHandler):
    """Waits on Memcached (a millisecond), and on the slow work only on a miss."""

    def initialize(self, cache: MemcachedClient) -> None:  # type: ignore[override]
        super().initialize()
        self.cache = cache

    async def get(self, raw: str) -> None:
        n = int(raw)
        if n > MAX_N:
            raise ApiError(400, f"n must be at most {MAX_N}")
        key = f"square:{n}".encode()
        try:
            cached = await self.cache.get(key)
        except ApiError:
            cached = None  # the cache is down: answer anyway, from the source
        if cached is not None:
            self.set_header("X-Cache", "hit")
            self.write_json({"n": n, "square": int(cached), "cached": True})
            return
        square = await self.wait(slow_square(n), 5, "the computation")
        self.set_header("X-Cache", "miss")
        try:
            await self.cache.set(key, str(square).encode(), CACHE_SECONDS)
        except ApiError:
            self.set_header("X-Cache", "unavailable")
        self.write_json({"n": n, "square": square, "cached": False})


def routes(cache: MemcachedClient) -> Routes:
    return [(r"/squares/([0-9]{1,7})", SquareHandler, {"cache": cache})]
