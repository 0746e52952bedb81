"""Sockets, processes, signals and graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import resource
import signal
import socket
import sys
import threading
import time

import tornado.httpserver
import tornado.iostream
import tornado.netutil
import tornado.web
from tornado.ioloop import IOLoop, PeriodicCallback

from .app import ServiceApp, make_app
from .settings import Settings
from .telemetry import errors, tracing
from .telemetry.metrics import REFRESH_EVERY, MetricsHandler, multiprocess_dir, process_gone
from .web import answer_and_close

log = logging.getLogger(__name__)
# Descriptors kept free for what is not a client connection: pools, logs, pipes.
RESERVED_FILES = 256
# accept() fails with these when the process or the system is out of resources.
OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


def bind(config: Settings) -> list[socket.socket]:
    """Listening sockets for this process.

    With several processes each one binds its own SO_REUSEPORT socket, so the
    kernel spreads new connections evenly; a socket shared after fork lets one
    busy child accept them all.
    """
    return tornado.netutil.bind_sockets(
        config.port, config.address, backlog=config.backlog, reuse_port=config.processes > 1
    )


def raise_open_files(wanted: int) -> int:
    """Raise this process's soft limit on open files towards `wanted`; return the limit.

    The common default of 1,024 is reached by 1,000 idle clients.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(wanted, hard) if hard != resource.RLIM_INFINITY else wanted
    if target > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    return soft


def connection_limit(config: Settings, open_files: int) -> int:
    """MAX_CONNECTIONS, or what the open-file limit leaves room for."""
    room = max(open_files - RESERVED_FILES, open_files // 2)
    return min(config.max_connections, room) if config.max_connections else room


class Server(tornado.httpserver.HTTPServer):
    """Tornado's HTTPServer, counting its open connections."""

    open_connections = 0

    def handle_stream(self, stream: tornado.iostream.IOStream, address: tuple[str, int]) -> None:
        self.open_connections += 1
        super().handle_stream(stream, address)

    def on_close(self, server_conn: object) -> None:
        self.open_connections -= 1
        super().on_close(server_conn)


class Listener:
    """Accepts connections for the server, up to `limit` open at once.

    Past the limit a new client gets a 503 at once. Out of file descriptors,
    accept() fails on every turn of the loop while the connection waits in the
    backlog (Tornado's own handler would spin a core and log each failure):
    here accepting pauses briefly instead.
    """

    def __init__(self, server: Server, sockets: list[socket.socket], limit: int) -> None:
        self.server = server
        self.sockets = sockets
        self.limit = limit
        self.loop = IOLoop.current()
        self.paused_until = 0.0

    def start(self) -> None:
        for sock in self.sockets:
            self.loop.add_handler(sock, self._on_readable, IOLoop.READ)

    def stop(self) -> None:
        for sock in self.sockets:
            self.loop.remove_handler(sock)
            sock.close()

    def _on_readable(self, sock: socket.socket, events: int) -> None:
        for _ in range(128):  # a batch, then let the loop serve the others
            try:
                connection, address = sock.accept()
            except BlockingIOError:
                return
            except ConnectionAbortedError:
                continue
            except OSError as error:
                if error.errno not in OUT_OF_RESOURCES:
                    raise
                self._pause(sock, error)
                return
            stream = tornado.iostream.IOStream(
                connection,
                max_buffer_size=self.server.max_buffer_size,
                read_chunk_size=self.server.read_chunk_size,
            )
            if self.server.open_connections >= self.limit:
                answer_and_close(stream, 503, "Service Unavailable", "too many connections")
            else:
                self.server.handle_stream(stream, address)

    def _pause(self, sock: socket.socket, error: OSError, seconds: float = 0.1) -> None:
        if time.monotonic() > self.paused_until + 5:  # once per episode, not per turn
            log.error("cannot accept connections (%s); pausing for %g s", error, seconds)
        self.paused_until = time.monotonic()
        self.loop.remove_handler(sock)
        self.loop.call_later(seconds, self.loop.add_handler, sock, self._on_readable, IOLoop.READ)


def make_server(app: ServiceApp, config: Settings) -> Server:
    return Server(
        app,
        xheaders=config.trust_proxy_headers,
        max_header_size=config.max_header_bytes,
        max_body_size=config.max_body_bytes,
        max_buffer_size=config.max_body_bytes + config.max_header_bytes,
        idle_connection_timeout=config.idle_timeout,  # also the time allowed for headers
        body_timeout=config.body_timeout,
    )


async def serve(config: Settings, sockets: list[socket.socket] | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully; a second signal hurries."""
    open_files = raise_open_files(config.open_files)
    app = make_app(config)
    await app.start()
    server = make_server(app, config)
    sockets = sockets or bind(config)
    listener = Listener(server, sockets, connection_limit(config, open_files))
    listener.start()
    metrics_server = serve_metrics(app, config)
    stop, hurry = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, lambda: hurry.set() if stop.is_set() else stop.set())
    port = sockets[0].getsockname()[1]
    loop_kind = type(loop).__module__.split(".")[0]  # "asyncio", or "uvloop"
    where = f"{config.address}:{port}"
    log.info("serving %s on %s (pid %d, %s loop)", app.strategy.name, where, os.getpid(), loop_kind)
    try:
        await stop.wait()
    finally:
        if metrics_server is not None:
            metrics_server.stop()
        await shut_down(app, server, listener, config.shutdown_timeout, hurry)


def serve_metrics(app: ServiceApp, config: Settings) -> tornado.httpserver.HTTPServer | None:
    """/metrics on METRICS_PORT when set (each process binds it: any one answers for all).

    With several processes, each also copies its figures for the others' scrapes
    every REFRESH_EVERY seconds.
    """
    if app.metrics is None:
        return None
    if app.metrics.multiprocess:
        PeriodicCallback(app.metrics.refresh, REFRESH_EVERY * 1000).start()
    if not config.metrics_port:
        return None
    routes = [(r"/metrics", MetricsHandler, {"metrics": app.metrics})]
    server = tornado.httpserver.HTTPServer(tornado.web.Application(routes, log_function=quiet))
    reuse_port = config.processes > 1
    port, address = config.metrics_port, config.metrics_address
    server.add_sockets(tornado.netutil.bind_sockets(port, address, reuse_port=reuse_port))
    log.info("metrics on %s:%d/metrics", address, port)
    return server


def quiet(handler: tornado.web.RequestHandler) -> None:
    """Scrapes are not logged: one every few seconds would drown the access log."""


async def drain(app: ServiceApp, timeout: float, hurry: asyncio.Event) -> int:
    """Wait until no request is in flight, `timeout` passes or `hurry` is set."""
    idle, hurried = asyncio.ensure_future(app.idle.wait()), asyncio.ensure_future(hurry.wait())
    await asyncio.wait([idle, hurried], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    idle.cancel()
    hurried.cancel()
    return len(app.active)


async def shut_down(
    app: ServiceApp, server: Server, listener: Listener, timeout: float, hurry: asyncio.Event
) -> None:
    """Stop accepting, let in-flight requests finish (up to `timeout`), then release all.

    Requests still waiting at the deadline are answered 503, not cut off;
    streams to clients end at once, for the clients to reconnect elsewhere.
    """
    listener.stop()
    app.closing()
    left = await drain(app, timeout, hurry)
    if left:
        log.warning("shutdown: %d request(s) still in flight after %g s: 503", left, timeout)
        app.stop_waiting()
        await drain(app, 1.0, asyncio.Event())  # time to write those 503s, hurried or not
    try:
        await asyncio.wait_for(server.close_all_connections(), timeout=1.0)
    except TimeoutError:
        log.warning("shutdown: some connections did not close within 1 s")
    await app.close()
    log.info("stopped (pid %d)", os.getpid())


def run(config: Settings) -> None:
    """Run `config.processes` serving processes; return when all have stopped."""
    if config.processes == 1:
        run_process(config)
        return
    bind(config)[0].close()  # fail here, once, if the port is taken
    Supervisor(config).run()


def run_process(config: Settings) -> None:
    # Opt-in, each on when its variable is set (OTEL_EXPORTER_OTLP_ENDPOINT, SENTRY_DSN).
    tracing.start()
    errors.start()
    loop_factory = None
    if config.use_uvloop:
        import uvloop  # optional: pip install '.[uvloop]'

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve(config))
    tracing.shut_down()
    errors.shut_down()
    exit_despite_busy_threads()


def exit_despite_busy_threads(grace: float = 1.0) -> None:
    """Exit now if a pool thread is still busy after `grace` seconds.

    Python waits for pool threads at exit, so a blocking call that never
    returns would keep the process alive for ever; shutdown has already waited
    SHUTDOWN_TIMEOUT for it.
    """
    deadline = time.monotonic() + grace
    for thread in threading.enumerate():
        if thread is not threading.main_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
    busy = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    if busy:
        log.warning("exiting with %d thread(s) still busy: %s", len(busy), ", ".join(busy))
        logging.shutdown()
        os._exit(0)


class Supervisor:
    """Forks the serving processes, forwards SIGTERM/SIGINT, restarts a crashed child."""

    def __init__(self, config: Settings, max_restarts: int = 10) -> None:
        self.config = config
        self.children: dict[int, int] = {}  # pid -> slot
        self.stopping = False
        self.restarts_left = max_restarts

    def run(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._forward)
        # The processes' metric files, summed by whichever one is scraped.
        metrics = multiprocess_dir() if self.config.metrics else contextlib.nullcontext()
        with metrics:
            for slot in range(self.config.processes):
                self._spawn(slot)
            self._wait_for_children()

    def _wait_for_children(self) -> None:
        while self.children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            slot = self.children.pop(pid)
            process_gone(pid)
            if not self.stopping and os.waitstatus_to_exitcode(status) != 0:
                self._restart(slot, pid, status)

    def _spawn(self, slot: int) -> None:
        pid = os.fork()
        if pid == 0:  # the child serves, and never returns into the supervisor's loop
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, signal.SIG_DFL)
            code = 0
            try:
                run_process(self.config)
            except BaseException:
                log.exception("serving process %d failed", os.getpid())
                code = 1
            finally:
                logging.shutdown()
                os._exit(code)
        self.children[pid] = slot

    def _restart(self, slot: int, pid: int, status: int) -> None:
        code = os.waitstatus_to_exitcode(status)
        if self.restarts_left == 0:
            log.error("process %d exited with %d; no restarts left, stopping", pid, code)
            self._forward(signal.SIGTERM, None)
            return
        self.restarts_left -= 1
        log.warning("process %d exited with %d; restarting it", pid, code)
        self._spawn(slot)

    def _forward(self, signum: int, _frame: object) -> None:
        """To every child: the first signal starts their shutdown, a second hurries it."""
        self.stopping = True
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        if not self.children:
            sys.exit(0)
