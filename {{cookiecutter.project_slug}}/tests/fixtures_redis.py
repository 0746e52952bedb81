"""Redis for the whole session: this run's own key prefix, and a check that it answers."""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit

import pytest

from .support import require_service

SERVICE_FREE = {"test_docker.py"}


def pytest_configure(config: pytest.Config) -> None:
    # Parallel runs on one Redis (and the service itself) never see each other.
    os.environ["CHANNEL_PREFIX"] = f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
def _redis_answers(request: pytest.FixtureRequest) -> None:
    if request.path.name in SERVICE_FREE:
        return
    url = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    require_service("Redis", url.hostname or "127.0.0.1", url.port or 6379)
