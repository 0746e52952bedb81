"""moto's DynamoDB for the whole test session (tests/aws_servers.py), with a table of this run's."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from {{ cookiecutter.package_name }}.clients.dynamodb import KEY, DynamoDBClient

from .aws_servers import moto_url, use_test_credentials


async def create_table(name: str) -> None:
    """Make table `name` (a string key "id") as the README says: the service never does."""
    client = DynamoDBClient.from_env(os.environ)
    await client.open()
    try:
        await client.dynamodb.create_table(
            TableName=name,
            AttributeDefinitions=[{"AttributeName": KEY, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    finally:
        await client.release()


def pytest_configure(config: pytest.Config) -> None:
    use_test_credentials()
    os.environ["DYNAMODB_URL"] = moto_url()
    os.environ["DYNAMODB_TABLE"] = f"test-{uuid.uuid4().hex[:12]}"  # runs never see each other's
    asyncio.run(create_table(os.environ["DYNAMODB_TABLE"]))
