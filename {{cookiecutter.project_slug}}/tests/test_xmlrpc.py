"""The XML-RPC client and /xmlrpc/sum against the stdlib's server (fixtures_xmlrpc.py).

What every RPC client does is in rpc_contract.py; here, what only XML-RPC does.
"""

from __future__ import annotations

from typing import Any, ClassVar

from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.clients.xmlrpc import XMLRPCClient, XMLRPCFault, XMLRPCSettings

from . import rpc_contract
from .support import body

LIMIT = "2147483647"  # XML-RPC's largest int


class XMLRPC(rpc_contract.RPC):
    client_class = XMLRPCClient
    settings_class = XMLRPCSettings
    fault_class = XMLRPCFault
    rpc_path = "/RPC2"
    failed: ClassVar[dict[str, Any]] = {"faultCode": 4, "faultString": "it failed, as asked"}
    failed_message = "answered with fault 4: it failed, as asked"
    not_found_reason = "HTTP 404, not an XML-RPC answer"
    broken_answer: ClassVar[dict[str, Any]] = {
        "error": "XML-RPC service answered with fault 4: add is broken",
        "status": 502,
        "fault": {"faultCode": 4, "faultString": "add is broken"},
    }
    # Then why, in parentheses: the parser's words.
    not_rpc_error = r"XML-RPC service answered badly: not an XML-RPC answer.*"

    async def add(self, client: Any, a: Any, b: Any) -> Any:
        return await client.call("add", a, b)


class TestXMLRPCClient(XMLRPC, rpc_contract.ClientContract):
    pass


class SumTest(XMLRPC, rpc_contract.SumContract):
    @gen_test(timeout=30)
    async def test_what_is_not_a_number_xmlrpc_carries_is_a_400_saying_so(self) -> None:
        cases = {
            "a=1": "missing query parameter 'b' (a number)",
            "a=0x10&b=1": "'a' must be a number, got '0x10'",
            "a=inf&b=1": "'a' must be a number, got 'inf'",
            "a=2147483648&b=1": "'a' must be between -2147483647 and 2147483647",
        }
        for query, message in cases.items():
            response = await self.get(f"/xmlrpc/sum?{query}")
            assert response.code == 400, query
            assert body(response)["error"].startswith(message), query

    @gen_test(timeout=30)
    async def test_a_sum_past_xmlrpc_int_is_the_servers_fault_a_502(self) -> None:
        response = await self.get(f"/xmlrpc/sum?a={LIMIT}&b=1")
        assert response.code == 502
        fault = body(response)["fault"]
        assert fault["faultCode"] == 1  # the stdlib server's code for an exception
        assert "int exceeds XML-RPC limits" in fault["faultString"]
        assert body(response)["error"].startswith("XML-RPC service answered with fault 1: ")


class FaultySumTest(XMLRPC, rpc_contract.FaultySumContract):
    pass


class SlowSumTest(XMLRPC, rpc_contract.SlowSumContract):
    pass


class WrongAnswerSumTest(XMLRPC, rpc_contract.WrongAnswerSumContract):
    path = "/not-xml"


class TextSumTest(XMLRPC, rpc_contract.TextSumContract):
    pass


class SumWithoutTheServiceTest(XMLRPC, rpc_contract.SumWithoutTheServiceContract):
    pass
