{%- set servers = cookiecutter.__servers.split(",") if cookiecutter.__servers else [] -%}
{%- set starts = [] -%}
{%- for name in servers -%}
{%- import "services/" ~ name ~ ".jinja" as service with context -%}
{%- if service.start is defined %}{% set _ = starts.append((service.label, service.start)) %}{% endif -%}
{%- endfor -%}
"""Test helpers shared by every strategy's tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPResponse
from tornado.testing import AsyncHTTPTestCase

from {{ cookiecutter.package_name }}.app import ServiceApp, make_app
from {{ cookiecutter.package_name }}.clients import Client
from {{ cookiecutter.package_name }}.settings import Settings

PACKAGE = "{{ cookiecutter.package_name }}"
SRC = str(Path(__file__).resolve().parent.parent / "src")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# How to start each service the tests talk to, for the message when it is down.
{%- if starts %}
HOW_TO_START: dict[str, str] = {
{%- for label, command in starts %}
    "{{ label }}": "{{ command }}",
{%- endfor %}
}
{%- else %}
HOW_TO_START: dict[str, str] = {}
{%- endif %}


def service_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip outside CI when `name` is down (saying how to start it); fail in CI."""
    if service_answers(host, port):
        return
    how = f" ({HOW_TO_START[name]})" if name in HOW_TO_START else ""
    message = f"{name} is not answering on {host}:{port}: start it{how} to run this test"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def require_client(client: Client) -> None:
    """`require_service` for a client's service; a local program (no address) always runs."""
    address = client.address()
    if address is not None:
        require_service(client.label, *address)


def closed_port() -> int:
    """A local port where nothing listens (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def dead_brokers() -> dict[str, str]:
    """The environment with Redis and RabbitMQ where nothing listens."""
    return {
        **os.environ,
        "REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0",
        "AMQP_URL": f"amqp://guest:guest@127.0.0.1:{closed_port()}/",
    }


def local_url(url: str, port: int) -> str:
    """`url` with its host and port replaced by 127.0.0.1 and `port`."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@127.0.0.1:{port}" if credentials else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def body(response: HTTPResponse) -> Any:
    return json.loads(response.body)


def time_a_sleep(client: Any, seconds: float) -> float:
    """How long `client.sleep(seconds)` takes, the client started for it."""

    async def scenario() -> float:
        async with started(client):
            begun = time.monotonic()
            await client.sleep(seconds)
            return time.monotonic() - begun

    return asyncio.run(scenario())


@contextlib.asynccontextmanager
async def started(client: Client) -> AsyncIterator[Client]:
    """A client started for the duration of a test, then closed."""
    await client.start()
    try:
        yield client
    finally:
        await client.close()


async def until_available(clients: Iterable[Client], seconds: float = 10) -> None:
    """Until every client has seen its service answer: a first ping can time out on a
    busy machine, and the client says "down" until its next one."""
    deadline = time.monotonic() + seconds
    while not all(client.available for client in clients):
        assert time.monotonic() < deadline, {client.name: client.health() for client in clients}
        await asyncio.sleep(0.05)


class AppTestCase(AsyncHTTPTestCase):
    """Serves `make_app(settings)` on a real local port for each test."""

    def settings(self) -> Settings:
        return Settings(sleep_max_seconds=5.0, shutdown_timeout=1.0)

    def get_app(self) -> ServiceApp:
        self.app = make_app(self.settings())
        return self.app

    def setUp(self) -> None:
        super().setUp()
        self.io_loop.run_sync(self.app.start, timeout=30)

    def tearDown(self) -> None:
        self.io_loop.run_sync(self.app.close, timeout=30)
        super().tearDown()

    async def until_up(self, seconds: float = 10) -> None:
        await until_available(self.app.clients, seconds)

    def get_http_client(self) -> AsyncHTTPClient:
        # The shared client queues past 10 requests; concurrency tests need more.
        return AsyncHTTPClient(force_instance=True, max_clients=1000)

    async def get(self, path: str, **kwargs: Any) -> HTTPResponse:
        kwargs.setdefault("raise_error", False)
        kwargs.setdefault("request_timeout", 30)
        return await self.http_client.fetch(self.get_url(path), **kwargs)

    async def timed_gather(self, *paths: str) -> tuple[float, list[HTTPResponse]]:
        started = time.monotonic()
        responses = await asyncio.gather(*(self.get(path) for path in paths))
        return time.monotonic() - started, list(responses)


def get_json(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the command line; past `timeout`, SIGTERM it so it stops what it started."""
    with subprocess.Popen(
        [sys.executable, "-m", PACKAGE, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC, **(env or {})},
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.terminate()
            stdout, stderr = process.communicate(timeout=60)
            raise AssertionError(f"{args} ran over {timeout} s:\n{stdout}{stderr}") from None
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


class Server:
    """`python -m <package> serve` in a subprocess on a free port."""

    def __init__(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        preexec_fn: Callable[[], None] | None = None,
    ) -> None:
        self.port = closed_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", PACKAGE, "serve", "--port", str(self.port), *args],
            env={**os.environ, "PYTHONPATH": SRC, "SHUTDOWN_TIMEOUT": "5", **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=preexec_fn,  # a resource limit for the test server
        )
        # Read as it comes: a full pipe would block the server in its next log line.
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self.read_output, daemon=True, name="server-output")
        self.reader.start()
        self.wait_until_up()

    def read_output(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout:
            self.lines.extend(self.process.stdout)

    def wait_until_up(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                get_json(self.url + "/health")
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"server did not answer within {timeout} s")

    def output(self) -> str:
        """Kill the server if it still runs; what it printed."""
        if self.process.poll() is None:
            self.process.kill()
        return self.printed()

    def stop(self) -> int:
        """SIGTERM, as a process manager sends it; the exit code."""
        self.process.send_signal(signal.SIGTERM)
        self.printed()
        return self.process.returncode

    def printed(self) -> str:
        """Everything the server printed, once it has exited."""
        self.process.wait(timeout=30)
        self.reader.join(timeout=30)
        return "".join(self.lines)


class Proxy:
    """A TCP proxy on a free port in front of a real server: `cut()` is an outage.

    The tests' broker outages go through one: the shared server is never stopped.
    """

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 0)
        self.port = closed_port()
        self.loop = asyncio.new_event_loop()
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="proxy")
        self.thread.start()
        self.restore()

    def url(self, url: str) -> str:
        """`url` with its host and port replaced by the proxy's."""
        return local_url(url, self.port)

    def cut(self) -> None:
        """Stop listening and drop every connection, as a stopped server would."""
        asyncio.run_coroutine_threadsafe(self._cut(), self.loop).result(10)

    def restore(self) -> None:
        asyncio.run_coroutine_threadsafe(self._listen(), self.loop).result(10)

    def close(self) -> None:
        self.cut()
        asyncio.run_coroutine_threadsafe(self._end_connections(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    async def _listen(self) -> None:
        self.server = await asyncio.start_server(self._connect, "127.0.0.1", self.port)

    async def _cut(self) -> None:
        if self.server is not None:
            await self._stop_accepting(self.server)
            self.server = None
        self._abort_connections()

    def _abort_connections(self) -> None:
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()

    async def _stop_accepting(self, server: asyncio.Server) -> None:
        """Close the listening socket with no connection half accepted.

        asyncio builds an accepted connection's transport a loop turn after the
        accept, and drops it unclosed (a ResourceWarning) if the server closed
        in between. So: stop polling the socket, give the accepts already made
        the turns to build their transports and reach `_connect`, then close.
        """
        for listening in server.sockets:
            self.loop.remove_reader(listening.fileno())
        for _ in range(3):
            await asyncio.sleep(0)
        server.close()

    async def _end_connections(self) -> None:
        """Cancel what still pipes data: a stopped loop would leave it pending."""
        tasks = asyncio.all_tasks() - {asyncio.current_task()}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # A connection whose relay was cancelled before its first step: never piped,
        # still open. Aborted here, and a loop turn lets each transport close its socket.
        self._abort_connections()
        await asyncio.sleep(0)

    def _connect(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Coroutine[Any, Any, None]:
        """Called as a connection arrives: it is known before its relay can be cancelled."""
        self.writers.add(writer)
        return self._relay(reader, writer)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Both ends are closed here whatever ends the pipe, cancellation included: a
        # socket left to the garbage collector is a ResourceWarning in a later test.
        ends = {writer}
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
            ends.add(upstream_writer)
            self.writers.add(upstream_writer)
            await asyncio.gather(
                self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
            )
        except OSError:
            pass  # the upstream is down: the client sees its connection dropped
        finally:
            for end in ends:
                end.transport.abort()
                self.writers.discard(end)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()  # the other way ends too


class ProxiedAppTestCase(AppTestCase):
    """The app with one service reached through a `Proxy`: `self.proxy.cut()` is its outage."""

    def proxied_setting(self) -> tuple[str, str]:
        """The `<NAME>_URL` variable of the service behind the proxy, and its URL."""
        raise NotImplementedError

    def more_env(self) -> dict[str, str]:
        """Other settings of the app under test."""
        return {}

    def get_app(self) -> ServiceApp:
        variable, url = self.proxied_setting()
        self.proxy = Proxy(url)
        env = {**os.environ, **self.more_env(), variable: self.proxy.url(url)}
        self.app = make_app(self.settings(), env=env)
        return self.app

    def tearDown(self) -> None:
        super().tearDown()
        self.proxy.close()
