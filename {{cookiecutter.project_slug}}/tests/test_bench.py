{%- set databases = cookiecutter.__services.split(",") | select("in", ["mysql", "postgresql"]) | list -%}
{%- set pushing = cookiecutter.push != "none" -%}
{%- set celery = cookiecutter.async_strategy == "celery" -%}
"""The benchmark (bench/): a tiny run end to end, and its wrk plumbing. No timing asserted."""

from __future__ import annotations

import json
{%- if celery and cookiecutter.__broker == "rabbitmq" %}
import math
{%- endif %}
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.load import measure_rps, parse_wrk

from .support import Server

ROOT = Path(__file__).resolve().parent.parent


def bench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m bench ...` from the project's root, as the README says to run it."""
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_the_benchmark_runs_end_to_end(tmp_path: Path) -> None:
    """A tiny run of the benchmark, so it cannot rot."""
    report = tmp_path / "bench.json"
    options = ["--requests", "10", "--seconds", "0.1", "--repeat", "1", "--duration", "0.3"]
    options += ["--connections", "4", "--blocking-requests", "2", "--blocking-seconds", "0.05"]
{%- if pushing %}
    options += ["--subscribers", "20", "--messages", "40"]
{%- endif %}
    done = bench(*options, "--load-generator", "python", "--json", str(report))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "/sleep burst" in done.stdout
    results = json.loads(report.read_text())
    assert results["medians"]["sleeps.failed"] == 0
    assert results["ratios"]["sleep_wall_vs_ideal"] >= 1
    assert results["ratios"]["blocking_wall_vs_ideal"] >= 1.5  # 2 blocking sleeps queue up
{%- if pushing %}
    assert results["ratios"]["fan_out_vs_bare"] > 0  # one notify to 20, against bare Tornado's
    assert results["ratios"]["push_messages_vs_bare"] > 0
{%- endif %}
{%- if celery %}
    for other in ("v010", "polling"):  # the same round trip with v0.1.0's settings, polling
        assert results["ratios"][f"celery_vs_{other}_c50"] > 0
{%- if cookiecutter.__broker == "rabbitmq" %}
    # rpc:// results: result.get() in a pool thread never returns, so it is not run.
    assert math.isnan(results["medians"]["celery.executor_failed_of_200"])
{%- else %}
    assert 0 <= results["medians"]["celery.executor_failed_of_200"] <= 200
{%- endif %}
{%- endif %}
{%- if databases %}
    for database in ["{{ databases | join('", "') }}"]:  # one query, three ways
        for way in ("client", "sqlalchemy"):
            assert results["ratios"][f"{database}_{way}_vs_bare"] > 0
{%- endif %}


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
def test_wrk_measures_a_real_server() -> None:
    server = Server()
    try:
        assert measure_rps("wrk", server.port, "/health", 4, 1.0) > 0
    finally:
        server.output()


def test_asking_for_wrk_without_it_says_what_to_do(tmp_path: Path) -> None:
    done = bench("--load-generator", "wrk", env={"PATH": str(tmp_path)})
    assert done.returncode == 1
    assert "wrk is not installed (apt-get install wrk)" in done.stderr
    assert "--load-generator python" in done.stderr


def test_the_telemetry_cost_is_measured_as_ratios() -> None:
    command = ["bench.telemetry_cost", "--rounds", "1", "--duration", "0.5", "--json"]
    done = subprocess.run(
        [sys.executable, "-m", *command, "--connections", "4"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": "src"},
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) >= {"on_vs_off_rps", "on_vs_bare_rps", "on_vs_off_p99"}
    assert all(value > 0 for value in result.values())
