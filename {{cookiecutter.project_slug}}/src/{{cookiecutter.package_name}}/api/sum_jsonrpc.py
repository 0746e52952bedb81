"""GET /jsonrpc/sum?a=<n>&b=<n>: two numbers added by a remote procedure, an example to copy.

It calls the method `add` of the JSON-RPC service at JSONRPC_URL with `[a, b]`
and answers `{"sum": ...}`. The method's name is written here: a request picks
the numbers, never the method, the URL or the host. Not numbers: 400. The
service's error object: 502 with its code and message; no answer in time: 504;
the service down: 503.
"""

from __future__ import annotations

import math
from typing import Any

from ..clients.base import BadAnswer
from ..clients.jsonrpc import JSONRPCClient
from ..web import JsonHandler, Routes

# Many JSON parsers read every number as a double: beyond 2**53 integers lose digits.
LIMIT = 2**53


class SumHandler(JsonHandler):
    """Waits for one call of `add`: JSONRPC_CONNECT_TIMEOUT + JSONRPC_TIMEOUT at most."""

    def initialize(self, client: JSONRPCClient) -> None:  # type: ignore[override]  # the route's dict
        super().initialize()
        self.client = client

    async def get(self) -> None:
        a, b = self.get_number("a", LIMIT), self.get_number("b", LIMIT)
        # The client times out first; this wait ends when the caller leaves.
        total = await self.wait(self.client.call("add", [a, b]), self.client.timeout + 1, "add")
        self.write_json({"sum": self.number_in(total)})

    def number_in(self, value: Any) -> int | float:
        """`add`'s answer, if it is a finite number: the service may answer anything."""
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return value
        raise BadAnswer(self.client.label, f"add answered a {type(value).__name__}, not a number")


def routes(client: JSONRPCClient) -> Routes:
    return [(r"/jsonrpc/sum", SumHandler, {"client": client})]
