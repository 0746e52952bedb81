{%- set services = cookiecutter.__services.split(",") -%}
{%- set postgresql, mysql = "postgresql" in services, "mysql" in services -%}
{%- set examples = [] -%}
{%- for name in services if name -%}
{%- import "services/" ~ name ~ ".jinja" as service -%}
{%- if service.example is defined %}{% set _ = examples.append((name, service.example, service.client_class)) %}{% endif -%}
{%- endfor -%}
{%- set modules = ["about"] + (examples | map(attribute=1) | list) + (["items"] if postgresql or mysql else []) -%}
{%- set client_imports = [] -%}
{%- for name, module, client_class in examples %}{% set _ = client_imports.append((name, client_class)) %}{% endfor -%}
{%- if mysql %}{% set _ = client_imports.append(("mysql", "MySQLClient")) %}{% endif -%}
{%- if postgresql %}{% set _ = client_imports.append(("postgresql", "PostgreSQLClient")) %}{% endif -%}
{%- set import_line = "from . import " ~ (modules | sort | join(", ")) -%}
"""Your endpoints: a handler in a module of this package, its URL in `routes()`.

The app serves these beside `/health` and the strategy's own routes. A handler
gets what it waits with through its route's dict, which Tornado passes to its
`initialize`: the strategy (its pools, its task client) or a service client,
`clients.get(RedisClient)`. "Add an endpoint" in the README walks through one.
"""

from __future__ import annotations

from ..clients import Clients
{%- for name, client_class in client_imports | sort %}
from ..clients.{{ name }} import {{ client_class }}
{%- endfor %}
from ..strategy import Strategy
from ..web import Routes
{%- if import_line | length <= 100 %}
{{ import_line }}
{%- else %}
from . import (
{%- for module in modules | sort %}
    {{ module }},
{%- endfor %}
)
{%- endif %}
{%- if mysql %}
from .items_mysql import MySQLItems
{%- endif %}
{%- if postgresql %}
from .items_postgresql import PostgreSQLItems
{%- endif %}


def routes(strategy: Strategy, clients: Clients) -> Routes:
    """The URL rules of your endpoints, first match wins."""
    return [
        (r"/about", about.AboutHandler, {"strategy": strategy, "clients": clients}),
{%- if postgresql %}
        *items.routes(
            r"{{ "/postgresql/items" if mysql else "/items" }}",
            PostgreSQLItems(clients.get(PostgreSQLClient)),
        ),
{%- endif %}
{%- if mysql %}
        *items.routes(r"{{ "/mysql/items" if postgresql else "/items" }}", MySQLItems(clients.get(MySQLClient))),
{%- endif %}
{%- for name, module, client_class in examples %}
        *{{ module }}.routes(clients.get({{ client_class }})),
{%- endfor %}
    ]
