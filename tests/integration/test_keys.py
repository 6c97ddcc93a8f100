"""API keys mean what they say: revoked by id, never widened by a re-apply,
an empty clients list refused, expiry honoured, platform routes scoped."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from support import API_DOMAIN, invoke, prompt

from smarter_admin.cli import main
from smarter_local.openai_server import completion

ACCOUNT = "3141-5926-5359"


def key_manifest(name: str = "app", **spec) -> dict:
    return {"apiVersion": "smarter.sh/v1", "kind": "ApiKey", "metadata": {"name": name, "account": ACCOUNT}, "spec": spec}


def apply(manifest: dict) -> dict:
    from smarter_admin import manifests

    return manifests.apply(manifest)


def stored(key_id: str) -> dict:
    from smarter.store import storage

    return next(d for d in storage.list_api_keys(ACCOUNT) if d["key_id"] == key_id)


def cli(capsys, *args) -> tuple[int, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


# --- revoke --------------------------------------------------------------------------


def test_revoke_by_id_revokes_that_key_and_no_other_of_the_same_name(tenant, capsys, monkeypatch):
    from smarter.tenancy import auth

    monkeypatch.setenv("SMARTER_ACCOUNT", ACCOUNT)
    old_secret, old = auth.create_key(ACCOUNT, "ci")
    new_secret, new = auth.create_key(ACCOUNT, "ci")  # names may repeat
    code, out = cli(capsys, "apikey", "revoke", old["key_id"])
    assert code == 0, out
    assert stored(old["key_id"])["revoked_at"]
    assert stored(new["key_id"])["revoked_at"] is None
    assert prompt(tenant, "hi", key=new_secret).status == 200
    assert prompt(tenant, "hi", key=old_secret).status == 401


def test_revoke_by_a_name_that_several_live_keys_share_is_refused_naming_the_ids(tenant, capsys, monkeypatch):
    from smarter.tenancy import auth

    monkeypatch.setenv("SMARTER_ACCOUNT", ACCOUNT)
    _, first = auth.create_key(ACCOUNT, "ci")
    _, second = auth.create_key(ACCOUNT, "ci")
    code, out = cli(capsys, "apikey", "revoke", "ci")
    assert code != 0
    assert first["key_id"] in out and second["key_id"] in out
    assert stored(first["key_id"])["revoked_at"] is None and stored(second["key_id"])["revoked_at"] is None


def test_revoke_by_name_picks_the_live_key_not_an_already_revoked_one(tenant, capsys, monkeypatch):
    """The bug seen 1 time in 6: the revoked key of the same name was 'revoked' again."""
    from smarter.tenancy import auth

    monkeypatch.setenv("SMARTER_ACCOUNT", ACCOUNT)
    for _ in range(6):
        _, gone = auth.create_key(ACCOUNT, "rotating")
        auth.revoke_key(auth.find_key(ACCOUNT, gone["key_id"]))
    live_secret, live = auth.create_key(ACCOUNT, "rotating")
    code, out = cli(capsys, "apikey", "revoke", "rotating")
    assert code == 0, out
    assert live["key_id"] in out
    assert stored(live["key_id"])["revoked_at"]
    assert prompt(tenant, "hi", key=live_secret).status == 401


def test_revoking_a_revoked_key_again_changes_nothing(tenant, capsys, monkeypatch):
    from smarter.tenancy import auth

    monkeypatch.setenv("SMARTER_ACCOUNT", ACCOUNT)
    _, doc = auth.create_key(ACCOUNT, "once")
    assert cli(capsys, "apikey", "revoke", doc["key_id"])[0] == 0
    first = stored(doc["key_id"])["revoked_at"]
    code, out = cli(capsys, "apikey", "revoke", doc["key_id"])
    assert code == 0 and first in out
    assert stored(doc["key_id"])["revoked_at"] == first


# --- manifests -----------------------------------------------------------------------


def test_reapplying_without_clients_keeps_the_clients(tenant):
    created = apply(key_manifest(clients=["customer-support"]))
    updated = apply(key_manifest())
    assert updated["result"] == "updated"
    assert stored(created["key_id"])["clients"] == ["customer-support"]


def test_reapplying_with_more_clients_is_refused_unless_asked_for(tenant):
    from smarter.errors import ManifestError

    created = apply(key_manifest(clients=["customer-support"]))
    with pytest.raises(ManifestError) as refused:
        apply(key_manifest(clients=["customer-support", "billing"]))
    assert refused.value.path == "spec.clients" and "widen" in refused.value.reason
    with pytest.raises(ManifestError):
        apply(key_manifest(clients=["*"]))  # every client: wider still
    assert stored(created["key_id"])["clients"] == ["customer-support"]
    apply(key_manifest(clients=["customer-support", "billing"], allowWidening=True))
    assert stored(created["key_id"])["clients"] == ["billing", "customer-support"]


def test_reapplying_with_fewer_clients_narrows_the_key(tenant):
    created = apply(key_manifest(clients=["billing", "customer-support"]))
    apply(key_manifest(clients=["billing"]))
    assert stored(created["key_id"])["clients"] == ["billing"]
    assert prompt(tenant, "hi", key=created["api_key"]).status == 403


def test_an_empty_clients_list_is_refused(tenant):
    from smarter.errors import BadRequest, ManifestError
    from smarter.tenancy import auth

    with pytest.raises(ManifestError) as refused:
        apply(key_manifest(clients=[]))
    assert refused.value.path == "spec.clients"
    with pytest.raises(BadRequest, match="clients: an empty list"):
        auth.create_key(ACCOUNT, "x", clients=[])


def test_a_key_stored_with_an_empty_clients_list_allows_no_client(tenant):
    """Older records may hold []: it means none, never all."""
    from smarter import cache
    from smarter.store import storage
    from smarter.tenancy import auth

    secret, doc = auth.create_key(ACCOUNT, "legacy")
    key_hash = auth.hash_key(secret)
    storage.put_api_key(key_hash, {**doc, "clients": []})
    cache.clear_all()
    assert prompt(tenant, "hi", key=secret).status == 403


def test_expires_in_days_is_honoured_on_update(tenant):
    created = apply(key_manifest())
    assert stored(created["key_id"])["expires_at"] is None
    apply(key_manifest(expiresInDays=3))
    expires = datetime.fromisoformat(stored(created["key_id"])["expires_at"].replace("Z", "+00:00"))
    assert timedelta(days=2, hours=23) < expires - datetime.now(timezone.utc) <= timedelta(days=3)


def test_reapplying_without_limits_keeps_the_limits(tenant):
    created = apply(key_manifest(limits={"requestsPerMinute": 5, "usdPerDay": "0.01"}))
    apply(key_manifest())
    assert stored(created["key_id"])["limits"] == {"requestsPerMinute": 5, "usdPerDay": "0.01"}


@pytest.mark.parametrize("field, old, wider", [
    ("requestsPerMinute", 5, 6),
    ("tokensPerMinute", 100, 1000),
    ("tokensPerDay", 1000, 1001),
    ("tokensPerMonth", 1000, 2000),
    ("usdPerDay", "0.01", "0.02"),
    ("usdPerMonth", "1", "1.000001"),
])
def test_reapplying_a_raised_or_removed_limit_is_refused_unless_asked_for(tenant, field, old, wider):
    from smarter.errors import ManifestError

    created = apply(key_manifest(limits={field: old, "requestsPerMinute": 5} if field != "requestsPerMinute" else {field: old}))
    before = stored(created["key_id"])["limits"]
    for limits in ({field: wider, **({"requestsPerMinute": 5} if field != "requestsPerMinute" else {})},  # raised
                   {"tokensPerMinute": 1} if field != "tokensPerMinute" else {"requestsPerMinute": 5}):  # removed
        with pytest.raises(ManifestError) as refused:
            apply(key_manifest(limits=limits))
        assert refused.value.path.startswith("spec.limits.") and "allowWidening" in refused.value.reason
        assert stored(created["key_id"])["limits"] == before
    apply(key_manifest(limits={}, allowWidening=True))
    assert stored(created["key_id"])["limits"] == {}


def test_reapplying_a_lower_limit_narrows_the_key(tenant):
    created = apply(key_manifest(limits={"requestsPerMinute": 5, "usdPerDay": "0.01"}))
    apply(key_manifest(limits={"requestsPerMinute": 4, "usdPerDay": "0.005", "tokensPerDay": 10}))
    assert stored(created["key_id"])["limits"] == {"requestsPerMinute": 4, "usdPerDay": "0.005", "tokensPerDay": 10}


@pytest.mark.parametrize("field", ["expiresInDays", "expiresAt"])
def test_reapplying_a_later_expiry_is_refused_unless_asked_for(tenant, field):
    from smarter.errors import ManifestError

    created = apply(key_manifest(expiresInDays=1))
    before = stored(created["key_id"])["expires_at"]
    later = {"expiresInDays": 3650} if field == "expiresInDays" else {"expiresAt": (datetime.now(timezone.utc) + timedelta(days=2)).isoformat()}
    with pytest.raises(ManifestError) as refused:
        apply(key_manifest(**later))
    assert refused.value.path == f"spec.{field}" and "extend" in refused.value.reason
    assert stored(created["key_id"])["expires_at"] == before
    apply(key_manifest(**later, allowWidening=True))
    assert stored(created["key_id"])["expires_at"] > before


def test_reapplying_an_earlier_expiry_narrows_the_key(tenant):
    created = apply(key_manifest(expiresInDays=30))
    apply(key_manifest(expiresInDays=2))
    expires = datetime.fromisoformat(stored(created["key_id"])["expires_at"].replace("Z", "+00:00"))
    assert expires - datetime.now(timezone.utc) <= timedelta(days=2)


def test_an_already_expired_key_cannot_be_created(tenant, capsys):
    from smarter.errors import BadRequest, ManifestError
    from smarter.tenancy import auth

    past = (datetime.now(timezone.utc) - timedelta(days=1)).isoformat()
    with pytest.raises(ManifestError) as refused:
        apply(key_manifest("late", expiresAt=past))
    assert refused.value.path == "spec.expiresAt" and "already past" in refused.value.reason
    with pytest.raises(BadRequest, match="already past"):
        auth.create_key(ACCOUNT, "late", expires_at=datetime.now(timezone.utc) - timedelta(seconds=1))


def test_several_live_keys_of_one_name_make_the_manifest_ambiguous(tenant):
    from smarter.errors import ManifestError
    from smarter.tenancy import auth

    auth.create_key(ACCOUNT, "dup")
    auth.create_key(ACCOUNT, "dup")
    with pytest.raises(ManifestError, match="live keys are named 'dup'"):
        apply(key_manifest("dup", clients=["customer-support"]))


def test_a_revoked_key_of_the_same_name_does_not_block_creating_a_new_one(tenant):
    from smarter.tenancy import auth

    first = apply(key_manifest("svc"))
    auth.revoke_key(auth.find_key(ACCOUNT, first["key_id"]))
    second = apply(key_manifest("svc"))
    assert second["result"] == "created" and second["key_id"] != first["key_id"]


# --- platform routes -----------------------------------------------------------------


def platform(tenant, method, path, key, body=None):
    return invoke("passthrough", method, path, host=API_DOMAIN, body=body, key=key, scheme="Bearer")


def test_a_client_limited_key_may_not_use_the_passthrough(tenant, openai_server):
    from smarter.tenancy import auth

    secret, _ = auth.create_key(ACCOUNT, "limited", clients=[tenant.client])
    before = len(openai_server.requests)
    result = platform(tenant, "POST", "/v1/passthrough/openai", secret, {"messages": [{"role": "user", "content": "hi"}]})
    assert result.status == 403
    assert "needs a key of the whole account" in result.body["error"]["message"]
    assert len(openai_server.requests) == before  # the platform's key was never spent


def test_an_account_wide_key_may_use_the_passthrough(tenant, openai_server):
    openai_server.enqueue(body=completion("pong"))
    result = platform(tenant, "POST", "/v1/passthrough/openai", tenant.api_key, {"messages": [{"role": "user", "content": "hi"}]})
    assert result.status == 200


def test_a_client_limited_key_may_list_providers_and_ask_whoami(tenant):
    from smarter.tenancy import auth

    secret, doc = auth.create_key(ACCOUNT, "limited", clients=[tenant.client])
    assert platform(tenant, "GET", "/v1/providers", secret).status == 200
    whoami = platform(tenant, "GET", "/v1/whoami", secret)
    assert whoami.body["data"]["clients"] == [tenant.client]


def test_the_provider_listing_never_shows_the_operators_base_url_overrides(tenant, openai_server):
    result = platform(tenant, "GET", "/v1/providers", tenant.api_key)
    listing = {p["name"]: p for p in result.body["data"]["providers"]}
    assert listing["openai"]["base_url"] == "https://api.openai.com/v1"
    assert openai_server.base_url not in json.dumps(result.body)
    assert listing["openai"]["configured"] is True
