"""Redis through redis.asyncio: a server-side blocking wait, and long-polling.

- `/sleep`: `BLPOP` on a key nobody pushes to, so Redis itself holds the wait
  (a stand-in for waiting on a job queue). Each waiting /sleep holds one pooled
  connection, like any blocking command: REDIS_MAX_CONNECTIONS caps them.
- `/wait` + `/notify`: PUBLISH, and ONE pattern subscription per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Self

import redis.asyncio as aioredis
from redis.driver_info import DriverInfo

from ..settings import Settings, read_number
from .channels import BrokerDown, LocalWaiters, broker_routes

if TYPE_CHECKING:
    from ..web import Routes

log = logging.getLogger(__name__)
SERVICE = "Redis"
URL_VARIABLE = "REDIS_URL"
DEFAULT_URL = "redis://127.0.0.1:6379/0"


@dataclasses.dataclass(frozen=True)
class RedisSettings:
    url: str = DEFAULT_URL
    max_connections: int = 256
    # Connecting, and every command but the blocking ones, must answer within this.
    timeout: float = 2.0
    prefix: str = "{{ cookiecutter.package_name }}"
    wait_max_seconds: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        return cls(
            url=env.get(URL_VARIABLE) or cls.url,
            max_connections=read_number(
                env, "REDIS_MAX_CONNECTIONS", cls.max_connections, int, 1, 10_000
            ),
            timeout=read_number(env, "REDIS_TIMEOUT", cls.timeout, float, 0.1, 60.0),
            prefix=env.get("CHANNEL_PREFIX") or cls.prefix,
            wait_max_seconds=read_number(
                env, "WAIT_MAX_SECONDS", cls.wait_max_seconds, float, 1.0, 3600.0
            ),
        )


class RedisStrategy:
    name: ClassVar[str] = "async_client"
    service = SERVICE

    def __init__(self, settings: RedisSettings) -> None:
        self.settings = settings
        self.wait_max_seconds = settings.wait_max_seconds
        self.sleep_margin = settings.timeout  # BLPOP answers at its own timeout
        self.waiters = LocalWaiters()
        self.channel_prefix = f"{settings.prefix}:notify:"
        # Names this process's connections in Redis's CLIENT LIST.
        self.client_name = f"{settings.prefix}-{uuid.uuid4().hex[:12]}"
        self.subscribed = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None
        self._redis: aioredis.Redis | None = None

    @property
    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            raise BrokerDown("not started")
        return self._redis

    @property
    def healthy(self) -> bool:
        return self.subscribed.is_set()

    def routes(self) -> Routes:
        return broker_routes(self)

    async def start(self, timeout: float = 2.0) -> None:
        """One pool per process, opened here (after any fork), closed in close()."""
        pool = aioredis.BlockingConnectionPool.from_url(
            self.settings.url,
            max_connections=self.settings.max_connections,
            timeout=self.settings.timeout,  # waiting for a free pooled connection
            socket_connect_timeout=self.settings.timeout,
            client_name=self.client_name,
            # Resolved once: left to redis-py, every new connection reads redis's
            # version from the package metadata (~1 ms, on the loop): 1,000 waits
            # arriving at once stalled the loop ~0.7 s.
            driver_info=DriverInfo(),
        )
        self._redis = aioredis.Redis(connection_pool=pool)
        self._listener = asyncio.create_task(self._listen())
        with contextlib.suppress(TimeoutError):  # Redis down: serve 503s until it is back
            await asyncio.wait_for(self.subscribed.wait(), timeout)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None
        if self._redis is not None:
            await self._redis.aclose(close_connection_pool=True)
            self._redis = None

    async def health(self) -> dict[str, str]:
        return {"redis": "up" if self.healthy else "down"}

    async def sleep(self, seconds: float) -> None:
        if seconds == 0:
            return  # BLPOP's 0 means "forever"
        key = f"{self.settings.prefix}:sleep:{uuid.uuid4().hex}"
        try:
            await self.redis.blpop([key], timeout=seconds)
        except (aioredis.RedisError, OSError) as error:
            raise BrokerDown(self.explain(error)) from error

    def explain(self, error: Exception) -> str:
        # BlockingConnectionPool's words when every connection stayed busy for
        # REDIS_TIMEOUT: say which setting that is (any other error: as it is).
        if str(error) == "No connection available.":
            return (f"all {self.settings.max_connections} connections are busy "
                    "(REDIS_MAX_CONNECTIONS)")  # fmt: skip
        return str(error) or type(error).__name__

    async def notify(self, channel: str, message: dict[str, Any]) -> None:
        try:
            async with asyncio.timeout(self.settings.timeout):
                await self.redis.publish(self.channel_prefix + channel, json.dumps(message))
        except (aioredis.RedisError, OSError, TimeoutError) as error:
            raise BrokerDown(self.explain(error)) from error

    async def _listen(self) -> None:
        """Keep one PSUBSCRIBE alive, reconnecting with backoff, and wake local waiters."""
        backoff = 0.1
        pubsub = self.redis.pubsub()
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
                            self.waiters.wake_from_bytes(name, bytes(message["data"]))
                except (aioredis.RedisError, OSError) as error:
                    if self.subscribed.is_set():
                        log.warning("Redis subscription lost (%s); reconnecting", error)
                    self.subscribed.clear()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                    with contextlib.suppress(aioredis.RedisError, OSError):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]


def make_strategy(config: Settings, env: Mapping[str, str] | None = None) -> RedisStrategy:
    return RedisStrategy(RedisSettings.from_env(os.environ if env is None else env))
