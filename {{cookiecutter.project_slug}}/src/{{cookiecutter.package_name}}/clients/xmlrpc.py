"""An XML-RPC service, through the stdlib's xmlrpc.client messages over Tornado's AsyncHTTPClient.

It replaces the tutorial's tornadorpc, last changed in 2014: Python 2 only (it
names a function `async`, a keyword since 3.7) and built on
`tornado.web.asynchronous`, which Tornado 6 removed; and it served RPC, while
this calls it. The stdlib's `ServerProxy` would block the IOLoop (it talks
through http.client), but its `dumps` and `loads` only write and read the
messages: a call here is one POST of theirs through Tornado's own client (rpc.py,
shared with the JSON-RPC client), with this project's timeouts and errors, and
no dependency.

Only XMLRPC_URL is ever called, and method names come from code: nothing in a
request picks the host, the URL or the method (no SSRF, no open relay).
Redirects are not followed. The monitor's probe calls `system.listMethods`: its
list, or a fault (a server without introspection), means the service is up;
anything that is not XML-RPC (a proxy's error page, a wrong URL) means down.

Errors: refused, unresolvable or no connection within XMLRPC_CONNECT_TIMEOUT:
503, and calls fail at once until the probe answers again. No answer within
XMLRPC_TIMEOUT: 504. A fault: `XMLRPCFault`, a 502 carrying its faultCode and
faultString. Anything else that is not one XML-RPC value (another HTTP status
than 200, not XML, a connection closed mid-answer, an answer over
XMLRPC_MAX_BYTES): 502. All XMLRPC_MAX_CLIENTS calls in flight: a 503 (rpc.py
says when, and what Tornado's client does with a call whose client left).

The answer is XML, parsed by `xmlrpc.client.loads` on expat. What protects it:
expat 2.4.0 and newer stops the "billion laughs" and the quadratic blowup (it
refuses entities that expand a document past 100 times its size, once past 8
MiB), and 2.6.0 and newer bounds the cost of huge tokens: `pyexpat.EXPAT_VERSION`
says which one Python uses (a system library may be older). Expat never fetches
an external entity or DTD. defusedxml's view is that the stdlib's xmlrpc is not
safe with untrusted XML: its table marks it open to billion laughs, quadratic
blowup and gzip bombs, and its remedy, `defusedxml.xmlrpc.monkey_patch()`,
patches the stdlib for the whole process (no entity declarations, 30 MB caps).
This module takes the parts a client needs instead: an answer over
XMLRPC_MAX_BYTES is refused before it is parsed, and none is decompressed (no
`Accept-Encoding` is sent). Not protected: the entity attacks with an expat
older than 2.4.0; an answer within the cap costs several times its size in
memory; and what an answer holds is the service's choice: check the types of
a result before using it.
"""

from __future__ import annotations

import dataclasses
import xmlrpc.client
from typing import Any, ClassVar
from xml.parsers.expat import ExpatError

from tornado.httpclient import AsyncHTTPClient, HTTPResponse

from ..web import ApiError
from .base import BadAnswer
from .rpc import RPCClient, RPCFault, RPCSettings

# What loads() raises on what is not an XML-RPC answer, the Fault aside.
UNREADABLE = (ExpatError, xmlrpc.client.Error, ValueError, TypeError, LookupError)


class XMLRPCFault(RPCFault):
    """502: the service answered the call with a fault (its faultCode and faultString)."""

    kind = "fault"
    code_key = "faultCode"
    text_key = "faultString"

    def __init__(self, label: str, code: int, string: str) -> None:
        super().__init__(label, code, string)
        self.fault_string = string


@dataclasses.dataclass(frozen=True)
class XMLRPCSettings(RPCSettings):
    prefix: ClassVar[str] = "XMLRPC"
    url: str = "http://127.0.0.1:8000/RPC2"


class XMLRPCClient(RPCClient):
    """Calls methods of the XML-RPC endpoint at XMLRPC_URL."""

    name: ClassVar[str] = "xmlrpc"
    label: ClassVar[str] = "XML-RPC service"
    settings_class = XMLRPCSettings
    headers: ClassVar[dict[str, str]] = {
        "Content-Type": "text/xml; charset=utf-8",
        "Accept": "text/xml",
    }
    # Its list, or a fault from a server without introspection: an answer all the same.
    probe_method = "system.listMethods"
    probe_params = ()

    async def call(self, method: str, *params: Any) -> Any:
        """The result of `method` (a name from code, never from a request) called with `params`.

        The params must be what XML-RPC can carry: an int within 32 bits, not None.
        """
        return await self._call_up(method, params)

    async def _call(self, http: AsyncHTTPClient, method: str, params: tuple[Any, ...]) -> Any:
        request = xmlrpc.client.dumps(params, method, encoding="utf-8")
        return self._result(await self._post(http, request.encode()))

    def _result(self, response: HTTPResponse) -> Any:
        """The one value in the answer; a fault raised as an XMLRPCFault."""
        if response.code != 200:  # XML-RPC answers 200, faults included
            raise BadAnswer(self.label, f"HTTP {response.code}, not an XML-RPC answer")
        try:
            values, method = xmlrpc.client.loads(response.body or b"", use_builtin_types=True)
        except xmlrpc.client.Fault as fault:
            raise self._fault(fault) from None
        except UNREADABLE as error:
            reason = str(error) or type(error).__name__
            raise BadAnswer(self.label, f"not an XML-RPC answer ({reason})") from None
        if method is not None or len(values) != 1:
            raise BadAnswer(self.label, "not one value in a methodResponse")
        return values[0]

    def _fault(self, fault: xmlrpc.client.Fault) -> ApiError:
        code, string = fault.faultCode, fault.faultString
        if type(code) is not int or not isinstance(string, str):
            return BadAnswer(self.label, "a fault with no int faultCode and string faultString")
        return XMLRPCFault(self.label, code, string)
