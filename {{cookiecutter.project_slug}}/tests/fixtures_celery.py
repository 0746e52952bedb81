"""Live services for the celery strategy's tests: the real broker and a real worker.

Every test session gets its own queue and result-key prefix, so parallel runs
(and a worker you run yourself on the same broker) never see each other's tasks.
The shared contract and service tests run against the live worker too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from {{ cookiecutter.package_name }}.celery.app import delete_queue, make_celery
from {{ cookiecutter.package_name }}.celery.settings import CelerySettings

from .support import PACKAGE, SRC, require_service

NEEDS_WORKER = {"test_contract.py", "test_service.py"}


def pytest_configure(config: pytest.Config) -> None:
    run = uuid.uuid4().hex[:10]
    os.environ["CELERY_QUEUE"] = f"test-{run}"
    os.environ["CELERY_KEY_PREFIX"] = f"test-{run}:"
    # A task whose worker died comes back after 5 s instead of 10 minutes; the
    # tests' tasks take 4 s at most.
    os.environ["CELERY_VISIBILITY_TIMEOUT"] = "5"
    os.environ["CELERY_TASK_TIME_LIMIT"] = "4"


@pytest.fixture(autouse=True)
def _worker_for_shared_tests(request: pytest.FixtureRequest) -> None:
    """The shared tests' /sleep needs a worker: start the session's one for them.

    (A `usefixtures` mark added at collection time comes too late: pytest has
    already worked out each test's fixtures.)
    """
    if request.path.name in NEEDS_WORKER:
        request.getfixturevalue("live_worker")


def require_broker() -> None:
    settings = CelerySettings.from_env()
    for name, url in (("broker", settings.broker_url), ("result backend", settings.result_backend)):
        parts = urlsplit(url)
        if parts.scheme in {"redis", "amqp"}:
            service = "Redis" if parts.scheme == "redis" else "RabbitMQ"
            require_service(f"{service} ({name})", parts.hostname or "127.0.0.1", parts.port or 0)


class Worker:
    """`python -m <package> worker` in a subprocess, its output in a file."""

    def __init__(self, **env: str) -> None:
        self.log = Path(tempfile.mkstemp(prefix="celery-worker-", suffix=".log")[1])
        with self.log.open("w") as output:
            # A node name of its own: two workers on one host must not share one.
            node = f"--hostname=test-{uuid.uuid4().hex[:8]}@%h"
            options = [node, "--without-gossip", "--without-mingle"]
            self.process = subprocess.Popen(
                [*self.command(), *options],
                env={**os.environ, "PYTHONPATH": SRC, **env},
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: `kill` takes its pool too
            )

    def command(self) -> list[str]:
        return [sys.executable, "-m", PACKAGE, "worker"]

    def output(self) -> str:
        return self.log.read_text()[-3000:]

    def wait_until_ready(self, timeout: float = 60) -> Worker:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log.read_text():
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        output = self.output()
        self.stop()
        raise AssertionError(f"the worker did not start:\n{output}")

    def kill(self) -> None:
        """SIGKILL to the worker and its pool: it dies mid-task, as when its container is killed."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def live_worker() -> Iterator[Worker]:
    """One worker for the session, with room for the concurrency tests."""
    require_broker()
    worker = Worker(CELERY_WORKER_CONCURRENCY="64").wait_until_ready()
    yield worker
    worker.stop()
    delete_queue(make_celery(CelerySettings.from_env()), os.environ["CELERY_QUEUE"])


@pytest.fixture
def start_worker() -> Iterator[type[Worker]]:
    """Start extra workers (on their own queue) in a test; all are stopped after it."""
    started: list[Worker] = []

    class TrackedWorker(Worker):
        def __init__(self, **env: str) -> None:
            super().__init__(**env)
            started.append(self)

    yield TrackedWorker
    for worker in started:
        worker.stop()
