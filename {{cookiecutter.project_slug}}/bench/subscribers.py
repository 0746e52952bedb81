"""Subscribers for the bench: raw clients, as cheap on every side as can be."""

from __future__ import annotations

import asyncio

from tornado.websocket import websocket_connect

from .load import HOST


class Subscriber:
    """What a subscriber received, and how to let it go."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[object] = asyncio.Queue()
        self.tasks: list[asyncio.Task[None]] = []

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def websocket(port: int, path: str) -> Subscriber:
    """A WebSocket subscriber (the baseline's `/ws`, or `/ws/<channel>`)."""
    connection = await websocket_connect(f"ws://{HOST}:{port}{path}")
    subscriber = Subscriber()

    async def read() -> None:
        try:
            while (frame := await connection.read_message()) is not None:
                subscriber.received.put_nowait(frame)
        finally:
            connection.close()

    subscriber.tasks.append(asyncio.create_task(read()))
    return subscriber
