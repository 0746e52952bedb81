{%- set services = cookiecutter.__services.split(",") -%}
{%- set databases = services | select("in", ["mysql", "postgresql"]) | list -%}
"""Each SQL database's own measurement: query round trips/s, three ways, one run.

The same one-row query from the same number of concurrent tasks on one loop,
each way with a pool of as many connections:
- through this project's client (clients/<database>.py: its pool, timeouts
  and error mapping), as the handlers query;
- on the bare driver's own pool: what the client costs on top of it;
- through SQLAlchemy 2's async Core on the same driver, the field's standard
  data layer, which this project uses for its migrations only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from {{ cookiecutter.package_name }}.clients import make_clients
from {{ cookiecutter.package_name }}.migrations import Migratable

from .run import Row
{%- for name in databases %}
from .sql_{{ name }} import {{ "BareAsyncpg" if name == "postgresql" else "BareAsyncmy" }}
{%- endfor %}

Call = Callable[[], Awaitable[Any]]
WAYS = ("client", "bare", "sqlalchemy")
WARM_UP = 0.3  # seconds of queries first, unmeasured: every connection is open
PORTABLE_QUERY = "SELECT CAST(:n AS INTEGER) AS n"  # SQLAlchemy's placeholders


class BareDriver(Protocol):
    name: str  # the driver's
    query: str  # the one-row query, in the driver's placeholders

    def pool(self, url: str, size: int) -> contextlib.AbstractAsyncContextManager[Call]:
        """The query on the driver's own pool of `size` connections."""


DRIVERS: dict[str, BareDriver] = {
{%- for name in databases %}
    "{{ name }}": {{ "BareAsyncpg" if name == "postgresql" else "BareAsyncmy" }}(),
{%- endfor %}
}


async def round_trips_per_second(call: Call, concurrency: int, seconds: float) -> float:
    loop = asyncio.get_running_loop()
    done = 0

    async def one_task(until: float) -> None:
        nonlocal done
        while loop.time() < until:
            await call()
            done += 1

    await asyncio.gather(*(one_task(loop.time() + WARM_UP) for _ in range(concurrency)))
    done, begun = 0, loop.time()
    await asyncio.gather(*(one_task(begun + seconds) for _ in range(concurrency)))
    return done / (loop.time() - begun)


@contextlib.asynccontextmanager
async def through_the_client(client: Any, size: int) -> AsyncIterator[Call]:
    env = {**os.environ, f"{client.name.upper()}_POOL_SIZE": str(size)}
    db = type(client).from_env(env)
    await db.start()
    try:
        query = DRIVERS[client.name].query
        yield lambda: db.fetch(query, 1)
    finally:
        await db.close()


@contextlib.asynccontextmanager
async def through_sqlalchemy(client: Migratable, size: int) -> AsyncIterator[Call]:
    url = client.database_url.split("://", 1)[1]
    engine = create_async_engine(f"{client.dialect}://{url}", pool_size=size, max_overflow=0)
    query = text(PORTABLE_QUERY)

    async def call() -> Any:
        async with engine.connect() as connection:
            return (await connection.execute(query, {"n": 1})).all()

    try:
        yield call
    finally:
        await engine.dispose()


@dataclasses.dataclass
class QueryComparison:
    """Round trips/s through the client, against the bare driver and SQLAlchemy Core."""

    def environment(self) -> dict[str, str]:
        return {}

    def clean_up(self) -> None:
        pass

    def processes(self, args: argparse.Namespace) -> list[list[str]]:
        return []

    def measure(
        self, args: argparse.Namespace, env: dict[str, str], port: int, pid: int
    ) -> dict[str, dict[str, float]]:
        return asyncio.run(self.compare(args.connections, args.duration))

    async def compare(self, size: int, seconds: float) -> dict[str, dict[str, float]]:
        results: dict[str, dict[str, float]] = {}
        for client in make_clients(os.environ):
            if not isinstance(client, Migratable):
                continue
            ways = {
                "client": through_the_client(client, size),
                "bare": DRIVERS[client.name].pool(client.database_url, size),
                "sqlalchemy": through_sqlalchemy(client, size),
            }
            rates = {}
            for way, opened in ways.items():
                async with opened as call:
                    rates[way] = await round_trips_per_second(call, size, seconds)
            results[f"sql_{client.name}"] = rates
        return results

    def ratios(self, m: dict[str, float]) -> dict[str, float]:
        found = {}
        for name in DRIVERS:
            bare = m[f"sql_{name}.bare"]
            found[f"{name}_client_vs_bare"] = m[f"sql_{name}.client"] / bare
            found[f"{name}_sqlalchemy_vs_bare"] = m[f"sql_{name}.sqlalchemy"] / bare
        return found

    def rows(self, m: dict[str, float], r: dict[str, float]) -> list[Row]:
        rows = []
        for name, driver in DRIVERS.items():
            rows.append(
                (
                    f"{name} queries/s",
                    "one row, pool = tasks",
                    f"{m[f'sql_{name}.client']:.0f}",
                    f"x{r[f'{name}_client_vs_bare']:.2f} of bare {driver.name} "
                    f"({m[f'sql_{name}.bare']:.0f}); SQLAlchemy Core "
                    f"x{r[f'{name}_sqlalchemy_vs_bare']:.2f}",
                )
            )
        return rows
