"""Long-polling: /wait is held until a notify on its channel, from this process or another."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from tornado.httpclient import HTTPResponse
from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.app import ServiceApp
from {{ cookiecutter.package_name }}.channels import Event, Hub
from {{ cookiecutter.package_name }}.long_poll import LongPoll

from .support import AppTestCase, body


def waiting(app: ServiceApp) -> int:
    """Requests held in /wait, as /health counts them."""
    return next(part for part in app.features if isinstance(part, LongPoll)).waiting


class LongPollTestCase(AppTestCase):
    async def notify(self, channel: str, message: Any, url: str | None = None) -> HTTPResponse:
        target = url or self.get_url(f"/notify/{channel}")
        return await self.http_client.fetch(
            target, method="POST", body=json.dumps(message), raise_error=False
        )

    async def until_waiting(self, app: ServiceApp, count: int, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds  # 200 requests' connections, on a busy machine
        while waiting(app) < count:
            assert time.monotonic() < deadline, f"{waiting(app)} waiting, expected {count}"
            await asyncio.sleep(0.02)


class LongPollTest(LongPollTestCase):
    @gen_test(timeout=30)
    async def test_a_notify_wakes_a_wait(self) -> None:
        waiting_request = asyncio.ensure_future(self.get("/wait/news?timeout=10"))
        await self.until_waiting(self.app, 1)
        assert body(await self.get("/health"))["waiting"] == 1
        sent = await self.notify("news", {"headline": "hello"})
        assert sent.code == 202
        event_id = body(sent)["id"]
        assert body(sent) == {"channel": "news", "id": event_id, "sent": True}
        response = await waiting_request
        assert response.code == 200
        expected = {"channel": "news", "id": event_id, "message": {"headline": "hello"}}
        assert body(response) == expected
        assert body(await self.get("/health"))["waiting"] == 0

    @gen_test(timeout=60)
    async def test_one_notify_wakes_200_waiters_and_the_loop_stays_free(self) -> None:
        requests = [asyncio.ensure_future(self.get("/wait/crowd?timeout=40")) for _ in range(200)]
        try:
            await self.until_waiting(self.app, 200)
            started = time.monotonic()
            health = await self.get("/health")
            assert health.code in (200, 503)  # 503: a Celery project's tests run no worker here
            # A loop held by the waiters would answer after their 40 s timeout; 2 s is
            # the margin a busy CI machine needs for /health's own checks.
            assert time.monotonic() - started < 2
            await self.notify("crowd", {"n": 1})
            responses = await asyncio.gather(*requests)
        finally:  # a failure above leaves no request behind to fail later, unseen
            for request in requests:
                request.cancel()
        assert [r.code for r in responses] == [200] * 200
        assert waiting(self.app) == 0

    @gen_test(timeout=30)
    async def test_no_message_before_the_timeout_is_a_204(self) -> None:
        started = time.monotonic()
        response = await self.get("/wait/quiet?timeout=0.3")
        assert response.code == 204
        assert 0.3 <= time.monotonic() - started < 2
        assert waiting(self.app) == 0

    @gen_test(timeout=30)
    async def test_bad_input_gets_json_errors(self) -> None:
        cases = [
            (await self.get("/wait/bad%20name"), 400, "a channel name is 1 to 64 of"),
            (await self.get("/wait/" + "x" * 65), 400, "a channel name is 1 to 64 of"),
            (await self.get("/wait/ok?timeout=abc"), 400, "'timeout' must be a number"),
            (await self.get("/wait/ok?timeout=0"), 400, "'timeout' must be more than 0"),
            (await self.get("/wait/ok?timeout=9999"), 400, "'timeout' must be more than 0"),
            (await self.notify("ok", [1, 2]), 400, "the message must be a JSON object"),
            (await self.notify("ok", {"big": "x" * 70_000}), 413, "the message is over 64 KiB"),
        ]
        deep = await self.http_client.fetch(
            self.get_url("/notify/ok"), method="POST", body="[" * 30_000, raise_error=False
        )
        cases.append((deep, 400, "the body is nested too deeply"))
        for response, status, message in cases:
            assert response.code == status, body(response)
            assert body(response)["error"].startswith(message)
        raw = await self.http_client.fetch(
            self.get_url("/notify/ok"), method="POST", body="{oops", raise_error=False
        )
        assert (raw.code, body(raw)["error"][:26]) == (400, "the body is not valid JSON")

    @gen_test(timeout=30)
    async def test_a_waiter_whose_client_leaves_is_dropped_at_once(self) -> None:
        leaving = asyncio.ensure_future(self.get("/wait/left?timeout=10", request_timeout=0.3))
        await self.until_waiting(self.app, 1)
        await asyncio.gather(leaving, return_exceptions=True)  # our client hangs up
        for _ in range(50):
            if waiting(self.app) == 0:
                break
            await asyncio.sleep(0.02)
        assert waiting(self.app) == 0


def test_a_subscriber_past_its_limit_is_lagging_and_told_once() -> None:
    async def scenario() -> None:
        hub = Hub()
        told: list[str] = []
        subscription = hub.subscribe("c", limit=2, on_lagging=lambda: told.append("lagging"))
        for n in range(5):
            hub.publish(Event.new("c", {"n": n}))
        assert subscription.lagging
        assert told == ["lagging"]
        assert [(await subscription.next()).message for _ in range(2)] == [{"n": 0}, {"n": 1}]
        subscription.close()
        assert hub.count() == 0

    asyncio.run(scenario())


def test_what_the_broker_brings_that_is_not_an_event_of_ours_is_ignored() -> None:
    hub = Hub()
    subscription = hub.subscribe("c", limit=10)
    valid_id = Event.new("c", {}).id
    foreign = [
        b"not json",
        b"[1, 2]",
        b'{"channel": "other", "id": "%s", "message": {}}' % valid_id.encode(),
        b'{"channel": "c", "id": "not-an-id", "message": {}}',
        b'{"channel": "c", "id": "%s", "message": [1]}' % valid_id.encode(),
    ]
    for data in foreign:
        hub.receive("c", data)
    assert not subscription.events
    event = Event.new("c", {"ok": True})
    hub.receive("c", event.text.encode())
    (received,) = subscription.events
    assert (received.id, received.message, received.text) == (event.id, {"ok": True}, event.text)
