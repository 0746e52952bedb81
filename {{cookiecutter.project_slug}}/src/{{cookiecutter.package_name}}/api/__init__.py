"""Your endpoints: a handler in a module of this package, its URL in `routes()`.

The app serves these beside `/health` and the strategy's own routes. A handler
gets what it waits with through its route's dict, which Tornado passes to its
`initialize`: the strategy (its pools, its task client) or a service client,
`clients.get(RedisClient)`. "Add an endpoint" in the README walks through one.
"""

from __future__ import annotations

from ..clients import Clients
from ..strategy import Strategy
from ..web import Routes
from . import about


def routes(strategy: Strategy, clients: Clients) -> Routes:
    """The URL rules of your endpoints, first match wins."""
    return [
        (r"/about", about.AboutHandler, {"strategy": strategy, "clients": clients}),
    ]
