"""Applying manifests: validate, then store. Used by the CLI and the local stack.

Documents in one file are applied in dependency order (accounts, connections,
plugins, clients, keys), so a file can define a whole tenant.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from smarter.errors import ManifestError, NotFound, SmarterError
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
        return _apply_api_key(number, name, validate_model(ApiKeySpec, manifest.spec, "spec"))

    known = ["Account", *CLIENT_KINDS, *sorted(plugins.plugin_manifest_kinds()), *sorted(plugins.connection_manifest_kinds()), "ApiKey"]
    raise ManifestError("kind", f"unknown kind {kind!r}; known: {', '.join(known)}")


def _apply_api_key(number: str, name: str, spec: ApiKeySpec) -> dict[str, Any]:
    """Create the key named `name`, or update the one live key of that name.
    An update never widens the key's clients unless the manifest says
    `allowWidening: true`; `clients` omitted keeps them; expiry is honoured."""
    clients = _wanted_clients(spec.clients)
    try:
        expires_at = parse_time(spec.expiresAt) if spec.expiresAt else None
        expires_at = auth.expiry(expires_at, spec.expiresInDays)
    except SmarterError as exc:
        raise ManifestError("spec." + ("expiresInDays" if spec.expiresInDays is not None else "expiresAt"), exc.message.split(": ", 1)[-1]) from None
    live = auth.live_keys_named(storage.list_api_keys(number), name)
    if len(live) > 1:
        ids = ", ".join(sorted(d["key_id"] for d in live))
        raise ManifestError("metadata.name", f"{len(live)} live keys are named {name!r} (ids {ids}); revoke the extra ones by id first")
    if live:
        existing = live[0]
        key_hash = existing.pop("key_hash")
        new_clients = existing.get("clients") if spec.clients is None else clients
        widened = _widens(existing.get("clients"), new_clients)
        if widened and not spec.allowWidening:
            raise ManifestError(
                "spec.clients",
                f"this would widen the key {existing['key_id']} from {existing.get('clients')} to {new_clients or 'every client'}; "
                "set allowWidening: true to mean it, or create a new key",
            )
        existing.update(clients=new_clients, expires_at=iso(expires_at) if expires_at else existing.get("expires_at"))
        storage.put_api_key(key_hash, existing)
        return {"kind": "ApiKey", "name": name, "account": number, "key_id": existing["key_id"], "clients": new_clients, "expires_at": existing["expires_at"], "result": "updated"}
    secret, doc = auth.create_key(number, name, clients=clients, expires_at=expires_at)
    return {"kind": "ApiKey", "name": name, "account": number, "key_id": doc["key_id"], "api_key": secret, "result": "created"}


def _wanted_clients(clients: list[str] | None) -> list[str] | None:
    """None for every client (omitted or ["*"]), else the named clients."""
    if clients is None or clients == ["*"]:
        return None
    if "*" in clients:
        raise ManifestError("spec.clients", "'*' means every client and stands alone")
    for i, client in enumerate(clients):
        if not CLIENT_NAME.match(client):
            raise ManifestError(f"spec.clients.{i}", f"{client!r} is not a client name")
    return sorted(set(clients))


def _widens(old: list[str] | None, new: list[str] | None) -> bool:
    if old is None:
        return False  # already every client
    return new is None or not set(new) <= set(old)
