"""A real local HTTP upstream for the whole test session (httpbin's /delay/<s>)."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web


class Delay(tornado.web.RequestHandler):
    async def get(self, seconds: str) -> None:
        await asyncio.sleep(float(seconds))
        self.write({"delayed": float(seconds)})


class TooSlow(tornado.web.RequestHandler):
    async def get(self, seconds: str) -> None:
        await asyncio.sleep(float(seconds) + 5)


class Status(tornado.web.RequestHandler):
    def get(self, code: str) -> None:
        self.set_status(int(code))


def serve_upstream() -> str:
    """Serve the upstream on a free port from a thread of its own; return its URL."""
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    port = sockets[0].getsockname()[1]

    async def main() -> None:
        app = tornado.web.Application(
            [
                (r"/delay/([0-9.]+)", Delay),
                (r"/slow/delay/([0-9.]+)", TooSlow),  # 5 s more than asked
                (r"/status/([0-9]+)/delay/.*", Status),  # fails with that status
            ],
            log_function=lambda _: None,
        )
        tornado.httpserver.HTTPServer(app).add_sockets(sockets)
        await asyncio.Event().wait()

    threading.Thread(target=asyncio.run, args=(main(),), daemon=True, name="upstream").start()
    return f"http://127.0.0.1:{port}"


def pytest_configure(config: pytest.Config) -> None:
    os.environ["HTTP_UPSTREAM_URL"] = serve_upstream()
