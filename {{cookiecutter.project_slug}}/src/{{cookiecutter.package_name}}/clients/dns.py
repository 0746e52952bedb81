"""DNS lookups through dnspython's asyncio resolver, asking the one resolver DNS_URL names.

It replaces the tutorial's tornado-dns (unmaintained, from Tornado's callback
era). dnspython 2 is maintained, pure Python and typed, and tells every outcome
apart: the name does not exist (NXDOMAIN), no answer within the lifetime, the
resolver's SERVFAIL or REFUSED, an answer that does not parse. aiodns 4 (c-ares
through pycares) is faster per query, but it needs a compiled extension,
reports failures as bare c-ares codes, bounds a lookup by a timeout per try
times a number of tries rather than one deadline, and has just changed its API
(query() deprecated for query_dns() and pycares 5's results).

DNS_TIMEOUT is a lookup's whole lifetime: a UDP query unanswered for 2 s
(dnspython's per-try timeout) is sent again until it runs out. dnspython's own
UDP sockets are not connected, so the ICMP "port unreachable" of a stopped
resolver never reaches them and it looks merely slow; here each query uses a
connected socket, as the C library's stub resolver does, and fails at once.
Only DNS_URL's resolver is ever asked: requests choose the names looked up,
never the server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import Mapping
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

import dns.asyncbackend
import dns.asyncquery
import dns.asyncresolver
import dns.exception
import dns.inet
import dns.message
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver

from ..settings import SettingsError, read_number
from .base import BadAnswer, Client, ServiceTimeout, ServiceUnavailable, url_address

URL_VARIABLE = "DNS_URL"
DEFAULT_URL = "dns://127.0.0.1:53"
# What ping() asks: every resolver answers for the root zone, and quickly.
PROBE = (dns.name.root, dns.rdatatype.SOA)


@dataclasses.dataclass(frozen=True)
class DNSSettings:
    url: str = DEFAULT_URL
    # A lookup's whole lifetime, retries included; and each ping.
    timeout: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        url = env.get(URL_VARIABLE) or cls.url
        if not is_resolver_url(url):
            raise SettingsError(
                f"{URL_VARIABLE} must be a dns://<IP address>:<port> URL, got {url!r}"
            )
        return cls(
            url=url,
            timeout=read_number(env, "DNS_TIMEOUT", cls.timeout, float, 0.01, 60.0),
        )


def is_resolver_url(url: str) -> bool:
    """dns://<IP address>[:<port>]: a resolver named by a host name would need a resolver."""
    parts = urlsplit(url)
    try:
        port = 53 if parts.port is None else parts.port
    except ValueError:  # not a number, or out of range
        return False
    return parts.scheme == "dns" and dns.inet.is_address(parts.hostname or "") and port > 0


@dataclasses.dataclass(frozen=True)
class Addresses:
    """What a name resolves to; either list may be empty (the name has no such record)."""

    ipv4: list[str]
    ipv6: list[str]


class ConnectedNameserver(dns.nameserver.Do53Nameserver):
    """DNS over UDP (TCP for a truncated answer) through a connected UDP socket.

    Connected, the socket receives the ICMP "port unreachable" of a resolver that
    is not running: the query fails with ConnectionRefusedError at once instead of
    waiting out DNS_TIMEOUT. Answers from any other address are dropped by the
    kernel, and unparseable ones by dnspython (a spoofed packet must not end a
    lookup).
    """

    async def async_query(
        self,
        request: dns.message.QueryMessage,
        timeout: float,
        source: str | None,
        source_port: int,
        max_size: bool,
        # A dns.asyncbackend.Backend: mypy cannot see that name, re-exported implicitly.
        backend: Any,
        one_rr_per_rrset: bool = False,
        ignore_trailing: bool = False,
    ) -> dns.message.Message:
        if max_size:  # TCP: a refused connection fails fast already
            return await super().async_query(
                request,
                timeout,
                source,
                source_port,
                max_size,
                backend,
                one_rr_per_rrset,
                ignore_trailing,
            )
        family = dns.inet.af_for_address(self.address)
        where = (self.address, self.port)
        async with await backend.make_socket(family, socket.SOCK_DGRAM, 0, None, where) as sock:
            return await dns.asyncquery.udp(
                request,
                self.address,
                timeout=timeout,
                port=self.port,
                sock=sock,
                one_rr_per_rrset=one_rr_per_rrset,
                ignore_trailing=ignore_trailing,
                raise_on_truncation=True,  # the resolver retries over TCP
                ignore_errors=True,
                ignore_unexpected=True,
            )


class DNSClient(Client):
    """Looks names up through the resolver at DNS_URL; no connection is kept open."""

    name: ClassVar[str] = "dns"
    label: ClassVar[str] = "DNS"

    def __init__(self, settings: DNSSettings) -> None:
        super().__init__(settings.timeout)
        self.settings = settings
        self._nameserver = ConnectedNameserver(*self.address())
        self._resolver: dns.asyncresolver.Resolver | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        return cls(DNSSettings.from_env(env))

    def address(self) -> tuple[str, int]:
        return url_address(self.settings.url, 53)

    async def open(self) -> None:
        # configure=False: no /etc/resolv.conf, so no search list and no other server.
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [self._nameserver]
        resolver.lifetime = self.settings.timeout
        # EDNS with DNS Flag Day 2020's size: larger answers still over UDP, unfragmented.
        resolver.use_edns(0, 0, 1232)
        self._resolver = resolver

    async def release(self) -> None:
        self._resolver = None  # it holds no socket: each query opens and closes its own

    @property
    def resolver(self) -> dns.asyncresolver.Resolver:
        if self._resolver is None:
            raise ServiceUnavailable(self.label, "not started")
        return self._resolver

    async def ping(self) -> None:
        """One query, no retry: any DNS answer, even NXDOMAIN, means the resolver is up."""
        query = dns.message.make_query(*PROBE)
        backend = dns.asyncbackend.get_default_backend()
        await self._nameserver.async_query(query, self.settings.timeout, None, 0, False, backend)

    async def addresses(self, hostname: str) -> Addresses | None:
        """The A and AAAA records of `hostname`, asked together; None if it does not exist.

        `hostname` is absolute ("example.com" is "example.com."): no search list.
        """
        self.require_up()
        name = dns.name.from_text(hostname)
        ipv4, ipv6 = await asyncio.gather(
            self._records(name, dns.rdatatype.A),
            self._records(name, dns.rdatatype.AAAA),
            return_exceptions=True,
        )
        if isinstance(ipv4, BaseException):
            raise ipv4
        if isinstance(ipv6, BaseException):
            raise ipv6
        if ipv4 is None or ipv6 is None:
            return None
        return Addresses(ipv4, ipv6)

    async def _records(
        self, name: dns.name.Name, kind: dns.rdatatype.RdataType
    ) -> list[str] | None:
        """The records of one type, as text; None for NXDOMAIN; errors as 503, 504, 502."""
        try:
            answer = await self.resolver.resolve(name, kind, search=False, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return None
        except dns.exception.Timeout:
            raise ServiceTimeout(self.label, self.settings.timeout) from None
        except dns.resolver.NoNameservers as error:
            raise self._failure(error) from None
        except dns.exception.DNSException as error:  # YXDOMAIN: a DNAME made it too long
            raise BadAnswer(self.label, str(error)) from None
        return [record.to_text() for record in answer.rrset or ()]

    def _failure(self, error: dns.resolver.NoNameservers) -> ServiceUnavailable | BadAnswer:
        """Why the resolver gave no answer: unreachable (503), or it answered an error (502).

        dnspython lists each attempt's outcome: an OSError (the port is closed), an
        rcode such as SERVFAIL or REFUSED, or what made the answer unusable.
        """
        outcomes = [outcome for _, _, _, outcome, _ in error.kwargs.get("errors", [])]
        for outcome in outcomes:
            if isinstance(outcome, OSError):
                return self.lost(outcome)
        last = outcomes[-1] if outcomes else "no answer"
        if isinstance(last, Exception):
            last = f"an answer that is not DNS ({type(last).__name__}: {last})"
        return BadAnswer(self.label, str(last))
