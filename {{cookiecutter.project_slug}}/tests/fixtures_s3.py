"""moto's S3 for the whole test session (tests/aws_servers.py), with a bucket of this run's."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from {{ cookiecutter.package_name }}.clients.s3 import S3Client

from .aws_servers import moto_url, use_test_credentials


async def create_bucket(name: str) -> None:
    """Make bucket `name` with the client the tests use: the service itself never does."""
    client = S3Client.from_env(os.environ)
    await client.open()
    try:
        await client.s3.create_bucket(Bucket=name)
    finally:
        await client.release()


def pytest_configure(config: pytest.Config) -> None:
    use_test_credentials()
    os.environ["S3_URL"] = moto_url()
    os.environ["S3_BUCKET"] = f"test-{uuid.uuid4().hex[:12]}"  # runs never see each other's
    asyncio.run(create_bucket(os.environ["S3_BUCKET"]))
