"""PostgreSQL through asyncpg.

It replaces the tutorial's momoko and queries (psycopg2 driven by Tornado's
IOLoop, both unmaintained): asyncpg speaks PostgreSQL's protocol on asyncio
itself, and was the fastest driver measured here (psycopg 3 gave 0.7-0.9 of its
round trips/s). Queries take `$1, $2...` placeholders. The pool opens its
connections when they are first needed: the service starts while PostgreSQL is
down, and its requests get a 503 until it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar, Self

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from ..settings import read_number
from .base import Client, ServiceTimeout, ServiceUnavailable, url_address

URL_VARIABLE = "POSTGRESQL_URL"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# What says the server, or the way to it, is gone (not that a query was wrong).
LOST = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError)


@dataclasses.dataclass(frozen=True)
class PostgreSQLSettings:
    url: str = DEFAULT_URL
    pool_size: int = 20
    # Each query, its wait for a pooled connection included; and connecting.
    timeout: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        return cls(
            url=env.get(URL_VARIABLE) or cls.url,
            pool_size=read_number(env, "POSTGRESQL_POOL_SIZE", cls.pool_size, int, 1, 10_000),
            timeout=read_number(env, "POSTGRESQL_TIMEOUT", cls.timeout, float, 0.1, 600.0),
        )


class PostgreSQLClient(Client):
    """A pool of connections per process, and one of its own for the monitor."""

    name: ClassVar[str] = "postgresql"
    label: ClassVar[str] = "PostgreSQL"
    dialect: ClassVar[str] = "postgresql+asyncpg"  # for SQLAlchemy, in migrations/

    def __init__(self, settings: PostgreSQLSettings) -> None:
        super().__init__(settings.timeout)
        self.settings = settings
        self.sleep_margin = settings.timeout
        self._pool: asyncpg.Pool | None = None
        self._probe: asyncpg.Connection | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        return cls(PostgreSQLSettings.from_env(env))

    @property
    def database_url(self) -> str:
        return self.settings.url

    def address(self) -> tuple[str, int]:
        return url_address(self.settings.url, 5432)

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(
            self.settings.url,
            min_size=0,  # no connection before one is needed: starts with the server down
            max_size=self.settings.pool_size,
            timeout=self.settings.timeout,  # connecting; `connection` bounds the rest
        )

    def stats(self) -> dict[str, int]:
        pool = self._pool
        busy = pool.get_size() - pool.get_idle_size() if pool is not None else 0
        return {"postgresql_pool_busy": busy, "postgresql_pool_size": self.settings.pool_size}

    async def release(self) -> None:
        if self._probe is not None:
            with contextlib.suppress(*LOST):
                await self._probe.close(timeout=self.settings.timeout)
        if self._pool is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._pool.close(), self.settings.timeout)
        self._pool = self._probe = None

    async def ping(self) -> None:
        if self._probe is None or self._probe.is_closed():
            self._probe = await asyncpg.connect(self.settings.url, timeout=self.settings.timeout)
        await self._probe.fetchval("SELECT 1")

    @contextlib.asynccontextmanager
    async def connection(
        self, timeout: float | None = None
    ) -> AsyncIterator[PoolConnectionProxy[asyncpg.Record]]:
        """A pooled connection for one piece of work; 503 at once while PostgreSQL is down.

        One timer bounds the whole: the wait for a free connection and the work
        on it, `timeout` seconds (POSTGRESQL_TIMEOUT by default). Its failures
        come out as HTTP answers: the server unreachable or gone, 503; no free
        connection in time, 503 naming the setting; the work past its time, 504
        (asyncpg cancels the query on the server). A query that is wrong (a
        constraint, a syntax error) raises asyncpg's own error, for you to map.
        """
        self.require_up()
        if self._pool is None:
            raise ServiceUnavailable(self.label, "not started")
        limit = timeout or self.settings.timeout
        connection = None
        try:
            async with asyncio.timeout(limit):
                connection = await self._pool.acquire()
                yield connection
        except TimeoutError:
            if connection is None:
                busy = f"all {self.settings.pool_size} connections are busy"
                raise ServiceUnavailable(self.label, f"{busy} (POSTGRESQL_POOL_SIZE)") from None
            raise ServiceTimeout(self.label, limit) from None
        except LOST as error:
            raise self.lost(error) from error
        finally:
            if connection is not None:
                await self._pool.release(connection)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async with self.connection() as connection:
            rows: list[asyncpg.Record] = await connection.fetch(query, *args)
            return rows

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        async with self.connection() as connection:
            row: asyncpg.Record | None = await connection.fetchrow(query, *args)
            return row

    async def sleep(self, seconds: float) -> None:
        """`pg_sleep`: PostgreSQL itself holds the wait, and a pooled connection."""
        async with self.connection(seconds + self.settings.timeout) as connection:
            await connection.execute("SELECT pg_sleep($1)", seconds)
