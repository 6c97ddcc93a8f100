"""What refers to what inside an account, so the CLI neither deletes a thing
something else still uses nor creates a reference to nothing.

    LLMClient --spec.plugins--> Plugin --spec.connection--> Connection --secret--> Secret
    ApiKey --spec.clients--> LLMClient

`smarter delete` refuses to delete a plugin a client uses, a connection a
plugin uses, or a secret a connection uses, unless the referrers go in the same
command (`delete -f tenant.yaml`). `smarter apikey create --client` and an
ApiKey manifest's `spec.clients` must name clients that exist (or come in the
same file). A client's plugins are checked by `manifests` when it is applied.
"""

from __future__ import annotations

from typing import Any

from smarter.errors import ManifestError, NotFound, SmarterError
from smarter.schema import did_you_mean


class InUse(SmarterError):
    """A delete refused: other items still refer to this one."""

    status = 409
    type = "conflict"

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


def _connection_of(plugin: dict[str, Any]) -> str | None:
    spec = plugin.get("spec") or {}
    connection = spec.get("connection")
    if isinstance(connection, dict):
        return connection.get("name")
    return connection if isinstance(connection, str) else None


def _secret_of(connection: dict[str, Any]) -> str | None:
    spec = connection.get("spec") or {}
    inner = spec.get("connection") if isinstance(spec.get("connection"), dict) else spec
    return inner.get("secret") if isinstance(inner, dict) else None


def referrers(kind: str, account: str, name: str) -> list[tuple[str, str]]:
    """(kind, name) of the items of `account` that refer to `name` of `kind`
    (a CLI kind: plugins, connections, secrets)."""
    from smarter.store import storage

    if kind == "plugins":
        return [("client", c["name"]) for c in storage.list_scoped("CLIENT", account) if name in (c.get("plugins") or [])]
    if kind == "connections":
        return [("plugin", p["metadata"]["name"]) for p in storage.list_scoped("PLUGIN", account) if _connection_of(p) == name]
    if kind == "secrets":
        return [("connection", c["metadata"]["name"]) for c in storage.list_scoped("CONNECTION", account) if _secret_of(c) == name] + [
            ("provider", p["metadata"]["name"]) for p in storage.list_scoped("PROVIDER", account) if name in _secrets_of_provider(p)]
    if kind == "providers":
        return [("client", c["name"]) for c in storage.list_scoped("CLIENT", account) if name in _providers_of(c)]
    return []


def _secrets_of_provider(provider: dict[str, Any]) -> set[str]:
    spec = provider.get("spec") or {}
    return {s for s in [spec.get("apiKey"), *(spec.get("headers") or {}).values()] if s}


def _providers_of(client: dict[str, Any]) -> set[str]:
    return {client.get("provider"), *(t.get("provider") for t in (client.get("routing") or {}).get("targets") or [])} - {None}


SINGULAR = {"plugins": "plugin", "connections": "connection", "secrets": "secret", "providers": "provider"}
FIELD = {"plugins": "spec.plugins", "connections": "spec.connection", "secrets": "spec.connection.secret or a Provider's spec.apiKey/headers",
         "providers": "spec.config.provider or spec.routing.targets"}


def check_delete(targets: list[tuple[str, str, str]]) -> None:
    """Refuse the delete of any (kind, account, name) still used by an item
    that is not deleted with it."""
    going = {(SINGULAR.get(kind, kind[:-1]), account, name) for kind, account, name in targets}
    for kind, account, name in targets:
        if kind not in SINGULAR:
            continue
        users = [(k, n) for k, n in referrers(kind, account, name) if (k, account, n) not in going]
        if users:
            listed = ", ".join(f"{k}/{n}" for k, n in users)
            raise InUse(
                f"{SINGULAR[kind]}/{name} is used by {listed} in account {account}",
                f"remove it from their {FIELD[kind]} and apply them, or delete them in the same command",
            )


def check_clients(account: str, clients: list[str] | None, *, pending: set[str] = frozenset(), field: str | None = None) -> None:
    """Each named client exists (or is applied in the same file). `field` set:
    a manifest's refusal (exit 3); unset: a command argument's (not found, 4)."""
    if not clients:
        return
    from smarter.store import storage

    stored = {c["name"] for c in storage.list_scoped("CLIENT", account)}
    for i, client in enumerate(clients):
        if client not in stored and client not in pending:
            message = f"no client named {client!r} in account {account}{did_you_mean(client, sorted(stored))}"
            if field is not None:
                raise ManifestError(f"{field}.{i}", message)
            raise NotFound(message)


def check_changes(changes: list[Any]) -> None:
    """The references a planned apply adds: an ApiKey's clients must exist or
    come in the same file. Clients a key already had are not checked again
    (a deleted client leaves its keys re-appliable)."""
    clients_in_file: dict[str, set[str]] = {}
    for change in changes:
        if change.table == "CLIENT":
            clients_in_file.setdefault(change.account, set()).add(change.name)
    for change in changes:
        if change.table != "APIKEY" or change.action == "unchanged":
            continue
        had = set((change.before or {}).get("clients") or [])
        new = [c for c in (change.after.get("clients") or []) if c not in had]
        try:
            check_clients(change.account, new, pending=clients_in_file.get(change.account, set()), field="spec.clients")
        except ManifestError as exc:
            exc.message = f"ApiKey/{change.name}: {exc.message}"
            raise
