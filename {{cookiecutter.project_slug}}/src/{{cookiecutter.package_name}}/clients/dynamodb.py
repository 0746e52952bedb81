"""DynamoDB, or DynamoDB Local (or moto), through aiobotocore.

It replaces the tutorial's asyncdynamo (unmaintained for a decade, Tornado
callbacks, no credential chain): see `aws.py` for why aiobotocore, and for the
timeouts, retries and errors all AWS clients share. This client reads and
writes items of one table, DYNAMODB_TABLE, keyed by a string partition key
"id". It never creates the table: its key schema, capacity mode and backups are
decisions of their own, and the right to create tables is rarely one to give a
service. While the table is missing, calls get a 503 saying how to create it.

Items are in DynamoDB's own typed form, `{"id": {"S": "a"}, "n": {"N": "1"}}`.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from ..settings import SettingsError, read_number
from .aws import AwsClient, AwsSettings, read_endpoint
from .base import BadAnswer

URL_VARIABLE = "DYNAMODB_URL"
TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
KEY = "id"  # the table's partition key, a string

# An item as DynamoDB reads and writes it: attribute name -> {type: value}.
Item = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class DynamoDBSettings:
    # Empty: AWS itself, in the region of AwsSettings.
    url: str = ""
    table: str = "notes"
    # Each call, its wait for a pooled connection included.
    timeout: float = 2.0
    max_connections: int = 32
    aws: AwsSettings = dataclasses.field(default_factory=AwsSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        table = env.get("DYNAMODB_TABLE") or cls.table
        if not TABLE_NAME.fullmatch(table):
            raise SettingsError(
                f"DYNAMODB_TABLE must be 3 to 255 letters, digits, '_', '-' or '.', got {table!r}"
            )
        return cls(
            url=read_endpoint(env, URL_VARIABLE),
            table=table,
            timeout=read_number(env, "DYNAMODB_TIMEOUT", cls.timeout, float, 0.01, 600.0),
            max_connections=read_number(
                env, "DYNAMODB_MAX_CONNECTIONS", cls.max_connections, int, 1, 10_000
            ),
            aws=AwsSettings.from_env(env),
        )


class DynamoDBClient(AwsClient):
    """The items of DYNAMODB_TABLE, by their "id": get, put."""

    name: ClassVar[str] = "dynamodb"
    label: ClassVar[str] = "DynamoDB"
    service: ClassVar[str] = "dynamodb"
    missing_codes: ClassVar[frozenset[str]] = frozenset({"ResourceNotFoundException"})

    def __init__(self, settings: DynamoDBSettings) -> None:
        super().__init__(settings.url, settings.timeout, settings.max_connections, settings.aws)
        self.settings = settings
        self._probe_key = {KEY: {"S": f"health-{uuid.uuid4().hex}"}}

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        return cls(DynamoDBSettings.from_env(env))

    @property
    def dynamodb(self) -> Any:
        """The aiobotocore DynamoDB client calls go through (botocore's API, untyped)."""
        return self.client

    def missing(self) -> str:
        table = self.settings.table
        return (
            f"table {table!r} does not exist: create it with a string partition key "
            f"{KEY!r} (aws dynamodb create-table --table-name {table} "
            f"--attribute-definitions AttributeName={KEY},AttributeType=S "
            f"--key-schema AttributeName={KEY},KeyType=HASH --billing-mode PAY_PER_REQUEST, "
            "with --endpoint-url for a server other than AWS) or set DYNAMODB_TABLE"
        )

    async def probe_once(self) -> None:
        # A read, not DescribeTable: AWS asks not to poll its control plane.
        await self.probe.get_item(TableName=self.settings.table, Key=self._probe_key)

    async def get(self, key: str) -> Item | None:
        """The item whose "id" is `key` (a strongly consistent read), or None."""
        async with self.call():
            answer = await self.dynamodb.get_item(
                TableName=self.settings.table, Key={KEY: {"S": key}}, ConsistentRead=True
            )
        item: Item | None = answer.get("Item")
        if item is not None and not isinstance(item, dict):
            raise BadAnswer(self.label, f"item {key!r} is not a map")
        return item

    async def put(self, item: Item) -> None:
        """Store `item` (its "id" included), replacing the item of the same "id"."""
        async with self.call():
            await self.dynamodb.put_item(TableName=self.settings.table, Item=item)
