"""A MySQL database of this test session's own, dropped at the end.

Parallel runs (and your own data) never meet: each session makes `test_<random>`
on the server MYSQL_URL names, and points MYSQL_URL at it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from urllib.parse import urlsplit

import asyncmy
import pytest

from {{ cookiecutter.package_name }}.clients.mysql import DEFAULT_URL, URL_VARIABLE, MySQLSettings

from .support import service_answers

SERVER_URL = os.environ.get(URL_VARIABLE) or DEFAULT_URL
DATABASE = f"test_{uuid.uuid4().hex[:12]}"


async def run_on_server(statement: str) -> None:
    options = MySQLSettings(url=SERVER_URL).connect_options() | {"db": None}
    connection = await asyncmy.connect(**options)
    try:
        async with connection.cursor() as cursor:
            await cursor.execute(statement)
    finally:
        connection.close()


def pytest_configure(config: pytest.Config) -> None:
    parts = urlsplit(SERVER_URL)
    if not service_answers(parts.hostname or "127.0.0.1", parts.port or 3306):
        return  # the tests that need it skip (or fail in CI), saying so
    asyncio.run(run_on_server(f"CREATE DATABASE `{DATABASE}`"))
    os.environ[URL_VARIABLE] = parts._replace(path=f"/{DATABASE}").geturl()


def pytest_unconfigure(config: pytest.Config) -> None:
    if os.environ.get(URL_VARIABLE, "").endswith(f"/{DATABASE}"):
        asyncio.run(run_on_server(f"DROP DATABASE `{DATABASE}`"))
