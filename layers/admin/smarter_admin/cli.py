"""`smarter`: the admin CLI, built on Typer (Click underneath, Rich for colour
and progress). It talks to AWS with botocore, so it works the same against
AWS and against the local stack (a context, or AWS_ENDPOINT_URL).

kubectl's conventions where users reach for them: `get KIND[,KIND] [NAME...]`,
`KIND/NAME` (what `-o name` prints) wherever a kind and a name go, short
names, `get all`, `-l` selectors, `-o table|wide|json|yaml|name|jsonpath=...`,
`--no-headers`, `apply -f FILE|DIR [-R]`, `delete -f`, `--dry-run`,
`--ignore-not-found`, `explain`, and named contexts (`smarter config`).
Results go to stdout, messages to stderr, and every failure goes through
`failures.report` (one or two lines and an exit code that says what failed).

Imports are lazy: `smarter --help` loads Typer and Rich, not botocore,
pydantic or the plugin kinds (bench: cold_start.cli).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from smarter_admin import contexts, failures, output
from smarter_admin.output import Column, Format, Output, account_of, age, emit

# Typer prints an argument's Python type after its metavar (`NAME <str>`); the
# metavars here say what to type, so the help shows only them.
typer.core.TyperArgument.display_type_rich = lambda self, ctx: ""

app = typer.Typer(
    name="smarter",
    help="Administer Smarter Serverless: accounts, LLM clients, plugins, connections, API keys and domains.",
    epilog="\b\nExit codes: 0 ok, 1 failed, 2 usage, 3 manifest refused, 4 not found, 5 AWS unreachable, 6 AWS error.\n"
    "Global flags (anywhere on the line): --context NAME, --request-timeout SECONDS, --debug, --no-color.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)

# --- options every verb shares -----------------------------------------------------

Account = Annotated[str | None, typer.Option("--account", envvar="SMARTER_ACCOUNT", show_envvar=True, metavar="NUMBER", help="Account number, e.g. 3141-5926-5359.")]

# --- kinds ---------------------------------------------------------------------------

KINDS = {
    "account": "accounts", "accounts": "accounts", "acct": "accounts",
    "client": "clients", "clients": "clients", "llmclient": "clients", "llmclients": "clients", "chatbot": "clients", "chatbots": "clients", "cl": "clients",
    "plugin": "plugins", "plugins": "plugins", "apiplugin": "plugins", "apiplugins": "plugins", "sqlplugin": "plugins", "sqlplugins": "plugins", "pl": "plugins",
    "connection": "connections", "connections": "connections", "conn": "connections",
    "apiconnection": "connections", "apiconnections": "connections", "sqlconnection": "connections", "sqlconnections": "connections",
    "apikey": "apikeys", "apikeys": "apikeys", "key": "apikeys", "keys": "apikeys",
    "secret": "secrets", "secrets": "secrets", "sec": "secrets",
    "domain": "domains", "domains": "domains", "dom": "domains",
    "provider": "providers", "providers": "providers", "prov": "providers",
}
SHORT_NAMES = {"accounts": "acct", "clients": "cl", "plugins": "pl", "connections": "conn", "apikeys": "key", "secrets": "sec", "domains": "dom", "providers": "prov"}
SINGULAR = {"accounts": "account", "clients": "client", "plugins": "plugin", "connections": "connection", "apikeys": "apikey", "secrets": "secret", "domains": "domain",
            "providers": "provider"}
# `get all`: what lives in an account (accounts themselves are listed by `get accounts`).
ALL = ("clients", "plugins", "connections", "providers", "secrets", "apikeys", "domains")
SCOPED = {"clients": "CLIENT", "plugins": "PLUGIN", "connections": "CONNECTION", "providers": "PROVIDER"}
# A manifest kind's name lists only that kind (`get sqlconnections`), as kubectl does.
ONLY = {
    "apiplugin": "ApiPlugin", "apiplugins": "ApiPlugin", "sqlplugin": "SqlPlugin", "sqlplugins": "SqlPlugin",
    "apiconnection": "ApiConnection", "apiconnections": "ApiConnection", "sqlconnection": "SqlConnection", "sqlconnections": "SqlConnection",
}
DELETABLE = ("accounts", "clients", "plugins", "connections", "providers", "secrets")
# Manifest kinds as the CLI's kinds (for `delete -f`).
MANIFEST_KINDS = {"Account": "accounts", "LLMClient": "clients", "Chatbot": "clients", "Secret": "secrets", "ApiKey": "apikeys", "Provider": "providers"}


def _complete_kind(incomplete: str) -> list[str]:
    word = incomplete.lower()
    if "/" in word:  # KIND/NAME: the names of that kind
        kind_word, _, prefix = word.partition("/")
        kind = KINDS.get(kind_word)
        return [f"{kind_word}/{n}" for n in _names(kind) if n.lower().startswith(prefix)] if kind else []
    head, _, last = word.rpartition(",")
    return [f"{head},{k}" if head else k for k in sorted({*KINDS.values(), "all"}) if k.startswith(last)]


def _complete_deletable(incomplete: str) -> list[str]:
    return [k for k in DELETABLE if k.startswith(incomplete.lower())]


def _complete_name(ctx: typer.Context, incomplete: str) -> list[str]:
    """Resource names for completion: the kind typed before, looked up with a short timeout."""
    words = ctx.params.get("targets") or []
    kind = KINDS.get(str(words[0]).lower()) if words else None
    return [n for n in _names(kind) if n.startswith(incomplete)] if kind else _complete_kind(incomplete)


def _names(kind: str | None) -> list[str]:
    """Names of `kind` in the current account, for completion: nothing (never an error) when AWS does not answer in 2 s."""
    if kind is None:
        return []
    try:
        _request_timeout(2.0)
        import os

        account = os.environ.get("SMARTER_ACCOUNT")
        if kind not in ("accounts", "domains") and not account:
            return []
        return sorted(_ident(kind, item) for item in _list(kind, account))
    except Exception:  # noqa: BLE001 - completion must never print a traceback
        return []


Targets = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="KIND[,KIND...] [NAME...] | KIND/NAME...",
        help="accounts (acct), clients (cl), plugins (pl), connections (conn), secrets (sec), apikeys (key), domains (dom), or all; "
        "singular and Smarter's kind names work too. KIND/NAME is what -o name prints.",
        autocompletion=_complete_name,
        show_default=False,
    ),
]


def resolve_kind(word: str, allowed: tuple[str, ...] | None = None) -> str:
    kind = KINDS.get(word.lower())
    choices = allowed or tuple(sorted(set(KINDS.values())))
    if kind is None or (allowed and kind not in allowed):
        from smarter.schema import did_you_mean

        raise failures.UsageProblem(f"unknown kind {word!r}{did_you_mean(word, KINDS)}" if kind is None else f"{word} cannot be deleted here",
                                    f"one of: {', '.join(choices)}")
    return kind


def parse_targets(words: list[str], *, allowed: tuple[str, ...] | None = None) -> list[tuple[str, str | None, list[str]]]:
    """kubectl's forms: `KIND[,KIND] [NAME...]`, or `KIND/NAME...` (each its own
    kind). Returns (kind, only this manifest kind or None, names) per kind."""
    if not words:
        raise failures.UsageProblem("which kind? e.g. smarter get clients", "see 'smarter get --help' (or smarter explain)")
    groups: dict[tuple[str, str | None], list[str]] = {}
    if "/" in words[0]:
        for word in words:
            kind_word, slash, name = word.partition("/")
            if not slash or not name:
                raise failures.UsageProblem(f"{word!r}: with KIND/NAME, every argument is KIND/NAME", "e.g. smarter describe client/customer-support plugin/support_info")
            kind = resolve_kind(kind_word, allowed)
            groups.setdefault((kind, ONLY.get(kind_word.lower())), []).append(name)
        return [(kind, only, names) for (kind, only), names in groups.items()]
    kinds: list[tuple[str, str | None]] = []
    for kind_word in (w for w in words[0].split(",") if w):
        if kind_word.lower() == "all":
            kinds.extend((k, None) for k in ALL if not allowed or k in allowed)
        else:
            kinds.append((resolve_kind(kind_word, allowed), ONLY.get(kind_word.lower())))
    names = words[1:]
    if any("/" in n for n in names):
        raise failures.UsageProblem("a name cannot contain '/': give KIND NAME or KIND/NAME, not both", "e.g. smarter get client customer-support")
    if names and len(kinds) > 1:
        raise failures.UsageProblem("names go with one kind", "e.g. smarter get clients a b, or smarter get client/a plugin/b")
    return [(kind, only, names) for kind, only in dict.fromkeys(kinds)]


def _ident(kind: str, item: dict[str, Any]) -> str:
    if kind == "apikeys":  # names repeat; the key id is unique (and what revoke takes)
        return str(item.get("key_id") or item.get("name") or "")
    return str(item.get("name") or item.get("number") or item.get("key_id") or item.get("domain") or (item.get("metadata") or {}).get("name") or "")


def _name_line(kind: str):
    singular = SINGULAR.get(kind, kind[:-1])
    return lambda item: f"{singular}/{_ident(kind, item)}"


def _matches(kind: str, item: dict[str, Any], name: str) -> bool:
    return name in (item.get("name"), item.get("number"), item.get("key_id"), item.get("domain"), (item.get("metadata") or {}).get("name"))


def _target(conn: dict[str, Any]) -> str:
    spec = conn.get("spec") or {}
    connection = spec.get("connection") if isinstance(spec.get("connection"), dict) else spec
    if connection.get("baseUrl"):
        return str(connection["baseUrl"])
    parts = [connection.get("dbEngine"), connection.get("hostname") or connection.get("host"), connection.get("database")]
    return " ".join(str(p) for p in parts if p)


def _key_state(doc: dict[str, Any]) -> str:
    from smarter_admin import export

    return export.key_state(doc)


def _limits_cell(doc: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in (doc.get("limits") or {}).items())


def _domain_columns() -> list[Column]:
    from smarter_admin import domains_cli  # imported for its commands anyway

    return domains_cli.COLUMNS


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
        Column("STATUS", _key_state),
        Column("EXPIRES", lambda d: d.get("expires_at")),
        Column("AGE", lambda d: age(d.get("created_at"))),
    ],
    "domains": _domain_columns(),
    "secrets": [
        Column("NAME", lambda d: d.get("name")),
        Column("DESCRIPTION", lambda d: d.get("description")),
        Column("UPDATED", lambda d: age(d.get("updated_at"))),
    ],
    "providers": [
        Column("NAME", lambda d: (d.get("metadata") or {}).get("name")),
        Column("BASE_URL", lambda d: (d.get("spec") or {}).get("baseUrl")),
        Column("MODELS", lambda d: [m.get("name") for m in (d.get("spec") or {}).get("models") or []]),
    ],
}
# -o wide: the table's columns and then some.
WIDE: dict[str, list[Column]] = {
    "accounts": [*COLUMNS["accounts"][:3], Column("LIMITS", _limits_cell), COLUMNS["accounts"][3]],
    "clients": [
        *COLUMNS["clients"][:5],
        Column("HOST_LABEL", lambda d: d.get("host_label")),
        Column("TEMPERATURE", lambda d: d.get("temperature")),
        Column("MAX_TOKENS", lambda d: d.get("max_tokens")),
        Column("DOMAIN", lambda d: d.get("custom_domain")),
        Column("LIMITS", _limits_cell),
        Column("TAGS", lambda d: d.get("tags")),
        COLUMNS["clients"][5],
    ],
    "plugins": [
        *COLUMNS["plugins"][:4],
        Column("SELECTOR", lambda d: ((d.get("spec") or {}).get("selector") or {}).get("directive")),
        Column("CONNECTION", lambda d: (d.get("spec") or {}).get("connection") if isinstance((d.get("spec") or {}).get("connection"), str) else None),
        Column("TAGS", lambda d: (d.get("metadata") or {}).get("tags")),
        COLUMNS["plugins"][4],
    ],
    "connections": [*COLUMNS["connections"], Column("SECRET", lambda d: (((d.get("spec") or {}).get("connection") or {}).get("secret")))],
    "apikeys": [*COLUMNS["apikeys"][:5], Column("LIMITS", _limits_cell), Column("REVOKED", lambda d: d.get("revoked_at")), COLUMNS["apikeys"][5]],
    "domains": [*COLUMNS["domains"], Column("MESSAGE", lambda d: d.get("error") or d.get("message"))],
    "secrets": [*COLUMNS["secrets"], Column("EXPIRES", lambda d: d.get("expirationDate"))],
    "providers": [*COLUMNS["providers"], Column("KEY_SECRET", lambda d: (d.get("spec") or {}).get("apiKey"))],
}


def _secrets(account: str) -> list[dict[str, Any]]:
    """An account's secrets by name: never their values."""
    from smarter.store import aws
    from smarter.tenancy.account_secrets import ACCOUNT_SECRET_PREFIX

    from smarter_admin.manifests import EXPIRATION_TAG

    prefix = f"{ACCOUNT_SECRET_PREFIX}{account}/"
    found = []
    for page in aws.botocore_client("secretsmanager").get_paginator("list_secrets").paginate(Filters=[{"Key": "name", "Values": [prefix]}]):
        for entry in page.get("SecretList", []):
            if entry["Name"].startswith(prefix):
                stamp = entry.get("LastChangedDate") or entry.get("CreatedDate")
                expiration = next((t["Value"] for t in entry.get("Tags") or [] if t.get("Key") == EXPIRATION_TAG), None)
                found.append({"name": entry["Name"][len(prefix):], "account": account, "description": entry.get("Description"), "expirationDate": expiration,
                              "updated_at": stamp.isoformat() if stamp else None})
    return sorted(found, key=lambda d: d["name"])


# --- the root: --version, --debug, --no-color ---------------------------------------------


def _version(value: bool) -> None:
    if value:
        from importlib import metadata

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
    context: Annotated[str | None, typer.Option("--context", metavar="NAME", help="Use this context of ~/.smarter/config for this command (see: smarter config).")] = None,
    request_timeout: Annotated[float | None, typer.Option("--request-timeout", metavar="SECONDS", help="Seconds each AWS call may take before the command gives up (default 10, one retry).")] = None,
) -> None:
    """Administer Smarter Serverless: accounts, LLM clients, plugins, connections, API keys and domains."""


# --- apply, diff ------------------------------------------------------------------------

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def _manifest_file(value: str) -> Path:
    """'-' (stdin), a readable file or a directory; anything else is a usage error."""
    path = Path(value)
    if value != "-" and not path.exists():
        raise typer.BadParameter(f"the file {value!r} does not exist")
    return path


ManifestFiles = Annotated[
    list[Path],
    typer.Option("-f", "--file", parser=_manifest_file, metavar="FILE|DIR|-",
                 help="Manifest file, YAML (one or many documents) or JSON; a directory's *.yaml, *.yml and *.json files; '-' reads stdin. Repeatable.",
                 show_default=False),
]
Recursive = Annotated[bool, typer.Option("-R", "--recursive", help="With -f DIR, also the files in its subdirectories.")]

APPLY_COLUMNS = [
    Column("KIND", lambda r: r["kind"]),
    Column("NAME", lambda r: r["name"]),
    Column("ACCOUNT", lambda r: r.get("account")),
    Column("RESULT", lambda r: r["result"]),
]


def _files(paths: list[Path], recursive: bool) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if str(path) != "-" and path.is_dir():
            pattern = "**/*" if recursive else "*"
            inside = sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix.lower() in MANIFEST_SUFFIXES)
            if not inside:
                raise failures.UsageProblem(f"{path} holds no *.yaml, *.yml or *.json file" + ("" if recursive else " (-R looks in subdirectories)"))
            found.extend(inside)
        else:
            found.append(path)
    return found


def _load(paths: list[Path], recursive: bool = False) -> tuple[list[dict[str, Any]], list[tuple[str, int]]]:
    """The documents of every file, and for each its (file, 1-based index in the file)."""
    from smarter_admin import manifests

    docs: list[dict[str, Any]] = []
    origins: list[tuple[str, int]] = []
    for path in _files(paths, recursive):
        source = "<stdin>" if str(path) == "-" else str(path)
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
        found = manifests.load_documents(text, source)
        docs.extend(found)
        origins.extend((source, i) for i in range(1, len(found) + 1))
    return docs, origins


def _source(paths: list[Path]) -> str:
    return "<stdin>" if [str(p) for p in paths] == ["-"] else str(paths[0]) if len(paths) == 1 and not paths[0].is_dir() else ""


@app.command(
    epilog="\b\nExamples:\n"
    "  smarter apply -f examples/demo-account.yaml\n"
    "  smarter apply -f tenant/ -R                  # every manifest under tenant/, in dependency order\n"
    "  smarter apply -f tenant.yaml --dry-run       # what would be created, changed or left alone\n"
    "  cat bot.json | smarter apply -f - -o json",
)
def apply(file: ManifestFiles, recursive: Recursive = False,
          dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and show what would change; store nothing.")] = False,
          account: Account = None, output_format: Output = None,
          secrets_from_fields: Annotated[bool, typer.Option("--secrets-from-fields", help="Move credentials written in headers or URL parameters into Secrets and reference them.")] = False) -> int:
    """Create or update from manifests. Documents are applied in dependency order (accounts, connections, plugins, clients, keys) across every file; all are validated before any is stored."""
    docs, origins = _load(file, recursive)
    if secrets_from_fields:
        from smarter_admin import migrate

        docs = migrate.apply_secrets_from_fields(docs)
    changes = _plan(docs, origins, account, _source(file))
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

    emit(results, output_format, columns=[*APPLY_COLUMNS, Column("CHANGE", lambda r: r["change"])],
         name=lambda r: f"{r['kind'].lower()}/{r.get('key_id') or r['name']}", human=human)
    if output_format in (Format.table, Format.wide, Format.name):
        for r in secrets:  # -o json and yaml carry it in the result
            output.err(f"API key {r['name']} (shown once, store it now): {r['api_key']}")
    return 0


def _plan(docs: list[dict[str, Any]], origins: list[tuple[str, int]], account: str | None, source: str) -> list[Any]:
    """Plan every document; the warnings go to stderr, also when a document is refused."""
    from smarter_admin import manifests, references

    try:
        changes = manifests.plan_documents(docs, account=account, source=source)
    except manifests.DocumentError as exc:
        for warning in getattr(exc, "warnings", []):
            output.err(f"warning: {warning}", style="yellow" if output.is_color("err") else None)
        if not source and 0 < exc.index <= len(origins):  # several files: name the one the document is in
            file, index = origins[exc.index - 1]
            label = manifests._label(docs[exc.index - 1])
            raise manifests.DocumentError(file, index, exc.reason, path=exc.path, label=label, problems=exc.problems) from None
        raise
    _warn(changes)
    references.check_changes(changes)
    return changes


def _warn(changes: list[Any]) -> None:
    """What the manifests got wrong without being refused, on stderr."""
    for change in changes:
        for warning in change.warnings:
            output.err(f"warning: {change.kind}/{change.name}: {warning}", style="yellow" if output.is_color("err") else None)


@app.command(
    epilog="\b\nExamples:\n"
    "  smarter diff -f examples/demo-client-customer-support.yaml\n"
    "  smarter diff -f tenant/ -R && echo 'nothing to apply'",
)
def diff(file: ManifestFiles, recursive: Recursive = False, account: Account = None, output_format: Output = None) -> int:
    """Show what applying manifests would change, in manifest form: the stored item as `get -o yaml` prints it against the manifest as it would be stored. Exits 0 when nothing would change, 1 when something would (as diff(1) does)."""
    from rich.text import Text

    from smarter_admin import export, manifests

    changes = _plan(*_load(file, recursive), account, _source(file))
    changed = [c for c in changes if c.action != "unchanged"]
    if output_format is not None:
        rows = [{"kind": c.kind, "name": c.name, "account": c.account, "result": c.action,
                 "stored": export.manifest_form(c.table, c.before) if c.before else None, "manifest": export.manifest_form(c.table, c.after)} for c in changes]
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
    from smarter.store import storage

    if kind == "accounts":
        return storage.list_accounts()
    if kind == "apikeys":
        return [{k: v for k, v in d.items() if k != "key_hash"} for d in storage.list_api_keys(account_of(account))]
    if kind == "domains":
        return storage.list_domains(account)
    if kind == "secrets":
        return _secrets(account_of(account))
    return storage.list_scoped(SCOPED[kind], account_of(account))


def _where(kind: str, account: str | None) -> str:
    return f" in account {account_of(account)}" if kind not in ("accounts", "domains") or account else ""


def _select(kind: str, only: str | None, names: list[str], account: str | None, selector: str | None, ignore_not_found: bool) -> list[dict[str, Any]]:
    """The items of one kind: all, or the named ones in the order named; a name
    not found is an error unless --ignore-not-found; -l filters by labels."""
    from smarter.errors import NotFound

    items = _list(kind, account)
    if only:
        items = [i for i in items if i.get("kind") == only]
    if names:
        picked = []
        for name in names:
            found = [i for i in items if _matches(kind, i, name)]
            if not found and not ignore_not_found:
                from smarter.schema import did_you_mean

                raise NotFound(f"no {SINGULAR[kind]} named {name!r}{_where(kind, account)}{did_you_mean(name, [_ident(kind, i) for i in items])}")
            picked.extend(f for f in found if f not in picked)
        items = picked
    if selector:
        from smarter_admin import export, selectors

        wanted = selectors.parse(selector)
        items = [i for i in items if selectors.matches(wanted, export.of(kind, i))]
    return items


Selector = Annotated[str | None, typer.Option("-l", "--selector", metavar="SELECTOR",
                                             help="Only items whose tags or annotations match: 'tag', '!tag', 'key=value', 'key!=value', comma-separated (all must match).")]
NoHeaders = Annotated[bool, typer.Option("--no-headers", help="Tables without their header line.")]
IgnoreNotFound = Annotated[bool, typer.Option("--ignore-not-found", help="A name that does not exist is no error.")]


@app.command(
    epilog="\b\nExamples:\n"
    "  smarter get clients\n"
    "  smarter get cl,pl -o wide                        # several kinds; short names\n"
    "  smarter get all\n"
    "  smarter get plugin support_info -o yaml          # a manifest apply -f takes back\n"
    "  smarter get client/customer-support               # what -o name prints\n"
    "  smarter get plugins -l support --no-headers\n"
    "  smarter get clients -o jsonpath='{.items[*].metadata.name}'\n"
    "  smarter get apikeys -o name | xargs -n1 smarter describe",
)
def get(targets: Targets = None, account: Account = None, output_format: Output = None, selector: Selector = None,
        no_headers: NoHeaders = False, ignore_not_found: IgnoreNotFound = False) -> int:
    """List accounts, clients, plugins, connections, secrets, apikeys or domains as a table (or wide, JSON, YAML, names, a jsonpath)."""
    from smarter_admin import export

    groups = parse_targets(targets or [])
    found = [(kind, _select(kind, only, names, account, selector, ignore_not_found), bool(names)) for kind, only, names in groups]
    total = sum(len(items) for _, items, _ in found)
    one = len(found) == 1 and found[0][2] and len(groups[0][2]) == 1
    if output_format in (Format.json, Format.yaml, Format.jsonpath):
        # Manifests that `smarter apply -f` takes back unchanged (smarter_admin.export).
        docs = [export.of(kind, i) for kind, items, _ in found for i in items]
        if output_format is Format.jsonpath:
            output.out(output.jsonpath(docs[0] if one and docs else docs))
        else:
            _print_manifests(docs, output_format, one=one)
        return 0
    if total == 0:
        if not ignore_not_found or not any(named for _, _, named in found):
            kinds = found[0][0] if len(found) == 1 else "resources"
            output.err(f"No {kinds} found{_where(found[0][0], account) if len(found) == 1 else _where('clients', account)}.")
        return 0
    shown = [(kind, items) for kind, items, _ in found if items]
    for n, (kind, items) in enumerate(shown):
        if len(found) > 1 and output_format is not Format.name:
            if n:
                output.out("")
            label = _name_line(kind)
            first = Column(COLUMNS[kind][0].header, label)
            columns = [first, *(WIDE if output_format is Format.wide else COLUMNS)[kind][1:]]
            emit(items, Format.table, columns=columns, styled="STATUS", headers=not no_headers)
        else:
            emit(items, output_format, columns=COLUMNS[kind], wide=WIDE[kind], name=_name_line(kind), styled="STATUS", headers=not no_headers)
    return 0


def _print_manifests(docs: list[dict[str, Any]], fmt: Format, *, one: bool) -> None:
    """One manifest, or many: a JSON list, or YAML documents separated by `---`
    (both forms `apply -f` reads). None: `[]` in JSON, nothing in YAML."""
    if one and docs:
        output.out(output.dump(docs[0], fmt))
    elif fmt is Format.json:
        output.out(output.dump(docs, fmt))
    elif docs:
        output.out("\n---\n".join(output.dump(doc, fmt) for doc in docs))


@app.command(
    epilog="\b\nExamples:\n"
    "  smarter describe client customer-support       # host, state, plugins, limits, recent errors\n"
    "  smarter describe client/customer-support        # what -o name prints\n"
    "  smarter describe clients                        # every client\n"
    "  smarter describe plugin support_info -o json    # the manifest; status.tool: the tool the model sees",
)
def describe(targets: Targets = None, account: Account = None, output_format: Output = None, selector: Selector = None) -> int:
    """Show items in full: a summary (host, state, plugins, limits, what uses it, recent errors); with -o yaml or json the manifest that makes it (`apply -f` takes it back)."""
    from smarter_admin import describe as summaries
    from smarter_admin import export

    groups = parse_targets(targets or [])
    found = [(kind, _select(kind, only, names, account, selector, False)) for kind, only, names in groups]
    items = [(kind, item) for kind, its in found for item in its]
    one = len(items) == 1 and all(names for _, _, names in groups)
    if output_format in (Format.json, Format.yaml, Format.jsonpath):
        docs = [export.of(kind, item, describe=True) for kind, item in items]
        if output_format is Format.jsonpath:
            output.out(output.jsonpath(docs[0] if one else docs))
        else:
            _print_manifests(docs, output_format, one=one)
        return 0
    if output_format is not None:
        for kind, its in found:
            emit(its, output_format, columns=COLUMNS[kind], wide=WIDE[kind], name=_name_line(kind), styled="STATUS")
        return 0
    if not items:
        output.err(f"No {found[0][0] if len(found) == 1 else 'resources'} found{_where(found[0][0], account)}.")
        return 0
    for n, (kind, item) in enumerate(items):
        if n:
            output.out("")
        summaries.show(kind, item, account)
    return 0


Deletable = Annotated[
    list[str] | None,
    typer.Argument(metavar="KIND NAME... | KIND/NAME...",
                   help="accounts, clients, plugins, connections or secrets (API keys are revoked: smarter apikey revoke; domains removed: smarter domain remove).",
                   autocompletion=_complete_deletable, show_default=False),
]
DELETE_ORDER = ("clients", "plugins", "connections", "providers", "secrets", "accounts")  # users before what they use


@app.command(
    epilog="\b\nExamples:\n"
    "  smarter delete client customer-support\n"
    "  smarter delete plugin/support_info -o name\n"
    "  smarter delete -f tenant.yaml --dry-run         # what deleting the file's items would delete\n"
    "  smarter delete plugin old --ignore-not-found\n"
    "  smarter delete account 3141-5926-5359           # with its clients, plugins, keys and domains",
)
def delete(targets: Deletable = None, file: Annotated[list[Path] | None, typer.Option("-f", "--file", parser=_manifest_file, metavar="FILE|DIR|-", help="Delete what these manifests define.", show_default=False)] = None,
           recursive: Recursive = False, dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be deleted; delete nothing.")] = False,
           ignore_not_found: IgnoreNotFound = False, account: Account = None, output_format: Output = None) -> int:
    """Delete an account (with everything in it), a client (with its custom domain), a plugin, a connection or a secret. A plugin a client uses, a connection a plugin uses or a secret a connection uses is refused unless its users go too."""
    from smarter.errors import NotFound

    from smarter_admin import references

    words = targets or []
    if words and file:
        raise failures.UsageProblem("give KIND NAME or -f FILE, not both")
    wanted: list[tuple[str, str, str | None]] = []  # (kind, name, account)
    notes: list[str] = []
    if file:
        docs, _ = _load(file, recursive)
        wanted, notes = _from_manifests(docs, account)
    else:
        for word in words[:1]:
            if "/" not in word and KINDS.get(word.lower()) in ("apikeys", "domains"):
                words = [f"{word}/{n}" for n in words[1:]] or [word]
                break
        for word in words:
            kind_word, _, name = word.partition("/")
            if KINDS.get(kind_word.lower()) == "apikeys":
                raise failures.UsageProblem("API keys are revoked, not deleted", f"smarter apikey revoke {name or 'KEY_ID'}")
            if KINDS.get(kind_word.lower()) == "domains":
                raise failures.UsageProblem("domains are removed, not deleted", f"smarter domain remove {name or 'DOMAIN'}")
        for kind, _only, names in parse_targets(words, allowed=DELETABLE):
            if not names:
                raise failures.UsageProblem(f"which {SINGULAR[kind]}? smarter delete {SINGULAR[kind]} NAME", "names are required: delete never deletes every item of a kind")
            wanted.extend((kind, name, None) for name in names)
    for note in notes:
        output.err(note)
    present: list[tuple[str, str, str]] = []
    skipped = []
    for kind, name, number in wanted:
        number = number or (name if kind == "accounts" else account_of(account))
        if _exists(kind, name, number):
            present.append((kind, name, number))
        elif ignore_not_found:
            skipped.append((kind, name))
        else:
            raise NotFound(f"no {SINGULAR[kind]} named {name!r}" + ("" if kind == "accounts" else f" in account {number}"))
    if not any(k == "accounts" for k, _, _ in present):
        references.check_delete([(k, a, n) for k, n, a in present])
    present.sort(key=lambda t: DELETE_ORDER.index(t[0]))
    results: list[dict[str, Any]] = []
    for kind, name, number in present:
        if dry_run:
            results.append({"kind": SINGULAR[kind], "name": name, "account": number, "result": "deleted (dry run)"})
        elif not any(r["kind"] == "account" and r["name"] == number and r["result"] == "deleted" for r in results):
            results.extend(_delete_one(kind, name, number))
    emit(results, output_format, columns=APPLY_COLUMNS, name=lambda r: f"{r['kind']}/{r['name']}",
         human=lambda: [output.out(f"{r['kind']}/{r['name']} {r['result']}") for r in results])
    return 0


def _from_manifests(docs: list[dict[str, Any]], account: str | None) -> tuple[list[tuple[str, str, str | None]], list[str]]:
    """(kind, name, account) of each document `delete -f` takes; notes on the others."""
    from smarter_admin import manifests

    file_account = manifests._the_files_account(docs)
    wanted, notes = [], []
    for _, doc in reversed(manifests.in_dependency_order(docs)):
        if not isinstance(doc, dict) or not isinstance(doc.get("metadata"), dict):
            continue
        kind_name, meta = str(doc.get("kind")), doc["metadata"]
        kind = MANIFEST_KINDS.get(kind_name) or ("plugins" if kind_name.endswith("Plugin") else "connections" if kind_name.endswith("Connection") else None)
        name = meta.get("accountNumber") or meta.get("name") if kind == "accounts" else meta.get("name")
        if kind == "apikeys":
            notes.append(f"note: ApiKey/{name} is kept: API keys are revoked, not deleted (smarter apikey revoke KEY_ID)")
            continue
        if kind is None or not isinstance(name, str):
            notes.append(f"note: {kind_name}/{name} skipped: not a kind delete removes")
            continue
        wanted.append((kind, name, None if kind == "accounts" else meta.get("account") or account or file_account))
    return wanted, notes


def _exists(kind: str, name: str, number: str) -> bool:
    from smarter.store import storage

    if kind == "accounts":
        return storage.get_account(name) is not None
    if kind == "secrets":
        return name in {s["name"] for s in _secrets(number)}
    return storage.get_scoped_item(SCOPED[kind], number, name) is not None


def _delete_one(kind: str, name: str, number: str) -> list[dict[str, Any]]:
    from smarter.store import storage

    results: list[dict[str, Any]] = []
    if kind == "accounts":
        from smarter_admin import domains

        for doc in domains.deprovision_account(name):  # default hosts and custom domains
            results.append({"kind": "domain", "name": doc["domain"], "result": "removed"})
        for item in storage.account_items(name):
            storage.delete_raw(item["pk"]["S"], item["sk"]["S"])
        for doc in storage.list_api_keys(name):
            storage.delete_raw(f"APIKEY#{doc['key_hash']}", "APIKEY")
        results.append({"kind": "account", "name": name, "result": "deleted"})
        return results
    if kind == "secrets":
        from smarter.store import aws
        from smarter.tenancy import account_secrets

        aws.client("secretsmanager").delete_secret(SecretId=account_secrets.account_secret_id(number, name), ForceDeleteWithoutRecovery=True)
        account_secrets.forget(number, name)
        return [{"kind": "secret", "name": name, "account": number, "result": "deleted"}]
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
    results.append({"kind": SINGULAR[kind], "name": name, "account": number, "result": "deleted"})
    return results


# --- apikey -----------------------------------------------------------------------------

apikey_app = typer.Typer(help="Create or revoke API keys.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(apikey_app, name="apikey")


@apikey_app.command(
    "create",
    epilog="\b\nExamples:\n"
    "  smarter apikey create ci --client customer-support --expires-in-days 90\n"
    "  smarter apikey create ci -o json | jq -r .api_key",
)
def apikey_create(
    name: Annotated[str, typer.Argument(help="The key's name (names may repeat; the key id printed is unique).", show_default=False)],
    client: Annotated[list[str] | None, typer.Option("--client", metavar="CLIENT", help="Limit the key to this client (repeatable; it must exist).")] = None,
    expires_in_days: Annotated[int | None, typer.Option("--expires-in-days", metavar="DAYS", min=1, max=3650, help="The key stops working after this many days.")] = None,
    account: Account = None,
    output_format: Output = None,
) -> int:
    """Create an API key; its secret is printed once and only its hash is stored."""
    from smarter.errors import NotFound
    from smarter.store import storage
    from smarter.tenancy import auth

    from smarter_admin import references

    number = account_of(account)
    if storage.get_account(number) is None:
        raise NotFound(f"the account {number} does not exist")
    references.check_clients(number, client)
    secret, doc = auth.create_key(number, name, clients=client or None, expires_in_days=expires_in_days)

    def human() -> None:
        output.out(output.dump(doc, "yaml"))
        output.out(f"API key (shown once, store it now): {secret}")

    emit({**doc, "api_key": secret}, output_format, columns=COLUMNS["apikeys"], wide=WIDE["apikeys"], name=_name_line("apikeys"), human=human, styled="STATUS")
    if output_format in (Format.table, Format.wide, Format.name, Format.jsonpath):
        output.err(f"API key (shown once, store it now): {secret}")
    return 0


@apikey_app.command("revoke", epilog="\b\nExamples:\n  smarter apikey revoke 8f3a2c1d4e5f          # by key id (what get apikeys -o name prints)\n  smarter apikey revoke apikey/8f3a2c1d4e5f\n  smarter apikey revoke ci                    # a name only one live key has")
def apikey_revoke(name: Annotated[str, typer.Argument(help="The key id (or apikey/ID), or a name that exactly one live key has (names may repeat).", show_default=False)], account: Account = None, output_format: Output = None) -> int:
    """Revoke an API key: requests with it are refused from now on (other containers within SMARTER_CACHE_TTL)."""
    from smarter.errors import NotFound
    from smarter.tenancy import auth

    number = account_of(account)
    kind_word, slash, rest = name.partition("/")
    if slash and KINDS.get(kind_word.lower()) == "apikeys":
        name = rest
    doc = auth.find_key(number, name)  # several live keys of that name: refused, naming their ids
    if doc is None:
        raise NotFound(f"no API key {name!r} in account {number}")
    revoked = auth.revoke_key(doc)  # idempotent: an already revoked key keeps its revoked_at
    emit(revoked, output_format, columns=COLUMNS["apikeys"], wide=WIDE["apikeys"], name=_name_line("apikeys"), styled="STATUS",
         human=lambda: output.out(f"apikey/{revoked['key_id']} revoked at {revoked['revoked_at']}"))
    return 0


# --- prompt, journal, usage -----------------------------------------------------------------


@app.command(
    epilog="\b\nExamples:\n"
    "  smarter prompt customer-support \"What are your support hours?\"\n"
    "  smarter prompt customer-support \"And on Sunday?\" --session 4f1c...   # continue a session\n"
    "  smarter prompt customer-support hello -o json",
)
def prompt(
    client: Annotated[str, typer.Argument(help="The LLM client.", show_default=False)],
    text: Annotated[str, typer.Argument(help="The prompt.", show_default=False)],
    session: Annotated[str | None, typer.Option("--session", metavar="SESSION_KEY", help="Continue this session_key.")] = None,
    account: Account = None,
    output_format: Output = None,
) -> int:
    """Send a prompt to a client from the terminal; it is journaled like an API request."""
    import json

    from smarter.errors import SmarterError
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

    emit(result, output_format if output_format not in (Format.table, Format.wide) else None, name=lambda r: r["session_key"], human=human)
    return 0


JOURNAL_COLUMNS = [
    Column("KEY", lambda r: r.get("key")),
    Column("STATUS", lambda r: r.get("status")),
    Column("COMMAND", lambda r: r.get("command")),
    Column("TOTAL_MS", lambda r: (r.get("durations") or {}).get("total_ms")),
    Column("AGE", lambda r: age(r.get("started_at") or r.get("created_at"))),
]
# Records of requests made on the platform host (the passthrough, the page) have no client.
NO_CLIENT = "-"


def _journal_key(word: str) -> str | None:
    """A journal key as the answers show it: the envelope's `metadata.key`, the
    `X-Smarter-Journal-Key` header, or an OpenAI answer's id (`chatcmpl-KEY`)."""
    import re

    key = word.removeprefix("chatcmpl-")
    return key if re.fullmatch(r"\d{8}T\d{9}Z-[0-9a-f]{16}", key) else None


@app.command(
    "journal",
    epilog="\b\nExamples:\n"
    "  smarter journal customer-support --limit 5\n"
    "  smarter journal customer-support 20261129T121550502Z-6b67946c60783c87 -o json\n"
    "  smarter journal 20261129T121550502Z-6b67946c60783c87   # a passthrough or page request's key\n"
    "  smarter journal -                                        # the platform host's records (passthrough)",
)
def journal_(
    client: Annotated[str, typer.Argument(metavar="CLIENT|KEY", help="The LLM client ('-': the platform host's requests, the passthrough), or a journal key alone.", show_default=False)],
    key: Annotated[str | None, typer.Argument(metavar="KEY", help="One record's journal key (as the answer showed it; chatcmpl-KEY too).", show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", metavar="N", min=1, help="How many recent records.")] = 20,
    account: Account = None,
    output_format: Output = None,
) -> int:
    """List a client's recent journal records (newest first), or show one in full."""
    from smarter.errors import NotFound
    from smarter.store import journal, storage

    number = account_of(account)
    if key is None and _journal_key(client):
        client, key = NO_CLIENT, client
    if key:
        wanted = _journal_key(key) or key
        places = [client] if client == NO_CLIENT else [client, NO_CLIENT]  # the page's keys are passthrough records
        record = next((r for r in (journal.get(number, place, wanted) for place in places) if r is not None), None)
        if record is None:
            hint = "" if _journal_key(key) else " (a journal key looks like 20261129T121550502Z-6b67946c60783c87)"
            raise NotFound(f"no journal record {key} for {client if client != NO_CLIENT else 'the platform host'} in account {number}{hint}")
        emit(record, output_format or Format.yaml, columns=JOURNAL_COLUMNS, name=lambda r: r.get("key", ""))
        return 0
    records = journal.recent(number, client, limit)
    if not records and client != NO_CLIENT and storage.get_scoped("CLIENT", number, client) is None:
        from smarter.schema import did_you_mean

        others = [c["name"] for c in storage.list_scoped("CLIENT", number)]
        raise NotFound(f"no client named {client!r} in account {number}{did_you_mean(client, others)}")
    emit(records, output_format, columns=JOURNAL_COLUMNS, name=lambda r: r.get("key", ""), empty=f"No journal records for {client} in account {number}.")
    return 0


@app.command(
    "journal-replay",
    epilog="\b\nExamples:\n"
    "  smarter journal-replay                       # the records kept in S3 (journal/_unwritten/)\n"
    "  smarter journal-replay --log prompt-logs.txt # a CloudWatch Logs export or `sam logs` output\n"
    "  aws logs filter-log-events --log-group-name /aws/lambda/...-PromptFunction-... \\\n"
    "      --filter-pattern journal_record --query 'events[].message' --output text | smarter journal-replay --log -",
)
def journal_replay(
    log: Annotated[str | None, typer.Option("--log", metavar="FILE|-", help="Read the records from log lines in this file ('-' for stdin) instead of S3.")] = None,
    output_format: Output = None,
) -> int:
    """Put journal records the table did not take (a failed or timed-out write after the answer) into the journal table, each once: a conditional put, so running it twice, or after the UsageFunction's schedule did, counts nothing twice."""
    from smarter.store import journal

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


def _day(value: str | None) -> str | None:
    """--day: YYYY-MM-DD, or a prefix of it (YYYY-MM, YYYY)."""
    import re

    if value is not None and not re.fullmatch(r"\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?", value):
        raise typer.BadParameter(f"{value!r} is not a day: YYYY-MM-DD, or YYYY-MM for a month, YYYY for a year")
    return value


@app.command(
    "usage",
    epilog="\b\nExamples:\n  smarter usage\n  smarter usage --day 2026-11 -o json\n  smarter usage --by client",
)
def usage_(
    day: Annotated[str | None, typer.Option("--day", metavar="YYYY-MM-DD", parser=_day, help="A day, or a prefix of one (YYYY-MM, YYYY).")] = None,
    by: Annotated[str, typer.Option("--by", metavar="day|client|key|account|detail", help="Sum per day, client, key or the whole account (default: per day, client and key).")] = "detail",
    account: Account = None,
    output_format: Output = None,
) -> int:
    """Tokens and US dollars per day, client and key (the counters trail requests by a few seconds)."""
    from smarter.errors import NotFound
    from smarter.store import storage, usage
    from smarter_admin import console

    if by not in console.USAGE_GROUPS:
        raise typer.BadParameter(f"--by must be one of {', '.join(sorted(console.USAGE_GROUPS))}")
    number = account_of(account)
    if storage.get_account(number) is None:
        raise NotFound(f"no account {number}")
    group = console.USAGE_GROUPS[by]
    rows = console.usage_totals(usage.for_account(number, day or ""), by, number)
    first = (*group, "requests") if group else ("account", "requests")
    emit(rows, output_format, columns=output.generic_columns(rows, first=first), name=lambda r: "/".join(str(r.get(f)) for f in group) or number,
         empty=f"No usage{f' on {day}' if day else ''} in account {number}.")
    return 0


@app.command(
    "explain",
    epilog="\b\nExamples:\n  smarter explain llmclient\n  smarter explain llmclient.spec.config\n  smarter explain apikey.spec.limits",
)
def explain(field: Annotated[str, typer.Argument(metavar="KIND[.FIELD...]", help="A manifest kind, or a path into it (kubectl's form).", show_default=False)]) -> int:
    """The fields of a manifest kind, or of one field of it, with their types and defaults."""
    from smarter_admin import explain as explainer

    output.out(explainer.explain(field))
    return 0


def _register_groups() -> None:
    from smarter_admin import domains_cli, plugin_cli

    plugin_cli.register(app)
    domains_cli.register(app)
    contexts.register(app)
    from smarter_admin import migrate

    migrate.register(app)


_register_groups()


# --- the entry point ---------------------------------------------------------------------

GLOBAL_FLAGS = ("--debug", "--no-color")
GLOBAL_VALUES = ("--context", "--request-timeout")
DEFAULT_REQUEST_TIMEOUT = 10.0


def _global_options(argv: list[str]) -> tuple[list[str], set[str], dict[str, str]]:
    """--debug, --no-color, --context NAME and --request-timeout S work anywhere on the line (before a `--`)."""
    end = argv.index("--") if "--" in argv else len(argv)
    flags: set[str] = set()
    values: dict[str, str] = {}
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if i < end and arg in GLOBAL_FLAGS:
            flags.add(arg)
        elif i < end and arg.split("=", 1)[0] in GLOBAL_VALUES:
            name, eq, value = arg.partition("=")
            if not eq:
                if i + 1 >= end:
                    raise failures.UsageProblem(f"{name} needs a value", "see 'smarter --help'")
                i += 1
                value = argv[i]
            values[name] = value
        else:
            rest.append(arg)
        i += 1
    return rest, flags, values


def _request_timeout(seconds: float) -> None:
    """Each AWS call gives up after `seconds` (connect, then read), with one retry
    (botocore's default: 3 attempts of its own timeouts, 40 s of silence on a hanging endpoint)."""
    from smarter.store import aws

    aws.set_timeouts(connect=min(seconds, 5.0), read=seconds, attempts=2)


def main(argv: list[str] | None = None) -> int:
    """The `smarter` console script (and `python -m smarter_admin`). Returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv, flags, values = _global_options(argv)
    except failures.UsageProblem as exc:
        return failures.report(exc)
    output.configure(no_color="--no-color" in flags)
    help_only = not argv or any(a in ("-h", "--help", "--version") for a in argv)
    try:
        if not help_only:
            contexts.activate(values.get("--context"))
            timeout = float(values.get("--request-timeout") or DEFAULT_REQUEST_TIMEOUT)
            if timeout <= 0:
                raise failures.UsageProblem("--request-timeout must be more than 0 seconds")
            if "_SMARTER_COMPLETE" not in __import__("os").environ:
                _request_timeout(timeout)
        command = typer.main.get_command(app)
        result = command.main(args=argv, prog_name="smarter", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        output.err("aborted")
        return 130
    except KeyboardInterrupt:
        output.err("interrupted")
        return 130
    except ValueError as exc:
        if "--request-timeout" in values and "float" in str(exc):
            return failures.report(failures.UsageProblem(f"--request-timeout {values['--request-timeout']!r} is not a number of seconds"))
        return failures.report(exc, debug="--debug" in flags)
    except Exception as exc:  # the one error path
        return failures.report(exc, debug="--debug" in flags)
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
