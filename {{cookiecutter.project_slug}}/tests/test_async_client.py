"""What only the async_client strategy does: the service itself times /sleep."""

from __future__ import annotations

import time

import pytest
from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.async_client import SLEEPERS, AsyncClientStrategy, pick_sleeper
from {{ cookiecutter.package_name }}.clients import Client, Clients

from .support import AppTestCase


class ServiceSleepTest(AppTestCase):
    @gen_test(timeout=30)
    async def test_the_service_times_the_sleep(self) -> None:
        started = time.monotonic()
        response = await self.get("/sleep?seconds=0.3")
        assert response.code == 200
        assert 0.3 <= time.monotonic() - started < 2

    def test_sleep_waits_on_the_first_service_it_can(self) -> None:
        strategy = self.app.strategy
        assert isinstance(strategy, AsyncClientStrategy)
        present = {client.name for client in self.app.clients}
        first = next(name for name in SLEEPERS if name in present)
        assert isinstance(strategy.sleeper, Client)
        assert strategy.sleeper.name == first


def test_a_project_with_nothing_to_wait_on_is_refused_clearly() -> None:
    with pytest.raises(LookupError, match="the async_client strategy needs one of these"):
        pick_sleeper(Clients([]))
