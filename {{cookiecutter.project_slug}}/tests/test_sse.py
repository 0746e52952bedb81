"""Server-Sent Events: the push contract with an SSE reader, then what only SSE does."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from typing import Any

import pytest
from tornado.httpclient import HTTPRequest, HTTPResponse
from tornado.iostream import IOStream
from tornado.simple_httpclient import HTTPStreamClosedError, SimpleAsyncHTTPClient
from tornado.tcpclient import TCPClient
from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.channels import Event, History

from . import push_contract
from .support import body

HEARTBEAT = 0.2


class HangingUp(TCPClient):
    """Tornado's TCP client, keeping the connection it opens so that a reader can hang up."""

    stream: IOStream | None = None

    async def connect(self, *args: Any, **kwargs: Any) -> IOStream:
        self.stream = await super().connect(*args, **kwargs)
        return self.stream


class SseReader:
    """Reads a stream as EventSource does, over AsyncHTTPClient's streaming_callback."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.ids: list[str] = []
        self.comments = 0
        self.retry_ms = 0
        self.pending = b""
        self.headers: dict[str, str] = {}
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.client = SimpleAsyncHTTPClient(force_instance=True)
        self.connection = self.client.tcp_client = HangingUp()
        request = HTTPRequest(
            url,
            headers=headers,
            header_callback=self.header_line,
            streaming_callback=self.received,
            request_timeout=3600,
        )
        self.response = asyncio.ensure_future(self.client.fetch(request, raise_error=False))
        self.response.add_done_callback(self.ended_early)

    def ended_early(self, _: object) -> None:
        """Refused or failed before any chunk: no longer waited for as opening."""
        if not self.opened.done():
            self.opened.set_result(None)

    def header_line(self, line: str) -> None:
        name, colon, value = line.partition(":")
        if colon:
            self.headers[name.strip().lower()] = value.strip()

    def received(self, chunk: bytes) -> None:
        if not self.opened.done():
            self.opened.set_result(None)
        self.pending += chunk
        while b"\n\n" in self.pending:
            block, self.pending = self.pending.split(b"\n\n", 1)
            self.parse(block.decode())

    def parse(self, block: str) -> None:
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                self.comments += 1
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        if "retry" in fields:
            self.retry_ms = int(fields["retry"])
        if "data" in fields:
            self.ids.append(fields.get("id", ""))
            self.events.put_nowait(json.loads(fields["data"]))

    async def next_event(self, timeout: float = 10) -> dict[str, Any]:
        return await asyncio.wait_for(self.events.get(), timeout)

    async def ended(self, timeout: float = 10) -> HTTPResponse:
        """The stream's response once the server has ended it."""
        return await asyncio.wait_for(self.response, timeout)

    async def close(self) -> None:
        """Hang up, as a browser closing the page does."""
        if self.connection.stream is not None:
            self.connection.stream.close()
        with contextlib.suppress(HTTPStreamClosedError):
            await self.response
        self.client.close()


class SseTestCase(push_contract.PushTestCase):
    def push_env(self) -> dict[str, str]:
        return {"PUSH_HEARTBEAT_SECONDS": str(HEARTBEAT)}

    async def reader(
        self, channel: str, base_url: str | None = None, headers: dict[str, str] | None = None
    ) -> SseReader:
        url = f"{base_url or self.get_url('')}/events/{channel}"
        reader = SseReader(url, headers)
        await asyncio.wait_for(reader.opened, 30)
        return reader

    async def subscribe(self, channel: str, base_url: str | None = None) -> SseReader:
        return await self.reader(channel, base_url)


class SseContractTest(SseTestCase, push_contract.PushContract):
    """The push contract, with an SSE reader."""


class SseAcrossProcessesTest(SseTestCase, push_contract.PushAcrossProcessesContract):
    """A notify in one process and an SSE reader of another."""
{%- if "redis" in cookiecutter.__services.split(",") or "rabbitmq" in cookiecutter.__services.split(",") %}


class SseBrokerDownTest(SseTestCase, push_contract.PushBrokerDownContract):
    async def refused(self, channel: str) -> tuple[int, str]:
        response = await self.get(f"/events/{channel}")
        assert response.headers["Retry-After"] == "5"
        return response.code, body(response)["error"]
{%- endif %}


class SseStreamTest(SseTestCase):
    def push_env(self) -> dict[str, str]:
        return {
            **super().push_env(),
            "PUSH_ALLOWED_ORIGINS": "https://app.example.com",
            "PUSH_STREAM_MAX_SECONDS": "1.5",
        }

    @gen_test(timeout=30)
    async def test_a_stream_says_how_to_reconnect_and_keeps_itself_alive(self) -> None:
        reader = await self.reader("quiet")
        try:
            await asyncio.sleep(5 * HEARTBEAT)
            assert reader.retry_ms == 2000
            assert reader.comments >= 2  # ": keep-alive" while nothing came
            event_id = await self.notify("quiet", {"at": "last"})
            assert (await reader.next_event())["id"] == event_id
            assert reader.ids == [event_id]  # the `id:` field EventSource remembers
        finally:
            await reader.close()

    @gen_test(timeout=30)
    async def test_the_stream_is_an_event_stream_and_ends_after_its_time(self) -> None:
        started = time.monotonic()
        reader = await self.reader("timed")
        response = await reader.ended()
        assert response.code == 200
        assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert response.headers["Cache-Control"] == "no-cache"
        assert 1.5 <= time.monotonic() - started < 10
        assert await self.subscribers() == 0

    @gen_test(timeout=30)
    async def test_last_event_id_resumes_after_that_event(self) -> None:
        ids = [await self.notify("resumed", {"n": n}) for n in range(4)]
        reader = await self.reader("resumed", headers={"Last-Event-ID": ids[1]})
        try:
            missed = [await reader.next_event() for _ in range(2)]
            assert [event["id"] for event in missed] == ids[2:]
            live = await self.notify("resumed", {"n": 4})
            assert (await reader.next_event())["id"] == live
            with pytest.raises(TimeoutError):  # nothing twice
                await reader.next_event(timeout=3 * HEARTBEAT)
        finally:
            await reader.close()

    @gen_test(timeout=30)
    async def test_an_id_no_longer_kept_resumes_by_its_time(self) -> None:
        """An id from before the replay buffer: what is newer is sent, nothing older."""
        older = Event.new("aged", {}).id
        ids = [await self.notify("aged", {"n": n}) for n in range(2)]
        reader = await self.reader("aged", headers={"Last-Event-ID": older})
        try:
            assert [(await reader.next_event())["id"] for _ in range(2)] == ids
        finally:
            await reader.close()

    @gen_test(timeout=30)
    async def test_pages_of_other_origins_are_refused_unless_allowed(self) -> None:
        refused = await self.get("/events/news", headers={"Origin": "https://evil.example"})
        assert refused.code == 403
        assert body(refused)["error"] == (
            "origin 'https://evil.example' is not allowed (PUSH_ALLOWED_ORIGINS)"
        )
        for origin in ("https://app.example.com", self.get_url("").rstrip("/")):
            reader = await self.reader("news", headers={"Origin": origin})
            try:
                assert reader.headers["access-control-allow-origin"] == origin
                event_id = await self.notify("news", {"for": origin})
                assert (await reader.next_event())["id"] == event_id
            finally:
                await reader.close()

    @gen_test(timeout=30)
    async def test_bad_requests_get_json_errors(self) -> None:
        cases = [
            (await self.get("/events/bad%20name"), 400, "a channel name is 1 to 64 of"),
            (
                await self.get("/events/ok", headers={"Last-Event-ID": "not-an-id"}),
                400,
                "Last-Event-ID is not an id this service sent",
            ),
        ]
        for response, status, message in cases:
            assert response.code == status
            assert body(response)["error"].startswith(message)

    @gen_test(timeout=30)
    async def test_shutdown_ends_the_streams_at_once(self) -> None:
        reader = await self.reader("closing")
        await self.until_subscribers(1)
        self.app.closing()  # what SIGTERM starts with
        response = await reader.ended(timeout=5)
        assert response.code == 200
        assert await self.subscribers() == 0


class SlowReaderTest(SseTestCase):
    """A client that stops reading is disconnected: nothing is buffered for it for ever."""

    def push_env(self) -> dict[str, str]:
        return {**super().push_env(), "PUSH_QUEUE_LIMIT": "5"}

    @gen_test(timeout=120)
    async def test_a_client_that_stops_reading_is_disconnected(self) -> None:
        stalled = socket.create_connection(("127.0.0.1", self.get_http_port()))
        try:
            stalled.sendall(b"GET /events/flood HTTP/1.1\r\nHost: test\r\n\r\n")
            await self.until_subscribers(1)
            big = {"filler": "x" * 60_000}
            for _ in range(600):  # enough to fill both sides' socket buffers
                await self.notify("flood", big)
                if await self.subscribers() == 0:
                    break
            await self.until_subscribers(0, timeout=30)
        finally:
            stalled.close()


def test_history_keeps_the_latest_events_within_its_bytes() -> None:
    history = History(max_bytes=1000)
    events = [Event.new(f"channel-{n % 2}", {"n": n, "pad": "x" * 100}) for n in range(20)]
    for event in events:
        history.add(event)
    assert history.size <= 1000
    kept = [event for event in events if event in history.order]
    assert kept == events[-len(kept) :]  # the newest, in order
    assert history.since("channel-0", events[-2].id) == []
    assert history.since("channel-1", events[-3].id) == [events[-1]]
