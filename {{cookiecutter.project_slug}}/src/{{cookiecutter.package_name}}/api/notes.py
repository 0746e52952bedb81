"""/notes/<id>: JSON notes kept in DynamoDB (DYNAMODB_TABLE), an example to copy.

PUT `{"text": "..."}` stores the note <id>, replacing any; GET answers it, or
404. A note is one item, `{"id": S, "text": S, "updated": N}` (Unix seconds);
an item of another shape (written by something else) is answered 502, not
passed on.
"""

from __future__ import annotations

import re
import time
from typing import Any

from ..clients import BadAnswer
from ..clients.dynamodb import DynamoDBClient, Item
from ..web import ApiError, JsonHandler, Routes, parse_json

NOTE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_TEXT = 10_000  # characters; DynamoDB's items stop at 400 KB


def note_id(raw: str) -> str:
    if not NOTE_ID.fullmatch(raw):
        raise ApiError(400, "a note id is 1 to 64 letters, digits, '_' or '-'")
    return raw


def note_text(body: Any) -> str:
    """The text of a PUT's body, `{"text": "..."}`; 400 saying what is wrong."""
    if not isinstance(body, dict):
        raise ApiError(400, 'the body must be a JSON object: {"text": "..."}')
    unknown = sorted(set(body) - {"text"})
    if unknown:
        raise ApiError(400, f"unknown fields: {', '.join(unknown)} (a note has only text)")
    text = body.get("text")
    if not isinstance(text, str) or not 1 <= len(text) <= MAX_TEXT:
        raise ApiError(400, f"text must be a string of 1 to {MAX_TEXT} characters")
    return text


def as_item(note: dict[str, Any]) -> Item:
    return {
        "id": {"S": note["id"]},
        "text": {"S": note["text"]},
        "updated": {"N": str(note["updated"])},
    }


def as_note(item: Item) -> dict[str, Any]:
    """The note an item holds; ValueError saying why when it is not one."""
    values: dict[str, str] = {}
    for name, kind in (("id", "S"), ("text", "S"), ("updated", "N")):
        value = item.get(name)
        if not isinstance(value, dict) or not isinstance(value.get(kind), str):
            raise ValueError(f"its {name!r} is not of type {kind}")
        values[name] = value[kind]
    return {"id": values["id"], "text": values["text"], "updated": int(float(values["updated"]))}


class NoteHandler(JsonHandler):
    """Waits on DynamoDB: one call, within DYNAMODB_TIMEOUT; cancelled if the client leaves."""

    def initialize(self, dynamodb: DynamoDBClient) -> None:  # type: ignore[override]
        super().initialize()
        self.dynamodb = dynamodb
        self.patience = dynamodb.settings.timeout + 1  # the client answers 504 before this

    async def get(self, raw: str) -> None:
        key = note_id(raw)
        item = await self.wait(self.dynamodb.get(key), self.patience, "DynamoDB")
        if item is None:
            raise ApiError(404, f"no note {key!r}")
        try:
            note = as_note(item)
        except ValueError as error:
            raise BadAnswer(self.dynamodb.label, f"item {key!r} is not a note: {error}") from None
        self.write_json(note)

    async def put(self, raw: str) -> None:
        note = {
            "id": note_id(raw),
            "text": note_text(parse_json(self.request.body)),
            "updated": int(time.time()),
        }
        await self.wait(self.dynamodb.put(as_item(note)), self.patience, "DynamoDB")
        self.write_json(note)


def routes(dynamodb: DynamoDBClient) -> Routes:
    return [(r"/notes/([^/]+)", NoteHandler, {"dynamodb": dynamodb})]
