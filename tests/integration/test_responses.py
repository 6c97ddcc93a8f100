"""The Responses API in-process, with real REST API proxy events and the
scripted chat-completions provider behind the client: what the bridge sends
the provider, the response object and the typed event stream, stored
responses and who may read them, and each bad input's 400 naming its param."""

from __future__ import annotations

import json

import pytest
from support import journal_records, make_tenant, static_plugin

from smarter_local.gateway import LambdaContext, make_event
from smarter_local.openai_server import completion, tool_calls

WEATHER = {"type": "function", "name": "get_weather", "description": "The weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def call(method: str, path: str, body=None, *, host: str, key: str | None):
    from support import handler

    headers = {"Content-Type": "application/json", "Host": host}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    resource = path if path in ("/v1/responses", "/v1/models") else path[: path.index("/", 4) + 1] + "{proxy+}"
    event = make_event(method, path, headers, json.dumps(body).encode() if body is not None else b"", domain=host, resource=resource)
    return handler("openai_api")(event, LambdaContext("openai_api"))


def post(tenant, body, key=None):
    response = call("POST", "/v1/responses", body, host=tenant.host, key=key or tenant.api_key)
    if hasattr(response, "body"):
        return response
    return response["statusCode"], json.loads(response["body"])


def sse(response) -> list[tuple[str, dict]]:
    text = b"".join(response.body).decode()
    out = []
    for block in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in lines:
            out.append((lines.get("event", ""), json.loads(lines["data"])))
    return out


def test_a_string_input_is_one_user_message_after_the_clients_system_role_and_instructions(tenant, openai_server):
    openai_server.enqueue(body=completion("Hi there."))
    status, body = post(tenant, {"model": "gpt-4o-mini", "input": "Hello", "instructions": "Be brief."})
    assert status == 200, body
    sent = openai_server.requests[-1]["json"]["messages"]
    assert [m["role"] for m in sent] == ["system", "system", "user"]
    assert sent[0]["content"].startswith("You are helpful.") and sent[1]["content"] == "Be brief." and sent[2]["content"] == "Hello"
    assert body["object"] == "response" and body["status"] == "completed" and body["id"].startswith("resp_")
    assert body["output"][0]["type"] == "message" and body["output"][0]["content"][0] == {"type": "output_text", "text": "Hi there.", "annotations": [], "logprobs": []}
    assert body["usage"]["input_tokens"] == 12 and body["usage"]["output_tokens"] == 8 and body["usage"]["total_tokens"] == 20
    assert body["instructions"] == "Be brief."


def test_the_clients_plugin_runs_here_and_the_callers_function_comes_back(tenant, openai_server):
    openai_server.enqueue(body=tool_calls(("support_info", {"inquiry_type": "hours"}), ("get_weather", {"city": "Paris"})))
    status, body = post(tenant, {"input": "Hours, and the weather in Paris?", "tools": [WEATHER]})
    assert status == 200, body
    offered = [t["function"]["name"] for t in openai_server.requests[-1]["json"]["tools"]]
    assert offered == ["support_info", "get_weather"]
    assert [item["type"] for item in body["output"]] == ["function_call"]
    call_item = body["output"][0]
    assert call_item["name"] == "get_weather" and json.loads(call_item["arguments"]) == {"city": "Paris"} and call_item["call_id"] == "call_1_get_weather"
    assert body["smarter"]["tool_calls"][0]["plugin"] == "support_info"


def test_a_function_call_output_continues_from_the_stored_response(tenant, openai_server):
    openai_server.enqueue(body=tool_calls(("get_weather", {"city": "Paris"})))
    _, first = post(tenant, {"input": "Weather in Paris?", "tools": [WEATHER]})
    openai_server.enqueue(body=completion("Sunny in Paris."))
    status, second = post(tenant, {"previous_response_id": first["id"], "tools": [WEATHER],
                                   "input": [{"type": "function_call_output", "call_id": first["output"][0]["call_id"], "output": "sunny, 21 C"}]})
    assert status == 200, second
    sent = openai_server.requests[-1]["json"]["messages"]
    assert [m["role"] for m in sent[1:]] == ["user", "assistant", "tool"]
    assert sent[2]["tool_calls"][0]["id"] == "call_0_get_weather" and sent[3] == {"role": "tool", "tool_call_id": "call_0_get_weather", "content": "sunny, 21 C"}
    assert second["output"][0]["content"][0]["text"] == "Sunny in Paris." and second["previous_response_id"] == first["id"]


def test_a_stored_response_is_read_back_by_its_key_only(aws, openai_server):
    owner = make_tenant(plugins=[static_plugin()])
    _, created = post(owner, {"input": "remember me"})
    response = call("GET", f"/v1/responses/{created['id']}", host=owner.host, key=owner.api_key)
    assert response["statusCode"] == 200 and json.loads(response["body"])["output"] == created["output"]
    # Another key of the same account, allowed on the same client, finds nothing.
    from smarter_admin import manifests

    other = manifests.apply({"apiVersion": "smarter.sh/v1", "kind": "ApiKey", "metadata": {"name": "second-key", "account": owner.account}, "spec": {}})
    response = call("GET", f"/v1/responses/{created['id']}", host=owner.host, key=other["api_key"])
    assert response["statusCode"] == 404
    assert json.loads(response["body"])["error"]["param"] == "response_id"
    status, body = post(owner, {"input": "go on", "previous_response_id": created["id"]}, key=other["api_key"])
    assert status == 400 and body["error"]["param"] == "previous_response_id" and body["error"]["code"] == "previous_response_not_found"
    # Another account's key on its own client host: not found either (and never this account's item).
    stranger = make_tenant("2718-2818-2845", "customer-support")
    response = call("GET", f"/v1/responses/{created['id']}", host=stranger.host, key=stranger.api_key)
    assert response["statusCode"] == 404
    response = call("GET", f"/v1/responses/{created['id']}", host=owner.host, key=stranger.api_key)
    assert response["statusCode"] in (401, 403)


def test_store_false_keeps_nothing(tenant, openai_server):
    _, created = post(tenant, {"input": "forget me", "store": False})
    response = call("GET", f"/v1/responses/{created['id']}", host=tenant.host, key=tenant.api_key)
    assert response["statusCode"] == 404 and created["store"] is False


def test_a_stream_is_the_typed_event_sequence_and_is_journaled(tenant, openai_server):
    openai_server.enqueue(body=tool_calls(("support_info", {"inquiry_type": "hours"})))
    openai_server.enqueue(body=completion("We are open Monday to Friday."))
    response = post(tenant, {"input": "Support hours?", "stream": True})
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")
    events = sse(response)
    kinds = [kind for kind, _ in events]
    assert kinds[:5] == ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added", "response.output_text.delta"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]
    assert all(kind == data["type"] for kind, data in events)
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    text = "".join(data["delta"] for kind, data in events if kind == "response.output_text.delta")
    assert text == "We are open Monday to Friday." and len([k for k in kinds if k.endswith("delta")]) >= 5
    done = events[-1][1]["response"]
    assert done["status"] == "completed" and done["usage"]["total_tokens"] == 40 and done["output"][0]["content"][0]["text"] == text
    record = journal_records(tenant.account, tenant.client)[0]
    assert record["command"] == "responses" and record["response"]["content"] == text and record["response"]["complete"] is True
    assert record["usage"]["total_tokens"] == 40 and record["tool_calls"][0]["plugin"] == "support_info"


def test_a_streamed_function_call_has_its_argument_events(tenant, openai_server):
    openai_server.enqueue(body=tool_calls(("get_weather", {"city": "Paris"})))
    events = sse(post(tenant, {"input": "Weather in Paris?", "tools": [WEATHER], "stream": True}))
    kinds = [kind for kind, _ in events]
    assert kinds == ["response.created", "response.in_progress", "response.output_item.added", "response.function_call_arguments.delta",
                     "response.function_call_arguments.done", "response.output_item.done", "response.completed"]
    assert json.loads(events[4][1]["arguments"]) == {"city": "Paris"}
    assert events[-1][1]["response"]["output"][0]["type"] == "function_call"


def test_a_provider_failure_mid_stream_ends_with_response_failed_and_an_error_event(tenant, openai_server):
    broken = b'data: {"choices":[{"index":0,"delta":{"content":"half"}}]}\n\ndata: {not json\n\n'
    openai_server.enqueue(raw=broken, headers={"Content-Type": "text/event-stream"})
    events = sse(post(tenant, {"input": "hello", "stream": True}))
    kinds = [kind for kind, _ in events]
    assert kinds[2:5] == ["response.output_item.added", "response.content_part.added", "response.output_text.delta"]
    assert kinds[-2:] == ["response.failed", "error"], kinds
    failed, error = events[-2][1]["response"], events[-1][1]
    assert failed["status"] == "failed" and failed["error"]["code"] == "provider_error"
    assert error["code"] == "provider_error" and error["error"]["message"] == error["message"]  # the SDKs raise on `error`
    record = journal_records(tenant.account, tenant.client)[0]
    assert record["response"]["error"]["type"] == "provider_error" and record["response"]["content"] == "half"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "hi", "frobnicate": 1}, "frobnicate"),
        ({"input": "hi", "top_logprobs": 3}, "top_logprobs"),
        ({}, "input"),
        ({"input": 42}, "input"),
        ({"input": []}, "input"),
        ({"input": [{"role": "wizard", "content": "hi"}]}, "input[0].role"),
        ({"input": [{"type": "reasoning", "summary": []}]}, "input[0].type"),
        ({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]}, "input[0].content[0].type"),
        ({"input": "hi", "tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"input": "hi", "tools": [WEATHER, WEATHER]}, "tools[1].name"),
        ({"input": "hi", "tool_choice": {"type": "function", "name": "nope"}}, "tool_choice"),
        ({"input": "hi", "temperature": 5}, "temperature"),
        ({"input": "hi", "max_output_tokens": 0}, "max_output_tokens"),
        ({"input": "hi", "stream": "yes"}, "stream"),
        ({"input": "hi", "reasoning": {"effort": "high"}}, "reasoning"),
        ({"input": "hi", "include": ["message.output_text.logprobs"]}, "include"),
        ({"input": "hi", "background": True}, "background"),
        ({"input": "hi", "text": {"format": {"type": "yaml"}}}, "text.format"),
        ({"input": "hi", "metadata": {"k": 1}}, "metadata"),
        ({"input": "hi", "previous_response_id": "../../etc"}, "previous_response_id"),
        ({"input": "hi", "previous_response_id": "resp_doesnotexist"}, "previous_response_id"),
    ],
)
def test_bad_input_is_a_400_in_the_responses_error_shape_naming_the_param(tenant, openai_server, body, param):
    status, answer = post(tenant, body)
    assert status == 400, answer
    assert set(answer["error"]) == {"message", "type", "param", "code"}
    assert answer["error"]["type"] == "invalid_request_error" and answer["error"]["param"] == param
    assert openai_server.requests == []


def test_the_responses_errors_keep_their_status_codes(tenant, openai_server):
    status, answer = post(tenant, {"input": "hi"}, key="smk_nope")
    assert status == 401 and answer["error"]["type"] == "authentication_error"
    response = call("GET", "/v1/responses", host=tenant.host, key=tenant.api_key)
    assert response["statusCode"] == 405 and response["headers"]["Allow"] == "POST, OPTIONS"
    response = call("POST", "/v1/responses", None, host=tenant.host, key=tenant.api_key)
    assert response["statusCode"] == 400 and json.loads(response["body"])["error"]["type"] == "invalid_request_error"
    for _ in range(3):  # the first call and the gateway's two retries (SMARTER_PROVIDER_MAX_RETRIES)
        openai_server.enqueue(status=503, body={"error": {"message": "overloaded"}})
    status, answer = post(tenant, {"input": "hi"})
    assert status == 502 and answer["error"]["code"] == "provider_error"


def test_models_list_and_retrieve_with_a_stable_created(tenant):
    first = call("GET", "/v1/models", host=tenant.host, key=tenant.api_key)
    listing = json.loads(first["body"])["data"]
    assert [m["id"] for m in listing] == ["gpt-4o-mini"] and listing[0]["smarter"]["surfaces"] == ["chat.completions", "responses"]
    assert listing[0]["created"] > 1_600_000_000
    again = json.loads(call("GET", "/v1/models", host=tenant.host, key=tenant.api_key)["body"])["data"]
    assert again[0]["created"] == listing[0]["created"]
    one = call("GET", "/v1/models/gpt-4o-mini", host=tenant.host, key=tenant.api_key)
    assert one["statusCode"] == 200 and json.loads(one["body"]) == listing[0]
    missing = call("GET", "/v1/models/gpt-9", host=tenant.host, key=tenant.api_key)
    assert missing["statusCode"] == 404
    assert json.loads(missing["body"])["error"] | {"message": ""} == {"message": "", "type": "not_found_error", "code": "model_not_found", "param": "model"}
    assert call("GET", "/v1/models/gpt-4o-mini", host=tenant.host, key=None)["statusCode"] == 401


# --- hostile bodies --------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_TEXT = st.text(max_size=30)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_TEXT, children, max_size=3),
    max_leaves=15,
)
_PART = st.fixed_dictionaries({}, optional={"type": st.sampled_from(["input_text", "output_text", "input_image", "refusal", "x"]) | _JSON,
                                             "text": _TEXT | _JSON, "image_url": _TEXT | _JSON, "refusal": _JSON})
_ITEM = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["message", "function_call", "function_call_output", "reasoning", "item_reference"]) | _JSON,
    "role": st.sampled_from(["user", "assistant", "system", "developer", "tool", "wizard"]) | _JSON,
    "content": _TEXT | st.lists(_PART, max_size=3) | _JSON,
    "call_id": _TEXT | _JSON, "name": _TEXT | _JSON, "arguments": _TEXT | _JSON, "output": _TEXT | st.lists(_PART, max_size=2) | _JSON,
})
_TOOL = st.fixed_dictionaries({}, optional={"type": st.sampled_from(["function", "web_search"]) | _JSON, "name": _TEXT | _JSON,
                                             "parameters": _JSON, "strict": _JSON, "description": _JSON})
RESPONSES_BODIES = st.fixed_dictionaries({}, optional={
    "input": _TEXT | st.lists(_ITEM, max_size=4) | _JSON,
    "instructions": _TEXT | _JSON, "model": _TEXT | _JSON, "tools": st.lists(_TOOL, max_size=2) | _JSON,
    "tool_choice": st.sampled_from(["auto", "none", "required", {"type": "function", "name": "x"}]) | _JSON,
    "text": _JSON | st.just({"format": {"type": "json_schema", "name": "n", "schema": {}}}),
    "previous_response_id": _TEXT | _JSON | st.just("resp_" + "0" * 48), "metadata": _JSON, "store": _JSON,
    "temperature": _JSON, "max_output_tokens": _JSON, "reasoning": _JSON, "include": _JSON, "truncation": _JSON,
    "stream_options": _JSON, "service_tier": _JSON, "background": _JSON, "frobnicate": _JSON,
})


@settings(max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=RESPONSES_BODIES)
def test_hostile_bodies_get_a_4xx_in_the_responses_shape_or_an_answer(tenant, openai_server, body):
    from support import handler

    openai_server.default = None  # the scripted provider echoes
    headers = {"Content-Type": "application/json", "Host": tenant.host, "Authorization": f"Bearer {tenant.api_key}"}
    event = make_event("POST", "/v1/responses", headers, json.dumps({**body, "stream": False}).encode(), domain=tenant.host, resource="/v1/responses")
    response = handler("openai_api")(event, LambdaContext("openai_api"))
    answer = json.loads(response["body"])
    assert response["statusCode"] in (200, 400), answer
    if response["statusCode"] == 400:
        assert set(answer["error"]) == {"message", "type", "param", "code"} and answer["error"]["type"] == "invalid_request_error"
        assert "Traceback" not in answer["error"]["message"]
    else:
        assert answer["object"] == "response" and answer["status"] in ("completed", "incomplete")
