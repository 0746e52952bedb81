"""WebSocket: the push contract with Tornado's client, then what only WebSocket does."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.testing import gen_test
from tornado.websocket import WebSocketClientConnection, websocket_connect

from . import push_contract
from .support import body

MESSAGE_LIMIT = 1024


class WebSocketReader:
    """A subscriber through Tornado's `websocket_connect`."""

    def __init__(self, connection: WebSocketClientConnection) -> None:
        self.connection = connection
        self.closed = False

    async def next_frame(self, timeout: float = 10) -> dict[str, Any] | None:
        """The next text frame as JSON; None once the socket is closed."""
        frame = await asyncio.wait_for(self.connection.read_message(), timeout)
        self.closed = frame is None
        return None if frame is None else json.loads(frame)

    async def next_event(self, timeout: float = 10) -> dict[str, Any]:
        frame = await self.next_frame(timeout)
        assert frame is not None, f"closed: {self.connection.close_code}"
        return frame

    async def send(self, message: Any) -> None:
        await self.connection.write_message(json.dumps(message))

    async def close(self) -> None:
        """Close (also after the server has: Tornado's client must be told)."""
        self.connection.close()
        while not self.closed:  # until the server's close frame: it has let go
            await self.next_frame()


class WebSocketTestCase(push_contract.PushTestCase):
    def push_env(self) -> dict[str, str]:
        return {
            "PUSH_ALLOWED_ORIGINS": "https://app.example.com",
            "PUSH_MAX_MESSAGE_BYTES": str(MESSAGE_LIMIT),
        }

    def ws_url(self, channel: str, base_url: str | None = None) -> str:
        base = (base_url or self.get_url("")).replace("http://", "ws://", 1).rstrip("/")
        return f"{base}/ws/{channel}"

    async def connect(
        self, channel: str, base_url: str | None = None, origin: str | None = None
    ) -> WebSocketReader:
        headers = {"Origin": origin} if origin else {}
        request = HTTPRequest(self.ws_url(channel, base_url), headers=headers)
        return WebSocketReader(await websocket_connect(request))

    async def subscribe(self, channel: str, base_url: str | None = None) -> WebSocketReader:
        return await self.connect(channel, base_url)


class WebSocketContractTest(WebSocketTestCase, push_contract.PushContract):
    """The push contract, with Tornado's WebSocket client."""


class WebSocketAcrossProcessesTest(WebSocketTestCase, push_contract.PushAcrossProcessesContract):
    """A notify in one process and a WebSocket of another."""
{%- if "redis" in cookiecutter.__services.split(",") or "rabbitmq" in cookiecutter.__services.split(",") %}


class WebSocketBrokerDownTest(WebSocketTestCase, push_contract.PushBrokerDownContract):
    async def refused(self, channel: str) -> tuple[int, str]:
        response = await self.get(f"/ws/{channel}", headers={"Upgrade": "websocket"})
        return response.code, body(response)["error"]
{%- endif %}


class WebSocketTest(WebSocketTestCase):
    @gen_test(timeout=30)
    async def test_a_frame_sent_is_notified_to_every_subscriber(self) -> None:
        talker, listener = await self.connect("chat"), await self.connect("chat")
        try:
            await self.until_subscribers(2)
            await talker.send({"text": "hello"})
            for reader in (talker, listener):
                event = await reader.next_event()
                assert (event["channel"], event["message"]) == ("chat", {"text": "hello"})
        finally:
            await talker.close()
            await listener.close()

    @gen_test(timeout=30)
    async def test_a_bad_frame_gets_an_error_frame_and_the_socket_stays_open(self) -> None:
        reader = await self.connect("chat")
        try:
            await reader.connection.write_message("[1, 2]")
            assert await reader.next_frame() == {
                "error": "the message must be a JSON object",
                "status": 400,
            }
            await reader.connection.write_message(b"\x00binary", binary=True)
            assert (await reader.next_event())["error"] == "send text frames: a JSON object"
            await reader.send({"still": "open"})
            assert (await reader.next_event())["message"] == {"still": "open"}
        finally:
            await reader.close()

    @gen_test(timeout=30)
    async def test_a_frame_over_the_limit_closes_the_socket_with_1009(self) -> None:
        reader = await self.connect("chat")
        try:
            await reader.connection.write_message("x" * (MESSAGE_LIMIT + 1))
            assert await reader.next_frame() is None
            assert reader.connection.close_code == 1009  # "message too big"
            await self.until_subscribers(0)
        finally:
            await reader.close()

    @gen_test(timeout=30)
    async def test_pages_of_other_origins_are_refused_unless_allowed(self) -> None:
        with pytest.raises(HTTPClientError) as refused:
            await self.connect("news", origin="https://evil.example")
        assert refused.value.code == 403
        for origin in ("https://app.example.com", self.get_url("").rstrip("/")):
            reader = await self.connect("news", origin=origin)
            await reader.close()

    @gen_test(timeout=30)
    async def test_bad_channel_names_are_refused(self) -> None:
        response = await self.get("/ws/bad%20name")
        assert response.code == 400
        assert body(response)["error"].startswith("a channel name is 1 to 64 of")

    @gen_test(timeout=30)
    async def test_shutdown_closes_the_sockets_with_1001(self) -> None:
        reader = await self.connect("closing")
        try:
            await self.until_subscribers(1)
            self.app.closing()  # what SIGTERM starts with
            assert await reader.next_frame() is None
            assert reader.connection.close_code == 1001  # "going away"
            await self.until_subscribers(0)
        finally:
            await reader.close()


class SlowWebSocketTest(WebSocketTestCase):
    """A client that stops reading is closed with 1008: its queue is bounded."""

    def push_env(self) -> dict[str, str]:
        return {"PUSH_QUEUE_LIMIT": "5"}

    @gen_test(timeout=120)
    async def test_a_client_that_stops_reading_is_closed(self) -> None:
        # Tornado's client reads a frame ahead, then lets the kernel's buffers fill.
        stalled = await self.connect("flood")
        try:
            await self.until_subscribers(1)
            big = {"filler": "x" * 60_000}
            for _ in range(600):  # enough to fill both sides' socket buffers
                await self.notify("flood", big)
                if await self.subscribers() == 0:
                    break
            await self.until_subscribers(0, timeout=30)
            while not stalled.closed:  # what was sent before the close frame
                await stalled.next_frame(timeout=30)
            assert stalled.connection.close_code == 1008
            assert stalled.connection.close_reason == "too slow: more than 5 events behind"
        finally:
            await stalled.close()
