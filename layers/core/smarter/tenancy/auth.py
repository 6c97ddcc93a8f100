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
from smarter.store import storage

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


def create_key(
    account: str,
    name: str,
    *,
    clients: list[str] | None = None,
    expires_at: datetime | None = None,
    expires_in_days: int | None = None,
    limits: dict[str, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    if expires_in_days:
        expires_at = now() + timedelta(days=expires_in_days)
    key_id, secret = new_key()
    doc = {
        "key_id": key_id,
        "account": account,
        "name": name,
        "clients": sorted(set(clients)) if clients else None,
        "created_at": iso(now()),
        "expires_at": iso(expires_at) if expires_at else None,
        "revoked_at": None,
        "limits": limits or {},
    }
    storage.put_api_key(hash_key(secret), doc)
    return secret, doc


def find_key(account: str, key_id_or_name: str) -> dict[str, Any] | None:
    for doc in storage.list_api_keys(account):
        if key_id_or_name in (doc["key_id"], doc["name"]):
            return doc
    return None


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
    return doc


def authorize_client(key: dict[str, Any], account: str, client: str) -> None:
    if key["account"] != account:
        raise Forbidden("this API key belongs to another account")
    if key.get("clients") and client not in key["clients"]:
        raise Forbidden(f"this API key is not allowed to call the client {client!r}")
