"""Applying manifests: validate, then store. Used by the CLI and the local stack.

Documents in one file are applied in dependency order (accounts, connections,
plugins, clients, keys), so a file can define a whole tenant.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from smarter.errors import ManifestError, NotFound
from smarter.llm import plugins, providers
from smarter.schema import ACCOUNT_NUMBER, CLIENT_NAME, validate_model
from smarter.store import storage
from smarter.tenancy import auth
from smarter.tenancy.auth import iso, now, parse_time
from smarter_admin import domains
from smarter_admin.models import AccountSpec, ApiKeySpec, ClientSpec, parse_manifest

CLIENT_KINDS = ("LLMClient", "Chatbot")
ORDER = {"Account": 0, "ApiConnection": 1, "SqlConnection": 1, "Plugin": 2, "ApiPlugin": 2, "SqlPlugin": 2, "LLMClient": 3, "Chatbot": 3, "ApiKey": 4}


def load_documents(text: str) -> list[dict[str, Any]]:
    """YAML (one or many documents) or JSON (an object or a list of them)."""
    stripped = text.lstrip()
    try:
        if stripped.startswith(("{", "[")):
            data = json.loads(text)
            docs = data if isinstance(data, list) else [data]
        else:
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except (ValueError, yaml.YAMLError) as exc:
        raise ManifestError("", f"not valid YAML or JSON: {exc}") from None
    if not docs:
        raise ManifestError("", "the file holds no manifest")
    return docs


def apply_documents(docs: list[dict[str, Any]], *, account: str | None = None) -> list[dict[str, Any]]:
    results = []
    for doc in sorted(docs, key=_order):
        results.append(apply(doc, account=account))
    return results


def _order(doc: Any) -> int:
    """Dependency order; kinds installed later (new plugin kinds) sort with their peers."""
    kind = doc.get("kind") if isinstance(doc, dict) else ""
    if kind in ORDER:
        return ORDER[kind]
    if kind in plugins.connection_manifest_kinds():
        return 1
    if kind in plugins.plugin_manifest_kinds():
        return 2
    return 9


def _account_of(manifest: Any, account: str | None) -> str:
    number = manifest.metadata.account or account
    if not number:
        raise ManifestError("metadata.account", "which account? set metadata.account or pass --account")
    if not ACCOUNT_NUMBER.match(number):
        raise ManifestError("metadata.account", f"an account number looks like 3141-5926-5359, got {number!r}")
    if storage.get_account(number) is None:
        raise ManifestError("metadata.account", f"the account {number} does not exist; apply its Account manifest first")
    return number


def apply(data: dict[str, Any], *, account: str | None = None) -> dict[str, Any]:
    """Apply one manifest; returns a summary (for ApiKey, including the secret, shown once)."""
    manifest = parse_manifest(data)
    kind = manifest.kind
    name = manifest.metadata.name
    stamp = iso(now())

    if kind == "Account":
        if not ACCOUNT_NUMBER.match(name):
            raise ManifestError("metadata.name", f"an account number looks like 3141-5926-5359, got {name!r}")
        spec = validate_model(AccountSpec, manifest.spec, "spec")
        existing = storage.get_account(name) or {}
        storage.put_account(name, {"number": name, "description": manifest.metadata.description, **spec.model_dump(), "created_at": existing.get("created_at", stamp), "updated_at": stamp})
        note = domains.on_account_applied(name)  # default hosts, when the platform owns the zone
        return {"kind": kind, "name": name, "result": f"applied; {note}" if note else "applied"}

    number = _account_of(manifest, account)

    if kind in CLIENT_KINDS:
        if not CLIENT_NAME.match(name):
            raise ManifestError("metadata.name", "a client name is a DNS label: lower-case letters, digits and '-', starting with a letter")
        spec = validate_model(ClientSpec, manifest.spec, "spec")
        config = spec.config
        try:
            provider = providers.get_provider(config.provider)
        except NotFound as exc:
            raise ManifestError("spec.config.provider", exc.message) from None
        found = storage.get_many_scoped("PLUGIN", number, spec.plugins) if spec.plugins else {}
        for i, plugin_name in enumerate(spec.plugins):
            if plugin_name not in found:
                raise ManifestError(f"spec.plugins.{i}", f"no plugin named {plugin_name!r} in account {number}")
        existing_item = storage.get_scoped_item("CLIENT", number, name)
        existing = storage.decode(existing_item) or {}
        doc = {
            "name": name,
            "account": number,
            "description": manifest.metadata.description,
            "version": manifest.metadata.version,
            "provider": provider.name,
            "model": config.defaultModel or provider.default_model,
            "system_role": config.defaultSystemRole,
            "temperature": config.defaultTemperature,
            "max_tokens": config.defaultMaxTokens,
            "allow_model_override": config.allowModelOverride,
            "ui": {
                "app_name": config.appName,
                "welcome_message": config.appWelcomeMessage,
                "example_prompts": config.appExamplePrompts,
                "placeholder": config.appPlaceholder,
                "assistant": config.appAssistant,
                "info_url": config.appInfoUrl,
            },
            "plugins": spec.plugins,
            "custom_domain": config.customDomain,
            "deployed": config.deployed,
            "created_at": existing.get("created_at", stamp),
            "updated_at": stamp,
        }
        verified = (existing_item or {}).get("verified_domain", {}).get("S")
        storage.put_scoped("CLIENT", number, name, doc, verified_domain=verified)
        return {"kind": "LLMClient", "name": name, "account": number, "result": "applied"}

    if kind in plugins.plugin_manifest_kinds():
        stored = {**data, "metadata": {**data["metadata"], "account": number}}
        stored["spec"] = plugins.kind_for(stored).validate(stored)
        storage.put_scoped("PLUGIN", number, name, stored)
        return {"kind": kind, "name": name, "account": number, "result": "applied"}

    if kind in plugins.connection_manifest_kinds():
        stored = {**data, "metadata": {**data["metadata"], "account": number}}
        stored["spec"] = plugins.connection_kind_for(kind).validate_connection(stored)
        storage.put_scoped("CONNECTION", number, name, stored)
        return {"kind": kind, "name": name, "account": number, "result": "applied"}

    if kind == "ApiKey":
        spec = validate_model(ApiKeySpec, manifest.spec, "spec")
        expires_at = parse_time(spec.expiresAt) if spec.expiresAt else None
        existing = auth.find_key(number, name)
        if existing and not existing.get("revoked_at"):
            # Re-applying changes the limits of the existing key; the secret is never shown again.
            key_hash = existing.pop("key_hash")
            existing.update(clients=spec.clients, expires_at=iso(expires_at) if expires_at else existing.get("expires_at"))
            storage.put_api_key(key_hash, existing)
            return {"kind": kind, "name": name, "account": number, "key_id": existing["key_id"], "result": "updated"}
        secret, doc = auth.create_key(number, name, clients=spec.clients, expires_at=expires_at, expires_in_days=spec.expiresInDays)
        return {"kind": kind, "name": name, "account": number, "key_id": doc["key_id"], "api_key": secret, "result": "created"}

    known = ["Account", *CLIENT_KINDS, *sorted(plugins.plugin_manifest_kinds()), *sorted(plugins.connection_manifest_kinds()), "ApiKey"]
    raise ManifestError("kind", f"unknown kind {kind!r}; known: {', '.join(known)}")
