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
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import yaml

from smarter.errors import ManifestError, NotFound, SmarterError
from smarter.llm import plugins, providers
from smarter.schema import ACCOUNT_NUMBER, collecting_warnings, did_you_mean, host_label, is_client_name, validate_model, warn
from smarter.store import storage
from smarter.tenancy import auth
from smarter.tenancy.auth import iso, now, parse_time
from smarter_admin import domains, export
from smarter_admin.models import UI_FIELDS, AccountSpec, ApiKeySpec, ClientSpec, Metadata, ProviderSpec, SecretSpec, limits_doc, parse_manifest

CLIENT_KINDS = ("LLMClient", "Chatbot")
ORDER = {"Account": 0, "Secret": 0.5, "Provider": 0.8, "ApiConnection": 1, "SqlConnection": 1, "Plugin": 2, "ApiPlugin": 2, "SqlPlugin": 2, "LLMClient": 3, "Chatbot": 3, "ApiKey": 4, "SmarterAuthToken": 4}
# Fields a write stamps; a change in them alone is not a change.
STAMPS = ("created_at", "updated_at")
# A Secret's expirationDate is kept as a tag of the secret (accepted, not enforced).
EXPIRATION_TAG = "smarter:expirationDate"
# The plugins planned so far in this file (a client checks their prompt.provider).
_PLANNED_PLUGINS: ContextVar[dict[tuple[str, str], dict[str, Any]]] = ContextVar("planned_plugins", default={})
# Smarter's kinds that are not carried here, and what to use instead.
READ_ONLY = "a read-only record Smarter writes itself (not configuration); here the journal keeps each request: `smarter journal`"
NOT_CARRIED = {
    "User": "users are not carried: an account here has API keys, not users; give each person or app its own key "
            "(an ApiKey manifest or `smarter apikey create NAME`), limited to some clients with spec.clients",
    "Vectorstore": "vector stores are not carried: query your vector database from an ApiPlugin (its HTTP API, e.g. Pinecone's query endpoint) "
                   "or from a SqlPlugin (pgvector on PostgreSQL)",
    **{kind: READ_ONLY for kind in ("Chat", "ChatHistory", "ChatPluginUsage", "ChatToolCall", "PromptHistory", "PromptPluginUsage", "PromptToolCall")},
}
# Smarter's providers that are not platform providers here, and where their models are.
PROVIDER_ADVICE = {
    "metaai": "; Meta's Llama models are served here by togetherai, groq and fireworks: set provider to one of them and defaultModel to its "
              "name for the Llama model (e.g. togetherai with meta-llama/Llama-3.3-70B-Instruct-Turbo)",
}
# Fields of a client that only Smarter's manifests carry: such a manifest is in Smarter's form.
SMARTER_CLIENT_FIELDS = ("apiKey", "functions")
SMARTER_CONFIG_FIELDS = ("subdomain", "customDomain", "dnsVerificationStatus", "appAssistant", "appBackgroundImageUrl", "appLogoUrl", "appFileAttachment", "appInfoUrl")


class DocumentErrors(ManifestError):
    """Every refused document of a file, so that one run shows them all."""

    def __init__(self, errors: list["DocumentError"]):
        super().__init__("", f"{len(errors)} documents were refused: " + "; ".join(e.message for e in errors))
        self.documents = errors
        self.where = ""


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
    before = _yaml(export.manifest_form(change.table, change.before)).splitlines() if change.before else []
    after = _yaml(export.manifest_form(change.table, change.after)).splitlines()
    return list(difflib.unified_diff(before, after, f"stored/{label}", f"manifest/{label}", lineterm="", n=3))


def _yaml(data: Any) -> str:
    # JSON first: datetimes and Decimals become strings, as `-o yaml` prints them.
    return yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=False, allow_unicode=True).rstrip()


def known_kinds() -> list[str]:
    return ["Account", *CLIENT_KINDS, *sorted(plugins.plugin_manifest_kinds()), *sorted(plugins.connection_manifest_kinds()), "Secret", "Provider", "ApiKey"]


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
    errors: list[DocumentError] = []
    warnings: list[str] = []
    for index, doc, outcome in plan_each(docs, account=account, source=source):
        if isinstance(outcome, DocumentError):
            errors.append(outcome)
            warnings += [f"{_label(doc) or f'document {index}'}: {w}" for w in getattr(outcome, "warnings", [])]
        else:
            changes.append(outcome)
    if errors:
        # Every document is planned, so one run names every refusal (and the warnings of all).
        error = errors[0] if len(errors) == 1 else DocumentErrors(errors)
        error.warnings = [f"{c.kind}/{c.name}: {w}" for c in changes for w in c.warnings] + warnings
        raise error
    return changes


def plan_each(docs: list[Any], *, account: str | None = None, source: str = "", smarter: bool = False):
    """(index in the file, document, its Change or its DocumentError) for every
    document, in dependency order: a refused document does not stop the rest
    (what relies on it is then refused in turn, naming what is missing).
    `smarter`: the documents are Smarter's (smarter migrate), see smarter_form."""
    pending: set[tuple[str, str, str]] = set()
    if account is None:
        account = _the_files_account(docs)
    planned: dict[tuple[str, str], dict[str, Any]] = {}
    token = _PLANNED_PLUGINS.set(planned)
    try:
        with plugins.planned_connections({}) as connections:
            for index, doc in in_dependency_order(docs):
                try:
                    change = plan(doc, account=account, pending=pending, smarter=smarter)
                except ManifestError as exc:
                    error = DocumentError(source, index, exc.reason, path=exc.path, label=_label(doc), problems=exc.problems)
                    error.warnings = getattr(exc, "warnings", [])
                    yield index, doc, error
                    continue
                pending.add((change.table, change.account or "", change.name))
                if change.table == "CONNECTION":
                    connections[(change.account, change.name)] = change.after
                if change.table == "PLUGIN":
                    planned[(change.account or "", change.name)] = change.after
                yield index, doc, change
    finally:
        _PLANNED_PLUGINS.reset(token)


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
    # Smarter's Secret (and other) manifests may name the account by metadata.accountNumber.
    number = manifest.metadata.account or manifest.metadata.accountNumber or account
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


def plan(data: dict[str, Any], *, account: str | None = None, pending: set[tuple[str, str, str]] | None = None, smarter: bool = False) -> Change:
    """Validate one manifest against what is stored, without writing anything.
    `smarter`: the manifest is Smarter's (smarter migrate): Smarter's defaults apply."""
    with collecting_warnings() as warnings:
        try:
            change = _plan(data, account, pending or set(), smarter)
        except ManifestError as exc:
            exc.warnings = list(warnings)  # told with the error: an unknown field may be the cause
            raise
    change.warnings = warnings
    return change


def _parse(data: dict[str, Any], account: str | None, pending: set[tuple[str, str, str]], smarter: bool) -> Any:
    """The manifest's envelope; when its metadata is refused, the spec is still
    checked (with a stand-in name) so that one run names the problems of both."""
    try:
        return parse_manifest(data)
    except ManifestError as exc:
        metadata = data.get("metadata") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(metadata, dict) or not exc.problems or not all(p.startswith("metadata") for p, _ in exc.problems):
            raise
        name = metadata.get("name") if isinstance(metadata.get("name"), str) and metadata.get("name") else "stand-in"
        stand_in = {**data, "metadata": {"name": name, **({"account": metadata["account"]} if isinstance(metadata.get("account"), str) else {})}}
        try:
            with collecting_warnings():
                _plan(stand_in, account, pending, smarter)
        except ManifestError as more:
            raise ManifestError.of([*exc.problems, *[p for p in more.problems if not p[0].startswith("metadata")]]) from None
        except SmarterError:
            pass
        raise


def _plan(data: dict[str, Any], account: str | None, pending: set[tuple[str, str, str]], smarter: bool = False) -> Change:
    _check_kind(data)  # before the shape: a `User` manifest is an unknown kind, not a field error
    if data.get("kind") == "SmarterAuthToken":
        data = smarter_auth_token_as_api_key(data)
    manifest = _parse(data, account, pending, smarter)
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
        return _client_change(kind, manifest, number, pending, stamp, smarter or smarter_form(data))

    if kind in plugins.plugin_manifest_kinds():
        change = _scoped_change(kind, "PLUGIN", data, number, lambda stored: plugins.kind_for(stored).validate(stored))
        _check_plugin_provider(change.after, number)
        return change

    if kind in plugins.connection_manifest_kinds():
        change = _scoped_change(kind, "CONNECTION", data, number, lambda stored: plugins.connection_kind_for(kind).validate_connection(stored))
        _check_secret_reference(data, change.after, number, pending)
        return change

    if kind == "Secret":
        return _secret_change(name, number, validate_model(SecretSpec, manifest.spec, "spec"), manifest.metadata.description)

    if kind == "Provider":
        return _provider_change(data, manifest, number, pending)

    if kind == "ApiKey":
        return _api_key_change(name, number, validate_model(ApiKeySpec, manifest.spec, "spec"))

    raise ManifestError("kind", f"unknown kind {kind!r}{did_you_mean(kind, known_kinds())} (known: {', '.join(known_kinds())})")


def smarter_form(data: dict[str, Any]) -> bool:
    """A client manifest written as Smarter writes one: it carries a field only
    Smarter's manifests have (spec.apiKey, spec.functions, the app's page and
    domain fields), or is a Chatbot. Its unset `deployed` is then Smarter's false."""
    spec = data.get("spec") if isinstance(data.get("spec"), dict) else {}
    config = spec.get("config") if isinstance(spec.get("config"), dict) else {}
    return data.get("kind") == "Chatbot" or any(f in spec for f in SMARTER_CLIENT_FIELDS) or any(f in config for f in SMARTER_CONFIG_FIELDS)


def smarter_auth_token_as_api_key(data: dict[str, Any]) -> dict[str, Any]:
    """Smarter's SmarterAuthToken as an ApiKey of the same name, for every client
    (a Smarter token is its user's, for the whole account). The token's secret
    does not carry over: the key is issued a new one, shown once."""
    spec = data.get("spec") if isinstance(data.get("spec"), dict) else {}
    config = spec.get("config") if isinstance(spec.get("config"), dict) else {}
    if config.get("isActive") is False:
        raise ManifestError("spec.config.isActive", "an inactive token is not carried: leave the manifest out (or apply it with isActive: true and revoke it with `smarter apikey revoke`)")
    warn("kind", "SmarterAuthToken becomes an ApiKey of the same name for every client of the account; a new secret is issued "
         "(shown once): give it to the apps that used the Smarter token")
    if config.get("username") is not None:
        warn("spec.config.username", "ignored: an API key belongs to the account, not to a user")
    metadata = {k: v for k, v in (data.get("metadata") or {}).items() if k in ("name", "account", "accountNumber", "description")}
    return {"apiVersion": data.get("apiVersion"), "kind": "ApiKey", "metadata": metadata, "spec": {}}


def _embedding_provider(config: Any, provider: providers.Provider) -> str | None:
    """The provider /v1/embeddings calls: a platform provider with an embeddings API."""
    from smarter.llm import embeddings

    if config.embeddingProvider is not None and config.embeddingModel is None:
        raise ManifestError("spec.config.embeddingProvider", "set spec.config.embeddingModel too: the provider is for that model")
    if config.embeddingModel is None:
        return None
    name = config.embeddingProvider or provider.name
    try:
        providers.get_provider(name)
    except NotFound as exc:
        raise ManifestError("spec.config.embeddingProvider" if config.embeddingProvider else "spec.config.provider", exc.message) from None
    if name in embeddings.NO_EMBEDDINGS:
        field = "spec.config.embeddingProvider" if config.embeddingProvider else "spec.config.embeddingModel"
        raise ManifestError(field, f"the provider {name!r} has no embeddings API; set spec.config.embeddingProvider to one that has (openai, mistral, togetherai, fireworks, googleai, local or offline)")
    return name


def _plugin_provider_problem(plugin: dict[str, Any], client_name: str, client_provider: str) -> str | None:
    """A plugin's prompt.provider is honoured only as the client's own provider:
    its prompt.model is then used when the plugin is selected. Another provider
    would mean routing a prompt elsewhere (not carried yet), and its model on
    the client's provider would be half of the override: refused."""
    wanted = (((plugin.get("spec") or {}).get("prompt")) or {}).get("provider")
    if wanted is None or wanted == client_provider:
        return None
    return (f"the plugin {plugin['metadata']['name']!r} asks for provider {wanted!r} (spec.prompt.provider) and the client {client_name!r} "
            f"runs on {client_provider!r}: a plugin cannot move a prompt to another provider here; set the plugin's spec.prompt.provider "
            f"to {client_provider!r} (its spec.prompt.model must be one of that provider's), or remove spec.prompt.provider and spec.prompt.model")


def _check_plugin_provider(plugin: dict[str, Any], number: str) -> None:
    """A plugin's prompt.provider must be a platform provider, and the provider of every stored client that names it."""
    wanted = (((plugin.get("spec") or {}).get("prompt")) or {}).get("provider")
    if wanted is None:
        return
    try:
        providers.get_provider(wanted)
    except NotFound as exc:
        raise ManifestError("spec.prompt.provider", exc.message) from None
    for client in storage.list_scoped("CLIENT", number):
        if plugin["metadata"]["name"] in (client.get("plugins") or []):
            problem = _plugin_provider_problem(plugin, client["name"], client.get("provider", ""))
            if problem:
                raise ManifestError("spec.prompt.provider", problem)


def _client_change(kind: str, manifest: Any, number: str, pending: set[tuple[str, str, str]], stamp: str, smarter: bool = False) -> Change:
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
    routing = spec.routing
    if routing is not None:
        for i, target in enumerate(routing.targets):
            _known_provider(target.provider, number, pending, f"spec.routing.targets.{i}.provider")
        # The first target is the client's provider and model (what /v1/models and the page show).
        config = config.model_copy(update={"provider": routing.targets[0].provider, "defaultModel": routing.targets[0].model or config.defaultModel})
    provider = _known_provider(config.provider, number, pending, "spec.config.provider")
    embedding_provider = _embedding_provider(config, provider)
    wanted = [p for p in spec.plugins if ("PLUGIN", number, p) not in pending]
    found = storage.get_many_scoped("PLUGIN", number, wanted) if wanted else {}
    planned = _PLANNED_PLUGINS.get()
    for i, plugin_name in enumerate(spec.plugins):
        if plugin_name in wanted and plugin_name not in found:
            raise ManifestError(f"spec.plugins.{i}", f"no plugin named {plugin_name!r} in account {number}")
        plugin = planned.get((number, plugin_name)) or found.get(plugin_name)
        problem = _plugin_provider_problem(plugin, name, provider.name) if plugin else None
        if problem:
            raise ManifestError(f"spec.plugins.{i}", problem)
    deployed = config.deployed
    if deployed is None:
        deployed = not smarter
        if smarter:
            warn("spec.config.deployed", "not set: false, as in Smarter (a manifest in Smarter's form), so the client answers only on the "
                 f"platform host's path /v1/accounts/{number}/clients/{name}/prompt; set deployed: true to serve it on {label}.{number}.{{api domain}}")
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
        "routing": _routing_doc(routing),
        "system_role": config.defaultSystemRole,
        "temperature": config.defaultTemperature,
        "max_tokens": config.defaultMaxTokens,
        "allow_model_override": config.allowModelOverride,
        "embedding_model": config.embeddingModel,
        "embedding_provider": embedding_provider,
        "ui": {key: getattr(config, field) for key, field in UI_FIELDS.items()},
        "plugins": spec.plugins,
        "limits": limits_doc(spec.limits),
        "custom_domain": config.customDomain if isinstance(config.customDomain, str) else None,
        "deployed": deployed,
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


def _known_provider(name: str, number: str, pending: set[tuple[str, str, str]], path: str) -> providers.Provider:
    """A platform provider, or one of the account's (stored, or earlier in the same file)."""
    if ("PROVIDER", number, name) in pending:
        return providers.Provider(name, "", "", "", account=number)
    try:
        return providers.get_provider(name, number)
    except NotFound as exc:
        raise ManifestError(path, exc.message + PROVIDER_ADVICE.get(name, "")) from None


def _routing_doc(routing: Any) -> dict[str, Any] | None:
    if routing is None:
        return None
    doc = routing.model_dump(exclude_none=True)
    doc["targets"] = [{k: v for k, v in t.items() if not (k == "weight" and v == 1.0)} for t in doc["targets"]]
    if doc.get("cooldown") == {"failures": 3, "windowSeconds": 60.0, "seconds": 30.0}:
        doc.pop("cooldown")
    return doc


def _provider_change(data: dict[str, Any], manifest: Any, number: str, pending: set[tuple[str, str, str]]) -> Change:
    """An account's own provider (`kind: Provider`): an OpenAI-compatible base URL
    that passes the operator's egress policy (here, and again at every call), its
    key and extra headers as the names of the account's Secrets, its models and
    their prices. Platform provider names are reserved."""
    import re
    from urllib.parse import urlsplit

    from smarter.tenancy import egress
    from smarter_admin.models import PROVIDER_NAME_PATTERN

    name = manifest.metadata.name
    if not re.match(PROVIDER_NAME_PATTERN, name):
        raise ManifestError("metadata.name", "a provider name is 1 to 63 lower-case letters, digits, '_' or '-', starting with a letter or digit")
    if any(p.name == name for p in providers.BUILTINS):
        raise ManifestError("metadata.name", f"{name!r} is a platform provider's name; give the account's own provider another name")
    spec = validate_model(ProviderSpec, manifest.spec, "spec")
    try:
        parts = urlsplit(spec.baseUrl)
        port = parts.port
    except ValueError:
        raise ManifestError("spec.baseUrl", "not a URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ManifestError("spec.baseUrl", "an https:// URL of the provider's OpenAI-compatible API (such as https://my-resource.openai.azure.com/openai/v1)")
    if parts.username or parts.password or "@" in parts.netloc:
        raise ManifestError("spec.baseUrl", "no credentials in the URL: the key goes in an account Secret named by spec.apiKey")
    if parts.query or parts.fragment or any(c in spec.baseUrl for c in "\\ \t\r\n"):
        raise ManifestError("spec.baseUrl", "a base URL without query, fragment, spaces or backslashes")
    host = egress.normalize_host(parts.hostname)
    if problem := egress.host_problem(host):
        raise ManifestError("spec.baseUrl", problem)
    if parts.scheme == "http" and not (egress.is_ip(host) or egress.is_localhost_name(host)):
        raise ManifestError("spec.baseUrl", "http:// would send the key in clear text: use https:// (plain http is for an address the operator allows, such as a local server)")
    if reason := egress.check_at_apply(host, port or (443 if parts.scheme == "https" else 80)):
        raise ManifestError("spec.baseUrl", f"the platform's egress policy refuses it: {reason}")
    secrets = [("spec.apiKey", spec.apiKey)] if spec.apiKey else []
    secrets += [(f"spec.headers.{header}", secret) for header, secret in spec.headers.items()]
    for path, secret in secrets:
        if ("SECRET", number, secret) not in pending and not _secret_exists(number, secret):
            raise ManifestError(path, f"names the account Secret that holds the value, and account {number} has no Secret named {secret!r}: "
                                      "apply a Secret manifest of that name first (or in the same file); never write the value itself here")
    names = [m.name for m in spec.models]
    if len(set(names)) != len(names):
        raise ManifestError("spec.models", "a model is listed twice")
    if spec.defaultModel and names and spec.defaultModel not in names:
        raise ManifestError("spec.defaultModel", f"{spec.defaultModel!r} is not one of spec.models ({', '.join(names)})")
    if not spec.defaultModel and not names:
        raise ManifestError("spec.models", "name the models the provider serves (or at least spec.defaultModel)")
    stored_spec: dict[str, Any] = {"baseUrl": spec.baseUrl.rstrip("/")}
    if spec.apiKey:
        stored_spec["apiKey"] = spec.apiKey
    if spec.headers:
        stored_spec["headers"] = dict(spec.headers)
    if spec.models:
        stored_spec["models"] = [{"name": m.name, **({"prices": {k: str(v) for k, v in m.prices.model_dump().items() if v is not None}} if m.prices else {})}
                                 for m in spec.models]
    if spec.defaultModel:
        stored_spec["defaultModel"] = spec.defaultModel
    metadata = {k: v for k, v in data["metadata"].items() if k in Metadata.model_fields}
    stored = {"apiVersion": data["apiVersion"], "kind": "Provider", "metadata": {**metadata, "account": number}, "spec": stored_spec}
    existing = storage.get_scoped("PROVIDER", number, name)

    def write() -> dict[str, Any]:
        storage.put_scoped("PROVIDER", number, name, stored)
        return {"kind": "Provider", "name": name, "account": number, "result": "applied"}

    return Change("Provider", "PROVIDER", name, number, existing, stored, write)


def _check_kind(data: Any) -> None:
    if not isinstance(data, dict):
        raise ManifestError("", "a manifest must be a mapping with apiVersion, kind, metadata and spec")
    kind = data.get("kind")
    if kind in NOT_CARRIED:
        raise ManifestError("kind", f"{kind} is Smarter's, not carried here: {NOT_CARRIED[kind]}")
    if kind == "SmarterAuthToken":
        return
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
    key (more clients, a limit removed or raised, a later expiry) unless the
    manifest says `allowWidening: true`; `clients`, `limits` or the expiry
    omitted keep the stored ones; an expiry already past is refused."""
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
        new_limits = (existing.get("limits") or {}) if spec.limits is None else limits_doc(spec.limits)
        new_expiry = iso(expires_at) if expires_at else existing.get("expires_at")
        if not spec.allowWidening:
            _refuse_wider_key(existing, new_limits, new_expiry, "spec.expiresAt" if spec.expiresAt else "spec.expiresInDays")
        # The secret is never shown again.
        after = {**existing, "clients": new_clients, "limits": new_limits, "expires_at": new_expiry}

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


def _refuse_wider_key(existing: dict[str, Any], new_limits: dict[str, Any], new_expiry: str | None, expiry_field: str) -> None:
    """A re-apply that would lift one of the key's limits or push its expiry
    later is refused, naming the field: a key handed to an app was sized for
    the limits and the lifetime it was issued with."""
    key_id = existing["key_id"]
    for name, old in sorted((existing.get("limits") or {}).items()):
        new = new_limits.get(name)
        if new is None:
            raise ManifestError(f"spec.limits.{name}", f"this would remove the limit {name}: {old} of the key {key_id}; set allowWidening: true to mean it")
        if Decimal(str(new)) > Decimal(str(old)):
            raise ManifestError(f"spec.limits.{name}", f"this would raise the key {key_id}'s {name} from {old} to {new}; set allowWidening: true to mean it")
    old_expiry = existing.get("expires_at")
    if old_expiry and new_expiry and parse_time(new_expiry) > parse_time(old_expiry):
        raise ManifestError(
            expiry_field,
            f"this would extend the key {key_id} from {old_expiry} to {new_expiry}; set allowWidening: true to mean it, or create a new key",
        )


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
        # Described again: an earlier document of the same run may have created it.
        found = _described_secret(secret_id)
        if found is None:
            sm.create_secret(Name=secret_id, SecretString=spec.config.value, Description=about, Tags=tags)
        else:
            if spec.config.value is not None:
                sm.put_secret_value(SecretId=secret_id, SecretString=spec.config.value)
            if about != found.get("Description", ""):
                sm.update_secret(SecretId=secret_id, Description=about)
            if expiration != next((t["Value"] for t in found.get("Tags", []) if t["Key"] == EXPIRATION_TAG), None):
                if expiration:
                    sm.tag_resource(SecretId=secret_id, Tags=[{"Key": EXPIRATION_TAG, "Value": expiration}])
                else:
                    sm.untag_resource(SecretId=secret_id, TagKeys=[EXPIRATION_TAG])
        account_secrets.forget(number, name)
        return {"kind": "Secret", "name": name, "account": number, "result": "applied"}

    return Change("Secret", "SECRET", name, number, before, after, write)
