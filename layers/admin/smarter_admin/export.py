"""Stored records as the manifests that make them: what `smarter get KIND NAME
-o yaml` and `describe -o yaml` print, and what `smarter apply -f` takes back
unchanged (as kubectl does). Re-applying an exported manifest plans
"unchanged" for every kind (tests/compat).

- Plugins and connections are stored as their (validated) manifest.
- Accounts, clients and API keys are stored as records; they are rebuilt here
  field by field, including the Smarter fields a client keeps only for this
  (tags, annotations, functions, apiKey, subdomain, an object customDomain).
- A Secret's value is never printed: the exported manifest has no `value`,
  and applying a Secret without one keeps the stored value.
- `status` is output only: what the platform knows about the item (a key's
  id and state, the tool a plugin gives the model). apply accepts and ignores it.
"""

from __future__ import annotations

from typing import Any

from smarter import API_VERSION
from smarter.tenancy.auth import iso, now
from smarter_admin.models import UI_FIELDS, AccountSpec


def _clean(doc: dict[str, Any]) -> dict[str, Any]:
    """Drop unset fields (None, empty lists and mappings) so the manifest reads as written."""
    return {k: v for k, v in doc.items() if v is not None and v != [] and v != {}}


def account(doc: dict[str, Any]) -> dict[str, Any]:
    fields = [f for f in AccountSpec.model_fields if f not in ("limits", "prices")]
    spec = _clean({**{f: doc.get(f) for f in fields}, "limits": doc.get("limits"), "prices": doc.get("prices")})
    return {"apiVersion": API_VERSION, "kind": "Account", "metadata": _clean({"name": doc["number"], "description": doc.get("description")}), "spec": spec}


def client(doc: dict[str, Any]) -> dict[str, Any]:
    kept = doc.get("smarter") or {}
    ui = doc.get("ui") or {}
    config = {
        "provider": doc.get("provider"),
        "defaultModel": doc.get("model"),
        "defaultSystemRole": doc.get("system_role"),
        "defaultTemperature": doc.get("temperature"),
        "defaultMaxTokens": doc.get("max_tokens"),
        "allowModelOverride": True if doc.get("allow_model_override") else None,
        "embeddingModel": doc.get("embedding_model"),
        "embeddingProvider": doc.get("embedding_provider") if doc.get("embedding_provider") != doc.get("provider") else None,
        **{field: ui.get(key) for key, field in UI_FIELDS.items()},
        "deployed": doc.get("deployed", True),
        "subdomain": doc.get("subdomain"),
        "customDomain": doc.get("custom_domain") or kept.get("customDomain"),
        "dnsVerificationStatus": kept.get("dnsVerificationStatus"),
    }
    spec = {"config": _clean(config), "plugins": doc.get("plugins") or [], "functions": kept.get("functions"), "apiKey": doc.get("api_key"), "limits": doc.get("limits"),
            "routing": doc.get("routing")}
    metadata = {"name": doc["name"], "account": doc.get("account"), "description": doc.get("description"), "version": doc.get("version"),
                "tags": doc.get("tags"), "annotations": doc.get("annotations")}
    return {"apiVersion": API_VERSION, "kind": doc.get("kind") or "LLMClient", "metadata": _clean(metadata), "spec": _clean(spec)}


def stored_manifest(doc: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    """A plugin or connection: stored as its manifest (spec as validated)."""
    out = {"apiVersion": doc.get("apiVersion", API_VERSION), "kind": doc["kind"], "metadata": doc["metadata"], "spec": doc.get("spec") or {}}
    if status:
        out["status"] = status
    return out


def key_state(doc: dict[str, Any]) -> str:
    """active, revoked or expired: the state `get apikeys` and the console show."""
    if doc.get("revoked_at"):
        return "revoked"
    expires = doc.get("expires_at")
    if expires and str(expires) < iso(now()):
        return "expired"
    return "active"


def api_key(doc: dict[str, Any]) -> dict[str, Any]:
    """An ApiKey: its name, clients, expiry and limits (never the key). Re-applied,
    it updates the live key of that name; a revoked key's manifest would create a
    new key, which `status.state` warns of."""
    spec = _clean({"clients": doc.get("clients"), "expiresAt": doc.get("expires_at"), "limits": doc.get("limits")})
    status = _clean({"keyId": doc.get("key_id"), "state": key_state(doc), "createdAt": doc.get("created_at"), "revokedAt": doc.get("revoked_at")})
    return {"apiVersion": API_VERSION, "kind": "ApiKey", "metadata": _clean({"name": doc.get("name"), "account": doc.get("account")}), "spec": spec, "status": status}


def secret(entry: dict[str, Any]) -> dict[str, Any]:
    """A Secret without its value: applied as it is, the stored value is kept."""
    config = _clean({"description": entry.get("description") or None, "expirationDate": entry.get("expirationDate")})
    return {"apiVersion": API_VERSION, "kind": "Secret", "metadata": _clean({"name": entry["name"], "account": entry.get("account")}), "spec": {"config": config}}


def plugin(doc: dict[str, Any], *, with_tool: bool = False) -> dict[str, Any]:
    status = None
    if with_tool:
        from smarter.llm.plugins import kind_for

        status = {"tool": kind_for(doc).tool(doc)}  # what the model will see
    return stored_manifest(doc, status)


def of(kind: str, record: dict[str, Any], *, describe: bool = False) -> dict[str, Any]:
    """The manifest of a record of a CLI kind (accounts, clients, ...); domains and
    other non-manifest records are returned as they are."""
    if kind == "accounts":
        return account(record)
    if kind == "clients":
        return client(record)
    if kind == "plugins":
        return plugin(record, with_tool=describe)
    if kind in ("connections", "providers"):
        return stored_manifest(record)
    if kind == "apikeys":
        return api_key(record)
    if kind == "secrets":
        return secret(record)
    return record


TABLE_KINDS = {"ACCOUNT": "accounts", "CLIENT": "clients", "PLUGIN": "plugins", "CONNECTION": "connections", "APIKEY": "apikeys", "SECRET": "secrets",
               "PROVIDER": "providers"}


def manifest_form(table: str, record: dict[str, Any]) -> dict[str, Any]:
    """A planned change's stored or new record (manifests.Change.before/after)
    as the manifest `get -o yaml` prints, for `smarter diff`: what the operator
    wrote, not the record's internal fields. `status` is left out (output only);
    a Secret's value shows only as whether the manifest sets one."""
    doc = of(TABLE_KINDS[table], record)
    doc = {k: v for k, v in doc.items() if k != "status"}
    if table == "SECRET" and record.get("value"):
        doc["spec"] = {**doc["spec"], "config": {**doc["spec"].get("config", {}), "value": record["value"]}}
    return doc
