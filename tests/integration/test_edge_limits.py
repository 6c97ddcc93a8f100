"""The edge refuses what it cannot handle with a 4xx naming the problem, never
a 500: encoding, nesting, counts, methods, odd passthrough bodies; answers are
bounded in size; the journal keeps the body, redacted; a 500's log line
carries the journal key."""

from __future__ import annotations

import json
import time

import pytest
from support import API_DOMAIN, handler, invoke, journal_records, prompt

from smarter_local.gateway import LambdaContext, make_event


def send_bytes(function: str, path: str, host: str, data: bytes, key: str, *, method: str = "POST"):
    event = make_event(method, path, {"Content-Type": "application/json", "Authorization": f"Token {key}"}, data, domain=host, resource="/{proxy+}")
    response = handler(function)(event, LambdaContext(function))
    return response["statusCode"], json.loads(response["body"])


def settings_env(monkeypatch, **values):
    for name, value in values.items():
        monkeypatch.setenv(name, str(value))
    from smarter import config

    config.settings.cache_clear()


def clean_error(result, status, words):
    assert result.status == status, result.body
    assert result.body["error"]["status"] == status
    assert words in result.body["error"]["message"], result.body
    assert "Traceback" not in json.dumps(result.body)


PATH_ROUTE = "/v1/accounts/3141-5926-5359/clients/customer-support/prompt"


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "HEAD"])
def test_non_post_on_the_path_route_is_405(tenant, method):
    result = invoke("prompt", method, PATH_ROUTE, host=API_DOMAIN, key=tenant.api_key)
    assert result.status == 405, result.body
    assert result.headers["Allow"] == "POST, OPTIONS"


def test_a_body_that_is_not_utf8_is_400(tenant):
    status, body = send_bytes("prompt", "/", tenant.host, b"\xff{}", tenant.api_key)
    assert status == 400
    assert "not valid UTF-8" in body["error"]["message"]


def test_a_body_marked_base64_that_is_not_is_400(tenant):
    event = make_event("POST", "/", {"Authorization": f"Token {tenant.api_key}"}, b"x", domain=tenant.host, resource="/")
    event.update(body="%%% not base64 %%%", isBase64Encoded=True)
    response = handler("prompt")(event, LambdaContext("prompt"))
    assert response["statusCode"] == 400
    assert "not valid base64" in response["body"]


def test_a_string_body_with_a_lone_surrogate_is_400(tenant):
    event = make_event("POST", "/", {"Authorization": f"Token {tenant.api_key}"}, b"x", domain=tenant.host, resource="/")
    event["body"] = '{"messages": [{"role": "user", "content": "\ud800"}]}'
    response = handler("prompt")(event, LambdaContext("prompt"))
    assert response["statusCode"] == 400


@pytest.mark.parametrize("levels", [40, 1_000, 100_000])
def test_deep_nesting_is_400(tenant, levels):
    raw = '{"messages": [{"role": "user", "content": "hi"}], "x": ' + "[" * levels + "]" * levels + "}"
    result = invoke("prompt", "POST", "/", host=tenant.host, key=tenant.api_key, raw_body=raw)
    clean_error(result, 400, "nested")
    assert journal_records(tenant.account, tenant.client)[0]["status"] == 400


def test_nan_is_not_json(tenant):
    raw = '{"messages": [{"role": "user", "content": "hi"}], "temperature": NaN}'
    clean_error(invoke("prompt", "POST", "/", host=tenant.host, key=tenant.api_key, raw_body=raw), 400, "NaN is not JSON")


def test_more_messages_than_the_cap_is_400_naming_messages_and_quick(tenant):
    body = {"messages": [{"role": "user", "content": "hi"}] * 50_000}
    started = time.monotonic()
    result = prompt(tenant, body=body)
    clean_error(result, 400, "messages: 50000 messages in one request; the limit is 500")
    assert time.monotonic() - started < 5
    assert journal_records(tenant.account, tenant.client)[0]["status"] == 400


def test_the_message_cap_is_a_setting(tenant, monkeypatch):
    settings_env(monkeypatch, SMARTER_MAX_MESSAGES=3)
    assert prompt(tenant, body={"messages": [{"role": "user", "content": "hi"}] * 3}).status == 200
    clean_error(prompt(tenant, body={"messages": [{"role": "user", "content": "hi"}] * 4}), 400, "the limit is 3")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"messages": [1]}, "messages.0"),
        ({"messages": "hi"}, "messages: Input should be a valid list"),
        ({"messages": [{"role": "user", "content": "hi"}], "tools": "x"}, "tools: Input should be a valid list"),
        ({"messages": [{"role": "user"}]}, "a user message needs non-empty content"),
        ({"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function"}]}, "tools.0.function: Field required"),
        ({"messages": [{"role": "user", "content": "hi"}], "tools": [{"function": {"name": 3}}]}, "tools.0.function.name"),
        ({}, "messages: Field required"),
        ([1], "must be a JSON object"),
    ],
)
def test_malformed_bodies_to_the_offline_provider_are_400(tenant, body, words):
    result = invoke("passthrough", "POST", "/v1/passthrough/offline", host=API_DOMAIN, body=body, key=tenant.api_key, scheme="Bearer")
    clean_error(result, 400, words)
    assert journal_records(tenant.account, "-")[0]["status"] == 400


def test_a_wellformed_body_to_the_offline_provider_is_answered(tenant):
    body = {"messages": [{"role": "user", "content": "hello"}], "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]}
    result = invoke("passthrough", "POST", "/v1/passthrough/offline", host=API_DOMAIN, body=body, key=tenant.api_key, scheme="Bearer")
    assert result.status == 200
    assert result.body["data"]["body"]["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "f"


def test_an_answer_over_the_response_cap_is_refused_clearly_and_journaled(tenant, openai_server, monkeypatch):
    from smarter_local.openai_server import completion

    settings_env(monkeypatch, SMARTER_MAX_RESPONSE_BYTES=20_000)
    openai_server.enqueue(body=completion("y" * 30_000))
    result = prompt(tenant, "big answer please")
    clean_error(result, 502, "the limit is 20000 bytes (SMARTER_MAX_RESPONSE_BYTES")
    assert result.body["error"]["type"] == "response_too_large"
    record = journal_records(tenant.account, tenant.client)[0]
    assert record["status"] == 502 and record["refused_response_bytes"] > 30_000
    # The caller never saw the answer, so the session did not keep it.
    from smarter.store import sessions

    assert sessions.load(tenant.account, tenant.client, result.body["metadata"]["session_key"], tenant.key_id) == []


def test_the_request_body_is_journaled_with_secrets_redacted(tenant):
    body = {"messages": [{"role": "user", "content": "my key is sk-abcdefghijklmnopqrstuvwx"}], "api_key": "hunter2-hunter2"}
    prompt(tenant, body=body)
    journaled = journal_records(tenant.account, tenant.client)[0]["request"]["body"]
    assert journaled["api_key"] == "[redacted]"
    assert journaled["messages"][0]["content"] == "my key is [redacted]"


def test_a_large_request_body_is_journaled_as_size_and_digest(tenant, monkeypatch):
    settings_env(monkeypatch, SMARTER_JOURNAL_BODY_BYTES=1000)
    prompt(tenant, "word " * 1000)
    journaled = journal_records(tenant.account, tenant.client)[0]["request"]["body"]
    assert journaled["bytes"] > 5000 and len(journaled["sha256"]) == 64
    assert len(journaled["head"]) <= 1024


def test_the_log_line_of_a_500_carries_the_journal_key(tenant, monkeypatch, caplog):
    from smarter.llm import chat

    def broken(*args, **kwargs):
        raise KeyError("internal detail")

    monkeypatch.setattr(chat, "run_prompt", broken)
    result = prompt(tenant, "hi")
    assert result.status == 500
    key = result.body["metadata"]["key"]
    errors = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert errors and errors[-1].journal_key == key


def test_the_deadline_counts_from_when_api_gateway_received_the_request(tenant, openai_server, monkeypatch):
    """A request that waited 27 s before the function ran (a cold start, a queue)
    has no time left for the provider: 504 at once, journaled."""
    from smarter_local.openai_server import completion

    openai_server.enqueue(delay=10, body=completion("late"))
    event = make_event("POST", "/", {"Authorization": f"Token {tenant.api_key}", "Content-Type": "application/json"}, b'{"messages":[{"role":"user","content":"hi"}]}', domain=tenant.host, resource="/")
    event["requestContext"]["requestTimeEpoch"] = int((time.time() - 26.5) * 1000)
    started = time.monotonic()
    response = handler("prompt")(event, LambdaContext("prompt"))
    assert response["statusCode"] == 504
    assert time.monotonic() - started < 3


def test_the_deadline_obeys_the_functions_remaining_time(tenant, openai_server):
    from smarter_local.openai_server import completion

    openai_server.enqueue(delay=10, body=completion("late"))
    event = make_event("POST", "/", {"Authorization": f"Token {tenant.api_key}", "Content-Type": "application/json"}, b'{"messages":[{"role":"user","content":"hi"}]}', domain=tenant.host, resource="/")
    started = time.monotonic()
    response = handler("prompt")(event, LambdaContext("prompt", timeout_s=4))
    assert response["statusCode"] == 504
    assert time.monotonic() - started < 3.5  # 4 s left less the 2 s journal reserve


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [("GET", "/v1/passthrough/openai", "POST, OPTIONS"), ("DELETE", "/v1/passthrough/offline", "POST, OPTIONS"), ("POST", "/v1/providers", "GET, OPTIONS"), ("PUT", "/v1/whoami", "GET, OPTIONS")],
)
def test_wrong_methods_on_platform_routes_are_405(tenant, method, path, allow):
    result = invoke("passthrough", method, path, host=API_DOMAIN, key=tenant.api_key, body={} if method != "GET" else None)
    assert result.status == 405, result.body
    assert result.headers["Allow"] == allow
