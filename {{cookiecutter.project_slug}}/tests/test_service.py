"""The service as users run it: settings, the command line, a real server process."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.bench import measure_rps, parse_wrk
from {{ cookiecutter.package_name }}.settings import Settings, SettingsError, load_dotenv

from .support import closed_port

PACKAGE = "{{ cookiecutter.package_name }}"
SRC = str(Path(__file__).resolve().parent.parent / "src")


def test_settings_defaults_and_overrides() -> None:
    assert Settings.from_env({}) == Settings()
    config = Settings.from_env({"PORT": "9000", "PROCESSES": "2", "DEBUG": "yes"})
    assert (config.port, config.processes, config.debug) == (9000, 2, True)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "abc"}, "PORT must be a number, got 'abc'"),
        ({"PORT": "70000"}, "PORT must be between 0 and 65535, got '70000'"),
        ({"PROCESSES": "0"}, "PROCESSES must be between 1 and 256, got '0'"),
        ({"DEBUG": "maybe"}, "DEBUG must be true or false, got 'maybe'"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got 'LOUD'"),
        ({"PORT": "0", "PROCESSES": "2"}, "PORT=0 (any free port) cannot be shared"),
    ],
)
def test_bad_settings_say_which_variable_and_why(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env(env)
    assert str(error.value).startswith(message)


def test_dotenv_fills_in_but_never_overrides(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("# comment\nPORT=9001\nADDRESS='0.0.0.0'\n\nBROKEN LINE\n")
    env = {"PORT": "8000"}
    load_dotenv(dotenv, env)
    assert env == {"PORT": "8000", "ADDRESS": "0.0.0.0"}


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the command line; past `timeout`, SIGTERM it so it stops what it started."""
    with subprocess.Popen(
        [sys.executable, "-m", PACKAGE, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": SRC, **(env or {})},
    ) as process:  # fmt: skip
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.terminate()
            stdout, stderr = process.communicate(timeout=60)
            raise AssertionError(f"{args} ran over {timeout} s:\n{stdout}{stderr}") from None
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_cli_help_and_version() -> None:
    done = cli("--help")
    assert done.returncode == 0
    assert "serve" in done.stdout
    assert "bench" in done.stdout
    done = cli("--version")
    assert done.returncode == 0
    assert done.stdout.strip().endswith("0.1.0")


def test_cli_refuses_a_bad_setting_with_one_line() -> None:
    done = cli("serve", env={"PORT": "abc"})
    assert done.returncode == 2
    assert done.stderr == "error: PORT must be a number, got 'abc'\n"


def get_json(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


class Server:
    """`python -m <package> serve` in a subprocess on a free port."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = closed_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", PACKAGE, "serve", "--port", str(self.port), *args],
            env={**os.environ, "PYTHONPATH": SRC, "SHUTDOWN_TIMEOUT": "5", **(env or {})},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.printed: str | None = None
        self.wait_until_up()

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
        if self.printed is None:
            self.printed = self.process.communicate(timeout=30)[0]
        return self.printed

    def stop(self) -> int:
        """SIGTERM, as a process manager sends it; the exit code."""
        self.process.send_signal(signal.SIGTERM)
        self.printed = self.process.communicate(timeout=30)[0]
        return self.process.returncode


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.output()


def test_sigterm_lets_the_request_in_flight_finish(server: Server) -> None:
    with ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(get_json, server.url + "/sleep?seconds=1")
        time.sleep(0.3)
        started = time.monotonic()
        assert server.stop() == 0
        assert in_flight.result(timeout=10) == (
            200,
            {"slept": 1.0, "strategy": "{{ cookiecutter.async_strategy }}"},
        )
        assert time.monotonic() - started < 5
    with pytest.raises(OSError, match="refused"):
        get_json(server.url + "/health")


def test_two_processes_share_the_port_and_stop_together() -> None:
    server = Server("--processes", "2")
    try:
        pids: set[object] = set()
        deadline = time.monotonic() + 20
        while len(pids) < 2 and time.monotonic() < deadline:
            _, health = get_json(server.url + "/health")  # a new connection each time
            pids.add(health["pid"])
        assert len(pids) == 2, "SO_REUSEPORT should spread connections over both processes"
        assert server.process.pid not in pids  # the supervisor only supervises
        assert server.stop() == 0
        for pid in pids:
            with pytest.raises(ProcessLookupError):
                os.kill(int(str(pid)), 0)
    finally:
        server.output()


def test_uvloop_is_an_opt_in() -> None:
    pytest.importorskip("uvloop", reason="uvloop is an optional extra: pip install '.[uvloop]'")
    server = Server(env={"USE_UVLOOP": "true", "LOG_LEVEL": "DEBUG"})
    try:
        assert get_json(server.url + "/health")[0] == 200
        assert server.stop() == 0
    finally:
        output = server.output()
    assert "uvloop loop)" in output


def test_a_port_in_use_is_reported_clearly(server: Server) -> None:
    done = cli("serve", "--port", str(server.port))
    assert done.returncode != 0
    assert "Address already in use" in done.stderr


def test_the_benchmark_runs_end_to_end(tmp_path: Path) -> None:
    """A tiny run of `bench`, so the shipped benchmark cannot rot (no timing asserted)."""
    report = tmp_path / "bench.json"
    done = cli(
        "bench", "--requests", "10", "--seconds", "0.1", "--repeat", "1", "--duration", "0.3",
        "--connections", "4", "--blocking-requests", "2", "--blocking-seconds", "0.05",
        "--load-generator", "python", "--json", str(report), timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "/sleep burst" in done.stdout
    results = json.loads(report.read_text())
    assert results["medians"]["sleeps.failed"] == 0
    assert results["ratios"]["sleep_wall_vs_ideal"] >= 1
    assert results["ratios"]["blocking_wall_vs_ideal"] >= 1.5  # 2 blocking sleeps queue up


WRK_OUTPUT = """Running 3s test @ http://127.0.0.1:8888/health
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.12ms    1.02ms  20.00ms   90.00%
    Req/Sec     9.80k   500.00    10.50k    70.00%
  29400 requests in 3.00s, 5.00MB read
  Non-2xx or 3xx responses: 400
Requests/sec:   9800.00
Transfer/sec:      1.67MB
"""


def test_wrk_counts_only_successful_answers() -> None:
    assert parse_wrk(WRK_OUTPUT) == pytest.approx(29000 / 3.0)
    assert parse_wrk(WRK_OUTPUT.replace("3.00s", "500.00ms")) == pytest.approx(29000 / 0.5)
    with pytest.raises(RuntimeError, match="wrk's output was not understood"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused")


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is optional: apt-get install wrk")
def test_wrk_measures_a_real_server(server: Server) -> None:
    args = argparse.Namespace(load_generator="wrk", duration=1.0)
    assert measure_rps(args, server.port, "/health", 4) > 0


def test_asking_for_wrk_without_it_says_what_to_do(tmp_path: Path) -> None:
    done = cli("bench", "--load-generator", "wrk", env={"PATH": str(tmp_path)})
    assert done.returncode == 1
    assert "wrk is not installed (apt-get install wrk)" in done.stderr
    assert "--load-generator python" in done.stderr
