"""The servers of the S3 and DynamoDB tests: moto's, and a relay to it that turns bad."""

from __future__ import annotations

import asyncio
import functools
import logging
import os

from moto.server import ThreadedMotoServer

from .support import Proxy


def use_test_credentials() -> None:
    """moto takes any keys: these keep a developer's own (and AWS itself) out of the tests."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1"
    )
    os.environ.pop("AWS_SESSION_TOKEN", None)


@functools.cache
def moto_url() -> str:
    """moto's server (S3, DynamoDB, every AWS API) in a thread: one for the whole session."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # else a log line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return f"http://{host}:{port}"


class Relay(Proxy):
    """A Proxy (`cut()`, `restore()`) that can also turn bad while it listens.

    `stall()`: it takes requests and never answers, as an overloaded server.
    `garble()`: it answers what is not HTTP. Either drops the connections open
    until then, so that every request after it meets the new behaviour.
    """

    mode = "relay"

    def stall(self) -> None:
        self._turn("stall")

    def garble(self) -> None:
        self._turn("garble")

    def _turn(self, mode: str) -> None:
        self.cut()
        self.mode = mode
        self.restore()

    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "relay":
            await super()._connect(reader, writer)
            return
        self.writers.add(writer)
        try:
            await reader.readuntil(b"\r\n\r\n")
            if self.mode == "garble":
                writer.write(b"this is not HTTP\r\n\r\n")
                await writer.drain()
            await reader.read()  # until the client gives up
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client gave up first
        finally:
            writer.transport.abort()
            self.writers.discard(writer)
