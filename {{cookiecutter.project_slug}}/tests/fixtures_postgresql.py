"""A PostgreSQL database of this test session's own, migrated, dropped at the end.

Parallel runs (and your own data) never meet: each session makes `test_<random>`
on the server POSTGRESQL_URL names, and points POSTGRESQL_URL at it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from urllib.parse import urlsplit

import asyncpg
import pytest

from {{ cookiecutter.package_name }}.clients.postgresql import DEFAULT_URL, URL_VARIABLE

from .support import service_answers

SERVER_URL = os.environ.get(URL_VARIABLE) or DEFAULT_URL
DATABASE = f"test_{uuid.uuid4().hex[:12]}"


async def run_on_server(statement: str) -> None:
    connection = await asyncpg.connect(SERVER_URL, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def pytest_configure(config: pytest.Config) -> None:
    parts = urlsplit(SERVER_URL)
    if not service_answers(parts.hostname or "127.0.0.1", parts.port or 5432):
        return  # the tests that need it skip (or fail in CI), saying so
    asyncio.run(run_on_server(f'CREATE DATABASE "{DATABASE}"'))
    os.environ[URL_VARIABLE] = parts._replace(path=f"/{DATABASE}").geturl()


def pytest_unconfigure(config: pytest.Config) -> None:
    if os.environ.get(URL_VARIABLE, "").endswith(f"/{DATABASE}"):
        asyncio.run(run_on_server(f'DROP DATABASE "{DATABASE}" WITH (FORCE)'))
