"""Wire fidelity of /v1/chat/completions, in-process with real REST API proxy
events, against the scripted provider on loopback that logs what it receives:
what the caller sent reaches the provider as sent (or is refused by name),
and what the provider answered reaches the caller as answered."""

from __future__ import annotations

import json

import pytest
from support import invoke

from smarter_local.openai_server import completion, error

USER = [{"role": "user", "content": "ping"}]


def chat(tenant, body, **headers):
    return invoke("openai_api", "POST", "/v1/chat/completions", host=tenant.host, body=body, key=tenant.api_key, scheme="Bearer", headers=headers or None)


def open_stream(tenant, body):
    from smarter_local.gateway import LambdaContext, make_event
    from support import handler

    headers = {"Content-Type": "application/json", "Host": tenant.host, "Authorization": f"Bearer {tenant.api_key}"}
    event = make_event("POST", "/v1/chat/completions", headers, json.dumps({**body, "stream": True}).encode(), domain=tenant.host, resource="/v1/chat/completions")
    return handler("openai_api")(event, LambdaContext("openai_api"))


def streamed(tenant, body):
    answer = open_stream(tenant, body)
    data = b"".join(answer.body).decode()
    return answer, [json.loads(line[6:]) for line in data.split("\n") if line.startswith("data: {")]


def sent(openai_server) -> dict:
    return openai_server.requests[-1]["json"]


def test_a_streamed_length_finish_arrives_as_length(tenant, openai_server):
    cut = completion("cut short")
    cut["choices"][0]["finish_reason"] = "length"
    openai_server.enqueue(body=cut)
    _, chunks = streamed(tenant, {"messages": USER})
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c.get("choices") and c["choices"][0].get("finish_reason")]
    assert finishes == ["length"]


def test_a_buffered_length_finish_arrives_as_length(tenant, openai_server):
    cut = completion("cut short")
    cut["choices"][0]["finish_reason"] = "length"
    openai_server.enqueue(body=cut)
    assert chat(tenant, {"messages": USER}).body["choices"][0]["finish_reason"] == "length"


def test_max_completion_tokens_is_forwarded_under_its_own_name(tenant, openai_server):
    assert chat(tenant, {"messages": USER, "max_completion_tokens": 77}).status == 200
    body = sent(openai_server)
    assert body["max_completion_tokens"] == 77 and "max_tokens" not in body


def test_max_tokens_is_forwarded_under_its_own_name_capped_by_the_client(tenant, openai_server):
    assert chat(tenant, {"messages": USER, "max_tokens": 10**6}).status == 200
    body = sent(openai_server)
    assert body["max_tokens"] == 2048 and "max_completion_tokens" not in body  # defaultMaxTokens is a ceiling


def test_without_a_cap_openai_gets_the_clients_ceiling_as_max_completion_tokens(tenant, openai_server):
    assert chat(tenant, {"messages": USER}).status == 200
    body = sent(openai_server)
    assert "max_tokens" not in body and body["max_completion_tokens"] == 2048


def test_both_caps_at_once_are_refused_by_name(tenant, openai_server):
    answer = chat(tenant, {"messages": USER, "max_tokens": 5, "max_completion_tokens": 5})
    assert answer.status == 400 and answer.body["error"]["param"] == "max_tokens"
    assert openai_server.requests == []


def test_openai_parameters_are_forwarded_and_logprobs_come_back(tenant, openai_server):
    answered = completion("hi")
    logprobs = {"content": [{"token": "hi", "logprob": -0.1, "bytes": [104, 105], "top_logprobs": []}]}
    answered["choices"][0]["logprobs"] = logprobs
    openai_server.enqueue(body=answered)
    params = {"logprobs": True, "top_logprobs": 2, "reasoning_effort": "low", "service_tier": "flex", "metadata": {"run": "7"},
              "store": False, "parallel_tool_calls": False, "seed": 42}
    answer = chat(tenant, {"messages": USER, **params})
    assert answer.status == 200
    assert {k: sent(openai_server)[k] for k in params} == params
    assert answer.body["choices"][0]["logprobs"] == logprobs


def test_streamed_logprobs_come_back(tenant, openai_server):
    answered = completion("hi")
    answered["choices"][0]["logprobs"] = {"content": [{"token": "hi", "logprob": -0.1, "bytes": None, "top_logprobs": []}]}
    openai_server.enqueue(body=answered)
    _, chunks = streamed(tenant, {"messages": USER, "logprobs": True})
    got = [c["choices"][0]["logprobs"] for c in chunks if c.get("choices") and c["choices"][0].get("logprobs")]
    assert got == [answered["choices"][0]["logprobs"]]


def test_a_parameter_the_provider_does_not_take_is_refused_by_name(aws, openai_server):
    from support import make_tenant

    offline = make_tenant(client="offline-client", provider="offline")
    answer = chat(offline, {"messages": USER, "logprobs": True})
    assert answer.status == 400
    assert answer.body["error"] == {"message": answer.body["error"]["message"], "type": "invalid_request_error", "code": "unsupported_parameter", "param": "logprobs"}
    assert "offline" in answer.body["error"]["message"]


def test_an_unknown_field_is_refused_by_name_as_openai_does(tenant, openai_server):
    answer = chat(tenant, {"messages": USER, "vendor_x": 1})
    assert answer.status == 400 and answer.body["error"]["code"] == "unknown_parameter" and answer.body["error"]["param"] == "vendor_x"
    assert openai_server.requests == []


def test_a_provider_400_is_the_callers_400_with_the_providers_code_and_param(tenant, openai_server):
    refusal = {"error": {"message": "max_tokens is not supported with this model.", "type": "invalid_request_error", "param": "max_tokens", "code": "unsupported_parameter"}}
    openai_server.enqueue(status=400, body=refusal)
    answer = chat(tenant, {"messages": USER, "max_tokens": 5})
    assert answer.status == 400
    assert answer.body["error"]["code"] == "unsupported_parameter" and answer.body["error"]["param"] == "max_tokens"
    assert len(openai_server.requests) == 1  # a 400 is never retried


def test_a_streamed_provider_400_is_the_callers_400(tenant, openai_server):
    openai_server.enqueue(status=400, body=error(400, "bad model"))
    answer = open_stream(tenant, {"messages": USER})
    assert answer["statusCode"] == 400 and json.loads(answer["body"])["error"]["type"] == "invalid_request_error"


def test_a_provider_401_stays_a_502_since_it_is_the_platforms_key(tenant, openai_server):
    openai_server.enqueue(status=401, body=error(401, "bad key"))
    assert chat(tenant, {"messages": USER}).status == 502


def test_after_the_gateways_retries_the_sdks_are_told_not_to_retry(tenant, openai_server):
    openai_server.enqueue(status=500, body=error(500, "boom"))
    openai_server.enqueue(status=500, body=error(500, "boom"))
    answer = chat(tenant, {"messages": USER})
    assert answer.status == 502
    assert len(openai_server.requests) == 2  # SMARTER_PROVIDER_MAX_RETRIES=1: one retry here
    assert answer.headers["x-should-retry"] == "false"


def test_a_first_try_failure_leaves_the_sdks_free_to_retry(tenant, openai_server, monkeypatch):
    from smarter import config

    monkeypatch.setenv("SMARTER_PROVIDER_MAX_RETRIES", "0")
    config.settings.cache_clear()
    openai_server.enqueue(status=500, body=error(500, "boom"))
    answer = chat(tenant, {"messages": USER})
    assert answer.status == 502 and "x-should-retry" not in answer.headers and len(openai_server.requests) == 1


@pytest.mark.parametrize(("body", "param"), [({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"), ({"messages": USER, "temperature": 9}, "temperature")])
def test_a_bad_field_is_named_in_param(tenant, body, param):
    answer = chat(tenant, body)
    assert answer.status == 400 and answer.body["error"]["param"] == param and answer.body["error"]["code"] == "invalid_value"


def test_a_bad_key_gets_openais_code(tenant):
    answer = invoke("openai_api", "POST", "/v1/chat/completions", host=tenant.host, body={"messages": USER}, key="sk-not-a-key", scheme="Bearer")
    assert answer.status == 401 and answer.body["error"]["code"] == "invalid_api_key"


def test_a_body_over_the_limit_is_a_400_the_sdks_have_a_class_for(tenant, monkeypatch):
    from smarter import config

    monkeypatch.setenv("SMARTER_MAX_BODY_BYTES", "2000")
    config.settings.cache_clear()
    answer = chat(tenant, {"messages": [{"role": "user", "content": "x" * 5000}]})
    assert answer.status == 400 and answer.body["error"]["code"] == "request_too_large"


def test_every_answer_has_an_x_request_id_the_journal_key(tenant, openai_server):
    ok = chat(tenant, {"messages": USER})
    bad = chat(tenant, {"messages": []})
    for answer in (ok, bad):
        assert answer.headers["x-request-id"] == answer.headers["X-Smarter-Journal-Key"]


def test_an_unknown_v1_path_on_a_client_host_is_openais_404(tenant):
    for function in ("openai_api", "passthrough"):
        answer = invoke(function, "POST", "/v1/nope", host=tenant.host, body={}, key=tenant.api_key, scheme="Bearer")
        assert answer.status == 404, function
        assert answer.body["error"]["type"] == "not_found_error" and answer.body["error"]["code"] == "unknown_url"
        assert answer.headers["x-request-id"]


def test_models_created_is_the_same_on_every_call(tenant):
    first = invoke("openai_api", "GET", "/v1/models", host=tenant.host, key=tenant.api_key, scheme="Bearer")
    second = invoke("openai_api", "GET", "/v1/models", host=tenant.host, key=tenant.api_key, scheme="Bearer")
    assert first.status == 200 and first.body["data"][0]["created"] == second.body["data"][0]["created"]


@pytest.fixture
def gateway(aws):
    """The local API Gateway on loopback in this process, for the real SDKs."""
    from support import API_DOMAIN

    from smarter_local.gateway import Gateway
    from smarter_local.stack import free_port

    served = Gateway(api_domain=API_DOMAIN, port=free_port())
    served.serve_in_thread()
    yield served
    served.stop()


def sdk(gateway, tenant, retries: int):
    import openai

    return openai.OpenAI(base_url=f"http://127.0.0.1:{gateway.port}/v1", api_key=tenant.api_key, default_headers={"Host": tenant.host}, max_retries=retries, timeout=30)


def test_the_openai_sdk_adds_no_retries_once_the_gateway_has_retried(tenant, openai_server, gateway):
    import openai

    for _ in range(6):
        openai_server.enqueue(status=500, body=error(500, "boom"))
    with pytest.raises(openai.InternalServerError) as raised:
        sdk(gateway, tenant, retries=2).chat.completions.create(model="m", messages=USER)
    assert raised.value.response.headers["x-should-retry"] == "false"
    assert len(openai_server.requests) == 2  # 1 + the gateway's 1 retry; without the header, 3 SDK tries x 2 = 6


def test_a_provider_400_reaches_the_openai_sdk_as_a_bad_request_tried_once(tenant, openai_server, gateway):
    import openai

    openai_server.enqueue(status=400, body={"error": {"message": "bad stop", "type": "invalid_request_error", "param": "stop", "code": "invalid_value"}})
    with pytest.raises(openai.BadRequestError) as raised:
        sdk(gateway, tenant, retries=2).chat.completions.create(model="m", messages=USER, stop=["x"])
    assert raised.value.param == "stop" and raised.value.code == "invalid_value"
    assert len(openai_server.requests) == 1  # a 502 would have been retried by the SDK
