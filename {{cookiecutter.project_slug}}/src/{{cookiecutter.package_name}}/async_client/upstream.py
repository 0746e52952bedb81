"""An HTTP upstream through Tornado's own AsyncHTTPClient.

The request never names the URL: only the configured UPSTREAM_URL is called
(a client-chosen URL would let anyone make this service fetch anything: SSRF).
`/sleep?seconds=S` calls `UPSTREAM_URL/delay/S`, httpbin's delay endpoint.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar, Self
from urllib.parse import urlsplit

from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from ..settings import Settings, SettingsError, read_number
from ..web import ApiError, JsonHandler

if TYPE_CHECKING:
    from ..web import Routes


@dataclasses.dataclass(frozen=True)
class UpstreamSettings:
    url: str = "https://httpbin.org"
    connect_timeout: float = 2.0
    # How long the upstream may take beyond the delay it was asked for.
    timeout: float = 5.0
    max_clients: int = 1000

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        url = (env.get("UPSTREAM_URL") or cls.url).rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise SettingsError(f"UPSTREAM_URL must be an http(s):// URL, got {url!r}")
        return cls(
            url=url,
            connect_timeout=read_number(
                env, "UPSTREAM_CONNECT_TIMEOUT", cls.connect_timeout, float, 0.1, 60.0
            ),
            timeout=read_number(env, "UPSTREAM_TIMEOUT", cls.timeout, float, 0.1, 600.0),
            max_clients=read_number(env, "UPSTREAM_MAX_CLIENTS", cls.max_clients, int, 1, 100_000),
        )


class SleepHandler(JsonHandler):
    """Waits for the upstream's `/delay/<seconds>` to answer."""

    def initialize(self, strategy: UpstreamStrategy) -> None:  # type: ignore[override]
        super().initialize()
        self.strategy = strategy

    async def get(self) -> None:
        seconds = self.get_seconds()
        settings = self.strategy.settings
        fetch = self.strategy.client.fetch(
            f"{settings.url}/delay/{seconds:g}",
            connect_timeout=settings.connect_timeout,
            request_timeout=seconds + settings.timeout,
        )
        try:
            await self.wait(fetch, seconds + settings.timeout + 1, "the upstream")
        except HTTPClientError as error:
            if error.code == 599:  # Tornado's code for "no HTTP answer": timed out
                raise ApiError(504, f"the upstream did not answer in time: {error}") from None
            raise ApiError(502, f"the upstream answered {error.code}") from None
        except OSError as error:  # refused, reset, unresolvable
            raise ApiError(502, f"the upstream is unreachable: {error}") from None
        self.write_json({"slept": seconds, "strategy": UpstreamStrategy.name})


class UpstreamStrategy:
    name: ClassVar[str] = "async_client"

    def __init__(self, settings: UpstreamSettings) -> None:
        self.settings = settings
        self._client: AsyncHTTPClient | None = None

    @property
    def client(self) -> AsyncHTTPClient:
        if self._client is None:
            raise RuntimeError("UpstreamStrategy.start() was not awaited")
        return self._client

    def routes(self) -> Routes:
        return [(r"/sleep", SleepHandler, {"strategy": self})]

    async def start(self) -> None:
        # Its own instance, sized for the load: the shared one queues past 10 requests.
        self._client = AsyncHTTPClient(force_instance=True, max_clients=self.settings.max_clients)

    async def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def health(self) -> dict[str, str]:
        return {}


def make_strategy(config: Settings, env: Mapping[str, str] | None = None) -> UpstreamStrategy:
    return UpstreamStrategy(UpstreamSettings.from_env(os.environ if env is None else env))
