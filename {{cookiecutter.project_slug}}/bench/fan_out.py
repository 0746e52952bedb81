{%- set module = {"sse": "sse_reader", "socketio": "socketio_reader"}.get(cookiecutter.push) -%}
"""Push's own measurement: one notify to N subscribers, and messages/s to one.

Against a bare Tornado WebSocket fan-out (bench/baseline.py: `/ws` and
`POST /notify`, nothing of this project's) started in the same run: how long
one notify takes to reach every one of N subscribers (`--subscribers`), and how
many notifies a second reach one subscriber when 8 clients send them
(`--messages` in all). The subscribers are cheap raw clients of each protocol,
the same cost on both sides.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

from .load import HOST, read_response
from .processes import free_port, running
from .run import Row
{%- if module %}
from .{{ module }} import subscribe
{%- endif %}
from .subscribers import Subscriber, websocket

ROUNDS = 5  # notifies timed to the whole crowd; the median is reported
SENDERS = 8  # clients sending notifies at once, each on a keep-alive connection
# Connects a subscriber to a channel of the server at a port.
Subscribe = Callable[[int, str], Awaitable[Subscriber]]
{%- if cookiecutter.push == "websocket" %}


async def subscribe(port: int, channel: str) -> Subscriber:
    return await websocket(port, f"/ws/{channel}")
{%- endif %}


async def post(port: int, path: str, bodies: list[bytes]) -> None:
    """POST each body in turn on one keep-alive connection."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        for body in bodies:
            head = f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: {len(body)}\r\n\r\n"
            writer.write(head.encode() + body)
            status = await read_response(reader)
            if status != 202:
                raise RuntimeError(f"POST {path} answered {status}")
    finally:
        writer.close()


async def fan_out(crowd: list[Subscriber], port: int, path: str) -> float:
    """Median seconds from sending one notify to its arrival at the last subscriber."""
    times = []
    for n in range(ROUNDS):
        begun = time.perf_counter()
        await post(port, path, [b'{"round": %d}' % n])
        await asyncio.gather(*(subscriber.received.get() for subscriber in crowd))
        times.append(time.perf_counter() - begun)
    return statistics.median(times)


async def throughput(subscriber: Subscriber, port: int, path: str, count: int) -> float:
    """Notifies per second that reach one subscriber, SENDERS clients sending."""
    per_sender = max(1, count // SENDERS)
    bodies = [b'{"n": %d}' % n for n in range(per_sender)]
    begun = time.perf_counter()
    sending = asyncio.gather(*(post(port, path, bodies) for _ in range(SENDERS)))
    for _ in range(per_sender * SENDERS):
        await subscriber.received.get()
    await sending
    return per_sender * SENDERS / (time.perf_counter() - begun)


async def measure_one(
    subscribe: Subscribe, port: int, channel: str, notify: str, args: argparse.Namespace
) -> dict[str, float]:
    crowd = await asyncio.gather(*(subscribe(port, channel) for _ in range(args.subscribers)))
    try:
        await asyncio.sleep(0.5)  # every subscription registered on the server's side
        seconds = await fan_out(crowd, port, notify)
    finally:
        await asyncio.gather(*(subscriber.close() for subscriber in crowd))
    one = await subscribe(port, channel)
    try:
        await asyncio.sleep(0.2)
        rate = await throughput(one, port, notify, args.messages)
    finally:
        await one.close()
    return {"fan_out_ms": seconds * 1000, "messages_per_s": rate, "subscribers": len(crowd)}


class FanOutComparison:
    """This project's push against a bare Tornado WebSocket fan-out, same run."""

    def environment(self) -> dict[str, str]:
        return {}

    def clean_up(self) -> None:
        pass

    def processes(self, args: argparse.Namespace) -> list[list[str]]:
        return []

    def measure(
        self, args: argparse.Namespace, env: dict[str, str], port: int, pid: int
    ) -> dict[str, dict[str, float]]:
        bare = free_port()
        baseline = [sys.executable, "-m", "bench.baseline", str(bare), "4096"]
        with running(baseline, bare, env):
            ours = asyncio.run(measure_one(subscribe, port, "bench", "/notify/bench", args))
            theirs = asyncio.run(measure_one(bare_socket, bare, "", "/notify", args))
        return {"push": ours, "bare_push": theirs}

    def ratios(self, m: dict[str, float]) -> dict[str, float]:
        return {
            "fan_out_vs_bare": m["push.fan_out_ms"] / m["bare_push.fan_out_ms"],
            "push_messages_vs_bare": m["push.messages_per_s"] / m["bare_push.messages_per_s"],
        }

    def rows(self, m: dict[str, float], r: dict[str, float]) -> list[Row]:
        return [
            (
                "one notify to all",
                f"{m['push.subscribers']:.0f} subscribers, median of {ROUNDS}",
                f"{m['push.fan_out_ms']:.1f} ms",
                f"x{r['fan_out_vs_bare']:.2f} of bare Tornado WebSocket's "
                f"({m['bare_push.fan_out_ms']:.1f} ms)",
            ),
            (
                "notifies/s to one",
                f"{SENDERS} senders",
                f"{m['push.messages_per_s']:.0f}",
                f"x{r['push_messages_vs_bare']:.2f} of bare Tornado WebSocket's "
                f"({m['bare_push.messages_per_s']:.0f})",
            ),
        ]


async def bare_socket(port: int, channel: str) -> Subscriber:
    return await websocket(port, "/ws")
