"""The HTTP upstream client against a real local upstream: answers, timeouts, failures."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from {{ cookiecutter.package_name }}.clients.http import HttpClient, HttpSettings
from {{ cookiecutter.package_name }}.settings import SettingsError
from {{ cookiecutter.package_name }}.telemetry.logs import REQUEST_ID
from {{ cookiecutter.package_name }}.web import ApiError

from .fixtures_http import FOLLOWED, REQUEST_IDS
from .support import closed_port, started, time_a_sleep


def test_only_an_http_url_is_accepted_as_the_upstream() -> None:
    with pytest.raises(SettingsError, match="HTTP_UPSTREAM_URL must be an http"):
        HttpSettings.from_env({"HTTP_UPSTREAM_URL": "file:///etc/passwd"})
    assert HttpSettings.from_env({"HTTP_UPSTREAM_URL": "http://up:80/"}).url == "http://up:80"


def upstream_client(url: str) -> HttpClient:
    """A client of the test upstream (fixtures_http.py) under `url`, with short timeouts."""
    settings = HttpSettings(url=url, connect_timeout=1.0, timeout=0.5, max_bytes=1_000_000)
    return HttpClient(settings)


async def sleep_error(url: str, seconds: float) -> tuple[ApiError, float]:
    """What `sleep` raises against `url`, and how long it took."""
    async with started(upstream_client(url)) as client:
        assert isinstance(client, HttpClient)
        begun = time.monotonic()
        with pytest.raises(ApiError) as raised:
            await client.sleep(seconds)
        return raised.value, time.monotonic() - begun


def test_the_upstream_times_the_sleep() -> None:
    assert 0.3 <= time_a_sleep(upstream_client(os.environ["HTTP_UPSTREAM_URL"]), 0.3) < 2


def test_an_upstream_slower_than_its_timeout_is_a_504() -> None:
    error, took = asyncio.run(sleep_error(os.environ["HTTP_UPSTREAM_URL"] + "/slow", 0.2))
    assert error.status_code == 504
    assert error.message.startswith("the upstream did not answer in time")
    assert took < 2  # 0.2 s asked + 0.5 s granted


def test_an_upstream_error_is_a_502_with_its_status() -> None:
    error, _ = asyncio.run(sleep_error(os.environ["HTTP_UPSTREAM_URL"] + "/status/500", 0))
    assert error.status_code == 502
    assert error.message == "the upstream answered 500"


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("/closing", "the upstream answered badly"),
        ("/huge", "the upstream answered badly"),
        ("/redirect", "the upstream answered 302"),
    ],
)
def test_an_upstream_that_misbehaves_is_a_502_not_a_504(prefix: str, message: str) -> None:
    error, took = asyncio.run(sleep_error(os.environ["HTTP_UPSTREAM_URL"] + prefix, 0))
    assert (error.status_code, error.message[: len(message)]) == (502, message)
    assert took < 2
    assert FOLLOWED == []  # the redirect led nowhere


def test_an_answer_that_is_not_http_is_a_502() -> None:
    error, _ = asyncio.run(sleep_error(os.environ["GARBAGE_URL"], 0))
    assert error.status_code == 502
    assert error.message.startswith("the upstream answered badly")


def test_an_unreachable_upstream_is_a_fast_502_and_health_says_down() -> None:
    async def scenario() -> tuple[ApiError, float, str]:
        client = upstream_client(f"http://127.0.0.1:{closed_port()}")
        async with started(client):
            begun = time.monotonic()
            with pytest.raises(ApiError) as raised:
                await client.sleep(1)
            return raised.value, time.monotonic() - begun, client.health()

    error, took, health = asyncio.run(scenario())
    assert error.status_code == 502
    assert error.message.startswith("the upstream is unreachable")
    assert took < 2
    assert health == "down"


def test_the_request_id_goes_on_to_the_upstream() -> None:
    async def scenario() -> None:
        async with started(upstream_client(os.environ["HTTP_UPSTREAM_URL"])) as client:
            assert isinstance(client, HttpClient)
            REQUEST_ID.set("follow-me-42")  # as the request's own task has it
            await client.sleep(0)

    asyncio.run(scenario())
    assert REQUEST_IDS[-1] == "follow-me-42"
