"""POST /run: the program in SUBPROCESS_COMMAND, with the arguments and input of the request.

The body is `{"args": ["12", "97"], "input": "..."}`, both optional. The answer
is the program's exit status and what it printed, whatever the status: a program
that fails is an answer too. Its arguments are checked first (400); a run past
SUBPROCESS_TIMEOUT is killed, with its whole process group (504).
"""

from __future__ import annotations

import dataclasses

from ..clients.subprocess import SubprocessClient
from ..web import ApiError, JsonHandler, Routes, parse_json

# How long past SUBPROCESS_TIMEOUT the handler waits before answering 504 itself.
MARGIN = 1.0


class RunHandler(JsonHandler):
    """Waits for the program to exit; the loop serves every other request meanwhile."""

    def initialize(self, program: SubprocessClient) -> None:  # type: ignore[override]
        super().initialize()
        self.program = program

    async def post(self) -> None:
        room = self.program.settings.max_input + 4096  # the input, and the JSON around it
        request = parse_json(self.request.body, room) if self.request.body else {}
        if not isinstance(request, dict):
            raise ApiError(400, 'the body must be a JSON object: {"args": [...], "input": "..."}')
        arguments = self.program.arguments(request.get("args", []))
        given = request.get("input", "")
        if not isinstance(given, str):
            raise ApiError(400, "'input' must be a string")
        timeout = self.program.settings.timeout + MARGIN
        outcome = await self.wait(self.program.run(arguments, given.encode()), timeout, "the run")
        self.write_json(dataclasses.asdict(outcome))


def routes(program: SubprocessClient) -> Routes:
    return [(r"/run", RunHandler, {"program": program})]
