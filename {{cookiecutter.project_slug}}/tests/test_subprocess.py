"""The program run per request: its arguments checked, its output capped, a deadline
that kills its whole process group, the loop free meanwhile, and no zombie left."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys
import time
from typing import Any

import pytest
from tornado.httpclient import HTTPResponse
from tornado.simple_httpclient import HTTPTimeoutError
from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.app import ServiceApp, make_app
from {{ cookiecutter.package_name }}.clients.subprocess import PASSED_ON, SubprocessClient, SubprocessSettings
from {{ cookiecutter.package_name }}.settings import SettingsError

from .support import AppTestCase, body

# A program that does what its first argument says, to stand for the ones you run.
SCRIPT = """
import os, subprocess, sys, time
what = sys.argv[1]
if what == "sleep":
    time.sleep(float(sys.argv[2]))
elif what == "flood":
    sys.stdout.write("x" * 10_000_000)
elif what == "fail":
    sys.stderr.write("went wrong\\n")
    sys.exit(3)
elif what == "echo":
    sys.stdout.write(sys.stdin.read())
elif what == "env":
    print(" ".join(sorted(os.environ)), os.getcwd())
elif what == "orphan":
    subprocess.Popen(["sleep", "30"])
    time.sleep(30)
"""


def children() -> dict[int, str]:
    """This process's child processes, and the state of each ("Z": a zombie)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                state, parent = stat.read().rsplit(")", 1)[1].split()[:2]
        except OSError:
            continue
        if int(parent) == os.getpid():
            found[int(entry)] = state
    return found


def open_pipes() -> int:
    """Pipes this process has open (a run's stdin, stdout and stderr are three)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:")
        except OSError:
            continue  # closed meanwhile (the one listdir used)
    return count


def group_members(group: int) -> list[int]:
    """The processes still in process group `group`."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            members.append(int(entry))
    return members


class ProgramTestCase(AppTestCase):
    def program_env(self) -> dict[str, str]:
        """Settings of the app under test, over the environment's."""
        return {}

    def get_app(self) -> ServiceApp:
        self.app = make_app(self.settings(), env={**os.environ, **self.program_env()})
        return self.app

    @property
    def program(self) -> SubprocessClient:
        return self.app.clients.get(SubprocessClient)

    async def run_it(self, request: Any, **options: Any) -> HTTPResponse:
        return await self.get("/run", method="POST", body=json.dumps(request), **options)

    async def until_running(self) -> int:
        """The process group of the run that has started."""
        for _ in range(200):
            if self.program.running:
                return next(iter(self.program.running))
            await asyncio.sleep(0.01)
        raise AssertionError("the program never started")

    async def until_gone(self, group: int) -> None:
        for _ in range(100):
            if not group_members(group):
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"still running in group {group}: {group_members(group)}")


class DefaultProgramTest(ProgramTestCase):
    """The example as generated: `factor`, numbers as its arguments."""

    @gen_test(timeout=30)
    async def test_the_program_answers_with_its_status_and_output(self) -> None:
        response = await self.run_it({"args": ["12", "97"]})
        assert response.code == 200, response.body
        outcome = body(response)
        assert outcome["stdout"] == "12: 2 2 3\n97: 97\n"
        assert (outcome["exit_status"], outcome["signal"], outcome["stderr"]) == (0, None, "")
        assert outcome["truncated"] is False
        assert 0 < outcome["seconds"] < 5

    @gen_test(timeout=30)
    async def test_what_the_settings_refuse_is_a_400_naming_the_setting(self) -> None:
        cases = [
            ({"args": ["-h"]}, "argument '-h' does not match [0-9]{1,30} (SUBPROCESS_ARGUMENT"),
            ({"args": ["../.env"]}, "argument '../.env' does not match"),
            ({"args": "12"}, "'args' must be a list of strings"),
            ({"args": [12]}, "'args' must be a list of strings"),
            ({"args": ["1"] * 17}, "at most 16 arguments (SUBPROCESS_MAX_ARGUMENTS)"),
            ({"input": 5}, "'input' must be a string"),
            ([1, 2], "the body must be a JSON object"),
        ]
        for request, message in cases:
            response = await self.run_it(request)
            assert response.code == 400, request
            assert body(response)["error"].startswith(message), body(response)
        assert not self.program.running

    @gen_test(timeout=30)
    async def test_health_says_whether_the_program_can_be_run(self) -> None:
        health = body(await self.get("/health"))
        assert health["checks"]["subprocess"] == "up"


class MissingProgramTest(ProgramTestCase):
    def program_env(self) -> dict[str, str]:
        return {"SUBPROCESS_COMMAND": "no-such-program-here --flag"}

    @gen_test(timeout=30)
    async def test_a_program_that_cannot_be_run_is_a_503_and_health_says_so(self) -> None:
        response = await self.run_it({"args": ["12"]})
        assert response.code == 503
        assert body(response)["error"] == (
            "The program unavailable: no-such-program-here is not an executable program"
            " (SUBPROCESS_COMMAND)"
        )
        health = await self.get("/health")
        assert (health.code, body(health)["checks"]["subprocess"]) == (503, "down")


class ScriptTest(ProgramTestCase):
    def program_env(self) -> dict[str, str]:
        return {
            "SUBPROCESS_COMMAND": f"{shlex.quote(sys.executable)} -c {shlex.quote(SCRIPT)}",
            "SUBPROCESS_ARGUMENT_PATTERN": "[a-z0-9.]{1,20}",
            "SUBPROCESS_TIMEOUT": "2",
            "SUBPROCESS_MAX_OUTPUT": "1000",
            "SUBPROCESS_MAX_RUNNING": "20",
            "COOKIE_SECRET": "not-for-the-program",
        }

    @gen_test(timeout=30)
    async def test_a_failing_program_is_an_answer_with_its_status(self) -> None:
        outcome = body(await self.run_it({"args": ["fail"]}))
        assert (outcome["exit_status"], outcome["stderr"]) == (3, "went wrong\n")

    @gen_test(timeout=30)
    async def test_the_input_is_its_stdin(self) -> None:
        outcome = body(await self.run_it({"args": ["echo"], "input": "hello\nworld"}))
        assert outcome["stdout"] == "hello\nworld"

    @gen_test(timeout=30)
    async def test_it_runs_without_the_services_secrets_away_from_its_files(self) -> None:
        outcome = body(await self.run_it({"args": ["env"]}))
        names, workdir = outcome["stdout"].rsplit(" ", 1)
        assert set(names.split()) <= set(PASSED_ON)
        assert workdir.strip() != os.getcwd()

    @gen_test(timeout=30)
    async def test_output_past_the_limit_is_cut_and_the_program_stopped(self) -> None:
        outcome = body(await self.run_it({"args": ["flood"]}))
        assert outcome["truncated"] is True
        assert outcome["stdout"] == "x" * 1000
        assert (outcome["exit_status"], outcome["signal"]) == (None, "SIGKILL")

    @gen_test(timeout=30)
    async def test_a_run_past_the_deadline_is_killed_with_its_whole_group(self) -> None:
        running = asyncio.ensure_future(self.run_it({"args": ["orphan"]}))
        group = await self.until_running()
        await asyncio.sleep(0.5)  # its child, `sleep 30`, has started meanwhile
        response = await running
        assert response.code == 504
        assert body(response)["error"] == "The program did not answer within 2 s"
        await self.until_gone(group)  # the child it left behind too

    @gen_test(timeout=30)
    async def test_a_client_that_leaves_stops_its_run(self) -> None:
        request = {"args": ["sleep", "10"]}
        leaving = asyncio.ensure_future(self.run_it(request, request_timeout=0.5))
        group = await self.until_running()
        with pytest.raises(HTTPTimeoutError):
            await leaving
        await self.until_gone(group)
        assert not self.program.running

    @gen_test(timeout=30)
    async def test_ten_slow_runs_take_about_one_and_the_loop_stays_free(self) -> None:
        runs = asyncio.gather(*(self.run_it({"args": ["sleep", "0.5"]}) for _ in range(10)))
        await self.until_running()
        started = time.monotonic()
        health = await self.get("/health")
        health_took = time.monotonic() - started
        begun = time.monotonic()
        responses = await runs
        assert [response.code for response in responses] == [200] * 10
        assert health.code == 200
        assert health_took < 2, f"/health took {health_took:.2f} s during the runs"
        assert time.monotonic() - begun < 3  # one after the other: 5 s

    @gen_test(timeout=60)
    async def test_no_zombie_no_child_and_no_pipe_is_left(self) -> None:
        before, pipes = children(), open_pipes()
        requests: list[dict[str, Any]] = [{"args": ["sleep", "0.1"]}, {"args": ["fail"]}]
        requests += [{"args": ["flood"]}, {"args": ["echo"], "input": "x"}, {"args": ["orphan"]}]
        await asyncio.gather(*(self.run_it(request) for request in requests * 4))
        for _ in range(100):
            left = {pid: state for pid, state in children().items() if pid not in before}
            if not left:
                break
            await asyncio.sleep(0.05)
        assert left == {}  # neither a zombie ("Z") nor a process still running
        assert open_pipes() == pipes  # cut short or not, every run's pipes are closed


class BusyTest(ProgramTestCase):
    def program_env(self) -> dict[str, str]:
        return {
            "SUBPROCESS_COMMAND": f"{shlex.quote(sys.executable)} -c {shlex.quote(SCRIPT)}",
            "SUBPROCESS_ARGUMENT_PATTERN": "[a-z0-9.]{1,20}",
            "SUBPROCESS_MAX_RUNNING": "1",
            "SUBPROCESS_TIMEOUT": "1",
        }

    @gen_test(timeout=30)
    async def test_past_the_slots_a_run_waits_then_gets_a_503_naming_the_setting(self) -> None:
        await self.program.slots.acquire()  # the one slot, held as by a run that lasts
        try:
            started = time.monotonic()
            refused = await self.run_it({"args": ["sleep", "0"]})
            assert refused.code == 503
            assert body(refused)["error"] == (
                "The program unavailable: all 1 runs are busy (SUBPROCESS_MAX_RUNNING)"
            )
            assert 1 <= time.monotonic() - started < 5  # it waited out SUBPROCESS_TIMEOUT
        finally:
            self.program.slots.release()
        assert (await self.run_it({"args": ["sleep", "0"]})).code == 200


def test_settings_are_checked_at_start() -> None:
    with pytest.raises(SettingsError, match="SUBPROCESS_ARGUMENT_PATTERN is not a regex"):
        SubprocessSettings.from_env({"SUBPROCESS_ARGUMENT_PATTERN": "[unclosed"})
    with pytest.raises(SettingsError, match="SUBPROCESS_TIMEOUT must be between"):
        SubprocessSettings.from_env({"SUBPROCESS_TIMEOUT": "0"})
    quoted = SubprocessSettings.from_env({"SUBPROCESS_COMMAND": "convert 'a b' -resize"})
    assert quoted.command == ("convert", "a b", "-resize")
