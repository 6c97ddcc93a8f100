"""`smarter`: the admin CLI, built on Typer (Click underneath, Rich for colour,
help and progress). It talks to AWS with botocore, so it works the same against
AWS and against the local stack (set AWS_ENDPOINT_URL).

Every verb takes `-o table|json|yaml|name`; results go to stdout, messages to
stderr, and every failure goes through `failures.report` (one or two lines and
an exit code that says what failed).
"""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from smarter.errors import NotFound, SmarterError
from smarter.store import journal, storage, usage
from smarter.tenancy import auth
from smarter_admin import console, domains_cli, export, failures, manifests, output, plugin_cli
from smarter_admin.output import Column, Format, account_of, age, emit

app = typer.Typer(
    name="smarter",
    help="Administer Smarter Serverless: accounts, LLM clients, plugins, connections, API keys and domains.",
    epilog="Exit codes: 0 ok, 1 failed, 2 usage, 3 manifest refused, 4 not found, 5 AWS unreachable, 6 AWS error. "
    "Global flags (anywhere on the line): --debug, --no-color.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# --- options every verb shares -----------------------------------------------------

Account = Annotated[str | None, typer.Option("--account", envvar="SMARTER_ACCOUNT", show_envvar=True, help="Account number, e.g. 3141-5926-5359.")]
Output = Annotated[Format | None, typer.Option("-o", "--output", case_sensitive=False, help="Output format (default: the verb's own: a table, or text).")]

# --- kinds ---------------------------------------------------------------------------

KINDS = {
    "account": "accounts", "accounts": "accounts",
    "client": "clients", "clients": "clients", "llmclient": "clients", "llmclients": "clients", "chatbot": "clients", "chatbots": "clients",
    "plugin": "plugins", "plugins": "plugins", "apiplugin": "plugins", "apiplugins": "plugins", "sqlplugin": "plugins", "sqlplugins": "plugins",
    "connection": "connections", "connections": "connections",
    "apiconnection": "connections", "apiconnections": "connections", "sqlconnection": "connections", "sqlconnections": "connections",
    "apikey": "apikeys", "apikeys": "apikeys",
    "secret": "secrets", "secrets": "secrets",
    "domain": "domains", "domains": "domains",
}
SCOPED = {"clients": "CLIENT", "plugins": "PLUGIN", "connections": "CONNECTION"}
# A manifest kind's name lists only that kind (`get sqlconnections`), as kubectl does.
ONLY = {
    "apiplugin": "ApiPlugin", "apiplugins": "ApiPlugin", "sqlplugin": "SqlPlugin", "sqlplugins": "SqlPlugin",
    "apiconnection": "ApiConnection", "apiconnections": "ApiConnection", "sqlconnection": "SqlConnection", "sqlconnections": "SqlConnection",
}
DELETABLE = ("accounts", "clients", "plugins", "connections", "secrets")


def _complete_kind(incomplete: str) -> list[str]:
    return sorted(k for k in set(KINDS.values()) if k.startswith(incomplete.lower()))


def _complete_deletable(incomplete: str) -> list[str]:
    return [k for k in DELETABLE if k.startswith(incomplete.lower())]


Kind = Annotated[str, typer.Argument(help="accounts, clients, plugins, connections, secrets, apikeys or domains (singular and Smarter's kind names work too).", autocompletion=_complete_kind, show_default=False)]


def resolve_kind(word: str, allowed: tuple[str, ...] | None = None) -> str:
    kind = KINDS.get(word.lower())
    choices = allowed or tuple(sorted(set(KINDS.values())))
    if kind is None:
        raise failures.UsageProblem(f"unknown kind {word!r}{manifests.did_you_mean(word, KINDS)}", f"one of: {', '.join(choices)}")
    return kind


def _ident(kind: str, item: dict[str, Any]) -> str:
    return str(item.get("name") or item.get("number") or item.get("key_id") or item.get("domain") or (item.get("metadata") or {}).get("name") or "")


def _name_line(kind: str):
    singular = kind[:-1]
    return lambda item: f"{singular}/{_ident(kind, item)}"


def _target(conn: dict[str, Any]) -> str:
    spec = conn.get("spec") or {}
    connection = spec.get("connection") if isinstance(spec.get("connection"), dict) else spec
    if connection.get("baseUrl"):
        return str(connection["baseUrl"])
    parts = [connection.get("dbEngine"), connection.get("hostname") or connection.get("host"), connection.get("database")]
    return " ".join(str(p) for p in parts if p)


COLUMNS: dict[str, list[Column]] = {
    "accounts": [
        Column("NUMBER", lambda d: d.get("number")),
        Column("COMPANY", lambda d: d.get("companyName")),
        Column("EMAIL", lambda d: d.get("email")),
        Column("AGE", lambda d: age(d.get("created_at"))),
    ],
    "clients": [
        Column("NAME", lambda d: d.get("name")),
        Column("PROVIDER", lambda d: d.get("provider")),
        Column("MODEL", lambda d: d.get("model")),
        Column("PLUGINS", lambda d: d.get("plugins")),
        Column("DEPLOYED", lambda d: d.get("deployed")),
        Column("AGE", lambda d: age(d.get("created_at"))),
    ],
    "plugins": [
        Column("NAME", lambda d: (d.get("metadata") or {}).get("name")),
        Column("KIND", lambda d: d.get("kind")),
        Column("CLASS", lambda d: (d.get("metadata") or {}).get("pluginClass")),
        Column("VERSION", lambda d: (d.get("metadata") or {}).get("version")),
        Column("DESCRIPTION", lambda d: (d.get("metadata") or {}).get("description")),
    ],
    "connections": [
        Column("NAME", lambda d: (d.get("metadata") or {}).get("name")),
        Column("KIND", lambda d: d.get("kind")),
        Column("TARGET", _target),
    ],
    "apikeys": [
        Column("KEY_ID", lambda d: d.get("key_id")),
        Column("NAME", lambda d: d.get("name")),
        Column("CLIENTS", lambda d: d.get("clients") or "all"),
        Column("STATUS", export.key_state),
        Column("EXPIRES", lambda d: d.get("expires_at")),
        Column("AGE", lambda d: age(d.get("created_at"))),
    ],
    "domains": domains_cli.COLUMNS,
    "secrets": [
        Column("NAME", lambda d: d.get("name")),
        Column("DESCRIPTION", lambda d: d.get("description")),
        Column("UPDATED", lambda d: age(d.get("updated_at"))),
    ],
}


def _secrets(account: str) -> list[dict[str, Any]]:
    """An account's secrets by name: never their values."""
    from smarter.store import aws
    from smarter.tenancy.account_secrets import ACCOUNT_SECRET_PREFIX

    prefix = f"{ACCOUNT_SECRET_PREFIX}{account}/"
    found = []
    for page in aws.client("secretsmanager").get_paginator("list_secrets").paginate(Filters=[{"Key": "name", "Values": [prefix]}]):
        for entry in page.get("SecretList", []):
            if entry["Name"].startswith(prefix):
                stamp = entry.get("LastChangedDate") or entry.get("CreatedDate")
                expiration = next((t["Value"] for t in entry.get("Tags") or [] if t.get("Key") == manifests.EXPIRATION_TAG), None)
                found.append({"name": entry["Name"][len(prefix):], "account": account, "description": entry.get("Description"), "expirationDate": expiration,
                              "updated_at": stamp.isoformat() if stamp else None})
    return sorted(found, key=lambda d: d["name"])


# --- the root: --version, --debug, --no-color ---------------------------------------------


def _version(value: bool) -> None:
    if value:
        versions = []
        for dist in ("smarter-admin", "smarter-core", "smarter-plugins"):
            try:
                versions.append(f"{dist} {metadata.version(dist)}")
            except metadata.PackageNotFoundError:
                pass
        output.out(f"smarter {metadata.version('smarter-admin')} ({', '.join(versions[1:])}; Python {sys.version.split()[0]})")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Print the traceback of a failure.")] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colour (also NO_COLOR=1; output that is not a terminal never has colour).")] = False,
) -> None:
    """Administer Smarter Serverless: accounts, LLM clients, plugins, connections, API keys and domains."""


# --- apply, diff ------------------------------------------------------------------------

def _manifest_file(value: str) -> Path:
    """'-' (stdin) or a readable file; anything else is a usage error."""
    path = Path(value)
    if value != "-":
        if not path.exists():
            raise typer.BadParameter(f"the file {value!r} does not exist")
        if not path.is_file():
            raise typer.BadParameter(f"{value!r} is not a file")
    return path


ManifestFile = Annotated[
    Path,
    typer.Option("-f", "--file", parser=_manifest_file, help="Manifest file, YAML (one or many documents) or JSON; '-' reads stdin.", show_default=False),
]

APPLY_COLUMNS = [
    Column("KIND", lambda r: r["kind"]),
    Column("NAME", lambda r: r["name"]),
    Column("ACCOUNT", lambda r: r.get("account")),
    Column("RESULT", lambda r: r["result"]),
]


def _load(file: Path) -> list[dict[str, Any]]:
    if str(file) == "-":
        return manifests.load_documents(sys.stdin.read(), "<stdin>")
    return manifests.load_documents(file.read_text(encoding="utf-8"), str(file))


@app.command(
    epilog="Examples:\n\n"
    "  smarter apply -f examples/demo-account.yaml\n\n"
    "  smarter apply -f tenant.yaml --dry-run      # what would be created, changed or left alone\n\n"
    "  cat bot.json | smarter apply -f - -o json",
)
def apply(file: ManifestFile, dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and show what would change; store nothing.")] = False, account: Account = None, output_format: Output = None) -> int:
    """Create or update from a manifest file. Documents are applied in dependency order (accounts, connections, plugins, clients, keys); every document is validated before any is stored."""
    docs = _load(file)
    source = "<stdin>" if str(file) == "-" else str(file)
    changes = _plan(docs, account, source)
    if dry_run:
        rows = [{"kind": c.kind, "name": c.name, "account": c.account, "result": f"{c.action} (dry run)"} for c in changes]
        emit(rows, output_format, columns=APPLY_COLUMNS, name=lambda r: f"{r['kind'].lower()}/{r['name']}", human=lambda: [output.out(f"{r['kind']}/{r['name']} {r['result']}") for r in rows])
        return 0
    results = []
    for change in changes:
        result = change.write()
        results.append({**result, "change": change.action})
    secrets = [r for r in results if r.get("api_key")]

    def human() -> None:
        for r in results:
            output.out(f"{r['kind']}/{r['name']} {r['result']}" + (f" ({r['change']})" if r["change"] != r["result"] else ""))
            if r.get("api_key"):
                output.out(f"API key (shown once, store it now): {r['api_key']}")

    emit(results, output_format, columns=[*APPLY_COLUMNS, Column("CHANGE", lambda r: r["change"])], name=lambda r: f"{r['kind'].lower()}/{r['name']}", human=human)
    if output_format in (Format.table, Format.name):
        for r in secrets:  # -o json and yaml carry it in the result
            output.err(f"API key {r['name']} (shown once, store it now): {r['api_key']}")
    return 0


def _plan(docs: list[dict[str, Any]], account: str | None, source: str) -> list[manifests.Change]:
    """Plan every document; the warnings go to stderr, also when a document is refused."""
    try:
        changes = manifests.plan_documents(docs, account=account, source=source)
    except manifests.DocumentError as exc:
        for warning in getattr(exc, "warnings", []):
            output.err(f"warning: {warning}", style="yellow" if output.is_color("err") else None)
        raise
    _warn(changes)
    return changes


def _warn(changes: list[manifests.Change]) -> None:
    """What the manifests got wrong without being refused, on stderr."""
    for change in changes:
        for warning in change.warnings:
            output.err(f"warning: {change.kind}/{change.name}: {warning}", style="yellow" if output.is_color("err") else None)


@app.command(
    epilog="Examples:\n\n"
    "  smarter diff -f examples/demo-client-customer-support.yaml\n\n"
    "  smarter diff -f tenant.yaml && echo 'nothing to apply'",
)
def diff(file: ManifestFile, account: Account = None, output_format: Output = None) -> int:
    """Show what applying a manifest file would change, against what is stored. Exits 0 when nothing would change, 1 when something would (as diff(1) does)."""
    source = "<stdin>" if str(file) == "-" else str(file)
    changes = _plan(_load(file), account, source)
    changed = [c for c in changes if c.action != "unchanged"]
    if output_format is not None:
        rows = [{"kind": c.kind, "name": c.name, "account": c.account, "result": c.action, "stored": c.before, "manifest": c.after} for c in changes]
        emit(rows, output_format, columns=APPLY_COLUMNS, name=lambda r: f"{r['kind'].lower()}/{r['name']}")
        return failures.DIFFERENCES if changed else failures.OK
    color = output.is_color()
    for change in changed:
        for line in manifests.diff_lines(change):
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else "cyan" if line.startswith("@@") else None
            output.out(Text(line, style=style if color else None))
    for change in changes:
        if change.action == "unchanged":
            output.err(f"{change.kind}/{change.name} unchanged")
    return failures.DIFFERENCES if changed else failures.OK


# --- get, describe, delete -----------------------------------------------------------


def _list(kind: str, account: str | None) -> list[dict[str, Any]]:
    if kind == "accounts":
        return storage.list_accounts()
    if kind == "apikeys":
        return [{k: v for k, v in d.items() if k != "key_hash"} for d in storage.list_api_keys(account_of(account))]
    if kind == "domains":
        return storage.list_domains(account)
    if kind == "secrets":
        return _secrets(account_of(account))
    return storage.list_scoped(SCOPED[kind], account_of(account))


@app.command(
    epilog="Examples:\n\n"
    "  smarter get clients\n\n"
    "  smarter get plugin support_info -o yaml\n\n"
    "  smarter get apikeys -o json | jq '.[].key_id'\n\n"
    "  smarter get domains -o name",
)
def get(kind: Kind, name: Annotated[str | None, typer.Argument(help="Only this one.", show_default=False)] = None, account: Account = None, output_format: Output = None) -> int:
    """List accounts, clients, plugins, connections, apikeys or domains as a table (or JSON, YAML, names)."""
    only = ONLY.get(kind.lower())
    kind = resolve_kind(kind)
    items = _list(kind, account)
    if only:
        items = [i for i in items if i.get("kind") == only]
    if name:
        items = [i for i in items if name in (i.get("name"), i.get("number"), i.get("key_id"), i.get("domain"), (i.get("metadata") or {}).get("name"))]
        if not items:
            raise NotFound(f"no {kind[:-1]} named {name!r}" + (f" in account {account_of(account)}" if kind in SCOPED or kind == "apikeys" else ""))
    if output_format in (Format.json, Format.yaml):
        # Manifests that `smarter apply -f` takes back unchanged (smarter_admin.export).
        _print_manifests([export.of(kind, i) for i in items], output_format, one=bool(name))
        return 0
    emit(items, output_format, columns=COLUMNS[kind], name=_name_line(kind), styled="STATUS")
    return 0


def _print_manifests(docs: list[dict[str, Any]], fmt: Format, *, one: bool) -> None:
    """One manifest, or many: a JSON list, or YAML documents separated by `---`
    (both forms `apply -f` reads)."""
    if one and docs:
        output.out(output.dump(docs[0], fmt))
    elif fmt is Format.json:
        output.out(output.dump(docs, fmt))
    else:
        output.out("\n---\n".join(output.dump(doc, fmt) for doc in docs) if docs else "")


@app.command(
    epilog="Examples:\n\n"
    "  smarter describe client customer-support\n\n"
    "  smarter describe plugin support_info -o json   # status.tool: the tool the model sees",
)
def describe(kind: Kind, name: Annotated[str, typer.Argument(help="The item's name (a key's name or id, a domain).", show_default=False)], account: Account = None, output_format: Output = None) -> int:
    """Show one item in full, as the manifest that makes it (YAML by default; `apply -f` takes it back); a plugin's status holds the tool the model sees."""
    kind = resolve_kind(kind)
    if kind not in SCOPED:
        return get(kind, name, account, output_format or Format.yaml)
    doc = storage.get_scoped(SCOPED[kind], account_of(account), name)
    if doc is None:
        raise NotFound(f"no {kind[:-1]} named {name!r} in account {account_of(account)}")
    fmt = output_format or Format.yaml
    if fmt in (Format.json, Format.yaml):
        _print_manifests([export.of(kind, doc, describe=True)], fmt, one=True)
        return 0
    emit(doc, fmt, columns=COLUMNS[kind], name=_name_line(kind))
    return 0


Deletable = Annotated[str, typer.Argument(help="accounts, clients, plugins, connections or secrets (API keys are revoked: smarter apikey revoke; domains removed: smarter domain remove).", autocompletion=_complete_deletable, show_default=False)]


@app.command(
    epilog="Examples:\n\n"
    "  smarter delete client customer-support\n\n"
    "  smarter delete plugin support_info -o name\n\n"
    "  smarter delete account 3141-5926-5359         # with its clients, plugins, keys and domains",
)
def delete(kind: Deletable, name: Annotated[str, typer.Argument(help="The item's name (an account's number).", show_default=False)], account: Account = None, output_format: Output = None) -> int:
    """Delete an account (with everything in it), a client (with its custom domain), a plugin, a connection or a secret."""
    kind = resolve_kind(kind, DELETABLE)
    if kind == "apikeys":
        raise failures.UsageProblem("API keys are revoked, not deleted", f"smarter apikey revoke {name}")
    if kind == "domains":
        raise failures.UsageProblem("domains are removed, not deleted", f"smarter domain remove {name}")
    results: list[dict[str, Any]] = []
    if kind == "accounts":
        if storage.get_account(name) is None:
            raise NotFound(f"no account {name}")
        from smarter_admin import domains

        for doc in domains.deprovision_account(name):  # default hosts and custom domains
            results.append({"kind": "domain", "name": doc["domain"], "result": "removed"})
        for item in storage.account_items(name):
            storage.delete_raw(item["pk"]["S"], item["sk"]["S"])
        for doc in storage.list_api_keys(name):
            storage.delete_raw(f"APIKEY#{doc['key_hash']}", "APIKEY")
        results.append({"kind": "account", "name": name, "result": "deleted"})
    elif kind == "secrets":
        from smarter.store import aws
        from smarter.tenancy import account_secrets

        number = account_of(account)
        if name not in {s["name"] for s in _secrets(number)}:
            raise NotFound(f"no secret named {name!r} in account {number}")
        aws.client("secretsmanager").delete_secret(SecretId=account_secrets.account_secret_id(number, name), ForceDeleteWithoutRecovery=True)
        account_secrets.forget(number, name)
        results.append({"kind": "secret", "name": name, "account": number, "result": "deleted"})
    else:
        number = account_of(account)
        if storage.get_scoped_item(SCOPED[kind], number, name) is None:
            raise NotFound(f"no {kind[:-1]} named {name!r} in account {number}")
        if kind == "clients":
            from smarter_admin import domains

            for doc in domains.remove_client_domains(number, name):
                results.append({"kind": "domain", "name": doc["domain"], "result": "removed"})
        storage.delete_scoped(SCOPED[kind], number, name)
        if kind == "clients":
            from smarter.schema import host_label

            pointer = storage.get_scoped("CLIENTHOST", number, host_label(name))
            if pointer and pointer.get("name") == name:
                storage.delete_scoped("CLIENTHOST", number, host_label(name))
        results.append({"kind": kind[:-1], "name": name, "account": number, "result": "deleted"})
    emit(results, output_format, columns=APPLY_COLUMNS, name=lambda r: f"{r['kind']}/{r['name']}",
         human=lambda: [output.out(f"{r['kind']}/{r['name']} {r['result']}") for r in results])
    return 0


# --- apikey -----------------------------------------------------------------------------

apikey_app = typer.Typer(help="Create or revoke API keys.", no_args_is_help=True, rich_markup_mode="rich")
app.add_typer(apikey_app, name="apikey")


@apikey_app.command(
    "create",
    epilog="Examples:\n\n"
    "  smarter apikey create ci --client customer-support --expires-in-days 90\n\n"
    "  smarter apikey create ci -o json | jq -r .api_key",
)
def apikey_create(
    name: Annotated[str, typer.Argument(help="The key's name.", show_default=False)],
    client: Annotated[list[str] | None, typer.Option("--client", help="Limit the key to this client (repeatable).")] = None,
    expires_in_days: Annotated[int | None, typer.Option("--expires-in-days", min=1, max=3650, help="The key stops working after this many days.")] = None,
    account: Account = None,
    output_format: Output = None,
) -> int:
    """Create an API key; its secret is printed once and only its hash is stored."""
    number = account_of(account)
    if storage.get_account(number) is None:
        raise NotFound(f"the account {number} does not exist")
    secret, doc = auth.create_key(number, name, clients=client or None, expires_in_days=expires_in_days)

    def human() -> None:
        output.out(output.dump(doc, "yaml"))
        output.out(f"API key (shown once, store it now): {secret}")

    emit({**doc, "api_key": secret}, output_format, columns=COLUMNS["apikeys"], name=_name_line("apikeys"), human=human, styled="STATUS")
    if output_format in (Format.table, Format.name):
        output.err(f"API key (shown once, store it now): {secret}")
    return 0


@apikey_app.command("revoke", epilog="Examples:\n\n  smarter apikey revoke 8f3a2c1d4e5f   # by key id\n\n  smarter apikey revoke ci             # a name only one live key has")
def apikey_revoke(name: Annotated[str, typer.Argument(help="The key id, or a name that exactly one live key has (names may repeat).", show_default=False)], account: Account = None, output_format: Output = None) -> int:
    """Revoke an API key: requests with it are refused from now on (other containers within SMARTER_CACHE_TTL)."""
    number = account_of(account)
    doc = auth.find_key(number, name)  # several live keys of that name: refused, naming their ids
    if doc is None:
        raise NotFound(f"no API key {name!r} in account {number}")
    revoked = auth.revoke_key(doc)  # idempotent: an already revoked key keeps its revoked_at
    emit(revoked, output_format, columns=COLUMNS["apikeys"], name=_name_line("apikeys"), styled="STATUS",
         human=lambda: output.out(f"apikey/{revoked['key_id']} revoked at {revoked['revoked_at']}"))
    return 0


# --- prompt, journal, usage -----------------------------------------------------------------


@app.command(
    epilog="Examples:\n\n"
    "  smarter prompt customer-support \"What are your support hours?\"\n\n"
    "  smarter prompt customer-support \"And on Sunday?\" --session 4f1c...   # continue a session\n\n"
    "  smarter prompt customer-support hello -o json",
)
def prompt(
    client: Annotated[str, typer.Argument(help="The LLM client.", show_default=False)],
    text: Annotated[str, typer.Argument(help="The prompt.", show_default=False)],
    session: Annotated[str | None, typer.Option("--session", help="Continue this session_key.")] = None,
    account: Account = None,
    output_format: Output = None,
) -> int:
    """Send a prompt to a client from the terminal; it is journaled like an API request."""
    from smarter.llm import chat
    from smarter.llm.messages import parse_prompt_request
    from smarter.store.journal import RequestRecord
    from smarter.tenancy import hosts, limits

    number = account_of(account)
    resolved = hosts.client_by_name(number, client)
    record = RequestRecord("LLMClient", "prompt", method="CLI", path="smarter prompt", host=resolved.host, headers={})
    record.account, record.client, record.api_key_id = number, client, "cli"
    # The terminal spends provider credit too: the client's and account's limits and prices apply.
    record.plan = limits.plan({"key_id": "cli"}, number, resolved.doc)
    status, response = 200, None
    try:
        request = parse_prompt_request({"session_key": session, "messages": [{"role": "user", "content": text}]})
        data = chat.run_prompt(resolved, request, record)
        response = data
    except SmarterError as exc:
        status, response = exc.status, {"error": {"type": exc.type, "message": exc.message}}
        raise
    finally:
        record.finish(status, response)
    answer = data["chat_completion"]["choices"][0]["message"].get("content") or ""
    result = {"answer": answer, "session_key": record.session_key, "journal_key": record.key, "tool_calls": data["tool_calls"], "chat_completion": data["chat_completion"]}

    def human() -> None:
        output.out(answer)
        for call in data["tool_calls"]:
            output.err(f"  [tool {call['plugin']} {json.dumps(call.get('arguments'))} -> {call['outcome']}]")
        output.err(f"session_key: {record.session_key}\njournal key: {record.key}")

    emit(result, output_format if output_format is not Format.table else None, name=lambda r: r["session_key"], human=human)
    return 0


JOURNAL_COLUMNS = [
    Column("KEY", lambda r: r.get("key")),
    Column("STATUS", lambda r: r.get("status")),
    Column("COMMAND", lambda r: r.get("command")),
    Column("TOTAL_MS", lambda r: (r.get("durations") or {}).get("total_ms")),
    Column("AGE", lambda r: age(r.get("started_at") or r.get("created_at"))),
]


@app.command(
    "journal",
    epilog="Examples:\n\n"
    "  smarter journal customer-support --limit 5\n\n"
    "  smarter journal customer-support 01JD3K... -o json",
)
def journal_(
    client: Annotated[str, typer.Argument(help="The LLM client.", show_default=False)],
    key: Annotated[str | None, typer.Argument(help="One record's journal key.", show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many recent records.")] = 20,
    account: Account = None,
    output_format: Output = None,
) -> int:
    """List a client's recent journal records (newest first), or show one in full."""
    number = account_of(account)
    if key:
        record = journal.get(number, client, key)
        if record is None:
            raise NotFound(f"no journal record {key} for {client} in account {number}")
        emit(record, output_format or Format.yaml, columns=JOURNAL_COLUMNS, name=lambda r: r.get("key", ""))
        return 0
    emit(journal.recent(number, client, limit), output_format, columns=JOURNAL_COLUMNS, name=lambda r: r.get("key", ""))
    return 0


@app.command(
    "journal-replay",
    epilog="Examples:\n\n"
    "  smarter journal-replay                       # the records kept in S3 (journal/_unwritten/)\n\n"
    "  smarter journal-replay --log prompt-logs.txt # a CloudWatch Logs export or `sam logs` output\n\n"
    "  aws logs filter-log-events --log-group-name /aws/lambda/...-PromptFunction-... \\\n"
    "      --filter-pattern journal_record --query 'events[].message' --output text | smarter journal-replay --log -",
)
def journal_replay(
    log: Annotated[str | None, typer.Option("--log", help="Read the records from log lines in this file ('-' for stdin) instead of S3.")] = None,
    output_format: Output = None,
) -> int:
    """Put journal records the table did not take (a failed or timed-out write after
    the answer) into the journal table, each once: a conditional put, so running it
    twice, or after the UsageFunction's schedule did, counts nothing twice."""
    if log is None:
        counts = journal.replay_fallbacks(limit=100_000)
    else:
        handle = sys.stdin if log == "-" else open(log, encoding="utf-8")  # noqa: SIM115 (stdin is not ours to close)
        try:
            records = journal.records_in_log(handle)
        finally:
            if handle is not sys.stdin:
                handle.close()
        counts = {"written": 0, "present": 0, "unreadable": 0}
        for record in records:
            try:
                counts["written" if journal.replay(record) else "present"] += 1
            except ValueError:
                counts["unreadable"] += 1
    emit([{"source": log or "s3", **counts}], output_format, columns=output.generic_columns([{"source": "", **counts}], first=("source",)), name=lambda r: r["source"])
    return 0


USAGE_GROUPS = console.USAGE_GROUPS


@app.command(
    "usage",
    epilog="Examples:\n\n  smarter usage\n\n  smarter usage --day 2026-11 -o json\n\n  smarter usage --by client",
)
def usage_(
    day: Annotated[str | None, typer.Option("--day", help="A day (YYYY-MM-DD) or a prefix (YYYY-MM).")] = None,
    by: Annotated[str, typer.Option("--by", help="Sum per day, client, key or the whole account (default: per day, client and key).")] = "detail",
    account: Account = None,
    output_format: Output = None,
) -> int:
    """Tokens and US dollars per day, client and key (the counters trail requests by a few seconds)."""
    if by not in USAGE_GROUPS:
        raise typer.BadParameter(f"--by must be one of {', '.join(sorted(USAGE_GROUPS))}")
    number = account_of(account)
    group = USAGE_GROUPS[by]
    rows = console.usage_totals(usage.for_account(number, day or ""), by, number)
    first = (*group, "requests") if group else ("account", "requests")
    emit(rows, output_format, columns=output.generic_columns(rows, first=first), name=lambda r: "/".join(str(r.get(f)) for f in group) or number)
    return 0


plugin_cli.register(app)
domains_cli.register(app)


# --- the entry point ---------------------------------------------------------------------

GLOBAL_FLAGS = ("--debug", "--no-color")


def main(argv: list[str] | None = None) -> int:
    """The `smarter` console script (and `python -m smarter_admin`). Returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # --debug and --no-color work anywhere on the line (before a `--`).
    end = argv.index("--") if "--" in argv else len(argv)
    flags = {a for a in argv[:end] if a in GLOBAL_FLAGS}
    argv = [a for i, a in enumerate(argv) if i >= end or a not in GLOBAL_FLAGS]
    output.configure(no_color="--no-color" in flags)
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="smarter", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        output.err("aborted")
        return 130
    except KeyboardInterrupt:
        output.err("interrupted")
        return 130
    except Exception as exc:  # the one error path
        return failures.report(exc, debug="--debug" in flags)
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
