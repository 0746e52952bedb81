"""The processes a benchmark starts, and what it reads of them in /proc (Linux)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from .load import HOST, one_request

PACKAGE = "{{ cookiecutter.package_name }}"
SRC = str(Path(__file__).resolve().parent.parent / "src")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def serve_command(port: int, processes: int = 1) -> list[str]:
    options = ["--port", str(port), "--processes", str(processes)]
    return [sys.executable, "-m", PACKAGE, "serve", *options]


def wait_until_up(port: int, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering")
        answered = asyncio.run(one_request(port, "/health", 1.0)) or asyncio.run(
            one_request(port, "/", 1.0)
        )
        if answered:
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing answered on port {port} within {timeout:g} s")


@contextlib.contextmanager
def running(command: list[str], port: int | None, env: dict[str, str]) -> Iterator[int]:
    """Run `command` (a server when `port` is set) in its own process group; yield its pid.

    What it prints goes to a temporary file, shown only if it fails to start.
    """
    with tempfile.TemporaryFile(mode="w+") as output:
        process = subprocess.Popen(
            command,
            env={**os.environ, "PYTHONPATH": SRC, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            text=True,
        )
        try:
            if port is not None:
                try:
                    wait_until_up(port, process)
                except RuntimeError as error:
                    output.seek(0)
                    raise RuntimeError(f"{error}:\n{output.read()[-3000:]}") from None
            yield process.pid
        finally:
            stop(process)


def stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM to the whole group, SIGKILL after 30 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def proc_status(pid: int, field: str) -> float:
    """A number from /proc/<pid>/status (e.g. VmHWM in kB, Threads); NaN if unknown."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return float(line.split()[1])
    return float("nan")


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the most resident memory the process has used."""
    return proc_status(pid, "VmHWM") / 1024


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
