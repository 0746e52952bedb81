"""The S3 client and /files against moto's S3 (tests/fixtures_s3.py), and without it."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import pytest
from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.app import ServiceApp, make_app
from {{ cookiecutter.package_name }}.clients import ServiceUnavailable
from {{ cookiecutter.package_name }}.clients.s3 import S3Client, S3Settings
from {{ cookiecutter.package_name }}.settings import SettingsError

from .aws_servers import Relay
from .support import AppTestCase, body, closed_port, started


def unique_name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}.txt"


async def until_s3_is(test: AppTestCase, state: str) -> None:
    """Wait for /health to say S3 is `state`: its monitor looks every second while down."""
    for _ in range(100):
        if body(await test.get("/health"))["checks"]["s3"] == state:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"S3 still not {state} after 10 s")


def test_bad_settings_are_refused_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="S3_URL must be empty"):
        S3Settings.from_env({"S3_URL": "s3://bucket"})
    with pytest.raises(SettingsError, match="S3_BUCKET must be a valid S3 bucket name"):
        S3Settings.from_env({"S3_BUCKET": "Not_A_Bucket"})
    with pytest.raises(SettingsError, match="S3_TIMEOUT must be between"):
        S3Settings.from_env({"S3_TIMEOUT": "0"})
    with pytest.raises(SettingsError, match="AWS_SECRET_ACCESS_KEY must be set"):
        S3Settings.from_env({"AWS_ACCESS_KEY_ID": "key"})


def test_without_a_url_it_is_aws_itself_in_the_region() -> None:
    client = S3Client.from_env({"AWS_REGION": "eu-west-3"})
    assert client.address() == ("s3.eu-west-3.amazonaws.com", 443)


def test_s3_down_is_a_fast_503_and_health_says_so() -> None:
    async def scenario() -> None:
        settings = S3Settings(url=f"http://127.0.0.1:{closed_port()}", timeout=0.5)
        async with started(S3Client(settings)) as client:
            assert isinstance(client, S3Client)
            assert client.health() == "down"
            begun = time.monotonic()
            with pytest.raises(ServiceUnavailable) as refused:
                await client.get("anything")
            assert time.monotonic() - begun < 0.1  # known to be down: no call at all
            assert refused.value.message == "S3 unavailable: could not connect"

    asyncio.run(scenario())


class FilesTest(AppTestCase):
    @gen_test(timeout=30)
    async def test_a_file_put_is_got_with_its_type_then_deleted(self) -> None:
        name, kind = unique_name(), "text/plain; charset=utf-8"
        put = await self.get(
            f"/files/{name}", method="PUT", body=b"hello", headers={"Content-Type": kind}
        )
        assert (put.code, body(put)) == (200, {"name": name, "bytes": 5, "content_type": kind})
        got = await self.get(f"/files/{name}")
        assert (got.code, got.body, got.headers["Content-Type"]) == (200, b"hello", kind)
        assert got.headers["Content-Disposition"] == f'attachment; filename="{name}"'
        deleted = await self.get(f"/files/{name}", method="DELETE")
        assert deleted.code == 204
        gone = await self.get(f"/files/{name}")
        assert (gone.code, body(gone)["error"]) == (404, f"no file named {name!r}")
        assert (await self.get(f"/files/{name}", method="DELETE")).code == 204  # as S3 answers

    @gen_test(timeout=30)
    async def test_a_bad_name_or_content_type_is_a_400(self) -> None:
        for name in (".hidden", "a%2Fb", "x" * 201):
            response = await self.get(f"/files/{name}")
            assert response.code == 400, name
            assert body(response)["error"].startswith("a file name is 1 to 200 letters")
        response = await self.get(
            f"/files/{unique_name()}", method="PUT", body=b"x", headers={"Content-Type": "nonsense"}
        )
        assert (response.code, body(response)["error"]) == (
            400,
            "Content-Type must be a media type such as text/plain, got 'nonsense'",
        )


class SmallFilesTest(AppTestCase):
    """S3_MAX_OBJECT_BYTES=100: what is larger is neither stored nor served."""

    def get_app(self) -> ServiceApp:
        self.app = make_app(self.settings(), env={**os.environ, "S3_MAX_OBJECT_BYTES": "100"})
        return self.app

    @gen_test(timeout=30)
    async def test_a_file_over_the_limit_is_a_413_and_a_larger_object_a_502(self) -> None:
        name = unique_name()
        response = await self.get(f"/files/{name}", method="PUT", body=b"x" * 101)
        assert (response.code, body(response)["error"]) == (
            413,
            "the file is over 100 bytes (S3_MAX_OBJECT_BYTES)",
        )
        client = self.app.clients.get(S3Client)
        await client.s3.put_object(Bucket=client.settings.bucket, Key=name, Body=b"x" * 200)
        response = await self.get(f"/files/{name}")
        assert (response.code, body(response)["error"]) == (
            502,
            f"S3 answered badly: {name!r} is 200 bytes: over S3_MAX_OBJECT_BYTES",
        )


class MissingBucketTest(AppTestCase):
    """S3_BUCKET names no bucket: 503 saying how to make it; made, /files works."""

    def get_app(self) -> ServiceApp:
        self.bucket = f"missing-{uuid.uuid4().hex[:12]}"
        self.app = make_app(self.settings(), env={**os.environ, "S3_BUCKET": self.bucket})
        return self.app

    @gen_test(timeout=30)
    async def test_a_missing_bucket_is_a_503_saying_how_to_create_it(self) -> None:
        response = await self.get(f"/files/{unique_name()}")
        assert (response.code, body(response)["error"]) == (
            503,
            f"S3 unavailable: bucket {self.bucket!r} does not exist: create it "
            f"(aws s3 mb s3://{self.bucket}, with --endpoint-url for a server other than AWS) "
            "or set S3_BUCKET",
        )
        assert body(await self.get("/health"))["checks"]["s3"] == "down"
        client = self.app.clients.get(S3Client)
        await client.s3.create_bucket(Bucket=self.bucket)
        await until_s3_is(self, "up")
        assert (await self.get(f"/files/{unique_name()}")).code == 404


class S3OutageTest(AppTestCase):
    """Through a Relay to moto: S3 stops, stalls, garbles; the user sees 503, 504, 502."""

    def get_app(self) -> ServiceApp:
        self.relay = Relay(os.environ["S3_URL"])
        env = {**os.environ, "S3_URL": self.relay.url(os.environ["S3_URL"]), "S3_TIMEOUT": "2"}
        self.app = make_app(self.settings(), env=env)
        return self.app

    def tearDown(self) -> None:
        super().tearDown()
        self.relay.close()

    async def put_a_file(self) -> str:
        await until_s3_is(self, "up")  # a loaded machine may miss the first ping
        name = unique_name()
        assert (await self.get(f"/files/{name}", method="PUT", body=b"kept")).code == 200
        return name

    @gen_test(timeout=30)
    async def test_s3_stopped_is_a_fast_503_and_it_comes_back(self) -> None:
        name = await self.put_a_file()
        self.relay.cut()
        first = await self.get(f"/files/{name}")  # finds out
        assert (first.code, body(first)["error"][:16]) == (503, "S3 unavailable: ")
        begun = time.monotonic()
        second = await self.get(f"/files/{name}")  # knows
        assert time.monotonic() - begun < 0.5
        assert (second.code, second.headers["Retry-After"]) == (503, "5")
        assert body(await self.get("/health"))["checks"]["s3"] == "down"
        self.relay.restore()
        await until_s3_is(self, "up")
        again = await self.get(f"/files/{name}")
        assert (again.code, again.body) == (200, b"kept")

    @gen_test(timeout=30)
    async def test_s3_that_does_not_answer_is_a_504(self) -> None:
        name = await self.put_a_file()
        self.relay.stall()
        begun = time.monotonic()
        response = await self.get(f"/files/{name}")
        assert (response.code, body(response)["error"]) == (504, "S3 did not answer within 2 s")
        assert time.monotonic() - begun < 5  # 2 s, and a loaded machine's margin

    @gen_test(timeout=30)
    async def test_an_answer_that_is_not_http_is_a_502(self) -> None:
        name = await self.put_a_file()
        self.relay.garble()
        response = await self.get(f"/files/{name}")
        assert (response.code, body(response)["error"]) == (
            502,
            "S3 answered badly: its answer is not HTTP, or not the API's",
        )
