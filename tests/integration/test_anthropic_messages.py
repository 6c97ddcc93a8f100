"""Anthropic's Messages API on a client host, in-process with real REST API
proxy events, bridged onto the scripted OpenAI-format provider on loopback:
what reaches the provider, what comes back in Anthropic's shape, streamed
events, errors, the journal."""

from __future__ import annotations

import json

import pytest
from support import invoke, journal_records

from smarter_local.gateway import LambdaContext, make_event
from smarter_local.openai_server import completion, tool_calls

VERSION = {"anthropic-version": "2023-06-01"}
WEATHER = {"name": "get_weather", "description": "The weather in a city", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}


def messages(tenant, body, *, path="/v1/messages", headers=None, key=None):
    headers = {**VERSION, "x-api-key": key or tenant.api_key, **(headers or {})}
    return invoke("openai_api", "POST", path, host=tenant.host, body=body, headers=headers)


def events_of(tenant, body):
    from support import handler

    headers = {"Content-Type": "application/json", "Host": tenant.host, "x-api-key": tenant.api_key, **VERSION}
    event = make_event("POST", "/v1/messages", headers, json.dumps({**body, "stream": True}).encode(), domain=tenant.host, resource="/v1/messages")
    answer = handler("openai_api")(event, LambdaContext("openai_api"))
    text = b"".join(answer.body).decode()
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        out.append((lines["event"], json.loads(lines["data"])))
    return answer, out


def test_a_message_runs_the_clients_plugins_and_answers_in_anthropics_shape(tenant, openai_server):
    openai_server.enqueue(body=tool_calls(("support_info", {"inquiry_type": "hours"})))
    openai_server.enqueue(body=completion("We open at nine."))
    answer = messages(tenant, {"model": "claude-x", "max_tokens": 100, "system": "Be brief.", "messages": [{"role": "user", "content": "When are you open?"}]})
    assert answer.status == 200
    body = answer.body
    assert body["type"] == "message" and body["role"] == "assistant" and body["stop_reason"] == "end_turn"
    assert body["content"] == [{"type": "text", "text": "We open at nine."}]
    assert body["usage"] == {"input_tokens": 24, "output_tokens": 16}  # both rounds
    assert body["model"] == "gpt-4o-mini"  # the client's model: overrides are off
    first = openai_server.requests[0]["json"]
    assert first["messages"][0]["content"].startswith("You are helpful.")  # the client's system role first
    assert first["messages"][1] == {"role": "system", "content": "Be brief."}
    assert first["max_completion_tokens"] == 100 and "max_tokens" not in first
    assert answer.headers["request-id"] == answer.headers["X-Smarter-Journal-Key"]
    record = journal_records(tenant.account, tenant.client)[0]
    assert record["command"] == "messages" and record["status"] == 200


def test_a_caller_tool_call_is_a_tool_use_block_and_its_result_continues(tenant, openai_server):
    openai_server.enqueue(body=tool_calls(("get_weather", {"city": "Oslo"})))
    asked = messages(tenant, {"model": "m", "max_tokens": 50, "tools": [WEATHER], "tool_choice": {"type": "any"}, "messages": [{"role": "user", "content": "Weather in Oslo?"}]})
    assert asked.status == 200 and asked.body["stop_reason"] == "tool_use"
    use = asked.body["content"][-1]
    assert use == {"type": "tool_use", "id": "call_0_get_weather", "name": "get_weather", "input": {"city": "Oslo"}}
    sent = openai_server.requests[-1]["json"]
    assert sent["tool_choice"] == "required" and sent["tools"][-1]["function"]["parameters"] == WEATHER["input_schema"]
    openai_server.enqueue(body=completion("It is sunny."))
    history = [{"role": "user", "content": "Weather in Oslo?"}, {"role": "assistant", "content": asked.body["content"]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use["id"], "content": [{"type": "text", "text": "sunny"}]}]}]
    done = messages(tenant, {"model": "m", "max_tokens": 50, "tools": [WEATHER], "messages": history})
    assert done.status == 200 and done.body["content"] == [{"type": "text", "text": "It is sunny."}]
    sent = openai_server.requests[-1]["json"]["messages"]
    assert sent[-2]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": json.dumps({"city": "Oslo"})}
    assert sent[-1] == {"role": "tool", "tool_call_id": use["id"], "content": "sunny"}


def test_a_streamed_message_is_anthropics_event_sequence(tenant, openai_server):
    openai_server.enqueue(body=completion("Hello there friend", usage=(5, 3)))
    answer, events = events_of(tenant, {"model": "m", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]})
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert names[-4:] == ["content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    assert all(data["type"] == name for name, data in events)
    text = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")
    assert text == "Hello there friend"
    delta = dict(events)["message_delta"]
    assert delta["delta"]["stop_reason"] == "end_turn" and delta["usage"] == {"input_tokens": 5, "output_tokens": 3}
    assert answer.headers["request-id"]


def test_a_streamed_tool_use_is_a_tool_use_block_with_its_input_json(tenant, openai_server):
    openai_server.enqueue(body=tool_calls(("get_weather", {"city": "Oslo"})))
    _, events = events_of(tenant, {"model": "m", "max_tokens": 20, "tools": [WEATHER], "messages": [{"role": "user", "content": "Oslo?"}]})
    starts = [d["content_block"] for n, d in events if n == "content_block_start"]
    assert starts == [{"type": "tool_use", "id": "call_0_get_weather", "name": "get_weather", "input": {}}]
    partial = [d["delta"] for n, d in events if n == "content_block_delta"]
    assert partial == [{"type": "input_json_delta", "partial_json": json.dumps({"city": "Oslo"})}]
    assert dict(events)["message_delta"]["delta"]["stop_reason"] == "tool_use"


def test_max_tokens_from_the_provider_is_anthropics_max_tokens_stop(tenant, openai_server):
    cut = completion("cut")
    cut["choices"][0]["finish_reason"] = "length"
    openai_server.enqueue(body=cut)
    assert messages(tenant, {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]}).body["stop_reason"] == "max_tokens"


def test_bearer_works_as_well_as_x_api_key(tenant):
    answer = invoke("openai_api", "POST", "/v1/messages", host=tenant.host, key=tenant.api_key, scheme="Bearer", headers=VERSION,
                    body={"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})
    assert answer.status == 200


@pytest.mark.parametrize(
    ("body", "headers", "status", "kind", "named"),
    [
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}]}, {}, 400, "invalid_request_error", "max_tokens"),
        ({"model": "m", "max_tokens": 5, "messages": []}, {}, 400, "invalid_request_error", "messages"),
        ({"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}, {}, 400, "invalid_request_error", "messages.0.role"),
        ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]}, {}, 400, "invalid_request_error", "messages.0.content"),
        ({"model": "m", "max_tokens": 5, "thinking": {"type": "enabled", "budget_tokens": 1024}, "messages": [{"role": "user", "content": "hi"}]}, {}, 400, "invalid_request_error", "thinking"),
        ({"model": "m", "max_tokens": 5, "top_k": 5, "messages": [{"role": "user", "content": "hi"}]}, {}, 400, "invalid_request_error", "top_k"),
        ({"model": "m", "max_tokens": 5, "nonsense": 1, "messages": [{"role": "user", "content": "hi"}]}, {}, 400, "invalid_request_error", "nonsense"),
        ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}, {"anthropic-version": "latest"}, 400, "invalid_request_error", "anthropic-version"),
        ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}, {"x-api-key": "smk_nope"}, 401, "authentication_error", "API key"),
        ("not an object", {}, 400, "invalid_request_error", "JSON object"),
    ],
)
def test_bad_input_gets_anthropics_error_shape_and_a_4xx(tenant, openai_server, body, headers, status, kind, named):
    answer = messages(tenant, body, headers=headers)
    assert answer.status == status
    assert answer.body["type"] == "error" and answer.body["error"]["type"] == kind
    assert named in answer.body["error"]["message"]
    assert answer.body["request_id"] == answer.headers["request-id"]
    assert openai_server.requests == []


def test_a_missing_version_header_is_refused(tenant):
    answer = invoke("openai_api", "POST", "/v1/messages", host=tenant.host, headers={"x-api-key": tenant.api_key},
                    body={"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})
    assert answer.status == 400 and "anthropic-version" in answer.body["error"]["message"]


def test_a_get_is_405_in_anthropics_shape(tenant):
    answer = invoke("openai_api", "GET", "/v1/messages", host=tenant.host, headers={**VERSION, "x-api-key": tenant.api_key})
    assert answer.status == 405 and answer.body["error"]["type"] == "invalid_request_error"


def test_a_provider_failure_is_anthropics_api_error(tenant, openai_server):
    for _ in range(2):
        openai_server.enqueue(status=500, body={"error": {"message": "down"}})
    answer = messages(tenant, {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})
    assert answer.status == 502 and answer.body["error"]["type"] == "api_error" and answer.headers["x-should-retry"] == "false"


def test_count_tokens_estimates_the_input(tenant, openai_server):
    short = messages(tenant, {"model": "m", "messages": [{"role": "user", "content": "hi"}]}, path="/v1/messages/count_tokens")
    long = messages(tenant, {"model": "m", "messages": [{"role": "user", "content": "hi " * 300}], "tools": [WEATHER]}, path="/v1/messages/count_tokens")
    assert short.status == 200 and long.status == 200
    assert 0 < short.body["input_tokens"] < long.body["input_tokens"]
    assert openai_server.requests == []  # no provider call


def test_a_browser_preflight_allows_the_anthropic_sdks_headers(tenant):
    from smarter import config

    answer = invoke("openai_api", "OPTIONS", "/v1/messages", host=tenant.host, headers={"Origin": "https://page.example.com", "Access-Control-Request-Method": "POST"})
    config.settings.cache_clear()
    assert answer.status == 204
    allowed = answer.headers["Access-Control-Allow-Headers"].lower()
    assert all(name in allowed for name in ("x-api-key", "anthropic-version", "anthropic-dangerous-direct-browser-access"))
