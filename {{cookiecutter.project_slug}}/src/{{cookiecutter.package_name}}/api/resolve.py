"""/resolve/<hostname>: the A and AAAA addresses of a name, through the configured resolver.

The name is checked first (400 saying what is wrong with it), then looked up
(never connected to) through DNS_URL's resolver only. It does not exist: 404;
no answer within DNS_TIMEOUT: 504; the resolver answered an error such as
SERVFAIL or REFUSED, or garbage: 502; the resolver is unreachable: 503.
"""

from __future__ import annotations

import re

from ..clients.dns import DNSClient
from ..web import ApiError, JsonHandler, Routes

# A label of a host name (RFC 1123): letters, digits and inner hyphens, 63 at most.
LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
MAX_NAME = 253  # characters of a name in dotted form, without the final dot
# How long past DNS_TIMEOUT the handler waits before answering 504 itself.
MARGIN = 1.0


def hostname(raw: str) -> str:
    """`raw` as a lowercase host name without its final dot, or a 400 saying why it is not one."""
    if not raw.isascii():
        raise ApiError(400, "the hostname must be ASCII: use the xn-- form of international names")
    name = raw.lower().removesuffix(".")
    if not name:
        raise ApiError(400, "a hostname is required: /resolve/<hostname>")
    if len(name) > MAX_NAME:
        raise ApiError(400, f"a hostname has at most {MAX_NAME} characters")
    labels = name.split(".")
    if not all(LABEL.fullmatch(label) for label in labels):
        raise ApiError(
            400,
            "not a hostname: each dot-separated part is 1 to 63 letters, digits or hyphens,"
            " neither starting nor ending with a hyphen",
        )
    if labels[-1].isdigit():  # no top-level domain is all digits
        raise ApiError(400, "that is an IP address, not a hostname")
    return name


class ResolveHandler(JsonHandler):
    """Waits for the resolver's answers to an A and an AAAA query, asked together."""

    def initialize(self, dns: DNSClient) -> None:  # type: ignore[override]  # the route's dict
        super().initialize()
        self.dns = dns

    async def get(self, raw: str) -> None:
        name = hostname(raw)
        found = await self.wait(self.dns.addresses(name), self.dns.timeout + MARGIN, "the lookup")
        if found is None:
            raise ApiError(404, f"no such name: {name}")
        self.write_json({"name": name, "A": found.ipv4, "AAAA": found.ipv6})


def routes(dns: DNSClient) -> Routes:
    # Any path under /resolve/, so that a malformed name is a 400 saying why, not a 404.
    return [(r"/resolve/(.*)", ResolveHandler, {"dns": dns})]
