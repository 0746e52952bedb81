"""The DynamoDB client and /notes against moto's DynamoDB (tests/fixtures_dynamodb.py)."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid

import pytest
from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.app import ServiceApp, make_app
from {{ cookiecutter.package_name }}.clients import ServiceUnavailable
from {{ cookiecutter.package_name }}.clients.dynamodb import DynamoDBClient, DynamoDBSettings
from {{ cookiecutter.package_name }}.settings import SettingsError

from .aws_servers import Relay
from .fixtures_dynamodb import create_table
from .support import AppTestCase, body, closed_port, started


def unique_id() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


async def until_dynamodb_is(test: AppTestCase, state: str) -> None:
    """Wait for /health to say DynamoDB is `state`: its monitor looks every second while down."""
    for _ in range(100):
        if body(await test.get("/health"))["checks"]["dynamodb"] == state:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"DynamoDB still not {state} after 10 s")


def test_bad_settings_are_refused_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="DYNAMODB_URL must be empty"):
        DynamoDBSettings.from_env({"DYNAMODB_URL": "dynamodb.example.com"})
    with pytest.raises(SettingsError, match="DYNAMODB_TABLE must be 3 to 255"):
        DynamoDBSettings.from_env({"DYNAMODB_TABLE": "no spaces"})
    with pytest.raises(SettingsError, match="DYNAMODB_TIMEOUT must be a number"):
        DynamoDBSettings.from_env({"DYNAMODB_TIMEOUT": "soon"})


def test_without_a_url_it_is_aws_itself_in_the_region() -> None:
    client = DynamoDBClient.from_env({"AWS_DEFAULT_REGION": "ap-south-1"})
    assert client.address() == ("dynamodb.ap-south-1.amazonaws.com", 443)


def test_dynamodb_down_is_a_fast_503_and_health_says_so() -> None:
    async def scenario() -> None:
        settings = DynamoDBSettings(url=f"http://127.0.0.1:{closed_port()}", timeout=0.5)
        async with started(DynamoDBClient(settings)) as client:
            assert isinstance(client, DynamoDBClient)
            assert client.health() == "down"
            begun = time.monotonic()
            with pytest.raises(ServiceUnavailable) as refused:
                await client.get("anything")
            assert time.monotonic() - begun < 0.1  # known to be down: no call at all
            assert refused.value.message == "DynamoDB unavailable: could not connect"

    asyncio.run(scenario())


class NotesTest(AppTestCase):
    async def put_note(self, note_id: str, payload: object) -> tuple[int, dict[str, object]]:
        response = await self.get(f"/notes/{note_id}", method="PUT", body=json.dumps(payload))
        return response.code, body(response)

    @gen_test(timeout=30)
    async def test_a_note_put_is_got_and_another_is_a_404(self) -> None:
        note_id = unique_id()
        code, note = await self.put_note(note_id, {"text": "buy milk"})
        assert (code, note["id"], note["text"]) == (200, note_id, "buy milk")
        assert abs(int(str(note["updated"])) - time.time()) < 60
        got = await self.get(f"/notes/{note_id}")
        assert (got.code, body(got)) == (200, note)
        missing = await self.get(f"/notes/{unique_id()}")
        assert missing.code == 404
        assert body(missing)["error"].startswith("no note 'test-")

    @gen_test(timeout=30)
    async def test_bad_input_is_a_400_saying_what_is_wrong(self) -> None:
        for payload, message in [
            (["text"], 'the body must be a JSON object: {"text": "..."}'),
            ({"text": "a", "tags": []}, "unknown fields: tags (a note has only text)"),
            ({"text": 1}, "text must be a string of 1 to 10000 characters"),
            ({"text": "x" * 10_001}, "text must be a string of 1 to 10000 characters"),
        ]:
            assert await self.put_note(unique_id(), payload) == (
                400,
                {"error": message, "status": 400},
            )
        response = await self.get("/notes/a.b")
        assert (response.code, body(response)["error"]) == (
            400,
            "a note id is 1 to 64 letters, digits, '_' or '-'",
        )
        response = await self.get(f"/notes/{unique_id()}", method="PUT", body=b"{not json")
        assert response.code == 400
        assert body(response)["error"].startswith("the body is not valid JSON")

    @gen_test(timeout=30)
    async def test_an_item_that_is_not_a_note_is_a_502(self) -> None:
        note_id = unique_id()
        client = self.app.clients.get(DynamoDBClient)
        item = {"id": {"S": note_id}, "text": {"N": "1"}, "updated": {"N": "1"}}
        await client.dynamodb.put_item(TableName=client.settings.table, Item=item)
        response = await self.get(f"/notes/{note_id}")
        assert (response.code, body(response)["error"]) == (
            502,
            f"DynamoDB answered badly: item {note_id!r} is not a note: its 'text' is not of type S",
        )


class MissingTableTest(AppTestCase):
    """DYNAMODB_TABLE names no table: 503 saying how to make it; made, /notes works."""

    def get_app(self) -> ServiceApp:
        self.table = f"missing-{uuid.uuid4().hex[:12]}"
        self.app = make_app(self.settings(), env={**os.environ, "DYNAMODB_TABLE": self.table})
        return self.app

    @gen_test(timeout=30)
    async def test_a_missing_table_is_a_503_saying_how_to_create_it(self) -> None:
        response = await self.get(f"/notes/{unique_id()}")
        assert response.code == 503
        assert body(response)["error"] == (
            f"DynamoDB unavailable: table {self.table!r} does not exist: create it with a "
            f"string partition key 'id' (aws dynamodb create-table --table-name {self.table} "
            "--attribute-definitions AttributeName=id,AttributeType=S "
            "--key-schema AttributeName=id,KeyType=HASH --billing-mode PAY_PER_REQUEST, "
            "with --endpoint-url for a server other than AWS) or set DYNAMODB_TABLE"
        )
        assert body(await self.get("/health"))["checks"]["dynamodb"] == "down"
        await create_table(self.table)
        await until_dynamodb_is(self, "up")
        assert (await self.get(f"/notes/{unique_id()}")).code == 404


class DynamoDBOutageTest(AppTestCase):
    """Through a Relay to moto: DynamoDB stops, stalls, garbles: 503, 504, 502."""

    def get_app(self) -> ServiceApp:
        self.relay = Relay(os.environ["DYNAMODB_URL"])
        url = self.relay.url(os.environ["DYNAMODB_URL"])
        env = {**os.environ, "DYNAMODB_URL": url, "DYNAMODB_TIMEOUT": "2"}
        self.app = make_app(self.settings(), env=env)
        return self.app

    def tearDown(self) -> None:
        super().tearDown()
        self.relay.close()

    async def put_a_note(self) -> str:
        await until_dynamodb_is(self, "up")  # a loaded machine may miss the first ping
        note_id = unique_id()
        payload = json.dumps({"text": "kept"})
        assert (await self.get(f"/notes/{note_id}", method="PUT", body=payload)).code == 200
        return note_id

    @gen_test(timeout=30)
    async def test_dynamodb_stopped_is_a_fast_503_and_it_comes_back(self) -> None:
        note_id = await self.put_a_note()
        self.relay.cut()
        first = await self.get(f"/notes/{note_id}")  # finds out
        assert (first.code, body(first)["error"][:22]) == (503, "DynamoDB unavailable: ")
        begun = time.monotonic()
        second = await self.get(f"/notes/{note_id}")  # knows
        assert time.monotonic() - begun < 0.5
        assert (second.code, second.headers["Retry-After"]) == (503, "5")
        assert body(await self.get("/health"))["checks"]["dynamodb"] == "down"
        self.relay.restore()
        await until_dynamodb_is(self, "up")
        again = await self.get(f"/notes/{note_id}")
        assert (again.code, body(again)["text"]) == (200, "kept")

    @gen_test(timeout=30)
    async def test_dynamodb_that_does_not_answer_is_a_504(self) -> None:
        note_id = await self.put_a_note()
        self.relay.stall()
        begun = time.monotonic()
        response = await self.get(f"/notes/{note_id}")
        assert (response.code, body(response)["error"]) == (
            504,
            "DynamoDB did not answer within 2 s",
        )
        assert time.monotonic() - begun < 5  # 2 s, and a loaded machine's margin

    @gen_test(timeout=30)
    async def test_an_answer_that_is_not_http_is_a_502(self) -> None:
        note_id = await self.put_a_note()
        self.relay.garble()
        response = await self.get(f"/notes/{note_id}")
        assert (response.code, body(response)["error"]) == (
            502,
            "DynamoDB answered badly: its answer is not HTTP, or not the API's",
        )
