"""Sockets, processes, signals and graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys

import tornado.httpserver
import tornado.netutil

from .app import ServiceApp, make_app
from .settings import Settings

log = logging.getLogger(__name__)


def bind(config: Settings) -> list[socket.socket]:
    """Listening sockets for this process.

    With several processes each one binds its own SO_REUSEPORT socket, so the
    kernel spreads new connections evenly; a socket shared after fork lets one
    busy child accept them all.
    """
    return tornado.netutil.bind_sockets(
        config.port, config.address, backlog=config.backlog, reuse_port=config.processes > 1
    )


async def drain(app: ServiceApp, timeout: float) -> int:
    """Wait until no request is in flight, or `timeout`; return how many were left."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(app.idle.wait(), timeout)
    return len(app.active)


async def serve(config: Settings, sockets: list[socket.socket] | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully."""
    app = make_app(config)
    await app.start()
    server = tornado.httpserver.HTTPServer(app, xheaders=config.trust_proxy_headers)
    sockets = sockets or bind(config)
    server.add_sockets(sockets)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    port = sockets[0].getsockname()[1]
    loop_kind = type(loop).__module__.split(".")[0]  # "asyncio", or "uvloop"
    where = f"{config.address}:{port}"
    log.info("serving %s on %s (pid %d, %s loop)", app.strategy.name, where, os.getpid(), loop_kind)
    try:
        await stop.wait()
    finally:
        await shut_down(app, server, config.shutdown_timeout)


async def shut_down(app: ServiceApp, server: tornado.httpserver.HTTPServer, timeout: float) -> None:
    """Stop accepting, let in-flight requests finish (up to `timeout`), then release all."""
    server.stop()
    left = await drain(app, timeout)
    if left:
        log.warning("shutdown: %d request(s) still in flight after %g s, closing", left, timeout)
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
    loop_factory = None
    if config.use_uvloop:
        import uvloop  # optional: pip install '.[uvloop]'

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve(config))


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
        for slot in range(self.config.processes):
            self._spawn(slot)
        while self.children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            slot = self.children.pop(pid)
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
        self.stopping = True
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        if not self.children:
            sys.exit(0)
