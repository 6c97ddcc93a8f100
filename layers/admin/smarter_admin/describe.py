"""`smarter describe`: one item as an operator reads it, kubectl's form: aligned
`Field: value` lines, then what the item is connected to (a client's host,
plugins and domain; what uses a plugin, connection or secret) and, for a
client, its recent failed requests from the journal. `-o yaml|json` prints the
manifest instead (smarter_admin.export)."""

from __future__ import annotations

from typing import Any

from smarter_admin import output
from smarter_admin.output import account_of, age

RECENT = 50  # journal records looked at for a client's recent errors
ERRORS_SHOWN = 5


def _print(fields: list[tuple[str, Any]]) -> None:
    width = max(len(label) for label, _ in fields) + 2
    for label, value in fields:
        if isinstance(value, list):
            output.out(f"{label}:".ljust(width).rstrip() + (" " * (width - len(label) - 1) + "<none>" if not value else ""))
            for line in value:
                output.out(f"  {line}")
        else:
            output.out(f"{label}:".ljust(width) + ("<none>" if value in (None, "", {}) else str(value)))


def _limits(doc: dict[str, Any]) -> list[str]:
    return [f"{k}: {v}" for k, v in (doc.get("limits") or {}).items()]


def show(kind: str, item: dict[str, Any], account: str | None) -> None:
    {"accounts": _account, "clients": _client, "plugins": _plugin, "connections": _connection,
     "apikeys": _apikey, "secrets": _secret, "domains": _domain, "providers": _provider}[kind](item, account)


def _provider(doc: dict[str, Any], account: str | None) -> None:
    """An account's own provider: where it is, which Secrets it names (never their values), its models."""
    from smarter.store import storage

    meta, spec = doc.get("metadata") or {}, doc.get("spec") or {}
    number = meta.get("account") or account_of(account)
    users = [c["name"] for c in storage.list_scoped("CLIENT", number)
             if c.get("provider") == meta.get("name") or any(t.get("provider") == meta.get("name") for t in (c.get("routing") or {}).get("targets") or [])]
    _print([
        ("Name", meta.get("name")),
        ("Kind", "Provider"),
        ("Account", number),
        ("Base URL", spec.get("baseUrl")),
        ("Key secret", spec.get("apiKey")),
        ("Header secrets", [f"{h}: {s}" for h, s in (spec.get("headers") or {}).items()]),
        ("Default model", spec.get("defaultModel")),
        ("Models", [m["name"] + (f"  (in {m['prices']['input']}, out {m['prices']['output']} USD/M)" if m.get("prices") else "") for m in spec.get("models") or []]),
        ("Used by", [f"clients/{n}" for n in users]),
    ])


def _client(doc: dict[str, Any], account: str | None) -> None:
    from smarter.config import settings
    from smarter.store import journal, storage

    number = doc.get("account") or account_of(account)
    host = f"{doc.get('host_label') or doc['name']}.{number}.{settings().api_domain}"
    found = storage.get_many_scoped("PLUGIN", number, doc.get("plugins") or []) if doc.get("plugins") else {}
    plugins = [f"{p} ({found[p].get('kind')})" if p in found else f"{p} (missing: no such plugin)" for p in doc.get("plugins") or []]
    domains = [f"{d['domain']} ({d.get('status')})" for d in storage.list_domains(number) if d.get("client") == doc["name"]]
    keys = [k for k in storage.list_api_keys(number) if not k.get("revoked_at") and (not k.get("clients") or doc["name"] in k["clients"])]
    recent = journal.recent(number, doc["name"], RECENT)
    failed = [r for r in recent if int(r.get("status") or 0) >= 400]
    errors = [f"{r.get('key')}  {r.get('status')}  {r.get('command')}  {age(r.get('created_at'))} ago"
              + (f"  {r['error']}" if r.get("error") else "") for r in failed[:ERRORS_SHOWN]]
    _print([
        ("Name", doc["name"]),
        ("Kind", doc.get("kind") or "LLMClient"),
        ("Account", number),
        ("Description", doc.get("description")),
        ("Host", host),
        ("State", "deployed" if doc.get("deployed", True) else "not deployed (requests get 403)"),
        ("Provider", doc.get("provider")),
        ("Model", doc.get("model") + (" (requests may override)" if doc.get("allow_model_override") else "")),
        ("Temperature", doc.get("temperature")),
        ("Max tokens", doc.get("max_tokens")),
        ("System role", doc.get("system_role")),
        ("Plugins", plugins),
        ("Custom domains", domains),
        ("Limits", _limits(doc) or "none of its own (the account's and each key's apply)"),
        ("Live API keys", f"{len(keys)} may call it"),
        ("Tags", ", ".join(doc.get("tags") or []) or None),
        ("Created", f"{doc.get('created_at')} ({age(doc.get('created_at'))} ago)"),
        ("Updated", doc.get("updated_at")),
        ("Recent errors", [f"{len(failed)} of the last {len(recent)} requests failed", *errors] if recent else "none (no requests yet)"),
    ])


def _plugin(doc: dict[str, Any], account: str | None) -> None:
    from smarter_admin import references

    meta, spec = doc.get("metadata") or {}, doc.get("spec") or {}
    number = meta.get("account") or account_of(account)
    selector = spec.get("selector") or {}
    connection = spec.get("connection")
    _print([
        ("Name", meta.get("name")),
        ("Kind", doc.get("kind")),
        ("Account", number),
        ("Class", meta.get("pluginClass")),
        ("Version", meta.get("version")),
        ("Description", meta.get("description")),
        ("Selector", f"{selector.get('directive')}" + (f" ({', '.join(selector.get('searchTerms') or [])})" if selector.get("searchTerms") else "")),
        ("Connection", connection if isinstance(connection, str) else "inline" if connection else None),
        ("Tags", ", ".join(meta.get("tags") or []) or None),
        ("Used by", [f"{k}/{n}" for k, n in references.referrers("plugins", number, meta.get("name"))]),
    ])


def _connection(doc: dict[str, Any], account: str | None) -> None:
    from smarter_admin import references
    from smarter_admin.cli import _target

    meta = doc.get("metadata") or {}
    number = meta.get("account") or account_of(account)
    _print([
        ("Name", meta.get("name")),
        ("Kind", doc.get("kind")),
        ("Account", number),
        ("Target", _target(doc)),
        ("Secret", references._secret_of(doc)),
        ("Used by", [f"{k}/{n}" for k, n in references.referrers("connections", number, meta.get("name"))]),
    ])


def _account(doc: dict[str, Any], account: str | None) -> None:
    from smarter.store import storage

    number = doc["number"]
    keys = storage.list_api_keys(number)
    _print([
        ("Number", number),
        ("Company", doc.get("companyName")),
        ("Email", doc.get("email")),
        ("Clients", len(storage.list_scoped("CLIENT", number))),
        ("Plugins", len(storage.list_scoped("PLUGIN", number))),
        ("API keys", f"{sum(1 for k in keys if not k.get('revoked_at'))} live, {sum(1 for k in keys if k.get('revoked_at'))} revoked"),
        ("Limits", _limits(doc) or "none of its own"),
        ("Prices", [f"{model}: {p}" for model, p in (doc.get("prices") or {}).items()]),
        ("Created", f"{doc.get('created_at')} ({age(doc.get('created_at'))} ago)"),
    ])


def _apikey(doc: dict[str, Any], account: str | None) -> None:
    from smarter_admin.cli import _key_state

    _print([
        ("Key id", doc.get("key_id")),
        ("Name", doc.get("name")),
        ("Account", doc.get("account")),
        ("Status", _key_state(doc)),
        ("Clients", ", ".join(doc.get("clients") or []) or "every client of the account"),
        ("Expires", doc.get("expires_at") or "never"),
        ("Revoked", doc.get("revoked_at")),
        ("Limits", _limits(doc) or "none of its own"),
        ("Created", f"{doc.get('created_at')} ({age(doc.get('created_at'))} ago)"),
    ])


def _secret(doc: dict[str, Any], account: str | None) -> None:
    from smarter_admin import references

    number = doc.get("account") or account_of(account)
    _print([
        ("Name", doc["name"]),
        ("Account", number),
        ("Description", doc.get("description")),
        ("Value", "(stored in Secrets Manager, never shown)"),
        ("Expires", doc.get("expirationDate")),
        ("Updated", doc.get("updated_at")),
        ("Used by", [f"{k}/{n}" for k, n in references.referrers("secrets", number, doc["name"])]),
    ])


def _domain(doc: dict[str, Any], account: str | None) -> None:
    target = doc.get("target") or {}
    _print([
        ("Domain", doc["domain"]),
        ("Kind", doc.get("kind")),
        ("Status", doc.get("status")),
        ("Account", doc.get("account")),
        ("Client", doc.get("client")),
        ("Target", target.get("domain_name")),
        ("Message", doc.get("error") or doc.get("message")),
        ("Validation records", [f"{r['name']}  {r['type']}  {r['value']}" for r in doc.get("validation_records") or []]),
    ])
