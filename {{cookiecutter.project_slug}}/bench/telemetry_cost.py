"""What metrics and JSON logs cost: `python -m bench.telemetry_cost`.

The same service three times: telemetry off (METRICS=false, access lines not
written), metrics only, and both on (METRICS=true, LOG_FORMAT=json, an access
line per request written to a file); and a bare Tornado hello-world. Each is
driven in turn for several rounds: `/health` requests/s and the p99 of a probe
timed meanwhile, reported as ratios within each round (shared machines are
noisy: ratios of one round hold).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
from collections.abc import Sequence

from .load import Probe, requests_per_second
from .processes import free_port, running, serve_command

SETUPS = {
    "off": {"METRICS": "false", "LOG_LEVEL": "WARNING"},
    "metrics": {"METRICS": "true", "LOG_LEVEL": "WARNING"},
    "on": {"METRICS": "true", "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"},
}


async def loaded(port: int, path: str, connections: int, seconds: float) -> dict[str, float]:
    """Requests/s of `connections` clients, and the latency of a probe meanwhile."""
    probe, stop = Probe(port, path), asyncio.Event()
    probing = asyncio.create_task(probe.run(stop))
    # 503 counts too: a Celery project's /health says "degraded" with no worker running.
    rate = await requests_per_second(port, path, connections, seconds, counted=(200, 503))
    stop.set()
    await probing
    return {"rps": rate, "p99_ms": probe.summary()["p99_ms"]}


def one_round(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    measured = {}
    with contextlib.ExitStack() as stack:
        ports = {}
        for name, env in SETUPS.items():
            ports[name] = free_port()
            stack.enter_context(running(serve_command(ports[name]), ports[name], env))
        ports["bare"] = free_port()
        bare = [sys.executable, "-m", "bench.baseline", str(ports["bare"]), "4096"]
        stack.enter_context(running(bare, ports["bare"], {}))
        for name, port in ports.items():
            path = "/" if name == "bare" else "/health"
            measured[name] = asyncio.run(loaded(port, path, args.connections, args.duration))
    return measured


def ratios(rounds: list[dict[str, dict[str, float]]]) -> dict[str, float]:
    """Medians over the rounds of each ratio taken within a round."""

    def median(of: str, over: str, key: str) -> float:
        return statistics.median(r[of][key] / r[over][key] for r in rounds)

    return {
        "metrics_vs_off_rps": median("metrics", "off", "rps"),
        "on_vs_off_rps": median("on", "off", "rps"),
        "off_vs_bare_rps": median("off", "bare", "rps"),
        "on_vs_bare_rps": median("on", "bare", "rps"),
        "on_vs_off_p99": median("on", "off", "p99_ms"),
        "on_p99_ms": statistics.median(r["on"]["p99_ms"] for r in rounds),
        "off_p99_ms": statistics.median(r["off"]["p99_ms"] for r in rounds),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.telemetry_cost")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="print the ratios as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result = ratios([one_round(args) for _ in range(args.rounds)])
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"/health req/s, metrics on vs off: x{result['metrics_vs_off_rps']:.2f}")
    print(f"/health req/s, metrics + JSON logs on vs off: x{result['on_vs_off_rps']:.2f}")
    print(
        f"/health req/s vs bare hello-world: off x{result['off_vs_bare_rps']:.2f}, "
        f"on x{result['on_vs_bare_rps']:.2f}"
    )
    print(
        f"p99 of a probe under load: on {result['on_p99_ms']:.1f} ms, "
        f"off {result['off_p99_ms']:.1f} ms (x{result['on_vs_off_p99']:.2f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
