{%- import "otel.jinja" as otel with context -%}
"""OpenTelemetry tracing, opt-in: `pip install '.[otel]'` and set OTEL_EXPORTER_OTLP_ENDPOINT.

Spans for incoming requests and outgoing AsyncHTTPClient calls (Tornado's
instrumentation), and for the clients this project uses where an
instrumentation exists, exported over OTLP/HTTP in batches from a background
thread. The SDK reads its own settings from the environment (OTEL_SERVICE_NAME,
OTEL_EXPORTER_OTLP_HEADERS...). Each request's span carries its request id.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any

from .logs import REQUEST_ID

log = logging.getLogger(__name__)
ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
# (module under opentelemetry.instrumentation, class): Tornado's, and this project's clients'.
INSTRUMENTATIONS = [
    ("tornado", "TornadoInstrumentor"),
{%- for _, module, name in otel.instrumentations %}
    ("{{ module }}", "{{ name }}"),
{%- endfor %}
]
_provider: Any = None


def start(exporter: Any = None) -> bool:
    """Trace to OTEL_EXPORTER_OTLP_ENDPOINT (or to `exporter`, for tests); False when off."""
    global _provider
    if _provider is not None:
        return True
    if exporter is None and not os.environ.get(ENDPOINT):
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("%s is set but tracing is not installed: pip install '.[otel]'", ENDPOINT)
        return False
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()  # the endpoint and headers from the environment
    resource = Resource.create({"service.name": "{{ cookiecutter.project_slug }}"})
    _provider = TracerProvider(resource=resource)  # OTEL_SERVICE_NAME, if set, wins
    _provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(_provider)
    instrument()
    log.info("tracing to %s", os.environ.get(ENDPOINT) or type(exporter).__name__)
    return True


def instrument() -> None:
    for module, name in INSTRUMENTATIONS:
        package = importlib.import_module(f"opentelemetry.instrumentation.{module}")
        instrumentor = getattr(package, name)
        options = {"server_request_hook": tag_request_id} if module == "tornado" else {}
        instrumentor().instrument(tracer_provider=_provider, **options)


def tag_request_id(span: Any, handler: Any) -> None:
    """Put the request id on the request's span, to find its logs from a trace."""
    if span is not None and span.is_recording():
        span.set_attribute("http.request_id", REQUEST_ID.get())


def shut_down(timeout_ms: int = 5000) -> None:
    """Export the spans still buffered, waiting at most `timeout_ms`."""
    global _provider
    if _provider is not None:
        _provider.force_flush(timeout_ms)
        _provider.shutdown()
        _provider = None
