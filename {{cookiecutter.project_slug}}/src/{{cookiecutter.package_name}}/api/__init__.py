{%- set services = cookiecutter.__services.split(",") -%}
{%- set postgresql, mysql = "postgresql" in services, "mysql" in services -%}
"""Your endpoints: a handler in a module of this package, its URL in `routes()`.

The app serves these beside `/health` and the strategy's own routes. A handler
gets what it waits with through its route's dict, which Tornado passes to its
`initialize`: the strategy (its pools, its task client) or a service client,
`clients.get(RedisClient)`. "Add an endpoint" in the README walks through one.
"""

from __future__ import annotations

from ..clients import Clients
{%- if "memcached" in services %}
from ..clients.memcached import MemcachedClient
{%- endif %}
{%- if mysql %}
from ..clients.mysql import MySQLClient
{%- endif %}
{%- if postgresql %}
from ..clients.postgresql import PostgreSQLClient
{%- endif %}
from ..strategy import Strategy
from ..web import Routes
from . import about
{%- if "memcached" in services %}, cache{% endif %}
{%- if postgresql or mysql %}, items{% endif %}
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
{%- if "memcached" in services %}
        (r"/squares/([0-9]{1,7})", cache.SquareHandler, {"cache": clients.get(MemcachedClient)}),
{%- endif %}
    ]
