"""The DNS client and /resolve against a real resolver (fixtures_dns.py): answers and failures."""

from __future__ import annotations

import asyncio
import os
import time

import pytest
from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.app import ServiceApp, make_app
from {{ cookiecutter.package_name }}.clients import BadAnswer, ServiceTimeout, ServiceUnavailable
from {{ cookiecutter.package_name }}.clients.dns import Addresses, DNSClient, DNSSettings
from {{ cookiecutter.package_name }}.settings import SettingsError

from .fixtures_dns import GARBAGE, REFUSED, SERVFAIL, SLOW, serve_dns, stop
from .support import AppTestCase, body, closed_port, started


def client(url: str | None = None, timeout: float = 1.0) -> DNSClient:
    """A client of the test resolver (or of `url`), with a short lifetime."""
    return DNSClient(DNSSettings(url=url or os.environ["DNS_URL"], timeout=timeout))


async def looked_up(dns: DNSClient, hostname: str) -> Addresses | None:
    async with started(dns):
        return await dns.addresses(hostname)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("udp://127.0.0.1:53", "DNS_URL must be a dns://<IP address>:<port> URL"),
        ("dns://resolver.example:53", "DNS_URL must be a dns://<IP address>:<port> URL"),
        ("dns://127.0.0.1:99999", "DNS_URL must be a dns://<IP address>:<port> URL"),
    ],
)
def test_only_a_resolver_named_by_address_is_accepted(url: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        DNSSettings.from_env({"DNS_URL": url})


def test_a_bad_timeout_is_refused_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="DNS_TIMEOUT must be a number"):
        DNSSettings.from_env({"DNS_TIMEOUT": "soon"})
    settings = DNSSettings.from_env({"DNS_URL": "dns://[::1]:5353", "DNS_TIMEOUT": "2"})
    assert (DNSClient(settings).address(), settings.timeout) == (("::1", 5353), 2.0)


def test_a_name_resolves_to_its_a_and_aaaa_addresses() -> None:
    found = asyncio.run(looked_up(client(), "www.example.test"))
    assert found == Addresses(ipv4=["192.0.2.10", "192.0.2.11"], ipv6=["2001:db8::10"])
    found = asyncio.run(looked_up(client(), "v4only.example.test"))
    assert found == Addresses(ipv4=["192.0.2.20"], ipv6=[])


def test_a_name_that_does_not_exist_is_none() -> None:
    assert asyncio.run(looked_up(client(), "nothing-here.example.test")) is None


def test_no_answer_within_the_lifetime_is_a_504() -> None:
    begun = time.monotonic()
    with pytest.raises(ServiceTimeout) as raised:
        asyncio.run(looked_up(client(timeout=0.5), SLOW))
    assert 0.5 <= time.monotonic() - begun < 3
    assert raised.value.status_code == 504
    assert raised.value.message == "DNS did not answer within 0.5 s"


@pytest.mark.parametrize(
    ("hostname", "reason"),
    [
        (SERVFAIL, "SERVFAIL"),
        (REFUSED, "REFUSED"),
        (GARBAGE, "an answer that is not DNS"),  # truncated over UDP, garbage over TCP
    ],
)
def test_an_error_from_the_resolver_is_a_502_naming_it(hostname: str, reason: str) -> None:
    with pytest.raises(BadAnswer) as raised:
        asyncio.run(looked_up(client(timeout=2), hostname))
    assert raised.value.status_code == 502
    assert raised.value.message.startswith(f"DNS answered badly: {reason}")


def test_a_resolver_that_is_not_running_is_a_fast_503_and_health_says_down() -> None:
    async def scenario() -> None:
        async with started(client(f"dns://127.0.0.1:{closed_port()}", timeout=5)) as dns:
            assert isinstance(dns, DNSClient)
            assert dns.health() == "down"  # its ping was refused, not timed out
            begun = time.monotonic()
            with pytest.raises(ServiceUnavailable) as refused:
                await dns.addresses("www.example.test")
            assert time.monotonic() - begun < 0.1
            assert refused.value.message.startswith("DNS unavailable: [Errno")
            assert refused.value.message.endswith("Connection refused")

    asyncio.run(scenario())


def test_a_resolver_that_stops_is_a_503_at_once_and_it_recovers_by_itself() -> None:
    async def scenario() -> None:
        servers, port = serve_dns()
        async with started(client(f"dns://127.0.0.1:{port}", timeout=5)) as dns:
            assert isinstance(dns, DNSClient)
            assert dns.health() == "up"
            await asyncio.to_thread(stop, servers)
            begun = time.monotonic()
            with pytest.raises(ServiceUnavailable):  # refused, before the monitor looks
                await dns.addresses("www.example.test")
            assert time.monotonic() - begun < 1  # not DNS_TIMEOUT's 5 s
            assert dns.health() == "down"
            servers, _ = serve_dns(port)
            try:
                for _ in range(50):  # the monitor looks again every second
                    if dns.health() == "up":
                        break
                    await asyncio.sleep(0.1)
                assert await dns.addresses("www.example.test") is not None
            finally:
                await asyncio.to_thread(stop, servers)

    asyncio.run(scenario())


class ResolveTest(AppTestCase):
    """GET /resolve/<hostname> through the app, with DNS_TIMEOUT=1.

    Not shorter: the first ping at start must answer in time on a loaded machine.
    """

    def get_app(self) -> ServiceApp:
        self.app = make_app(self.settings(), env={**os.environ, "DNS_TIMEOUT": "1"})
        return self.app

    @gen_test(timeout=30)
    async def test_a_name_answers_its_addresses(self) -> None:
        response = await self.get("/resolve/WWW.Example.Test.")
        assert (response.code, body(response)) == (
            200,
            {
                "name": "www.example.test",
                "A": ["192.0.2.10", "192.0.2.11"],
                "AAAA": ["2001:db8::10"],
            },
        )

    @gen_test(timeout=30)
    async def test_a_name_that_does_not_exist_is_a_404(self) -> None:
        response = await self.get("/resolve/nothing-here.example.test")
        assert (response.code, body(response)["error"]) == (
            404,
            "no such name: nothing-here.example.test",
        )

    @gen_test(timeout=30)
    async def test_a_slow_resolver_is_a_504_and_an_error_a_502(self) -> None:
        slow = await self.get(f"/resolve/{SLOW}")
        assert (slow.code, body(slow)["error"]) == (504, "DNS did not answer within 1 s")
        failed = await self.get(f"/resolve/{SERVFAIL}")
        assert (failed.code, body(failed)["error"]) == (502, "DNS answered badly: SERVFAIL")

    @gen_test(timeout=30)
    async def test_what_is_not_a_hostname_is_a_400_saying_why(self) -> None:
        cases = {
            "": "a hostname is required: /resolve/<hostname>",
            "a..b": "not a hostname: each dot-separated part is 1 to 63 letters",
            "-a.example": "not a hostname: each dot-separated part is 1 to 63 letters",
            "a_b.example": "not a hostname: each dot-separated part is 1 to 63 letters",
            "a/b": "not a hostname: each dot-separated part is 1 to 63 letters",
            "x" * 64 + ".example": "not a hostname: each dot-separated part is 1 to 63 letters",
            ".".join(["a" * 63] * 4): "a hostname has at most 253 characters",
            "192.0.2.1": "that is an IP address, not a hostname",
            "b%C3%BCcher.example": "the hostname must be ASCII: use the xn-- form",
        }
        for raw, message in cases.items():
            response = await self.get(f"/resolve/{raw}")
            assert response.code == 400, raw
            assert body(response)["error"].startswith(message), raw


class ResolveWithoutResolverTest(AppTestCase):
    """DNS_URL names a port where nothing listens."""

    def get_app(self) -> ServiceApp:
        env = {**os.environ, "DNS_URL": f"dns://127.0.0.1:{closed_port()}"}
        self.app = make_app(self.settings(), env=env)
        return self.app

    @gen_test(timeout=30)
    async def test_a_lookup_is_a_fast_503_naming_dns_and_health_says_down(self) -> None:
        begun = time.monotonic()
        response = await self.get("/resolve/www.example.test")
        assert time.monotonic() - begun < 0.5
        assert response.code == 503
        assert body(response)["error"].startswith("DNS unavailable: [Errno")
        assert body(response)["error"].endswith("Connection refused")
        assert response.headers["Retry-After"] == "5"
        health = await self.get("/health")
        assert (health.code, body(health)["checks"]["dns"]) == (503, "down")
