"""Test helpers shared by every strategy's tests."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPResponse
from tornado.testing import AsyncHTTPTestCase

from {{ cookiecutter.package_name }}.app import ServiceApp, make_app
from {{ cookiecutter.package_name }}.settings import Settings

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def service_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip outside CI when `name` is down (saying what to start); fail in CI."""
    if service_answers(host, port):
        return
    message = f"{name} is not answering on {host}:{port}: start it to run this test"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def closed_port() -> int:
    """A local port where nothing listens (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def body(response: HTTPResponse) -> Any:
    return json.loads(response.body)


class AppTestCase(AsyncHTTPTestCase):
    """Serves `make_app(settings)` on a real local port for each test."""

    def settings(self) -> Settings:
        return Settings(sleep_max_seconds=5.0, shutdown_timeout=1.0)

    def get_app(self) -> ServiceApp:
        self.app = make_app(self.settings())
        return self.app

    def setUp(self) -> None:
        super().setUp()
        self.io_loop.run_sync(self.app.start, timeout=30)

    def tearDown(self) -> None:
        self.io_loop.run_sync(self.app.close, timeout=30)
        super().tearDown()

    def get_http_client(self) -> AsyncHTTPClient:
        # The shared client queues past 10 requests; concurrency tests need more.
        return AsyncHTTPClient(force_instance=True, max_clients=1000)

    async def get(self, path: str, **kwargs: Any) -> HTTPResponse:
        kwargs.setdefault("raise_error", False)
        kwargs.setdefault("request_timeout", 30)
        return await self.http_client.fetch(self.get_url(path), **kwargs)

    async def timed_gather(self, *paths: str) -> tuple[float, list[HTTPResponse]]:
        started = time.monotonic()
        responses = await asyncio.gather(*(self.get(path) for path in paths))
        return time.monotonic() - started, list(responses)
