"""The passthrough API, the provider listing and whoami on the platform host."""

from __future__ import annotations

import pytest
from support import API_DOMAIN, invoke, journal_records

from smarter_local.openai_server import completion, error

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "ping"}]}


def passthrough(tenant, body=BODY, provider="openai", **kwargs):
    kwargs.setdefault("key", tenant.api_key)
    kwargs.setdefault("host", API_DOMAIN)
    return invoke("passthrough", "POST", f"/v1/passthrough/{provider}", body=body, scheme="Bearer", **kwargs)


def test_forwards_the_raw_body_and_returns_the_provider_answer_in_the_envelope(tenant, openai_server):
    openai_server.enqueue(body=completion("pong"))
    raw = {**BODY, "temperature": 0.1, "some_vendor_field": {"x": 1}}
    result = passthrough(tenant, raw)
    assert result.status == 200
    assert result.body["thing"] == "Prompt"
    assert result.body["metadata"]["command"] == "passthrough"
    assert result.body["data"]["status"] == 200
    assert result.body["data"]["body"]["choices"][0]["message"]["content"] == "pong"
    sent = openai_server.requests[-1]
    assert sent["json"] == raw  # unchanged, vendor fields included
    assert sent["headers"]["authorization"] == "Bearer sk-test-provider-key"
    record = journal_records(tenant.account, "-")[0]
    assert record["key"] == result.body["metadata"]["key"]
    assert record["command"] == "passthrough"
    assert record["usage"]["total_tokens"] == 20


@pytest.mark.parametrize("status", [400, 401, 429, 500])
def test_provider_errors_are_passed_through_with_status_and_body(tenant, openai_server, status):
    provider_body = error(status, f"provider says {status}")
    openai_server.enqueue(status=status, body=provider_body)
    before = len(openai_server.requests)
    result = passthrough(tenant)
    assert result.status == status
    assert result.body["data"] == {"status": status, "body": provider_body}
    assert len(openai_server.requests) - before == 1  # no retries: the caller sees what the provider said
    assert journal_records(tenant.account, "-")[0]["status"] == status


def test_non_json_provider_body_is_passed_through_as_text(tenant, openai_server):
    openai_server.enqueue(status=502, raw=b"<html>bad gateway</html>")
    result = passthrough(tenant)
    assert result.status == 502
    assert result.body["data"]["body"] == "<html>bad gateway</html>"


def test_provider_timeout_is_504(tenant, openai_server):
    openai_server.enqueue(delay=4.0, body=completion("late"))
    result = passthrough(tenant)
    assert result.status == 504
    assert result.body["error"]["type"] == "provider_timeout"


def test_unknown_provider_is_404(tenant):
    result = passthrough(tenant, provider="nope")
    assert result.status == 404
    assert "unknown provider 'nope'" in result.body["error"]["message"]


def test_provider_without_key_is_a_clear_error(tenant):
    result = passthrough(tenant, provider="mistral")
    assert result.status == 502
    assert result.body["error"]["type"] == "provider_not_configured"
    assert "smarter/providers/mistral" in result.body["error"]["message"]


def test_body_over_the_limit_is_413(tenant, monkeypatch):
    monkeypatch.setenv("SMARTER_MAX_BODY_BYTES", "500")
    from smarter import config

    config.settings.cache_clear()
    result = passthrough(tenant, {**BODY, "messages": [{"role": "user", "content": "x" * 1000}]})
    assert result.status == 413


@pytest.mark.parametrize(("raw", "words"), [("{oops", "not valid JSON"), ("[1,2]", "JSON object")])
def test_bad_bodies_are_400(tenant, raw, words):
    result = invoke("passthrough", "POST", "/v1/passthrough/openai", host=API_DOMAIN, key=tenant.api_key, raw_body=raw)
    assert result.status == 400
    assert words in result.body["error"]["message"]


def test_bad_key_is_401_and_journaled(tenant):
    result = passthrough(tenant, key="smk_nope")
    assert result.status == 401
    from smarter.store import journal

    assert result.body["metadata"]["key"] in [r["key"] for r in journal.recent("-", "-")]


def test_platform_routes_are_not_served_on_a_client_host(tenant):
    result = passthrough(tenant, host=tenant.host)
    assert result.status == 404


def test_offline_provider_answers_without_a_key(tenant):
    result = passthrough(tenant, provider="offline")
    assert result.status == 200
    assert result.body["data"]["body"]["choices"][0]["message"]["content"] == "(offline) You said: ping"


def test_providers_listing(tenant):
    result = invoke("passthrough", "GET", "/v1/providers", host=API_DOMAIN, key=tenant.api_key)
    assert result.status == 200
    providers = {p["name"]: p for p in result.body["data"]["providers"]}
    assert {"openai", "anthropic", "googleai", "mistral", "togetherai", "fireworks", "groq", "local", "offline"} <= set(providers)
    assert providers["openai"]["is_default"] is True
    assert providers["openai"]["configured"] is True
    assert providers["mistral"]["configured"] is False
    assert providers["openai"]["default_model"] == "gpt-4o-mini"
    assert providers["openai"]["docs_url"].startswith("https://")
    assert result.body["thing"] == "Provider"


def test_providers_listing_needs_a_key(tenant):
    assert invoke("passthrough", "GET", "/v1/providers", host=API_DOMAIN).status == 401


def test_whoami_tells_the_keys_account(tenant):
    result = invoke("passthrough", "GET", "/v1/whoami", host=API_DOMAIN, key=tenant.api_key)
    assert result.status == 200
    assert result.body["data"]["account"] == tenant.account
    assert result.body["data"]["key_id"] == tenant.key_id
    assert "key_hash" not in result.body["data"]


def test_cors_preflight_for_the_page_origin(tenant):
    result = invoke(
        "passthrough", "OPTIONS", "/v1/passthrough/openai", host=API_DOMAIN,
        headers={"Origin": "https://page.example.com", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"},
    )
    assert result.status == 204
    assert result.headers["Access-Control-Allow-Origin"] == "https://page.example.com"


def test_the_page_origin_may_read_the_journal_key_and_the_overhead(tenant):
    result = invoke("passthrough", "GET", "/v1/whoami", host=API_DOMAIN, key=tenant.api_key, headers={"Origin": "https://page.example.com"})
    assert result.status == 200
    exposed = {h.strip() for h in result.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"X-Smarter-Journal-Key", "X-Smarter-Overhead-Duration-Ms"} <= exposed


# --- Smarter's path of the passthrough -----------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/prompts/passthrough/openai/", "/api/v1/prompts/passthrough/openai"])
def test_smarter_s_passthrough_path_is_an_alias_of_ours(tenant, openai_server, path):
    openai_server.enqueue(body=completion("pong"))
    result = invoke("passthrough", "POST", path, host=API_DOMAIN, body=BODY, key=tenant.api_key, scheme="Bearer")
    assert result.status == 200, result.body
    assert result.body["metadata"]["command"] == "passthrough"
    assert result.body["data"]["body"]["choices"][0]["message"]["content"] == "pong"
    assert openai_server.requests[-1]["json"] == BODY
    assert journal_records(tenant.account, "-")[0]["key"] == result.body["metadata"]["key"]


def test_smarter_s_passthrough_path_keeps_our_rules(tenant):
    assert invoke("passthrough", "POST", "/api/v1/prompts/passthrough/openai/", host=API_DOMAIN, body=BODY, key="smk_wrong", scheme="Bearer").status == 401
    assert invoke("passthrough", "POST", "/api/v1/prompts/passthrough/openai/", host=tenant.host, body=BODY, key=tenant.api_key, scheme="Bearer").status == 404
    assert invoke("passthrough", "GET", "/api/v1/prompts/passthrough/openai/", host=API_DOMAIN, key=tenant.api_key, scheme="Bearer").status == 405


def test_the_streamed_passthrough_takes_smarter_s_path_too(tenant):
    import json

    from smarter_local.gateway import LambdaContext, make_event
    from support import handler

    body = {"model": "offline-echo", "messages": [{"role": "user", "content": "ping"}], "stream": True}
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {tenant.api_key}"}
    event = make_event("POST", "/api/v1/prompts/passthrough/offline/", headers, json.dumps(body).encode(), domain=API_DOMAIN, resource="/api/v1/prompts/passthrough/{proxy+}")
    response = handler("passthrough")(event, LambdaContext("passthrough"))
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")
    assert b"data: [DONE]" in b"".join(response.body)


def test_the_local_gateway_routes_smarter_s_passthrough_path(tenant):
    import json

    from smarter_local.gateway import Gateway

    gateway = Gateway(api_domain=API_DOMAIN, port=0)  # dispatch() is what its HTTP handler calls
    try:
        status, _, body = gateway.dispatch(
            "POST", "/api/v1/prompts/passthrough/offline/",
            {"Host": API_DOMAIN, "Authorization": f"Bearer {tenant.api_key}", "Content-Type": "application/json"},
            json.dumps({"messages": [{"role": "user", "content": "ping"}]}).encode(),
        )
    finally:
        gateway.httpd.server_close()  # never served, so nothing to shut down
    assert status == 200
    assert json.loads(body)["data"]["body"]["choices"][0]["message"]["content"] == "(offline) You said: ping"
