"""The console's platform API (functions/console) through real API Gateway
events: what a tenant reads and changes with its own API key, and nothing more."""

from __future__ import annotations

import json

import pytest
from support import API_DOMAIN, count_usage, invoke, make_tenant, prompt

ACCOUNT = "3141-5926-5359"


def console(method: str, path: str, *, key: str | None, body=None, host: str = API_DOMAIN, **kwargs):
    return invoke("console", method, f"/v1/console{path}", host=host, key=key, body=body, **kwargs)


@pytest.fixture
def two_clients(tenant):
    """customer-support (the tenant's) and billing in one account, plus a key limited to billing."""
    from smarter.tenancy import auth

    billing = make_tenant(ACCOUNT, "billing")
    secret, _ = auth.create_key(ACCOUNT, "billing-only", clients=["billing"])
    return tenant, secret, billing


# --- reading ---------------------------------------------------------------------------


def test_clients_lists_host_plugins_and_manifest(tenant):
    result = console("GET", "/clients", key=tenant.api_key)
    assert result.status == 200, result.body
    assert result.body["thing"] == "Console"
    (client,) = result.body["data"]["clients"]
    assert client["name"] == "customer-support"
    assert client["host"] == f"customer-support.{ACCOUNT}.{API_DOMAIN}"
    assert client["manifest"]["kind"] == "LLMClient"
    assert client["manifest"]["spec"]["config"]["provider"] == "openai"


def test_console_needs_a_key_and_the_platform_host(tenant):
    assert console("GET", "/clients", key=None).status == 401
    assert console("GET", "/clients", key="smk_000000000000_nope").status == 401
    on_client_host = console("GET", "/clients", key=tenant.api_key, host=tenant.host)
    assert on_client_host.status == 404
    assert "platform host" in on_client_host.body["error"]["message"]


def test_a_key_limited_to_some_clients_sees_only_those(two_clients):
    tenant, billing_key, _ = two_clients
    names = [c["name"] for c in console("GET", "/clients", key=billing_key).body["data"]["clients"]]
    assert names == ["billing"]
    refused = console("GET", "/journal?client=customer-support", key=billing_key)
    assert refused.status == 403
    assert "customer-support" in refused.body["error"]["message"]
    assert console("GET", "/journal?client=-", key=billing_key).status == 403
    assert sorted(k["name"] for k in console("GET", "/keys", key=billing_key).body["data"]["keys"]) == ["billing-only"]
    account_wide = [c["name"] for c in console("GET", "/clients", key=tenant.api_key).body["data"]["clients"]]
    assert account_wide == ["billing", "customer-support"]


def test_another_accounts_key_sees_nothing_of_this_account(tenant):
    other = make_tenant("2718-2818-2845", "other-bot")
    assert prompt(tenant, "hello").status == 200
    names = [c["name"] for c in console("GET", "/clients", key=other.api_key).body["data"]["clients"]]
    assert names == ["other-bot"]
    listed = console("GET", "/journal", key=other.api_key).body["data"]["records"]
    assert all(r["account"] == "2718-2818-2845" for r in listed)
    key = console("GET", "/journal?client=customer-support", key=tenant.api_key).body["data"]["records"][0]["key"]
    assert console("GET", f"/journal/{key}", key=other.api_key).status == 404


def test_plugins_and_connections_are_manifests_without_secret_values(aws):
    from support import static_plugin

    make_tenant(ACCOUNT, "customer-support", plugins=[static_plugin()])
    from smarter.tenancy import auth

    secret, _ = auth.create_key(ACCOUNT, "reader")
    plugins = console("GET", "/plugins", key=secret).body["data"]["plugins"]
    assert [p["metadata"]["name"] for p in plugins] == ["support_info"]
    assert console("GET", "/connections", key=secret).body["data"]["connections"] == []


def test_keys_show_state_never_hash_or_secret(tenant):
    result = console("GET", "/keys", key=tenant.api_key)
    (key,) = result.body["data"]["keys"]
    assert key["state"] == "active" and key["key_id"] == tenant.key_id
    text = json.dumps(result.body)
    assert "key_hash" not in text and tenant.api_key not in text


# --- keys --------------------------------------------------------------------------------


def test_a_created_key_is_shown_once_works_and_stops_working_when_revoked(tenant):
    created = console("POST", "/keys", key=tenant.api_key, body={"name": "ci", "clients": ["customer-support"]})
    assert created.status == 201, created.body
    secret, key_id = created.body["data"]["api_key"], created.body["data"]["key_id"]
    assert secret.startswith("smk_")
    listed = console("GET", "/keys", key=tenant.api_key).body["data"]["keys"]
    assert secret not in json.dumps(listed)
    assert prompt(tenant, "hi", key=secret).status == 200
    revoked = console("POST", f"/keys/{key_id}/revoke", key=tenant.api_key)
    assert revoked.status == 200 and revoked.body["data"]["state"] == "revoked"
    assert prompt(tenant, "hi", key=secret).status == 401
    assert console("GET", "/clients", key=secret).status == 401


def test_delete_revokes_too_and_an_unknown_key_is_404(tenant):
    created = console("POST", "/keys", key=tenant.api_key, body={"name": "tmp"}).body["data"]
    assert console("DELETE", f"/keys/{created['key_id']}", key=tenant.api_key).body["data"]["state"] == "revoked"
    assert console("DELETE", "/keys/ffffffffffff", key=tenant.api_key).status == 404


def test_the_new_keys_secret_never_reaches_the_journal(tenant):
    from smarter.store import journal

    created = console("POST", "/keys", key=tenant.api_key, body={"name": "ci"})
    record = journal.get(ACCOUNT, "-", created.headers["X-Smarter-Journal-Key"])
    assert record["command"] == "createkey" and record["status"] == 201
    assert created.body["data"]["api_key"] not in json.dumps(record)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"name": ""}, "name"),
        ({"name": "ci", "clients": []}, "empty list"),
        ({"name": "ci", "clients": ["nope"]}, "no client named 'nope'"),
        ({"name": "ci", "expiresInDays": 0}, "expiresInDays"),
        ({"name": "ci", "expiresInDays": True}, "expiresInDays"),
        ({"name": "ci", "admin": True}, "unknown field 'admin'"),
        (["ci"], "JSON object"),
    ],
)
def test_bad_key_requests_are_400_saying_what_to_send(tenant, body, words):
    result = console("POST", "/keys", key=tenant.api_key, body=body)
    assert result.status == 400, result.body
    assert words in result.body["error"]["message"]


def test_a_key_limited_to_some_clients_cannot_create_or_revoke_keys(two_clients):
    tenant, billing_key, _ = two_clients
    refused = console("POST", "/keys", key=billing_key, body={"name": "escalate"})
    assert refused.status == 403
    assert "account-wide" in refused.body["error"]["message"]
    assert console("POST", f"/keys/{tenant.key_id}/revoke", key=billing_key).status == 403
    assert prompt(tenant, "still here").status == 200


# --- usage -------------------------------------------------------------------------------


def test_usage_counts_requests_tokens_and_dollars_per_client_and_key(tenant):
    for _ in range(3):
        assert prompt(tenant, "hello").status == 200
    count_usage()
    report = console("GET", "/usage?group=detail", key=tenant.api_key).body["data"]
    (row,) = report["rows"]
    assert (row["client"], row["key"], row["requests"]) == ("customer-support", tenant.key_id, 3)
    assert row["total_tokens"] > 0
    assert float(row["cost_usd"]) > 0
    assert report["total"]["requests"] == 3
    by_client = console("GET", "/usage?group=client", key=tenant.api_key).body["data"]["rows"]
    assert by_client == [{k: v for k, v in row.items() if k not in ("day", "key")}]


def test_usage_of_clients_a_key_may_not_see_is_left_out(two_clients):
    tenant, billing_key, _ = two_clients
    assert prompt(tenant, "hello").status == 200
    count_usage()
    assert console("GET", "/usage", key=tenant.api_key).body["data"]["total"]["requests"] == 1
    assert console("GET", "/usage", key=billing_key).body["data"]["rows"] == []


@pytest.mark.parametrize(
    ("query", "words"),
    [("group=hour", "group"), ("from=yesterday", "YYYY-MM-DD"), ("from=2026-02-30", "calendar day"),
     ("from=2026-05-02&to=2026-05-01", "after"), ("from=2020-01-01&to=2026-01-01", "shorter range")],
)
def test_bad_usage_queries_are_400(tenant, query, words):
    result = console("GET", f"/usage?{query}", key=tenant.api_key)
    assert result.status == 400
    assert words in result.body["error"]["message"]


# --- the journal ---------------------------------------------------------------------------


def test_journal_lists_newest_first_filters_by_status_and_opens_a_record(tenant, openai_server):
    assert prompt(tenant, "first").status == 200
    assert prompt(tenant, "bad", key="smk_000000000000_wrong").status == 401
    assert prompt(tenant, "second").status == 200
    listed = console("GET", "/journal?client=customer-support", key=tenant.api_key).body["data"]
    statuses = [r["status"] for r in listed["records"]]
    assert statuses == [200, 401, 200] or statuses == [200, 200]  # a bad key's record has no account
    assert listed["next"] is None
    ok = console("GET", "/journal?client=customer-support&status=ok", key=tenant.api_key).body["data"]["records"]
    assert [r["status"] for r in ok] == [200, 200]
    record = console("GET", f"/journal/{ok[0]['key']}?client=customer-support", key=tenant.api_key).body["data"]
    assert record["request"]["body"]["messages"][0]["content"] == "second"
    assert record["response"]["data"]
    assert record["durations"]["total_ms"] > 0
    # Without ?client= every partition the key sees is tried.
    assert console("GET", f"/journal/{ok[0]['key']}", key=tenant.api_key).body["data"]["key"] == ok[0]["key"]


def test_journal_pages_with_a_cursor_across_clients(two_clients):
    tenant, _, billing = two_clients
    for i in range(3):
        assert prompt(tenant, f"cs {i}").status == 200
        assert prompt(billing, f"billing {i}").status == 200
    seen, cursor = [], None
    for _ in range(10):
        query = "/journal?limit=2&exclude_thing=Console" + (f"&cursor={cursor}" if cursor else "")
        data = console("GET", query, key=tenant.api_key).body["data"]
        seen += [r["key"] for r in data["records"]]
        cursor = data["next"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 6
    assert seen == sorted(seen, reverse=True)


def test_the_consoles_own_requests_are_journaled_and_can_be_left_out(tenant):
    console("GET", "/clients", key=tenant.api_key)
    everything = console("GET", "/journal?client=-", key=tenant.api_key).body["data"]["records"]
    assert any(r["thing"] == "Console" and r["command"] == "clients" for r in everything)
    assert console("GET", "/journal?client=-&exclude_thing=Console", key=tenant.api_key).body["data"]["records"] == []


@pytest.mark.parametrize(
    ("query", "words"),
    [("status=teapot", "status"), ("limit=0", "limit"), ("limit=x", "whole number"), ("cursor=abc", "cursor"), ("from=noon", "ISO 8601")],
)
def test_bad_journal_queries_are_400(tenant, query, words):
    result = console("GET", f"/journal?{query}", key=tenant.api_key)
    assert result.status == 400
    assert words in result.body["error"]["message"]


def test_a_malformed_journal_key_is_400_and_an_unknown_one_404(tenant):
    assert console("GET", "/journal/..%2F..%2Fetc", key=tenant.api_key).status in (400, 404)
    assert console("GET", "/journal/not-a-key", key=tenant.api_key).status == 400
    assert console("GET", "/journal/20260101T000000000Z-0123456789abcdef", key=tenant.api_key).status == 404


# --- manifests ---------------------------------------------------------------------------

CLIENT_YAML = """\
apiVersion: smarter.sh/v1
kind: LLMClient
metadata:
  name: sales
spec:
  config:
    provider: openai
    defaultModel: gpt-4o-mini
    subdomain: elsewhere
"""


def test_a_dry_run_validates_warns_and_diffs_without_storing(tenant):
    from smarter.store import storage

    result = console("POST", "/apply", key=tenant.api_key, body={"manifest": CLIENT_YAML, "dryRun": True})
    assert result.status == 200, result.body
    (change,) = result.body["data"]["changes"]
    assert (change["kind"], change["name"], change["action"]) == ("LLMClient", "sales", "created")
    assert any("subdomain" in w for w in change["warnings"])
    assert "+  name: sales" in change["diff"]  # manifest form, as `smarter diff` prints it
    assert storage.get_scoped("CLIENT", ACCOUNT, "sales") is None


def test_apply_stores_into_the_keys_account_and_a_second_apply_is_unchanged(tenant):
    first = console("POST", "/apply", key=tenant.api_key, body={"manifest": CLIENT_YAML})
    assert first.body["data"]["changes"][0]["result"] == "applied"
    names = [c["name"] for c in console("GET", "/clients", key=tenant.api_key).body["data"]["clients"]]
    assert "sales" in names
    again = console("POST", "/apply", key=tenant.api_key, body={"manifest": CLIENT_YAML, "dryRun": True})
    assert again.body["data"]["changes"][0]["action"] == "unchanged"


@pytest.mark.parametrize(
    ("manifest", "words"),
    [
        (CLIENT_YAML.replace("provider: openai", "provider: opnai"), "spec.config.provider"),
        (CLIENT_YAML.replace("kind: LLMClient", "kind: LLMClinet"), "did you mean"),
        ("kind: [", "not valid YAML"),
        ("", "holds no manifest"),
    ],
)
def test_an_invalid_manifest_is_400_naming_the_document_and_field(tenant, manifest, words):
    result = console("POST", "/apply", key=tenant.api_key, body={"manifest": manifest, "dryRun": True})
    assert result.status == 400, result.body
    assert words in result.body["error"]["message"]


def test_a_tenant_cannot_apply_an_account_or_into_another_account(tenant):
    account = f"apiVersion: smarter.sh/v1\nkind: Account\nmetadata:\n  name: '{ACCOUNT}'\nspec:\n  limits:\n    usdPerMonth: 100000\n"
    refused = console("POST", "/apply", key=tenant.api_key, body={"manifest": account})
    assert refused.status == 403 and "operator" in refused.body["error"]["message"]
    elsewhere = CLIENT_YAML.replace("  name: sales", "  name: sales\n  account: '2718-2818-2845'")
    refused = console("POST", "/apply", key=tenant.api_key, body={"manifest": elsewhere})
    assert refused.status == 403 and ACCOUNT in refused.body["error"]["message"]


def test_a_limited_key_cannot_apply(two_clients):
    _, billing_key, _ = two_clients
    assert console("POST", "/apply", key=billing_key, body={"manifest": CLIENT_YAML}).status == 403


def test_a_secret_is_refused_by_the_console_and_its_value_never_reaches_the_journal(tenant):
    from smarter.store import journal

    secret = "apiVersion: smarter.sh/v1\nkind: Secret\nmetadata:\n  name: crm-token\nspec:\n  config:\n    value: hunter2-very-secret-value\n"
    result = console("POST", "/apply", key=tenant.api_key, body={"manifest": secret})
    assert result.status == 403, result.body
    assert "smarter apply" in result.body["error"]["message"]
    record = journal.get(ACCOUNT, "-", result.headers["X-Smarter-Journal-Key"])
    assert "hunter2-very-secret-value" not in json.dumps(record)


@pytest.mark.parametrize(("body", "words"), [({"manifest": 3}, "manifest"), ({"manifest": "", "dryRun": "yes"}, "dryRun"), ({"manifest": "", "force": 1}, "unknown field")])
def test_bad_apply_requests_are_400(tenant, body, words):
    result = console("POST", "/apply", key=tenant.api_key, body=body)
    assert result.status == 400
    assert words in result.body["error"]["message"]


def test_wrong_methods_are_405_with_allow(tenant):
    result = console("PUT", "/keys", key=tenant.api_key)
    assert result.status == 405
    assert result.headers["Allow"] == "GET, POST, OPTIONS"
    assert console("GET", "/apply", key=tenant.api_key).status == 405
