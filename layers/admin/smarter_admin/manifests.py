"""Applying manifests: validate, then store. Used by the CLI and the local stack.

Documents in one file are applied in dependency order (accounts, connections,
plugins, clients, keys), so a file can define a whole tenant.

`plan` does every check and every read and returns a `Change`: the record as
stored now, the record the manifest makes, and the write that stores it. `apply`
is `plan(...).write()`; `smarter apply --dry-run` and `smarter diff` stop
before the write, so they see exactly what an apply would do.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from smarter.errors import ManifestError, NotFound, SmarterError
from smarter.llm import plugins, providers
from smarter.schema import ACCOUNT_NUMBER, collecting_warnings, did_you_mean, host_label, is_client_name, validate_model, warn
from smarter.store import storage
from smarter.tenancy import auth
from smarter.tenancy.auth import iso, now, parse_time
from smarter_admin import domains
from smarter_admin.models import UI_FIELDS, AccountSpec, ApiKeySpec, ClientSpec, Metadata, SecretSpec, limits_doc, parse_manifest

CLIENT_KINDS = ("LLMClient", "Chatbot")
ORDER = {"Account": 0, "Secret": 0.5, "ApiConnection": 1, "SqlConnection": 1, "Plugin": 2, "ApiPlugin": 2, "SqlPlugin": 2, "LLMClient": 3, "Chatbot": 3, "ApiKey": 4}
# Fields a write stamps; a change in them alone is not a change.
STAMPS = ("created_at", "updated_at")
# A Secret's expirationDate is kept as a tag of the secret (accepted, not enforced).
EXPIRATION_TAG = "smarter:expirationDate"


class DocumentError(ManifestError):
    """A ManifestError that also says which file and which document of it."""

    def __init__(self, source: str, index: int, reason: str, *, path: str = "", label: str = "", problems: list[tuple[str, str]] | None = None):
        where = f"{source}, document {index}" if source else f"document {index}"
        if label:
            where += f" ({label})"
        super().__init__(path, reason, problems=problems)
        self.message = f"{where}: {self.message}"
        self.source, self.index, self.where = source, index, where


@dataclass
class Change:
    """What applying one manifest does: `before` is the stored record (None when
    new), `after` what the apply stores; `write` stores it and returns the summary."""

    kind: str
    table: str  # ACCOUNT, CLIENT, PLUGIN, CONNECTION, APIKEY
    name: str
    account: str | None
    before: dict[str, Any] | None
    after: dict[str, Any]
    write: Callable[[], dict[str, Any]] = field(repr=False)
    warnings: list[str] = field(default_factory=list)  # accepted, but worth telling (smarter.schema.warn)

    @property
    def action(self) -> str:
        if self.before is None:
            return "created"
        return "unchanged" if _comparable(self.before) == _comparable(self.after) else "configured"


def _comparable(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in STAMPS}


def diff_lines(change: Change) -> list[str]:
    """The unified diff (YAML) from the stored record to the manifest's; empty when unchanged.
    `smarter diff` prints it; the console shows it for a dry run."""
    if change.action == "unchanged":
        return []
    label = f"{change.kind}/{change.name}"
    before = _yaml(_comparable(change.before)).splitlines() if change.before else []
    after = _yaml(_comparable(change.after)).splitlines()
    return list(difflib.unified_diff(before, after, f"stored/{label}", f"manifest/{label}", lineterm="", n=3))


def _yaml(data: Any) -> str:
    # JSON first: datetimes and Decimals become strings, as `-o yaml` prints them.
    return yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=False, allow_unicode=True).rstrip()


def known_kinds() -> list[str]:
    return ["Account", *CLIENT_KINDS, *sorted(plugins.plugin_manifest_kinds()), *sorted(plugins.connection_manifest_kinds()), "Secret", "ApiKey"]


def load_documents(text: str, source: str = "") -> list[dict[str, Any]]:
    """YAML (one or many documents) or JSON (an object or a list of them).
    A syntax error names the file, the document (1-based) and the line."""
    where = f"{source}: " if source else ""
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ManifestError("", f"{where}not valid JSON: {exc}") from None
        docs = data if isinstance(data, list) else [data]
    else:
        docs = []
        try:
            for doc in yaml.safe_load_all(text):
                docs.append(doc)
        except yaml.YAMLError as exc:
            raise ManifestError("", f"{where}document {len(docs) + 1}: not valid YAML: {_yaml_problem(exc)}") from None
        docs = [d for d in docs if d is not None]
    if not docs:
        raise ManifestError("", f"{where}the file holds no manifest")
    return docs


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    text = f"{context}, {problem}" if context else problem
    return f"line {mark.line + 1}, column {mark.column + 1}: {text}" if mark else text


def in_dependency_order(docs: list[Any]) -> list[tuple[int, Any]]:
    """(1-based index in the file, document), accounts first, keys last."""
    return sorted(enumerate(docs, start=1), key=lambda pair: _order(pair[1]))


def apply_documents(docs: list[dict[str, Any]], *, account: str | None = None, source: str = "") -> list[dict[str, Any]]:
    return [change.write() for change in plan_documents(docs, account=account, source=source)]


def plan_documents(docs: list[dict[str, Any]], *, account: str | None = None, source: str = "") -> list[Change]:
    """Plan every document in dependency order; a document may rely on ones
    before it in the same file (a client on a plugin, anything on its account)."""
    changes: list[Change] = []
    pending: set[tuple[str, str, str]] = set()
    if account is None:
        account = _the_files_account(docs)
    with plugins.planned_connections({}) as connections:
        for index, doc in in_dependency_order(docs):
            try:
                change = plan(doc, account=account, pending=pending)
            except ManifestError as exc:
                error = DocumentError(source, index, exc.reason, path=exc.path, label=_label(doc), problems=exc.problems)
                # The warnings of the documents planned so far and of this one, for the CLI to tell.
                error.warnings = [f"{c.kind}/{c.name}: {w}" for c in changes for w in c.warnings]
                error.warnings += [f"{_label(doc) or f'document {index}'}: {w}" for w in getattr(exc, "warnings", [])]
                raise error from None
            pending.add((change.table, change.account or "", change.name))
            if change.table == "CONNECTION":
                connections[(change.account, change.name)] = change.after
            changes.append(change)
    return changes


def _the_files_account(docs: list[Any]) -> str | None:
    """A file with exactly one Account document (Smarter's tenant files) is that
    account's: its other documents need no metadata.account or --account
    (Smarter takes the account from the logged-in user)."""
    numbers = set()
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "Account" and isinstance(doc.get("metadata"), dict):
            meta = doc["metadata"]
            number = meta.get("accountNumber") or meta.get("name")
            if isinstance(number, str) and ACCOUNT_NUMBER.match(number):
                numbers.add(number)
    return numbers.pop() if len(numbers) == 1 else None


def _label(doc: Any) -> str:
    if not isinstance(doc, dict):
        return ""
    name = (doc.get("metadata") or {}).get("name") if isinstance(doc.get("metadata"), dict) else None
    return f"{doc.get('kind')}/{name}" if doc.get("kind") and name else ""


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


def _account_of(manifest: Any, account: str | None, pending: set[tuple[str, str, str]]) -> str:
    number = manifest.metadata.account or account
    if not number:
        raise ManifestError("metadata.account", "which account? set metadata.account or pass --account")
    if not ACCOUNT_NUMBER.match(number):
        raise ManifestError("metadata.account", f"an account number looks like 3141-5926-5359, got {number!r}")
    if ("ACCOUNT", "", number) not in pending and storage.get_account(number) is None:
        raise ManifestError("metadata.account", f"the account {number} does not exist; apply its Account manifest first")
    return number


def apply(data: dict[str, Any], *, account: str | None = None) -> dict[str, Any]:
    """Apply one manifest; returns a summary (for ApiKey, including the secret, shown once)."""
    return plan(data, account=account).write()


def plan(data: dict[str, Any], *, account: str | None = None, pending: set[tuple[str, str, str]] | None = None) -> Change:
    """Validate one manifest against what is stored, without writing anything."""
    with collecting_warnings() as warnings:
        try:
            change = _plan(data, account, pending or set())
        except ManifestError as exc:
            exc.warnings = list(warnings)  # told with the error: an unknown field may be the cause
            raise
    change.warnings = warnings
    return change


def _plan(data: dict[str, Any], account: str | None, pending: set[tuple[str, str, str]]) -> Change:
    _check_kind(data)  # before the shape: a `User` manifest is an unknown kind, not a field error
    manifest = parse_manifest(data)
    kind = manifest.kind
    name = manifest.metadata.name
    stamp = iso(now())

    if kind == "Account":
        if manifest.metadata.accountNumber:  # Smarter's form: a slug as name, the number beside it
            name = manifest.metadata.accountNumber
        if not ACCOUNT_NUMBER.match(name):
            field_name = "metadata.accountNumber" if manifest.metadata.accountNumber else "metadata.name"
            raise ManifestError(field_name, f"an account number looks like 3141-5926-5359, got {name!r}")
        raw_spec = manifest.spec
        if isinstance(raw_spec.get("config"), dict):  # Smarter nests the account's fields under spec.config
            raw_spec = {**raw_spec["config"], **{k: v for k, v in raw_spec.items() if k != "config"}}
            prefix = "spec.config"
        else:
            prefix = "spec"
        spec = validate_model(AccountSpec, raw_spec, prefix)
        existing = storage.get_account(name)
        fields = spec.model_dump(exclude={"limits", "prices"})
        prices = {model: {k: str(v) for k, v in p.model_dump().items() if v is not None} for model, p in spec.prices.items()}
        doc = {"number": name, "description": manifest.metadata.description, **fields, "limits": limits_doc(spec.limits), "prices": prices,
               "created_at": (existing or {}).get("created_at", stamp), "updated_at": stamp}

        def write_account() -> dict[str, Any]:
            storage.put_account(name, doc)
            note = domains.on_account_applied(name)  # default hosts, when the platform owns the zone
            return {"kind": kind, "name": name, "result": f"applied; {note}" if note else "applied"}

        return Change(kind, "ACCOUNT", name, None, existing, doc, write_account)

    number = _account_of(manifest, account, pending)

    if kind in CLIENT_KINDS:
        return _client_change(kind, manifest, number, pending, stamp)

    if kind in plugins.plugin_manifest_kinds():
        return _scoped_change(kind, "PLUGIN", data, number, lambda stored: plugins.kind_for(stored).validate(stored))

    if kind in plugins.connection_manifest_kinds():
        change = _scoped_change(kind, "CONNECTION", data, number, lambda stored: plugins.connection_kind_for(kind).validate_connection(stored))
        _check_secret_reference(data, change.after, number, pending)
        return change

    if kind == "Secret":
        return _secret_change(name, number, validate_model(SecretSpec, manifest.spec, "spec"), manifest.metadata.description)

    if kind == "ApiKey":
        return _api_key_change(name, number, validate_model(ApiKeySpec, manifest.spec, "spec"))

    raise ManifestError("kind", f"unknown kind {kind!r}{did_you_mean(kind, known_kinds())} (known: {', '.join(known_kinds())})")


def _client_change(kind: str, manifest: Any, number: str, pending: set[tuple[str, str, str]], stamp: str) -> Change:
    """An LLMClient (or Smarter's Chatbot). The name is kept as written (Smarter's
    snake_case too); the host label is derived from it (`_` -> `-`, lower case)
    and must not collide with another client's of the account."""
    name = manifest.metadata.name
    if not is_client_name(name):
        raise ManifestError(
            "metadata.name",
            "a client name is letters, digits, '_' and '-', starting with a letter and at most 63 characters "
            f"(its host label, {host_label(name)!r}, must be a DNS label)",
        )
    label = host_label(name)
    spec = validate_model(ClientSpec, manifest.spec, "spec")
    config = spec.config
    others = {c["name"] for c in storage.list_scoped("CLIENT", number)} | {n for t, a, n in pending if t == "CLIENT" and a == number}
    clash = sorted(other for other in others if other != name and host_label(other) == label)
    if clash:
        raise ManifestError(
            "metadata.name",
            f"the client {clash[0]!r} already has the host label {label!r} ({label}.{number}.{{api domain}}), which {name!r} would "
            "also get (`_` becomes `-` and letters lower case); rename one of them",
        )
    if spec.functions:
        warn("spec.functions", f"Smarter's built-in functions ({', '.join(spec.functions)}) do not exist here and are ignored; write them as plugins")
    if isinstance(config.customDomain, dict):
        warn("spec.config.customDomain", "ignored: claim a custom domain with `smarter domain add CLIENT DOMAIN`")
    if config.dnsVerificationStatus is not None:
        warn("spec.config.dnsVerificationStatus", "ignored: a domain's state is kept by `smarter domain` (see `smarter domain list`)")
    if config.subdomain is not None and config.subdomain != label:
        warn("spec.config.subdomain", f"ignored: the client is served at {label}.{number}.{{api domain}} (its name with '_' as '-', lower case)")
    if spec.apiKey is not None:
        warn("spec.apiKey", "kept, not enforced: which keys may call a client is set by each ApiKey's spec.clients")
    try:
        provider = providers.get_provider(config.provider)
    except NotFound as exc:
        raise ManifestError("spec.config.provider", exc.message) from None
    wanted = [p for p in spec.plugins if ("PLUGIN", number, p) not in pending]
    found = storage.get_many_scoped("PLUGIN", number, wanted) if wanted else {}
    for i, plugin_name in enumerate(spec.plugins):
        if plugin_name in wanted and plugin_name not in found:
            raise ManifestError(f"spec.plugins.{i}", f"no plugin named {plugin_name!r} in account {number}")
    existing_item = storage.get_scoped_item("CLIENT", number, name)
    existing = storage.decode(existing_item) if existing_item else None
    # Smarter's fields kept only so that `get -o yaml` gives back what was applied.
    kept = {"functions": spec.functions or None, "customDomain": config.customDomain if isinstance(config.customDomain, dict) else None,
            "dnsVerificationStatus": config.dnsVerificationStatus}
    doc = {
        "name": name,
        "account": number,
        "kind": kind,
        "host_label": label,
        "description": manifest.metadata.description,
        "version": manifest.metadata.version,
        "tags": manifest.metadata.tags,
        "annotations": manifest.metadata.annotations,
        "provider": provider.name,
        "model": config.defaultModel or provider.default_model,
        "system_role": config.defaultSystemRole,
        "temperature": config.defaultTemperature,
        "max_tokens": config.defaultMaxTokens,
        "allow_model_override": config.allowModelOverride,
        "ui": {key: getattr(config, field) for key, field in UI_FIELDS.items()},
        "plugins": spec.plugins,
        "limits": limits_doc(spec.limits),
        "custom_domain": config.customDomain if isinstance(config.customDomain, str) else None,
        "deployed": config.deployed,
        "subdomain": config.subdomain,
        "api_key": spec.apiKey,
        "smarter": {k: v for k, v in kept.items() if v is not None},
        "created_at": (existing or {}).get("created_at", stamp),
        "updated_at": stamp,
    }
    verified = (existing_item or {}).get("verified_domain", {}).get("S")

    def write_client() -> dict[str, Any]:
        storage.put_scoped("CLIENT", number, name, doc, verified_domain=verified)
        if label != name:  # the default host finds the client by its label
            storage.put_scoped("CLIENTHOST", number, label, {"name": name})
        return {"kind": "LLMClient", "name": name, "account": number, "result": "applied"}

    return Change("LLMClient", "CLIENT", name, number, existing, doc, write_client)


def _check_kind(data: Any) -> None:
    if not isinstance(data, dict):
        raise ManifestError("", "a manifest must be a mapping with apiVersion, kind, metadata and spec")
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in known_kinds():
        raise ManifestError("kind", f"unknown kind {kind!r}{did_you_mean(str(kind), known_kinds())} (known: {', '.join(known_kinds())})")


def _scoped_change(kind: str, table_kind: str, data: dict[str, Any], number: str, validate: Callable[[dict[str, Any]], Any]) -> Change:
    """Plugins and connections are stored as their manifest, with the spec as validated."""
    name = data["metadata"]["name"]
    if table_kind == "CONNECTION":
        # ApiConnection and SqlConnection share one name space (plugins name a
        # connection by name alone): a second kind under the same name is refused
        # rather than overwriting the first.
        other = plugins.find_connection(number, name)
        if other is not None and other.get("kind") != kind:
            raise ManifestError(
                "metadata.name",
                f"a {other.get('kind')} named {name!r} already exists in account {number}; connections of every kind share "
                f"one name space, so rename this {kind} (and the plugins that use it) or delete the {other.get('kind')} first",
            )
    # Only the manifest's known parts are stored: unknown fields were warned about
    # and dropped by validation, and `status` is output only (get/describe fill it).
    metadata = {k: v for k, v in data["metadata"].items() if k in Metadata.model_fields}
    stored = {"apiVersion": data["apiVersion"], "kind": kind, "metadata": {**metadata, "account": number}, "spec": data.get("spec")}
    stored["spec"] = validate(stored)
    existing = storage.get_scoped(table_kind, number, name)

    def write() -> dict[str, Any]:
        storage.put_scoped(table_kind, number, name, stored)
        return {"kind": kind, "name": name, "account": number, "result": "applied"}

    return Change(kind, table_kind, name, number, existing, stored, write)


def _check_secret_reference(data: dict[str, Any], stored: dict[str, Any], number: str, pending: set[tuple[str, str, str]]) -> None:
    """A connection's Secret should exist (or come in the same file). Named by
    Smarter's `password` or `apiKey`, a missing one is refused: those fields
    are where a credential itself is most likely written, and a manifest is
    stored in plain text. Named by `secret`, it is a warning."""
    secret = ((stored.get("spec") or {}).get("connection") or {}).get("secret")
    if not secret or ("SECRET", number, secret) in pending or _secret_exists(number, secret):
        return
    raw = (data.get("spec") or {}).get("connection") if isinstance(data.get("spec"), dict) else None
    field = next((f for f in ("password", "apiKey") if isinstance(raw, dict) and raw.get(f) == secret), None)
    if field:
        raise ManifestError(
            f"spec.connection.{field}",
            f"names the account Secret that holds the credential, and account {number} has no Secret named {secret!r}: "
            "apply a Secret manifest of that name first (or in the same file); never write the credential itself here",
        )
    warn("spec.connection.secret", f"account {number} has no Secret named {secret!r} yet: calls through this connection fail until it exists")


def _secret_exists(number: str, name: str) -> bool:
    from smarter.tenancy import account_secrets

    try:
        secret_id = account_secrets.account_secret_id(number, name)
    except ValueError:  # not a name a secret can have: the model refused it already
        return False
    return _described_secret(secret_id) is not None


def _described_secret(secret_id: str) -> dict[str, Any] | None:
    """Secrets Manager's description of a secret (never its value), None when there is none."""
    from smarter.store import aws

    sm = aws.client("secretsmanager")
    try:
        return sm.describe_secret(SecretId=secret_id)
    except sm.exceptions.ResourceNotFoundException:
        return None


def _api_key_change(name: str, number: str, spec: ApiKeySpec) -> Change:
    """Create the key named `name`, or update the one live key of that name
    (names may repeat: revoked keys keep theirs). An update never widens the
    key's clients unless the manifest says `allowWidening: true`; `clients`
    omitted keeps them; the expiry is set anew; one already past is refused."""
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
        if _widens(existing.get("clients"), new_clients) and not spec.allowWidening:
            raise ManifestError(
                "spec.clients",
                f"this would widen the key {existing['key_id']} from {existing.get('clients')} to {new_clients or 'every client'}; "
                "set allowWidening: true to mean it, or create a new key",
            )
        # The secret is never shown again.
        after = {**existing, "clients": new_clients, "limits": limits_doc(spec.limits), "expires_at": iso(expires_at) if expires_at else existing.get("expires_at")}

        def update() -> dict[str, Any]:
            storage.put_api_key(key_hash, after)
            return {"kind": "ApiKey", "name": name, "account": number, "key_id": existing["key_id"], "clients": new_clients, "expires_at": after["expires_at"], "result": "updated"}

        return Change("ApiKey", "APIKEY", name, number, existing, after, update)

    def create() -> dict[str, Any]:
        secret, doc = auth.create_key(number, name, clients=clients, expires_at=expires_at, limits=limits_doc(spec.limits))
        return {"kind": "ApiKey", "name": name, "account": number, "key_id": doc["key_id"], "api_key": secret, "result": "created"}

    return Change("ApiKey", "APIKEY", name, number, None, {"name": name, "account": number, "clients": clients, "limits": limits_doc(spec.limits),
                                                         "expires_at": iso(expires_at) if expires_at else None}, create)


def _wanted_clients(clients: list[str] | None) -> list[str] | None:
    """None for every client (omitted or ["*"]), else the named clients."""
    if clients is None or clients == ["*"]:
        return None
    if "*" in clients:
        raise ManifestError("spec.clients", "'*' means every client and stands alone")
    for i, client in enumerate(clients):
        if not is_client_name(client):
            raise ManifestError(f"spec.clients.{i}", f"{client!r} is not a client name")
    return sorted(set(clients))


def _widens(old: list[str] | None, new: list[str] | None) -> bool:
    if old is None:
        return False  # already every client
    return new is None or not set(new) <= set(old)


def _secret_change(name: str, number: str, spec: SecretSpec, description: str | None) -> Change:
    """`kind: Secret` writes its value to Secrets Manager under the account's
    prefix, where connections find it by name; DynamoDB never sees it, and
    neither the result, the dry run nor the diff shows it."""
    from smarter.store import aws
    from smarter.tenancy import account_secrets

    try:
        secret_id = account_secrets.account_secret_id(number, name)
    except ValueError as exc:
        raise ManifestError("metadata.name", str(exc)) from None
    sm = aws.client("secretsmanager")
    found = _described_secret(secret_id)
    about = spec.config.description or description or ""
    if spec.config.value is None and found is None:
        raise ManifestError("spec.config.value", f"the secret {name!r} does not exist in account {number} yet, so its value is needed")
    expiration = spec.config.expirationDate
    stored_expiration = next((t["Value"] for t in (found or {}).get("Tags", []) if t["Key"] == EXPIRATION_TAG), None)
    shown = {"name": name, "account": number, "secret_id": secret_id, "description": about, "expirationDate": expiration}
    # The stored value is never read back to compare: a manifest with a value always writes it;
    # one without (as `get -o yaml` prints it) keeps the stored value.
    before = {**shown, "description": (found or {}).get("Description", ""), "expirationDate": stored_expiration, "value": "(stored, not shown)"} if found else None
    after = {**shown, "value": "(stored, not shown)" if spec.config.value is None else "(from the manifest, not shown)"}
    tags = [{"Key": "smarter:account", "Value": number}] + ([{"Key": EXPIRATION_TAG, "Value": expiration}] if expiration else [])

    def write() -> dict[str, Any]:
        if found is None:
            sm.create_secret(Name=secret_id, SecretString=spec.config.value, Description=about, Tags=tags)
        else:
            if spec.config.value is not None:
                sm.put_secret_value(SecretId=secret_id, SecretString=spec.config.value)
            if about != found.get("Description", ""):
                sm.update_secret(SecretId=secret_id, Description=about)
            if expiration != stored_expiration:
                if expiration:
                    sm.tag_resource(SecretId=secret_id, Tags=[{"Key": EXPIRATION_TAG, "Value": expiration}])
                else:
                    sm.untag_resource(SecretId=secret_id, TagKeys=[EXPIRATION_TAG])
        account_secrets.forget(number, name)
        return {"kind": "Secret", "name": name, "account": number, "result": "applied"}

    return Change("Secret", "SECRET", name, number, before, after, write)
