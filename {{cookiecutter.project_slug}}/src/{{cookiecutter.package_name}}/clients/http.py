"""An HTTP upstream through Tornado's own AsyncHTTPClient.

The request never names the URL: only paths under the configured
HTTP_UPSTREAM_URL are fetched (a client-chosen URL would let anyone make this
service fetch anything: SSRF), and redirects are not followed (they could lead
anywhere). Too slow: 504; any other failure (unreachable, an error status, a
redirect, a closed connection, garbage, an answer over HTTP_UPSTREAM_MAX_BYTES):
502. Tornado's client cannot cancel a request: one whose client left runs on
until the upstream answers or HTTP_UPSTREAM_TIMEOUT passes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPResponse
from tornado.simple_httpclient import HTTPTimeoutError

from ..settings import SettingsError, read_number
from ..telemetry.logs import outgoing_headers
from ..web import ApiError
from .base import Client, url_address

URL_VARIABLE = "HTTP_UPSTREAM_URL"


@dataclasses.dataclass(frozen=True)
class HttpSettings:
    url: str = "https://httpbin.org"
    connect_timeout: float = 2.0
    # How long the upstream may take beyond what it was asked to wait.
    timeout: float = 5.0
    max_clients: int = 1000
    max_bytes: int = 10 * 1024 * 1024

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        url = (env.get(URL_VARIABLE) or cls.url).rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise SettingsError(f"{URL_VARIABLE} must be an http(s):// URL, got {url!r}")
        return cls(
            url=url,
            connect_timeout=read_number(
                env, "HTTP_UPSTREAM_CONNECT_TIMEOUT", cls.connect_timeout, float, 0.1, 60.0
            ),
            timeout=read_number(env, "HTTP_UPSTREAM_TIMEOUT", cls.timeout, float, 0.1, 600.0),
            max_clients=read_number(
                env, "HTTP_UPSTREAM_MAX_CLIENTS", cls.max_clients, int, 1, 100_000
            ),
            max_bytes=read_number(env, "HTTP_UPSTREAM_MAX_BYTES", cls.max_bytes, int, 1, 2**31),
        )


class HttpClient(Client):
    """Fetches paths of the upstream; `sleep` asks it to delay (httpbin's `/delay/<s>`)."""

    name: ClassVar[str] = "http"
    label: ClassVar[str] = "HTTP upstream"

    def __init__(self, settings: HttpSettings) -> None:
        super().__init__(settings.connect_timeout + settings.timeout)
        self.settings = settings
        self.sleep_margin = settings.timeout + 1
        self._http: AsyncHTTPClient | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        return cls(HttpSettings.from_env(env))

    def address(self) -> tuple[str, int]:
        return url_address(self.settings.url, 443 if self.settings.url.startswith("https") else 80)

    async def open(self) -> None:
        # Its own instance, sized for the load: the shared one queues past 10 requests.
        self._http = AsyncHTTPClient(
            force_instance=True,
            max_clients=self.settings.max_clients,
            max_body_size=self.settings.max_bytes,
        )

    async def release(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    async def ping(self) -> None:
        """Any HTTP answer from the base URL, even a 404, means the upstream is there."""
        await self.fetch("/", request_timeout=self.settings.timeout, raise_error=False)

    async def fetch(self, path: str, **options: Any) -> HTTPResponse:
        """GET `path` under the upstream's base URL; its failures as 502 or 504."""
        if self._http is None:
            raise ApiError(503, f"{self.label} client is not started")
        options.setdefault("connect_timeout", self.settings.connect_timeout)
        options.setdefault("request_timeout", self.settings.timeout)
        options["follow_redirects"] = False
        options["headers"] = {**outgoing_headers(), **options.get("headers", {})}  # the request id
        try:
            return await self._http.fetch(self.settings.url + path, **options)
        except HTTPTimeoutError as error:
            raise ApiError(504, f"the upstream did not answer in time: {error}") from None
        except HTTPClientError as error:
            if error.code == 599:  # no HTTP answer: closed, garbage, too large
                raise ApiError(502, f"the upstream answered badly: {error}") from None
            raise ApiError(502, f"the upstream answered {error.code}") from None
        except OSError as error:  # refused, reset, unresolvable
            raise ApiError(502, f"the upstream is unreachable: {error}") from None

    async def sleep(self, seconds: float) -> None:
        await self.fetch(f"/delay/{seconds:g}", request_timeout=seconds + self.settings.timeout)
