"""Anthropic as a provider over its own Messages API, against a loopback
server speaking Anthropic's wire format: what it receives (headers, system,
blocks, tools, Claude's own parameters) and how its answers, streams and
errors come back through the client's APIs."""

from __future__ import annotations

import json

import pytest
from support import invoke, make_tenant, static_plugin

from smarter_local.anthropic_server import AnthropicServer, error, message, tool_use
from smarter_local.gateway import LambdaContext, make_event
from smarter_local.stack import put_provider_secret

USER = [{"role": "user", "content": "When are you open?"}]


@pytest.fixture(scope="module")
def claude_server():
    server = AnthropicServer().start()
    yield server
    server.stop()


@pytest.fixture
def claude(aws, claude_server, monkeypatch):
    claude_server.reset()
    monkeypatch.setenv("SMARTER_PROVIDER_ANTHROPIC_BASE_URL", claude_server.base_url)
    put_provider_secret("anthropic", "sk-ant-test-key")
    return make_tenant(client="claude-client", provider="anthropic", plugins=[static_plugin()], client_config={"defaultModel": "claude-test"})


def chat(tenant, body):
    return invoke("openai_api", "POST", "/v1/chat/completions", host=tenant.host, body=body, key=tenant.api_key, scheme="Bearer")


def stream(tenant, path, body, **headers):
    from support import handler

    all_headers = {"Content-Type": "application/json", "Host": tenant.host, "Authorization": f"Bearer {tenant.api_key}", **headers}
    event = make_event("POST", path, all_headers, json.dumps({**body, "stream": True}).encode(), domain=tenant.host, resource=path)
    answer = handler("openai_api")(event, LambdaContext("openai_api"))
    return answer, b"".join(answer.body).decode()


def test_a_chat_completion_reaches_claude_as_a_messages_request(claude, claude_server):
    claude_server.enqueue(body=message(tool_use("support_info", {"inquiry_type": "hours"})))
    claude_server.enqueue(body=message(text="We open at nine.", usage=(30, 6)))
    answer = chat(claude, {"messages": [{"role": "system", "content": "Be brief."}, *USER], "max_tokens": 99, "stop": "END", "user": "u-1"})
    assert answer.status == 200, answer.body
    assert answer.body["choices"][0]["message"]["content"] == "We open at nine."
    assert answer.body["choices"][0]["finish_reason"] == "stop"
    first, second = claude_server.requests
    assert first["path"] == "/v1/messages"
    assert first["headers"]["x-api-key"] == "sk-ant-test-key" and first["headers"]["anthropic-version"] == "2023-06-01"
    sent = first["json"]
    assert sent["model"] == "claude-test" and sent["max_tokens"] == 99 and sent["stop_sequences"] == ["END"]
    assert sent["metadata"] == {"user_id": "u-1"}
    assert sent["system"].startswith("You are helpful.") and sent["system"].endswith("Be brief.")
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": "When are you open?"}]}]
    assert sent["tools"][0]["name"] == "support_info" and "input_schema" in sent["tools"][0] and sent["tool_choice"] == {"type": "auto"}
    # The plugin ran here; its result went back as a tool_result block after Claude's tool_use.
    follow = second["json"]["messages"]
    assert follow[1] == {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01", "name": "support_info", "input": {"inquiry_type": "hours"}}]}
    assert follow[2]["role"] == "user" and follow[2]["content"][0]["type"] == "tool_result" and follow[2]["content"][0]["tool_use_id"] == "toolu_01"
    assert answer.body["usage"]["prompt_tokens"] == 41 and answer.body["usage"]["completion_tokens"] == 13


def test_a_caller_tool_use_comes_back_as_tool_calls(claude, claude_server):
    claude_server.enqueue(body=message(tool_use("get_weather", {"city": "Oslo"}, "toolu_w"), stop_reason="tool_use"))
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
    answer = chat(claude, {"messages": USER, "tools": [tool], "tool_choice": {"type": "function", "function": {"name": "get_weather"}}, "parallel_tool_calls": False})
    assert answer.body["choices"][0]["finish_reason"] == "tool_calls"
    assert answer.body["choices"][0]["message"]["tool_calls"] == [{"id": "toolu_w", "type": "function", "function": {"name": "get_weather", "arguments": json.dumps({"city": "Oslo"})}}]
    assert claude_server.requests[0]["json"]["tool_choice"] == {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True}


def test_a_streamed_answer_is_read_from_claudes_events(claude, claude_server):
    claude_server.enqueue(body=message(text="Open at nine today", usage=(9, 4)))
    answer, text = stream(claude, "/v1/chat/completions", {"messages": [{"role": "user", "content": "hours?"}], "stream_options": {"include_usage": True}})
    chunks = [json.loads(line[6:]) for line in text.split("\n") if line.startswith("data: {")]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == "Open at nine today"
    assert chunks[-1]["usage"]["prompt_tokens"] == 9 and chunks[-1]["usage"]["completion_tokens"] == 4
    assert claude_server.requests[0]["json"]["stream"] is True


def test_a_streamed_tool_use_is_assembled_from_its_json_deltas(claude, claude_server):
    claude_server.enqueue(body=message(tool_use("get_weather", {"city": "Oslo", "days": 3}, "toolu_s"), stop_reason="tool_use"))
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    _, text = stream(claude, "/v1/chat/completions", {"messages": USER, "tools": [tool]})
    chunks = [json.loads(line[6:]) for line in text.split("\n") if line.startswith("data: {")]
    calls = [c["choices"][0]["delta"]["tool_calls"] for c in chunks if c["choices"] and c["choices"][0]["delta"].get("tool_calls")]
    assert json.loads(calls[0][0]["function"]["arguments"]) == {"city": "Oslo", "days": 3}
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]] == ["tool_calls"]


def test_claudes_own_parameters_reach_it_through_the_messages_api(claude, claude_server):
    claude_server.enqueue(body=message(text="Thought about it.", stop_reason="max_tokens"))
    body = {"model": "x", "max_tokens": 2000, "top_k": 5, "thinking": {"type": "enabled", "budget_tokens": 1024}, "messages": USER}
    answer = invoke("openai_api", "POST", "/v1/messages", host=claude.host, body=body, headers={"x-api-key": claude.api_key, "anthropic-version": "2023-06-01"})
    assert answer.status == 200 and answer.body["stop_reason"] == "max_tokens"
    sent = claude_server.requests[0]["json"]
    assert sent["top_k"] == 5 and sent["thinking"] == {"type": "enabled", "budget_tokens": 1024} and sent["max_tokens"] == 2000


def test_claudes_refusal_of_the_request_is_the_callers_400(claude, claude_server):
    claude_server.enqueue(status=400, body=error(400, "max_tokens: too large"))
    answer = chat(claude, {"messages": USER})
    assert answer.status == 400 and answer.body["error"]["code"] == "invalid_request_error"
    assert "max_tokens: too large" in answer.body["error"]["message"] and len(claude_server.requests) == 1


def test_claude_rate_limiting_is_a_429(claude, claude_server):
    for _ in range(2):
        claude_server.enqueue(status=429, body=error(429, "slow down", "rate_limit_error"))
    answer = chat(claude, {"messages": USER})
    assert answer.status == 429 and answer.headers["x-should-retry"] == "false"


def test_claude_overloaded_is_retried_then_a_502_the_sdks_do_not_retry(claude, claude_server):
    claude_server.enqueue(status=529, body=error(529, "Overloaded", "overloaded_error"))
    claude_server.enqueue(status=529, body=error(529, "Overloaded", "overloaded_error"))
    answer = chat(claude, {"messages": USER})
    assert answer.status == 502 and len(claude_server.requests) == 2 and answer.headers["x-should-retry"] == "false"
    claude_server.enqueue(status=529, body=error(529, "Overloaded", "overloaded_error"))
    claude_server.enqueue(body=message(text="Back."))
    assert chat(claude, {"messages": USER}).body["choices"][0]["message"]["content"] == "Back."


def test_a_mid_stream_error_event_ends_the_callers_stream_with_an_error(claude, claude_server):
    claude_server.enqueue(body=message(text="one two three four"), fail_after=5)
    answer, text = stream(claude, "/v1/messages", {"model": "x", "max_tokens": 10, "messages": USER}, **{"anthropic-version": "2023-06-01"})
    assert answer.status == 200
    before, _, after = text.partition("event: error\n")
    assert "event: content_block_delta" in before and "event: message_stop" not in text
    assert json.loads(after.split("data: ", 1)[1])["error"]["message"].startswith("the provider failed mid-stream: Overloaded")
