"""A JSON-RPC 2.0 service, through a small client of this project's over Tornado's AsyncHTTPClient.

It replaces the tutorial's tornadorpc, last changed in 2014: Python 2 only (it
names a function `async`, a keyword since 3.7) and built on
`tornado.web.asynchronous`, which Tornado 6 removed; and it served RPC, while
this calls it. jsonrpcclient builds and parses the messages, but leaves the
transport, the id check and the errors to its caller, which are most of this
module: a call here is one POST through Tornado's own client (rpc.py, shared
with the XML-RPC client), checked as the JSON-RPC 2.0 spec says, with no
dependency.

Only JSONRPC_URL is ever called, and method names come from code: nothing in a
request picks the host, the URL or the method (no SSRF, no open relay).
Redirects are not followed, and the answer is not decompressed (no
`Accept-Encoding` is sent: a small gzip body can unpack to gigabytes). The
monitor's probe calls `rpc.ping` (a name the spec reserves): any JSON-RPC
answer, an error included, means the service is up; anything else (a proxy's
error page, a wrong URL) means down.

Errors: refused, unresolvable or no connection within JSONRPC_CONNECT_TIMEOUT:
503, and calls fail at once until the monitor's probe answers again. No answer
within JSONRPC_TIMEOUT: 504. An error object in the answer: `JSONRPCFault`, a
502 carrying its code and message. Anything else that is not this call's
JSON-RPC 2.0 answer (not JSON, another id, a connection closed mid-answer, an
answer over JSONRPC_MAX_BYTES): 502. All JSONRPC_MAX_CLIENTS calls in flight:
a 503 (rpc.py says when, and what Tornado's client does with a call whose
client left).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from typing import Any, ClassVar

from tornado.httpclient import AsyncHTTPClient, HTTPResponse

from ..web import ApiError
from .base import BadAnswer
from .rpc import RPCClient, RPCFault, RPCSettings

Params = list[Any] | dict[str, Any]


class JSONRPCFault(RPCFault):
    """502: the service answered the call with an error object (its code and message).

    The error's `data` is not passed on: it is the service's, and may hold its internals.
    """

    kind = "error"
    code_key = "code"
    text_key = "message"

    def __init__(self, label: str, code: int, message: str) -> None:
        super().__init__(label, code, message)
        self.fault_message = message


@dataclasses.dataclass(frozen=True)
class JSONRPCSettings(RPCSettings):
    prefix: ClassVar[str] = "JSONRPC"
    url: str = "http://127.0.0.1:8080/jsonrpc"


class JSONRPCClient(RPCClient):
    """Calls methods of the JSON-RPC 2.0 endpoint at JSONRPC_URL."""

    name: ClassVar[str] = "jsonrpc"
    label: ClassVar[str] = "JSON-RPC service"
    settings_class = JSONRPCSettings
    headers: ClassVar[dict[str, str]] = {
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    # Names starting `rpc.` are reserved by the spec, so a server answers this one
    # with an error object ("method not found"), cheaply.
    probe_method = "rpc.ping"
    probe_params = None

    def __init__(self, settings: RPCSettings) -> None:
        super().__init__(settings)
        self._ids = itertools.count(1)

    async def call(self, method: str, params: Params | None = None) -> Any:
        """The result of `method` (a name from code, never from a request) called with `params`."""
        return await self._call_up(method, params)

    async def _call(self, http: AsyncHTTPClient, method: str, params: Params | None) -> Any:
        request_id = next(self._ids)
        request: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": request_id}
        if params is not None:
            request["params"] = params
        response = await self._post(http, json.dumps(request, allow_nan=False).encode())
        return self._result(response, request_id)

    def _result(self, response: HTTPResponse, request_id: int) -> Any:
        """The result in this call's answer; its error object raised as a JSONRPCFault."""
        answer = self._answer(response)
        answered_id = answer.get("id")
        # A server that could not read the request answers an error with a null id.
        if not (answered_id is None and "error" in answer) and (
            type(answered_id) is not int or answered_id != request_id
        ):
            raise BadAnswer(self.label, f"it answered id {answered_id!r} to id {request_id}")
        if "error" in answer:
            raise self._fault(answer["error"])
        return answer["result"]

    def _answer(self, response: HTTPResponse) -> dict[str, Any]:
        """The body as one JSON-RPC 2.0 response object: strict JSON, a result or an error."""
        try:
            answer = json.loads(response.body or b"", parse_constant=refuse_constant)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            raise BadAnswer(self.label, f"HTTP {response.code}, not JSON") from None
        if (
            not isinstance(answer, dict)
            or answer.get("jsonrpc") != "2.0"
            or ("result" in answer) == ("error" in answer)
        ):
            raise BadAnswer(self.label, f"HTTP {response.code}, not a JSON-RPC 2.0 answer")
        return answer

    def _fault(self, error: Any) -> ApiError:
        if not isinstance(error, dict):
            return BadAnswer(self.label, "its error is not an object")
        code, message = error.get("code"), error.get("message")
        if type(code) is not int or not isinstance(message, str):
            return BadAnswer(self.label, "its error has no integer code and string message")
        return JSONRPCFault(self.label, code, message)


def refuse_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (Python's json would accept them)."""
    raise ValueError(f"{name} is not JSON")
