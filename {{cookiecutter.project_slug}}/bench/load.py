"""Load: bursts of concurrent requests, a /health probe, and requests per second.

A bounded asyncio client over raw sockets, or wrk when it is installed: in C,
wrk leaves the cores to the servers it measures.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field

HOST = "127.0.0.1"
PROBE_INTERVAL = 0.01  # /health probe: about 100 requests a second on one connection


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response with a Content-Length body; return its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


async def one_request(port: int, path: str, timeout: float) -> int:
    """A request on a fresh connection (the worst case for the server); 0 on failure."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(HOST, port)
            try:
                writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
                return await read_response(reader)
            finally:
                writer.close()
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
        return 0


async def burst(port: int, path: str, count: int, timeout: float) -> dict[str, float]:
    """`count` concurrent requests; wall time to the last answer and failures."""
    started = time.perf_counter()
    statuses = await asyncio.gather(*(one_request(port, path, timeout) for _ in range(count)))
    wall = time.perf_counter() - started
    return {"wall_s": wall, "failed": sum(status != 200 for status in statuses)}


@dataclass
class Probe:
    """Times /health on one keep-alive connection until stopped."""

    port: int
    path: str = "/health"
    latencies_ms: list[float] = field(default_factory=list)
    failures: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection(HOST, self.port)
        request = f"GET {self.path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
        try:
            while not stop.is_set():
                started = time.perf_counter()
                writer.write(request)
                try:
                    async with asyncio.timeout(10):
                        status = await read_response(reader)
                except TimeoutError:
                    self.failures += 1
                    continue
                self.latencies_ms.append((time.perf_counter() - started) * 1000)
                self.failures += status not in (200, 503)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), PROBE_INTERVAL)
        finally:
            writer.close()

    def summary(self) -> dict[str, float]:
        values = sorted(self.latencies_ms) or [float("nan")]
        return {
            "p50_ms": values[len(values) // 2],
            "p99_ms": values[min(len(values) - 1, int(len(values) * 0.99))],
            "probes": len(self.latencies_ms),
            "probe_failures": self.failures,
        }


async def probed(
    port: int, probe_port: int, path: str, count: int, timeout: float
) -> dict[str, float]:
    """A burst at `port` while /health on `probe_port` is timed."""
    probe, stop = Probe(probe_port, "/health" if probe_port == port else "/"), asyncio.Event()
    probing = asyncio.create_task(probe.run(stop))
    result = await burst(port, path, count, timeout)
    stop.set()
    await probing
    return result | probe.summary()


async def idle_probe(port: int, path: str, seconds: float = 1.0) -> dict[str, float]:
    probe, stop = Probe(port, path), asyncio.Event()
    probing = asyncio.create_task(probe.run(stop))
    await asyncio.sleep(seconds)
    stop.set()
    await probing
    return probe.summary()


async def requests_per_second(
    port: int, path: str, connections: int, seconds: float, counted: tuple[int, ...] = (200,)
) -> float:
    """Requests answered (with a status in `counted`) per second by `connections` clients."""
    deadline = time.perf_counter() + seconds
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()

    async def client() -> int:
        done = 0
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while time.perf_counter() < deadline:
                writer.write(request)
                async with asyncio.timeout(30):
                    done += await read_response(reader) in counted
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            pass  # the server gave up on this connection: count what it answered
        finally:
            writer.close()
        return done

    started = time.perf_counter()
    answered = await asyncio.gather(*(client() for _ in range(connections)))
    return sum(answered) / (time.perf_counter() - started)


def load_generator(choice: str) -> str:
    """wrk when asked for or found, else the asyncio client."""
    found = shutil.which("wrk")
    if choice == "wrk" and not found:
        raise SystemExit(
            "bench: wrk is not installed (apt-get install wrk), "
            "or use the built-in load generator: --load-generator python"
        )
    return "wrk" if choice == "wrk" or (choice == "auto" and found) else "python"


def measure_rps(generator: str, port: int, path: str, connections: int, seconds: float) -> float:
    """Successful answers per second to `connections` keep-alive clients."""
    if generator == "wrk":
        return wrk_requests_per_second(port, path, connections, seconds)
    return asyncio.run(requests_per_second(port, path, connections, seconds))


def wrk_requests_per_second(port: int, path: str, connections: int, seconds: float) -> float:
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"http://{HOST}:{port}{path}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60)
    return parse_wrk(done.stdout)


def parse_wrk(output: str) -> float:
    """Successful answers per second from wrk's summary, as the asyncio client counts them."""
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", output)
    if total is None:
        raise RuntimeError(f"wrk's output was not understood:\n{output}")
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    unit = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[total.group(3)]
    answered = int(total.group(1)) - (int(failed.group(1)) if failed else 0)
    return answered / (float(total.group(2)) * unit)
