{%- set services = cookiecutter.__services.split(",") -%}
{%- set databases = services | select("in", ["mysql", "postgresql"]) | list -%}
"""The /items example against each real database (the contract in sql_contract.py)."""

from __future__ import annotations

import asyncio
import os

import pytest

from {{ cookiecutter.package_name }}.clients import make_clients
{%- for name in databases %}
{%- import "services/" ~ name ~ ".jinja" as service %}
from {{ cookiecutter.package_name }}.clients.{{ name }} import {{ service.client_class }}
{%- endfor %}
from {{ cookiecutter.package_name }}.migrations import Migratable, migrate_all

from . import sql_contract
from .support import require_client


@pytest.fixture(scope="module", autouse=True)
def _migrated() -> None:
    """The `items` table, made once for this module by the project's own migrations."""
    for client in make_clients(os.environ):
        if isinstance(client, Migratable):
            require_client(client)
    asyncio.run(migrate_all(os.environ))
{%- for name in databases %}
{%- import "services/" ~ name ~ ".jinja" as service %}


class {{ service.label }}ItemsTest(sql_contract.ItemsContract):
    path = "{{ "/" ~ name ~ "/items" if databases | length > 1 else "/items" }}"
    client_class = {{ service.client_class }}


class {{ service.label }}DownTest(sql_contract.DatabaseDownContract):
    path = "{{ "/" ~ name ~ "/items" if databases | length > 1 else "/items" }}"
    client_class = {{ service.client_class }}
    url_variable = "{{ name | upper }}_URL"
{%- endfor %}
