"""`python -m {{ cookiecutter.package_name }} migrate` against each real database of this project."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import pytest

from {{ cookiecutter.package_name }}.clients import make_clients
from {{ cookiecutter.package_name }}.migrations import Migratable, head

from .support import PACKAGE, SRC, cli, closed_port, local_url, require_client, started

DATABASES: list[Any] = [
    client for client in make_clients(os.environ) if isinstance(client, Migratable)
]


def run_on_each(*statements: str) -> None:
    """Run `statements` on every database, through the project's own clients."""

    async def scenario() -> None:
        for client in DATABASES:
            require_client(client)
            async with started(type(client).from_env(os.environ)) as db:
                for statement in statements:
                    await db.fetch(statement)  # type: ignore[attr-defined]

    asyncio.run(scenario())


@pytest.fixture
def empty() -> None:
    """Every database without this project's tables, as on a first deploy."""
    run_on_each("DROP TABLE IF EXISTS items", "DROP TABLE IF EXISTS alembic_version")


@pytest.mark.usefixtures("empty")
def test_migrate_brings_each_database_up_to_date_and_twice_is_a_no_op() -> None:
    first = cli("migrate")
    assert (first.returncode, first.stderr) == (0, ""), first.stderr
    labels = sorted(client.label for client in DATABASES)
    assert sorted(first.stdout.splitlines()) == [
        f"{label}: schema empty -> {head()}" for label in labels
    ]
    second = cli("migrate")
    assert second.returncode == 0, second.stderr
    assert sorted(second.stdout.splitlines()) == [
        f"{label}: schema at {head()}, nothing to do" for label in labels
    ]
    run_on_each("SELECT id, name, created_at FROM items")  # the table is there


@pytest.mark.usefixtures("empty")
def test_replicas_that_migrate_together_apply_each_migration_once() -> None:
    command = [sys.executable, "-m", PACKAGE, "migrate"]
    env = {**os.environ, "PYTHONPATH": SRC}
    processes = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], outputs
    lines = [line for stdout, _ in outputs for line in stdout.splitlines()]
    for client in DATABASES:  # one of them migrated; the others found nothing to do
        applied = [line for line in lines if line.startswith(f"{client.label}: schema empty")]
        assert len(applied) == 1, lines


def test_a_database_newer_than_the_code_is_refused_and_left_alone() -> None:
    assert cli("migrate").returncode == 0
    run_on_each("UPDATE alembic_version SET version_num = '9999'")
    try:
        refused = cli("migrate")
        assert refused.returncode == 1
        assert refused.stdout == ""
        first = DATABASES[0].label  # migrate stops at the first database it refuses
        assert refused.stderr == (
            f"error: {first}: the database is at revision '9999', newer than this code "
            f"knows (up to '{head()}'): deploy the code that migrated it\n"
        )
    finally:
        run_on_each(f"UPDATE alembic_version SET version_num = '{head()}'")


def test_an_unreachable_database_is_one_line_not_a_traceback() -> None:
    client = DATABASES[0]
    variable = f"{client.name.upper()}_URL"
    failed = cli("migrate", env={variable: local_url(os.environ[variable], closed_port())})
    assert failed.returncode == 1
    assert failed.stderr.startswith(f"error: {client.label}: cannot migrate: ")
    assert len(failed.stderr.splitlines()) == 1, failed.stderr
