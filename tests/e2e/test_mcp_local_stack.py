"""End to end: MCP both ways on the stack `make run` starts, over HTTP. The
official MCP client lists and calls the demo client's support_info tool at
its host's /mcp; the order-desk client, whose plugin is the stack's loopback
MCP server (SDK-built), answers from that server's tool."""

from __future__ import annotations

import json

import anyio
import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

pytestmark = pytest.mark.e2e


def test_the_official_client_lists_and_calls_support_info_at_the_demo_hosts_mcp(stack):
    async def main():
        # Python's resolver does not map *.localhost to loopback: connect to 127.0.0.1, send the Host.
        http = create_mcp_http_client(headers={"Host": f"{stack.client_host}:{stack.port}", "Authorization": f"Bearer {stack.api_key}"})
        async with http:
            async with Client(streamable_http_client(f"{stack.base_url}/mcp", http_client=http)) as client:
                return await client.list_tools(), await client.call_tool("support_info", {"inquiry_type": "hours"})

    listed, called = anyio.run(main)
    assert "support_info" in {tool.name for tool in listed.tools}
    assert not called.is_error
    assert "Monday to Friday" in called.content[0].text


def test_the_startup_names_the_mcp_endpoint_and_the_mcp_plugin_demo(stack):
    assert f"MCP endpoint (the client's plugins as MCP tools): {stack.client_url}mcp" in stack.output
    assert "MCP plugin demo: client order-desk" in stack.output


def test_a_prompt_to_the_client_with_an_mcp_plugin_is_answered_from_the_servers_tool(stack):
    host = f"order-desk.{stack.account}.{stack.api_domain}"
    answer = httpx.post(f"{stack.base_url}/", headers={"Host": host, "Authorization": f"Token {stack.api_key}", "Content-Type": "application/json"},
                        content=json.dumps({"messages": [{"role": "user", "content": "Where is my order A-1001?"}]}), timeout=30)
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert [(c["plugin"], c["kind"], c["outcome"]) for c in data["tool_calls"]] == [("order_desk__order_status", "mcp", "ok")]
    assert "shipped on 2026-11-28" in data["chat_completion"]["choices"][0]["message"]["content"]
