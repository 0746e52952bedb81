"""The Beanstalkd client and /jobs against the real server, a cut one, and impostors.

Every test has a tube of its own: parallel runs share the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from tornado.httpclient import HTTPClientError, HTTPResponse
from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.app import ServiceApp, make_app
from {{ cookiecutter.package_name }}.clients import BadAnswer, ServiceTimeout, ServiceUnavailable
from {{ cookiecutter.package_name }}.clients.beanstalkd import (
    DEFAULT_URL,
    BeanstalkdClient,
    BeanstalkdSettings,
)
from {{ cookiecutter.package_name }}.settings import SettingsError
from {{ cookiecutter.package_name }}.web import ApiError

from .support import AppTestCase, ProxiedAppTestCase, body, closed_port, started, until_available


def unique_tube() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def real_client(max_connections: int = 64, timeout: float = 2.0) -> BeanstalkdClient:
    """A client of the real server, on a tube of its own."""
    settings = BeanstalkdSettings.from_env({**os.environ, "BEANSTALKD_TUBE": unique_tube()})
    changed = dataclasses.replace(settings, max_connections=max_connections, timeout=timeout)
    return BeanstalkdClient(changed)


def test_a_job_put_is_reserved_leased_then_deleted_by_any_process() -> None:
    async def scenario() -> None:
        client = real_client()
        other_process = BeanstalkdClient(client.settings)  # its own connections, same tube
        async with started(client), started(other_process):
            job_id = await client.put(b'{"n":1}')
            job = await client.reserve(1, lease=60)
            assert job is not None
            assert (job.id, job.body) == (job_id, b'{"n":1}')
            assert await client.reserve(0, lease=60) is None  # leased: not handed out twice
            assert await other_process.delete(job_id) is True
            assert await client.delete(job_id) is False
            assert await client.kick(job_id) is False

    asyncio.run(scenario())


def test_a_job_not_deleted_within_its_lease_is_handed_out_again() -> None:
    """A worker that dies with a job loses nothing: the job comes back after its lease."""

    async def scenario() -> None:
        async with started(real_client()) as client:
            assert isinstance(client, BeanstalkdClient)
            job_id = await client.put(b"retry me")
            first = await client.reserve(1, lease=1)
            begun = time.monotonic()
            again = await client.reserve(5, lease=60)
            assert first is not None
            assert again is not None
            assert first.id == again.id == job_id
            assert 0.5 < time.monotonic() - begun < 3  # at the end of the lease
            assert await client.delete(job_id) is True

    asyncio.run(scenario())


def test_a_job_of_another_tube_is_neither_deleted_nor_kicked() -> None:
    async def scenario() -> None:
        async with started(real_client()) as ours, started(real_client()) as theirs:
            assert isinstance(ours, BeanstalkdClient)
            assert isinstance(theirs, BeanstalkdClient)
            job_id = await theirs.put(b"theirs")
            assert await ours.delete(job_id) is False
            assert await ours.kick(job_id) is False
            assert await theirs.delete(job_id) is True

    asyncio.run(scenario())


def test_a_job_over_beanstalkds_max_job_size_is_a_413() -> None:
    async def scenario() -> None:
        async with started(real_client()) as client:
            assert isinstance(client, BeanstalkdClient)
            with pytest.raises(ApiError) as refused:
                await client.put(b"x" * 200_000)  # max-job-size: 65,535 unless -z says more
            assert refused.value.status_code == 413
            assert refused.value.message == (
                "Beanstalkd refused it: the job is larger than its max-job-size"
            )
            assert await client.delete(await client.put(b"small")) is True  # it goes on
            assert client.health() == "up"

    asyncio.run(scenario())


def test_past_the_pool_a_call_gets_a_503_and_the_waiting_ones_are_unharmed() -> None:
    async def scenario() -> None:
        async with started(real_client(max_connections=2, timeout=0.3)) as client:
            assert isinstance(client, BeanstalkdClient)
            await until_available([client])  # a first ping within 0.3 s can fail when busy
            waiting = asyncio.gather(client.reserve(2, 60), client.reserve(2, 60))
            await asyncio.sleep(0.3)
            begun = time.monotonic()
            with pytest.raises(ServiceUnavailable) as refused:
                await client.put(b"one too many")
            assert time.monotonic() - begun < 1.5  # BEANSTALKD_TIMEOUT, not the reserves
            assert refused.value.message == (
                "Beanstalkd unavailable: all 2 connections are busy (BEANSTALKD_MAX_CONNECTIONS)"
            )
            assert list(await waiting) == [None, None]
            assert client.health() == "up"  # a full pool is not an outage

    asyncio.run(scenario())


def test_beanstalkd_down_is_a_fast_503_and_health_says_so() -> None:
    async def scenario() -> None:
        url = f"beanstalk://127.0.0.1:{closed_port()}"
        async with started(BeanstalkdClient(BeanstalkdSettings(url=url, timeout=0.5))) as client:
            assert isinstance(client, BeanstalkdClient)
            assert client.health() == "down"
            begun = time.monotonic()
            with pytest.raises(ServiceUnavailable) as refused:
                await client.put(b"anything")
            assert time.monotonic() - begun < 0.1  # known down: no connect attempt at all
            assert refused.value.message.startswith("Beanstalkd unavailable:")

    asyncio.run(scenario())


class Impostor:
    """A server that connects and pings like beanstalkd, then answers `put` and
    `reserve-with-timeout` with `answer`, or never when it is None."""

    def __init__(self, answer: bytes | None) -> None:
        self.answer = answer
        self.writers: set[asyncio.StreamWriter] = set()

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        """The impostor's beanstalk:// URL while it serves."""
        server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            yield f"beanstalk://127.0.0.1:{port}"
        finally:
            server.close()
            for writer in self.writers:
                writer.transport.abort()
            await server.wait_closed()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while line := await reader.readline():
                command, *words = line.decode().split()
                if command == "put":
                    await reader.readexactly(int(words[-1]) + 2)  # the job
                setup = {"use": b"USING t", "watch": b"WATCHING 2", "ignore": b"WATCHING 1"}
                setup["list-tube-used"] = b"USING t"
                if command in setup:
                    writer.write(setup[command] + b"\r\n")
                elif self.answer is not None:
                    writer.write(self.answer)


def impostor_error(answer: bytes | None, timeout: float = 0.5) -> tuple[ApiError, float]:
    """What a put to an impostor answering `answer` raises, and how long it took."""

    async def scenario() -> tuple[ApiError, float]:
        async with Impostor(answer).serving() as url:
            settings = BeanstalkdSettings(url=url, timeout=timeout)
            async with started(BeanstalkdClient(settings)) as client:
                assert isinstance(client, BeanstalkdClient)
                assert client.health() == "up"  # it pings like beanstalkd
                begun = time.monotonic()
                with pytest.raises(ApiError) as raised:
                    await client.put(b"job")
                return raised.value, time.monotonic() - begun

    return asyncio.run(scenario())


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"HTTP/1.1 400 Bad Request\r\n", "HTTP/1.1 in answer to put"),
        (b"INSERTED many\r\n", "INSERTED 'many': not a number"),
        (b"\xff\xfe\r\n", "b'\\xff\\xfe\\r\\n' in answer to put"),
        (b"BAD_FORMAT\r\n", "BAD_FORMAT in answer to put"),
    ],
)
def test_an_answer_that_is_not_beanstalkds_is_a_502(answer: bytes, message: str) -> None:
    error, took = impostor_error(answer)
    assert isinstance(error, BadAnswer)
    assert (error.status_code, error.message) == (502, f"Beanstalkd answered badly: {message}")
    assert took < 1


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"OUT_OF_MEMORY\r\n", "Beanstalkd unavailable: it is out of memory"),
        (b"DRAINING\r\n", "Beanstalkd unavailable: it is draining: it takes no new jobs"),
        (b"BURIED 7\r\n", "Beanstalkd unavailable: out of memory: job 7 buried"),
    ],
)
def test_a_server_that_cannot_take_jobs_now_is_a_503(answer: bytes, message: str) -> None:
    error, _ = impostor_error(answer)
    assert (error.status_code, error.message) == (503, message)


def test_no_answer_is_a_504_after_beanstalkd_timeout() -> None:
    error, took = impostor_error(None, timeout=0.3)
    assert isinstance(error, ServiceTimeout)
    assert (error.status_code, error.message) == (504, "Beanstalkd did not answer within 0.3 s")
    assert 0.25 < took < 2


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("BEANSTALKD_URL", "redis://127.0.0.1:6379", "BEANSTALKD_URL must be a beanstalk://"),
        ("BEANSTALKD_URL", "beanstalk://host:99999", "BEANSTALKD_URL must be a beanstalk://"),
        ("BEANSTALKD_URL", "beanstalk://host/tube", "BEANSTALKD_URL must be a beanstalk://"),
        ("BEANSTALKD_TUBE", "-jobs", "BEANSTALKD_TUBE must be 1 to 200"),
        ("BEANSTALKD_TUBE", "a b", "BEANSTALKD_TUBE must be 1 to 200"),
        ("BEANSTALKD_TIMEOUT", "soon", "BEANSTALKD_TIMEOUT must be a number"),
        ("BEANSTALKD_MAX_CONNECTIONS", "0", "BEANSTALKD_MAX_CONNECTIONS must be between"),
    ],
)
def test_bad_settings_are_refused_naming_the_variable(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError, match=message.replace("/", "\\/")):
        BeanstalkdSettings.from_env({variable: value})
    assert BeanstalkdSettings.from_env({}).url == DEFAULT_URL


class QueueTestCase(AppTestCase):
    async def post(self, path: str, payload: object = None, **kwargs: object) -> HTTPResponse:
        content = b"" if payload is None else json.dumps(payload).encode()
        return await self.get(path, method="POST", body=content, **kwargs)

    async def delete_jobs(self, *job_ids: int) -> None:
        """Delete what a test leaves in its tube: the server outlives the test."""
        for job_id in job_ids:
            assert (await self.get(f"/jobs/{job_id}", method="DELETE")).code == 204


class JobsTest(QueueTestCase):
    """/jobs on the real server, in a tube of this test's own."""

    def get_app(self) -> ServiceApp:
        env = {**os.environ, "BEANSTALKD_TUBE": unique_tube()}
        self.app = make_app(self.settings(), env=env)
        return self.app

    @gen_test(timeout=30)
    async def test_a_job_is_put_reserved_and_deleted(self) -> None:
        put = await self.post("/jobs", {"to": "ada@example.com", "n": 1})
        assert put.code == 201
        job_id = body(put)["id"]
        reserved = await self.post("/jobs/reserve?timeout=1")
        assert reserved.code == 200
        expected = {"id": job_id, "body": {"to": "ada@example.com", "n": 1}, "lease": 60}
        assert body(reserved) == expected
        assert (await self.get(f"/jobs/{job_id}", method="DELETE")).code == 204
        again = await self.get(f"/jobs/{job_id}", method="DELETE")
        assert (again.code, body(again)["error"]) == (404, f"no job {job_id} in the queue")

    @gen_test(timeout=30)
    async def test_no_job_in_time_is_a_204_after_the_wait(self) -> None:
        begun = time.monotonic()
        response = await self.post("/jobs/reserve?timeout=1")
        assert (response.code, response.body) == (204, b"")
        assert 0.9 < time.monotonic() - begun < 5
        begun = time.monotonic()
        assert (await self.post("/jobs/reserve?timeout=0")).code == 204
        assert time.monotonic() - begun < 1  # 0: answered at once

    @gen_test(timeout=30)
    async def test_a_released_job_is_handed_out_again_at_once(self) -> None:
        job_id = body(await self.post("/jobs", {"n": 2}))["id"]
        assert body(await self.post("/jobs/reserve?timeout=1"))["id"] == job_id
        assert (await self.post("/jobs/reserve?timeout=0")).code == 204  # leased
        assert (await self.post(f"/jobs/{job_id}/release")).code == 204
        assert body(await self.post("/jobs/reserve?timeout=1"))["id"] == job_id
        missing = await self.post(f"/jobs/{job_id + 10**6}/release")
        assert (missing.code, body(missing)["error"]) == (
            404,
            f"no reserved job {job_id + 10**6} in the queue",
        )
        await self.delete_jobs(job_id)

    @gen_test(timeout=30)
    async def test_waiting_reserves_are_all_served_when_jobs_arrive(self) -> None:
        waiting = [asyncio.ensure_future(self.post("/jobs/reserve?timeout=20")) for _ in range(8)]
        await asyncio.sleep(0.5)
        assert not any(reserve.done() for reserve in waiting)  # they wait, on the server
        assert (await self.get("/health")).code == 200  # and the loop is free meanwhile
        begun = time.monotonic()
        put = [body(await self.post("/jobs", {"n": n}))["id"] for n in range(8)]
        answers = await asyncio.gather(*waiting)
        assert time.monotonic() - begun < 5  # served as the jobs came, not at the timeout
        assert [answer.code for answer in answers] == [200] * 8
        assert sorted(body(answer)["id"] for answer in answers) == sorted(put)
        await self.delete_jobs(*put)

    @gen_test(timeout=30)
    async def test_a_client_that_leaves_takes_no_job_with_it(self) -> None:
        with pytest.raises(HTTPClientError):  # 599: it gave up and closed its connection
            await self.post("/jobs/reserve?timeout=20", request_timeout=0.5, raise_error=True)
        await asyncio.sleep(0.5)  # the server notices, and closes that reserve's connection
        job_id = body(await self.post("/jobs", {"n": 3}))["id"]
        begun = time.monotonic()
        reserved = await self.post("/jobs/reserve?timeout=5")
        assert (reserved.code, body(reserved)["id"]) == (200, job_id)
        assert time.monotonic() - begun < 2  # not lost to the abandoned reserve
        await self.delete_jobs(job_id)

    @gen_test(timeout=30)
    async def test_bad_input_is_a_400_saying_what_is_wrong(self) -> None:
        cases = [
            ("/jobs", b"not json", "the body is not valid JSON"),
            ("/jobs", b"[1, 2]", "the body must be a JSON object: the job"),
            ("/jobs/reserve?timeout=soon", b"", "'timeout' must be a whole number of seconds"),
            ("/jobs/reserve?timeout=61", b"", "'timeout' must be a whole number of seconds"),
            ("/jobs/reserve?timeout=-1", b"", "'timeout' must be a whole number of seconds"),
        ]
        for path, content, message in cases:
            response = await self.get(path, method="POST", body=content)
            assert response.code == 400, path
            assert body(response)["error"].startswith(message), body(response)
        too_big = await self.post("/jobs", {"x": "y" * 70_000})
        assert (too_big.code, body(too_big)["error"]) == (413, "the body is over 64 KiB")
        assert (await self.get("/jobs/12x", method="DELETE")).code == 404  # no such route


class JobsWithoutBeanstalkdTest(QueueTestCase, ProxiedAppTestCase):
    """Beanstalkd goes away mid-reserve: a fast 503; it comes back: served again."""

    def proxied_setting(self) -> tuple[str, str]:
        return "BEANSTALKD_URL", os.environ.get("BEANSTALKD_URL", DEFAULT_URL)

    def more_env(self) -> dict[str, str]:
        return {"BEANSTALKD_TUBE": unique_tube()}

    @gen_test(timeout=30)
    async def test_a_cut_mid_reserve_is_a_fast_503_and_it_recovers(self) -> None:
        reserving = asyncio.ensure_future(self.post("/jobs/reserve?timeout=20"))
        await asyncio.sleep(0.5)
        begun = time.monotonic()
        self.proxy.cut()
        response = await reserving
        assert time.monotonic() - begun < 1
        assert response.code == 503
        assert body(response)["error"].startswith("Beanstalkd unavailable:")
        refused = await self.post("/jobs", {"n": 4})  # known down now: refused at once
        assert refused.code == 503
        assert body(refused)["error"].startswith("Beanstalkd unavailable:")
        health = await self.get("/health")
        assert (health.code, body(health)["checks"]["beanstalkd"]) == (503, "down")
        self.proxy.restore()
        for _ in range(50):  # the monitor looks again every second
            if body(await self.get("/health"))["checks"]["beanstalkd"] == "up":
                break
            await asyncio.sleep(0.1)
        put = await self.post("/jobs", {"n": 5})
        assert put.code == 201
        await self.delete_jobs(body(put)["id"])


class JobsBeanstalkdDownTest(AppTestCase):
    def get_app(self) -> ServiceApp:
        env = {**os.environ, "BEANSTALKD_URL": f"beanstalk://127.0.0.1:{closed_port()}"}
        self.app = make_app(self.settings(), env=env)
        return self.app

    @gen_test(timeout=30)
    async def test_every_endpoint_is_a_fast_503_naming_beanstalkd(self) -> None:
        for method, path in [("POST", "/jobs"), ("POST", "/jobs/reserve"), ("DELETE", "/jobs/1")]:
            begun = time.monotonic()
            response = await self.get(path, method=method, body=b"{}" if method == "POST" else None)
            assert time.monotonic() - begun < 0.5, path
            assert response.code == 503, path
            assert response.headers["Retry-After"] == "5"
            assert body(response)["error"].startswith("Beanstalkd unavailable:"), path
