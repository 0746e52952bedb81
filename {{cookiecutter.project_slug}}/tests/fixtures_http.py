"""A real local HTTP upstream for the whole test session (httpbin's /delay/<s>).

Under path prefixes it misbehaves, one way each: /slow answers 5 s late,
/status/<code> fails, /closing hangs up, /huge answers 2 MB, /redirect points
elsewhere. `GARBAGE_URL` is a server that answers what is not HTTP.
"""

from __future__ import annotations

import asyncio
import os
import threading

import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web

# Requests that reached /elsewhere: a redirect must never be followed there.
FOLLOWED: list[str] = []
# The X-Request-ID of each /delay request, to follow a request id downstream.
REQUEST_IDS: list[str] = []


class Delay(tornado.web.RequestHandler):
    async def get(self, seconds: str) -> None:
        REQUEST_IDS.append(self.request.headers.get("X-Request-ID", ""))
        await asyncio.sleep(float(seconds))
        self.write({"delayed": float(seconds)})


class TooSlow(tornado.web.RequestHandler):
    async def get(self, seconds: str) -> None:
        await asyncio.sleep(float(seconds) + 5)


class Status(tornado.web.RequestHandler):
    def get(self, code: str) -> None:
        self.set_status(int(code))


class Closing(tornado.web.RequestHandler):
    def get(self) -> None:
        self.request.connection.close()  # type: ignore[union-attr]


class Huge(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write(b"x" * 2_000_000)


class Redirect(tornado.web.RequestHandler):
    def get(self) -> None:
        self.redirect("/elsewhere")


class Elsewhere(tornado.web.RequestHandler):
    def get(self) -> None:
        FOLLOWED.append(self.request.uri or "")


async def answer_garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"this is not HTTP\r\n\r\n")
        await writer.drain()
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass  # the client left before its request was read: nothing to answer
    finally:
        writer.close()


def serve_upstream() -> tuple[str, str]:
    """Serve the upstream and the garbage server from a thread; return their URLs."""
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    garbage = tornado.netutil.bind_sockets(0, "127.0.0.1")

    async def main() -> None:
        app = tornado.web.Application(
            [
                (r"/delay/([0-9.]+)", Delay),
                (r"/slow/delay/([0-9.]+)", TooSlow),  # 5 s more than asked
                (r"/status/([0-9]+)/delay/.*", Status),  # fails with that status
                (r"/closing/delay/.*", Closing),
                (r"/huge/delay/.*", Huge),
                (r"/redirect/delay/.*", Redirect),
                (r"/elsewhere", Elsewhere),
            ],
            log_function=lambda _: None,
        )
        tornado.httpserver.HTTPServer(app).add_sockets(sockets)
        await asyncio.start_server(answer_garbage, sock=garbage[0])
        await asyncio.Event().wait()

    threading.Thread(target=asyncio.run, args=(main(),), daemon=True, name="upstream").start()
    upstream, not_http = (f"http://127.0.0.1:{s[0].getsockname()[1]}" for s in (sockets, garbage))
    return upstream, not_http


def pytest_configure(config: pytest.Config) -> None:
    os.environ["HTTP_UPSTREAM_URL"], os.environ["GARBAGE_URL"] = serve_upstream()
