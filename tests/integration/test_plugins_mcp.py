"""The mcp plugin kind against a real MCP server on 127.0.0.1 built with the
official SDK (MCPServer over Streamable HTTP, smarter_local.mcp_server): tools
listed at apply and offered under namespaced names, calls, the deadline (slow
tool, hung server), the byte cap, egress on a redirect, and the tool loop
calling an MCP tool from a prompt."""

from __future__ import annotations

import json
import time

import pytest
from plugin_fixtures import ACCOUNT, loopback_only, redirect, silent, upstream  # noqa: F401
from support import API_DOMAIN, journal_records, make_tenant, prompt

from smarter_local.openai_server import completion, tool_calls

pytestmark = pytest.mark.usefixtures("loopback_only")


@pytest.fixture(scope="module")
def order_desk():
    from smarter_local import mcp_server
    from smarter_local.stack import free_port

    running = mcp_server.start(free_port())
    yield running
    running.stop()


def mcp_plugin(url: str, name: str = "orders", **connection) -> dict:
    spec_tools = connection.pop("tools", None)
    spec = {"selector": {"directive": "always"}, "connection": {"url": url, **connection}}
    if spec_tools is not None:
        spec["tools"] = spec_tools
    return {"apiVersion": "smarter.sh/v1", "kind": "McpPlugin", "metadata": {"name": name, "account": ACCOUNT, "pluginClass": "mcp",
            "description": "the order desk"}, "spec": spec}


def _kind():
    from smarter_plugins.mcp import McpPlugin

    return McpPlugin()


def _stored(plugin: dict) -> dict:
    """Validated as apply would validate it (listing the server's tools), not stored."""
    return {**plugin, "spec": _kind().validate(plugin)}


def _offline(plugin: dict, tools: list[dict]) -> dict:
    """A plugin as stored, with a tool list, without asking the server (one that would hang or redirect)."""
    manifest = {**plugin, "metadata": {k: v for k, v in plugin["metadata"].items() if k != "account"}}
    spec = _kind().validate(manifest)
    spec.update(listedTools=tools, listedAt=time.time())
    return {**plugin, "spec": spec}


def _call(kind, stored: dict, tool: str, arguments: dict, timeout: float = 5.0):
    from smarter.llm.plugins import PluginContext

    view = next(view for view, offered in kind.tools(stored) if offered["function"]["name"] == tool)
    return kind.call(view, arguments, PluginContext(ACCOUNT, lambda name: {}, lambda name: "", timeout, ()))


def _refusal(kind, stored, tool, arguments, timeout=5.0) -> str:
    from smarter.llm.plugins import PluginCallError

    with pytest.raises(PluginCallError) as caught:
        _call(kind, stored, tool, arguments, timeout)
    return str(caught.value)


ORDER_TOOL = {"name": "order_status", "description": "status", "inputSchema": {"type": "object", "properties": {"order_id": {"type": "string"}}}}


# --- listing ---------------------------------------------------------------------------


def test_apply_lists_the_servers_tools_and_offers_them_under_the_plugins_name(aws, order_desk):
    stored = _stored(mcp_plugin(order_desk.url))
    assert {t["name"] for t in stored["spec"]["listedTools"]} == {"order_status", "slow_lookup", "big_report"}
    offered = {tool["function"]["name"]: tool["function"] for _, tool in _kind().tools(stored)}
    assert set(offered) == {"orders__order_status", "orders__slow_lookup", "orders__big_report"}
    assert offered["orders__order_status"]["parameters"]["properties"]["order_id"]["type"] == "string"
    assert "shipping status" in offered["orders__order_status"]["description"]


def test_an_allow_list_offers_only_the_tools_it_names(aws, order_desk):
    stored = _stored(mcp_plugin(order_desk.url, tools=["order_status"]))
    assert [tool["function"]["name"] for _, tool in _kind().tools(stored)] == ["orders__order_status"]


def test_apply_is_refused_when_the_server_cannot_be_listed(aws, upstream):  # noqa: F811
    from smarter.errors import ManifestError

    upstream.routes["/mcp"] = lambda h: h.send_error(500)
    with pytest.raises(ManifestError) as caught:
        _stored(mcp_plugin(f"{upstream.base_url}/mcp"))
    assert caught.value.path == "spec.connection.url"
    assert "could not be listed" in str(caught.value)


def test_a_stored_list_older_than_its_ttl_is_refreshed_from_the_server(aws, order_desk):
    stored = _stored(mcp_plugin(order_desk.url))
    stored["spec"].update(listedTools=[], listedAt=time.time() - 3600)
    assert len(_kind().tools(stored)) == 3


def test_an_unreachable_server_keeps_the_stored_list(aws, order_desk):
    stored = _offline(mcp_plugin("http://127.0.0.1:1/mcp"), [ORDER_TOOL])
    stored["spec"]["listedAt"] = time.time() - 3600
    assert [tool["function"]["name"] for _, tool in _kind().tools(stored)] == ["orders__order_status"]


# --- calls -----------------------------------------------------------------------------


def test_a_call_answers_the_tools_text(aws, order_desk):
    kind = _kind()
    result = _call(kind, _stored(mcp_plugin(order_desk.url)), "orders__order_status", {"order_id": "A-1001"})
    assert result == "Order A-1001: shipped on 2026-11-28 by parcel post, tracking NL-555-0101"


def test_a_json_answering_stateless_server_works_too(aws):
    from smarter_local import mcp_server
    from smarter_local.stack import free_port

    running = mcp_server.start(free_port(), json_response=True, stateless=True)
    try:
        kind = _kind()
        assert "A-1002: packed" in _call(kind, _stored(mcp_plugin(running.url)), "orders__order_status", {"order_id": "A-1002"})
    finally:
        running.stop()


def test_a_failing_tool_is_an_error_result_naming_why(aws, order_desk):
    kind = _kind()
    message = _refusal(kind, _stored(mcp_plugin(order_desk.url)), "orders__order_status", {"order_id": "Z-9"})
    assert "the MCP tool 'order_status' failed" in message and "no order 'Z-9'" in message


def test_a_slow_tool_ends_at_the_plugin_timeout(aws, order_desk):
    kind = _kind()
    stored = _stored(mcp_plugin(order_desk.url))
    started = time.monotonic()
    message = _refusal(kind, stored, "orders__slow_lookup", {"seconds": 10}, timeout=1.0)
    assert time.monotonic() - started < 3
    assert "within the timeout" in message


def test_a_hung_server_ends_at_the_plugin_timeout(aws, upstream):  # noqa: F811
    upstream.routes["/mcp"] = silent(30)
    kind = _kind()
    stored = _offline(mcp_plugin(f"{upstream.base_url}/mcp"), [ORDER_TOOL])
    started = time.monotonic()
    message = _refusal(kind, stored, "orders__order_status", {"order_id": "A-1001"}, timeout=1.0)
    assert time.monotonic() - started < 3
    assert "within the timeout" in message


def test_an_answer_over_the_byte_cap_is_refused_not_read(aws, order_desk):
    kind = _kind()
    stored = _stored(mcp_plugin(order_desk.url, maxResponseBytes=20_000))
    message = _refusal(kind, stored, "orders__big_report", {"size": 200_000})
    assert "larger than 20000 bytes" in message


def test_a_redirect_to_the_metadata_address_is_refused_before_any_packet(aws, upstream):  # noqa: F811
    upstream.routes["/mcp"] = redirect("http://169.254.169.254/latest/meta-data/", status=307)
    kind = _kind()
    stored = _offline(mcp_plugin(f"{upstream.base_url}/mcp"), [ORDER_TOOL])
    message = _refusal(kind, stored, "orders__order_status", {"order_id": "A-1001"})
    assert message.startswith("refused:") and "169.254.169.254" in message


def test_the_auth_header_comes_from_the_accounts_secret(aws, upstream):  # noqa: F811
    from smarter.store import aws as boto

    boto.client("secretsmanager").create_secret(Name=f"smarter/accounts/{ACCOUNT}/desk-token", SecretString="tok-mcp-123")
    seen = []

    def answer(h):
        seen.append(h.headers.get("Authorization"))
        h.send_error(401)

    upstream.routes["/mcp"] = answer
    kind = _kind()
    stored = _offline(mcp_plugin(f"{upstream.base_url}/mcp", secret="desk-token"), [ORDER_TOOL])
    from smarter.llm.plugins import PluginCallError, PluginContext
    from smarter.tenancy.account_secrets import account_secret

    view = kind.tools(stored)[0][0]
    with pytest.raises(PluginCallError) as caught:
        kind.call(view, {"order_id": "A-1001"}, PluginContext(ACCOUNT, lambda n: {}, lambda n: account_secret(ACCOUNT, n), 5.0, ()))
    assert seen == ["Bearer tok-mcp-123"]
    assert "HTTP 401" in str(caught.value) and "tok-mcp-123" not in str(caught.value)


# --- through the request path ----------------------------------------------------------


def test_the_tool_loop_calls_an_mcp_tool_from_a_prompt(aws, openai_server, order_desk):
    tenant = make_tenant(ACCOUNT, plugins=[mcp_plugin(order_desk.url)])
    openai_server.enqueue(body=tool_calls(("orders__order_status", {"order_id": "A-1001"})))
    openai_server.enqueue(body=completion("Your order A-1001 shipped on 2026-11-28."))

    result = prompt(tenant, "Where is my order A-1001?")

    assert result.status == 200
    offered = {t["function"]["name"] for t in openai_server.requests[0]["json"]["tools"]}
    assert offered == {"orders__order_status", "orders__slow_lookup", "orders__big_report"}
    tool_message = openai_server.requests[-1]["json"]["messages"][-1]
    assert tool_message["role"] == "tool" and "tracking NL-555-0101" in tool_message["content"]
    entry = journal_records(tenant.account, tenant.client)[0]["tool_calls"][0]
    assert (entry["plugin"], entry["kind"], entry["outcome"]) == ("orders__order_status", "mcp", "ok")
    assert result.body["data"]["selected_plugins"] == ["orders"]


def test_the_mcp_endpoint_serves_a_remote_mcp_servers_tools_too(aws, order_desk):
    """MCP both ways: a client's McpPlugin tools are listed and called at its own /mcp by the official client."""
    import anyio
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    from smarter_local.gateway import Gateway

    tenant = make_tenant(ACCOUNT, plugins=[mcp_plugin(order_desk.url, tools=["order_status"])])
    gateway = Gateway(api_domain=API_DOMAIN, port=0)
    gateway.serve_in_thread()

    async def main():
        http = create_mcp_http_client(headers={"Host": tenant.host, "Authorization": f"Bearer {tenant.api_key}"})
        async with http:
            async with Client(streamable_http_client(f"http://127.0.0.1:{gateway.port}/mcp", http_client=http)) as client:
                listed = await client.list_tools()
                called = await client.call_tool("orders__order_status", {"order_id": "a-1003"})
                return listed, called

    try:
        listed, called = anyio.run(main)
    finally:
        gateway.stop()
    assert [tool.name for tool in listed.tools] == ["orders__order_status"]
    assert not called.is_error
    assert json.dumps(called.content[0].text).find("cancelled") > 0


def test_the_cli_applies_an_mcp_plugin_and_plugin_test_lists_its_tools(aws, order_desk, tmp_path, capsys):
    import yaml

    from smarter_admin import cli

    account = {"apiVersion": "smarter.sh/v1", "kind": "Account", "metadata": {"name": ACCOUNT}, "spec": {}}
    path = tmp_path / "mcp.yaml"
    path.write_text(yaml.safe_dump_all([account, mcp_plugin(order_desk.url, tools=["order_status", "big_report"])]))
    assert cli.main(["apply", "-f", str(path)]) == 0
    assert "McpPlugin/orders applied" in capsys.readouterr().out
    assert cli.main(["plugin", "test", "orders", "--account", ACCOUNT, "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"tools": ["orders__order_status", "orders__big_report"]}
    assert cli.main(["describe", "plugin", "orders", "--account", ACCOUNT, "-o", "json"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert [t["name"] for t in described["spec"]["listedTools"]] == ["order_status", "big_report"]
