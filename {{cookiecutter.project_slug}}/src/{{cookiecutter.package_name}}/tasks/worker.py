"""The Celery app and its tasks: what the worker runs.

Start a worker with `python -m {{ cookiecutter.package_name }} worker`, the same as
`celery -A {{ cookiecutter.package_name }}.tasks.worker:celery_app worker -Q <CELERY_QUEUE>`
with this project's pool and concurrency.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from celery import Celery

from .settings import CelerySettings

# Celery's Redis backend minus its blocking per-task SUBSCRIBE (see waiters.py).
WEB_REDIS_BACKEND = f"{__package__}.waiters:WebRedisBackend"


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
    return f"{__package__}.{short}"


def make_celery(settings: CelerySettings, web: bool = False) -> Celery:
    """The Celery app; `web=True` for the web process, which awaits results itself."""
    # Celery itself reads CELERY_BROKER_URL and CELERY_RESULT_BACKEND from the
    # environment and lets them win over anything configured: the same variables
    # CelerySettings reads, so both agree.
    app = Celery(__package__, broker=settings.broker_url, backend=settings.result_backend)
    if web and settings.result_backend.startswith(("redis://", "rediss://")):
        # backend_cls is the one thing the environment cannot override.
        app.backend_cls = f"{WEB_REDIS_BACKEND}+{settings.result_backend}"  # "class+url"
    app.conf.update(
        task_default_queue=settings.queue,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=3600,
        result_extended=False,
        task_track_started=True,
        # A task is acknowledged after it ran: a worker that dies mid-task leaves it
        # to be delivered again (tasks must be safe to run twice).
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=settings.task_time_limit,  # enforced by the prefork pool only
        broker_connection_retry_on_startup=True,
        # Publishing gives up fast when the broker is gone: the web process answers 503.
        broker_connection_timeout=2,
        broker_connection_max_retries=2,
        task_publish_retry_policy={
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout,
            "unacked_restore_interval": min(10.0, settings.visibility_timeout),
            "unacked_restore_throttle": 1,
        },
        result_backend_transport_options={"global_keyprefix": settings.key_prefix},
        worker_hijack_root_logger=False,
    )
    for short, function in PUBLIC_TASKS.items():
        app.task(name=task_name(short))(function)
    return app


def run_worker(extra_args: list[str]) -> int:
    """`celery worker` for this app, with a pool that suits sleeping tasks by default.

    Threads suit I/O-bound and sleeping tasks: 100 concurrent one-second tasks
    must not queue behind a process pool of 2. Use `--pool prefork` (or
    CELERY_WORKER_POOL=prefork) for CPU-bound tasks and hard time limits.
    """
    settings = CelerySettings.from_env()
    argv = [
        "worker",
        f"--pool={settings.worker_pool}",
        f"--concurrency={settings.worker_concurrency}",
        f"--queues={settings.queue}",
        "--loglevel=INFO",
        *extra_args,
    ]
    celery_app.worker_main(argv)
    return 0


celery_app = make_celery(CelerySettings.from_env())
