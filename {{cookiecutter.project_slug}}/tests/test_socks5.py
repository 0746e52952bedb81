"""The SOCKS5 client and /proxied against a real proxy (microsocks) and upstream, and without."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from typing import Any

import pytest
from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.app import ServiceApp, make_app
from {{ cookiecutter.package_name }}.clients import BadAnswer, ServiceUnavailable
from {{ cookiecutter.package_name }}.clients.socks5 import SOCKS5Client, Socks5Settings
from {{ cookiecutter.package_name }}.settings import SettingsError
from {{ cookiecutter.package_name }}.web import ApiError

from .fixtures_socks5 import CONNECTS, PROXY_SOURCE, SEEN, start_microsocks, stop
from .support import AppTestCase, ProxiedAppTestCase, body, closed_port, started


def settings(**changes: Any) -> Socks5Settings:
    """The session's proxy and upstream (fixtures_socks5.py), with short timeouts."""
    defaults = Socks5Settings.from_env(os.environ)
    return dataclasses.replace(defaults, connect_timeout=1.0, timeout=2.0, **changes)


@dataclasses.dataclass
class Failure:
    error: ApiError
    took: float
    health: str  # the proxy's, right after


def fetch_error(client: SOCKS5Client, path: str) -> Failure:
    """What `client.get(path)` raises, the client started for it."""

    async def scenario() -> Failure:
        async with started(client):
            begun = time.monotonic()
            with pytest.raises(ApiError) as raised:
                await client.get(path)
            return Failure(raised.value, time.monotonic() - begun, client.health())

    return asyncio.run(scenario())


def test_bad_settings_are_refused_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="SOCKS5_URL must be a socks5://"):
        Socks5Settings.from_env({"SOCKS5_URL": "http://127.0.0.1:1080"})
    with pytest.raises(SettingsError, match="SOCKS5_URL has a bad port"):
        Socks5Settings.from_env({"SOCKS5_URL": "socks5://127.0.0.1:99999"})
    with pytest.raises(SettingsError, match="SOCKS5_UPSTREAM_URL must be an http"):
        Socks5Settings.from_env({"SOCKS5_UPSTREAM_URL": "file:///etc/passwd"})
    with pytest.raises(SettingsError, match="SOCKS5_TIMEOUT must be a number"):
        Socks5Settings.from_env({"SOCKS5_TIMEOUT": "soon"})
    parsed = Socks5Settings.from_env({"SOCKS5_URL": "socks5h://a%3Ab:p%40ss@proxy:1081"})
    assert (parsed.username, parsed.password) == ("a:b", "p@ss")


def test_the_proxy_resolves_the_upstream_name_and_refusing_it_is_a_502() -> None:
    """A name that cannot resolve here reaches the proxy as a name (socks5h)."""
    upstream = "http://upstream.invalid:8080"
    failed = fetch_error(SOCKS5Client(settings(url=os.environ["SPY_URL"], upstream=upstream)), "x")
    assert (failed.error.status_code, failed.error.message) == (
        502,
        "SOCKS5 proxy answered badly: no way through to the upstream:"
        " cannot complete SOCKS5 connection to upstream.invalid. (2)",
    )
    assert failed.took < 1
    # CONNECT, a domain name (3), its length, the name, the port: resolved by the proxy.
    name = b"upstream.invalid"
    assert b"\x05\x01\x00\x03" + bytes([len(name)]) + name + (8080).to_bytes(2) in CONNECTS


def test_an_upstream_the_proxy_cannot_reach_is_a_502_and_the_proxy_stays_up() -> None:
    upstream = f"http://127.0.0.1:{closed_port()}"
    failed = fetch_error(SOCKS5Client(settings(upstream=upstream)), "whoami")
    assert failed.error.status_code == 502
    assert failed.error.message.startswith(
        "SOCKS5 proxy answered badly: no way through to the upstream"
    )
    assert failed.health == "up"


def test_a_server_that_is_not_a_socks5_proxy_is_a_fast_502_and_down() -> None:
    failed = fetch_error(SOCKS5Client(settings(url=os.environ["NOT_SOCKS5_URL"])), "whoami")
    assert isinstance(failed.error, BadAnswer)
    assert failed.error.message == (
        "SOCKS5 proxy answered badly: it is not a SOCKS5 proxy (it answered b'HT')"
    )
    assert failed.took < 0.5  # known from the health check: no request was tried
    assert failed.health == "down"


def test_the_proxy_down_is_a_fast_503_naming_it() -> None:
    url = f"socks5://127.0.0.1:{closed_port()}"
    failed = fetch_error(SOCKS5Client(settings(url=url)), "whoami")
    assert isinstance(failed.error, ServiceUnavailable)
    assert failed.error.message.startswith("SOCKS5 proxy unavailable:")
    assert failed.took < 0.5
    assert failed.health == "down"


def test_a_login_is_sent_and_a_wrong_one_is_a_502() -> None:
    url, process = start_microsocks("-u", "tornado", "-P", "p@ss:word")
    port = url.rpartition(":")[2]

    async def scenario(password: str) -> Any:
        client = SOCKS5Client(settings(url=f"socks5://tornado:{password}@127.0.0.1:{port}"))
        async with started(client):
            assert isinstance(client, SOCKS5Client)
            try:
                return body(await client.get("whoami"))
            except ApiError as error:
                return error.status_code, error.message

    try:
        assert asyncio.run(scenario("p%40ss%3Aword"))["client"] == PROXY_SOURCE
        assert asyncio.run(scenario("wrong")) == (
            502,
            "SOCKS5 proxy answered badly: it refused the username and password of SOCKS5_URL",
        )
    finally:
        stop(process)


def test_no_proxy_in_the_environment_does_not_bypass_the_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setenv("no_proxy", "*")

    async def scenario() -> Any:
        async with started(SOCKS5Client(settings())) as client:
            assert isinstance(client, SOCKS5Client)
            return body(await client.get("whoami"))

    assert asyncio.run(scenario())["client"] == PROXY_SOURCE


def test_an_answer_over_the_limit_is_a_502() -> None:
    failed = fetch_error(SOCKS5Client(settings(max_bytes=1_000_000)), "big")
    assert (failed.error.status_code, failed.error.message) == (
        502,
        "the upstream behind the SOCKS5 proxy answered badly: an answer over 1000000 bytes",
    )


class ProxiedTest(AppTestCase):
    """/proxied through the session's microsocks, with a 2 s SOCKS5_TIMEOUT."""

    def get_app(self) -> ServiceApp:
        env = {**os.environ, "SOCKS5_TIMEOUT": "2", "SOCKS5_CONNECT_TIMEOUT": "1"}
        self.app = make_app(self.settings(), env=env)
        return self.app

    def setUp(self) -> None:
        super().setUp()
        self.io_loop.run_sync(self.until_up, timeout=30)

    @gen_test(timeout=30)
    async def test_a_path_is_fetched_through_the_proxy(self) -> None:
        response = await self.get("/proxied/whoami")
        assert response.code == 200
        answer = body(response)
        assert (answer["path"], answer["status"]) == ("/whoami", 200)
        assert answer["content_type"].startswith("application/json")
        # The upstream saw the proxy's address, not ours (127.0.0.1).
        assert f'"client": "{PROXY_SOURCE}"' in answer["preview"]

    @gen_test(timeout=30)
    async def test_the_upstream_s_404_is_a_404_and_its_500_a_502(self) -> None:
        missing = await self.get("/proxied/no/such/page")
        assert (missing.code, body(missing)["error"]) == (
            404,
            "the upstream has nothing at /no/such/page",
        )
        failed = await self.get("/proxied/status/500")
        assert (failed.code, body(failed)["error"]) == (
            502,
            "the upstream behind the SOCKS5 proxy answered badly: status 500",
        )

    @gen_test(timeout=30)
    async def test_a_slow_upstream_is_a_504(self) -> None:
        begun = time.monotonic()
        response = await self.get("/proxied/slow")
        took = time.monotonic() - begun
        assert (response.code, body(response)["error"]) == (
            504,
            "the upstream behind the SOCKS5 proxy did not answer within 2 s",
        )
        assert 1.5 < took < 6

    @gen_test(timeout=30)
    async def test_no_path_leaves_the_upstream(self) -> None:
        asked = len(SEEN)
        for path in [
            "..",
            "a/../../b",
            "%2e%2e/b",
            "./whoami",
            "/evil.example/x",
            "http://evil.example/x",
            "http:%2F%2Fevil.example",
            "a%00b",
            "a%20b",
            "@evil.example",
        ]:
            response = await self.get(f"/proxied/{path}")
            assert response.code == 400, path
            assert "path" in body(response)["error"], path
        too_long = await self.get("/proxied/" + "a" * 1025)
        assert (too_long.code, body(too_long)["error"]) == (
            400,
            "the path is over 1024 characters",
        )
        assert SEEN[asked:] == []  # none of them reached the upstream


class ProxiedOutageTest(ProxiedAppTestCase):
    """The proxy stops: a fast 503 naming it; it comes back: answers again."""

    def proxied_setting(self) -> tuple[str, str]:
        return "SOCKS5_URL", os.environ["SOCKS5_URL"]

    @gen_test(timeout=30)
    async def test_a_stopped_proxy_is_a_fast_503_and_it_recovers(self) -> None:
        assert (await self.get("/proxied/whoami")).code == 200
        self.proxy.cut()
        first = await self.get("/proxied/whoami")  # finds out: nothing answers
        assert first.code == 503
        assert body(first)["error"].startswith("SOCKS5 proxy unavailable: ")
        begun = time.monotonic()
        second = await self.get("/proxied/whoami")  # knows
        assert time.monotonic() - begun < 0.5
        assert (second.code, second.headers["Retry-After"]) == (503, "5")
        health = await self.get("/health")
        assert (health.code, body(health)["checks"]["socks5"]) == (503, "down")
        self.proxy.restore()
        for _ in range(50):  # the monitor looks again every second
            if body(await self.get("/health"))["checks"]["socks5"] == "up":
                break
            await asyncio.sleep(0.1)
        assert (await self.get("/proxied/whoami")).code == 200
