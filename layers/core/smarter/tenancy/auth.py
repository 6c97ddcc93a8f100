"""API keys: random, shown once, stored only as a SHA-256 hash.

A key has 256 bits of randomness, so a fast hash is enough: there is nothing
to brute-force, and the lookup by hash is one GetItem (cached briefly, which
bounds how long a revoked key keeps working: SMARTER_CACHE_TTL).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

from smarter.errors import BadRequest, Forbidden, Unauthorized
from smarter.store import storage, tenant_aws

KEY_PREFIX = "smk"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> tuple[str, str]:
    """(key_id, full secret key). The id is public; the secret is shown once."""
    key_id = secrets.token_hex(6)
    return key_id, f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


def now() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"not an ISO 8601 time: {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def check_clients(clients: list[str] | None) -> list[str] | None:
    """None (all the account's clients) or a non-empty, sorted list. An empty list is
    refused rather than read as "all": it would grant the opposite of what it says."""
    if clients is None:
        return None
    if not clients:
        raise BadRequest("clients: an empty list would allow no client; omit clients for every client of the account, or name at least one")
    return sorted(set(clients))


def expiry(expires_at: datetime | None = None, expires_in_days: int | None = None) -> datetime | None:
    """When a key created or updated now expires; a time already past is refused."""
    if expires_in_days is not None:
        if expires_in_days < 1:
            raise BadRequest("expiresInDays: must be at least 1")
        return now() + timedelta(days=expires_in_days)
    if expires_at is not None and expires_at <= now():
        raise BadRequest(f"expiresAt: {iso(expires_at)} is already past; a key must expire in the future (revoke a key to stop it now)")
    return expires_at


def create_key(
    account: str,
    name: str,
    *,
    clients: list[str] | None = None,
    expires_at: datetime | None = None,
    expires_in_days: int | None = None,
    limits: dict[str, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    clients = check_clients(clients)
    expires_at = expiry(expires_at, expires_in_days)
    key_id, secret = new_key()
    doc = {
        "key_id": key_id,
        "account": account,
        "name": name,
        "clients": clients,
        "created_at": iso(now()),
        "expires_at": iso(expires_at) if expires_at else None,
        "revoked_at": None,
        "limits": limits or {},
    }
    storage.put_api_key(hash_key(secret), doc)
    return secret, doc


def find_key(account: str, key_id_or_name: str) -> dict[str, Any] | None:
    """The key with this id; else the one live key with this name. Names may repeat
    (a revoked key keeps its name), so a name naming several live keys is an error."""
    keys = storage.list_api_keys(account)
    for doc in keys:
        if doc["key_id"] == key_id_or_name:
            return doc
    live = live_keys_named(keys, key_id_or_name)
    if len(live) > 1:
        ids = ", ".join(sorted(d["key_id"] for d in live))
        raise BadRequest(f"{len(live)} live keys are named {key_id_or_name!r} (ids {ids}); name the key by its id")
    if live:
        return live[0]
    return next((d for d in keys if d["name"] == key_id_or_name), None)


def live_keys_named(keys: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [d for d in keys if d["name"] == name and not d.get("revoked_at")]


def revoke_key(doc: dict[str, Any]) -> dict[str, Any]:
    doc = {**doc, "revoked_at": doc.get("revoked_at") or iso(now())}
    key_hash = doc.pop("key_hash")
    storage.put_api_key(key_hash, doc)
    return doc


def key_from_headers(headers: dict[str, str] | None) -> str:
    """The key from `Authorization: Token <key>` or `Authorization: Bearer <key>`."""
    value = ""
    for name, header in (headers or {}).items():
        if name.lower() == "authorization":
            value = (header or "").strip()
            break
    if not value:
        raise Unauthorized("missing API key: send 'Authorization: Token <key>' or 'Authorization: Bearer <key>'")
    scheme, _, key = value.partition(" ")
    if scheme.lower() not in ("token", "bearer") or not key.strip():
        raise Unauthorized("malformed Authorization header: use 'Token <key>' or 'Bearer <key>'")
    return key.strip()


def authenticate(headers: dict[str, str] | None) -> dict[str, Any]:
    """The key's record, if it is known, not revoked and not expired."""
    key = key_from_headers(headers)
    doc = storage.get_api_key(hash_key(key))
    if doc is None:
        raise Unauthorized("invalid API key")
    if doc.get("revoked_at"):
        raise Unauthorized("this API key has been revoked")
    if doc.get("expires_at") and parse_time(doc["expires_at"]) <= now():
        raise Unauthorized(f"this API key expired at {doc['expires_at']}")
    # The key's account is the one the request acts for in AWS from here
    # (a key of another account than the host's is refused by authorize_client).
    tenant_aws.bind(doc["account"])
    return doc


def authorize_client(key: dict[str, Any], account: str, client: str) -> None:
    if key["account"] != account:
        raise Forbidden("this API key belongs to another account")
    # None means every client of the account; a list (never empty) names the allowed ones.
    if key.get("clients") is not None and client not in key["clients"]:
        raise Forbidden(f"this API key is not allowed to call the client {client!r}")
