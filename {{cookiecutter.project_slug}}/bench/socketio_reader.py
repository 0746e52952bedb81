"""The Socket.IO subscriber for the bench: Engine.IO over a WebSocket, by hand.

Engine.IO packets start with a digit ("0" open, "2" ping, "3" pong, "4" a
message); a message's next digit is Socket.IO's ("0" connect, "2" an event).
"""

from __future__ import annotations

import asyncio
import json

from tornado.websocket import websocket_connect

from .load import HOST
from .subscribers import Subscriber


async def subscribe(port: int, channel: str) -> Subscriber:
    url = f"ws://{HOST}:{port}/socket.io/?EIO=4&transport=websocket"
    connection = await websocket_connect(url)
    subscriber = Subscriber()
    joined: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def read() -> None:
        try:
            while (packet := await connection.read_message()) is not None:
                text = str(packet)
                if text.startswith("0"):
                    await connection.write_message("40")
                elif text == "2":
                    await connection.write_message("3")
                elif text.startswith("40"):  # joined: subscribe, asking for an answer (ack 0)
                    await connection.write_message("420" + json.dumps(["subscribe", channel]))
                elif text.startswith("430") and not joined.done():
                    joined.set_result(None)  # subscribed
                elif text.startswith("42"):
                    subscriber.received.put_nowait(text)
        finally:
            connection.close()

    subscriber.tasks.append(asyncio.create_task(read()))
    await asyncio.wait_for(joined, 30)
    return subscriber
