"""GET /about: what runs here. The smallest endpoint: it waits for nothing."""

from __future__ import annotations

from .. import __version__
from ..clients import Clients
from ..strategy import Strategy
from ..web import JsonHandler

NAME = "{{ cookiecutter.project_slug }}"


class AboutHandler(JsonHandler):
    """Answers at once: the service's name, version, strategy and services."""

    def initialize(self, strategy: Strategy, clients: Clients) -> None:  # type: ignore[override]
        super().initialize()
        self.strategy = strategy
        self.clients = clients

    def get(self) -> None:
        self.write_json(
            {
                "name": NAME,
                "version": __version__,
                "strategy": self.strategy.name,
                "services": [client.name for client in self.clients],
            }
        )
