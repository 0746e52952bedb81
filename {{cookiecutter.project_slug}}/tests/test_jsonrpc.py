"""The JSON-RPC client and /jsonrpc/sum against a real local endpoint (fixtures_jsonrpc.py).

What every RPC client does is in rpc_contract.py; here, what only JSON-RPC does.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest
from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.clients import BadAnswer
from {{ cookiecutter.package_name }}.clients.jsonrpc import JSONRPCClient, JSONRPCFault, JSONRPCSettings

from . import rpc_contract
from .support import body, started


class JSONRPC(rpc_contract.RPC):
    client_class = JSONRPCClient
    settings_class = JSONRPCSettings
    fault_class = JSONRPCFault
    rpc_path = "/rpc"
    # Not its "data".
    failed: ClassVar[dict[str, Any]] = {"code": -32000, "message": "it failed, as asked"}
    failed_message = "answered with error -32000: it failed, as asked"
    not_found_reason = "HTTP 404, not JSON"
    broken_answer: ClassVar[dict[str, Any]] = {
        "error": "JSON-RPC service answered with error -32000: add is broken",
        "status": 502,
        "fault": {"code": -32000, "message": "add is broken"},
    }
    not_rpc_error = r"JSON-RPC service answered badly: HTTP 200, not JSON"

    async def add(self, client: Any, a: Any, b: Any) -> Any:
        return await client.call("add", [a, b])


class TestJSONRPCClient(JSONRPC, rpc_contract.ClientContract):
    def test_an_answer_to_another_call_is_a_502(self) -> None:
        async def scenario() -> None:
            async with started(self.client_of("/other-id")) as client:
                assert isinstance(client, JSONRPCClient)
                other_id = r"answered badly: it answered id \d+ to id \d+"
                with pytest.raises(BadAnswer, match=other_id):
                    await client.call("add", [2, 3])

        asyncio.run(scenario())


class SumTest(JSONRPC, rpc_contract.SumContract):
    @gen_test(timeout=30)
    async def test_what_is_not_a_number_is_a_400_saying_so(self) -> None:
        cases = {
            "b=1": "missing query parameter 'a' (a number)",
            "a=one&b=1": "'a' must be a number, got 'one'",
            "a=NaN&b=1": "'a' must be a number, got 'NaN'",
            "a=1&b=1e400": "'b' must be between -9007199254740992 and 9007199254740992",
            "a=9007199254740993&b=1": "'a' must be between -9007199254740992 and 9007199254740992",
        }
        for query, message in cases.items():
            response = await self.get(f"/jsonrpc/sum?{query}")
            assert response.code == 400, query
            assert body(response)["error"].startswith(message), query


class FaultySumTest(JSONRPC, rpc_contract.FaultySumContract):
    pass


class SlowSumTest(JSONRPC, rpc_contract.SlowSumContract):
    pass


class WrongAnswerSumTest(JSONRPC, rpc_contract.WrongAnswerSumContract):
    path = "/not-json"


class TextSumTest(JSONRPC, rpc_contract.TextSumContract):
    pass


class SumWithoutTheServiceTest(JSONRPC, rpc_contract.SumWithoutTheServiceContract):
    pass
