"""/items: a resource kept in a SQL database, an example to copy.

- `POST /items` with `{"name": "..."}`: 201 with the item and its `Location`;
  409 if the name is taken; 400 for a bad body.
- `GET /items/<id>`: the item, or 404.
- `GET /items?limit=N`: the newest N items (1 to 100, default 20).
The table comes from a versioned migration (migrations/versions/r0001_*.py):
`python -m {{ cookiecutter.package_name }} migrate` creates it. Each database has a
store of its own (items_postgresql.py, items_mysql.py): the SQL differs, the
handlers do not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, TypedDict

from ..web import ApiError, JsonHandler, Routes, parse_json

MAX_NAME = 100
MAX_LIMIT = 100
# The store's client answers first (503 or 504 after its own timeout); this bounds
# the whole request, and lets a client that leaves cancel its query.
STORE_TIMEOUT = 30


class Item(TypedDict):
    id: int
    name: str
    created_at: str


class NameTaken(Exception):
    """An item of this name exists already."""


class ItemStore(Protocol):
    async def create(self, name: str) -> Item:
        """The new item; NameTaken if the name is taken."""

    async def get(self, item_id: int) -> Item | None: ...

    async def newest(self, limit: int) -> list[Item]: ...


def item(row: Any) -> Item:
    """A database row (a mapping) as the JSON an item is."""
    created: datetime = row["created_at"]
    return {"id": int(row["id"]), "name": str(row["name"]), "created_at": created.isoformat()}


class ItemsHandler(JsonHandler):
    """Creates an item, or lists the newest: one query each, on the store's pool."""

    def initialize(self, store: ItemStore, path: str) -> None:  # type: ignore[override]
        super().initialize()
        self.store = store
        self.path = path

    async def post(self) -> None:
        body = parse_json(self.request.body or b"{}")
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not 0 < len(name.strip()) <= MAX_NAME:
            raise ApiError(400, f"'name' must be a string of 1 to {MAX_NAME} characters")
        try:
            created = await self.wait(self.store.create(name.strip()), STORE_TIMEOUT, "the store")
        except NameTaken:
            raise ApiError(409, f"an item named {name.strip()!r} exists already") from None
        self.set_header("Location", f"{self.path}/{created['id']}")
        self.write_json(dict(created), status=201)

    async def get(self) -> None:
        raw = self.get_query_argument("limit", "20")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            raise ApiError(400, f"'limit' must be from 1 to {MAX_LIMIT}, got {raw!r}")
        items = await self.wait(self.store.newest(int(raw)), STORE_TIMEOUT, "the store")
        self.write_json({"items": [dict(one) for one in items]})


class ItemHandler(JsonHandler):
    """Reads one item by its id."""

    def initialize(self, store: ItemStore) -> None:  # type: ignore[override]
        super().initialize()
        self.store = store

    async def get(self, item_id: str) -> None:
        found = await self.wait(self.store.get(int(item_id)), STORE_TIMEOUT, "the store")
        if found is None:
            raise ApiError(404, f"no item {item_id}")
        self.write_json(dict(found))


def routes(path: str, store: ItemStore) -> Routes:
    """The two URL rules of the resource at `path`, backed by `store`."""
    return [
        (path, ItemsHandler, {"store": store, "path": path}),
        (path + r"/([0-9]{1,18})", ItemHandler, {"store": store}),
    ]
