"""The jobs the worker runs. Add yours to JOBS; to PUBLIC too, to start it over HTTP.

Each job is bound (`task` is Celery's task object): a long job checks
`revoked(task)` between its steps, because a thread cannot be stopped from
outside. A revoked job stops at its next check, and its state is REVOKED.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from celery import Task, states
from celery.exceptions import Ignore
from celery.worker.state import revoked as revoked_ids

log = logging.getLogger(__name__)
CHECK_EVERY = 0.1  # seconds between a long job's checks for revocation


def revoked(task: Task) -> bool:  # type: ignore[type-arg]
    """Was this task revoked while it ran? (The revoke broadcast reached this worker.)"""
    return task.request.id in revoked_ids


def stop_if_revoked(task: Task) -> None:  # type: ignore[type-arg]
    if revoked(task):
        task.update_state(state=states.REVOKED)
        raise Ignore()  # the state stays REVOKED


def sleep(task: Task, seconds: float) -> float:  # type: ignore[type-arg]
    """The tutorial's slow job: stands for any work that takes `seconds`."""
    log.info("sleeping %g s", seconds)  # with the id of the request that asked for it
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, CHECK_EVERY))
        stop_if_revoked(task)
    return seconds


def add(task: Task, x: float, y: float) -> float:  # type: ignore[type-arg]
    return x + y


def fail(task: Task, message: str) -> None:  # type: ignore[type-arg]
    """Raises on purpose, to show what a failing task looks like to a client."""
    raise ValueError(message)


# Every job the worker runs, by its short name.
JOBS: dict[str, Callable[..., Any]] = {"sleep": sleep, "add": add, "fail": fail}
# The jobs the HTTP API may start. Nothing else is callable from outside.
PUBLIC = {"sleep", "add", "fail"}


def task_name(short: str) -> str:
    """The registered name: this module's path and the function's, Celery's own default."""
    return f"{__name__}.{short}"
