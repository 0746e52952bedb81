"""PostgreSQL's bare way for bench/sql.py: asyncpg's own pool, nothing on top."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg


class BareAsyncpg:
    name = "asyncpg"
    query = "SELECT $1::int AS n"

    @contextlib.asynccontextmanager
    async def pool(self, url: str, size: int) -> AsyncIterator[Callable[[], Awaitable[Any]]]:
        pool = await asyncpg.create_pool(url, min_size=size, max_size=size)
        try:
            yield lambda: pool.fetch(self.query, 1)
        finally:
            await pool.close()
