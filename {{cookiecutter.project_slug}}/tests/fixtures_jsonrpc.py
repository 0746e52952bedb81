"""A real local JSON-RPC 2.0 endpoint for the whole test session.

At /rpc: `add` (two numbers), `slow` (answers after the seconds asked), `fail`
(an error object); any other method is "not found". Under other paths `add`
misbehaves, one way each, while every other method (the health probe's too) is
answered as at /rpc: a server that is up, with a broken method. /faulty: an
error object; /slow: 3 s late; /not-json: an HTML page; /other-id: another
call's id; /text: the sum as a string. JSONRPC_URL is set to the /rpc endpoint.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from typing import Any

import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web

NOT_FOUND = {"code": -32601, "message": "Method not found"}
FAILED = {"code": -32000, "message": "it failed, as asked", "data": "internals"}
BROKEN = {"code": -32000, "message": "add is broken"}


async def dispatch(method: Any, params: Any) -> dict[str, Any]:
    """What /rpc answers: a result or an error, without the envelope."""
    if method == "add":
        return {"result": params[0] + params[1]}
    if method == "slow":
        await asyncio.sleep(params[0])
        return {"result": params[0]}
    if method == "fail":
        return {"error": FAILED}
    return {"error": NOT_FOUND}


class Endpoint(tornado.web.RequestHandler):
    async def post(self, path: str) -> None:
        request = json.loads(self.request.body)
        request_id, method, params = request.get("id"), request.get("method"), request.get("params")
        if method == "add" and path != "rpc":
            await self.misbehave(path, request_id, params)
        else:
            self.reply(request_id, await dispatch(method, params))

    def reply(self, request_id: Any, outcome: dict[str, Any]) -> None:
        self.write({"jsonrpc": "2.0", "id": request_id, **outcome})

    async def misbehave(self, path: str, request_id: Any, params: Any) -> None:
        if path == "faulty":
            self.reply(request_id, {"error": BROKEN})
        elif path == "slow":
            await asyncio.sleep(3)
            self.reply(request_id, await dispatch("add", params))
        elif path == "not-json":
            self.set_header("Content-Type", "text/html")
            self.write("<html><body>502 Bad Gateway</body></html>")
        elif path == "other-id":
            self.reply(request_id + 1000, await dispatch("add", params))
        elif path == "text":
            self.reply(request_id, {"result": str(params[0] + params[1])})


def serve_endpoint() -> str:
    """Serve the endpoint from a thread; return the URL of /rpc."""
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")

    async def main() -> None:
        paths = "rpc|faulty|slow|not-json|other-id|text"
        app = tornado.web.Application([(rf"/({paths})", Endpoint)], log_function=lambda _: None)
        tornado.httpserver.HTTPServer(app).add_sockets(sockets)
        await asyncio.Event().wait()

    threading.Thread(target=asyncio.run, args=(main(),), daemon=True, name="jsonrpc").start()
    return f"http://127.0.0.1:{sockets[0].getsockname()[1]}/rpc"


def pytest_configure(config: pytest.Config) -> None:
    os.environ["JSONRPC_URL"] = serve_endpoint()
