"""A real SOCKS5 proxy (microsocks) and an upstream behind it, for the whole test session.

microsocks comes from the system (`apt-get install microsocks`); without it the
tests skip saying so, or fail in CI. It binds its connections to the upstream
to 127.0.0.2, so the upstream can tell a request that came through the proxy
(from 127.0.0.2) from one that did not (from 127.0.0.1). Upstream paths:
/whoami answers who asked, /slow answers 10 s late, /status/<code> fails,
/big is 2 MB, anything else is a 404; SEEN lists every path asked for.
NOT_SOCKS5_URL answers what is not SOCKS5; SPY_URL greets as SOCKS5 should,
notes the CONNECT request in CONNECTS, and refuses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import threading
import time

import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web

from .support import closed_port, service_answers

# The address microsocks connects to the upstream from (Linux answers on all of 127/8).
PROXY_SOURCE = "127.0.0.2"
SEEN: list[str] = []
CONNECTS: list[bytes] = []
PROCESSES: list[subprocess.Popen[bytes]] = []


class Recorded(tornado.web.RequestHandler):
    def prepare(self) -> None:
        SEEN.append(self.request.path)


class WhoAmI(Recorded):
    def get(self) -> None:
        self.write({"client": self.request.remote_ip, "host": self.request.host})


class Slow(Recorded):
    async def get(self) -> None:
        await asyncio.sleep(10)


class Status(Recorded):
    def get(self, code: str) -> None:
        self.set_status(int(code))


class Big(Recorded):
    def get(self) -> None:
        self.write(b"x" * 2_000_000)


class Missing(Recorded):
    def get(self, path: str) -> None:
        self.set_status(404)


async def answer_not_socks5(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """What an HTTP server says to bytes that are not HTTP."""
    with contextlib.suppress(OSError):
        await reader.read(1)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
        await writer.drain()
    writer.close()


async def spy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept the greeting without a login, note the CONNECT request, refuse it (rule set)."""
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        methods = (await reader.readexactly(2))[1]
        await reader.readexactly(methods)
        writer.write(b"\x05\x00")
        CONNECTS.append(await reader.read(512))  # empty when it was only a /health ping
        writer.write(b"\x05\x02\x00\x01\x00\x00\x00\x00\x00\x00")  # 2: not allowed
        await writer.drain()
    writer.close()


def serve_upstream() -> tuple[str, str, str]:
    """Serve the upstream and the two fake proxies from a thread; return their URLs."""
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    not_socks5 = tornado.netutil.bind_sockets(0, "127.0.0.1")
    spying = tornado.netutil.bind_sockets(0, "127.0.0.1")

    async def main() -> None:
        app = tornado.web.Application(
            [
                (r"/whoami", WhoAmI),
                (r"/slow", Slow),
                (r"/status/([0-9]+)", Status),
                (r"/big", Big),
                (r"/(.*)", Missing),
            ],
            log_function=lambda _: None,
        )
        tornado.httpserver.HTTPServer(app).add_sockets(sockets)
        await asyncio.start_server(answer_not_socks5, sock=not_socks5[0])
        await asyncio.start_server(spy, sock=spying[0])
        await asyncio.Event().wait()

    threading.Thread(target=asyncio.run, args=(main(),), daemon=True, name="upstream").start()
    upstream = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
    not_socks5_url, spy_url = (
        f"socks5://127.0.0.1:{s[0].getsockname()[1]}" for s in (not_socks5, spying)
    )
    return upstream, not_socks5_url, spy_url


def start_microsocks(*options: str) -> tuple[str, subprocess.Popen[bytes]]:
    """Run microsocks on a free port (stopped at the session's end at the latest)."""
    for _ in range(3):  # the free port may be taken before microsocks binds it
        port = closed_port()
        command = ["microsocks", "-i", "127.0.0.1", "-p", str(port), "-b", PROXY_SOURCE]
        process = subprocess.Popen(
            [*command, *options], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        PROCESSES.append(process)
        deadline = time.monotonic() + 10
        while process.poll() is None and time.monotonic() < deadline:
            if service_answers("127.0.0.1", port, timeout=0.5):
                return f"socks5://127.0.0.1:{port}", process
            time.sleep(0.05)
        stop(process)
    raise RuntimeError("microsocks did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def pytest_configure(config: pytest.Config) -> None:
    upstream, os.environ["NOT_SOCKS5_URL"], os.environ["SPY_URL"] = serve_upstream()
    os.environ["SOCKS5_UPSTREAM_URL"] = upstream
    if shutil.which("microsocks") is None:
        # Nothing listens there: every test skips (fails in CI) saying how to install it.
        os.environ["SOCKS5_URL"] = f"socks5://127.0.0.1:{closed_port()}"
    else:
        os.environ["SOCKS5_URL"], _ = start_microsocks()


def pytest_unconfigure(config: pytest.Config) -> None:
    for process in PROCESSES:
        if process.poll() is None:
            stop(process)
