"""Shared pytest configuration."""

from __future__ import annotations

import pytest
{%- if cookiecutter.async_strategy in ["celery", "async_client"] %}

# Fixtures for the live services this strategy talks to (broker, worker, upstream).
pytest_plugins = ["tests.fixtures_{{ cookiecutter.async_strategy }}"]
{%- endif %}


@pytest.fixture(autouse=True)
def _no_dotenv(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build their settings explicitly; a developer's `.env` must not leak in."""
    monkeypatch.setenv("COOKIE_SECRET", "test-secret")
