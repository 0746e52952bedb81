"""The items of api/items.py in PostgreSQL: its SQL, with asyncpg's `$n` placeholders."""

from __future__ import annotations

import asyncpg

from ..clients.postgresql import PostgreSQLClient
from .items import Item, NameTaken, item


class PostgreSQLItems:
    def __init__(self, db: PostgreSQLClient) -> None:
        self.db = db

    async def create(self, name: str) -> Item:
        try:
            row = await self.db.fetchrow(
                "INSERT INTO items (name) VALUES ($1) RETURNING id, name, created_at", name
            )
        except asyncpg.UniqueViolationError:
            raise NameTaken(name) from None
        return item(row)

    async def get(self, item_id: int) -> Item | None:
        row = await self.db.fetchrow(
            "SELECT id, name, created_at FROM items WHERE id = $1", item_id
        )
        return None if row is None else item(row)

    async def newest(self, limit: int) -> list[Item]:
        rows = await self.db.fetch(
            "SELECT id, name, created_at FROM items ORDER BY id DESC LIMIT $1", limit
        )
        return [item(row) for row in rows]
