"""Beanstalkd through a small client of our own, on asyncio streams.

It replaces the tutorial's beanstalkt, which imports `tornado.stack_context`
and takes callbacks: Tornado 6 removed both, and it has had no release since
2014. The two maintained Python clients were judged and not taken:
- greenstalk 2.1 is maintained and typed but synchronous: a reserve would hold
  a thread for its whole wait, and a request cancelled meanwhile cannot stop it.
- aiostalk 1.3 is asyncio, but a thin layer over greenstalk's private parsers:
  no timeout on connecting or on any answer, one connection and no pool, no
  type information (no py.typed), and a call cancelled mid-answer leaves that
  answer on its connection for the next call to read as its own.
The protocol is a few text lines, so this module speaks the part the app
needs: put, reserve-with-timeout, release, delete, kick-job and stats-job.

Every pooled connection uses and watches BEANSTALKD_TUBE only. A call takes a
connection for its whole exchange (a reserve for its whole wait), and a call
that does not finish cleanly (a timeout, a cancellation, a bad answer) closes
its connection instead of giving it back half-read. Beanstalkd puts the jobs a
closed connection had reserved back in the ready queue: a job is never lost
with its connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from collections.abc import AsyncIterator, Mapping
from typing import ClassVar, Self
from urllib.parse import urlsplit

from ..settings import SettingsError, read_number
from ..web import ApiError
from .base import BadAnswer, Client, ServiceTimeout, ServiceUnavailable, url_address

URL_VARIABLE = "BEANSTALKD_URL"
TUBE_VARIABLE = "BEANSTALKD_TUBE"
DEFAULT_URL = "beanstalk://127.0.0.1:11300"
DEFAULT_PORT = 11300
# Beanstalkd's names: these characters, at most 200 bytes, no leading hyphen.
TUBE_NAME = re.compile(r"[A-Za-z0-9+/;.$_()][A-Za-z0-9+/;.$_()-]{0,199}")
# The protocol's defaults as greenstalk has them: mid-range urgency, a minute to run.
DEFAULT_PRIORITY = 2**16
DEFAULT_TTR = 60
# A job or stats answer announcing more than this is not believed: beanstalkd's
# own limit on a job (its -z option) defaults to 65,535 bytes.
MAX_CHUNK_BYTES = 16 * 1024 * 1024
# What beanstalkd's refusals mean for the request that got one; its other error
# answers (BAD_FORMAT, UNKNOWN_COMMAND, INTERNAL_ERROR...) are a 502.
REFUSALS: dict[str, tuple[int, str]] = {
    "OUT_OF_MEMORY": (503, "it is out of memory"),
    "DRAINING": (503, "it is draining: it takes no new jobs"),
    "JOB_TOO_BIG": (413, "the job is larger than its max-job-size"),
}


@dataclasses.dataclass(frozen=True)
class BeanstalkdSettings:
    url: str = DEFAULT_URL
    tube: str = "jobs"
    # Connections per process; a reserve holds one for as long as it waits.
    max_connections: int = 64
    # Connecting, each answer, and a reserve beyond the wait it asked for.
    timeout: float = 2.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        return cls(
            url=checked_url(env.get(URL_VARIABLE) or cls.url),
            tube=checked_tube(env.get(TUBE_VARIABLE) or cls.tube),
            max_connections=read_number(
                env, "BEANSTALKD_MAX_CONNECTIONS", cls.max_connections, int, 1, 10_000
            ),
            timeout=read_number(env, "BEANSTALKD_TIMEOUT", cls.timeout, float, 0.01, 60.0),
        )


def checked_url(url: str) -> str:
    """`url` if it is a beanstalk://host[:port] URL, else a SettingsError naming the variable."""
    parts = urlsplit(url)
    try:
        port_ok = parts.port != 0
    except ValueError:  # not a number, or past 65535
        port_ok = False
    extras = parts.path.strip("/") or parts.query or parts.fragment or parts.username
    if parts.scheme != "beanstalk" or not parts.hostname or not port_ok or extras:
        raise SettingsError(f"{URL_VARIABLE} must be a beanstalk://host:port URL, got {url!r}")
    return url


def checked_tube(tube: str) -> str:
    if not TUBE_NAME.fullmatch(tube):
        raise SettingsError(
            f"{TUBE_VARIABLE} must be 1 to 200 letters, digits or +/;.$_()- "
            f"(not starting with -), got {tube!r}"
        )
    return tube


@dataclasses.dataclass(frozen=True)
class Job:
    id: int
    body: bytes


class ProtocolError(Exception):
    """The server's answer is not beanstalkd's protocol, or not an answer to what was sent."""


class Refused(Exception):
    """Beanstalkd could not do what was asked: one of REFUSALS, which the client maps."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


class Connection:
    """One connection, using and watching one tube. One exchange at a time: the pool sees to it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int, tube: str) -> Connection:
        """Connect, then use and watch `tube` only. The caller bounds the time it takes."""
        reader, writer = await asyncio.open_connection(host, port)
        connection = cls(reader, writer)
        try:
            await connection.call(f"use {tube}", "USING")
            await connection.call(f"watch {tube}", "WATCHING")
            if tube != "default":  # every connection starts out watching "default"
                await connection.call("ignore default", "WATCHING")
        except BaseException:
            connection.close()
            raise
        return connection

    @property
    def stale(self) -> bool:
        """Closed by the server (or the network) while it sat idle."""
        closed = self.reader.at_eof() or self.writer.is_closing()
        return closed or self.reader.exception() is not None

    def close(self) -> None:
        """At once: nothing it has sent or not yet read is worth waiting for."""
        self.writer.transport.abort()

    async def call(self, command: str, *expected: str, body: bytes | None = None) -> Answer:
        """Send `command` (and `body`) and read its answer, whose status is one of `expected`.

        A job or stats answer (RESERVED, FOUND, OK) comes with its data, read here
        too, so that the connection is ready for the next command. One of
        REFUSALS raises Refused; any other answer, ProtocolError.
        """
        line = command.encode("ascii") + b"\r\n"
        self.writer.write(line if body is None else line + body + b"\r\n")
        await self.writer.drain()
        answer = await self.read_line(command)
        if answer.status in REFUSALS:
            raise Refused(answer.status)
        if answer.status not in expected:
            raise ProtocolError(f"{answer.status} in answer to {command.split()[0]}")
        if answer.status in {"RESERVED", "FOUND", "OK"}:
            answer = dataclasses.replace(answer, data=await self.read_chunk(answer))
        return answer

    async def read_line(self, command: str) -> Answer:
        try:
            raw = await self.reader.readuntil(b"\r\n")
        except asyncio.LimitOverrunError:
            raise ProtocolError(f"an answer line too long for {command.split()[0]}") from None
        try:
            words = raw[:-2].decode("ascii").split(" ")
        except UnicodeDecodeError:
            raise ProtocolError(f"{raw[:40]!r} in answer to {command.split()[0]}") from None
        if not all(word.isprintable() and word for word in words):
            raise ProtocolError(f"{raw[:40]!r} in answer to {command.split()[0]}")
        return Answer(words[0], words[1:])

    async def read_chunk(self, answer: Answer) -> bytes:
        size = answer.number(-1)
        if size > MAX_CHUNK_BYTES:
            raise ProtocolError(f"{answer.status} announcing {size} bytes")
        data = await self.reader.readexactly(size + 2)
        if not data.endswith(b"\r\n"):
            raise ProtocolError(f"{answer.status} data not ending its line")
        return data[:-2]


@dataclasses.dataclass(frozen=True)
class Answer:
    status: str
    words: list[str]
    data: bytes = b""

    def number(self, index: int) -> int:
        """The answer's word at `index` as the nonnegative integer the protocol says it is."""
        try:
            word = self.words[index]
        except IndexError:
            raise ProtocolError(f"{self.status} without its numbers") from None
        if not word.isdigit() or len(word) > 20:
            raise ProtocolError(f"{self.status} {word!r}: not a number")
        return int(word)

    def fields(self) -> dict[str, str]:
        """A stats answer's YAML dictionary, which beanstalkd writes one `key: value` a line."""
        text = self.data.decode("utf-8", "replace")
        pairs = (line.partition(": ") for line in text.splitlines() if ": " in line)
        return {key: value.strip().strip('"') for key, _, value in pairs}


class PoolExhausted(Exception):
    """Every connection stayed busy for as long as a call may wait for one."""


class Pool:
    """At most BEANSTALKD_MAX_CONNECTIONS connections; an idle one is reused, the newest first."""

    def __init__(self, settings: BeanstalkdSettings) -> None:
        self.settings = settings
        self._idle: list[Connection] = []
        self._slots = asyncio.Semaphore(settings.max_connections)
        self._closed = False

    async def _open(self) -> Connection:
        host, port = url_address(self.settings.url, DEFAULT_PORT)
        try:
            async with asyncio.timeout(self.settings.timeout):
                return await Connection.open(host, port, self.settings.tube)
        except TimeoutError:
            raise ConnectionError(f"no connection within {self.settings.timeout:g} s") from None

    def _take_idle(self) -> Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if not connection.stale:
                return connection
            connection.close()
        return None

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A connection for one exchange: closed unless the exchange finished cleanly."""
        try:
            async with asyncio.timeout(self.settings.timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise PoolExhausted() from None
        try:
            connection = self._take_idle() or await self._open()
            try:
                yield connection
            except BaseException:  # cancelled, timed out, or out of step: never reused
                connection.close()
                raise
            if self._closed:  # the app closed the pool while this call ran
                connection.close()
            else:
                self._idle.append(connection)
        finally:
            self._slots.release()

    def close_idle(self) -> None:
        while self._idle:
            self._idle.pop().close()

    def close(self) -> None:
        """Close the idle connections now, and the busy ones as their calls end."""
        self._closed = True
        self.close_idle()


class BeanstalkdClient(Client):
    """Per process: a pool of connections for calls, one more for the monitor's pings."""

    name: ClassVar[str] = "beanstalkd"
    label: ClassVar[str] = "Beanstalkd"

    def __init__(self, settings: BeanstalkdSettings) -> None:
        super().__init__(settings.timeout)
        self.settings = settings
        self._pool: Pool | None = None
        self._probe: Connection | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        return cls(BeanstalkdSettings.from_env(env))

    def address(self) -> tuple[str, int]:
        return url_address(self.settings.url, DEFAULT_PORT)

    async def open(self) -> None:
        self._pool = Pool(self.settings)  # connects on first use: starts with the server down

    async def release(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        self._drop_probe()

    async def ping(self) -> None:
        """`list-tube-used` on the monitor's own connection, reopened when it broke."""
        try:
            if self._probe is None or self._probe.stale:
                self._drop_probe()
                host, port = self.address()
                self._probe = await Connection.open(host, port, self.settings.tube)
            await self._probe.call("list-tube-used", "USING")
        except BaseException:
            self._drop_probe()
            if self._pool is not None:
                self._pool.close_idle()  # they went the way of the probe's
            raise

    def _drop_probe(self) -> None:
        if self._probe is not None:
            self._probe.close()
            self._probe = None

    @property
    def pool(self) -> Pool:
        if self._pool is None:
            raise ServiceUnavailable(self.label, "not started")
        return self._pool

    def longest(self, wait: float = 0) -> float:
        """How long a call may take before it fails by itself.

        BEANSTALKD_TIMEOUT for a free connection, for connecting, and for its
        answers, plus a reserve's `wait`.
        """
        return wait + 3 * self.settings.timeout

    @contextlib.asynccontextmanager
    async def exchange(self, seconds: float) -> AsyncIterator[Connection]:
        """A pooled connection whose commands must all be answered within `seconds`.

        Its failures become the answers the user sees: unreachable or closed: 503
        (and the monitor looks again now); every connection busy: 503; too slow:
        504; not beanstalkd's protocol: 502.
        """
        self.require_up()
        try:
            async with self.pool.connection() as connection, asyncio.timeout(seconds):
                yield connection
        except PoolExhausted:
            busy = f"all {self.settings.max_connections} connections are busy"
            raise ServiceUnavailable(self.label, f"{busy} (BEANSTALKD_MAX_CONNECTIONS)") from None
        except Refused as refusal:
            status, meaning = REFUSALS[refusal.status]
            if status == 503:  # a state of the server, not of this request: retry later
                raise ServiceUnavailable(self.label, meaning) from None
            raise ApiError(status, f"{self.label} refused it: {meaning}") from None
        except TimeoutError:
            raise ServiceTimeout(self.label, seconds) from None
        except (OSError, EOFError) as error:  # refused, reset, closed mid-answer
            raise self.lost(error) from None
        except ProtocolError as error:
            raise BadAnswer(self.label, str(error)) from None

    def lost(self, error: BaseException) -> ServiceUnavailable:
        if self._pool is not None:
            self._pool.close_idle()  # the server went away: so did they
        if isinstance(error, EOFError):
            error = ConnectionError("it closed the connection")
        return super().lost(error)

    async def put(
        self,
        body: bytes,
        *,
        priority: int = DEFAULT_PRIORITY,
        delay: int = 0,
        ttr: int = DEFAULT_TTR,
    ) -> int:
        """Put a job in the tube; its id. Ready after `delay` seconds, most urgent at priority 0."""
        async with self.exchange(self.settings.timeout) as connection:
            command = f"put {priority} {delay} {ttr} {len(body)}"
            answer = await connection.call(command, "INSERTED", "BURIED", body=body)
            job_id = answer.number(0)
        if answer.status == "BURIED":  # it exists, but will not run until kicked
            raise ServiceUnavailable(self.label, f"out of memory: job {job_id} buried")
        return job_id

    async def reserve(self, wait: int, lease: int) -> Job | None:
        """The next ready job of the tube, waiting up to `wait` seconds; None if none came.

        The job is then released to the delayed state for `lease` seconds, its
        priority kept: a reserved job could only be deleted through the connection
        that reserved it, a delayed one by any connection of any process. Not
        deleted (or kicked) within `lease`, it is ready again for the next worker.
        """
        async with self.exchange(wait + self.settings.timeout) as connection:
            answer = await connection.call(f"reserve-with-timeout {wait}", "RESERVED", "TIMED_OUT")
            if answer.status == "TIMED_OUT":
                return None
            job = Job(answer.number(0), answer.data)
            stats = await connection.call(f"stats-job {job.id}", "OK")
            priority = stats.fields().get("pri", "")
            if not priority.isdigit():
                raise ProtocolError(f"stats-job without the job's priority: {priority!r}")
            lease_it = f"release {job.id} {priority} {lease}"
            released = await connection.call(lease_it, "RELEASED", "BURIED")
        if released.status == "BURIED":  # beanstalkd ran out of memory releasing it
            raise ServiceUnavailable(self.label, f"out of memory: job {job.id} buried")
        return job

    async def delete(self, job_id: int) -> bool:
        """Delete a job of the tube (ready, leased or buried); False if there is none."""
        async with self.exchange(self.settings.timeout) as connection:
            if not await self._in_tube(connection, job_id):
                return False
            answer = await connection.call(f"delete {job_id}", "DELETED", "NOT_FOUND")
        return answer.status == "DELETED"

    async def kick(self, job_id: int) -> bool:
        """Make a leased (or buried) job of the tube ready now; False if there is none."""
        async with self.exchange(self.settings.timeout) as connection:
            if not await self._in_tube(connection, job_id):
                return False
            answer = await connection.call(f"kick-job {job_id}", "KICKED", "NOT_FOUND")
        return answer.status == "KICKED"

    async def _in_tube(self, connection: Connection, job_id: int) -> bool:
        """Whether job `job_id` exists in this client's tube: ids are shared by every tube."""
        answer = await connection.call(f"stats-job {job_id}", "OK", "NOT_FOUND")
        return answer.status == "OK" and answer.fields().get("tube") == self.settings.tube
