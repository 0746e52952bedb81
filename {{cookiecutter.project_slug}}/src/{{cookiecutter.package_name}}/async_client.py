"""The async_client strategy: the service a request waits on holds the wait itself.

Every outside call goes through a maintained asyncio client (clients/): one
pool per process, opened at start, closed at shutdown, a timeout on every call.
`/sleep` waits natively on one of this project's services; `SLEEPERS` says
which, when there are several.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Protocol, Self, runtime_checkable

from .clients import Client, Clients
from .strategy import Strategy
from .web import JsonHandler, Routes

# Which service /sleep waits on, first choice first.
SLEEPERS = ("redis", "rabbitmq", "postgresql", "mysql", "http")


@runtime_checkable
class Sleeper(Protocol):
    """A client whose service can hold a wait: BLPOP, a message's TTL, a delayed answer."""

    label: ClassVar[str]
    sleep_margin: float  # how long a sleep may take beyond the time asked for

    async def sleep(self, seconds: float) -> None: ...


class SleepHandler(JsonHandler):
    """Waits for the service itself to time the sleep (see each client's `sleep`)."""

    def initialize(self, sleeper: Sleeper) -> None:  # type: ignore[override]
        super().initialize()
        self.sleeper = sleeper

    async def get(self) -> None:
        seconds = self.get_seconds()
        limit = seconds + self.sleeper.sleep_margin + self.application.config.wait_margin
        await self.wait(self.sleeper.sleep(seconds), limit, self.sleeper.label)
        self.write_json({"slept": seconds, "strategy": AsyncClientStrategy.name})


class AsyncClientStrategy(Strategy):
    """Waits on a service client; the app opens and closes the clients."""

    name: ClassVar[str] = "async_client"

    def __init__(self, sleeper: Sleeper) -> None:
        self.sleeper = sleeper

    @classmethod
    def from_env(cls, env: Mapping[str, str], clients: Clients) -> Self:
        return cls(pick_sleeper(clients))

    def routes(self) -> Routes:
        return [(r"/sleep", SleepHandler, {"sleeper": self.sleeper})]


def pick_sleeper(clients: Clients) -> Sleeper:
    """The first of `SLEEPERS` among the clients."""
    by_name: dict[str, Client] = {client.name: client for client in clients}
    for name in SLEEPERS:
        client = by_name.get(name)
        if isinstance(client, Sleeper):
            return client
    raise LookupError(f"the async_client strategy needs one of these services: {SLEEPERS}")
