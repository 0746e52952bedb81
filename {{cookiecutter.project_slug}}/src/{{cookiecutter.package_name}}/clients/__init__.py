{%- set services = cookiecutter.__services.split(",") if cookiecutter.__services else [] -%}
"""The services this app talks to: one client each, opened and closed with the app.

Each module here wraps one maintained asyncio client, configured by one
`<NAME>_URL` variable; `/health` reports each by name. A handler gets its client
from its routes: `app.clients.get(RedisClient)` (see api.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from .base import BadAnswer, Client, Clients, ServiceTimeout, ServiceUnavailable
{%- for name in services %}
{%- import "services/" ~ name ~ ".jinja" as service %}
from .{{ name }} import {{ service.client_class }}
{%- endfor %}

__all__ = [
    "BadAnswer",
    "Client",
    "Clients",
    "ServiceTimeout",
    "ServiceUnavailable",
    "make_clients",
]


def make_clients(env: Mapping[str, str]) -> Clients:
    """One client per service this project was generated with, from its settings."""
{%- if services %}
    return Clients(
        [
{%- for name in services %}
{%- import "services/" ~ name ~ ".jinja" as service %}
            {{ service.client_class }}.from_env(env),
{%- endfor %}
        ]
    )
{%- else %}
    return Clients([])
{%- endif %}
