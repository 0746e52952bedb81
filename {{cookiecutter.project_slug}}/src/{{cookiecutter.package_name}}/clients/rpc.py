"""What the JSON-RPC and XML-RPC clients share: settings, one POST per call, errors.

Each protocol (jsonrpc.py, xmlrpc.py) writes and reads its own messages and
faults; this module carries them. A call is one POST to the protocol's
`<NAME>_URL`, through an AsyncHTTPClient instance of the client's own, sized by
`<NAME>_MAX_CLIENTS`; the monitor's probe has another, so that calls filling
the first never make /health say "down". Redirects are not followed, and no
answer is decompressed (no `Accept-Encoding` is sent: a small gzip body can
unpack to gigabytes); an answer over `<NAME>_MAX_BYTES` is cut off unread.

Errors: refused, unresolvable or no connection within `<NAME>_CONNECT_TIMEOUT`:
503, and calls fail at once until the probe answers again. No whole answer
within `<NAME>_TIMEOUT`: 504. All `<NAME>_MAX_CLIENTS` calls in flight: a new
one waits in Tornado's queue up to `<NAME>_CONNECT_TIMEOUT`, then gets a 503.
A connection closed mid-answer, or an answer over the cap: 502. The service's
own fault: an `RPCFault`, a 502 carrying its code and text. Tornado's simple
client opens a connection per call (no keep-alive), and cannot cancel one: a
call whose client left runs on until the service answers or `<NAME>_TIMEOUT`
passes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPResponse
from tornado.simple_httpclient import HTTPTimeoutError

from ..settings import SettingsError, read_number
from ..web import ApiError
from .base import BadAnswer, Client, ServiceTimeout, ServiceUnavailable, url_address

# How much of a fault's text a 502 passes on: the rest may be a traceback.
MAX_FAULT_CHARS = 500


class RPCFault(ApiError):
    """502: the service answered the call with its protocol's fault: its code and text.

    A subclass names them as its protocol does, in the message and under "fault".
    """

    kind: ClassVar[str]  # how the message calls it: "error", "fault"
    code_key: ClassVar[str]
    text_key: ClassVar[str]

    def __init__(self, label: str, code: int, text: str) -> None:
        shown = text[:MAX_FAULT_CHARS]
        super().__init__(
            502,
            f"{label} answered with {self.kind} {code}: {shown}",
            fault={self.code_key: code, self.text_key: shown},
        )
        self.fault_code = code


@dataclasses.dataclass(frozen=True)
class RPCSettings:
    """Where the service is, and how long and how much to wait for it.

    A subclass sets `prefix`, which names its variables (`<prefix>_URL`...), and
    the default `url`.
    """

    prefix: ClassVar[str]
    url: str = ""  # none here: refused, as not an http(s):// URL
    connect_timeout: float = 2.0
    # From the start of a call (its connection included) to the whole answer.
    timeout: float = 5.0
    # Calls in flight at once, per process.
    max_clients: int = 100
    max_bytes: int = 1024 * 1024

    @classmethod
    def variable(cls, name: str) -> str:
        """The name of the setting `name` in the environment: JSONRPC_TIMEOUT..."""
        return f"{cls.prefix}_{name}"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        url_variable = cls.variable("URL")
        url = env.get(url_variable) or cls.url
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise SettingsError(f"{url_variable} must be an http(s):// URL, got {url!r}")
        number = cls.variable
        return cls(
            url=url,
            connect_timeout=read_number(
                env, number("CONNECT_TIMEOUT"), cls.connect_timeout, float, 0.05, 60.0
            ),
            timeout=read_number(env, number("TIMEOUT"), cls.timeout, float, 0.05, 600.0),
            max_clients=read_number(env, number("MAX_CLIENTS"), cls.max_clients, int, 1, 10_000),
            # Tornado buffers at most 100 MiB of an answer.
            max_bytes=read_number(env, number("MAX_BYTES"), cls.max_bytes, int, 1024, 100 * 2**20),
        )


class RPCClient(Client):
    """Calls methods of the endpoint at the settings' URL; a subclass speaks the protocol.

    It sets `settings_class`, `headers` and `probe_method` (with `probe_params`),
    and implements `_call`: one call's message through `_post`, and its answer
    read, a fault raised as its `RPCFault`.
    """

    settings_class: ClassVar[type[RPCSettings]]
    headers: ClassVar[dict[str, str]]
    # What the monitor calls: any answer of the protocol, a fault included, means up.
    probe_method: ClassVar[str]
    probe_params: ClassVar[Any]

    def __init__(self, settings: RPCSettings) -> None:
        super().__init__(settings.connect_timeout + settings.timeout)
        self.settings = settings
        self._calls: AsyncHTTPClient | None = None
        self._probe: AsyncHTTPClient | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        return cls(cls.settings_class.from_env(env))

    def address(self) -> tuple[str, int]:
        return url_address(self.settings.url, 443 if self.settings.url.startswith("https") else 80)

    async def open(self) -> None:
        # Instances of its own: the shared one queues past 10 requests. The probe has
        # its own, so that calls filling the other never make /health say "down".
        self._calls = self._http_client(self.settings.max_clients)
        self._probe = self._http_client(1)

    def _http_client(self, max_clients: int) -> AsyncHTTPClient:
        return AsyncHTTPClient(
            force_instance=True, max_clients=max_clients, max_body_size=self.settings.max_bytes
        )

    async def release(self) -> None:
        for http in (self._calls, self._probe):
            if http is not None:
                http.close()
        self._calls = self._probe = None

    async def ping(self) -> None:
        """One call of `probe_method`: any answer of the protocol, a fault included, is one."""
        try:
            await self._call(self._http(self._probe), self.probe_method, self.probe_params)
        except RPCFault:
            pass  # an unknown method, most likely: the server answered
        except ApiError as error:  # too slow, or not the protocol: why, without the name
            raise RuntimeError(error.message.removeprefix(f"{self.label} ")) from None

    async def _call_up(self, method: str, params: Any) -> Any:
        """`_call` through the calls' client, while the service is known to be up."""
        self.require_up()
        try:
            return await self._call(self._http(self._calls), method, params)
        except OSError as error:  # refused, unresolvable, no connection in time
            raise self.lost(error) from None

    async def _call(self, http: AsyncHTTPClient, method: str, params: Any) -> Any:
        """The result of one call of `method` through `http`: the protocol's part."""
        raise NotImplementedError

    def _http(self, http: AsyncHTTPClient | None) -> AsyncHTTPClient:
        if http is None:
            raise ServiceUnavailable(self.label, "not started")
        return http

    async def _post(self, http: AsyncHTTPClient, body: bytes) -> HTTPResponse:
        """POST `body` to the endpoint: its answer whatever the HTTP status.

        Raises OSError when the service cannot be reached, for the caller to judge.
        """
        try:
            return await http.fetch(
                self.settings.url,
                method="POST",
                body=body,
                headers=self.headers,
                connect_timeout=self.settings.connect_timeout,
                request_timeout=self.settings.timeout,
                follow_redirects=False,
                decompress_response=False,
                raise_error=False,  # the protocol judges the status (JSON-RPC: any may come)
            )
        except HTTPTimeoutError as error:
            raise self._timed_out(error) from None
        except HTTPClientError as error:  # 599: closed before a whole HTTP answer
            why = f"{error.message}: not HTTP, or over {self.settings.variable('MAX_BYTES')}"
            raise BadAnswer(self.label, f"no whole HTTP answer ({why})") from None

    def _timed_out(self, error: HTTPTimeoutError) -> Exception:
        """Which of Tornado's timeouts ran out, by its message: each means something else."""
        reason = error.message or "Timeout"
        if "in request queue" in reason:  # every one of max_clients was in use
            setting = self.settings.variable("MAX_CLIENTS")
            busy = f"all {self.settings.max_clients} connections are busy ({setting})"
            return ServiceUnavailable(self.label, busy, retry_after=1)
        if "during request" in reason:  # connected, but no whole answer in time
            return ServiceTimeout(self.label, self.settings.timeout)
        return TimeoutError(reason)  # resolving, connecting or TLS: unreachable
