"""Fixtures for the template's own tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

TEMPLATE = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def template_dir() -> Path:
    return TEMPLATE


def cookiecutter_json() -> dict[str, Any]:
    return json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))
