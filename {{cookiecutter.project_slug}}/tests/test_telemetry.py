"""Request ids, JSON logs, /metrics (one process and two), tracing and error reports."""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.settings import Settings, SettingsError
from {{ cookiecutter.package_name }}.telemetry.logs import JsonLines, WithRequestId
from {{ cookiecutter.package_name }}.telemetry.metrics import EveryProcess

from .support import SRC, AppTestCase, Server, body, closed_port, get_json

PACKAGE = "{{ cookiecutter.package_name }}"


class RequestIdTest(AppTestCase):
    """Each answer carries a request id: the caller's when well formed, else a new one."""

    @gen_test(timeout=30)
    async def test_a_well_formed_id_comes_back(self) -> None:
        response = await self.get("/health", headers={"X-Request-ID": "edge-7f3a:42"})
        assert response.headers["X-Request-ID"] == "edge-7f3a:42"

    @gen_test(timeout=30)
    async def test_a_missing_or_bad_id_is_replaced_by_a_new_one(self) -> None:
        for sent in ("", "x" * 129, "a b", "<script>", "é"):
            headers = {"X-Request-ID": sent} if sent else {}
            response = await self.get("/health", headers=headers)
            assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"]), sent

    @gen_test(timeout=30)
    async def test_an_error_answer_carries_its_id_too(self) -> None:
        response = await self.get("/no/such/path", headers={"X-Request-ID": "lost-1"})
        assert response.code == 404
        assert response.headers["X-Request-ID"] == "lost-1"


def test_new_ids_are_unique_per_request_and_per_forked_process() -> None:
    printed = run_script(
        """
        import os
        from PACKAGE.telemetry.logs import request_id_from

        ids = [request_id_from(None) for _ in range(1000)]
        assert len(set(ids)) == 1000
        read, write = os.pipe()
        if os.fork() == 0:  # a serving process of `--processes 2`
            os.write(write, request_id_from(None).encode())
            os._exit(0)
        os.wait()
        print(ids[-1], os.read(read, 32).decode())
        """,
        env={},
    )
    parent, child = printed.split()
    assert parent[:16] != child[:16]  # another process, another random half
    assert int(child[16:], 16) == 0  # its own count, from the start


class JsonLogTest(AppTestCase):
    """LOG_FORMAT=json: the access line is one JSON object with the request's fields."""

    def setUp(self) -> None:
        super().setUp()
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.addFilter(WithRequestId())
        self.handler.setFormatter(JsonLines())
        access = logging.getLogger("tornado.access")
        self.level = access.level
        access.setLevel(logging.INFO)
        access.addHandler(self.handler)

    def tearDown(self) -> None:
        access = logging.getLogger("tornado.access")
        access.removeHandler(self.handler)
        access.setLevel(self.level)
        super().tearDown()

    def lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]

    @gen_test(timeout=30)
    async def test_the_access_line_has_the_callers_id_and_the_requests_fields(self) -> None:
        await self.get("/health?probe=1", headers={"X-Request-ID": "from-the-edge"})
        [line] = self.lines()
        assert line["request_id"] == "from-the-edge"
        assert line["logger"] == "tornado.access"
        assert line["level"] == "INFO"
        assert (line["method"], line["path"], line["status"]) == ("GET", "/health", 200)
        assert line["remote"] == "127.0.0.1"
        assert isinstance(line["duration_ms"], float)
        assert line["duration_ms"] >= 0

    @gen_test(timeout=30)
    async def test_an_error_line_is_a_warning_with_its_message(self) -> None:
        await self.get("/no/such/path")
        [line] = self.lines()
        assert (line["level"], line["status"]) == ("WARNING", 404)
        assert str(line["message"]).endswith("no such endpoint: /no/such/path")


def test_log_format_is_text_or_json() -> None:
    assert Settings.from_env({"LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(SettingsError, match="LOG_FORMAT must be text or json, got 'xml'"):
        Settings.from_env({"LOG_FORMAT": "xml"})


def test_a_served_json_log_line_carries_the_id_the_client_sent() -> None:
    server = Server(env={"LOG_FORMAT": "json", "LOG_LEVEL": "INFO"})
    try:
        request = urllib.request.Request(server.url + "/health", headers={"X-Request-ID": "r-99"})
        urllib.request.urlopen(request, timeout=10).close()
    finally:
        assert server.stop() == 0
    lines = [json.loads(line) for line in server.printed().splitlines()]
    [access] = [line for line in lines if line.get("request_id") == "r-99"]
    assert (access["path"], access["status"]) == ("/health", 200)
    assert all("request_id" in line for line in lines)  # "-" outside a request


class MetricsTest(AppTestCase):
    """GET /metrics: what was just served, in Prometheus's text format."""

    @gen_test(timeout=30)
    async def test_a_request_just_made_is_counted_and_timed(self) -> None:
        first = await self.get("/health")
        await self.get("/no/such/path")
        response = await self.get("/metrics")
        assert response.code == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.body.decode()
        health = {"handler": "HealthHandler", "method": "GET"}
        status = str(first.code)  # 503 while a service of this project is down
        assert metric(text, "http_requests_total", **health, status=status) == 1
        assert metric(text, "http_requests_total", handler="NotFoundHandler", status="404") == 1
        assert metric(text, "http_request_duration_seconds_count", **health) == 1
        assert "http_requests_in_flight 0.0" in text  # a scrape is not a JSON request

    @gen_test(timeout=30)
    async def test_every_figure_of_health_is_a_metric(self) -> None:
        health = body(await self.get("/health"))
        text = (await self.get("/metrics")).body.decode()
        figures = {k: v for k, v in health.items() if isinstance(v, int) and k != "pid"}
        figures.pop("in_flight")  # http_requests_in_flight
        for name, value in figures.items():
            series = f"{PACKAGE}_{name}"
            assert re.search(rf"^{series} ", text, re.MULTILINE), f"{series} missing"
            if not name.endswith("_total"):
                assert f"{series} {float(value)}" in text

    @gen_test(timeout=30)
    async def test_a_method_a_client_made_up_is_no_label(self) -> None:
        await self.get("/health", method="BREW", allow_nonstandard_methods=True)
        text = (await self.get("/metrics")).body.decode()
        assert "BREW" not in text


class MetricsOffTest(AppTestCase):
    def settings(self) -> Settings:
        return super().settings().replace(metrics=False)

    @gen_test(timeout=30)
    async def test_metrics_false_serves_no_metrics(self) -> None:
        assert (await self.get("/metrics")).code == 404
        assert self.app.metrics is None


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        sample, _, value = line.rpartition(" ")
        if sample.split("{")[0] == name and all(f'{k}="{v}"' in sample for k, v in labels.items()):
            total += float(value)
    return total


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def test_two_processes_are_summed_in_one_scrape() -> None:
    server = Server("--processes", "2")
    try:
        pids: list[int] = []
        while len(set(pids)) < 2:  # until each process has answered some
            assert len(pids) < 500, "one process answered every request"
            pids.append(int(str(get_json(server.url + "/health")[1]["pid"])))
        # Ours and the one that found the server up: whichever process answers the scrape
        # counts the other's too. A process counts a request just after answering it, so
        # the count may lag a little, but it never goes past.
        expected = len(pids) + 1
        deadline = time.monotonic() + 10
        while (counted := health_requests(server.url)) < expected:
            assert time.monotonic() < deadline, f"{expected - counted} requests are missing"
            time.sleep(0.05)
        for _ in range(4):
            assert health_requests(server.url) == expected
    finally:
        assert server.stop() == 0


def health_requests(url: str) -> float:
    """How many /health requests the scrape counts, whatever their status."""
    return metric(scrape(url + "/metrics"), "http_requests_total", handler="HealthHandler")


def test_a_metric_file_not_yet_sized_does_not_fail_the_scrape(tmp_path: Path) -> None:
    """A process creates its file, then sizes it: a scrape in between still answers."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.mmap_dict import MmapedDict, mmap_key

    counted = MmapedDict(str(tmp_path / "counter_1.db"))  # type: ignore[no-untyped-call]
    key = mmap_key("jobs", "jobs_total", ["kind"], ["sent"], "Jobs.")
    counted.write_value(key, 3.0, 0.0)  # type: ignore[no-untyped-call]
    counted.close()  # type: ignore[no-untyped-call]
    (tmp_path / "counter_2.db").touch()  # the other process, between open and size
    registry = CollectorRegistry()
    registry.register(EveryProcess(str(tmp_path)))
    assert metric(generate_latest(registry).decode(), "jobs_total", kind="sent") == 3


def test_metrics_port_keeps_metrics_off_the_public_port() -> None:
    port = closed_port()
    server = Server(env={"METRICS_PORT": str(port)})
    try:
        with pytest.raises(urllib.error.HTTPError) as not_here:
            scrape(server.url + "/metrics")
        not_here.value.close()
        assert not_here.value.code == 404
        text = scrape(f"http://127.0.0.1:{port}/metrics")
        assert metric(text, "http_requests_total", handler="HealthHandler") >= 1
    finally:
        assert server.stop() == 0


class Receiver(ThreadingHTTPServer):
    """A local HTTP endpoint that keeps what is POSTed to it: an OTLP collector, Sentry."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, bytes]] = []
        super().__init__(("127.0.0.1", 0), KeepPosts)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True, name="receiver")
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class KeepPosts(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            data = gzip.decompress(data)
        self.server.posts.append((self.path, data))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads what was posted."""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiving = Receiver()
    yield receiving
    receiving.stop()


def run_script(script: str, env: dict[str, str]) -> str:
    """Run `script` in a fresh interpreter (tracing and Sentry patch Tornado for good)."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script).replace("PACKAGE", PACKAGE)],
        env={**os.environ, "PYTHONPATH": SRC, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_spans_of_a_request_reach_the_in_memory_exporter() -> None:
    printed = run_script(
        """
        import asyncio, json
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from tornado.httpclient import AsyncHTTPClient
        from tornado.httpserver import HTTPServer
        from tornado.testing import bind_unused_port
        from PACKAGE.app import make_app
        from PACKAGE.settings import Settings
        from PACKAGE.telemetry import tracing

        exporter = InMemorySpanExporter()
        assert tracing.start(exporter)

        async def main():
            app = make_app(Settings(port=0))
            await app.start()
            sock, port = bind_unused_port()
            server = HTTPServer(app)
            server.add_sockets([sock])
            url = "http://127.0.0.1:%d/health" % port
            await AsyncHTTPClient().fetch(url, headers=dict([("X-Request-ID", "traced-1")]))
            server.stop()
            await app.close()

        asyncio.run(main())
        tracing.shut_down()
        spans = [dict(name=s.name, kind=s.kind.name, attributes=dict(s.attributes))
                 for s in exporter.get_finished_spans()]
        print(json.dumps(spans))
        """,
        {},
    )
    spans = json.loads(printed.splitlines()[-1])
    [served] = [span for span in spans if span["kind"] == "SERVER"]
    assert served["name"] == "GET /health"
    assert served["attributes"]["http.request_id"] == "traced-1"
    assert any(span["kind"] == "CLIENT" for span in spans)  # the AsyncHTTPClient call


def test_spans_reach_a_real_otlp_http_receiver(receiver: Receiver) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    server = Server(env=env)
    urllib.request.urlopen(server.url + "/health", timeout=10).close()
    assert server.stop() == 0  # spans still buffered are sent at shutdown
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    names = []
    for path, data in receiver.posts:
        assert path == "/v1/traces"
        export = ExportTraceServiceRequest.FromString(data)
        for resource in export.resource_spans:
            names += [span.name for scope in resource.scope_spans for span in scope.spans]
    assert "GET /health" in names


def test_a_bug_is_reported_to_sentry_once_and_a_4xx_is_not(receiver: Receiver) -> None:
    dsn = f"http://public@127.0.0.1:{receiver.server_address[1]}/1"
    run_script(
        """
        import asyncio
        from tornado.httpclient import AsyncHTTPClient
        from tornado.httpserver import HTTPServer
        from tornado.testing import bind_unused_port
        from PACKAGE.settings import Settings
        from PACKAGE.telemetry import errors
        from PACKAGE.web import BaseApp, JsonHandler

        class Broken(JsonHandler):
            def get(self):
                raise ZeroDivisionError("a bug")

        assert errors.start()

        async def main():
            server = HTTPServer(BaseApp(Settings(), [(r"/broken", Broken)]))
            sock, port = bind_unused_port()
            server.add_sockets([sock])
            client = AsyncHTTPClient()
            for path in ("/broken", "/no/such/path"):
                url = "http://127.0.0.1:%d%s" % (port, path)
                headers = dict([("X-Request-ID", "bug-1")])
                await client.fetch(url, raise_error=False, headers=headers)
            server.stop()

        asyncio.run(main())
        errors.shut_down()
        """,
        {"SENTRY_DSN": dsn},
    )
    events = []
    for path, data in receiver.posts:
        assert path == "/api/1/envelope/"
        items = [json.loads(line) for line in data.splitlines() if line.startswith(b"{")]
        events += [item for item in items if "exception" in item]
    [event] = events  # the 404 sent nothing
    assert event["exception"]["values"][-1]["type"] == "ZeroDivisionError"
    assert event["tags"]["request_id"] == "bug-1"


def test_tracing_and_sentry_are_off_unless_asked_for() -> None:
    printed = run_script(
        """
        from PACKAGE.telemetry import errors, tracing
        print(tracing.start(), errors.start())
        """,
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "", "SENTRY_DSN": ""},
    )
    assert printed.split() == ["False", "False"]
