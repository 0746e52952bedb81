{%- set celery = cookiecutter.async_strategy == "celery" -%}
{%- set services = cookiecutter.__services.split(",") -%}
{%- set sql = "postgresql" in services or "mysql" in services -%}
{%- set pushing = cookiecutter.push != "none" -%}
{%- set parts = (["AwaitingComparison()"] if celery else []) + (["QueryComparison()"] if sql else []) + (["FanOutComparison()"] if pushing else []) -%}
"""The benchmark's run: this service against baselines measured in the same run.

Starts the service as a real server process and a bare Tornado app as the
baseline, drives both over real HTTP, and reports every headline number as a
ratio to a baseline of the same run (shared machines are noisy: absolute
numbers move, same-run ratios hold).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import signal
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from .load import idle_probe, load_generator, measure_rps, probed
from .processes import free_port, peak_rss_mb, running, serve_command

Row = tuple[str, str, str, str]  # measurement, load, our median, the same-run comparison


class Extra(Protocol):
    """More of a strategy's own to measure in each repetition."""

    def environment(self) -> dict[str, str]:
        """Settings for every process the benchmark starts (names of its own)."""

    def clean_up(self) -> None:
        """Remove what the benchmark left behind (its queue)."""

    def processes(self, args: argparse.Namespace) -> list[list[str]]:
        """Commands to run beside the web process (a worker)."""

    def measure(self, args: argparse.Namespace, env: dict[str, str], port: int, pid: int) -> Any:
        """Measurements against the service at `port` (process `pid`)."""

    def ratios(self, m: dict[str, float]) -> dict[str, float]: ...

    def rows(self, m: dict[str, float], r: dict[str, float]) -> list[Row]: ...


def extras() -> list[Extra]:
    """The strategy's and the services' own measurements, beside the HTTP ones."""
{%- if celery %}
    from .celery_tasks import AwaitingComparison
{%- endif %}
{%- if pushing %}
    from .fan_out import FanOutComparison
{%- endif %}
{%- if sql %}
    from .sql import QueryComparison
{%- endif %}
{%- if parts %}
{% endif %}
    return [{{ parts | join(", ") }}]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    add = parser.add_argument
    add("--requests", type=int, default=1000, help="concurrent /sleep requests")
    add("--seconds", type=float, default=1.0, help="each /sleep's length")
    add("--repeat", type=int, default=3, help="repetitions; medians are reported")
    add("--duration", type=float, default=3.0, help="seconds per req/s test")
    add("--connections", type=int, default=50, help="keep-alive conns for req/s")
    add("--blocking-requests", type=int, default=10, help="requests at the blocking baseline")
    add("--blocking-seconds", type=float, default=0.2, help="time.sleep per blocking request")
    add("--processes", action="store_true", help="also compare 2 processes to 1")
{%- if pushing %}
    add("--subscribers", type=int, default=1000, help="push: subscribers one notify reaches")
    add("--messages", type=int, default=2000, help="push: notifies sent to one subscriber")
{%- endif %}
    add(
        "--load-generator",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="for the req/s tests: wrk if it is installed (auto), or the built-in asyncio client",
    )
    add("--json", type=Path, help="also write the results to this file")
    return parser


def rps(args: argparse.Namespace, port: int, path: str, connections: int | None = None) -> float:
    return measure_rps(
        args.load_generator, port, path, connections or args.connections, args.duration
    )


def measure_once(args: argparse.Namespace, extra: Sequence[Extra]) -> dict[str, float]:
    ours, bare = free_port(), free_port()
    env = {"LOG_LEVEL": "WARNING", "SLEEP_MAX_SECONDS": str(max(args.seconds, 60))}
    for part in extra:
        env.update(part.environment())
    baseline = [sys.executable, "-m", "bench.baseline", str(bare), "4096"]
    sleep = f"/sleep?seconds={args.seconds:g}"
    block = f"/block?seconds={args.blocking_seconds:g}"
    timeout = args.seconds + 60
    with contextlib.ExitStack() as stack:
        for part in extra:
            for command in part.processes(args):
                stack.enter_context(running(command, None, env))
        pid = stack.enter_context(running(serve_command(ours), ours, env))
        stack.enter_context(running(baseline, bare, env))
        results: dict[str, Any] = {
            "idle": asyncio.run(idle_probe(ours, "/health")),
            "bare_idle": asyncio.run(idle_probe(bare, "/")),
            "sleeps": asyncio.run(probed(ours, ours, sleep, args.requests, timeout)),
            "bare_sleeps": asyncio.run(probed(bare, bare, sleep, args.requests, timeout)),
            "blocking": asyncio.run(probed(bare, bare, block, args.blocking_requests, timeout)),
            "health_rps": rps(args, ours, "/health"),
            "bare_rps": rps(args, bare, "/"),
            "peak_rss_mb": peak_rss_mb(pid),
        }
        for part in extra:
            results.update(part.measure(args, env, ours, pid))
    if args.processes:
        results["processes"] = compare_processes(args, env)
    return flatten(results)


def compare_processes(args: argparse.Namespace, env: dict[str, str]) -> dict[str, float]:
    rates = {}
    for processes in (1, 2):
        port = free_port()
        with running(serve_command(port, processes), port, env):
            rates[f"rps_{processes}"] = rps(args, port, "/health")
    return rates


def flatten(results: dict[str, Any], prefix: str = "") -> dict[str, float]:
    flat: dict[str, float] = {}
    for key, value in results.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = float(value)
    return flat


def ratios(
    m: dict[str, float], args: argparse.Namespace, extra: Sequence[Extra]
) -> dict[str, float]:
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
    for part in extra:
        found.update(part.ratios(m))
    return found


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def report(
    m: dict[str, float], r: dict[str, float], args: argparse.Namespace, extra: Sequence[Extra]
) -> str:
    """A plain-text table: measurement, load, our median, and the same-run comparison."""
    sleeps = f"{args.requests} x {args.seconds:g} s"
    blocking = f"{args.blocking_requests} x time.sleep({args.blocking_seconds:g})"
    rows: list[Row] = [
        (
            "/sleep burst",
            sleeps,
            f"{m['sleeps.wall_s']:.2f} s",
            f"x{r['sleep_wall_vs_ideal']:.2f} of ideal (bare Tornado "
            f"x{r['bare_sleep_wall_vs_ideal']:.2f}), failed {m['sleeps.failed']:g}",
        ),
        (
            "/health idle",
            "p50 / p99",
            f"{m['idle.p50_ms']:.2f} / {m['idle.p99_ms']:.2f} ms",
            f"bare Tornado {m['bare_idle.p50_ms']:.2f} / {m['bare_idle.p99_ms']:.2f} ms",
        ),
        (
            "/health in the burst",
            "p50 / p99",
            f"{m['sleeps.p50_ms']:.2f} / {m['sleeps.p99_ms']:.2f} ms",
            f"p99 x{r['health_p99_loaded_vs_bare_loaded']:.2f} of bare Tornado's in its burst",
        ),
        (
            "/health req/s",
            f"{args.connections} conns, {args.load_generator}",
            f"{m['health_rps']:.0f}",
            f"x{r['health_rps_vs_bare_hello']:.2f} of bare hello-world ({m['bare_rps']:.0f})",
        ),
        (
            "blocking baseline",
            blocking,
            f"{m['blocking.wall_s']:.2f} s",
            f"x{r['blocking_wall_vs_ideal']:.1f} of ideal; "
            f"/health p50 {m['blocking.p50_ms']:.0f} ms",
        ),
        ("peak RSS", "web process", f"{m['peak_rss_mb']:.0f} MB", ""),
    ]
    for part in extra:
        rows += part.rows(m, r)
    if "two_processes_vs_one" in r:
        rate = f"{m['processes.rps_2']:.0f}"
        versus = f"x{r['two_processes_vs_one']:.2f} of 1"
        rows.append(("2 processes", "/health req/s", rate, versus))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)


def raise_open_file_limit() -> None:
    """A burst of N connections needs N descriptors on each side."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    raise_open_file_limit()
    args.load_generator = load_generator(args.load_generator)
    # SIGTERM unwinds like Ctrl-C, so every server and worker started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    extra = extras()
    runs = []
    try:
        for repetition in range(1, args.repeat + 1):
            print(f"repetition {repetition}/{args.repeat} ...", file=sys.stderr, flush=True)
            runs.append(measure_once(args, extra))
    finally:
        for part in extra:
            part.clean_up()
    headline = median_of([ratios(run, args, extra) for run in runs])  # ratios within each run
    medians = median_of(runs)
    print(report(medians, headline, args, extra))
    payload = {
        "strategy": "{{ cookiecutter.async_strategy }}",
        "arguments": vars(args) | {"json": None},
        "medians": medians,
        "ratios": headline,
        "runs": runs,
    }
    if args.json:
        args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return 1 if medians["sleeps.failed"] else 0
