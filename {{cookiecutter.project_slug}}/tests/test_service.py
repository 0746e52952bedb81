"""The service as users run it: settings, the command line, a real server process."""

from __future__ import annotations

import importlib
import logging
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.app import ServiceApp
from {{ cookiecutter.package_name }}.settings import Settings, SettingsError, load_dotenv
from {{ cookiecutter.package_name }}.web import ApiError, JsonHandler

from .support import PACKAGE, AppTestCase, Server, cli, get_json


def test_settings_defaults_and_overrides() -> None:
    assert Settings.from_env({}) == Settings()
    config = Settings.from_env({"PORT": "9000", "PROCESSES": "2", "DEBUG": "yes"})
    assert (config.port, config.processes, config.debug) == (9000, 2, True)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "abc"}, "PORT must be a number, got 'abc'"),
        ({"PORT": "70000"}, "PORT must be between 0 and 65535, got '70000'"),
        ({"PROCESSES": "0"}, "PROCESSES must be between 1 and 256, got '0'"),
        ({"DEBUG": "maybe"}, "DEBUG must be true or false, got 'maybe'"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got 'LOUD'"),
        ({"PORT": "0", "PROCESSES": "2"}, "PORT=0 (any free port) cannot be shared"),
    ],
)
def test_bad_settings_say_which_variable_and_why(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env(env)
    assert str(error.value).startswith(message)


def test_every_name_a_module_exports_exists() -> None:
    """`from <package>.web import *` works: __all__ lists only what the module defines."""
    for module in ("web", "clients"):
        namespace: dict[str, object] = {}
        exec(f"from {PACKAGE}.{module} import *", namespace)
        assert set(importlib.import_module(f"{PACKAGE}.{module}").__all__) <= set(namespace)


def test_dotenv_fills_in_but_never_overrides(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("# comment\nPORT=9001\nADDRESS='0.0.0.0'\n\nBROKEN LINE\n")
    env = {"PORT": "8000"}
    load_dotenv(dotenv, env)
    assert env == {"PORT": "8000", "ADDRESS": "0.0.0.0"}


def test_cli_help_and_version() -> None:
    done = cli("--help")
    assert done.returncode == 0
    assert "serve" in done.stdout
{%- if cookiecutter.async_strategy == "celery" %}
    assert "worker" in done.stdout
{%- endif %}
    done = cli("--version")
    assert done.returncode == 0
    assert done.stdout.strip().endswith("0.1.0")


def test_cli_refuses_an_unknown_option() -> None:
    done = cli("serve", "--no-such-option")
    assert done.returncode == 2
    assert "unrecognized arguments: --no-such-option" in done.stderr


def test_cli_refuses_a_bad_setting_with_one_line() -> None:
    done = cli("serve", env={"PORT": "abc"})
    assert done.returncode == 2
    assert done.stderr == "error: PORT must be a number, got 'abc'\n"


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.output()


def test_sigterm_lets_the_request_in_flight_finish(server: Server) -> None:
    with ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(get_json, server.url + "/sleep?seconds=1")
        time.sleep(0.3)
        started = time.monotonic()
        assert server.stop() == 0
        assert in_flight.result(timeout=10) == (
            200,
            {"slept": 1.0, "strategy": "{{ cookiecutter.async_strategy }}"},
        )
        assert time.monotonic() - started < 5
    with pytest.raises(OSError, match="refused"):
        get_json(server.url + "/health")


def test_two_processes_share_the_port_and_stop_together() -> None:
    server = Server("--processes", "2")
    try:
        pids: set[object] = set()
        deadline = time.monotonic() + 20
        while len(pids) < 2 and time.monotonic() < deadline:
            _, health = get_json(server.url + "/health")  # a new connection each time
            pids.add(health["pid"])
        assert len(pids) == 2, "SO_REUSEPORT should spread connections over both processes"
        assert server.process.pid not in pids  # the supervisor only supervises
        assert server.stop() == 0
        for pid in pids:
            with pytest.raises(ProcessLookupError):
                os.kill(int(str(pid)), 0)
    finally:
        server.output()


def test_uvloop_is_an_opt_in() -> None:
    pytest.importorskip("uvloop", reason="uvloop is an optional extra: pip install '.[uvloop]'")
    server = Server(env={"USE_UVLOOP": "true", "LOG_LEVEL": "DEBUG"})
    try:
        assert get_json(server.url + "/health")[0] == 200
        assert server.stop() == 0
    finally:
        output = server.output()
    assert "uvloop loop)" in output


def test_a_port_in_use_is_reported_clearly(server: Server) -> None:
    done = cli("serve", "--port", str(server.port))
    assert done.returncode != 0
    assert "Address already in use" in done.stderr


class OneLinePerAnswerTest(AppTestCase):
    """An error we answer on purpose is one WARNING with its message; a bug adds its traceback."""

    def get_app(self) -> ServiceApp:
        app = super().get_app()
        app.add_handlers(r".*", [(r"/refused", Refused), (r"/broken", Broken)])
        return app

    @gen_test(timeout=30)
    async def test_a_503_is_one_warning_with_its_message(self) -> None:
        with self.assertLogs(level="DEBUG") as logs:
            response = await self.get("/refused")
        assert response.code == 503
        assert [r.levelname for r in logs.records if r.levelno >= logging.WARNING] == ["WARNING"]
        assert logs.records[-1].getMessage().endswith(": the store is closed")

    @gen_test(timeout=30)
    async def test_a_bug_is_its_traceback_and_one_warning(self) -> None:
        with self.assertLogs(level="DEBUG") as logs:
            response = await self.get("/broken")
        assert response.code == 500
        levels = [r.levelname for r in logs.records if r.levelno >= logging.WARNING]
        assert levels == ["ERROR", "WARNING"]
        assert logs.records[0].exc_info is not None


class Refused(JsonHandler):
    def get(self) -> None:
        raise ApiError(503, "the store is closed")


class Broken(JsonHandler):
    def get(self) -> None:
        raise RuntimeError("a bug")
