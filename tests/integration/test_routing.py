"""Account providers (`kind: Provider`) and routing (`spec.routing`), with two
real OpenAI-format servers on loopback: the platform's `openai` (the session's
scripted server, with the platform's key) and an account's own provider (a
second server, with the account's key from its Secret). The primary target
fails in every way a provider fails; the client answers from the fallback on
the prompt API, the OpenAI API and the passthrough, buffered and streamed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from support import API_DOMAIN, invoke, journal_records, make_tenant, prompt

from smarter_local.openai_server import OpenAIServer, Scripted, completion, error

PLATFORM_KEY = "sk-test-provider-key"  # conftest's key for the platform's `openai`
ACCOUNT_KEY = "sk-account-own-key-0123456789"
ORG_HEADER = "org-0042-secret"
ACCOUNT = "3141-5926-5359"


@pytest.fixture(scope="module")
def own_server():
    server = OpenAIServer().start()
    yield server
    server.stop()


def provider_manifest(base_url: str, name: str = "acme-llm", **spec) -> dict:
    return {"apiVersion": "smarter.sh/v1", "kind": "Provider", "metadata": {"name": name, "account": ACCOUNT},
            "spec": {"baseUrl": base_url, "apiKey": "acme-key", "headers": {"OpenAI-Organization": "acme-org"},
                     "models": [{"name": "acme-1", "prices": {"input": 1, "output": 2}}], "defaultModel": "acme-1", **spec}}


def secrets() -> list[dict]:
    return [
        {"apiVersion": "smarter.sh/v1", "kind": "Secret", "metadata": {"name": "acme-key", "account": ACCOUNT}, "spec": {"config": {"value": ACCOUNT_KEY}}},
        {"apiVersion": "smarter.sh/v1", "kind": "Secret", "metadata": {"name": "acme-org", "account": ACCOUNT}, "spec": {"config": {"value": ORG_HEADER}}},
    ]


ROUTING = {"targets": [{"provider": "acme-llm", "model": "acme-1"}, {"provider": "openai", "model": "gpt-4o-mini"}],
           "retries": 1, "timeoutSeconds": 1.0}


@pytest.fixture
def routed(aws, own_server, monkeypatch):
    """A tenant whose client routes to the account's own provider first, then the platform's openai."""
    from smarter import config
    from smarter.llm import routing
    from smarter_admin import manifests

    monkeypatch.setenv("SMARTER_REQUEST_TIMEOUT", "8")
    monkeypatch.setenv("SMARTER_JOURNAL_RESERVE", "1")
    config.settings.cache_clear()
    own_server.reset()
    routing.reset()
    manifests.apply_documents([
        {"apiVersion": "smarter.sh/v1", "kind": "Account", "metadata": {"name": ACCOUNT}, "spec": {}},
        *secrets(), provider_manifest(own_server.base_url),
    ])
    tenant = make_tenant(ACCOUNT, "resilient", client_config={"provider": "acme-llm"})
    manifests.apply_documents([{"apiVersion": "smarter.sh/v1", "kind": "LLMClient", "metadata": {"name": "resilient", "account": ACCOUNT},
                                "spec": {"config": {"defaultSystemRole": "You are helpful."}, "routing": ROUTING}}])
    yield tenant
    routing.reset()


def chat(tenant, *, stream=False, path="/v1/chat/completions"):
    return invoke("openai_api", "POST", path, host=tenant.host, key=tenant.api_key, scheme="Bearer",
                  body={"messages": [{"role": "user", "content": "Hello"}], **({"stream": True} if stream else {})})


def stream_chat(tenant):
    from support import handler

    from smarter_local.gateway import LambdaContext, make_event

    headers = {"Content-Type": "application/json", "Host": tenant.host, "Authorization": f"Bearer {tenant.api_key}"}
    body = json.dumps({"messages": [{"role": "user", "content": "Hello"}], "stream": True}).encode()
    event = make_event("POST", "/v1/chat/completions", headers, body, domain=tenant.host, resource="/v1/chat/completions")
    return handler("openai_api")(event, LambdaContext("openai_api"))


def sse(chunks) -> list[dict]:
    text = b"".join(chunks).decode()
    return [json.loads(line[6:]) for line in text.split("\n") if line.startswith("data: ") and line[6:] != "[DONE]"]


def record_of(result, tenant):
    key = result.headers.get("X-Smarter-Journal-Key")
    return next(r for r in journal_records(tenant.account, tenant.client) if r["key"] == key)


# --- kind: Provider ------------------------------------------------------------------


def test_a_provider_manifest_is_stored_and_exported_back_unchanged(routed, own_server):
    from smarter.store import storage
    from smarter_admin import export, manifests

    stored = storage.get_scoped("PROVIDER", ACCOUNT, "acme-llm")
    exported = export.of("providers", stored)
    assert exported["spec"]["apiKey"] == "acme-key" and ACCOUNT_KEY not in json.dumps(exported)  # a Secret's name, never its value
    assert manifests.plan(exported).action == "unchanged"


def test_bring_your_own_key_sends_the_accounts_key_and_headers_never_the_platforms(routed, own_server, openai_server):
    own_server.enqueue(body=completion("from the account's own provider", model="acme-1"))
    result = prompt(routed, "Hello")
    assert result.status == 200, result.body
    assert result.headers["X-Smarter-Provider"] == "acme-llm"
    assert result.body["data"]["provider"] == "acme-llm" and result.body["data"]["model"] == "acme-1"
    seen = own_server.requests[-1]["headers"]
    assert seen["authorization"] == f"Bearer {ACCOUNT_KEY}"
    assert seen["openai-organization"] == ORG_HEADER
    assert all(PLATFORM_KEY not in json.dumps(r["headers"]) for r in own_server.requests)
    assert openai_server.requests == []  # the platform's provider was not needed


def test_the_passthrough_reaches_an_account_provider_with_the_accounts_key(routed, own_server):
    own_server.enqueue(body=completion("raw", model="acme-1"))
    result = invoke("passthrough", "POST", "/v1/passthrough/acme-llm", host=API_DOMAIN, key=routed.api_key, scheme="Bearer",
                    body={"model": "acme-1", "messages": [{"role": "user", "content": "hi"}]})
    assert result.status == 200 and result.body["data"]["body"]["choices"][0]["message"]["content"] == "raw"
    assert own_server.requests[-1]["headers"]["authorization"] == f"Bearer {ACCOUNT_KEY}"
    assert result.headers["X-Smarter-Provider"] == "acme-llm"


def test_another_accounts_provider_is_not_found(routed, own_server):
    other = make_tenant("2718-2818-2845", "other")
    result = invoke("passthrough", "POST", "/v1/passthrough/acme-llm", host=API_DOMAIN, key=other.api_key, scheme="Bearer",
                    body={"model": "acme-1", "messages": [{"role": "user", "content": "hi"}]})
    assert result.status == 404
    assert own_server.requests == []


def test_the_egress_policy_is_checked_again_at_call_time(routed, own_server, openai_server, monkeypatch):
    from smarter import config

    monkeypatch.setenv("SMARTER_EGRESS_ALLOW", "")  # the operator closed loopback after the apply
    config.settings.cache_clear()
    result = prompt(routed, "Hello")
    assert result.status == 200 and result.headers["X-Smarter-Provider"] == "openai"  # the fallback answered
    assert own_server.requests == []
    attempts = record_of(result, routed)["attempts"]
    assert attempts[0]["provider"] == "acme-llm" and attempts[0]["outcome"] == "failed"


HOSTILE_PROVIDERS = {
    "a platform name": ({"metadata": {"name": "openai", "account": ACCOUNT}}, "metadata.name"),
    "an upper-case name": ({"metadata": {"name": "Acme", "account": ACCOUNT}}, "metadata.name"),
    "ftp": ({"spec": {"baseUrl": "ftp://example.com/v1"}}, "spec.baseUrl"),
    "credentials in the url": ({"spec": {"baseUrl": "https://user:pw@example.com/v1"}}, "spec.baseUrl"),
    "a query": ({"spec": {"baseUrl": "https://example.com/v1?x=1"}}, "spec.baseUrl"),
    "plain http to a name": ({"spec": {"baseUrl": "http://example.com/v1"}}, "spec.baseUrl"),
    "the metadata service": ({"spec": {"baseUrl": "http://169.254.169.254/latest"}}, "spec.baseUrl"),
    "a private address": ({"spec": {"baseUrl": "https://10.0.0.5/v1"}}, "spec.baseUrl"),
    "a zone id": ({"spec": {"baseUrl": "https://[fe80::1%25eth0]/v1"}}, "spec.baseUrl"),
    "a missing secret": ({"spec": {"apiKey": "no-such-secret"}}, "spec.apiKey"),
    "a key written in place of a secret name": ({"spec": {"apiKey": "sk live key with spaces"}}, "spec.apiKey"),
    "a reserved header": ({"spec": {"headers": {"Host": "acme-org"}}}, "spec.headers"),
    "authorization as a header": ({"spec": {"headers": {"Authorization": "acme-org"}}}, "spec.headers"),
    "a header name with a newline": ({"spec": {"headers": {"X-A\r\nX-B": "acme-org"}}}, "spec.headers"),
    "a default model not listed": ({"spec": {"defaultModel": "other"}}, "spec.defaultModel"),
    "no model at all": ({"spec": {"models": [], "defaultModel": None}}, "spec.models"),
    "a negative price": ({"spec": {"models": [{"name": "acme-1", "prices": {"input": -1, "output": 1}}]}}, "spec.models"),
    "a url a megabyte long": ({"spec": {"baseUrl": "https://example.com/" + "a" * 1_000_000}}, "spec.baseUrl"),
}


@pytest.mark.parametrize("change,field", HOSTILE_PROVIDERS.values(), ids=HOSTILE_PROVIDERS.keys())
def test_a_hostile_provider_manifest_is_refused_with_a_400_naming_the_field(routed, own_server, change, field):
    from smarter.errors import ManifestError
    from smarter_admin import manifests

    manifest = provider_manifest(own_server.base_url, name="acme-two")
    for part, values in change.items():
        manifest[part] = {**manifest[part], **values}
    manifest["spec"] = {k: v for k, v in manifest["spec"].items() if v is not None}
    with pytest.raises(ManifestError) as refused:
        manifests.plan(manifest)
    assert refused.value.status == 400
    assert field in str(refused.value.message) or any(p.startswith(field) for p, _ in refused.value.problems), refused.value.message


HOSTILE_ROUTING = {
    "no targets": {"targets": []},
    "an unknown provider": {"targets": [{"provider": "nobody"}]},
    "a zero weight": {"targets": [{"provider": "openai", "weight": 0}]},
    "an infinite weight": {"targets": [{"provider": "openai", "weight": float("inf")}]},
    "fallback on 400": {"targets": [{"provider": "openai"}], "fallbackOn": [400]},
    "fallback on 200": {"targets": [{"provider": "openai"}], "fallbackOn": [200]},
    "too many retries": {"targets": [{"provider": "openai"}], "retries": 50},
    "an hour per attempt": {"targets": [{"provider": "openai"}], "timeoutSeconds": 3600},
    "a model with a newline": {"targets": [{"provider": "openai", "model": "gpt\nx"}]},
    "eleven targets": {"targets": [{"provider": "openai"}] * 11},
}


@pytest.mark.parametrize("routing", HOSTILE_ROUTING.values(), ids=HOSTILE_ROUTING.keys())
def test_a_hostile_routing_spec_is_refused_with_a_400(routed, routing):
    from smarter.errors import ManifestError
    from smarter_admin import manifests

    with pytest.raises(ManifestError) as refused:
        manifests.plan({"apiVersion": "smarter.sh/v1", "kind": "LLMClient", "metadata": {"name": "bad", "account": ACCOUNT}, "spec": {"routing": routing}})
    assert refused.value.status == 400 and "routing" in refused.value.message


# --- fallback, buffered ----------------------------------------------------------------


FAULTS = {
    "500": dict(status=500, body=error(500, "boom", "server_error")),
    "503": dict(status=503, body=error(503, "overloaded", "server_error")),
    "429 with a long Retry-After": dict(status=429, body=error(429, "slow down"), headers={"Retry-After": "30"}),
    "a hang": dict(delay=3.0),
    "a reset": dict(reset=True),
    "a slow drip": dict(body=completion("never whole"), drip=0.2),
    "malformed JSON": dict(raw=b'{"choices": [{"message": '),
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_the_prompt_answers_200_from_the_fallback_whatever_the_primary_does(routed, own_server, openai_server, fault):
    own_server.default = Scripted(**fault)
    openai_server.enqueue(body=completion("from the fallback"))
    started = time.monotonic()
    result = prompt(routed, "Hello")
    assert result.status == 200, result.body
    assert time.monotonic() - started < 8
    assert result.headers["X-Smarter-Provider"] == "openai"
    assert result.body["data"]["provider"] == "openai" and result.body["data"]["model"] == "gpt-4o-mini"
    assert result.body["data"]["chat_completion"]["choices"][0]["message"]["content"] == "from the fallback"
    attempts = record_of(result, routed)["attempts"]
    assert [a["provider"] for a in attempts][-1] == "openai" and attempts[-1]["outcome"] == "served"
    assert all(a["outcome"] == "failed" and a["provider"] == "acme-llm" for a in attempts[:-1]) and attempts[:-1]
    assert all(PLATFORM_KEY not in json.dumps(r["headers"]) for r in own_server.requests)


@pytest.mark.parametrize("fault", [FAULTS["503"], FAULTS["a reset"], FAULTS["malformed JSON"]], ids=["503", "reset", "malformed"])
def test_the_openai_api_answers_200_from_the_fallback(routed, own_server, openai_server, fault):
    own_server.default = Scripted(**fault)
    openai_server.enqueue(body=completion("from the fallback"))
    result = chat(routed)
    assert result.status == 200, result.body
    assert result.headers["X-Smarter-Provider"] == "openai" and result.body["model"] == "gpt-4o-mini"
    assert result.body["choices"][0]["message"]["content"] == "from the fallback"


def test_a_429_with_a_short_retry_after_is_retried_on_the_same_target(routed, own_server, openai_server):
    own_server.enqueue(status=429, body=error(429, "slow down"), headers={"Retry-After": "0.2"})
    own_server.enqueue(body=completion("second try", model="acme-1"))
    result = prompt(routed, "Hello")
    assert result.status == 200 and result.headers["X-Smarter-Provider"] == "acme-llm"
    assert [a["status"] for a in record_of(result, routed)["attempts"]] == [429, 200]
    assert openai_server.requests == []


def test_a_4xx_the_request_caused_is_answered_without_fallback(routed, own_server, openai_server):
    own_server.default = Scripted(status=400, body=error(400, "bad messages"))
    result = prompt(routed, "Hello")
    # the provider's refusal of the request is the caller's 400 (not a 502 its SDK would retry)
    assert result.status == 400 and "400" in result.body["error"]["message"]
    assert openai_server.requests == [] and len(own_server.requests) == 1


def test_when_every_target_fails_the_last_error_is_the_answer(routed, own_server, openai_server):
    own_server.default = Scripted(status=503, body=error(503, "down", "server_error"))
    openai_server.default = Scripted(status=429, body=error(429, "slow down"), headers={"Retry-After": "30"})
    result = prompt(routed, "Hello")
    assert result.status == 429 and result.headers.get("Retry-After") == "30"
    # acme-llm twice (a retry), openai once: its Retry-After outlasts the deadline, so it is not waited for
    assert [a["status"] for a in record_of(result, routed)["attempts"]] == [503, 503, 429]


def test_a_budget_counts_only_what_the_serving_attempt_spent(routed, own_server, openai_server):
    from smarter_admin import manifests

    manifests.apply({"apiVersion": "smarter.sh/v1", "kind": "Account", "metadata": {"name": ACCOUNT}, "spec": {"limits": {"tokensPerDay": 100000}}})
    own_server.default = Scripted(status=500, body=error(500, "boom", "server_error"))
    openai_server.enqueue(body=completion("served", usage=(30, 10)))
    result = prompt(routed, "Hello")
    assert result.status == 200
    record = record_of(result, routed)
    assert record["usage"]["total_tokens"] == 40
    holds = record["reservations"]
    assert len(holds) == 2  # one per target tried, each at its own price
    assert "used" not in holds[0] and holds[1]["used"]["tokens"] == 40  # the failed attempt settles to nothing


def test_an_account_providers_prices_are_what_its_answers_cost(routed, own_server):
    from smarter_admin import manifests

    manifests.apply({"apiVersion": "smarter.sh/v1", "kind": "Account", "metadata": {"name": ACCOUNT}, "spec": {"limits": {"usdPerDay": 100}}})
    own_server.enqueue(body=completion("priced", model="acme-1", usage=(1_000_000, 1_000_000)))
    result = prompt(routed, "Hello")
    assert result.status == 200
    assert record_of(result, routed)["cost_usd"] == "3"  # 1 M in at 1 USD/M + 1 M out at 2 USD/M


# --- streaming ---------------------------------------------------------------------------


STREAM_FAULTS = {
    "500": FAULTS["500"],
    "503": FAULTS["503"],
    "429 with a long Retry-After": FAULTS["429 with a long Retry-After"],
    "a hang": FAULTS["a hang"],
    "a reset": FAULTS["a reset"],
    "a 200 that is not a stream": dict(raw=b'{"choices": [{"message": '),
    "malformed events": dict(raw=b"data: {not json\n\n"),
}


@pytest.mark.parametrize("fault", STREAM_FAULTS.values(), ids=STREAM_FAULTS.keys())
def test_a_stream_falls_back_before_its_first_byte(routed, own_server, openai_server, fault):
    own_server.default = Scripted(**fault)
    openai_server.enqueue(body=completion("streamed from the fallback"))
    response = stream_chat(routed)
    assert response.status == 200 and response.headers["X-Smarter-Provider"] == "openai"
    events = sse(response.body)
    assert "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e.get("choices")) == "streamed from the fallback"
    assert {e["model"] for e in events} == {"gpt-4o-mini"}
    record = next(r for r in journal_records(routed.account, routed.client) if r["key"] == response.headers["X-Smarter-Journal-Key"])
    assert [a["outcome"] for a in record["attempts"]][-1] == "served"
    assert record["attempts"][0]["provider"] == "acme-llm" and record["attempts"][0]["outcome"] == "failed"


def test_a_stream_that_breaks_after_its_first_byte_ends_with_an_error_event_not_a_fallback(routed, own_server, openai_server):
    first = {"id": "x", "object": "chat.completion.chunk", "model": "acme-1", "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]}
    own_server.enqueue(raw=b"data: " + json.dumps(first).encode() + b'\n\ndata: {"error": {"message": "boom"}}\n\n')
    response = stream_chat(routed)
    assert response.status == 200 and response.headers["X-Smarter-Provider"] == "acme-llm"
    events = sse(response.body)
    assert events[0]["choices"][0]["delta"]["content"] == "Hi"
    assert events[-1]["error"]["code"] == "provider_error"
    assert openai_server.requests == []  # the caller had a byte: no other target answers the rest


def test_a_streamed_passthrough_to_an_account_provider_relays_its_events(routed, own_server):
    own_server.enqueue(body=completion("a b c", model="acme-1"))
    from support import handler

    from smarter_local.gateway import LambdaContext, make_event

    headers = {"Content-Type": "application/json", "Host": API_DOMAIN, "Authorization": f"Bearer {routed.api_key}"}
    body = json.dumps({"model": "acme-1", "messages": [{"role": "user", "content": "hi"}], "stream": True}).encode()
    event = make_event("POST", "/v1/passthrough/acme-llm", headers, body, domain=API_DOMAIN, resource="/v1/{proxy+}")
    response = handler("passthrough")(event, LambdaContext("passthrough"))
    assert response.status == 200
    assert "".join(e["choices"][0]["delta"].get("content") or "" for e in sse(response.body) if e.get("choices")) == "a b c"
    assert own_server.requests[-1]["headers"]["authorization"] == f"Bearer {ACCOUNT_KEY}"


# --- cooldown --------------------------------------------------------------------------


def test_a_failing_target_cools_down_and_is_skipped(routed, own_server, openai_server):
    own_server.default = Scripted(status=503, body=error(503, "down", "server_error"))
    openai_server.default = Scripted(body=completion("fallback"))
    for _ in range(2):  # 2 requests x 2 attempts: past the 3 failures that cool it
        assert prompt(routed, "Hello").status == 200
    tried = len(own_server.requests)
    assert tried == 3  # the third failure cooled it; its retry was not sent
    result = prompt(routed, "Hello")
    assert result.status == 200 and result.headers["X-Smarter-Provider"] == "openai"
    assert len(own_server.requests) == tried  # cold: not tried while a warm target answers
    assert [a["provider"] for a in record_of(result, routed)["attempts"]] == ["openai"]


def test_a_cooldown_reaches_another_process_through_the_shared_item(routed, own_server, openai_server, aws):
    """A second OS process, sharing the moto server, sees the target cold after one refresh."""
    own_server.default = Scripted(status=503, body=error(503, "down", "server_error"))
    openai_server.default = Scripted(body=completion("fallback"))
    for _ in range(2):
        prompt(routed, "Hello")
    target = f"{ACCOUNT}/acme-llm/acme-1"
    script = (
        "import sys; from smarter.llm import routing\n"
        f"before = routing.cooldowns.cold({target!r})\n"
        "routing.refresh()\n"
        f"print(before, routing.cooldowns.cold({target!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], env={**os.environ}, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]


def test_the_warm_path_makes_no_cooldown_call(routed, own_server, monkeypatch):
    """Between refreshes, a request reads the cooldowns from memory: no Query."""
    from smarter.llm import routing

    own_server.default = Scripted(body=completion("ok", model="acme-1"))
    assert prompt(routed, "warm").status == 200  # the first request schedules the first refresh
    calls = []
    monkeypatch.setattr(routing, "refresh", lambda: calls.append(1))
    for _ in range(3):
        assert prompt(routed, "Hello").status == 200
    assert calls == []


# --- the passthrough through a client's routing ------------------------------------------


def routed_passthrough(tenant, *, stream=False, provider="acme-llm", client="resilient"):
    body = {"model": "ignored", "messages": [{"role": "user", "content": "hi"}], **({"stream": True} if stream else {})}
    if not stream:
        return invoke("passthrough", "POST", f"/v1/passthrough/{provider}", host=API_DOMAIN, key=tenant.api_key, scheme="Bearer",
                      headers={"X-Smarter-Client": client}, body=body)
    from support import handler

    from smarter_local.gateway import LambdaContext, make_event

    headers = {"Content-Type": "application/json", "Host": API_DOMAIN, "Authorization": f"Bearer {tenant.api_key}", "X-Smarter-Client": client}
    event = make_event("POST", f"/v1/passthrough/{provider}", headers, json.dumps(body).encode(), domain=API_DOMAIN, resource="/v1/{proxy+}")
    return handler("passthrough")(event, LambdaContext("passthrough"))


@pytest.mark.parametrize("fault", [FAULTS["503"], FAULTS["429 with a long Retry-After"], FAULTS["a hang"], FAULTS["a reset"]],
                         ids=["503", "429", "hang", "reset"])
def test_the_passthrough_follows_a_named_clients_routing_to_the_fallback(routed, own_server, openai_server, fault):
    own_server.default = Scripted(**fault)
    openai_server.enqueue(body=completion("passed through the fallback"))
    result = routed_passthrough(routed)
    assert result.status == 200, result.body
    assert result.headers["X-Smarter-Provider"] == "openai"
    assert result.body["data"]["body"]["choices"][0]["message"]["content"] == "passed through the fallback"
    assert openai_server.requests[-1]["json"]["model"] == "gpt-4o-mini"  # each target's own model
    assert openai_server.requests[-1]["headers"]["authorization"] == f"Bearer {PLATFORM_KEY}"
    attempts = record_of(result, routed)["attempts"]  # journaled under the client
    assert attempts[0]["provider"] == "acme-llm" and attempts[-1] == {**attempts[-1], "provider": "openai", "outcome": "served"}


def test_a_routed_passthrough_hands_a_request_caused_4xx_on_unchanged(routed, own_server, openai_server):
    own_server.default = Scripted(status=400, body=error(400, "bad body"))
    result = routed_passthrough(routed)
    assert result.status == 400 and result.body["data"]["body"]["error"]["message"] == "bad body"
    assert openai_server.requests == []


def test_a_routed_passthrough_refuses_a_provider_the_client_does_not_route_to(routed):
    result = routed_passthrough(routed, provider="groq")
    assert result.status == 400 and "X-Smarter-Client" in result.body["error"]["message"]
    assert routed_passthrough(routed, client="no-such-client").status == 404


@pytest.mark.parametrize("fault", [FAULTS["503"], FAULTS["a hang"], FAULTS["a reset"]], ids=["503", "hang", "reset"])
def test_a_streamed_passthrough_falls_back_before_its_first_byte(routed, own_server, openai_server, fault):
    own_server.default = Scripted(**fault)
    openai_server.enqueue(body=completion("streamed raw from the fallback"))
    response = routed_passthrough(routed, stream=True)
    assert response.status == 200 and response.headers["X-Smarter-Provider"] == "openai"
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in sse(response.body) if e.get("choices"))
    assert text == "streamed raw from the fallback"


# --- the admin CLI -----------------------------------------------------------------------


def smarter(*args: str):
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from smarter_admin.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    assert "Traceback" not in err.getvalue()
    return code, out.getvalue(), err.getvalue()


def test_the_cli_lists_describes_exports_and_deletes_a_provider(routed, monkeypatch, tmp_path):
    monkeypatch.setenv("SMARTER_ACCOUNT", ACCOUNT)
    code, out, _ = smarter("get", "providers")
    assert code == 0 and "acme-llm" in out and "acme-1" in out
    code, out, _ = smarter("get", "providers", "-o", "wide")
    assert code == 0 and "acme-key" in out and ACCOUNT_KEY not in out
    code, out, _ = smarter("describe", "provider", "acme-llm")
    assert code == 0 and "acme-key" in out and "OpenAI-Organization: acme-org" in out and "clients/resilient" in out
    assert ACCOUNT_KEY not in out and ORG_HEADER not in out  # Secret names, never their values
    code, out, _ = smarter("get", "provider", "acme-llm", "-o", "yaml")
    assert code == 0 and "kind: Provider" in out
    (tmp_path / "p.yaml").write_text(out)
    code, out, _ = smarter("apply", "-f", str(tmp_path / "p.yaml"))
    assert code == 0 and "unchanged" in out
    code, out, err = smarter("delete", "provider", "acme-llm")
    assert code != 0 and "client/resilient" in err  # still routed to: refused
    code, out, err = smarter("delete", "secret", "acme-key")
    assert code != 0 and "provider/acme-llm" in err
    code, out, err = smarter("delete", "client/resilient", "provider/acme-llm")
    assert code == 0, err
    code, out, _ = smarter("get", "providers")
    assert "acme-llm" not in out


def test_an_error_echoing_the_accounts_key_or_header_is_scrubbed(routed, own_server, openai_server):
    own_server.default = Scripted(status=400, body=error(400, f"bad key {ACCOUNT_KEY} for org {ORG_HEADER}"))
    result = prompt(routed, "Hello")
    assert result.status == 400  # the provider refused the request: passed on, scrubbed
    text = json.dumps(result.body) + json.dumps(record_of(result, routed))
    assert ACCOUNT_KEY not in text and ORG_HEADER not in text


def test_the_provider_listing_shows_the_accounts_own_providers_to_it_only(routed):
    listing = invoke("passthrough", "GET", "/v1/providers", host=API_DOMAIN, key=routed.api_key, scheme="Bearer")
    own = [p for p in listing.body["data"]["providers"] if p.get("account_provider")]
    assert [p["name"] for p in own] == ["acme-llm"] and own[0]["models"] == ["acme-1"]
    other = make_tenant("2718-2818-2845", "other")
    listing = invoke("passthrough", "GET", "/v1/providers", host=API_DOMAIN, key=other.api_key, scheme="Bearer")
    assert not [p for p in listing.body["data"]["providers"] if p.get("account_provider")]


def test_a_session_continues_whichever_target_answers(routed, own_server, openai_server):
    own_server.enqueue(body=completion("first answer from acme", model="acme-1"))
    first = prompt(routed, "Remember the word teapot.")
    assert first.status == 200 and first.headers["X-Smarter-Provider"] == "acme-llm"
    own_server.default = Scripted(status=503, body=error(503, "down", "server_error"))
    openai_server.enqueue(body=completion("second answer from openai"))
    second = prompt(routed, "Which word?", session_key=first.body["metadata"]["session_key"])
    assert second.status == 200 and second.headers["X-Smarter-Provider"] == "openai"
    sent = [m.get("content") for m in openai_server.requests[-1]["json"]["messages"]]
    assert "Remember the word teapot." in sent and "first answer from acme" in sent  # the history the fallback saw


@pytest.mark.parametrize("spec,words", [
    ({"baseUrl": "http://169.254.169.254/latest", "models": [{"name": "m"}]}, "egress"),
    ({"baseUrl": "https://example.com/v1", "apiKey": "sk-live-written-here!", "models": [{"name": "m"}]}, "spec.apiKey"),
    ({"baseUrl": "https://example.com/v1", "models": [{"name": "m"}], "headers": {"Host": "x"}}, "spec.headers"),
], ids=["metadata service", "a key in place of a secret name", "a reserved header"])
def test_a_hostile_provider_through_the_console_api_is_a_400(routed, spec, words):
    manifest = json.dumps({"apiVersion": "smarter.sh/v1", "kind": "Provider", "metadata": {"name": "hostile"}, "spec": spec})
    result = invoke("console", "POST", "/v1/console/apply", host=API_DOMAIN, key=routed.api_key, scheme="Bearer",
                    body={"manifest": manifest, "dryRun": True})
    assert result.status == 400, result.body
    assert words in result.body["error"]["message"]
