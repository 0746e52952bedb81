"""The Celery settings, read from the same environment as the web process."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Self

from ..settings import SettingsError, read_bool, read_number

# threads: sleeping and I/O-bound tasks; prefork: CPU-bound ones, and hard time
# limits; solo: one task at a time, for debugging.
WORKER_POOLS = ("threads", "prefork", "solo")
# native: one awaited LPUSH on redis.asyncio (a Redis broker; RabbitMQ always
# publishes with aio-pika); thread: Celery's own `send_task` on a few threads.
PUBLISHERS = ("native", "thread")

PACKAGE = "{{ cookiecutter.package_name }}"
{%- if cookiecutter.__broker == "redis" %}
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
DEFAULT_RESULT_BACKEND = "redis://127.0.0.1:6379/1"
{%- else %}
DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
# rpc://: results come back as messages to the publishing process; RabbitMQ is the
# only service to run. Use a redis:// backend to look tasks up from any process.
DEFAULT_RESULT_BACKEND = "rpc://"
{%- endif %}


@dataclasses.dataclass(frozen=True)
class CelerySettings:
    broker_url: str = DEFAULT_BROKER_URL
    result_backend: str = DEFAULT_RESULT_BACKEND
    queue: str = PACKAGE
    # Scopes this service's result keys in a shared Redis (and its one subscription).
    key_prefix: str = f"{PACKAGE}:"
    # How long a result may take beyond the work itself (queueing, a busy worker).
    result_timeout: float = 10.0
    publish_timeout: float = 5.0
    publish_threads: int = 4
    publisher: str = "native"
    # Redis connections the native publisher keeps; a publish waits for one at
    # most publish_timeout / 2, then answers 503.
    publish_connections: int = 8
    max_in_flight: int = 1000
    # Tasks started without waiting for them may queue up to this many.
    max_queued: int = 10_000
    worker_concurrency: int = 100
    worker_pool: str = "threads"
    # Redis broker: a task a dead worker left unacknowledged goes back to the queue
    # after this long; a task running longer than this would be delivered twice.
    visibility_timeout: float = 600.0
    task_time_limit: float = 300.0
    # The worker records STARTED in the result backend (GET /tasks/<id> shows it)
    # at the cost of a write per task and a message to every web process.
    track_started: bool = False
    # The worker logs two lines per task (received, succeeded) at INFO.
    task_log: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        env = os.environ if env is None else env
        pool = env.get("CELERY_WORKER_POOL", cls.worker_pool)
        if pool not in WORKER_POOLS:
            choices = ", ".join(WORKER_POOLS)
            raise SettingsError(f"CELERY_WORKER_POOL must be one of {choices}, got {pool!r}")
        publisher = env.get("CELERY_PUBLISHER", cls.publisher)
        if publisher not in PUBLISHERS:
            choices = ", ".join(PUBLISHERS)
            raise SettingsError(f"CELERY_PUBLISHER must be one of {choices}, got {publisher!r}")
        settings = cls(
            broker_url=env.get("CELERY_BROKER_URL") or cls.broker_url,
            result_backend=env.get("CELERY_RESULT_BACKEND") or cls.result_backend,
            queue=env.get("CELERY_QUEUE") or cls.queue,
            key_prefix=env.get("CELERY_KEY_PREFIX", cls.key_prefix),
            result_timeout=read_number(
                env, "CELERY_RESULT_TIMEOUT", cls.result_timeout, float, 0.1, 3600.0
            ),
            publish_timeout=read_number(
                env, "CELERY_PUBLISH_TIMEOUT", cls.publish_timeout, float, 0.1, 60.0
            ),
            publish_threads=read_number(
                env, "CELERY_PUBLISH_THREADS", cls.publish_threads, int, 1, 64
            ),
            publisher=publisher,
            publish_connections=read_number(
                env, "CELERY_PUBLISH_CONNECTIONS", cls.publish_connections, int, 1, 1024
            ),
            max_in_flight=read_number(
                env, "CELERY_MAX_IN_FLIGHT", cls.max_in_flight, int, 1, 1_000_000
            ),
            max_queued=read_number(env, "CELERY_MAX_QUEUED", cls.max_queued, int, 1, 10**9),
            worker_concurrency=read_number(
                env, "CELERY_WORKER_CONCURRENCY", cls.worker_concurrency, int, 1, 10_000
            ),
            worker_pool=pool,
            visibility_timeout=read_number(
                env, "CELERY_VISIBILITY_TIMEOUT", cls.visibility_timeout, float, 1.0, 86400.0 * 7
            ),
            task_time_limit=read_number(
                env, "CELERY_TASK_TIME_LIMIT", cls.task_time_limit, float, 1.0, 86400.0
            ),
            track_started=read_bool(env, "CELERY_TRACK_STARTED", cls.track_started),
            task_log=read_bool(env, "CELERY_TASK_LOG", cls.task_log),
        )
        return settings.validated()

    def validated(self) -> Self:
        if self.visibility_timeout <= self.task_time_limit:
            raise SettingsError(
                f"CELERY_VISIBILITY_TIMEOUT ({self.visibility_timeout:g} s) must be longer than "
                f"CELERY_TASK_TIME_LIMIT ({self.task_time_limit:g} s): a task that runs past "
                "the visibility timeout is delivered again"
            )
        if self.result_backend.startswith("rpc://") and not self.broker_url.startswith("amqp"):
            raise SettingsError(
                "CELERY_RESULT_BACKEND=rpc:// needs a RabbitMQ broker (amqp://...): "
                "use a redis:// result backend with a Redis broker"
            )
        return self
