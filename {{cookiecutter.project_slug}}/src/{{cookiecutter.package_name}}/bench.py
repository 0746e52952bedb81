"""`python -m {{ cookiecutter.package_name }} bench`: this service against baselines, same run.

Starts the service as a real server process and a bare Tornado app as the
baseline, drives both over real HTTP with a bounded asyncio load generator, and
reports every headline number as a ratio to a baseline measured in the same run
(shared machines are noisy: absolute numbers move, same-run ratios hold).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
{%- if cookiecutter.async_strategy == "celery" %}
import math
{%- endif %}
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .settings import Settings
{%- if cookiecutter.async_strategy == "celery" %}
from .tasks.settings import CelerySettings
{%- endif %}

PACKAGE = __package__ or "{{ cookiecutter.package_name }}"
HOST = "127.0.0.1"
PROBE_INTERVAL = 0.01  # /health probe: about 100 requests a second on one connection


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requests", type=int, default=1000, help="concurrent /sleep requests")
    parser.add_argument("--seconds", type=float, default=1.0, help="each /sleep's length")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions; medians are reported")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per req/s test")
    parser.add_argument("--connections", type=int, default=50, help="keep-alive conns for req/s")
    parser.add_argument(
        "--blocking-requests", type=int, default=10, help="requests at the blocking baseline"
    )
    parser.add_argument(
        "--blocking-seconds", type=float, default=0.2, help="time.sleep per blocking request"
    )
    parser.add_argument("--processes", action="store_true", help="also compare 2 processes to 1")
    parser.add_argument(
        "--load-generator", choices=("auto", "wrk", "python"), default="auto",
        help="for the req/s tests: wrk if it is installed (auto), or the built-in asyncio client",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--serve-baseline", type=int, help=argparse.SUPPRESS)
{%- if cookiecutter.async_strategy == "celery" %}
    parser.add_argument("--serve-celery-baselines", type=int, help=argparse.SUPPRESS)
{%- endif %}


# -- the baseline: bare Tornado, nothing of ours -------------------------------------------


def serve_baseline(port: int, backlog: int) -> None:
    """Hello-world, a non-blocking sleep and a blocking sleep, on a bare Tornado app."""
    import tornado.httpserver
    import tornado.netutil
    import tornado.web

    class Hello(tornado.web.RequestHandler):
        def get(self) -> None:
            self.write("Hello, world")

    class Sleep(tornado.web.RequestHandler):
        async def get(self) -> None:
            await asyncio.sleep(float(self.get_argument("seconds")))
            self.write("slept")

    class Block(tornado.web.RequestHandler):
        def get(self) -> None:
            time.sleep(float(self.get_argument("seconds")))  # the anti-pattern, on purpose
            self.write("blocked")

    async def main() -> None:
        app = tornado.web.Application(
            [(r"/", Hello), (r"/sleep", Sleep), (r"/block", Block)], log_function=lambda _: None
        )
        server = tornado.httpserver.HTTPServer(app)
        server.add_sockets(tornado.netutil.bind_sockets(port, HOST, backlog=backlog))
        await asyncio.Event().wait()

    asyncio.run(main())


# -- the load generator -----------------------------------------------------------------------


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response with a Content-Length body; return its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


async def one_request(port: int, path: str, timeout: float) -> int:
    """A request on a fresh connection (the worst case for the server); 0 on failure."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(HOST, port)
            try:
                writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
                return await read_response(reader)
            finally:
                writer.close()
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
        return 0


async def burst(port: int, path: str, count: int, timeout: float) -> dict[str, float]:
    """`count` concurrent requests; wall time to the last answer and failures."""
    started = time.perf_counter()
    statuses = await asyncio.gather(*(one_request(port, path, timeout) for _ in range(count)))
    wall = time.perf_counter() - started
    return {"wall_s": wall, "failed": sum(status != 200 for status in statuses)}


@dataclass
class Probe:
    """Times /health on one keep-alive connection until stopped."""

    port: int
    path: str = "/health"
    latencies_ms: list[float] = field(default_factory=list)
    failures: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection(HOST, self.port)
        request = f"GET {self.path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
        try:
            while not stop.is_set():
                started = time.perf_counter()
                writer.write(request)
                try:
                    async with asyncio.timeout(10):
                        status = await read_response(reader)
                except TimeoutError:
                    self.failures += 1
                    continue
                self.latencies_ms.append((time.perf_counter() - started) * 1000)
                self.failures += status not in (200, 503)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), PROBE_INTERVAL)
        finally:
            writer.close()

    def summary(self) -> dict[str, float]:
        values = sorted(self.latencies_ms) or [float("nan")]
        return {
            "p50_ms": values[len(values) // 2],
            "p99_ms": values[min(len(values) - 1, int(len(values) * 0.99))],
            "probes": len(self.latencies_ms),
            "probe_failures": self.failures,
        }


async def probed(
    port: int, probe_port: int, path: str, count: int, timeout: float
) -> dict[str, float]:
    """A burst at `port` while /health on `probe_port` is timed."""
    probe, stop = Probe(probe_port, "/health" if probe_port == port else "/"), asyncio.Event()
    probing = asyncio.create_task(probe.run(stop))
    result = await burst(port, path, count, timeout)
    stop.set()
    await probing
    return result | probe.summary()


async def idle_probe(port: int, path: str, seconds: float = 1.0) -> dict[str, float]:
    probe, stop = Probe(port, path), asyncio.Event()
    probing = asyncio.create_task(probe.run(stop))
    await asyncio.sleep(seconds)
    stop.set()
    await probing
    return probe.summary()


async def requests_per_second(port: int, path: str, connections: int, seconds: float) -> float:
    """Requests answered per second by `connections` keep-alive clients."""
    deadline = time.perf_counter() + seconds
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()

    async def client() -> int:
        done = 0
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while time.perf_counter() < deadline:
                writer.write(request)
                async with asyncio.timeout(30):
                    done += await read_response(reader) == 200
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            pass  # the server gave up on this connection: count what it answered
        finally:
            writer.close()
        return done

    started = time.perf_counter()
    answered = await asyncio.gather(*(client() for _ in range(connections)))
    return sum(answered) / (time.perf_counter() - started)


def load_generator(choice: str) -> str:
    """wrk when asked for or found: in C, it leaves the cores to the servers it measures."""
    found = shutil.which("wrk")
    if choice == "wrk" and not found:
        raise SystemExit("bench: wrk is not installed (apt-get install wrk), or use the built-in "
                         "load generator: --load-generator python")  # fmt: skip
    return "wrk" if choice == "wrk" or (choice == "auto" and found) else "python"


def measure_rps(args: argparse.Namespace, port: int, path: str, connections: int) -> float:
    """Successful answers per second to `connections` keep-alive clients."""
    if args.load_generator == "wrk":
        return wrk_requests_per_second(port, path, connections, args.duration)
    return asyncio.run(requests_per_second(port, path, connections, args.duration))


def wrk_requests_per_second(port: int, path: str, connections: int, seconds: float) -> float:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
               f"http://{HOST}:{port}{path}"]  # fmt: skip
    done = subprocess.run(  # noqa: S603 (wrk, found on PATH, with our own arguments)
        command, capture_output=True, text=True, check=True, timeout=seconds + 60
    )
    return parse_wrk(done.stdout)


def parse_wrk(output: str) -> float:
    """Successful answers per second from wrk's summary, as the asyncio client counts them."""
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", output)
    if total is None:
        raise RuntimeError(f"wrk's output was not understood:\n{output}")
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    unit = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[total.group(3)]
    answered = int(total.group(1)) - (int(failed.group(1)) if failed else 0)
    return answered / (float(total.group(2)) * unit)


# -- processes ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def wait_until_up(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering")
        if asyncio.run(one_request(port, "/health", 1.0)) or asyncio.run(
            one_request(port, "/", 1.0)
        ):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing answered on port {port} within {timeout:g} s")


@contextlib.contextmanager
def running(command: list[str], port: int | None, env: dict[str, str]) -> Iterator[int]:
    """Run `command` (a server when `port` is set) in its own process group; yield its pid.

    What it prints goes to a temporary file, shown only if it fails to start.
    """
    output = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(  # noqa: S603 (our own interpreter and package)
        command, env={**os.environ, **env}, stdout=output, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        if port is not None:
            try:
                wait_until_up(port, process)
            except RuntimeError as error:
                output.seek(0)
                raise RuntimeError(f"{error}:\n{output.read()[-3000:]}") from None
        yield process.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        output.close()


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the most resident memory the process has used (Linux)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def serve_command(port: int, processes: int = 1) -> list[str]:
    return [sys.executable, "-m", PACKAGE, "serve", "--port", str(port),
            "--processes", str(processes)]  # fmt: skip


def extra_processes(args: argparse.Namespace) -> list[list[str]]:
    """What the strategy needs besides the web process (the Celery worker)."""
{%- if cookiecutter.async_strategy == "celery" %}
    # Enough worker threads for the whole burst (and for the 200-task comparison).
    concurrency = max(args.requests, 200)
    # A node name of its own, so a worker you already run on this host is no obstacle.
    return [[sys.executable, "-m", PACKAGE, "worker", f"--concurrency={concurrency}",
             f"--hostname=bench-{os.getpid()}@%h", "--loglevel=WARNING",
             "--without-gossip", "--without-mingle"]]  # fmt: skip
{%- else %}
    return []
{%- endif %}


# -- one repetition -----------------------------------------------------------------------------


def measure_once(args: argparse.Namespace, config: Settings) -> dict[str, float]:
    ours, bare = free_port(), free_port()
    env = {"LOG_LEVEL": "WARNING", "SLEEP_MAX_SECONDS": str(max(args.seconds, 60))}
    baseline = [sys.executable, "-m", PACKAGE, "bench", "--serve-baseline", str(bare)]
    sleep = f"/sleep?seconds={args.seconds:g}"
    block = f"/block?seconds={args.blocking_seconds:g}"
    timeout = args.seconds + 60
    with contextlib.ExitStack() as stack:
        for command in extra_processes(args):
            stack.enter_context(running(command, None, env))
        pid = stack.enter_context(running(serve_command(ours), ours, env))
        stack.enter_context(running(baseline, bare, env))
        results = {
            "idle": asyncio.run(idle_probe(ours, "/health")),
            "bare_idle": asyncio.run(idle_probe(bare, "/")),
            "sleeps": asyncio.run(probed(ours, ours, sleep, args.requests, timeout)),
            "bare_sleeps": asyncio.run(probed(bare, bare, sleep, args.requests, timeout)),
            "blocking": asyncio.run(probed(bare, bare, block, args.blocking_requests, timeout)),
            "health_rps": measure_rps(args, ours, "/health", args.connections),
            "bare_rps": measure_rps(args, bare, "/", args.connections),
        }
        results["peak_rss_mb"] = peak_rss_mb(pid)
{%- if cookiecutter.async_strategy == "celery" %}
        results["celery"] = compare_awaiting(args, env, ours, pid)
{%- endif %}
    if args.processes:
        results["processes"] = compare_processes(args, env)
    return flatten(results)


{% if cookiecutter.async_strategy == "celery" -%}
def compare_awaiting(
    args: argparse.Namespace, env: dict[str, str], ours: int, ours_pid: int
) -> dict[str, float]:
    """HTTP -> task -> result round trips: our layer against the usual two, same worker."""
    port = free_port()
    command = [sys.executable, "-m", PACKAGE, "bench", "--serve-celery-baselines", str(port)]
    # With rpc:// results, result.get() in a pool thread never returns (the reply
    # queue belongs to the publishing thread): that baseline is not measured.
    hangs = CelerySettings.from_env().result_backend.startswith("rpc://")
    results: dict[str, float] = {}
    if hangs:
        results |= {f"executor_{key}": math.nan for key in ("c50", "c200", "cpu_ms_c50")}
        results |= {"executor_cpu_ms_c200": math.nan, "threads_executor": math.nan}
    with running(command, port, env) as baseline_pid:
        for connections in (50, 200):
            paths = [
                ("ours", ours, ours_pid, "/sleep?seconds=0"),
                ("executor", port, baseline_pid, "/executor?seconds=0"),
                ("polling", port, baseline_pid, "/polling?seconds=0"),
            ]
            for name, target, pid, path in paths:
                if hangs and name == "executor":
                    continue
                cpu_before, started = cpu_seconds(pid), time.perf_counter()
                rate = measure_rps(args, target, path, connections)
                answered = rate * (time.perf_counter() - started)
                results[f"{name}_c{connections}"] = rate
                cpu_ms = 1000 * (cpu_seconds(pid) - cpu_before)
                results[f"{name}_cpu_ms_c{connections}"] = cpu_ms / answered if answered else 0.0
        results["threads_ours"] = threads_while_waiting(ours, ours_pid, "/sleep?seconds=1")
        if not hangs:
            results["threads_executor"] = threads_while_waiting(
                port, baseline_pid, "/executor?seconds=1"
            )
    return results


def celery_ratios(m: dict[str, float]) -> dict[str, float]:
    found = {}
    for connections in (50, 200):
        ours = m[f"celery.ours_c{connections}"]
        for other in ("executor", "polling"):
            baseline = m[f"celery.{other}_c{connections}"] or math.nan
            found[f"celery_vs_{other}_c{connections}"] = ours / baseline
    return found


def celery_rows(m: dict[str, float], r: dict[str, float]) -> list[tuple[str, str, str, str]]:
    """Report rows: our awaiting layer against the usual two, from the same run."""
    rates = f"{m['celery.ours_c50']:.0f} / {m['celery.ours_c200']:.0f}"
    versus_executor = f"x{r['celery_vs_executor_c50']:.2f} / x{r['celery_vs_executor_c200']:.2f}"
    versus_polling = f"x{r['celery_vs_polling_c50']:.2f} / x{r['celery_vs_polling_c200']:.2f}"
    cpu = {name: m[f"celery.{name}_cpu_ms_c200"] for name in ("ours", "executor", "polling")}
    if math.isnan(m["celery.executor_c200"]):
        versus_executor = "(hangs with rpc://: not measured)"
    return [
        ("task round trips/s", "c=50 / c=200", rates,
         f"{versus_executor} of run_in_executor(result.get); {versus_polling} of polling"),
        ("web CPU per round trip", "c=200", f"{cpu['ours']:.2f} ms",
         f"run_in_executor(result.get) {cpu['executor']:.2f} ms; polling {cpu['polling']:.2f} ms"),
        ("web threads", "200 tasks waiting", f"{m['celery.threads_ours']:.0f}",
         f"run_in_executor(result.get): {m['celery.threads_executor']:.0f}"),
    ]  # fmt: skip


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def threads_while_waiting(port: int, pid: int, path: str, count: int = 200) -> float:
    """Threads of process `pid` while `count` one-second tasks are awaited."""

    async def sample() -> float:
        in_flight = asyncio.ensure_future(burst(port, path, count, timeout=30))
        await asyncio.sleep(0.5)
        threads = thread_count(pid)
        in_flight.cancel()  # the count is all we wanted: hang up
        with contextlib.suppress(asyncio.CancelledError):
            await in_flight
        return threads

    return asyncio.run(sample())


def thread_count(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return float(line.split()[1])
    return float("nan")


{% endif -%}
def compare_processes(args: argparse.Namespace, env: dict[str, str]) -> dict[str, float]:
    rates = {}
    for processes in (1, 2):
        port = free_port()
        with running(serve_command(port, processes), port, env):
            rates[f"rps_{processes}"] = measure_rps(args, port, "/health", args.connections)
    return rates


def flatten(results: dict[str, Any], prefix: str = "") -> dict[str, float]:
    flat: dict[str, float] = {}
    for key, value in results.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = float(value)
    return flat


def ratios(m: dict[str, float], args: argparse.Namespace) -> dict[str, float]:
    """The headline numbers, each against a baseline from the same repetition."""
    found = {
        "sleep_wall_vs_ideal": m["sleeps.wall_s"] / args.seconds,
        "bare_sleep_wall_vs_ideal": m["bare_sleeps.wall_s"] / args.seconds,
        "health_p99_loaded_vs_bare_loaded": m["sleeps.p99_ms"] / m["bare_sleeps.p99_ms"],
        "health_p99_loaded_vs_idle": m["sleeps.p99_ms"] / m["idle.p99_ms"],
        "health_rps_vs_bare_hello": m["health_rps"] / m["bare_rps"],
        "blocking_wall_vs_ideal": m["blocking.wall_s"] / args.blocking_seconds,
    }
    if "processes.rps_1" in m:
        found["two_processes_vs_one"] = m["processes.rps_2"] / m["processes.rps_1"]
{%- if cookiecutter.async_strategy == "celery" %}
    found.update(celery_ratios(m))
{%- endif %}
    return found


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def report(m: dict[str, float], r: dict[str, float], args: argparse.Namespace) -> str:
    """A plain-text table: measurement, load, our median, and the same-run comparison."""
    burst = f"{args.requests} x {args.seconds:g} s"
    blocking = f"{args.blocking_requests} x time.sleep({args.blocking_seconds:g})"
    rows = [
        ("/sleep burst", burst, f"{m['sleeps.wall_s']:.2f} s",
         f"x{r['sleep_wall_vs_ideal']:.2f} of ideal (bare Tornado "
         f"x{r['bare_sleep_wall_vs_ideal']:.2f}), failed {m['sleeps.failed']:g}"),
        ("/health idle", "p50 / p99", f"{m['idle.p50_ms']:.2f} / {m['idle.p99_ms']:.2f} ms",
         f"bare Tornado {m['bare_idle.p50_ms']:.2f} / {m['bare_idle.p99_ms']:.2f} ms"),
        ("/health in the burst", "p50 / p99",
         f"{m['sleeps.p50_ms']:.2f} / {m['sleeps.p99_ms']:.2f} ms",
         f"p99 x{r['health_p99_loaded_vs_bare_loaded']:.2f} of bare Tornado's in its burst"),
        ("/health req/s", f"{args.connections} conns, {args.load_generator}",
         f"{m['health_rps']:.0f}",
         f"x{r['health_rps_vs_bare_hello']:.2f} of bare hello-world ({m['bare_rps']:.0f})"),
        ("blocking baseline", blocking, f"{m['blocking.wall_s']:.2f} s",
         f"x{r['blocking_wall_vs_ideal']:.1f} of ideal; /health p50 {m['blocking.p50_ms']:.0f} ms"),
        ("peak RSS", "web process", f"{m['peak_rss_mb']:.0f} MB", ""),
    ]  # fmt: skip
{%- if cookiecutter.async_strategy == "celery" %}
    rows += celery_rows(m, r)
{%- endif %}
    if "two_processes_vs_one" in r:
        rows.append(("2 processes", "/health req/s", f"{m['processes.rps_2']:.0f}",
                     f"x{r['two_processes_vs_one']:.2f} of 1 process"))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)


def raise_open_file_limit() -> None:
    """A burst of N connections needs N descriptors on each side."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_bench(args: argparse.Namespace, config: Settings) -> int:
    if args.serve_baseline:
        serve_baseline(args.serve_baseline, config.backlog)
        return 0
{%- if cookiecutter.async_strategy == "celery" %}
    if args.serve_celery_baselines:
        from .tasks.bench_baselines import serve_baselines

        serve_baselines(args.serve_celery_baselines, config.backlog)
        return 0
{%- endif %}
    raise_open_file_limit()
    args.load_generator = load_generator(args.load_generator)
    # SIGTERM unwinds like Ctrl-C, so every server and worker started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    runs = []
    for repetition in range(1, args.repeat + 1):
        print(f"repetition {repetition}/{args.repeat} ...", file=sys.stderr, flush=True)
        runs.append(measure_once(args, config))
    headline = median_of([ratios(run, args) for run in runs])  # ratios within each run
    medians = median_of(runs)
    print(report(medians, headline, args))
    payload = {"strategy": "{{ cookiecutter.async_strategy }}", "arguments": vars(args) | {"json": None},
               "medians": medians, "ratios": headline, "runs": runs}  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return 1 if medians["sleeps.failed"] else 0
