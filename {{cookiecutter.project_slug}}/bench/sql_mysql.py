"""MySQL's bare way for bench/sql.py: asyncmy's own pool, nothing on top."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncmy

from {{ cookiecutter.package_name }}.clients.mysql import MySQLSettings


class BareAsyncmy:
    name = "asyncmy"
    query = "SELECT %s AS n"

    @contextlib.asynccontextmanager
    async def pool(self, url: str, size: int) -> AsyncIterator[Callable[[], Awaitable[Any]]]:
        options = MySQLSettings(url=url).connect_options()
        pool = await asyncmy.create_pool(minsize=size, maxsize=size, **options)

        async def call() -> Any:
            async with pool.acquire() as connection, connection.cursor() as cursor:
                await cursor.execute(self.query, (1,))
                return await cursor.fetchall()

        try:
            yield call
        finally:
            pool.close()
            await pool.wait_closed()
