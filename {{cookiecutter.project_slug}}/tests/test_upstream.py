"""What only the HTTP-upstream client does: timeouts and upstream failures."""

from __future__ import annotations

import os
import time

import pytest
from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.app import ServiceApp, make_app
from {{ cookiecutter.package_name }}.async_client.upstream import UpstreamSettings, UpstreamStrategy
from {{ cookiecutter.package_name }}.settings import Settings, SettingsError

from .support import AppTestCase, body, closed_port


def test_only_an_http_url_is_accepted_as_the_upstream() -> None:
    with pytest.raises(SettingsError, match="UPSTREAM_URL must be an http"):
        UpstreamSettings.from_env({"UPSTREAM_URL": "file:///etc/passwd"})
    assert UpstreamSettings.from_env({"UPSTREAM_URL": "http://up:80/"}).url == "http://up:80"


class UpstreamTest(AppTestCase):
    """The app with an upstream URL of the test's choosing (see fixtures_upstream.py)."""

    def upstream(self) -> str:
        return os.environ["UPSTREAM_URL"]

    def get_app(self) -> ServiceApp:
        settings = UpstreamSettings(url=self.upstream(), connect_timeout=1.0, timeout=0.5)
        self.app = make_app(Settings(sleep_max_seconds=5), UpstreamStrategy(settings))
        return self.app


class SlowUpstreamTest(UpstreamTest):
    def upstream(self) -> str:
        return os.environ["UPSTREAM_URL"] + "/slow"

    @gen_test(timeout=30)
    async def test_an_upstream_slower_than_its_timeout_is_a_504(self) -> None:
        started = time.monotonic()
        response = await self.get("/sleep?seconds=0.2")
        assert response.code == 504
        assert body(response)["error"].startswith("the upstream did not answer in time")
        assert time.monotonic() - started < 2  # 0.2 s asked + 0.5 s granted


class FailingUpstreamTest(UpstreamTest):
    def upstream(self) -> str:
        return os.environ["UPSTREAM_URL"] + "/status/500"

    @gen_test(timeout=30)
    async def test_an_upstream_error_is_a_502_with_its_status(self) -> None:
        response = await self.get("/sleep?seconds=0")
        assert response.code == 502
        assert body(response)["error"] == "the upstream answered 500"


class DownUpstreamTest(UpstreamTest):
    def upstream(self) -> str:
        return f"http://127.0.0.1:{closed_port()}"

    @gen_test(timeout=30)
    async def test_an_unreachable_upstream_is_a_fast_502(self) -> None:
        started = time.monotonic()
        response = await self.get("/sleep?seconds=1")
        assert response.code == 502
        assert body(response)["error"].startswith("the upstream is unreachable")
        assert time.monotonic() - started < 2
