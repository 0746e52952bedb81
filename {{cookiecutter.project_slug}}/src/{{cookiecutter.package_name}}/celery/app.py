"""The Celery app, and the worker that runs the jobs.

Start a worker with `python -m {{ cookiecutter.package_name }} worker`, the same as
`celery -A {{ cookiecutter.package_name }}.celery.app:celery_app worker -Q <CELERY_QUEUE>`
with this project's pool and concurrency.

The two sides want opposite things from a broker that is gone: the web process
gives up publishing within seconds (its client gets a 503 and retries), the
worker reconnects for ever (it is the thing that must survive an outage).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any

import click
from celery import Celery, Task, signals
from celery.bin.celery import celery as celery_command

from ..settings import Settings
from ..telemetry import errors, tracing
from ..telemetry.logs import REQUEST_ID, configure_logging
from .jobs import JOBS, task_name
from .settings import CelerySettings

# Celery's Redis backend minus its blocking per-task SUBSCRIBE (see waiters.py).
WEB_REDIS_BACKEND = f"{__package__}.waiters:WebRedisBackend"
# Where the worker's two lines per task come from: "received" and "succeeded in".
TASK_LOGGERS = ("celery.worker.strategy", "celery.app.trace")


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
        # The worker: retry the broker for ever (kombu backs off up to 30 s between
        # tries); heartbeats notice a dead AMQP connection within seconds.
        broker_connection_retry=True,
        broker_connection_max_retries=None,
        broker_heartbeat=10,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=3600,
        result_extended=False,
        # STARTED costs the worker a backend write per task and every web process
        # a message: off unless CELERY_TRACK_STARTED=true.
        task_track_started=settings.track_started,
        # A task is acknowledged after it ran: a worker that dies mid-task leaves it
        # to be delivered again (tasks must be safe to run twice).
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=settings.task_time_limit,  # enforced by the prefork pool only
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=2,
        task_publish_retry_policy={
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
        # Redis broker: a task a dead worker left unacknowledged goes back to the
        # queue after the visibility timeout; every live worker looks for such
        # tasks every 10 s (kombu >= 5.7). One looks at a time, under a lock that
        # a worker killed or cut off while looking leaves held: 30 s, not kombu's
        # 5 minutes, before the others look again.
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout,
            "unacked_restore_interval": 10,
            "unacked_restore_throttle": 1,
            "unacked_mutex_expire": 30,
        },
        result_backend_transport_options={"global_keyprefix": settings.key_prefix},
        worker_hijack_root_logger=False,
    )
    if web:
        # Publishing gives up fast when the broker is gone: the web process answers 503.
        app.conf.broker_connection_max_retries = 2
    for short, function in JOBS.items():
        app.task(name=task_name(short), bind=True)(function)
    return app


def delete_queue(app: Celery, name: str) -> int:
    """Delete queue `name` and the tasks waiting in it; return how many there were.

    Declared first: kombu's Redis transport deletes only queues this process
    has declared, and RabbitMQ keeps a durable queue until it is deleted.
    """
    with app.connection_for_write() as connection:
        queue = app.amqp.queues[name](connection.default_channel)
        queue.declare()
        waiting = queue.purge() or 0
        queue.delete()
        return waiting


def quiet_task_log(task_log: bool) -> None:
    """Without CELERY_TASK_LOG, the worker logs a task only when it fails.

    Its start-up banner and "ready." stay. Set before the worker starts: Celery
    decides once, when it builds its consumer and tracer, whether to log at INFO.
    """
    level = logging.NOTSET if task_log else logging.WARNING
    for name in TASK_LOGGERS:
        logging.getLogger(name).setLevel(level)


# Result backends whose writes go through thread-safe pools: redis-py's connection
# pool, or (rpc://) the app's kombu producer pool; a worker's threads can share one.
SHARED_BACKENDS = ("redis://", "rediss://", "rpc://")


@functools.cache
def worker_app() -> Celery:
    """The worker's app, built on first use from the environment."""
    settings = CelerySettings.from_env()
    quiet_task_log(settings.task_log)
    observe_tasks()
    app = make_celery(settings)
    if settings.result_backend.startswith(SHARED_BACKENDS):
        share_result_backend(app)
    return app


def share_result_backend(app: Celery) -> None:
    """One result backend for all the pool's threads, built before they start.

    Celery builds a backend per thread by default, on the thread's first use,
    and each build scans every installed package's entry points. With
    task_track_started off that first use is a task's end, so a burst's threads
    all build theirs at once, fighting over the GIL: the worker stalls (see the
    README). A worker only writes results, and Redis and rpc:// backends write
    through thread-safe pools (SHARED_BACKENDS). What a shared backend must not
    do is wait: a task calling `.get()` on another task's result (which Celery
    refuses by default) would share one pub/sub connection or reply queue.
    """
    app.conf.result_backend_thread_safe = True

    def build(sender: Any, **signal_args: object) -> None:
        # Every pool thread may need a connection at once, the main thread one
        # more: past max_connections (redis-py 8's default: 100) the pool raises.
        needed = sender.concurrency + 1
        app.conf.redis_max_connections = max(app.conf.redis_max_connections or 0, needed)
        _ = app.backend  # built here, in the worker's main thread (even with --quiet)

    signals.worker_init.connect(build, weak=False)


def observe_tasks() -> None:
    """The worker logs as the web process does (LOG_FORMAT, request ids), and traces
    and reports errors when asked (see telemetry/)."""
    signals.setup_logging.connect(use_our_logging, weak=False)
    signals.task_prerun.connect(task_started, weak=False)
    signals.task_postrun.connect(task_ended, weak=False)
    tracing.start()
    errors.start()


def use_our_logging(**_: object) -> None:
    """Connected, this replaces Celery's own logging set-up."""
    config = Settings.from_env()
    configure_logging(config.log_level, config.log_format)


def task_started(task: Task, **_: object) -> None:  # type: ignore[type-arg]
    """The task's log lines carry the id of the request that published it."""
    REQUEST_ID.set(str(getattr(task.request, "request_id", None) or "-"))


def task_ended(**_: object) -> None:
    REQUEST_ID.set("")  # a pool thread's next task may come from no request


def __getattr__(name: str) -> Celery:
    # `celery -A <package>.celery.app:celery_app` asks for this name: the app is
    # built then, not when the module is imported.
    if name == "celery_app":
        return worker_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run_worker(extra_args: Sequence[str]) -> int:
    """`celery worker` for this app; its exit status: not 0 when the worker died.

    Threads suit I/O-bound and sleeping tasks: 100 concurrent one-second tasks
    must not queue behind a process pool of 2. Use `--pool prefork` (or
    CELERY_WORKER_POOL=prefork) for CPU-bound tasks and hard time limits.
    (Celery's own `app.worker_main()` exits 0 even after an unrecoverable error;
    its command line returns the worker's status.)
    """
    settings = CelerySettings.from_env()
    argv = [
        f"--app={__name__}:celery_app",
        "worker",
        f"--pool={settings.worker_pool}",
        f"--concurrency={settings.worker_concurrency}",
        f"--queues={settings.queue}",
        "--loglevel=INFO",
        *extra_args,
    ]
    try:
        status = celery_command.main(args=argv, standalone_mode=False)
    except click.ClickException as error:  # a bad option: say which, as celery does
        error.show()
        return error.exit_code
    return status if isinstance(status, int) else 0
