"""Prometheus metrics: requests by handler, method and status, latency, in flight, and
the figures `/health` shows, served at `/metrics` in the text format.

Requests are recorded from the app's log hook (prometheus-client has no
Tornado module); `/health`'s figures are read when scraped, and every
`REFRESH_EVERY` seconds when several processes serve: prometheus-client's
multiprocess mode then sums every process's figures from files in
PROMETHEUS_MULTIPROC_DIR, which the supervisor creates before forking and
removes at exit, so one scrape of any process counts them all.

prometheus-client is imported when metrics are first built: the mode is fixed
at its import, by whether that variable is set.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import tornado.web

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
REFRESH_EVERY = 5.0  # seconds between a process's updates of its figures, with several
METHODS = frozenset(tornado.web.RequestHandler.SUPPORTED_METHODS)
# Latency buckets (seconds): fast endpoints below 10 ms, sleeps and tasks up to a minute.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
HEADER_BYTES = 8  # a metric file's used-length field and padding
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Figures = Callable[[], dict[str, int]]


class Metrics:
    """One app's metrics, in a registry of its own (tests build many apps in a process).

    `figures()` gives the counts `/health` shows; a name ending in `_total`
    only grows and is exported as a counter, any other as a gauge.
    """

    def __init__(self, namespace: str, figures: Figures, in_flight: Callable[[], int]) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.namespace = namespace
        self.figures = figures
        self.in_flight = in_flight
        self.multiprocess = MULTIPROCESS_DIR in os.environ
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests",
            "Requests answered, by handler, method and status.",
            ["handler", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time from a request's arrival to its answer, by handler and method.",
            ["handler", "method"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.in_flight_gauge = Gauge(
            "http_requests_in_flight",
            "Requests received and not yet answered.",
            multiprocess_mode="livesum",
            registry=self.registry,
        )
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._figures: dict[str, Any] = {}
        self._last: dict[str, int] = {}

    def observe(self, handler: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request (each label set's children are looked up once)."""
        key = (handler, method, status)
        series = self._series.get(key)
        if series is None:
            shown = method if method in METHODS else "OTHER"  # a client's word is no label
            series = (
                self.requests.labels(handler, shown, str(status)),
                self.latency.labels(handler, shown),
            )
            self._series[key] = series
        series[0].inc()
        series[1].observe(seconds)

    def refresh(self) -> None:
        """Copy the in-flight count and `/health`'s figures into their series."""
        self.in_flight_gauge.set(self.in_flight())
        for name, value in self.figures().items():
            series = self._figures.get(name) or self._new_series(name)
            if name.endswith("_total"):
                series.inc(max(0, value - self._last.get(name, 0)))
                self._last[name] = value
            else:
                series.set(value)

    def _new_series(self, name: str) -> Any:
        from prometheus_client import Counter, Gauge

        about = f"{name.replace('_', ' ')}, as /health shows it."
        where: dict[str, Any] = {"namespace": self.namespace, "registry": self.registry}
        series: Any
        if name.endswith("_total"):
            series = Counter(name.removesuffix("_total"), about, **where)
        else:
            series = Gauge(name, about, multiprocess_mode="livesum", **where)
        self._figures[name] = series
        return series

    def exposition(self) -> bytes:
        """The text a scrape gets: this process's series, or every process's summed."""
        from prometheus_client import CollectorRegistry, generate_latest

        self.refresh()
        if not self.multiprocess:
            return generate_latest(self.registry)
        everyone = CollectorRegistry()
        everyone.register(EveryProcess(os.environ[MULTIPROCESS_DIR]))
        return generate_latest(everyone)


class EveryProcess:
    """Every process's series, summed from their files in the multiprocess directory.

    prometheus-client's own MultiProcessCollector fails the whole scrape (a 500)
    on a file that a process has just created and not yet sized: a process
    makes one the first time it records a kind of series. Such a file holds no
    figure yet, so it is left out until it has its header.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def collect(self) -> Any:
        from prometheus_client.multiprocess import MultiProcessCollector

        files = [f for f in glob.glob(os.path.join(self.path, "*.db")) if has_header(f)]
        return MultiProcessCollector.merge(files, accumulate=True)  # type: ignore[no-untyped-call]


def has_header(path: str) -> bool:
    """Is the metric file sized (its first 8 bytes say how much of it is used)?"""
    try:
        return os.path.getsize(path) >= HEADER_BYTES
    except OSError:  # removed since listed: a dead process's gauges
        return False


class MetricsHandler(tornado.web.RequestHandler):
    """`GET /metrics`: answers at once, in Prometheus's text format."""

    def initialize(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def get(self) -> None:
        self.set_header("Content-Type", CONTENT_TYPE)
        self.finish(self.metrics.exposition())


@contextlib.contextmanager
def multiprocess_dir() -> Iterator[str]:
    """A directory for the serving processes' metric files, set in the environment
    before they fork; removed afterwards unless it was the operator's own."""
    own = os.environ.get(MULTIPROCESS_DIR)
    path = own or tempfile.mkdtemp(prefix="metrics-")
    os.environ[MULTIPROCESS_DIR] = path
    try:
        yield path
    finally:
        if not own:
            os.environ.pop(MULTIPROCESS_DIR, None)
            shutil.rmtree(path, ignore_errors=True)


def process_gone(pid: int) -> None:
    """Drop a dead process's gauges (its counters still count in the sums)."""
    if MULTIPROCESS_DIR in os.environ:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
