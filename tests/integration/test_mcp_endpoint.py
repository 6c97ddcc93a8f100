"""/mcp on a client's host, through the local API Gateway over a real socket,
called by the official MCP Python SDK's Streamable HTTP client, unmodified:
the client's plugins (static, SQL, API) listed and called as MCP tools, with
the client's key, journaled and limited like any request; and every refusal
a clear JSON-RPC / MCP error."""

from __future__ import annotations

import json

import anyio
import pytest
from plugin_fixtures import ACCOUNT, api_connection, api_plugin, make_sqlite, sql_connection, sql_plugin, upstream  # noqa: F401
from support import API_DOMAIN, invoke, journal_records, make_tenant, static_plugin

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError


@pytest.fixture
def gateway(aws):
    from smarter_local.gateway import Gateway

    running = Gateway(api_domain=API_DOMAIN, port=0)
    running.serve_in_thread()
    yield running
    running.stop()


@pytest.fixture
def kinds(aws, tmp_path, upstream):  # noqa: F811
    """A client with a plugin of each built-in kind: static, SQL (SQLite), API (a loopback upstream)."""
    from smarter_admin import manifests

    upstream.json("/v1/courses", [{"code": "CS101", "name": "Intro to Python", "cost": 300}])
    database = make_sqlite(str(tmp_path / ACCOUNT / "courses.db"))
    manifests.apply_documents([
        {"apiVersion": "smarter.sh/v1", "kind": "Account", "metadata": {"name": ACCOUNT}, "spec": {}},
        sql_connection(dbEngine="sqlite", database=database),
        api_connection(base_url=f"{upstream.base_url}/v1", allowHosts=["127.0.0.1"]),
    ])
    return make_tenant(ACCOUNT, plugins=[static_plugin(), sql_plugin(), api_plugin()])


def _session(gateway, host: str, headers: dict[str, str], work):
    """Connect the SDK's client (its default mode: probe, then the initialize handshake) and run `work`."""

    async def main():
        http = create_mcp_http_client(headers={"Host": host, **headers})
        async with http:
            async with Client(streamable_http_client(f"http://127.0.0.1:{gateway.port}/mcp", http_client=http)) as client:
                return await work(client)

    try:
        return anyio.run(main)
    except BaseExceptionGroup as group:  # the client's task groups wrap what went wrong
        raise _leaf(group) from None


def _leaf(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def _bearer(tenant) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant.api_key}"}


def _text(result) -> str:
    return "".join(part.text for part in result.content if part.type == "text")


# --- listing and calling ---------------------------------------------------------------


def test_the_official_client_lists_every_plugin_kind_with_its_json_schema(gateway, kinds):
    tools = _session(gateway, kinds.host, _bearer(kinds), lambda c: c.list_tools())
    by_name = {tool.name: tool for tool in tools.tools}
    assert set(by_name) == {"support_info", "course_db", "course_catalogue"}
    assert by_name["support_info"].input_schema["properties"]["inquiry_type"]["enum"] == ["hours", "contact"]
    assert by_name["support_info"].input_schema["required"] == ["inquiry_type"]
    assert set(by_name["course_db"].input_schema["properties"]) == {"keyword", "max_cost"}
    assert by_name["course_catalogue"].input_schema["properties"]["max_cost"]["type"] == "number"
    assert by_name["support_info"].description == "Look up support facts."


def test_the_official_client_calls_a_static_a_sql_and_an_api_tool(gateway, kinds, upstream):  # noqa: F811
    async def work(client):
        return (
            await client.call_tool("support_info", {"inquiry_type": "hours"}),
            await client.call_tool("course_db", {"keyword": "Python", "max_cost": 500}),
            await client.call_tool("course_catalogue", {"max_cost": 500, "keyword": "Python"}),
        )

    static, sql, api = _session(gateway, kinds.host, _bearer(kinds), work)
    assert not static.is_error and _text(static) == "Monday to Friday, 9 to 5."
    assert not sql.is_error
    rows = json.loads(_text(sql))["rows"]
    assert [row["course_code"] for row in rows] == ["CS101", "CS201"]
    assert not api.is_error
    assert json.loads(_text(api)) == {"status": 200, "body": [{"code": "CS101", "name": "Intro to Python", "cost": 300}]}
    assert upstream.seen[-1].path == "/v1/courses?max_cost=500&keyword=Python"


def test_each_tool_call_is_journaled_with_the_tool_loops_entry(gateway, kinds):
    _session(gateway, kinds.host, _bearer(kinds), lambda c: c.call_tool("support_info", {"inquiry_type": "contact"}))
    assert gateway.wait_idle()
    records = journal_records(kinds.account, kinds.client)
    calls = [r for r in records if r["command"] == "mcp.tools.call"]
    assert len(calls) == 1
    entry = calls[0]["tool_calls"][0]
    assert (entry["plugin"], entry["kind"], entry["outcome"], entry["arguments"]) == ("support_info", "static", "ok", {"inquiry_type": "contact"})
    assert calls[0]["api_key_id"] == kinds.key_id
    assert {r["command"] for r in records} >= {"mcp.initialize", "mcp.notification", "mcp.tools.call"}
    assert all("authorization" not in r["request"]["headers"] for r in records)


def test_the_x_api_key_header_is_accepted_too(gateway, kinds):
    tools = _session(gateway, kinds.host, {"x-api-key": kinds.api_key}, lambda c: c.list_tools())
    assert "support_info" in {tool.name for tool in tools.tools}


# --- refusals --------------------------------------------------------------------------


def test_bad_arguments_are_a_tool_error_the_caller_can_read(gateway, kinds):
    result = _session(gateway, kinds.host, _bearer(kinds), lambda c: c.call_tool("support_info", {"inquiry_type": "pricing"}))
    assert result.is_error
    assert "inquiry_type must be one of ['hours', 'contact']" in _text(result)


def test_an_argument_of_the_wrong_type_is_a_tool_error(gateway, kinds):
    result = _session(gateway, kinds.host, _bearer(kinds), lambda c: c.call_tool("course_db", {"max_cost": "cheap"}))
    assert result.is_error
    assert 'max_cost must be of type number, got "cheap"' in _text(result)


def test_an_unknown_tool_is_invalid_params(gateway, kinds):
    with pytest.raises(MCPError) as caught:
        _session(gateway, kinds.host, _bearer(kinds), lambda c: c.call_tool("delete_everything", {}))
    assert caught.value.error.code == -32602
    assert "Unknown tool: 'delete_everything'" in caught.value.error.message


def test_a_wrong_key_is_refused_before_anything_is_listed(gateway, kinds):
    with pytest.raises(MCPError) as caught:
        _session(gateway, kinds.host, {"Authorization": "Bearer smk_000000000000_not-a-real-key-at-all"}, lambda c: c.list_tools())
    assert "invalid API key" in caught.value.error.message


def test_no_key_is_refused(gateway, kinds):
    with pytest.raises(MCPError) as caught:
        _session(gateway, kinds.host, {}, lambda c: c.list_tools())
    assert "missing API key" in caught.value.error.message


def test_a_key_limited_to_another_client_is_refused(gateway, kinds):
    from smarter_admin import manifests

    other = manifests.apply({"apiVersion": "smarter.sh/v1", "kind": "ApiKey", "metadata": {"name": "billing-only", "account": ACCOUNT},
                             "spec": {"clients": ["billing"]}})
    with pytest.raises(MCPError) as caught:
        _session(gateway, kinds.host, {"Authorization": f"Bearer {other['api_key']}"}, lambda c: c.list_tools())
    assert "not allowed to call the client 'customer-support'" in caught.value.error.message


def test_tool_calls_count_against_the_keys_request_limit(gateway, aws):
    from smarter_admin import manifests

    tenant = make_tenant(plugins=[static_plugin()])
    limited = manifests.apply({"apiVersion": "smarter.sh/v1", "kind": "ApiKey", "metadata": {"name": "one-a-minute", "account": tenant.account},
                               "spec": {"limits": {"requestsPerMinute": 1}}})

    async def work(client):
        first = await client.call_tool("support_info", {"inquiry_type": "hours"})
        with pytest.raises(MCPError) as caught:
            await client.call_tool("support_info", {"inquiry_type": "hours"})
        return first, caught.value

    first, refused = _session(gateway, tenant.host, {"Authorization": f"Bearer {limited['api_key']}"}, work)
    assert not first.is_error
    assert refused.error.data["status"] == 429
    assert "requestsPerMinute limit is 1 requests" in refused.error.message


# --- the transport's own rules (raw HTTP, as a non-SDK client would send it) ------------


def _post(tenant, body, headers=None, *, raw=None, method="POST"):
    all_headers = {"Accept": "application/json, text/event-stream", **(headers or {})}
    return invoke("mcp", method, "/mcp", host=tenant.host, body=body, raw_body=raw, headers=all_headers, key=tenant.api_key, scheme="Bearer")


def _rpc(method, params=None, id_=1):
    return {"jsonrpc": "2.0", "id": id_, "method": method, **({"params": params} if params is not None else {})}


def test_initialize_echoes_a_version_it_speaks_and_offers_its_latest_otherwise(aws):
    tenant = make_tenant(plugins=[static_plugin()])
    spoken = _post(tenant, _rpc("initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}))
    assert spoken.status == 200
    assert spoken.body["result"]["protocolVersion"] == "2025-06-18"
    assert spoken.body["result"]["capabilities"] == {"tools": {"listChanged": False}}
    assert "Mcp-Session-Id" not in spoken.headers  # stateless: no session issued
    unknown = _post(tenant, _rpc("initialize", {"protocolVersion": "1999-01-01"}))
    assert unknown.body["result"]["protocolVersion"] == "2025-11-25"


def test_an_unsupported_protocol_version_header_is_400(aws):
    tenant = make_tenant(plugins=[static_plugin()])
    result = _post(tenant, _rpc("tools/list"), {"MCP-Protocol-Version": "2099-01-01"})
    assert result.status == 400
    assert result.body["error"]["code"] == -32022
    assert result.body["error"]["data"]["supported"][-1] == "2025-11-25"


def test_a_session_id_it_never_issued_is_404(aws):
    tenant = make_tenant(plugins=[static_plugin()])
    result = _post(tenant, _rpc("tools/list"), {"Mcp-Session-Id": "made-up-session"})
    assert result.status == 404
    assert "issues no Mcp-Session-Id" in result.body["error"]["message"]


def test_get_and_delete_are_405_since_there_is_no_stream_and_no_session(aws):
    tenant = make_tenant(plugins=[static_plugin()])
    for method in ("GET", "DELETE"):
        result = _post(tenant, None, method=method)
        assert result.status == 405
        assert result.headers["Allow"] == "POST, OPTIONS"
        assert result.body["jsonrpc"] == "2.0" and result.body["error"]["code"] == -32000


def test_a_notification_is_accepted_with_202_and_no_body(aws):
    tenant = make_tenant(plugins=[static_plugin()])
    result = _post(tenant, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert result.status == 202
    assert result.raw["body"] == ""


@pytest.mark.parametrize(
    ("body", "raw", "code", "fragment"),
    [
        ([_rpc("ping")], None, -32600, "batches are not supported"),
        ({"id": 1, "method": "ping"}, None, -32600, '"jsonrpc" must be "2.0"'),
        ({"jsonrpc": "2.0", "id": True, "method": "ping"}, None, -32600, "id must be a string"),
        (None, "{not json", -32700, "not valid JSON"),
        (_rpc("tools/call", ["support_info"]), None, -32602, "params must be an object"),
        (_rpc("tools/call", {"name": "support_info", "arguments": "hours"}), None, -32602, "arguments must be an object"),
        (_rpc("resources/list"), None, -32601, "is not supported"),
        (_rpc("initialize", {}), None, -32602, "protocolVersion"),
    ],
)
def test_malformed_messages_are_json_rpc_errors(aws, body, raw, code, fragment):
    tenant = make_tenant(plugins=[static_plugin()])
    result = _post(tenant, body, raw=raw)
    assert result.status in (200, 400)
    assert result.body["error"]["code"] == code
    assert fragment in result.body["error"]["message"]


def test_a_foreign_browser_origin_is_refused(aws):
    tenant = make_tenant(plugins=[static_plugin()])
    result = _post(tenant, _rpc("tools/list"), {"Origin": "https://evil.example"})
    assert result.status == 403
    assert result.body["error"]["code"] == -32000


def test_a_verified_custom_domain_serves_the_clients_mcp_tools(gateway, aws):
    from smarter.store import storage

    tenant = make_tenant(plugins=[static_plugin()])
    storage.claim_domain("api.acme.com", {"domain": "api.acme.com", "account": tenant.account, "client": tenant.client, "status": "verified"})
    storage.set_client_verified_domain(tenant.account, tenant.client, "api.acme.com")
    called = _session(gateway, "api.acme.com", _bearer(tenant), lambda c: c.call_tool("support_info", {"inquiry_type": "contact"}))
    assert _text(called) == "support@example.com"


def test_an_unverified_custom_domain_serves_no_tools(aws):
    from smarter.store import storage

    tenant = make_tenant(plugins=[static_plugin()])
    storage.claim_domain("api.acme.com", {"domain": "api.acme.com", "account": tenant.account, "client": tenant.client, "status": "pending_validation"})
    result = invoke("mcp", "POST", "/mcp", host="api.acme.com", body=_rpc("tools/list"), key=tenant.api_key, scheme="Bearer")
    assert result.status == 404
    assert "not verified yet" in result.body["error"]["message"]
