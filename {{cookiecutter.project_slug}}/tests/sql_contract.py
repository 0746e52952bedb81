"""What every SQL client does, against its real server: each test file says which client.

A bounded pool, a timeout on every query, a start with the server down, a fast
503 while it is, recovery when it returns, and slow queries that wait together;
and what the /items example answers, whichever database keeps it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from typing import Any, ClassVar

import pytest
from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.app import ServiceApp, make_app
from {{ cookiecutter.package_name }}.clients import Client, ServiceTimeout, ServiceUnavailable

from .support import AppTestCase, ProxiedAppTestCase, Proxy, body, started, until_available


class SqlClient:
    """The client under test, for the contract: a subclass fills these in."""

    client_class: ClassVar[type[Any]]
    settings_class: ClassVar[type[Any]]
    url_variable: ClassVar[str]
    pool_setting: ClassVar[str]
    answer_query: ClassVar[str]  # 41 in, {"answer": 42} out
    slow_query: ClassVar[str]  # 3 seconds

    def client(self, **changes: Any) -> Any:
        settings = self.settings_class.from_env(os.environ)
        return self.client_class(dataclasses.replace(settings, **changes))


class SqlClientContract(SqlClient):
    def test_a_query_answers(self) -> None:
        async def scenario() -> int:
            async with started(self.client()) as db:
                rows = await db.fetch(self.answer_query, 41)  # type: ignore[attr-defined]
                return int(rows[0]["answer"])

        assert asyncio.run(scenario()) == 42

    def test_past_the_pool_size_a_query_gets_503_naming_the_setting(self) -> None:
        async def scenario() -> None:
            db = self.client(pool_size=2, timeout=0.5)
            async with started(db):
                await until_available([db])  # a first ping within 0.5 s can fail when busy
                holding = asyncio.gather(db.sleep(1.5), db.sleep(1.5))
                await asyncio.sleep(0.3)
                with pytest.raises(ServiceUnavailable) as refused:
                    await db.fetch("SELECT 1")
                busy = f"all 2 connections are busy ({self.pool_setting})"
                assert refused.value.message == f"{db.label} unavailable: {busy}"
                await holding
                assert db.health() == "up"  # a full pool is not an outage

        asyncio.run(scenario())

    def test_a_query_past_its_timeout_is_a_504(self) -> None:
        async def scenario() -> None:
            db = self.client(timeout=0.5)
            async with started(db):
                await until_available([db])
                with pytest.raises(ServiceTimeout) as late:
                    await db.fetch(self.slow_query)
                assert late.value.message == f"{db.label} did not answer within 0.5 s"
                assert await db.fetch("SELECT 1")  # the pool is fine afterwards

        asyncio.run(scenario())

    def test_a_query_cancelled_midway_gives_its_connection_back(self) -> None:
        """What a request whose client leaves does to its query (see JsonHandler.wait)."""

        async def scenario() -> None:
            db = self.client(pool_size=1)
            async with started(db):
                sleeping = asyncio.ensure_future(db.sleep(3))
                await asyncio.sleep(0.3)
                sleeping.cancel()
                begun = time.monotonic()
                rows = await db.fetch(self.answer_query, 1)
                assert int(rows[0]["answer"]) == 2  # the one connection, free and usable
                assert time.monotonic() - begun < 1

        asyncio.run(scenario())

    def test_it_starts_with_the_server_down_answers_503_fast_and_recovers(self) -> None:
        async def scenario() -> None:
            proxy = Proxy(os.environ[self.url_variable])
            proxy.cut()
            try:
                db: Client = self.client(url=proxy.url(os.environ[self.url_variable]))
                async with started(db):
                    assert db.health() == "down"
                    begun = time.monotonic()
                    with pytest.raises(ServiceUnavailable) as refused:
                        await db.fetch("SELECT 1")  # type: ignore[attr-defined]
                    assert time.monotonic() - begun < 0.1
                    assert refused.value.message.startswith(f"{db.label} unavailable:")
                    proxy.restore()
                    for _ in range(50):  # the monitor looks again every second
                        if db.health() == "up":
                            break
                        await asyncio.sleep(0.1)
                    assert await db.fetch("SELECT 1")  # type: ignore[attr-defined]
            finally:
                proxy.close()

        asyncio.run(scenario())


class ConcurrencyContract(SqlClient, AppTestCase):
    """20 slow queries on a pool of 20 take about as long as one; /health answers meanwhile.

    20, not more: projects tested side by side share the server's connection limit
    (PostgreSQL's default max_connections is 100).
    """

    def get_app(self) -> ServiceApp:
        self.app = make_app(self.settings(), env={**os.environ, self.pool_setting: "20"})
        self.db = self.app.clients.get(self.client_class)
        return self.app

    @gen_test(timeout=30)
    async def test_20_slow_queries_take_about_one(self) -> None:
        begun = time.monotonic()
        queries = asyncio.gather(*(self.db.sleep(0.5) for _ in range(20)))
        await asyncio.sleep(0.2)
        asked = time.monotonic()
        health = await self.get("/health")
        assert health.code == 200
        assert body(health)["checks"][self.db.name] == "up"
        assert time.monotonic() - asked < 0.3
        await queries
        assert time.monotonic() - begun < 0.5 * 4  # one after another: 10 s


class ItemsContract(AppTestCase):
    """What /items answers, whichever database keeps it: a subclass says which."""

    path: ClassVar[str]
    client_class: ClassVar[type[Client]]

    def setUp(self) -> None:
        super().setUp()
        self.db: Any = self.app.clients.get(self.client_class)
        self.io_loop.run_sync(lambda: self.db.fetch("DELETE FROM items"))  # a clean table

    async def post(self, payload: bytes) -> Any:
        return await self.get(self.path, method="POST", body=payload)

    @gen_test(timeout=30)
    async def test_an_item_is_created_read_and_listed(self) -> None:
        created = await self.post(b'{"name": " first "}')
        assert created.code == 201
        item = body(created)
        assert item["name"] == "first"  # trimmed
        assert created.headers["Location"] == f"{self.path}/{item['id']}"
        read = await self.get(created.headers["Location"])
        assert (read.code, body(read)) == (200, item)
        await self.post(b'{"name": "second"}')
        newest = await self.get(f"{self.path}?limit=1")
        assert [one["name"] for one in body(newest)["items"]] == ["second"]
        everything = await self.get(self.path)
        assert [one["name"] for one in body(everything)["items"]] == ["second", "first"]

    @gen_test(timeout=30)
    async def test_bad_input_is_a_400_that_says_why(self) -> None:
        name_rule = "'name' must be a string of 1 to 100 characters"
        for payload, message in [
            (b"{not json", "the body is not valid JSON: Expecting property name"),
            (b"{}", name_rule),
            (b'{"name": "   "}', name_rule),
            (b'{"name": 5}', name_rule),
            (b'{"name": "' + b"x" * 101 + b'"}', name_rule),
            (b'["a list"]', name_rule),
        ]:
            response = await self.post(payload)
            assert response.code == 400, payload
            assert body(response)["error"].startswith(message), payload
        for limit in ["0", "101", "ten", "-1"]:
            response = await self.get(f"{self.path}?limit={limit}")
            assert response.code == 400
            assert body(response)["error"] == f"'limit' must be from 1 to 100, got {limit!r}"
        listed = await self.get(self.path)
        assert body(listed)["items"] == []  # nothing was written

    @gen_test(timeout=30)
    async def test_an_unknown_item_is_a_json_404(self) -> None:
        response = await self.get(f"{self.path}/424242")
        assert (response.code, body(response)["error"]) == (404, "no item 424242")

    @gen_test(timeout=30)
    async def test_a_name_taken_is_a_409_and_writes_nothing(self) -> None:
        assert (await self.post(b'{"name": "twice"}')).code == 201
        again = await self.post(b'{"name": "twice"}')
        assert again.code == 409
        assert body(again)["error"] == "an item named 'twice' exists already"
        listed = await self.get(self.path)
        assert len(body(listed)["items"]) == 1


class DatabaseDownContract(ProxiedAppTestCase):
    """The database stops: a fast 503 naming it, /health degraded; it returns: all is well."""

    path: ClassVar[str]
    client_class: ClassVar[type[Client]]
    url_variable: ClassVar[str]

    def proxied_setting(self) -> tuple[str, str]:
        return self.url_variable, os.environ[self.url_variable]

    @gen_test(timeout=30)
    async def test_a_stopped_database_is_a_fast_503_and_it_recovers(self) -> None:
        name, label = self.client_class.name, self.client_class.label
        assert (await self.get(self.path)).code == 200
        self.proxy.cut()
        begun = time.monotonic()
        first = await self.get(self.path)  # finds out on its pooled connection
        assert time.monotonic() - begun < 1
        assert first.code == 503
        assert body(first)["error"].startswith(f"{label} unavailable:")
        assert first.headers["Retry-After"] == "5"
        begun = time.monotonic()
        second = await self.get(f"{self.path}/1")  # known down: no connection tried
        assert time.monotonic() - begun < 0.2
        assert second.code == 503
        health = await self.get("/health")
        assert health.code == 503
        assert (body(health)["status"], body(health)["checks"][name]) == ("degraded", "down")
        self.proxy.restore()
        for _ in range(50):  # the monitor looks again every second
            if body(await self.get("/health"))["checks"][name] == "up":
                break
            await asyncio.sleep(0.1)
        assert (await self.get(self.path)).code == 200
