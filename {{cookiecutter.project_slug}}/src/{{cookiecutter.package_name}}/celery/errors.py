"""How awaiting a task can go wrong, each with the HTTP answer a client gets."""

from __future__ import annotations

from ..web import ApiError


class BrokerUnavailable(ApiError):
    """The broker (or result backend) could not take or give a message: 503."""

    def __init__(self, reason: str) -> None:
        super().__init__(503, f"broker unavailable: {reason}", {"Retry-After": "5"})


class Overloaded(ApiError):
    """This process already waits for its maximum number of tasks: 503, retry soon."""

    def __init__(self, in_flight: int) -> None:
        reason = f"{in_flight} tasks already in flight in this process"
        super().__init__(503, f"too busy: {reason}", {"Retry-After": "1"})


class PublishersBusy(ApiError):
    """Every broker connection of this process is busy publishing: 503, retry soon."""

    def __init__(self, waited: float) -> None:
        reason = f"no broker connection free within {waited:g} s (CELERY_PUBLISH_CONNECTIONS)"
        super().__init__(503, f"too busy: {reason}", {"Retry-After": "1"})


class QueueFull(ApiError):
    """More tasks wait in the queue than CELERY_MAX_QUEUED: 503, retry later."""

    def __init__(self, queued: int) -> None:
        reason = f"{queued} tasks already wait in the queue (CELERY_MAX_QUEUED)"
        super().__init__(503, f"too busy: {reason}", {"Retry-After": "5"})


class TaskTimeout(ApiError):
    """The task did not finish in time; it was revoked: 504."""

    def __init__(self, task_id: str, timeout: float) -> None:
        message = f"task {task_id} did not finish within {timeout:g} s; it was revoked"
        super().__init__(504, message, task_id=task_id)


class TaskFailed(ApiError):
    """The task raised (or was revoked): 500 with the exception's type and message."""

    def __init__(self, short_name: str, task_id: str, error: BaseException) -> None:
        super().__init__(
            500,
            f"task {short_name} failed: {type(error).__name__}: {error}",
            task_id=task_id,
            exception=type(error).__name__,
        )
        self.error = error
