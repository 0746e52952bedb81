"""The SSE subscriber for the bench: HTTP/1.1 by hand, its chunks read as they come."""

from __future__ import annotations

import asyncio

from .load import HOST
from .subscribers import Subscriber


async def subscribe(port: int, channel: str) -> Subscriber:
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(f"GET /events/{channel} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        writer.close()
        raise RuntimeError(f"/events/{channel}: {head.splitlines()[0].decode()}")
    subscriber = Subscriber()

    async def read() -> None:
        pending = b""
        try:
            while size := int((await reader.readline()).strip(), 16):  # a chunk's length
                pending += (await reader.readexactly(size + 2))[:-2]
                while b"\n\n" in pending:
                    event, pending = pending.split(b"\n\n", 1)
                    if b"\ndata: " in b"\n" + event:  # not a comment, not `retry:`
                        subscriber.received.put_nowait(event)
        finally:
            writer.close()

    subscriber.tasks.append(asyncio.create_task(read()))
    return subscriber
