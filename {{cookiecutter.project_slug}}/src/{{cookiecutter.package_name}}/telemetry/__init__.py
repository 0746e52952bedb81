"""What production needs to see the service: logs with request ids, metrics, traces, errors.

- logs.py: plain or JSON lines, a request id on each (always on);
- metrics.py: Prometheus at /metrics (on unless METRICS=false);
- tracing.py: OpenTelemetry (opt-in: the `otel` extra and OTEL_EXPORTER_OTLP_ENDPOINT);
- errors.py: Sentry (opt-in: the `sentry` extra and SENTRY_DSN).
"""
