"""The items of api/items.py in MySQL or MariaDB: its SQL, with `%s` placeholders."""

from __future__ import annotations

from asyncmy.errors import IntegrityError

from ..clients.mysql import MySQLClient
from .items import Item, NameTaken, item

DUPLICATE_ENTRY = 1062


class MySQLItems:
    def __init__(self, db: MySQLClient) -> None:
        self.db = db

    async def create(self, name: str) -> Item:
        try:
            item_id = await self.db.execute("INSERT INTO items (name) VALUES (%s)", name)
        except IntegrityError as error:
            if error.args and error.args[0] == DUPLICATE_ENTRY:
                raise NameTaken(name) from None
            raise
        created = await self.get(item_id)
        assert created is not None  # just inserted, on an autocommit connection
        return created

    async def get(self, item_id: int) -> Item | None:
        rows = await self.db.fetch("SELECT id, name, created_at FROM items WHERE id = %s", item_id)
        return item(rows[0]) if rows else None

    async def newest(self, limit: int) -> list[Item]:
        rows = await self.db.fetch(
            "SELECT id, name, created_at FROM items ORDER BY id DESC LIMIT %s", limit
        )
        return [item(row) for row in rows]
