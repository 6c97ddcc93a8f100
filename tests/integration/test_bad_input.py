"""Bad input gets a clear error envelope with the right status, and is journaled."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from support import API_DOMAIN, invoke, journal_records, make_tenant, prompt


def assert_error(result, status: int, type_: str, words: str):
    assert result.status == status, result.body
    assert result.body["error"]["status"] == status
    assert result.body["error"]["type"] == type_
    assert words in result.body["error"]["message"]
    assert "data" not in result.body
    assert result.body["metadata"]["key"]
    assert "Traceback" not in str(result.body)


def test_no_body_is_400(tenant):
    result = invoke("prompt", "POST", "/", host=tenant.host, key=tenant.api_key)
    assert_error(result, 400, "bad_request", "no body")


def test_invalid_json_is_400(tenant):
    result = invoke("prompt", "POST", "/", host=tenant.host, key=tenant.api_key, raw_body='{"messages": [')
    assert_error(result, 400, "bad_request", "not valid JSON")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, "messages: Field required"),
        ({"messages": []}, "messages: List should have at least 1 item"),
        ({"messages": "hello"}, "messages: Input should be a valid list"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages.0.role: Input should be"),
        ({"messages": [{"role": "user"}]}, "a user message needs non-empty content"),
        ({"messages": [{"role": "user", "content": 42}]}, "messages.0.content"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "tool_call_id"),
        ([1, 2, 3], "must be a JSON object"),
        ({"messages": [{"role": "user", "content": "hi"}], "session_key": 12}, "session_key"),
        ({"messages": [{"role": "user", "content": "hi"}], "session_key": "../../etc"}, "session_key"),
    ],
)
def test_wrong_shapes_are_400_naming_the_field(tenant, body, words):
    result = prompt(tenant, body=body)
    assert_error(result, 400, "bad_request", words)


def test_body_over_the_limit_is_413_and_journaled(tenant, monkeypatch):
    monkeypatch.setenv("SMARTER_MAX_BODY_BYTES", "1000")
    from smarter import config

    config.settings.cache_clear()
    result = prompt(tenant, "x" * 2000)
    assert_error(result, 413, "payload_too_large", "limit is 1000 bytes")
    assert journal_records(tenant.account, tenant.client)[0]["status"] == 413


def test_default_body_limit_fits_long_prompts_under_lambdas_6mb(aws):
    from smarter.config import settings

    assert 1_000_000 < settings().max_body_bytes <= 4.5 * 1024 * 1024


def test_a_long_prompt_under_the_limit_is_accepted(tenant):
    assert prompt(tenant, "word " * 200_000).status == 200  # ~1 MB


def test_unknown_host_is_404(tenant):
    result = prompt(tenant, "hi", host=f"nobody.{tenant.account}.{API_DOMAIN}")
    assert_error(result, 404, "not_found", "no LLM client 'nobody'")


def test_unknown_account_is_404(tenant):
    result = prompt(tenant, "hi", host=f"{tenant.client}.9999-9999-9999.{API_DOMAIN}")
    assert_error(result, 404, "not_found", "no LLM client")


def test_malformed_default_host_is_404(tenant):
    result = prompt(tenant, "hi", host=f"a.b.c.{API_DOMAIN}")
    assert_error(result, 404, "not_found", "expected {client}.{account}")


def test_unknown_custom_domain_is_404(tenant):
    result = prompt(tenant, "hi", host="api.acme.com")
    assert_error(result, 404, "not_found", "no LLM client is served at api.acme.com")


def test_unverified_custom_domain_is_404_and_says_so(tenant):
    from smarter.store import storage

    storage.claim_domain("api.acme.com", {"domain": "api.acme.com", "account": tenant.account, "client": tenant.client, "status": "pending_validation"})
    result = prompt(tenant, "hi", host="api.acme.com")
    assert_error(result, 404, "not_found", "not verified yet")


def test_verified_custom_domain_reaches_the_client(tenant):
    from smarter.store import storage

    storage.claim_domain("api.acme.com", {"domain": "api.acme.com", "account": tenant.account, "client": tenant.client, "status": "verified"})
    storage.set_client_verified_domain(tenant.account, tenant.client, "api.acme.com")
    assert prompt(tenant, "hi", host="api.acme.com").status == 200


def test_host_header_cannot_override_the_matched_domain(tenant):
    # API Gateway matched an unknown domain; a forged Host header naming the client changes nothing.
    from support import handler

    from smarter_local.gateway import LambdaContext, make_event

    event = make_event("POST", "/", {"Host": tenant.host, "Authorization": f"Token {tenant.api_key}"}, b'{"messages":[{"role":"user","content":"hi"}]}', domain="evil.example.net", resource="/")
    assert handler("prompt")(event, LambdaContext("prompt"))["statusCode"] == 404


def test_missing_key_is_401(tenant):
    result = prompt(tenant, "hi", key=None)
    assert_error(result, 401, "unauthorized", "missing API key")


def test_malformed_authorization_header_is_401(tenant):
    result = prompt(tenant, "hi", key=None, headers={"Authorization": f"Basic {tenant.api_key}"})
    assert_error(result, 401, "unauthorized", "malformed Authorization")


def test_unknown_key_is_401(tenant):
    result = prompt(tenant, "hi", key="smk_000000000000_notarealkey")
    assert_error(result, 401, "unauthorized", "invalid API key")


def test_wrong_account_key_is_403(tenant):
    other = make_tenant("2718-2818-2845", "customer-support")
    result = prompt(tenant, "hi", key=other.api_key)
    assert_error(result, 403, "forbidden", "another account")


def test_revoked_key_is_401(tenant):
    from smarter import cache
    from smarter.tenancy import auth

    auth.revoke_key(auth.find_key(tenant.account, tenant.key_id))
    cache.clear_all()  # other containers: within SMARTER_CACHE_TTL
    result = prompt(tenant, "hi")
    assert_error(result, 401, "unauthorized", "revoked")


def test_revocation_applies_at_once_in_the_container_that_revoked(tenant):
    from smarter.tenancy import auth

    assert prompt(tenant, "hi").status == 200  # the key is now cached
    auth.revoke_key(auth.find_key(tenant.account, tenant.key_id))
    assert prompt(tenant, "hi").status == 401


def test_expired_key_is_401(tenant):
    from smarter import cache
    from smarter.store import storage
    from smarter.tenancy import auth

    secret, doc = auth.create_key(tenant.account, "old", expires_at=datetime.now(timezone.utc) + timedelta(minutes=1))
    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    storage.put_api_key(auth.hash_key(secret), {**doc, "expires_at": auth.iso(past)})  # time passes
    cache.clear_all()
    result = prompt(tenant, "hi", key=secret)
    assert_error(result, 401, "unauthorized", "expired")


def test_key_limited_to_other_clients_is_403(tenant):
    from smarter.tenancy import auth

    secret, _ = auth.create_key(tenant.account, "limited", clients=["billing"])
    result = prompt(tenant, "hi", key=secret)
    assert_error(result, 403, "forbidden", "not allowed to call the client 'customer-support'")


def test_key_limited_to_this_client_works(tenant):
    from smarter.tenancy import auth

    secret, _ = auth.create_key(tenant.account, "limited", clients=[tenant.client])
    assert prompt(tenant, "hi", key=secret).status == 200


def test_unknown_path_is_404_envelope(tenant):
    result = invoke("prompt", "POST", "/nothing/here", host=tenant.host, key=tenant.api_key, body={})
    assert_error(result, 404, "not_found", "no route")


def test_every_failure_above_is_journaled(tenant):
    prompt(tenant, "hi", key=None)
    prompt(tenant, body={"messages": []})
    statuses = sorted(r["status"] for r in journal_records(tenant.account, tenant.client))
    assert statuses == [400, 401]


def test_journal_never_holds_the_api_key(tenant):
    prompt(tenant, "hi")
    record = journal_records(tenant.account, tenant.client)[0]
    assert tenant.api_key not in str(record)
    assert "authorization" not in record["request"]["headers"]


def test_unrouted_requests_are_journaled_too(tenant):
    result = prompt(tenant, "hi", host="api.unknown.org")
    from smarter.store import journal

    records = journal.recent("-", "-")
    assert result.body["metadata"]["key"] in [r["key"] for r in records]


def test_an_unexpected_bug_is_a_500_envelope_without_details_and_is_journaled(tenant, monkeypatch):
    from smarter.llm import chat

    def broken(*args, **kwargs):
        raise KeyError("internal detail that must not leak")

    monkeypatch.setattr(chat, "run_prompt", broken)
    result = prompt(tenant, "hi")
    assert_error(result, 500, "internal_error", "journal key")
    assert "internal detail" not in str(result.body)
    assert journal_records(tenant.account, tenant.client)[0]["status"] == 500


def test_repeated_requests_on_an_unknown_domain_are_answered_from_the_cache(tenant):
    from smarter.store import aws

    calls = []
    client = aws.client("dynamodb")
    client.meta.events.register("before-call.dynamodb.*", lambda model, **kw: calls.append(model.name))
    try:
        for _ in range(3):
            prompt(tenant, "hi", host="api.unknown.org")
    finally:
        client.meta.events.unregister("before-call.dynamodb.*")
    reads = [c for c in calls if c in ("Query", "GetItem")]
    assert reads == ["Query", "GetItem"]  # the first miss only
