"""What every service client shares: lifecycle, a health monitor, and its errors as HTTP.

A client owns one pool per serving process: opened in `start` (after any fork,
inside the loop), closed in `close`. A background monitor pings the service on
its own connection, so `/health` never waits, and while the service is down
requests get a 503 at once instead of each waiting for a connect timeout. The
monitor also notices when the service comes back: nothing needs a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import ClassVar, TypeVar
from urllib.parse import urlsplit

from ..web import ApiError

log = logging.getLogger(__name__)
C = TypeVar("C", bound="Client")


class ServiceUnavailable(ApiError):
    """503 naming the service: it is down, unreachable, or its pool is exhausted."""

    def __init__(self, label: str, reason: str, retry_after: int = 5) -> None:
        super().__init__(503, f"{label} unavailable: {reason}", {"Retry-After": str(retry_after)})


class ServiceTimeout(ApiError):
    """504 naming the service: it did not answer in time."""

    def __init__(self, label: str, timeout: float) -> None:
        super().__init__(504, f"{label} did not answer within {timeout:g} s")


class BadAnswer(ApiError):
    """502 naming the service: it answered, but not with what was asked for."""

    def __init__(self, label: str, reason: str) -> None:
        super().__init__(502, f"{label} answered badly: {reason}")


class Client:
    """A service this app talks to. Subclasses implement `open`, `release` and `ping`.

    `name` is the service's key in `/health` and in settings; `label` is how
    error messages name it.
    """

    name: ClassVar[str]
    label: ClassVar[str]
    # Seconds between pings while the service answers, and while it does not.
    check_every: ClassVar[float] = 5.0
    retry_every: ClassVar[float] = 1.0

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout  # for every call, and for each ping
        self._up = False
        self._reason = "not started"
        self._wake = asyncio.Event()
        self._monitor: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Create the pool. It must not fail while the service is down."""

    async def release(self) -> None:
        """Close the pool and whatever `open` created."""

    async def ping(self) -> None:
        """One cheap round trip, not through the request pool; raise if it fails."""
        raise NotImplementedError

    def address(self) -> tuple[str, int] | None:
        """Where the service listens, from its URL, for the tests' "is it running?" (None: a
        local program, not reached over the network)."""
        raise NotImplementedError

    async def start(self) -> None:
        """Open, then ping once so that `/health` is right from the first request."""
        await self.open()
        await self._check()
        self._monitor = asyncio.create_task(self._watch(), name=f"{self.name}-monitor")

    async def close(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            await asyncio.gather(self._monitor, return_exceptions=True)
            self._monitor = None
        await self.release()
        self._up, self._reason = False, "closed"

    @property
    def available(self) -> bool:
        """Whether requests may use the service now: the monitor's last verdict."""
        return self._up

    def health(self) -> str:
        return "up" if self.available else "down"

    def stats(self) -> dict[str, int]:
        """Figures for `/health` and `/metrics`, named `<name>_...` (a pool's busy and size)."""
        return {}

    def require_up(self) -> None:
        """Fail fast while the service is known to be down."""
        if not self.available:
            raise ServiceUnavailable(self.label, self._reason)

    def lost(self, error: BaseException) -> ServiceUnavailable:
        """A call failed for want of the service: mark it down, check again now."""
        reason = str(error) or type(error).__name__
        self._mark(False, reason)
        self._wake.set()
        return ServiceUnavailable(self.label, reason)

    async def _check(self) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                await self.ping()
        except Exception as error:  # whatever the driver raises, the service is not usable
            reason = "no answer" if isinstance(error, TimeoutError) else str(error)
            self._mark(False, reason or type(error).__name__)
        else:
            self._mark(True, "")

    def _mark(self, up: bool, reason: str) -> None:
        if up and not self._up:
            log.info("%s is up", self.label)
        elif not up and self._up:
            log.warning("%s is down: %s", self.label, reason)
        self._up, self._reason = up, reason

    async def _watch(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                delay = self.check_every if self._up else self.retry_every
                await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()
            await self._check()


def url_address(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


class Clients:
    """The app's clients, one per service, started and closed together."""

    def __init__(self, clients: Sequence[Client] = ()) -> None:
        self._clients = list(clients)

    def __iter__(self) -> Iterator[Client]:
        return iter(self._clients)

    def get(self, kind: type[C]) -> C:
        """The client of class `kind`: how a handler's routes find the service it needs."""
        for client in self._clients:
            if isinstance(client, kind):
                return client
        raise LookupError(f"no {kind.__name__} among this app's clients")

    async def start(self) -> None:
        await asyncio.gather(*(client.start() for client in self._clients))

    async def close(self) -> None:
        await asyncio.gather(*(client.close() for client in self._clients))

    def health(self) -> dict[str, str]:
        return {client.name: client.health() for client in self._clients}

    def stats(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for client in self._clients:
            counts.update(client.stats())
        return counts
