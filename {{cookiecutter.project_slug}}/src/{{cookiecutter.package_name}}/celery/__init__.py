"""The celery strategy: work runs on a Celery worker, awaited without blocking the loop.

- app.py: the Celery app and the worker (`python -m {{ cookiecutter.package_name }} worker`);
- jobs.py: the tasks the worker runs;
- client.py: the awaiting client, `await client.call(...)` (publishers.py, waiters.py);
- task_api.py: `/sleep` and the task API over HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Self

from ..clients import Clients
from ..strategy import Strategy
from ..web import Routes
from .app import make_celery
from .client import TaskClient
from .settings import CelerySettings
from .task_api import SleepHandler, TaskStatusHandler, TaskSubmitHandler


class CeleryStrategy(Strategy):
    """A task client per web process: handlers `await strategy.client.call(...)`."""

    name: ClassVar[str] = "celery"

    def __init__(self, settings: CelerySettings, client: TaskClient | None = None) -> None:
        self.settings = settings
        self.client = client or TaskClient(make_celery(settings, web=True), settings)

    @classmethod
    def from_env(cls, env: Mapping[str, str], clients: Clients) -> Self:
        return cls(CelerySettings.from_env(env))

    def routes(self) -> Routes:
        context = {"client": self.client, "settings": self.settings}
        return [
            (r"/sleep", SleepHandler, context),
            (r"/tasks/([0-9a-fA-F-]{32,36})", TaskStatusHandler, context),
            (r"/tasks/([A-Za-z_][A-Za-z0-9_]*)", TaskSubmitHandler, context),
        ]

    async def start(self) -> None:
        await self.client.start()

    async def close(self) -> None:
        await self.client.close()

    async def health(self) -> dict[str, str]:
        return await self.client.health()

    def stats(self) -> dict[str, int]:
        return self.client.stats()
