"""A provider nothing listens on: listed as unreachable, and a refused
connection answered as such (502 naming the refusal), never as a timeout."""

from __future__ import annotations

import json
import socket

import pytest
from support import API_DOMAIN, handler, invoke

from smarter_local.gateway import LambdaContext, make_event
from smarter_local.stack import free_port

MESSAGES = [{"role": "user", "content": "ping"}]


@pytest.fixture
def nothing_listens(monkeypatch):
    """`local` pointed at a loopback port nobody listens on."""
    port = free_port()
    monkeypatch.setenv("SMARTER_PROVIDER_LOCAL_BASE_URL", f"http://127.0.0.1:{port}/v1")
    return port


def listing(tenant) -> dict:
    result = invoke("passthrough", "GET", "/v1/providers", host=API_DOMAIN, key=tenant.api_key)
    assert result.status == 200
    return {p["name"]: p for p in result.body["data"]["providers"]}


def test_a_keyless_provider_nothing_listens_on_is_listed_as_unreachable(tenant, nothing_listens):
    local = listing(tenant)["local"]
    assert local["configured"] is False
    assert local["unreachable"] is True
    assert local["base_url"] == "http://127.0.0.1:11434/v1"  # the published one; the override stays hidden


def test_a_keyless_provider_that_listens_is_configured(tenant, monkeypatch):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        monkeypatch.setenv("SMARTER_PROVIDER_LOCAL_BASE_URL", f"http://127.0.0.1:{server.getsockname()[1]}/v1")
        providers = listing(tenant)
    assert providers["local"]["configured"] is True
    assert providers["local"].get("unreachable") is False
    assert providers["offline"]["configured"] is True
    assert providers["mistral"]["configured"] is False and providers["mistral"].get("unreachable") is None


def test_a_refused_connection_is_a_502_that_says_the_provider_refused_it(tenant, nothing_listens):
    result = invoke(
        "passthrough", "POST", "/v1/passthrough/local", body={"model": "llama3.2", "messages": MESSAGES}, key=tenant.api_key, host=API_DOMAIN, scheme="Bearer"
    )
    assert result.status == 502, result.body
    assert result.body["error"]["type"] == "provider_error"
    assert "refused the connection" in result.body["error"]["message"]
    assert str(nothing_listens) not in result.body["error"]["message"]  # the operator's address is not the tenant's business


def test_a_refused_connection_of_a_stream_says_so_too(tenant, nothing_listens):
    body = {"model": "llama3.2", "messages": MESSAGES, "stream": True}
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {tenant.api_key}"}
    event = make_event("POST", "/v1/passthrough/local", headers, json.dumps(body).encode(), domain=API_DOMAIN, resource="/v1/passthrough/{proxy+}")
    response = handler("passthrough")(event, LambdaContext("passthrough"))
    # An error before the stream starts is an ordinary (buffered) answer.
    status = response["statusCode"] if isinstance(response, dict) else response.status
    envelope = json.loads(response["body"] if isinstance(response, dict) else b"".join(response.body))
    assert status == 502
    assert "refused the connection" in envelope["error"]["message"]
