"""Streamed answers in-process, with real REST API proxy events: the streamed
passthrough, the OpenAI API's stream, and the journal written when a stream
ends, also when the client goes away mid-stream."""

from __future__ import annotations

import json

from support import API_DOMAIN, journal_records

from smarter_local.gateway import LambdaContext, make_event
from smarter_local.openai_server import completion, error

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "ping"}], "stream": True}


def call(function, path, body, *, host, key):
    from support import handler

    headers = {"Content-Type": "application/json", "Host": host, "Authorization": f"Bearer {key}"}
    resource = "/v1/{proxy+}" if function == "passthrough" else path
    event = make_event("POST", path, headers, json.dumps(body).encode(), domain=host, resource=resource)
    return handler(function)(event, LambdaContext(function))


def events(chunks: list[bytes]) -> list[str]:
    return [line[6:] for line in b"".join(chunks).decode().split("\n") if line.startswith("data: ")]


def test_streamed_passthrough_forwards_the_providers_events_and_journals_them(tenant, openai_server):
    openai_server.enqueue(body=completion("pong and more"))
    response = call("passthrough", "/v1/passthrough/openai", {**BODY, "stream_options": {"include_usage": True}}, host=API_DOMAIN, key=tenant.api_key)
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")
    chunks = list(response.body)
    data = events(chunks)
    assert data[-1] == "[DONE]"
    text = "".join((json.loads(d)["choices"] or [{}])[0].get("delta", {}).get("content") or "" for d in data[:-1])
    assert text == "pong and more"
    assert openai_server.requests[-1]["json"]["stream"] is True  # the raw body, unchanged
    record = journal_records(tenant.account, "-")[0]
    assert record["key"] == response.headers["X-Smarter-Journal-Key"]
    assert record["response"]["content"] == "pong and more" and record["response"]["complete"] is True
    assert record["usage"]["total_tokens"] == 20


def test_streamed_passthrough_passes_provider_errors_through_in_the_envelope(tenant, openai_server):
    openai_server.enqueue(status=401, body=error(401, "bad provider key"))
    response = call("passthrough", "/v1/passthrough/openai", BODY, host=API_DOMAIN, key=tenant.api_key)
    assert response["statusCode"] == 401
    body = json.loads(response["body"])
    assert body["data"]["body"]["error"]["message"] == "bad provider key"


def test_streamed_passthrough_still_checks_the_key(tenant, openai_server):
    response = call("passthrough", "/v1/passthrough/openai", BODY, host=API_DOMAIN, key="smk_nope")
    assert response["statusCode"] == 401
    assert json.loads(response["body"])["error"]["type"] == "unauthorized"
    assert openai_server.requests == []


def test_a_client_that_goes_away_mid_stream_still_gets_a_journal_record(tenant, openai_server):
    openai_server.enqueue(body=completion("one two three four five six"), chunk_delay=0.05)
    response = call("openai_api", "/v1/chat/completions", {"messages": [{"role": "user", "content": "count"}], "stream": True},
                    host=tenant.host, key=tenant.api_key)
    assert response.status == 200
    first = next(response.body)
    assert b'"role":"assistant"' in first
    response.close()  # what the gateway does when the client's connection breaks
    record = journal_records(tenant.account, tenant.client)[0]
    assert record["key"] == response.headers["X-Smarter-Journal-Key"]
    assert record["response"]["disconnected"] is True and record["response"]["complete"] is False
    assert record["response"]["content"] == "one"  # what was sent, not what the provider had left


def test_a_provider_failure_mid_stream_ends_with_an_error_event(tenant, openai_server):
    from smarter.errors import ProviderError
    from smarter.llm import streaming

    real = streaming.sse_data

    def breaking(lines):
        for i, payload in enumerate(real(lines)):
            if i == 3:
                raise ProviderError("the provider failed mid-stream: boom")
            yield payload

    streaming.sse_data = breaking
    try:
        openai_server.enqueue(body=completion("a b c d e f"))
        response = call("openai_api", "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "stream": True},
                        host=tenant.host, key=tenant.api_key)
        data = events(list(response.body))
    finally:
        streaming.sse_data = real
    assert json.loads(data[-1])["error"]["code"] == "provider_error"
    record = journal_records(tenant.account, tenant.client)[0]
    assert record["response"]["error"]["status"] == 502


def test_openai_api_errors_are_journaled_in_openai_shape(tenant):
    response = call("openai_api", "/v1/chat/completions", {"messages": []}, host=tenant.host, key=tenant.api_key)
    assert response["statusCode"] == 400
    body = json.loads(response["body"])
    assert body["error"]["type"] == "invalid_request_error" and "messages" in body["error"]["message"]
    record = journal_records(tenant.account, tenant.client)[0]
    assert record["status"] == 400 and record["response"] == body
