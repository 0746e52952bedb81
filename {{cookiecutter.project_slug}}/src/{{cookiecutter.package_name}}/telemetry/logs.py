"""Logs: plain lines for a terminal or one JSON object per line, each with its request id.

A request's id comes from a well-formed `X-Request-ID` header (the proxy's or
the caller's), else a new one. It goes back in the response, onto every log
line written while the request runs (a context variable: tasks the request
starts inherit it), and onward to outgoing HTTP calls and Celery tasks, so
one id follows the work through every log.
"""

from __future__ import annotations

import contextvars
import itertools
import json
import logging
import os
import re
import secrets
import sys
import time
from typing import Any

import tornado.httputil
import tornado.web

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
HEADER = "X-Request-ID"
# What a caller's id may look like: bounded, and nothing a log reader could trip on.
WELL_FORMED = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
# A LogRecord's own attributes: anything else on a record came as `extra`.
RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message"}


class NewIds:
    """New request ids: 32 hex digits, a random half per process and a counter.

    Unique across processes and restarts like a random UUID, without reading
    the system's random source for each request as `uuid4()` does.
    """

    def __init__(self) -> None:
        self.renew()
        # A forked serving process must not repeat its parent's ids.
        os.register_at_fork(after_in_child=self.renew)

    def renew(self) -> None:
        self.prefix = secrets.token_hex(8)
        self.counter = itertools.count()

    def __call__(self) -> str:
        return f"{self.prefix}{next(self.counter):016x}"


new_request_id = NewIds()


def request_id_from(header: str | None) -> str:
    """The caller's id when it is well formed, else a new one."""
    if header and WELL_FORMED.fullmatch(header):
        return header
    return new_request_id()


class RequestIdHeader(tornado.web.OutputTransform):
    """Gives each request its id, and returns it in the `X-Request-ID` response header.

    A transform is built for every request before its handler runs, whatever
    the handler (JSON, static files, WebSocket), so every request has an id.
    """

    def __init__(self, request: tornado.httputil.HTTPServerRequest) -> None:
        super().__init__(request)
        self.request_id = request_id_from(request.headers.get(HEADER))
        REQUEST_ID.set(self.request_id)  # the handler's task starts from this context

    def transform_first_chunk(
        self,
        status_code: int,
        headers: tornado.httputil.HTTPHeaders,
        chunk: bytes,
        finishing: bool,
    ) -> tuple[int, tornado.httputil.HTTPHeaders, bytes]:
        headers[HEADER] = self.request_id
        return status_code, headers, chunk


def outgoing_headers() -> dict[str, str]:
    """Headers that carry the current request's id to a service this app calls."""
    request_id = REQUEST_ID.get()
    return {HEADER: request_id} if request_id else {}


class WithRequestId(logging.Filter):
    """Puts the current request id on every record (`-` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get() or "-"
        return True


class JsonLines(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request id, and extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in RECORD_FIELDS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


PLAIN = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def configure_logging(level: str, log_format: str = "text") -> None:
    """Log to stderr at `level`, as plain text or (`log_format="json"`) as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(WithRequestId())
    handler.setFormatter(JsonLines() if log_format == "json" else logging.Formatter(PLAIN))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
