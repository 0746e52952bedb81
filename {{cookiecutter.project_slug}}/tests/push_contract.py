{%- set broker = "redis" in cookiecutter.__services.split(",") or "rabbitmq" in cookiecutter.__services.split(",") -%}
"""What every way to push passes: each test_<way>.py says how a client subscribes."""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any, Protocol

import pytest
import tornado.httpserver
import tornado.testing
from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.app import ServiceApp, make_app

from .support import AppTestCase, body{{ ", dead_brokers" if broker }}

CROWD = 1000  # subscribers that one notify must reach
# With a broker among the services, a notify reaches the subscribers of every process.
ACROSS_PROCESSES = {{ broker }}


class Subscriber(Protocol):
    """A client subscribed to a channel, as a real client library connects."""

    async def next_event(self, timeout: float = 10) -> dict[str, Any]:
        """The next event received: {"channel", "id", "message"}."""

    async def close(self) -> None:
        """Disconnect, as a client that goes away does."""


class PushTestCase(AppTestCase):
    """Serves the app; subclasses implement `subscribe` with their client."""

    def push_env(self) -> dict[str, str]:
        """Settings of the app under test, over the environment's."""
        return {}

    def get_app(self) -> ServiceApp:
        self.app = make_app(self.settings(), env={**os.environ, **self.push_env()})
        return self.app

    async def subscribe(self, channel: str, base_url: str | None = None) -> Subscriber:
        raise NotImplementedError

    async def notify(self, channel: str, message: dict[str, Any], base_url: str = "") -> str:
        """POST /notify/<channel>; the id of the event sent."""
        url = f"{base_url}/notify/{channel}" if base_url else self.get_url(f"/notify/{channel}")
        response = await self.http_client.fetch(url, method="POST", body=json.dumps(message))
        assert response.code == 202
        event_id: str = body(response)["id"]
        return event_id

    async def subscribers(self, base_url: str = "") -> int:
        """The push clients connected, as /health counts them."""
        url = f"{base_url}/health" if base_url else self.get_url("/health")
        response = await self.http_client.fetch(url, raise_error=False)
        count: int = body(response)["subscribers"]
        return count

    async def until_subscribers(self, count: int, base_url: str = "", timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while (now := await self.subscribers(base_url)) != count:
            assert time.monotonic() < deadline, f"{now} subscribers, expected {count}"
            await asyncio.sleep(0.05)


class PushContract(PushTestCase):
    """The tests every way to push passes (a mixin: subclassed with `subscribe`)."""

    @gen_test(timeout=30)
    async def test_a_notify_reaches_a_subscriber(self) -> None:
        subscriber = await self.subscribe("news")
        try:
            await self.until_subscribers(1)
            event_id = await self.notify("news", {"headline": "hello"})
            event = await subscriber.next_event()
            assert event == {"channel": "news", "id": event_id, "message": {"headline": "hello"}}
        finally:
            await subscriber.close()

    @gen_test(timeout=30)
    async def test_events_come_in_the_order_notified_and_only_from_their_channel(self) -> None:
        subscriber = await self.subscribe("ordered")
        try:
            await self.until_subscribers(1)
            await self.notify("elsewhere", {"n": -1})
            ids = [await self.notify("ordered", {"n": n}) for n in range(20)]
            received = [await subscriber.next_event() for _ in range(20)]
            assert [event["id"] for event in received] == ids
            assert [event["message"] for event in received] == [{"n": n} for n in range(20)]
        finally:
            await subscriber.close()

    @gen_test(timeout=30)
    async def test_a_client_that_leaves_is_released(self) -> None:
        """The counter in /health goes back down: nothing is held for a client that left."""
        subscriber = await self.subscribe("leaving")
        await self.until_subscribers(1)
        await subscriber.close()
        await self.until_subscribers(0, timeout=10)
        await self.notify("leaving", {"to": "nobody"})  # nothing is left to deliver it to

    @gen_test(timeout=180)
    async def test_one_notify_reaches_1000_subscribers_and_health_answers_meanwhile(self) -> None:
        crowd = await asyncio.gather(*(self.subscribe("crowd") for _ in range(CROWD)))
        try:
            await self.until_subscribers(CROWD, timeout=60)
            event_id = await self.notify("crowd", {"to": "everyone"})
            receiving = asyncio.gather(*(subscriber.next_event(60) for subscriber in crowd))
            started = time.monotonic()
            health = await self.get("/health")
            health_took = time.monotonic() - started
            events = await receiving
            assert {event["id"] for event in events} == {event_id}
            # It answers; "degraded" (503) when a service's ping, on this loop busy with
            # the test's own 1,000 clients, timed out: what /health should then say.
            assert health.code in {200, 503}
            assert health_took < 5, f"/health took {health_took:.2f} s during the fan-out"
        finally:
            await asyncio.gather(*(subscriber.close() for subscriber in crowd))
        await self.until_subscribers(0, timeout=60)

    @gen_test(timeout=30)
    async def test_the_live_page_and_its_scripts_are_served(self) -> None:
        page = await self.get("/live/")
        assert page.code == 200
        assert page.headers["Content-Type"].startswith("text/html")
        csp = page.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp
        for script in ("live.js", "{{ cookiecutter.push }}.js"):
            assert f'src="{script}"'.encode() in page.body
            assert (await self.get(f"/live/{script}")).code == 200
        redirect = await self.get("/live", follow_redirects=False)
        assert (redirect.code, redirect.headers["Location"]) == (301, "/live/")


class PushAcrossProcessesContract(PushTestCase):
    """Another instance of the app stands for another serving process."""

    @gen_test(timeout=60)
    async def test_a_notify_reaches_other_processes_only_through_a_broker(self) -> None:
        other = make_app(self.settings())
        await other.start()
        server = tornado.httpserver.HTTPServer(other)
        sock, port = tornado.testing.bind_unused_port()
        server.add_socket(sock)
        elsewhere = f"http://127.0.0.1:{port}"
        try:
            subscriber = await self.subscribe("shared", elsewhere)
            try:
                await self.until_subscribers(1, elsewhere)
                event_id = await self.notify("shared", {"from": "the first process"})
                if ACROSS_PROCESSES:
                    event = await subscriber.next_event()
                    assert event["id"] == event_id
                    assert event["message"] == {"from": "the first process"}
                else:  # without a broker, each process's channels are its own
                    with pytest.raises(TimeoutError):
                        await subscriber.next_event(timeout=0.5)
            finally:
                await subscriber.close()
        finally:
            server.stop()
            await other.close()
{%- if broker %}


class PushBrokerDownContract(PushTestCase):
    """Nothing listens where the broker should be: subscribing is refused with a 503."""

    def get_app(self) -> ServiceApp:
        self.app = make_app(self.settings(), env={**dead_brokers(), **self.push_env()})
        return self.app

    async def refused(self, channel: str) -> tuple[int, str]:
        """What a client sees when it subscribes now: the status and the error."""
        raise NotImplementedError

    @gen_test(timeout=30)
    async def test_subscribing_while_the_broker_is_down_is_a_503_naming_it(self) -> None:
        status, error = await self.refused("news")
        labels = {client.label for client in self.app.clients}
        assert status == 503
        assert any(error.startswith(f"{label} unavailable:") for label in labels), error
{%- endif %}
