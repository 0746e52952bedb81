"""HTTP: /sleep through a task, and a task API in the spirit of `python -m tcelery`."""

from __future__ import annotations

import inspect
import math
import typing
import uuid
from typing import Any

from celery import states

from ..web import ApiError, JsonHandler, parse_json
from .client import TaskClient
from .jobs import JOBS, PUBLIC, task_name
from .settings import CelerySettings
from .waiters import TaskState

MAX_BODY = 64 * 1024


def check_arguments(short: str, args: list[Any], kwargs: dict[str, Any], sleep_max: float) -> None:
    """400 unless `args` and `kwargs` fit the job's signature and annotated types.

    Checked before publishing: a job called wrongly would only fail on the
    worker. A parameter named `seconds` is bounded as `/sleep?seconds=` is.
    """
    job = JOBS[short]
    signature = inspect.signature(job)
    try:
        bound = signature.bind(None, *args, **kwargs)  # None: the job's bound task
    except TypeError as error:
        raise ApiError(400, f"wrong arguments for task {short}: {error}") from None
    hints = typing.get_type_hints(job)
    for name, value in list(bound.arguments.items())[1:]:
        expected = hints.get(name)
        if expected is float and not is_number(value):
            raise ApiError(400, f"task {short}: {name!r} must be a finite number, got {value!r}")
        if expected is str and not isinstance(value, str):
            raise ApiError(400, f"task {short}: {name!r} must be a string, got {value!r}")
        if name == "seconds" and not 0 <= value <= sleep_max:
            raise ApiError(400, f"task {short}: 'seconds' must be between 0 and {sleep_max:g}")


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class TaskHandler(JsonHandler):
    """Base for handlers that talk to Celery; the client's errors are HTTP answers."""

    def write_result(self, task: str, payload: dict[str, Any]) -> None:
        """The answer with a task's result, which JSON may not be able to carry."""
        try:
            self.write_json(payload)
        except ValueError as error:  # inf or nan: not JSON
            raise ApiError(502, f"task {task} returned what JSON cannot carry: {error}") from None

    def initialize(self, client: TaskClient, settings: CelerySettings) -> None:  # type: ignore[override]
        super().initialize()
        self.client = client
        self.celery = settings

    async def run_task(
        self, short: str, args: list[Any], kwargs: dict[str, Any], timeout: float
    ) -> Any:
        """Await task `short`'s result, for at most `timeout` seconds."""
        call = self.client.call(task_name(short), args, kwargs, timeout)
        # The handler's own limit is a backstop; call() times out first.
        return await self.wait(call, timeout + self.celery.publish_timeout + 1, "the task")


class SleepHandler(TaskHandler):
    """Waits for the `sleep` task's result from a worker, published through the broker."""

    async def get(self) -> None:
        seconds = self.get_seconds()
        timeout = seconds + self.celery.result_timeout
        slept = await self.run_task("sleep", [seconds], {}, timeout)
        self.write_json({"slept": slept, "strategy": "celery"})


class TaskSubmitHandler(TaskHandler):
    """POST /tasks/<name>: start a task; with `"wait": true`, wait for its result."""

    async def post(self, short: str) -> None:
        if short not in PUBLIC:
            known = ", ".join(sorted(PUBLIC))
            raise ApiError(404, f"no such task: {short!r} (tasks: {known})")
        args, kwargs, wait, timeout = self.parse_body()
        check_arguments(short, args, kwargs, self.application.config.sleep_max_seconds)
        if wait:
            result = await self.run_task(short, args, kwargs, timeout)
            self.write_result(short, {"state": states.SUCCESS, "result": result})
            return
        task_id = await self.client.submit(task_name(short), args, kwargs)
        self.set_header("Location", f"/tasks/{task_id}")
        self.write_json({"id": task_id, "state": states.PENDING}, status=202)

    def parse_body(self) -> tuple[list[Any], dict[str, Any], bool, float]:
        body = parse_json(self.request.body or b"{}", MAX_BODY)
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object")
        args, kwargs = body.get("args", []), body.get("kwargs", {})
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise ApiError(400, "'args' must be a JSON array and 'kwargs' a JSON object")
        timeout = body.get("timeout", self.celery.result_timeout)
        if not isinstance(timeout, int | float) or not 0 < timeout <= 3600:
            raise ApiError(400, "'timeout' must be a number of seconds in (0, 3600]")
        return args, kwargs, bool(body.get("wait", False)), float(timeout)


class TaskStatusHandler(TaskHandler):
    """GET /tasks/<id>: the task's state and result; DELETE revokes it."""

    async def get(self, task_id: str) -> None:
        self.check_id(task_id)
        state = await self.client.status(task_id)
        if state is None:
            raise ApiError(
                404,
                f"task {task_id} is unknown to this process: with the rpc:// result backend a "
                "result reaches only the process that published the task (use a redis:// "
                "result backend to look tasks up from any process)",
            )
        self.write_result(task_id, describe(state))

    async def delete(self, task_id: str) -> None:
        self.check_id(task_id)
        await self.client.revoke(task_id)
        self.write_json({"id": task_id, "state": states.REVOKED}, status=202)

    def check_id(self, task_id: str) -> None:
        try:
            uuid.UUID(task_id)
        except ValueError:
            raise ApiError(400, f"not a task id: {task_id!r}") from None


def describe(state: TaskState) -> dict[str, Any]:
    if state.error is not None:
        error = f"{type(state.error).__name__}: {state.error}"
        return {"id": state.task_id, "state": state.state, "error": error}
    if state.state == states.SUCCESS:
        return {"id": state.task_id, "state": state.state, "result": state.result}
    return {"id": state.task_id, "state": state.state}
