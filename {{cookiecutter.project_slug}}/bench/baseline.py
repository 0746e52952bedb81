"""The baseline: a bare Tornado app, nothing of this project's. `python -m bench.baseline PORT`.

Hello-world, a non-blocking sleep and a blocking sleep: what every headline
number of the benchmark is compared with, in the same run. And a bare
WebSocket fan-out: `POST /notify` writes its body to every socket open at `/ws`.
"""

from __future__ import annotations

import asyncio
import sys
import time

import tornado.httpserver
import tornado.netutil
import tornado.web
import tornado.websocket


class Hello(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("Hello, world")


class Sleep(tornado.web.RequestHandler):
    async def get(self) -> None:
        await asyncio.sleep(float(self.get_argument("seconds")))
        self.write("slept")


class Block(tornado.web.RequestHandler):
    def get(self) -> None:
        time.sleep(float(self.get_argument("seconds")))  # the anti-pattern, on purpose
        self.write("blocked")


SOCKETS: set[tornado.websocket.WebSocketHandler] = set()


class Socket(tornado.websocket.WebSocketHandler):
    def open(self) -> None:
        SOCKETS.add(self)

    def on_close(self) -> None:
        SOCKETS.discard(self)


class Notify(tornado.web.RequestHandler):
    def post(self) -> None:
        for socket in SOCKETS:
            socket.write_message(self.request.body)
        self.set_status(202)


async def main(port: int, backlog: int) -> None:
    routes = [(r"/", Hello), (r"/sleep", Sleep), (r"/block", Block)]
    routes += [(r"/ws", Socket), (r"/notify", Notify)]
    app = tornado.web.Application(routes, log_function=lambda _: None)
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(tornado.netutil.bind_sockets(port, "127.0.0.1", backlog=backlog))
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
