{%- set services = cookiecutter.__services.split(",") if cookiecutter.__services else [] -%}
{%- set channels = "redis" in services or "rabbitmq" in services -%}
{%- set plugins = ["tests.fixtures_celery"] if cookiecutter.async_strategy == "celery" else [] -%}
{%- for name in services -%}
{%- import "services/" ~ name ~ ".jinja" as service with context -%}
{%- if service.has_fixtures is defined %}{% set _ = plugins.append("tests.fixtures_" ~ name) %}{% endif -%}
{%- endfor -%}
"""Shared pytest configuration: a clean environment, and the services the tests need."""

from __future__ import annotations

import os
{%- if channels %}
import uuid
{%- endif %}

import pytest

from {{ cookiecutter.package_name }}.clients import make_clients

from .support import require_client

{%- if plugins %}

# Live services some tests talk to, started by these fixtures.
pytest_plugins = [
{%- for plugin in plugins %}
    "{{ plugin }}",
{%- endfor %}
]
{%- endif %}

# Tests that need none of the services: they run whatever is down.
SERVICE_FREE = {"test_docker.py"}
{%- if channels %}


def pytest_configure(config: pytest.Config) -> None:
    # Parallel runs on one broker (and the service itself) never see each other.
    os.environ["CHANNEL_PREFIX"] = f"test-{uuid.uuid4().hex[:10]}"
{%- endif %}


@pytest.fixture(autouse=True)
def _no_dotenv(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build their settings explicitly; a developer's `.env` must not leak in."""
    monkeypatch.setenv("COOKIE_SECRET", "test-secret")


@pytest.fixture(autouse=True)
def _services_answer(request: pytest.FixtureRequest) -> None:
    """Every service the app talks to must answer: skipped outside CI, failed in CI."""
    if request.path.name in SERVICE_FREE:
        return
    for client in make_clients(os.environ):
        require_client(client)
