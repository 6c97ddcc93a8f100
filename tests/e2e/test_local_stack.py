"""End to end: the local stack over HTTP, the way the README tells a user to use it."""

from __future__ import annotations

import json
import re
import shlex
import subprocess

import httpx
import pytest

pytestmark = pytest.mark.e2e


def client_post(stack, body, *, key=None, path="/", host=None):
    headers = {"Host": host or stack.client_host, "Content-Type": "application/json"}
    if key is not False:
        headers["Authorization"] = f"Token {key or stack.api_key}"
    # Python's resolver does not map *.localhost to loopback: connect to 127.0.0.1, send the Host.
    return httpx.post(f"{stack.base_url}{path}", headers=headers, content=json.dumps(body), timeout=30)


def test_startup_prints_the_client_url_the_key_and_a_curl(stack):
    assert f"Client URL: {stack.client_url}" in stack.output
    assert f"API key: {stack.api_key}" in stack.output
    assert f"Passthrough page: {stack.page_url}" in stack.output
    assert "curl -s http://customer-support.3141-5926-5359.api.localhost:" in stack.output


def test_the_printed_curl_works_as_printed(stack):
    curl_line = next(line for line in stack.output.splitlines() if line.startswith("curl "))
    args = shlex.split(curl_line)
    # curl resolves *.localhost to loopback by itself; pin it anyway so the test never needs DNS.
    args[1:1] = ["--resolve", f"{stack.client_host}:{stack.port}:127.0.0.1", "-w", "\n%{http_code}"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=30, check=True).stdout
    body, status = out.rsplit("\n", 1)
    assert status == "200"
    envelope = json.loads(body)
    data = envelope["data"]
    assert data["tool_calls"][0]["plugin"] == "support_info"
    assert data["tool_calls"][0]["arguments"] == {"inquiry_type": "hours"}
    assert "Monday to Friday" in data["chat_completion"]["choices"][0]["message"]["content"]


def test_a_second_request_with_the_session_key_continues_the_conversation(stack):
    first = client_post(stack, {"messages": [{"role": "user", "content": "What are your support hours?"}]})
    session_key = first.json()["metadata"]["session_key"]
    second = client_post(stack, {"session_key": session_key, "messages": [{"role": "user", "content": "And how do I get a refund?"}]})
    assert second.status_code == 200
    assert second.json()["metadata"]["session_key"] == session_key
    # The refund question is answered from the plugin, selected again by the session's words.
    assert "Refunds" in second.json()["data"]["chat_completion"]["choices"][0]["message"]["content"]


def test_wrong_key_unknown_host_and_get_over_http(stack):
    assert client_post(stack, {"messages": [{"role": "user", "content": "hi"}]}, key="smk_nope").status_code == 401
    assert client_post(stack, {"messages": [{"role": "user", "content": "hi"}]}, host="nobody.3141-5926-5359.api.localhost").status_code == 404
    get = httpx.get(f"{stack.base_url}/", headers={"Host": stack.client_host}, timeout=10)
    assert get.status_code == 405
    assert get.headers["allow"] == "POST, OPTIONS"


def test_passthrough_and_provider_listing_over_http(stack):
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    listing = httpx.get(f"{stack.base_url}/v1/providers", headers=headers, timeout=10)
    assert listing.status_code == 200
    names = {p["name"]: p for p in listing.json()["data"]["providers"]}
    assert names["openai"]["configured"] is True
    answer = httpx.post(
        f"{stack.base_url}/v1/passthrough/openai",
        headers=headers,
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "ping"}]},
        timeout=30,
    )
    assert answer.status_code == 200
    assert answer.json()["data"]["body"]["choices"][0]["message"]["content"] == "You said: ping"
    assert stack.openai.requests[-1]["headers"]["authorization"] == "Bearer sk-e2e-provider-key"


def test_page_is_served_from_the_local_stack(stack):
    page = httpx.get(stack.page_url, timeout=10)
    assert page.status_code == 200
    assert re.search(r"<div id=\"root\">", page.text)
