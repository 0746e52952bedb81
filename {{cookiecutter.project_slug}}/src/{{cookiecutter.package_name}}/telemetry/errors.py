"""Error reports to Sentry, opt-in: `pip install '.[sentry]'` and set SENTRY_DSN.

sentry-sdk's Tornado integration reports an unhandled exception (a bug: the
client got a 500) once, with the request and the request id as a tag, so a
report leads to its log lines. An error answered on purpose (a 4xx, a 503 for a
broker that is down) is not a bug and is not sent. No personal data (cookies,
addresses, bodies) is sent unless SENTRY_SEND_DEFAULT_PII=true.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from .logs import REQUEST_ID

if TYPE_CHECKING:
    from sentry_sdk.types import Event

log = logging.getLogger(__name__)
DSN = "SENTRY_DSN"
_client_started = False


def start() -> bool:
    """Report to SENTRY_DSN; False when it is not set (or sentry-sdk is not installed)."""
    global _client_started
    dsn = os.environ.get(DSN)
    if not dsn:
        return False
    try:
        import sentry_sdk
        from sentry_sdk.integrations.tornado import TornadoIntegration
    except ImportError:
        log.warning("%s is set but sentry-sdk is not installed: pip install '.[sentry]'", DSN)
        return False
    sentry_sdk.init(
        dsn=dsn,
        integrations=[TornadoIntegration()],
        before_send=with_request_id,
        send_default_pii=os.environ.get("SENTRY_SEND_DEFAULT_PII", "").lower() == "true",
        # SENTRY_ENVIRONMENT and SENTRY_RELEASE are read by sentry-sdk itself.
    )
    _client_started = True
    return True


def with_request_id(event: Event, hint: dict[str, Any]) -> Event:
    request_id = REQUEST_ID.get()
    if request_id:
        event.setdefault("tags", {})["request_id"] = request_id
    return event


def shut_down(timeout: float = 5.0) -> None:
    """Send the reports still queued, waiting at most `timeout` seconds."""
    global _client_started
    if _client_started:
        import sentry_sdk

        sentry_sdk.flush(timeout)
        _client_started = False
