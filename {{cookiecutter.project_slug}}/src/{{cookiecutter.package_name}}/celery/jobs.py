"""The tasks the worker runs. Add yours here, and to PUBLIC_TASKS to call it over HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def sleep(seconds: float) -> float:
    """The tutorial's slow job: stands for any work that takes `seconds`."""
    time.sleep(seconds)
    return seconds


def add(x: float, y: float) -> float:
    return x + y


def fail(message: str) -> None:
    """Raises on purpose, to show what a failing task looks like to a client."""
    raise ValueError(message)


# The tasks the HTTP API may start, by their short name. Nothing else is callable.
PUBLIC_TASKS: dict[str, Callable[..., Any]] = {"sleep": sleep, "add": add, "fail": fail}


def task_name(short: str) -> str:
    """The registered name: this module's path and the function's, Celery's own default."""
    return f"{__name__}.{short}"
