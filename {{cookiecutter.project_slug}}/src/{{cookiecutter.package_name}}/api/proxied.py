"""/proxied/<path>: a page of the upstream, fetched through the SOCKS5 proxy, an example to copy.

`GET /proxied/docs/index.html` fetches SOCKS5_UPSTREAM_URL/docs/index.html through the proxy
and answers what came back: the upstream's status, its content type, its size
and the first characters of its body. The path is checked first (plain segments,
no `..`, no scheme: 400 otherwise), so no request can send this service
anywhere but under the configured upstream; the query string is not passed on.
"""

from __future__ import annotations

from typing import Any

from tornado.httpclient import HTTPResponse

from ..clients.socks5 import SOCKS5Client, check_path
from ..web import ApiError, JsonHandler, Routes

PREVIEW_BYTES = 200


def summary(path: str, response: HTTPResponse) -> dict[str, Any]:
    """The upstream's answer in brief: never more than PREVIEW_BYTES of its body."""
    body = response.body
    return {
        "path": f"/{path}",
        "status": response.code,
        "content_type": response.headers.get("Content-Type", ""),
        "bytes": len(body),
        "preview": body[:PREVIEW_BYTES].decode("utf-8", "replace"),
    }


class ProxiedHandler(JsonHandler):
    """Waits on the upstream through the proxy: at most SOCKS5_TIMEOUT (then 504)."""

    def initialize(self, proxy: SOCKS5Client) -> None:  # type: ignore[override]
        super().initialize()
        self.proxy = proxy

    async def get(self, raw: str) -> None:
        try:
            path = check_path(raw)
        except ValueError as error:
            raise ApiError(400, str(error)) from None
        # The client's own timeout answers first; this wait ends early if the caller leaves.
        timeout = self.proxy.settings.timeout + 1
        response = await self.wait(self.proxy.get(path), timeout, "the upstream")
        self.write_json(summary(path, response))


def routes(proxy: SOCKS5Client) -> Routes:
    return [(r"/proxied/(.*)", ProxiedHandler, {"proxy": proxy})]
