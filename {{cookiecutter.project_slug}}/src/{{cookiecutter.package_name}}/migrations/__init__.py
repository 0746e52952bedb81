"""Versioned schema migrations, applied with `python -m {{ cookiecutter.package_name }} migrate`.

Alembic, with one history for every SQL database of this project: migrations
use SQLAlchemy's portable types, and each database keeps its own
`alembic_version`. A migration is a file in versions/ (copy r0001, give it the
next revision and `down_revision`). `migrate` takes a lock in the database first, so
replicas that start together apply each migration once; it is idempotent, and
refuses a database whose schema is newer than this code.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from ..clients import make_clients

HERE = Path(__file__).resolve().parent
LOCK = 7_304_218  # any number: PostgreSQL's advisory lock, MySQL's lock name
LOCK_TIMEOUT = 60  # seconds


@runtime_checkable
class Migratable(Protocol):
    """A client of a SQL database: what `migrate` needs of it."""

    label: ClassVar[str]
    dialect: ClassVar[str]  # SQLAlchemy's "dialect+driver", e.g. "postgresql+asyncpg"

    @property
    def database_url(self) -> str: ...


class MigrationFailed(Exception):
    """A database could not be brought up to date; the message says which and why."""


class SchemaTooNew(MigrationFailed):
    """The database is at a revision this code does not know: it is newer."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    database: str
    before: str | None
    after: str | None

    def __str__(self) -> str:
        if self.before == self.after:
            return f"{self.database}: schema at {self.after}, nothing to do"
        return f"{self.database}: schema {self.before or 'empty'} -> {self.after}"


def alembic_config(connection: Connection) -> Config:
    """Alembic's settings in code: no alembic.ini to keep in step."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = connection
    return config


def head() -> str | None:
    """The newest revision this code knows."""
    return ScriptDirectory(str(HERE)).get_current_head()


async def upgrade(client: Migratable, target: str = "head") -> Outcome:
    """Bring `client`'s database to `target`, under a lock; what it was and is now."""
    url = client.database_url.split("://", 1)[1]
    engine = create_async_engine(f"{client.dialect}://{url}", poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await _lock(connection, client)
            try:
                before, after = await connection.run_sync(_upgrade, target, client.label)
                await connection.commit()
            finally:
                await connection.rollback()
                await _unlock(connection, client)
    except (OSError, DBAPIError) as error:
        reason = error.orig if isinstance(error, DBAPIError) else error
        raise MigrationFailed(f"{client.label}: cannot migrate: {reason}") from error
    finally:
        await engine.dispose()
    return Outcome(client.label, before, after)


async def _lock(connection: AsyncConnection, client: Migratable) -> None:
    """Wait up to LOCK_TIMEOUT for any other `migrate` on this database to finish."""
    if client.dialect.startswith("mysql"):
        query = text("SELECT GET_LOCK(:name, :timeout)")
        got = await connection.scalar(query, {"name": str(LOCK), "timeout": LOCK_TIMEOUT})
    else:
        # lock_timeout also bounds each migration's wait for a table lock: a
        # migration stuck behind a long transaction fails instead of queueing
        # every query on that table behind it.
        await connection.execute(text(f"SET lock_timeout = '{LOCK_TIMEOUT}s'"))
        await connection.execute(text(f"SELECT pg_advisory_lock({LOCK})"))  # or a timeout error
        got = True
    await connection.commit()
    if not got:
        raise MigrationFailed(
            f"{client.label}: another migrate held the lock for over {LOCK_TIMEOUT} s"
        )


async def _unlock(connection: AsyncConnection, client: Migratable) -> None:
    if client.dialect.startswith("mysql"):
        await connection.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": str(LOCK)})
    else:
        await connection.execute(text(f"SELECT pg_advisory_unlock({LOCK})"))
    await connection.commit()


def _upgrade(connection: Connection, target: str, label: str) -> tuple[str | None, str | None]:
    script = ScriptDirectory(str(HERE))
    known = {revision.revision for revision in script.walk_revisions()}
    before = MigrationContext.configure(connection).get_current_revision()
    if before is not None and before not in known:
        raise SchemaTooNew(
            f"{label}: the database is at revision {before!r}, newer than this code knows "
            f"(up to {script.get_current_head()!r}): deploy the code that migrated it"
        )
    command.upgrade(alembic_config(connection), target)
    return before, MigrationContext.configure(connection).get_current_revision()


def not_the_key_name_note(record: logging.LogRecord) -> bool:
    """False for MariaDB's note that it ignores the name of alembic_version's key.

    MariaDB names every primary key PRIMARY; the note is nothing to act on.
    """
    return "alembic_version_pkc" not in record.getMessage()


async def migrate_all(env: Mapping[str, str]) -> list[Outcome]:
    """Every SQL database of this project, brought to the newest revision."""
    logging.getLogger("asyncmy").addFilter(not_the_key_name_note)
    return [await upgrade(client) for client in make_clients(env) if isinstance(client, Migratable)]
