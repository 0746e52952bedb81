"""HTTP to one upstream through a SOCKS5 proxy, with Tornado's curl client.

It replaces the tutorial's Fukei, a SOCKS proxy built on Tornado and long dead.
Tornado's own `CurlAsyncHTTPClient` speaks SOCKS5 through libcurl (pycurl's
wheels bring their own): the proxy resolves the upstream's name (curl's
socks5h, so the name never has to resolve here), the username and password of
SOCKS5_URL log in, and the connect and total timeouts, the answer size limit
and the reuse of connections are curl's. python-socks 3.x (asyncio) was the
other candidate: it only opens the tunnel, and the HTTP on top of it would be a
second client beside Tornado's (aiohttp with aiohttp-socks) or ours to write.
Tornado's simple client has no proxy support at all.

Only paths under SOCKS5_UPSTREAM_URL are fetched, never a URL from the request
(anything else would make this service an open relay), and redirects are not
followed. The proxy down: 503 naming it. Too slow: 504. The proxy answering,
but not as SOCKS5 should (not SOCKS5 at all, a refused login, no way through to
the upstream): 502. The upstream answering badly (an error status, not HTTP,
over SOCKS5_MAX_BYTES): 502. Tornado's client cannot cancel a request: one
whose client left runs on until it ends or SOCKS5_TIMEOUT passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Self
from urllib.parse import unquote, urlsplit

# pycurl's type hints (_pycurl.pyi) come without a py.typed marker, so mypy skips them.
import pycurl  # type: ignore[import-untyped]
from tornado.curl_httpclient import CurlAsyncHTTPClient, CurlError
from tornado.httpclient import HTTPRequest, HTTPResponse

from ..settings import SettingsError, read_number
from ..web import ApiError
from .base import BadAnswer, Client, ServiceTimeout, ServiceUnavailable, url_address

URL_VARIABLE = "SOCKS5_URL"
UPSTREAM_VARIABLE = "SOCKS5_UPSTREAM_URL"
DEFAULT_URL = "socks5://127.0.0.1:1080"
# How error messages name what is behind the proxy.
UPSTREAM = "the upstream behind the SOCKS5 proxy"

# libcurl's error numbers (CURLE_*) this client tells apart; pycurl has no name for 97.
CURLE_COULDNT_RESOLVE_PROXY = 5
CURLE_COULDNT_CONNECT = 7
CURLE_WRITE_ERROR = 23  # Tornado's client stops an answer over max_body_size with it
CURLE_OPERATION_TIMEDOUT = 28
CURLE_PROXY = 97  # the SOCKS5 handshake failed, or the proxy could not reach the upstream

# A path segment: RFC 3986's unreserved characters, so nothing needs escaping.
SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")
MAX_PATH = 1024


def check_path(path: str) -> str:
    """`path` if it stays under the upstream's URL (ValueError saying why if not).

    Plain segments only, one trailing slash allowed: no `..`, no empty segment
    (`//host`), no scheme (`http:`), no escapes, no query.
    """
    if len(path) > MAX_PATH:
        raise ValueError(f"the path is over {MAX_PATH} characters")
    if not path:
        return path
    for segment in path.removesuffix("/").split("/"):
        if segment in {".", ".."}:
            raise ValueError(f"{segment!r} is not allowed in the path: it stays under the upstream")
        if not SEGMENT.fullmatch(segment):
            raise ValueError(
                "the path must be segments of letters, digits and . _ ~ - joined by single"
                f" slashes, got {path!r}"
            )
    return path


@dataclasses.dataclass(frozen=True)
class Socks5Settings:
    # The proxy; its username and password, if any, log in (RFC 1929).
    url: str = dataclasses.field(default=DEFAULT_URL, repr=False)
    # The one upstream, reached through the proxy: only paths under it are fetched.
    upstream: str = "https://example.com"
    # Reaching the proxy, its handshake and its connection to the upstream.
    connect_timeout: float = 2.0
    # The whole request, connecting included.
    timeout: float = 10.0
    max_clients: int = 100
    max_bytes: int = 10 * 1024 * 1024

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        return cls(
            url=read_proxy_url(env.get(URL_VARIABLE) or cls.url),
            upstream=read_upstream_url(env.get(UPSTREAM_VARIABLE) or cls.upstream),
            connect_timeout=read_number(
                env, "SOCKS5_CONNECT_TIMEOUT", cls.connect_timeout, float, 0.1, 60.0
            ),
            timeout=read_number(env, "SOCKS5_TIMEOUT", cls.timeout, float, 0.1, 600.0),
            max_clients=read_number(env, "SOCKS5_MAX_CLIENTS", cls.max_clients, int, 1, 10_000),
            max_bytes=read_number(env, "SOCKS5_MAX_BYTES", cls.max_bytes, int, 1, 2**31),
        )

    @property
    def username(self) -> str | None:
        username = urlsplit(self.url).username
        return None if username is None else unquote(username)

    @property
    def password(self) -> str:
        return unquote(urlsplit(self.url).password or "")


def read_proxy_url(url: str) -> str:
    """SOCKS5_URL, checked: socks5://[user:password@]host[:port]."""
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018  # raises ValueError on a port out of range or not a number
    except ValueError:
        raise SettingsError(f"{URL_VARIABLE} has a bad port: {parts.netloc!r}") from None
    # socks5h:// is curl's spelling: either way the proxy resolves the upstream's name.
    if parts.scheme not in {"socks5", "socks5h"} or not parts.hostname:
        raise SettingsError(
            f"{URL_VARIABLE} must be a socks5://[user:password@]host:port URL, got {url!r}"
        )
    if parts.path not in {"", "/"} or parts.query or parts.fragment:
        raise SettingsError(f"{URL_VARIABLE} must have no path or query, got {url!r}")
    for name, value in (("username", parts.username), ("password", parts.password)):
        if value is not None and not 0 < len(unquote(value).encode()) <= 255:
            raise SettingsError(f"{URL_VARIABLE}'s {name} must be 1 to 255 bytes (RFC 1929)")
    return url


def read_upstream_url(url: str) -> str:
    """SOCKS5_UPSTREAM_URL, checked: http(s)://host[:port][/base], no trailing slash."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise SettingsError(f"{UPSTREAM_VARIABLE} must be an http(s):// URL, got {url!r}")
    if parts.query or parts.fragment or parts.username is not None:
        raise SettingsError(
            f"{UPSTREAM_VARIABLE} must have no query, fragment or credentials, got {url!r}"
        )
    return url.rstrip("/")


class Socks5Refused(Exception):
    """The proxy answered the greeting, but not as a SOCKS5 proxy that lets us in."""


class SOCKS5Client(Client):
    """GETs paths of the upstream through the proxy; pings the proxy alone."""

    name: ClassVar[str] = "socks5"
    label: ClassVar[str] = "SOCKS5 proxy"

    def __init__(self, settings: Socks5Settings) -> None:
        # The ping is a connection and a greeting: it gets the connect timeout.
        super().__init__(settings.connect_timeout)
        self.settings = settings
        self._http: CurlAsyncHTTPClient | None = None
        # Why the last ping failed when the proxy did answer, but wrongly: then 502, not 503.
        self._misanswer = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        return cls(Socks5Settings.from_env(env))

    def address(self) -> tuple[str, int]:
        return url_address(self.settings.url, 1080)

    async def open(self) -> None:
        # Its own instance: AsyncHTTPClient.configure would switch the whole process to curl.
        self._http = CurlAsyncHTTPClient(
            force_instance=True,
            max_clients=self.settings.max_clients,
            max_body_size=self.settings.max_bytes,
        )

    async def release(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    async def ping(self) -> None:
        """A SOCKS5 greeting (and login) on a connection of its own; the upstream is not asked."""
        misanswer = ""
        try:
            await self._greet()
        except Socks5Refused as error:
            misanswer = str(error)
            raise
        finally:
            self._misanswer = misanswer

    def require_up(self) -> None:
        """503 while the proxy does not answer; 502 while it answers, but wrongly."""
        if not self.available and self._misanswer:
            raise BadAnswer(self.label, self._misanswer)
        super().require_up()

    async def get(self, path: str) -> HTTPResponse:
        """GET `path` under SOCKS5_UPSTREAM_URL through the proxy: its answer if under 400.

        The upstream's 404 is a 404; its other errors, 502.
        """
        url = f"{self.settings.upstream}/{check_path(path)}"
        self.require_up()
        if self._http is None:
            raise ServiceUnavailable(self.label, "not started")
        try:
            response = await self._http.fetch(self._request(url), raise_error=False)
        except CurlError as error:
            raise self._failure(error) from None
        if response.code == 404:
            raise ApiError(404, f"the upstream has nothing at /{path}")
        if response.code >= 400:
            raise BadAnswer(UPSTREAM, f"status {response.code}")
        return response

    def _request(self, url: str) -> HTTPRequest:
        host, port = self.address()
        return HTTPRequest(
            url,
            connect_timeout=self.settings.connect_timeout,
            request_timeout=self.settings.timeout,
            follow_redirects=False,
            proxy_host=f"[{host}]" if ":" in host else host,  # an IPv6 address in brackets
            proxy_port=port,
            prepare_curl_callback=self._socks5h,
        )

    def _socks5h(self, curl: Any) -> None:
        """Make curl's proxy a SOCKS5 one that resolves names, logging in if SOCKS5_URL says so.

        Tornado's proxy_username and proxy_password reach curl as "user:password",
        which it splits at the first colon: the username goes on its own here.
        """
        curl.setopt(pycurl.PROXYTYPE, pycurl.PROXYTYPE_SOCKS5_HOSTNAME)
        # Else a NO_PROXY in the environment would send matching requests around the proxy.
        curl.setopt(pycurl.NOPROXY, "")
        if self.settings.username is not None:
            curl.setopt(pycurl.PROXYUSERNAME, self.settings.username)
            curl.setopt(pycurl.PROXYPASSWORD, self.settings.password)

    def _failure(self, error: CurlError) -> ApiError:
        """What a failed transfer means to the user; curl's message says the details."""
        if error.errno in {CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_CONNECT}:
            host, port = self.address()
            return self.lost(ConnectionError(f"nothing answers at {host}:{port}"))
        if error.errno == CURLE_OPERATION_TIMEDOUT:
            return ServiceTimeout(UPSTREAM, self.settings.timeout)
        if error.errno == CURLE_PROXY:
            return BadAnswer(self.label, f"no way through to the upstream: {error.message}")
        if error.errno == CURLE_WRITE_ERROR and "max_body_size" in error.message:
            return BadAnswer(UPSTREAM, f"an answer over {self.settings.max_bytes} bytes")
        return BadAnswer(UPSTREAM, error.message)

    async def _greet(self) -> None:
        host, port = self.address()
        reader, writer = await asyncio.open_connection(host, port)
        try:
            await self._negotiate(reader, writer)
        except asyncio.IncompleteReadError:
            raise ConnectionError("it hung up during the SOCKS5 greeting") from None
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _negotiate(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """RFC 1928's method negotiation, then RFC 1929's login if the proxy asks for it."""
        username = self.settings.username
        offered = b"\x00" if username is None else b"\x00\x02"  # no login; username/password
        writer.write(b"\x05" + bytes([len(offered)]) + offered)
        answer = await reader.readexactly(2)
        if answer[0] != 5:
            raise Socks5Refused(f"it is not a SOCKS5 proxy (it answered {answer!r})")
        if answer[1] == 0xFF and username is None:
            raise Socks5Refused("it wants a login, and SOCKS5_URL has no username and password")
        if answer[1] == 0xFF:
            raise Socks5Refused("it accepts neither no login nor a username and password")
        if answer[1] not in offered:
            raise Socks5Refused(f"it chose a login method not offered ({answer[1]})")
        if answer[1] == 2 and username is not None:
            user, password = username.encode(), self.settings.password.encode()
            writer.write(b"\x01" + bytes([len(user)]) + user + bytes([len(password)]) + password)
            if (await reader.readexactly(2))[1] != 0:
                raise Socks5Refused("it refused the username and password of SOCKS5_URL")
