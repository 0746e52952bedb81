"""A real local XML-RPC server for the whole test session: the stdlib's own.

At /RPC2: `add` (two numbers; a sum past XML-RPC's 32-bit int is the server's
fault), `slow` (answers after the seconds asked), `fail` (a fault) and the
introspection functions (`system.listMethods`...). Under other paths `add`
misbehaves, one way each, while every other method (the health probe's too) is
answered as at /RPC2: a server that is up, with a broken method. /faulty: a
fault; /slow: 3 s late; /not-xml: an HTML page; /text: the sum as a string.
XMLRPC_URL is set to the /RPC2 endpoint.
"""

from __future__ import annotations

import os
import socketserver
import sys
import threading
import time
import xmlrpc.client
from collections.abc import Callable
from typing import Any
from xmlrpc.server import MultiPathXMLRPCServer, SimpleXMLRPCDispatcher, SimpleXMLRPCRequestHandler

import pytest


def add(a: Any, b: Any) -> Any:
    return a + b


def slow(seconds: Any) -> Any:
    time.sleep(seconds)
    return seconds


def fail() -> None:
    raise xmlrpc.client.Fault(4, "it failed, as asked")


def broken_add(a: Any, b: Any) -> Any:
    raise xmlrpc.client.Fault(4, "add is broken")


def slow_add(a: Any, b: Any) -> Any:
    time.sleep(3)
    return a + b


def text_add(a: Any, b: Any) -> str:
    return str(a + b)


ADDS: dict[str, Callable[[Any, Any], Any]] = {
    "/RPC2": add,
    "/faulty": broken_add,
    "/slow": slow_add,
    "/text": text_add,
    "/not-xml": add,  # never called: Handler answers there
}


class Handler(SimpleXMLRPCRequestHandler):
    rpc_paths = tuple(ADDS)

    def do_POST(self) -> None:  # noqa: N802  (http.server's name)
        if self.path != "/not-xml":
            super().do_POST()
            return
        length = int(self.headers["Content-Length"])
        _, method = xmlrpc.client.loads(self.rfile.read(length))
        if method == "add":
            self.answer(b"<html><body>502 Bad Gateway</body></html>", "text/html")
        else:
            self.answer(xmlrpc.client.dumps(([],), methodresponse=True).encode(), "text/xml")

    def answer(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(socketserver.ThreadingMixIn, MultiPathXMLRPCServer):
    daemon_threads = True  # a slow call never holds the session's end
    # socketserver's backlog is 5: while this thread waits for the GIL, a few more
    # connections (the tests' "is it there?" probes, the apps' pings) are dropped.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a caller that timed out and left
            super().handle_error(request, client_address)


def serve_xmlrpc() -> str:
    """Serve every path from a thread; return the URL of /RPC2."""
    server = Server(("127.0.0.1", 0), requestHandler=Handler, logRequests=False)
    for path, add_function in ADDS.items():
        dispatcher = SimpleXMLRPCDispatcher()
        dispatcher.register_introspection_functions()
        dispatcher.register_function(add_function, "add")
        dispatcher.register_function(slow)
        dispatcher.register_function(fail)
        server.add_dispatcher(path, dispatcher)
    threading.Thread(target=server.serve_forever, daemon=True, name="xmlrpc").start()
    return f"http://127.0.0.1:{server.server_address[1]}/RPC2"


def pytest_configure(config: pytest.Config) -> None:
    os.environ["XMLRPC_URL"] = serve_xmlrpc()
