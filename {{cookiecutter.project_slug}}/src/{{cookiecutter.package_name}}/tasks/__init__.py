"""The celery strategy: work runs on a Celery worker, awaited without blocking the loop."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from ..settings import Settings
from .client import TaskClient
from .handlers import SleepHandler, TaskStatusHandler, TaskSubmitHandler
from .settings import CelerySettings
from .worker import make_celery

if TYPE_CHECKING:
    from ..web import Routes


class CeleryStrategy:
    name: ClassVar[str] = "celery"

    def __init__(self, settings: CelerySettings) -> None:
        self.settings = settings
        self.client = TaskClient(make_celery(settings, web=True), settings)

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


def make_strategy(config: Settings, settings: CelerySettings | None = None) -> CeleryStrategy:
    return CeleryStrategy(settings or CelerySettings.from_env())
