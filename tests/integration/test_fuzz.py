"""Property-based fuzzing of every route through real API Gateway events.

Hypothesis generates methods, paths, hosts, Authorization headers and bodies
(random bytes, random JSON, almost-right prompt and passthrough bodies, deep
nesting) and hands each to the Lambda handler as the REST proxy event API
Gateway would send. For every one:

- no 5xx, except a provider fault mapped to 502/504;
- the answer is a valid envelope whose error status matches the HTTP status;
- the request is journaled under the key the answer names.

The provider behind the tenant's client is the scripted loopback server
(answering normally) and the offline provider; the run is kept to well under
a minute with `max_examples`."""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import API_DOMAIN, handler

from smarter_local.gateway import LambdaContext, make_event

FUZZ = settings(
    max_examples=70,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROVIDER_FAULTS = {502, 504}
METHODS = st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
ROLES = st.sampled_from(["system", "user", "assistant", "tool", "wizard", "", None])
TEXT = st.text(max_size=40)
IDS = st.text(alphabet=string.ascii_letters + string.digits + "-_./%~ \u00e9\u2603", max_size=24)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=20,
)
content = st.one_of(TEXT, st.none(), st.integers(), st.lists(st.dictionaries(st.sampled_from(["type", "text", "image_url"]), json_values, max_size=3), max_size=3), json_values)
message = st.fixed_dictionaries(
    {},
    optional={
        "role": ROLES,
        "content": content,
        "name": json_values,
        "tool_calls": st.one_of(json_values, st.lists(st.fixed_dictionaries({"id": TEXT, "function": st.one_of(json_values, st.fixed_dictionaries({"name": TEXT, "arguments": TEXT}))}), max_size=2)),
        "tool_call_id": st.one_of(TEXT, json_values),
    },
)
chat_body = st.fixed_dictionaries(
    {},
    optional={
        "messages": st.one_of(st.lists(message, max_size=5), json_values),
        "session_key": st.one_of(TEXT, json_values),
        "model": st.one_of(TEXT, json_values),
        "tools": st.one_of(json_values, st.lists(st.fixed_dictionaries({"type": TEXT, "function": st.one_of(json_values, st.fixed_dictionaries({"name": TEXT}, optional={"parameters": json_values}))}), max_size=2)),
        "temperature": json_values,
        "usage": json_values,
    },
)
deep = st.integers(min_value=20, max_value=3000).map(lambda n: ("[" * n + "]" * n).encode())
bodies = st.one_of(
    st.just(b""),
    st.binary(max_size=64),
    json_values.map(lambda v: json.dumps(v).encode()),
    chat_body.map(lambda v: json.dumps(v).encode()),
    chat_body.map(lambda v: json.dumps(v).encode()[: max(len(json.dumps(v)) // 2, 1)]),  # cut short
    deep,
    st.just('{"messages":[{"role":"user","content":"hi"}]}'.encode()),
)


def keys(tenant, limited_key):
    return st.sampled_from(
        [
            None,
            f"Token {tenant.api_key}",
            f"Bearer {tenant.api_key}",
            f"Bearer {tenant.api_key}",
            f"Token {limited_key}",
            "Token smk_000000000000_notarealkeyatallxxxxxxxxxxxx",
            "Basic abc",
            "Bearer",
            "Token  \t",
        ]
    ) | TEXT.map(lambda t: f"Bearer {t}")


def prompt_routes(tenant):
    return st.one_of(
        st.tuples(st.just(tenant.host), st.sampled_from(["/", "/prompt", "/prompt/"])),
        st.tuples(st.just(API_DOMAIN), st.just(f"/v1/accounts/{tenant.account}/clients/{tenant.client}/prompt")),
        st.tuples(st.just(API_DOMAIN), st.builds(lambda a, c: f"/v1/accounts/{a}/clients/{c}/prompt", IDS, IDS)),
        st.tuples(st.sampled_from([tenant.host, API_DOMAIN, "api.unknown.org", f"x.{tenant.account}.{API_DOMAIN}", ""]), IDS.map(lambda p: "/" + p)),
    )


def platform_routes(tenant):
    return st.one_of(
        st.tuples(st.just(API_DOMAIN), st.sampled_from(["/v1/passthrough/offline", "/v1/passthrough/openai", "/v1/providers", "/v1/whoami"])),
        st.tuples(st.just(API_DOMAIN), IDS.map(lambda p: f"/v1/passthrough/{p}")),
        st.tuples(st.sampled_from([API_DOMAIN, tenant.host, "api.unknown.org"]), IDS.map(lambda p: f"/v1/{p}")),
    )


@pytest.fixture
def fuzz_tenant(tenant, monkeypatch):
    from smarter import config
    from smarter.tenancy import auth

    monkeypatch.setenv("SMARTER_MAX_BODY_BYTES", "20000")
    config.settings.cache_clear()
    limited, _ = auth.create_key(tenant.account, "limited", clients=[tenant.client])
    return tenant, limited


def call(function: str, method: str, host: str, path: str, authorization: str | None, body: bytes, content_type: str | None) -> dict:
    headers = {"Host": host}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if authorization is not None:
        headers["Authorization"] = authorization
    resource = "/v1/{proxy+}" if function == "passthrough" else ("/" if path == "/" else "/{proxy+}")
    event = make_event(method, path, headers, body, domain=host, resource=resource)
    return handler(function)(event, LambdaContext(function))


def check(response: dict, journal_keys: list[str]) -> None:
    status = response["statusCode"]
    assert status < 500 or status in PROVIDER_FAULTS, response
    key = (response.get("headers") or {}).get("X-Smarter-Journal-Key")
    assert key, response
    journal_keys.append(key)
    text = response.get("body") or ""
    if status == 204 or not text:  # a CORS preflight
        return
    envelope = json.loads(text)
    assert envelope["api"] == "smarter.sh/v1"
    assert envelope["metadata"]["key"] == key
    assert isinstance(envelope["thing"], str) and isinstance(envelope["metadata"]["command"], str)
    if status >= 400:
        assert set(envelope["error"]) == {"type", "message", "status"}
        assert envelope["error"]["status"] == status
        assert "Traceback" not in envelope["error"]["message"]
    else:
        assert "data" in envelope and "error" not in envelope


def assert_all_journaled(journal_keys: list[str]) -> None:
    from smarter.config import settings as conf
    from smarter.store import aws

    found: set[str] = set()
    paginator = aws.client("dynamodb").get_paginator("scan")
    for page in paginator.paginate(TableName=conf().journal_table, ProjectionExpression="sk"):
        found.update(item["sk"]["S"] for item in page["Items"])
    missing = [k for k in journal_keys if k not in found]
    assert not missing, f"{len(missing)} of {len(journal_keys)} requests were not journaled"


def fuzz(function: str, method, route, authorization, body, content_type) -> None:
    journal_keys: list[str] = []
    stats: dict[int, int] = {}

    @FUZZ
    @given(method=method, route=route, authorization=authorization, body=body, content_type=content_type)
    def run(method, route, authorization, body, content_type):
        host, path = route
        response = call(function, method, host, path, authorization, body, content_type)
        stats[response["statusCode"]] = stats.get(response["statusCode"], 0) + 1
        if function == "passthrough" and host != API_DOMAIN and path.startswith("/v1/"):
            check_other_surfaces(response, journal_keys)  # a client host's /v1 path: the OpenAI function answers it
        else:
            check(response, journal_keys)

    run()
    print(f"{function}: answers by status {dict(sorted(stats.items()))}")
    assert_all_journaled(journal_keys)


CONTENT_TYPES = st.sampled_from(["application/json", "application/json", "application/octet-stream", "text/plain; charset=latin-1", None])


def test_prompt_bodies_never_fail_the_prompt_api(fuzz_tenant):
    tenant, _ = fuzz_tenant
    routes = st.tuples(st.just(tenant.host), st.sampled_from(["/", "/prompt", "/prompt/"])) | st.just(
        (API_DOMAIN, f"/v1/accounts/{tenant.account}/clients/{tenant.client}/prompt")
    )
    fuzz("prompt", st.just("POST"), routes, st.sampled_from([f"Token {tenant.api_key}", f"Bearer {tenant.api_key}"]), bodies, CONTENT_TYPES)


def test_any_request_never_fails_the_prompt_function(fuzz_tenant):
    tenant, limited = fuzz_tenant
    fuzz("prompt", METHODS, prompt_routes(tenant), keys(tenant, limited), bodies, CONTENT_TYPES)


def test_passthrough_bodies_never_fail_the_passthrough(fuzz_tenant):
    tenant, _ = fuzz_tenant
    routes = st.tuples(st.just(API_DOMAIN), st.sampled_from(["/v1/passthrough/offline", "/v1/passthrough/offline", "/v1/passthrough/openai"]))
    fuzz("passthrough", st.just("POST"), routes, st.just(f"Bearer {tenant.api_key}"), bodies, CONTENT_TYPES)


def test_any_request_never_fails_the_platform_function(fuzz_tenant):
    tenant, limited = fuzz_tenant
    fuzz("passthrough", METHODS, platform_routes(tenant), keys(tenant, limited), bodies, CONTENT_TYPES)


# --- the OpenAI-compatible API (its answers are OpenAI's wire format, not the envelope) ---


def answered(response: Any, journal_keys: list[str]) -> tuple[int, str, Any]:
    """(status, journal key, JSON body or None for a preflight) of a buffered answer that is no server fault and was journaled."""
    assert isinstance(response, dict), "a buffered request got a streamed answer"
    status = response["statusCode"]
    assert status < 500 or status in PROVIDER_FAULTS, response
    key = (response.get("headers") or {}).get("X-Smarter-Journal-Key")
    assert key, response
    journal_keys.append(key)
    return status, key, None if status == 204 else json.loads(response["body"])


def check_openai(response: Any, journal_keys: list[str]) -> None:
    status, _, body = answered(response, journal_keys)
    if body is None:
        return
    if status >= 400:
        assert set(body["error"]) >= {"message", "type", "code"}
        assert "Traceback" not in body["error"]["message"]
    else:
        assert body["object"] in ("chat.completion", "list")


def test_any_request_never_fails_the_openai_api(fuzz_tenant):
    tenant, limited = fuzz_tenant
    journal_keys: list[str] = []
    # Bodies without "stream": a streamed answer is a different shape, tested in test_streaming.
    openai_bodies = bodies.filter(lambda b: b'"stream"' not in b)

    @FUZZ
    @given(
        method=st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "OPTIONS"]),
        path=st.sampled_from(["/v1/chat/completions", "/v1/chat/completions/", "/v1/models"]),
        authorization=keys(tenant, limited),
        body=openai_bodies,
    )
    def run(method, path, authorization, body):
        headers = {"Host": tenant.host, "Content-Type": "application/json"}
        if authorization is not None:
            headers["Authorization"] = authorization
        event = make_event(method, path, headers, body, domain=tenant.host, resource=path.rstrip("/"))
        check_openai(handler("openai_api")(event, LambdaContext("openai_api")), journal_keys)

    run()
    assert_all_journaled(journal_keys)


# --- Anthropic's Messages API and embeddings on the same function (each its own error shape),
# and any /v1 path of a client host ---


def check_other_surfaces(response: Any, journal_keys: list[str]) -> None:
    status, key, body = answered(response, journal_keys)
    if body is None:
        return
    if status >= 400:
        error = body["error"]
        assert isinstance(error.get("message"), str) and isinstance(error.get("type"), str) and "Traceback" not in error["message"]
        if body.get("type") == "error":  # Anthropic's shape
            assert body["request_id"] == key
    else:
        assert body.get("type") == "message" or "input_tokens" in body or body.get("object") in ("list", "chat.completion"), body


block = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "tool_use", "tool_result", "image", "document", "thinking", 7])},
    optional={"text": json_values, "id": json_values, "name": json_values, "input": json_values, "tool_use_id": json_values,
              "content": st.one_of(TEXT, st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": TEXT}), max_size=2), json_values),
              "source": st.one_of(json_values, st.fixed_dictionaries({"type": st.sampled_from(["base64", "url"])}, optional={"data": TEXT, "media_type": TEXT, "url": TEXT}))},
)
anthropic_message = st.fixed_dictionaries({}, optional={"role": st.sampled_from(["user", "assistant", "system", None]), "content": st.one_of(TEXT, st.lists(block, max_size=3), json_values)})
messages_body = st.fixed_dictionaries(
    {},
    optional={
        "model": st.one_of(TEXT, json_values), "max_tokens": st.one_of(st.integers(-5, 5000), json_values),
        "messages": st.one_of(st.lists(anthropic_message, max_size=4), json_values), "system": st.one_of(TEXT, json_values),
        "tools": st.one_of(json_values, st.lists(st.fixed_dictionaries({"name": TEXT, "input_schema": json_values}), max_size=2)),
        "tool_choice": json_values, "top_k": json_values, "input": st.one_of(TEXT, st.lists(TEXT, max_size=3), st.lists(st.integers(), max_size=3), json_values),
        "encoding_format": st.sampled_from(["float", "base64", "int8", None]),
    },
)


def test_any_request_never_fails_the_messages_or_embeddings_routes(fuzz_tenant):
    tenant, limited = fuzz_tenant
    journal_keys: list[str] = []
    other_bodies = st.one_of(bodies, messages_body.map(lambda v: json.dumps(v).encode())).filter(lambda b: b'"stream"' not in b)

    @FUZZ
    @given(
        method=st.sampled_from(["POST", "POST", "POST", "GET", "OPTIONS"]),
        path=st.sampled_from(["/v1/messages", "/v1/messages/count_tokens", "/v1/embeddings"]),
        authorization=keys(tenant, limited),
        version=st.sampled_from(["2023-06-01", "2023-06-01", None, "x\u00e9"]),
        body=other_bodies,
    )
    def run(method, path, authorization, version, body):
        headers = {"Host": tenant.host, "Content-Type": "application/json"}
        if authorization is not None:
            headers["x-api-key" if path.startswith("/v1/messages") else "Authorization"] = authorization.partition(" ")[2] if path.startswith("/v1/messages") else authorization
        if version is not None:
            headers["anthropic-version"] = version
        event = make_event(method, path, headers, body, domain=tenant.host, resource=path)
        check_other_surfaces(handler("openai_api")(event, LambdaContext("openai_api")), journal_keys)

    run()
    assert_all_journaled(journal_keys)
