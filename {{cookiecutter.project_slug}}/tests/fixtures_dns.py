"""A real DNS resolver for the whole test session: dnslib, UDP and TCP, on a free port.

It serves a small test zone, `ZONE`, and misbehaves for a few names, one way
each: SLOW never answers, SERVFAIL and REFUSED answer those errors, GARBAGE
answers over UDP "truncated, ask again over TCP" and then, over TCP, bytes that
are not DNS. Every other name does not exist (NXDOMAIN). DNS_URL points at it.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from dnslib import RCODE, RR  # type: ignore[import-untyped]  # dnslib has no type hints
from dnslib.server import (  # type: ignore[import-untyped]
    DNSError,
    DNSLogger,
    DNSServer,
    TCPServer,
)

# In zone-file form (a line that starts with a blank continues the name above).
ZONE = RR.fromZone(
    "www.example.test.    60 IN A    192.0.2.10\n"
    "www.example.test.    60 IN A    192.0.2.11\n"
    "www.example.test.    60 IN AAAA 2001:db8::10\n"
    "v4only.example.test. 60 IN A    192.0.2.20\n"
)
SLOW = "slow.example.test"
SERVFAIL = "servfail.example.test"
REFUSED = "refused.example.test"
GARBAGE = "garbage.example.test"
# Names answered with an error code, and that code.
ERRORS = {SERVFAIL: RCODE.SERVFAIL, REFUSED: RCODE.REFUSED}
SESSION: list[Any] = []  # the session's dnslib servers, UDP and TCP


class RoomyTCPServer(TCPServer):  # type: ignore[misc]  # its base has no type hints
    """socketserver's listen backlog is 5: a burst of the tests' "is it up?" connects
    outpaces its accepting thread on a busy machine, and the rest time out."""

    request_queue_size = 128


class NotDNS:
    """A reply that packs to bytes no DNS message starts with."""

    def pack(self) -> bytes:
        return b"\x00\x00this is not DNS"


class ZoneResolver:
    """dnslib calls `resolve` in a thread per query, with its parsed request."""

    def resolve(self, request: Any, handler: Any) -> Any:
        question = request.q
        name = str(question.qname).lower().removesuffix(".")
        reply = request.reply()
        if name == SLOW:
            raise DNSError("no answer")  # dnslib drops the query: no reply is sent
        if name == GARBAGE:
            if handler.protocol == "udp":
                reply.header.tc = 1  # truncated: the client asks again over TCP
                return reply
            return NotDNS()
        if name in ERRORS:
            reply.header.rcode = ERRORS[name]
            return reply
        records = [record for record in ZONE if record.rname == question.qname]
        if not records:
            reply.header.rcode = RCODE.NXDOMAIN
        reply.add_answer(*(record for record in records if record.rtype == question.qtype))
        return reply


def serve_dns(port: int = 0) -> tuple[list[Any], int]:
    """Serve `ZoneResolver` over UDP and TCP on `port` (0: a free one), from threads.

    Returns dnslib's two servers (for `stop`) and the port.
    """
    quiet = DNSLogger(log="-request,-reply,-truncated,-error")
    for _ in range(10):  # the UDP port free, its TCP twin may be taken: try another
        udp = DNSServer(ZoneResolver(), address="127.0.0.1", port=port, logger=quiet)
        bound = udp.server.server_address[1]
        try:
            tcp = DNSServer(
                ZoneResolver(), address="127.0.0.1", port=bound, logger=quiet, server=RoomyTCPServer
            )
        except OSError:
            udp.server.server_close()
            if port:
                raise
            continue
        for server in (udp, tcp):
            server.start_thread()
        return [udp, tcp], bound
    raise OSError("no port free for both UDP and TCP")


def stop(servers: list[Any]) -> None:
    """Stop serving and close the ports: queries to them are refused from now on."""
    for server in servers:
        server.stop()
        server.server.server_close()


def pytest_configure(config: pytest.Config) -> None:
    servers, port = serve_dns()
    SESSION.extend(servers)
    os.environ["DNS_URL"] = f"dns://127.0.0.1:{port}"


def pytest_unconfigure(config: pytest.Config) -> None:
    stop(SESSION)
    SESSION.clear()
