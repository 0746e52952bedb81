"""Shared pytest configuration."""

from __future__ import annotations

import pytest
{%- if cookiecutter.async_strategy == "celery" %}

# Fixtures for the live services this strategy talks to (the broker, a worker).
pytest_plugins = ["tests.fixtures_celery"]
{%- elif cookiecutter.async_strategy == "async_client" %}

# Fixtures for the live service this strategy talks to.
pytest_plugins = ["tests.fixtures_{{ "upstream" if cookiecutter.__broker == "none" else "channels" }}"]
{%- endif %}


@pytest.fixture(autouse=True)
def _no_dotenv(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build their settings explicitly; a developer's `.env` must not leak in."""
    monkeypatch.setenv("COOKIE_SECRET", "test-secret")
