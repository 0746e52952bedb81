"""/jobs: a work queue in Beanstalkd, an example to copy.

- `POST /jobs` with a JSON object: puts it in BEANSTALKD_TUBE; 201 `{"id": ...}`.
- `POST /jobs/reserve?timeout=S`: the next job, waiting up to S whole seconds
  (0 to 60, default 10): 200 `{"id", "body", "lease"}`, or 204 when none came.
- `DELETE /jobs/<id>`: the job is done: 204; 404 if the tube has no such job.
- `POST /jobs/<id>/release`: give a job back now, for another worker: 204 or 404.
A reserved job is leased to whoever reserved it for LEASE_SECONDS: not deleted
by then, it is handed out again, so a worker that dies loses no job. A request
that leaves while it waits gives its reservation up, and the job stays ready.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import TypeVar

from ..clients.beanstalkd import BeanstalkdClient
from ..web import ApiError, JsonHandler, Routes, parse_json

T = TypeVar("T")
MAX_WAIT_SECONDS = 60
DEFAULT_WAIT_SECONDS = 10
# How long a worker has to delete a job it reserved before it is handed out again.
LEASE_SECONDS = 60


class QueueHandler(JsonHandler):
    """What the /jobs handlers share: the client, and how long they wait for it."""

    def initialize(self, queue: BeanstalkdClient) -> None:  # type: ignore[override]
        super().initialize()
        self.queue = queue

    async def ask(self, call: Awaitable[T], wait: float = 0) -> T:
        """Await one call to Beanstalkd (a reserve: waiting up to `wait` seconds).

        The client fails first, with the answer its error means (a 504 after its
        own timeout); this bound is what lets a request whose client left cancel
        the call, which closes its connection.
        """
        return await self.wait(call, self.queue.longest(wait) + 1, self.queue.label)


class JobsHandler(QueueHandler):
    """Puts a job: waits for one round trip to Beanstalkd."""

    async def post(self) -> None:
        job = parse_json(self.request.body)  # 413 past 64 KiB, as past Beanstalkd's limit
        if not isinstance(job, dict):
            raise ApiError(400, "the body must be a JSON object: the job")
        body = json.dumps(job, ensure_ascii=False, separators=(",", ":")).encode()
        job_id = await self.ask(self.queue.put(body))
        self.write_json({"id": job_id}, status=201)


class ReserveHandler(QueueHandler):
    """Waits on Beanstalkd (not on the loop) for up to `timeout` seconds for the next job."""

    async def post(self) -> None:
        wait = self.get_wait()
        job = await self.ask(self.queue.reserve(wait, LEASE_SECONDS), wait)
        if job is None:
            self.set_status(204)
            self.finish()
            return
        try:
            body = json.loads(job.body)
        except ValueError:  # put there by something else than POST /jobs
            message = f"job {job.id} is not JSON: delete it (DELETE /jobs/{job.id})"
            raise ApiError(502, message) from None
        self.write_json({"id": job.id, "body": body, "lease": LEASE_SECONDS})

    def get_wait(self) -> int:
        raw = self.get_query_argument("timeout", str(DEFAULT_WAIT_SECONDS))
        if not raw.isdigit() or int(raw) > MAX_WAIT_SECONDS:
            raise ApiError(
                400,
                f"'timeout' must be a whole number of seconds from 0 to {MAX_WAIT_SECONDS}, "
                f"got {raw!r}",
            )
        return int(raw)


class JobHandler(QueueHandler):
    """Deletes a job of the tube: waits for two round trips to Beanstalkd."""

    async def delete(self, raw_id: str) -> None:
        job_id = int(raw_id)
        deleted = await self.ask(self.queue.delete(job_id))
        if not deleted:
            raise ApiError(404, f"no job {job_id} in the queue")
        self.set_status(204)
        self.finish()


class ReleaseHandler(QueueHandler):
    """Makes a reserved job ready again now: waits for two round trips to Beanstalkd."""

    async def post(self, raw_id: str) -> None:
        job_id = int(raw_id)
        kicked = await self.ask(self.queue.kick(job_id))
        if not kicked:
            raise ApiError(404, f"no reserved job {job_id} in the queue")
        self.set_status(204)
        self.finish()


def routes(queue: BeanstalkdClient) -> Routes:
    job = r"/jobs/([0-9]{1,19})"  # a job id: beanstalkd's are 64-bit
    return [
        (r"/jobs", JobsHandler, {"queue": queue}),
        (r"/jobs/reserve", ReserveHandler, {"queue": queue}),
        (job, JobHandler, {"queue": queue}),
        (job + "/release", ReleaseHandler, {"queue": queue}),
    ]
