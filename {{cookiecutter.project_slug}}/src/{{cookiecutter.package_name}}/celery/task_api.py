"""HTTP: /sleep through a task, and a task API in the spirit of `python -m tcelery`."""

from __future__ import annotations

import json
import uuid
from typing import Any

from celery import states

from ..web import ApiError, JsonHandler
from .client import TaskClient
from .jobs import PUBLIC_TASKS, task_name
from .settings import CelerySettings
from .waiters import TaskState

MAX_BODY = 64 * 1024


class TaskHandler(JsonHandler):
    """Base for handlers that talk to Celery; the client's errors are HTTP answers."""

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
        if short not in PUBLIC_TASKS:
            known = ", ".join(sorted(PUBLIC_TASKS))
            raise ApiError(404, f"no such task: {short!r} (tasks: {known})")
        args, kwargs, wait, timeout = self.parse_body()
        if wait:
            result = await self.run_task(short, args, kwargs, timeout)
            self.write_json({"state": states.SUCCESS, "result": result})
            return
        task_id = await self.client.submit(task_name(short), args, kwargs)
        self.set_header("Location", f"/tasks/{task_id}")
        self.write_json({"id": task_id, "state": states.PENDING}, status=202)

    def parse_body(self) -> tuple[list[Any], dict[str, Any], bool, float]:
        if len(self.request.body) > MAX_BODY:
            raise ApiError(413, f"the body is over {MAX_BODY // 1024} KiB")
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError as error:
            raise ApiError(400, f"the body is not valid JSON: {error}") from None
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
        self.write_json(describe(state))

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
