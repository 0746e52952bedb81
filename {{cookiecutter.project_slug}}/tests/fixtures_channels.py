"""The broker for the whole session: this run's own names, and a check that it answers."""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit

import pytest

from {{ cookiecutter.package_name }}.async_client import DEFAULT_URL, SERVICE, URL_VARIABLE

from .support import require_service

SERVICE_FREE = {"test_docker.py"}


def pytest_configure(config: pytest.Config) -> None:
    # Parallel runs on one broker (and the service itself) never see each other.
    os.environ["CHANNEL_PREFIX"] = f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
def _broker_answers(request: pytest.FixtureRequest) -> None:
    if request.path.name in SERVICE_FREE:
        return
    url = urlsplit(os.environ.get(URL_VARIABLE) or DEFAULT_URL)
    require_service(SERVICE, url.hostname or "127.0.0.1", url.port or 0)
