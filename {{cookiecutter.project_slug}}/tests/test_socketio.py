"""Socket.IO: the push contract with python-socketio's AsyncClient, then what only it does."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
import socketio
from tornado.testing import gen_test
from tornado.websocket import websocket_connect

from . import push_contract


class SocketIOReader:
    """A subscriber through python-socketio's AsyncClient."""

    def __init__(self) -> None:
        # A session of the test's own: closed here even when connecting failed.
        self.session = aiohttp.ClientSession()
        self.client = socketio.AsyncClient(reconnection=False, http_session=self.session)
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.client.on("message", self.received)

    async def received(self, data: dict[str, Any]) -> None:
        await self.events.put(data)

    async def connect(
        self, url: str, transports: list[str] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        await self.client.connect(
            url, transports=transports or ["websocket"], headers=headers or {}, wait_timeout=30
        )

    async def call(self, event: str, data: Any) -> dict[str, Any]:
        answer: dict[str, Any] = await self.client.call(event, data, timeout=10)
        return answer

    async def next_event(self, timeout: float = 10) -> dict[str, Any]:
        return await asyncio.wait_for(self.events.get(), timeout)

    async def close(self) -> None:
        await self.client.disconnect()
        await self.session.close()


class SocketIOTestCase(push_contract.PushTestCase):
    def push_env(self) -> dict[str, str]:
        return {"PUSH_ALLOWED_ORIGINS": "https://app.example.com"}

    async def subscribe(self, channel: str, base_url: str | None = None) -> SocketIOReader:
        reader = SocketIOReader()
        await reader.connect(base_url or self.get_url(""))
        assert await reader.call("subscribe", channel) == {"channel": channel}
        return reader


class SocketIOContractTest(SocketIOTestCase, push_contract.PushContract):
    """The push contract, with python-socketio's client."""


class SocketIOAcrossProcessesTest(SocketIOTestCase, push_contract.PushAcrossProcessesContract):
    """A notify in one process and a Socket.IO client of another."""
{%- if "redis" in cookiecutter.__services.split(",") or "rabbitmq" in cookiecutter.__services.split(",") %}


class SocketIOBrokerDownTest(SocketIOTestCase, push_contract.PushBrokerDownContract):
    async def refused(self, channel: str) -> tuple[int, str]:
        reader = SocketIOReader()
        await reader.connect(self.get_url(""))
        try:
            answer = await reader.call("subscribe", channel)
        finally:
            await reader.close()
        return answer["status"], answer["error"]
{%- endif %}


class SocketIOTest(SocketIOTestCase):
    @gen_test(timeout=30)
    async def test_notify_through_the_socket_reaches_the_room(self) -> None:
        talker, listener = await self.subscribe("chat"), await self.subscribe("chat")
        try:
            answer = await talker.call("notify", {"channel": "chat", "message": {"text": "hi"}})
            assert set(answer) == {"channel", "id"}
            for reader in (talker, listener):
                event = await reader.next_event()
                assert event == {"channel": "chat", "id": answer["id"], "message": {"text": "hi"}}
        finally:
            await talker.close()
            await listener.close()

    @gen_test(timeout=30)
    async def test_bad_requests_are_answered_in_the_acknowledgement(self) -> None:
        reader = SocketIOReader()
        await reader.connect(self.get_url(""))
        try:
            assert await reader.call("subscribe", "bad name") == {
                "error": "a channel name is 1 to 64 of A-Z a-z 0-9 _ . -",
                "status": 400,
            }
            assert (await reader.call("notify", {"channel": "ok", "message": [1]}))["status"] == 400
            assert (await reader.call("notify", "nonsense"))["status"] == 400
        finally:
            await reader.close()

    @gen_test(timeout=30)
    async def test_unsubscribing_leaves_the_room(self) -> None:
        reader = await self.subscribe("topic")
        try:
            await reader.call("unsubscribe", "topic")
            await self.notify("topic", {"after": "leaving"})
            with pytest.raises(TimeoutError):
                await reader.next_event(timeout=0.5)
        finally:
            await reader.close()

    @gen_test(timeout=30)
    async def test_pages_of_other_origins_are_refused_unless_allowed(self) -> None:
        refused = SocketIOReader()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await refused.connect(self.get_url(""), headers={"Origin": "https://evil.example"})
        await refused.close()
        allowed = SocketIOReader()
        await allowed.connect(self.get_url(""), headers={"Origin": "https://app.example.com"})
        await allowed.close()

    @gen_test(timeout=30)
    async def test_shutdown_disconnects_the_clients(self) -> None:
        reader = await self.subscribe("closing")
        try:
            await self.until_subscribers(1)
            self.app.closing()  # what SIGTERM starts with
            await self.until_subscribers(0, timeout=10)
            for _ in range(100):
                if not reader.client.connected:
                    break
                await asyncio.sleep(0.05)
            assert not reader.client.connected
        finally:
            await reader.close()


class SocketIOPollingTest(SocketIOTestCase):
    """Long-polling, Engine.IO's first transport, is offered when there is one process.

    A polling client's disconnect waits for its pending poll, which the server
    holds until its next ping: a short PUSH_PING_SECONDS keeps the test short.
    """

    def push_env(self) -> dict[str, str]:
        return {"PUSH_PING_SECONDS": "1"}

    @gen_test(timeout=30)
    async def test_long_polling_works_in_one_process(self) -> None:
        reader = SocketIOReader()
        await reader.connect(self.get_url(""), transports=["polling"])
        try:
            assert await reader.call("subscribe", "polled") == {"channel": "polled"}
            event_id = await self.notify("polled", {"over": "polling"})
            assert (await reader.next_event())["id"] == event_id
        finally:
            await reader.close()


class SlowSocketIOTest(SocketIOTestCase):
    """A client that stops reading is closed: its frames are bounded."""

    def push_env(self) -> dict[str, str]:
        return {"PUSH_QUEUE_LIMIT": "5", "PUSH_PING_SECONDS": "60"}  # no ping ends it first

    @gen_test(timeout=120)
    async def test_a_client_that_stops_reading_is_closed(self) -> None:
        url = self.get_url("/socket.io/?EIO=4&transport=websocket").replace("http", "ws", 1)
        stalled = await websocket_connect(url)  # Engine.IO by hand: it reads no further
        try:
            assert str(await stalled.read_message()).startswith("0")  # open
            await stalled.write_message("40")  # join the namespace
            assert str(await stalled.read_message()).startswith("40")
            await stalled.write_message('42["subscribe","flood"]')
            await self.until_subscribers(1)
            big = {"filler": "x" * 60_000}
            for _ in range(600):  # enough to fill both sides' socket buffers
                await self.notify("flood", big)
                if await self.subscribers() == 0:
                    break
            await self.until_subscribers(0, timeout=30)
        finally:
            stalled.close()
