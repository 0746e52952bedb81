"""What every RPC client does, against its real test endpoint: each test file says which one.

Settings refused naming the variable; a call's result, and a fault's code and
text; a URL that is no endpoint of the protocol is down, saying why; an answer
over the byte limit is a 502. And what the example /<name>/sum answers: the
sum; a fault, a slow answer, a wrong answer and a result that is no number as
502, 504, 502 and 502; the service gone: fast 503s, then it comes back. The
test endpoints (fixtures_<name>.py) answer the same paths: /faulty, /slow,
/text, and one that does not speak the protocol.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from typing import Any, ClassVar
from urllib.parse import urljoin

import pytest
from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.app import ServiceApp, make_app
from {{ cookiecutter.package_name }}.clients import BadAnswer, ServiceUnavailable
from {{ cookiecutter.package_name }}.clients.rpc import RPCClient, RPCFault, RPCSettings
from {{ cookiecutter.package_name }}.settings import SettingsError

from .support import AppTestCase, ProxiedAppTestCase, body, started


async def until_up(client: RPCClient) -> None:
    """Until the monitor has seen the service answer (at most 20 s): the app's other
    clients, starting beside it on the same loop, may hold it past a short timeout."""
    for _ in range(400):
        if client.available:
            return
        await asyncio.sleep(0.05)


class RPC:
    """The protocol under test, for the contract: a subclass fills these in."""

    client_class: ClassVar[type[RPCClient]]
    settings_class: ClassVar[type[RPCSettings]]
    fault_class: ClassVar[type[RPCFault]]
    rpc_path: ClassVar[str]  # where the test endpoint answers as asked
    # `fail`'s fault under "fault", and how its message ends.
    failed: ClassVar[dict[str, Any]]
    failed_message: ClassVar[str]
    # Why a URL that is no endpoint of the protocol (an HTTP 404) is down.
    not_found_reason: ClassVar[str]
    # The whole 502 of /<name>/sum for /faulty's `add`.
    broken_answer: ClassVar[dict[str, Any]]
    # The error of /<name>/sum for an HTML page (under `path`), as a regular expression.
    not_rpc_error: ClassVar[str]

    async def add(self, client: Any, a: Any, b: Any) -> Any:
        """`add` called with a and b, as the protocol passes params."""
        raise NotImplementedError

    @classmethod
    def url_variable(cls) -> str:
        return cls.settings_class.variable("URL")

    @classmethod
    def endpoint(cls, path: str) -> str:
        """The test endpoint's URL under `path`: `rpc_path`, or a misbehaving one."""
        return urljoin(os.environ[cls.url_variable()], path)

    def client_of(self, path: str, **settings: Any) -> RPCClient:
        timeouts: dict[str, Any] = {"connect_timeout": 2, "timeout": 2, **settings}
        return self.client_class(self.settings_class(url=self.endpoint(path), **timeouts))

    def sum_path(self) -> str:
        return f"/{self.client_class.name}/sum"


class ClientContract(RPC):
    @pytest.mark.parametrize(
        ("setting", "value", "message"),
        [
            ("URL", "file:///etc/passwd", "_URL must be an http(s):// URL"),
            ("URL", "ftp://example.org/RPC2", "_URL must be an http(s):// URL"),
            ("TIMEOUT", "soon", "_TIMEOUT must be a number"),
            ("CONNECT_TIMEOUT", "0", "_CONNECT_TIMEOUT must be between 0.05 and 60.0"),
            ("MAX_CLIENTS", "0", "_MAX_CLIENTS must be between 1 and 10000"),
            ("MAX_BYTES", "lots", "_MAX_BYTES must be a number"),
        ],
    )
    def test_bad_settings_are_refused_naming_the_variable(
        self, setting: str, value: str, message: str
    ) -> None:
        with pytest.raises(SettingsError, match=re.escape(self.settings_class.prefix + message)):
            self.settings_class.from_env({self.settings_class.variable(setting): value})

    def test_a_call_gets_its_result_and_a_fault_its_code_and_text(self) -> None:
        async def scenario() -> None:
            async with started(self.client_of(self.rpc_path)) as client:
                assert isinstance(client, self.client_class)
                assert await self.add(client, 2, 3) == 5
                with pytest.raises(self.fault_class) as raised:
                    await client.call("fail")  # type: ignore[attr-defined]  # each its own
                assert raised.value.status_code == 502
                assert raised.value.extra == {"fault": self.failed}
                assert raised.value.message.endswith(self.failed_message)

        asyncio.run(scenario())

    def test_a_url_that_is_no_endpoint_is_down_saying_why(self) -> None:
        async def scenario() -> None:
            async with started(self.client_of("/no-such-path")) as client:
                assert isinstance(client, self.client_class)
                assert client.health() == "down"
                begun = time.monotonic()
                with pytest.raises(ServiceUnavailable) as raised:
                    await self.add(client, 2, 3)
                assert time.monotonic() - begun < 0.1  # known to be down: no call made
                assert raised.value.message == (
                    f"{client.label} unavailable: answered badly: {self.not_found_reason}"
                )

        asyncio.run(scenario())

    def test_an_answer_over_the_byte_limit_is_a_502(self) -> None:
        async def scenario() -> None:
            async with started(self.client_of(self.rpc_path, max_bytes=1024)) as client:
                assert isinstance(client, self.client_class)
                setting = self.settings_class.variable("MAX_BYTES")
                with pytest.raises(BadAnswer, match=rf"no whole HTTP answer .* {setting}"):
                    await self.add(client, "x" * 2000, "y")  # strings add up, too

        asyncio.run(scenario())


class RemoteSumCase(RPC, AppTestCase):
    """The app with <NAME>_URL at `path` of the test endpoint, and <NAME>_TIMEOUT `timeout`."""

    path: ClassVar[str | None] = None  # `rpc_path`
    timeout: ClassVar[str] = "5"

    def get_app(self) -> ServiceApp:
        env = {
            **os.environ,
            self.url_variable(): self.endpoint(self.path or self.rpc_path),
            self.settings_class.variable("TIMEOUT"): self.timeout,
        }
        self.app = make_app(self.settings(), env=env)
        return self.app

    def setUp(self) -> None:
        super().setUp()
        self.io_loop.run_sync(lambda: until_up(self.app.clients.get(self.client_class)))


class SumContract(RemoteSumCase):
    @gen_test(timeout=30)
    async def test_two_numbers_are_added_remotely(self) -> None:
        response = await self.get(f"{self.sum_path()}?a=2&b=-3")
        assert (response.code, body(response)) == (200, {"sum": -1})
        response = await self.get(f"{self.sum_path()}?a=0.5&b=1e2")
        assert (response.code, body(response)) == (200, {"sum": 100.5})


class FaultySumContract(RemoteSumCase):
    path = "/faulty"

    @gen_test(timeout=30)
    async def test_a_fault_is_a_502_with_its_code_and_text(self) -> None:
        response = await self.get(f"{self.sum_path()}?a=2&b=3")
        assert (response.code, body(response)) == (502, self.broken_answer)


class SlowSumContract(RemoteSumCase):
    path = "/slow"
    timeout = "0.5"

    @gen_test(timeout=30)
    async def test_a_slow_answer_is_a_504_at_the_timeout(self) -> None:
        begun = time.monotonic()
        response = await self.get(f"{self.sum_path()}?a=2&b=3")
        assert 0.4 < time.monotonic() - begun < 5  # <NAME>_TIMEOUT: 0.5 s
        assert (response.code, body(response)["error"]) == (
            504,
            f"{self.client_class.label} did not answer within 0.5 s",
        )
        health = await self.get("/health")
        assert body(health)["checks"][self.client_class.name] == "up"  # slow is not down


class WrongAnswerSumContract(RemoteSumCase):
    """A subclass sets `path`: where the test endpoint's `add` answers an HTML page."""

    @gen_test(timeout=30)
    async def test_an_answer_of_another_protocol_is_a_502(self) -> None:
        response = await self.get(f"{self.sum_path()}?a=2&b=3")
        assert response.code == 502
        assert re.fullmatch(self.not_rpc_error, body(response)["error"])


class TextSumContract(RemoteSumCase):
    path = "/text"

    @gen_test(timeout=30)
    async def test_a_result_that_is_not_a_number_is_a_502(self) -> None:
        response = await self.get(f"{self.sum_path()}?a=2&b=3")
        assert (response.code, body(response)["error"]) == (
            502,
            f"{self.client_class.label} answered badly: add answered a str, not a number",
        )


class SumWithoutTheServiceContract(RPC, ProxiedAppTestCase):
    """The endpoint stops answering (a proxy cut): fast 503s, then it comes back."""

    def proxied_setting(self) -> tuple[str, str]:
        return self.url_variable(), os.environ[self.url_variable()]

    def setUp(self) -> None:
        super().setUp()
        self.io_loop.run_sync(lambda: until_up(self.app.clients.get(self.client_class)))

    @gen_test(timeout=30)
    async def test_a_stopped_service_is_a_fast_503_and_comes_back(self) -> None:
        name, label = self.client_class.name, self.client_class.label
        assert (await self.get(f"{self.sum_path()}?a=2&b=3")).code == 200
        self.proxy.cut()
        for _ in range(2):  # the first finds out (refused), the next knows
            begun = time.monotonic()
            response = await self.get(f"{self.sum_path()}?a=2&b=3")
            assert time.monotonic() - begun < 1
            assert response.code == 503
            assert body(response)["error"].startswith(f"{label} unavailable: ")
        health = await self.get("/health")
        assert (health.code, body(health)["checks"][name]) == (503, "down")
        self.proxy.restore()
        for _ in range(100):  # the monitor looks again every second
            if body(await self.get("/health"))["checks"][name] == "up":
                break
            await asyncio.sleep(0.1)
        response = await self.get(f"{self.sum_path()}?a=2&b=3")
        assert (response.code, body(response)) == (200, {"sum": 5})
