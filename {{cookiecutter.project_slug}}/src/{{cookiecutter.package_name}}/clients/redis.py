"""Redis through redis.asyncio, part of redis-py.

It replaces the tutorial's tornado-redis and tornadis, both unmaintained: since
Tornado 5 runs on asyncio, redis-py's own asyncio client is the one to use.
- `sleep`: `BLPOP` on a key nobody pushes to, so Redis itself holds the wait
  (a stand-in for waiting on a job queue). Each waiting call holds one pooled
  connection, like any blocking command: REDIS_MAX_CONNECTIONS caps them.
  Blocking commands have a pool of their own without a socket timeout (the
  caller's wait bounds them): redis-py's default of 5 s cut every longer wait.
- `RedisChannels`: PUBLISH, and ONE pattern subscription per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar, Self

import redis.asyncio as aioredis
from redis.driver_info import DriverInfo

from ..channels import ChannelSettings, Event, Hub
from ..settings import read_number
from .base import Client, ServiceUnavailable, url_address

log = logging.getLogger(__name__)
PACKAGE = __name__.split(".")[0]
URL_VARIABLE = "REDIS_URL"
DEFAULT_URL = "redis://127.0.0.1:6379/0"
# BlockingConnectionPool's words when every connection stayed busy for REDIS_TIMEOUT.
POOL_EXHAUSTED = "No connection available."


@dataclasses.dataclass(frozen=True)
class RedisSettings:
    url: str = DEFAULT_URL
    max_connections: int = 256
    # Connecting, and every command but the blocking ones, must answer within this.
    timeout: float = 2.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        return cls(
            url=env.get(URL_VARIABLE) or cls.url,
            max_connections=read_number(
                env, "REDIS_MAX_CONNECTIONS", cls.max_connections, int, 1, 10_000
            ),
            timeout=read_number(env, "REDIS_TIMEOUT", cls.timeout, float, 0.1, 60.0),
        )


class RedisClient(Client):
    """Per process: a pool for commands, one for blocking waits, a connection for the monitor."""

    name: ClassVar[str] = "redis"
    label: ClassVar[str] = "Redis"

    def __init__(self, settings: RedisSettings) -> None:
        super().__init__(settings.timeout)
        self.settings = settings
        self.sleep_margin = settings.timeout  # BLPOP answers at its own timeout
        # Names this process's connections in Redis's CLIENT LIST.
        self.client_name = f"{PACKAGE}-{uuid.uuid4().hex[:12]}"
        self._redis: aioredis.Redis | None = None
        self._waits: aioredis.Redis | None = None
        self._probe: aioredis.Redis | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        return cls(RedisSettings.from_env(env))

    @property
    def redis(self) -> aioredis.Redis:
        """The pooled client, for commands of your own (each bounded by REDIS_TIMEOUT)."""
        if self._redis is None:
            raise ServiceUnavailable(self.label, "not started")
        return self._redis

    @property
    def waits(self) -> aioredis.Redis:
        """The pooled client for blocking commands (BLPOP, XREAD BLOCK): no socket timeout."""
        if self._waits is None:
            raise ServiceUnavailable(self.label, "not started")
        return self._waits

    def address(self) -> tuple[str, int]:
        return url_address(self.settings.url, 6379)

    async def open(self) -> None:
        options: dict[str, Any] = {
            "socket_connect_timeout": self.settings.timeout,
            "client_name": self.client_name,
            # Resolved once: left to redis-py, every new connection reads redis's
            # version from the package metadata, on the loop (see the README).
            "driver_info": DriverInfo(),
        }
        self._redis = self._pool(socket_timeout=self.settings.timeout, **options)
        self._waits = self._pool(socket_timeout=None, **options)
        self._probe = aioredis.Redis.from_url(
            self.settings.url, socket_timeout=self.settings.timeout, **options
        )

    def _pool(self, **options: Any) -> aioredis.Redis:
        pool = aioredis.BlockingConnectionPool.from_url(
            self.settings.url,
            max_connections=self.settings.max_connections,
            timeout=self.settings.timeout,  # waiting for a free pooled connection
            **options,
        )
        return aioredis.Redis(connection_pool=pool)

    async def release(self) -> None:
        for client in (self._redis, self._waits, self._probe):
            if client is not None:
                await client.aclose(close_connection_pool=True)
        self._redis = self._waits = self._probe = None

    async def ping(self) -> None:
        assert self._probe is not None
        await self._probe.ping()

    def channels(self, settings: ChannelSettings) -> RedisChannels:
        """Fan-out across processes for long-polling, through this client's pool."""
        return RedisChannels(self, settings)

    def failed(self, error: Exception) -> ServiceUnavailable:
        """The 503 for a failed command; an exhausted pool does not mean Redis is down."""
        if str(error) == POOL_EXHAUSTED:
            busy = f"all {self.settings.max_connections} connections are busy"
            return ServiceUnavailable(self.label, f"{busy} (REDIS_MAX_CONNECTIONS)")
        return self.lost(error)

    async def sleep(self, seconds: float) -> None:
        if seconds == 0:
            return  # BLPOP's 0 means "forever"
        self.require_up()
        key = f"{self.client_name}:sleep:{uuid.uuid4().hex}"
        try:
            await self.waits.blpop([key], timeout=seconds)
        except (aioredis.RedisError, OSError) as error:
            raise self.failed(error) from error


class RedisChannels:
    """`notify` PUBLISHes; ONE pattern subscription per process feeds its subscribers."""

    label = RedisClient.label

    def __init__(self, client: RedisClient, settings: ChannelSettings) -> None:
        self.client = client
        self.settings = settings
        self.hub = Hub()
        self.channel_prefix = f"{settings.prefix}:notify:"
        self.subscribed = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None

    @property
    def healthy(self) -> bool:
        return self.subscribed.is_set()

    async def start(self, timeout: float = 2.0) -> None:
        self._listener = asyncio.create_task(self._listen())
        with contextlib.suppress(TimeoutError):  # Redis down: serve 503s until it is back
            await asyncio.wait_for(self.subscribed.wait(), timeout)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None

    async def notify(self, channel: str, message: dict[str, Any]) -> Event:
        self.client.require_up()
        event = Event.new(channel, message)
        try:
            async with asyncio.timeout(self.client.settings.timeout):
                await self.client.redis.publish(self.channel_prefix + channel, event.text)
        except (aioredis.RedisError, OSError, TimeoutError) as error:
            raise self.client.failed(error) from error
        return event

    async def _listen(self) -> None:
        """Keep one PSUBSCRIBE alive, reconnecting with backoff, and feed the hub."""
        backoff = 0.1
        pubsub = self.client.redis.pubsub()
        try:
            while True:
                try:
                    await pubsub.psubscribe(self.channel_prefix + "*")
                    self.subscribed.set()
                    backoff = 0.1
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=1.0
                        )
                        if message and message["type"] == "pmessage":
                            channel = bytes(message["channel"]).decode()
                            name = channel.removeprefix(self.channel_prefix)
                            self.hub.receive(name, bytes(message["data"]))
                except (aioredis.RedisError, OSError) as error:
                    if self.subscribed.is_set():
                        log.warning("Redis subscription lost (%s); reconnecting", error)
                    self.subscribed.clear()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                    with contextlib.suppress(aioredis.RedisError, OSError):
                        await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]
