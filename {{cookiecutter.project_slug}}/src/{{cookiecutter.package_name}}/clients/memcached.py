"""Memcached through emcache.

It replaces the tutorial's tornado-memcache, asyncmc and memnado (all
unmaintained): emcache is asyncio-native, puts a timeout on every operation and
reconnects by itself. (aiomcache has no timeouts, and cancelling one of its calls
leaves the connection an answer behind.) emcache cannot tell "refused" from
"slow": while Memcached is down each call would wait MEMCACHED_TIMEOUT, so calls
fail fast on what the monitor last saw instead. A waiting call takes the newest
free connection first: size MEMCACHED_MAX_CONNECTIONS for your concurrency.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from typing import ClassVar, Self
from urllib.parse import urlsplit

import emcache

from ..settings import SettingsError, read_number
from .base import BadAnswer, Client, ServiceTimeout, ServiceUnavailable, url_address

URL_VARIABLE = "MEMCACHED_URL"
DEFAULT_URL = "memcached://127.0.0.1:11211"


@dataclasses.dataclass(frozen=True)
class MemcachedSettings:
    url: str = DEFAULT_URL
    max_connections: int = 32
    # Every operation, and connecting.
    timeout: float = 1.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        url = env.get(URL_VARIABLE) or cls.url
        if urlsplit(url).scheme != "memcached":
            raise SettingsError(f"{URL_VARIABLE} must be a memcached://host:port URL, got {url!r}")
        return cls(
            url=url,
            max_connections=read_number(
                env, "MEMCACHED_MAX_CONNECTIONS", cls.max_connections, int, 1, 10_000
            ),
            timeout=read_number(env, "MEMCACHED_TIMEOUT", cls.timeout, float, 0.01, 60.0),
        )


class MemcachedClient(Client):
    """One emcache client per process: its own connections, its own reconnects."""

    name: ClassVar[str] = "memcached"
    label: ClassVar[str] = "Memcached"

    def __init__(self, settings: MemcachedSettings) -> None:
        super().__init__(settings.timeout)
        self.settings = settings
        self._cache: emcache.Client | None = None
        self._probe_key = f"health-{uuid.uuid4().hex}".encode()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        return cls(MemcachedSettings.from_env(env))

    def address(self) -> tuple[str, int]:
        return url_address(self.settings.url, 11211)

    async def open(self) -> None:
        host, port = self.address()
        self._cache = await emcache.create_client(
            [emcache.MemcachedHostAddress(host, port)],
            timeout=self.settings.timeout,
            connection_timeout=self.settings.timeout,
            max_connections=self.settings.max_connections,
            min_connections=0,  # none opened before one is needed: starts with the server down
        )

    async def release(self) -> None:
        if self._cache is not None:
            await self._cache.close()
            self._cache = None

    async def ping(self) -> None:
        await self.cache.get(self._probe_key)

    @property
    def cache(self) -> emcache.Client:
        if self._cache is None:
            raise ServiceUnavailable(self.label, "not started")
        return self._cache

    async def get(self, key: bytes) -> bytes | None:
        """The value stored at `key`, or None."""
        self.require_up()
        try:
            item = await self.cache.get(key)
        except TimeoutError:
            raise self.unanswered() from None
        return None if item is None else item.value

    async def set(self, key: bytes, value: bytes, ttl: int) -> None:
        """Store `value` at `key` for `ttl` seconds."""
        self.require_up()
        try:
            await self.cache.set(key, value, exptime=ttl)
        except TimeoutError:
            raise self.unanswered() from None
        except emcache.CommandError as error:  # e.g. a value over Memcached's item size
            raise BadAnswer(self.label, f"it did not store {key!r}: {error}") from None

    def unanswered(self) -> ServiceTimeout:
        """A timed-out call: emcache says the same whether Memcached is slow or gone."""
        error = ServiceTimeout(self.label, self.settings.timeout)
        self.lost(TimeoutError(error.message))  # the monitor looks again now
        return error
