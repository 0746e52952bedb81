"""The shape of what the app serves: a strategy, and the other features it may have.

A generated project has one strategy, how it keeps slow requests off the IOLoop
(its module is named after it), and the features its services bring (long-
polling with a broker). The app opens each at start, closes it at shutdown,
reports its checks in `/health` and serves its routes. The base opens, closes
and checks nothing: a feature overrides only what it has.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar, Self

from .web import Routes

if TYPE_CHECKING:  # not at run time: process-pool workers import this module
    from .clients import Clients


class Feature:
    """Routes, and what they need opened, closed and checked."""

    @classmethod
    def from_env(cls, env: Mapping[str, str], clients: Clients) -> Self:
        """Build it from its settings (`env`) and the service clients it may use."""
        return cls()

    def routes(self) -> Routes:
        """URL rules this feature serves."""
        return []

    async def start(self) -> None:
        """Open pools and connections: called in the serving process, inside its loop."""

    async def close(self) -> None:
        """Release everything `start` opened: called once at shutdown."""

    async def health(self) -> dict[str, str]:
        """Name of each thing this feature depends on -> "up" or "down"."""
        return {}

    def stats(self) -> dict[str, int]:
        """Counts `/health` shows beside the checks (requests waiting, clients connected).

        `/metrics` exports each too: a name ending in `_total` as a counter (it
        only grows), any other as a gauge.
        """
        return {}

    def closing(self) -> None:
        """Shutdown has begun: end what would never end by itself (open streams)."""


class Strategy(Feature):
    """How a slow request waits (at least `/sleep`); `name` is its `async_strategy`."""

    name: ClassVar[str]
