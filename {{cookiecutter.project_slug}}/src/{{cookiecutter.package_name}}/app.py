{%- set channels = cookiecutter.__channels -%}
{%- set pushing = cookiecutter.push != "none" -%}
{%- if pushing %}{% import "push/" ~ cookiecutter.push ~ ".jinja" as push with context %}{% endif -%}
"""The application factory: /health, the strategy's routes, its features' and yours (api/)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from . import api, {{ cookiecutter.async_strategy }}
from .clients import Clients, make_clients
{%- if channels %}
from .long_poll import LongPoll
{%- endif %}
{%- if pushing %}
from .push import PushSettings
from .push.{{ push.module }} import {{ push.feature_class }}
{%- endif %}
from .settings import Settings
from .strategy import Feature, Strategy
from .telemetry.metrics import Metrics, MetricsHandler
from .web import BaseApp, JsonHandler, Routes


class ServiceApp(BaseApp):
    """The app with its strategy, features and service clients, opened and closed together."""

    def __init__(
        self,
        config: Settings,
        strategy: Strategy,
        clients: Clients,
        features: Sequence[Feature] = (),
    ) -> None:
        self.strategy = strategy
        self.clients = clients
        self.features = [strategy, *features]
        routes: Routes = [(r"/health", HealthHandler)]
        for feature in self.features:
            routes += feature.routes()
        routes += api.routes(strategy, clients)
        metrics = Metrics(__package__, self.stats, self.in_flight) if config.metrics else None
        if metrics is not None and not config.metrics_port:  # else served on its own port
            routes.append((r"/metrics", MetricsHandler, {"metrics": metrics}))
        super().__init__(config, routes)
        self.metrics = metrics

    async def start(self) -> None:
        await self.clients.start()  # first: the features may use them
        for feature in self.features:
            await feature.start()

    async def close(self) -> None:
        for feature in reversed(self.features):
            await feature.close()
        await self.clients.close()

    async def health(self) -> dict[str, str]:
        checks = self.clients.health()
        for feature in self.features:
            checks.update(await feature.health())
        return checks

    def in_flight(self) -> int:
        return len(self.active)

    def stats(self) -> dict[str, int]:
        """The figures `/health` shows and `/metrics` exports (see Feature.stats)."""
        counts = self.clients.stats()
        for feature in self.features:
            counts.update(feature.stats())
        return counts

    def closing(self) -> None:
        """Shutdown has begun: each feature ends what would not end by itself."""
        for feature in self.features:
            feature.closing()


class HealthHandler(JsonHandler):
    """Answers at once: liveness, plus each service's and the strategy's checks."""

    application: ServiceApp

    async def get(self) -> None:
        checks = await self.application.health()
        # "unknown": not checked yet, just after start; "down" makes the answer a 503.
        healthy = all(state != "down" for state in checks.values())
        self.write_json(
            {
                "status": "ok" if healthy else "degraded",
                "strategy": self.application.strategy.name,
                "in_flight": self.application.in_flight() - 1,  # not this one
                "pid": os.getpid(),
                **self.application.stats(),
                "checks": checks,
            },
            status=200 if healthy else 503,
        )


def features(config: Settings, env: Mapping[str, str], clients: Clients) -> list[Feature]:
    """What this project serves besides its strategy and your endpoints."""
{%- if pushing %}
    long_poll = LongPoll.from_env(env, clients)
    settings = PushSettings.from_env(env, config.processes)
    return [long_poll, {{ push.feature_class }}(settings, long_poll.channels)]
{%- elif channels %}
    return [LongPoll.from_env(env, clients)]
{%- else %}
    return []
{%- endif %}


def make_app(
    config: Settings,
    strategy: Strategy | None = None,
    clients: Clients | None = None,
    env: Mapping[str, str] | None = None,
) -> ServiceApp:
    """Build the app; by default with the strategy and services this project was made with."""
    env = os.environ if env is None else env
    clients = make_clients(env) if clients is None else clients
    strategy = strategy or {{ cookiecutter.async_strategy }}.{{ cookiecutter.__strategy_class }}.from_env(env, clients)
    return ServiceApp(config, strategy, clients, features(config, env, clients))
