"""A program run per request, with asyncio's subprocess API: never blocking the loop.

It replaces the tutorial's AsyncProcessMixIn. The program and its fixed
arguments come from SUBPROCESS_COMMAND only; a request adds arguments, each
checked against SUBPROCESS_ARGUMENT_PATTERN, and an input for its stdin. Each
run gets its own process group, a deadline (SUBPROCESS_TIMEOUT) that kills the
whole group, a cap on what it may print (SUBPROCESS_MAX_OUTPUT), and an
environment without the service's secrets. At most SUBPROCESS_MAX_RUNNING run
at once; every process is waited for, so none is left a zombie.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import shlex
import shutil
import signal
import tempfile
import time
from collections.abc import Mapping, Sequence
from typing import ClassVar, Self

from ..settings import SettingsError, read_number
from ..web import ApiError
from .base import Client, ServiceTimeout, ServiceUnavailable

# What the program's environment keeps of the service's: no secret, no URL.
PASSED_ON = ("PATH", "LANG", "LC_ALL", "TZ")
READ_SIZE = 65536


@dataclasses.dataclass(frozen=True)
class SubprocessSettings:
    # The program and its fixed arguments (shell-like quoting, no shell): `factor`
    # prints the prime factors of the numbers a request gives it.
    command: tuple[str, ...] = ("factor",)
    # Each argument from a request must match this whole; by default a number.
    argument_pattern: str = r"[0-9]{1,30}"
    max_arguments: int = 16
    max_input: int = 64 * 1024  # bytes a request may send to its stdin
    max_output: int = 64 * 1024  # bytes kept of stdout and of stderr; past it, killed
    max_running: int = 4
    timeout: float = 10.0  # a run's deadline, the wait for a free slot included

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        command = tuple(shlex.split(env.get("SUBPROCESS_COMMAND") or shlex.join(cls.command)))
        if not command:
            raise SettingsError("SUBPROCESS_COMMAND must name a program")
        pattern = env.get("SUBPROCESS_ARGUMENT_PATTERN") or cls.argument_pattern
        try:
            re.compile(pattern)
        except re.error as error:
            raise SettingsError(f"SUBPROCESS_ARGUMENT_PATTERN is not a regex: {error}") from None
        return cls(
            command=command,
            argument_pattern=pattern,
            max_arguments=read_number(
                env, "SUBPROCESS_MAX_ARGUMENTS", cls.max_arguments, int, 0, 1000
            ),
            max_input=read_number(env, "SUBPROCESS_MAX_INPUT", cls.max_input, int, 0, 2**26),
            max_output=read_number(env, "SUBPROCESS_MAX_OUTPUT", cls.max_output, int, 1, 2**26),
            max_running=read_number(env, "SUBPROCESS_MAX_RUNNING", cls.max_running, int, 1, 1024),
            timeout=read_number(env, "SUBPROCESS_TIMEOUT", cls.timeout, float, 0.1, 3600.0),
        )


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a run gave: its exit status (None if a signal ended it) and what it printed."""

    exit_status: int | None
    signal: str | None
    stdout: str
    stderr: str
    truncated: bool  # it printed more than SUBPROCESS_MAX_OUTPUT, and was stopped
    seconds: float


class SubprocessClient(Client):
    """Runs SUBPROCESS_COMMAND; its "health" is whether that program can be run."""

    name: ClassVar[str] = "subprocess"
    label: ClassVar[str] = "The program"

    def __init__(self, settings: SubprocessSettings) -> None:
        super().__init__(settings.timeout)
        self.settings = settings
        self.argument = re.compile(settings.argument_pattern)
        self.slots = asyncio.Semaphore(settings.max_running)
        self.running: set[int] = set()  # process group ids, for the tests and for shutdown
        self.reaping: set[asyncio.Future[None]] = set()  # exits not yet collected
        self.workdir: tempfile.TemporaryDirectory[str] | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        return cls(SubprocessSettings.from_env(env))

    def address(self) -> None:
        return None  # a local program: nothing to reach over the network

    async def open(self) -> None:
        # An empty working directory of its own: not the service's, where .env lives.
        self.workdir = tempfile.TemporaryDirectory(prefix="subprocess-")

    async def release(self) -> None:
        for group in list(self.running):
            kill_group(group)
        if self.reaping:  # killed: their exits come within moments
            await asyncio.wait(self.reaping, timeout=5)
        if self.workdir is not None:
            self.workdir.cleanup()
            self.workdir = None

    async def ping(self) -> None:
        program = self.settings.command[0]
        if shutil.which(program) is None:
            raise FileNotFoundError(f"{program} is not an executable program (SUBPROCESS_COMMAND)")

    def arguments(self, raw: object) -> list[str]:
        """A request's arguments, or a 400 saying which setting refuses them."""
        if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
            raise ApiError(400, "'args' must be a list of strings")
        if len(raw) > self.settings.max_arguments:
            limit = self.settings.max_arguments
            raise ApiError(400, f"at most {limit} arguments (SUBPROCESS_MAX_ARGUMENTS)")
        for argument in raw:
            if not self.argument.fullmatch(argument):
                pattern = self.settings.argument_pattern
                refused = f"argument {argument[:40]!r} does not match {pattern}"
                raise ApiError(400, f"{refused} (SUBPROCESS_ARGUMENT_PATTERN)")
        return list(raw)

    async def run(self, arguments: Sequence[str], stdin: bytes = b"") -> Outcome:
        """Run the program with `arguments` after the fixed ones; its outcome.

        503 when it cannot be run or no slot frees up in time, 504 when it runs
        past the deadline (its process group is killed first).
        """
        self.require_up()
        if len(stdin) > self.settings.max_input:
            limit = self.settings.max_input
            raise ApiError(413, f"the input is over {limit} bytes (SUBPROCESS_MAX_INPUT)")
        deadline = asyncio.get_running_loop().time() + self.settings.timeout
        try:
            async with asyncio.timeout_at(deadline):
                await self.slots.acquire()
        except TimeoutError:
            busy = f"all {self.settings.max_running} runs are busy (SUBPROCESS_MAX_RUNNING)"
            raise ServiceUnavailable(self.label, busy) from None
        try:
            async with asyncio.timeout_at(deadline):
                return await self.run_once(arguments, stdin)
        except TimeoutError:
            raise ServiceTimeout(self.label, self.settings.timeout) from None
        finally:
            self.slots.release()

    async def run_once(self, arguments: Sequence[str], stdin: bytes) -> Outcome:
        begun = time.monotonic()
        try:
            process = await asyncio.create_subprocess_exec(
                *self.settings.command,
                *arguments,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=self.workdir.name if self.workdir else None,
                env={name: os.environ[name] for name in PASSED_ON if name in os.environ},
                start_new_session=True,  # its own process group, killed as one
            )
        except OSError as error:
            raise self.lost(error) from error
        self.running.add(process.pid)
        try:
            stdout, stderr, truncated = await self.communicate(process, stdin)
            await process.wait()
        finally:
            # What it left behind, or all of it when cut short. (Once the leader is
            # reaped its id could in theory be reused; the kernel hands ids out in
            # turn, so not within these microseconds.)
            kill_group(process.pid)
            self.running.discard(process.pid)
            reaper = asyncio.ensure_future(reap(process))
            self.reaping.add(reaper)  # a cancelled run's exit is still collected,
            reaper.add_done_callback(self.reaping.discard)  # and `release` waits for it
            await asyncio.shield(reaper)
        status = process.returncode
        return Outcome(
            exit_status=status if status is not None and status >= 0 else None,
            signal=signal.Signals(-status).name if status is not None and status < 0 else None,
            stdout=stdout.decode(errors="replace"),
            stderr=stderr.decode(errors="replace"),
            truncated=truncated,
            seconds=round(time.monotonic() - begun, 6),
        )

    async def communicate(
        self, process: asyncio.subprocess.Process, stdin: bytes
    ) -> tuple[bytes, bytes, bool]:
        """Feed stdin and read stdout and stderr together, each up to SUBPROCESS_MAX_OUTPUT."""
        writer, stdout, stderr = process.stdin, process.stdout, process.stderr
        assert writer is not None
        assert stdout is not None
        assert stderr is not None
        limit = self.settings.max_output

        async def feed() -> None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                writer.write(stdin)
                await writer.drain()
            writer.close()

        async def read(stream: asyncio.StreamReader) -> tuple[bytes, bool]:
            kept = b""
            while chunk := await stream.read(READ_SIZE):
                kept += chunk
                if len(kept) > limit:
                    kill_group(process.pid)  # printing without end: stopped
                    return kept[:limit], True
            return kept, False

        _, (out, cut_out), (err, cut_err) = await asyncio.gather(feed(), read(stdout), read(stderr))
        return out, err, cut_out or cut_err


async def reap(process: asyncio.subprocess.Process, seconds: float = 1.0) -> None:
    """Wait for its exit and read its pipes to their end: no zombie, no pipe left open.

    A run cut short left what it printed unread; its pipes close only at their end.
    """
    await process.wait()
    if process.stdin is not None:
        process.stdin.close()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            with contextlib.suppress(TimeoutError, OSError):
                async with asyncio.timeout(seconds):
                    while await stream.read(READ_SIZE):
                        pass


def kill_group(group: int) -> None:
    """SIGKILL to every process of the group; nothing if it is gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)
