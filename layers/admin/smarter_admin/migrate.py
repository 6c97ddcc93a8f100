"""`smarter migrate DIR`: a directory of Smarter manifests applied as one
tenant, with a report of what came across, what was changed on the way (and
why) and what was refused (and what to do).

    smarter migrate ./smarter-manifests --account 3141-5926-5359 --dry-run
    smarter migrate ./smarter-manifests --provider offline

Every *.yaml, *.yml and *.json file below DIR is read; every document is
planned in dependency order (accounts, Secrets, connections, plugins,
clients, keys) across the files, as Smarter's own `apply` of each would,
with Smarter's defaults (`deployed: false`). A refused document does not stop
the others: what relies on it is refused in turn, saying what is missing.

Automatic changes, each told in the report:
- a header or URL parameter whose fixed value is a credential becomes a
  Secret (`{plugin}_{field}`) and the value `{secret: NAME}` (the same fix
  `smarter apply --secrets-from-fields` makes);
- headers the plugin sets itself (Content-Length, Accept-Encoding, Host...)
  are dropped;
- a SQL placeholder written in quotes (`'{username}'`, Smarter formats it
  into the text) loses its quotes: here it is a bound parameter;
- `--provider NAME`: clients run on NAME (their model becomes NAME's default)
  and plugins' prompt.provider/prompt.model follow, so no plugin is left
  asking for the old provider.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from smarter.errors import ManifestError
from smarter_admin import failures, output
from smarter_admin.output import Format, emit

SUFFIXES = (".yaml", ".yml", ".json")
# Headers the api plugin sets itself (api.RESERVED_HEADERS minus Authorization, which a Secret may set).
PLUGIN_SET_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "te", "upgrade", "accept-encoding", "content-encoding"}


@dataclass
class Document:
    source: str  # file (relative to DIR) and document number: "plugins/api.yaml#1"
    data: Any
    changes: list[str] = field(default_factory=list)  # automatic changes made before planning


# --- automatic changes ------------------------------------------------------------------


def _secret_name(owner: str, field_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", f"{owner}_{field_name}").strip("_").lower()[:120]


def _credential(name: str, value: Any) -> bool:
    from smarter_plugins import common

    if isinstance(value, dict) or value is None:
        return False
    text = str(value)
    if common.PLACEHOLDER_ONLY.fullmatch(text.strip()):
        return False  # filled by the model, not a secret
    return common.looks_like_credential(str(name)) or common.value_looks_like_credential(text)


def _entries(container: dict[str, Any], key: str):
    """(name, getter, setter) for each entry of a headers/urlParams field, in either form."""
    raw = container.get(key)
    if isinstance(raw, dict):
        for name in list(raw):
            yield name, raw[name], lambda v, name=name: raw.__setitem__(name, v)
    elif isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict):
                name = item.get("name", item.get("key"))
                if isinstance(name, str):
                    yield name, item.get("value"), lambda v, item=item: item.__setitem__("value", v)


def secrets_from_fields(docs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    fixed, notes, _ = _secrets_from_fields(docs)
    return fixed, notes


def _secrets_from_fields(docs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[tuple[int, str]], list[int]]:
    """Credentials written in an ApiPlugin's or ApiConnection's headers or URL
    parameters moved into Secrets: (the documents with the new Secrets first,
    [(index of the document changed, what changed)]). No value is ever part of
    what is told."""
    out: list[dict[str, Any]] = []
    notes: list[tuple[int, str]] = []
    secrets: list[dict[str, Any]] = []
    made: dict[str, str] = {}
    origins: list[int] = []  # the document each new Secret was made from
    for index, doc in enumerate(docs):
        if not isinstance(doc, dict) or doc.get("kind") not in ("ApiPlugin", "ApiConnection") or not isinstance(doc.get("spec"), dict):
            out.append(doc)
            continue
        doc = copy.deepcopy(doc)
        metadata = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
        owner = str(metadata.get("name") or "plugin")
        places = [("spec.apiData", doc["spec"].get("apiData"), ("headers", "urlParams"))] if doc["kind"] == "ApiPlugin" else \
                 [("spec.connection", doc["spec"].get("connection"), ("headers",))]
        for prefix, container, keys in places:
            if not isinstance(container, dict):
                continue
            for key in keys:
                for name, value, set_value in list(_entries(container, key)):
                    if not _credential(name, value):
                        continue
                    secret = _secret_name(owner, name)
                    if made.get(secret, str(value)) != str(value):  # the same plugin name elsewhere, another value
                        secret = f"{secret}_{sum(1 for s in made if s.startswith(secret)) + 1}"
                    if secret in made:
                        set_value({"secret": secret})
                        notes.append((index, f"{prefix}.{key}.{name}: a credential written in the manifest; the value is now {{secret: {secret}}}, "
                                             "the Secret made for the same value above"))
                        continue
                    made[secret] = str(value)
                    origins.append(index)
                    secrets.append({"apiVersion": "smarter.sh/v1", "kind": "Secret",
                                    "metadata": {"name": secret, **({"account": metadata["account"]} if metadata.get("account") else {})},
                                    "spec": {"config": {"value": str(value), "description": f"{prefix}.{key}.{name} of {doc['kind']} {owner} (moved by --secrets-from-fields)"}}})
                    set_value({"secret": secret})
                    notes.append((index, f"{prefix}.{key}.{name}: a credential written in the manifest; moved to the Secret {secret!r} "
                                         f"and the value is now {{secret: {secret}}} (manifests are stored in plain text)"))
        out.append(doc)
    return secrets + out, [(i + len(secrets), note) for i, note in notes], origins


def apply_secrets_from_fields(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`smarter apply --secrets-from-fields`: the fix, each change told on stderr."""
    from smarter_admin import manifests

    fixed, notes = secrets_from_fields(docs)
    for index, note in notes:
        output.err(f"changed: {manifests._label(fixed[index]) or f'document {index + 1}'}: {note}")
    return fixed


def _drop_plugin_set_headers(doc: dict[str, Any]) -> list[str]:
    notes = []
    spec = doc.get("spec") if isinstance(doc.get("spec"), dict) else {}
    for prefix, container in (("spec.apiData", spec.get("apiData")), ("spec.connection", spec.get("connection"))):
        if not isinstance(container, dict):
            continue
        raw = container.get("headers")
        if isinstance(raw, dict):
            for name in [n for n in raw if n.lower() in PLUGIN_SET_HEADERS]:
                del raw[name]
                notes.append(f"{prefix}.headers.{name}: dropped, the plugin sets this header itself")
        elif isinstance(raw, list):
            kept = []
            for item in raw:
                name = item.get("name") if isinstance(item, dict) else None
                if isinstance(name, str) and name.lower() in PLUGIN_SET_HEADERS:
                    notes.append(f"{prefix}.headers.{name}: dropped, the plugin sets this header itself")
                else:
                    kept.append(item)
            container["headers"] = kept
    return notes


QUOTED_PLACEHOLDER = re.compile(r"'\{([A-Za-z_][A-Za-z0-9_]{0,63})\}'")


def _unquote_placeholders(doc: dict[str, Any]) -> list[str]:
    """Smarter formats `'{name}'` into its SQL; here a placeholder is a bound
    parameter, so the quotes go (the bound value is the same string)."""
    data = (doc.get("spec") or {}).get("sqlData") if doc.get("kind") == "SqlPlugin" and isinstance(doc.get("spec"), dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("sqlQuery"), str) or not QUOTED_PLACEHOLDER.search(data["sqlQuery"]):
        return []
    names = sorted(set(QUOTED_PLACEHOLDER.findall(data["sqlQuery"])))
    data["sqlQuery"] = QUOTED_PLACEHOLDER.sub(lambda m: "{" + m.group(1) + "}", data["sqlQuery"])
    return [f"spec.sqlData.sqlQuery: '{{{n}}}' -> {{{n}}}: a placeholder is a bound parameter here, not text formatted into the SQL" for n in names]


def _on_provider(doc: dict[str, Any], provider: str) -> list[str]:
    from smarter_admin import manifests

    from smarter.llm import providers

    spec = doc.get("spec") if isinstance(doc.get("spec"), dict) else None
    if spec is None:
        return []
    notes = []
    if doc.get("kind") in manifests.CLIENT_KINDS and isinstance(spec.get("config"), dict):
        config = spec["config"]
        if config.get("provider") != provider:
            notes.append(f"spec.config.provider: {config.get('provider')!r} -> {provider!r} (--provider)")
            config["provider"] = provider
            if config.get("defaultModel") is not None:
                default = providers.get_provider(provider).default_model
                notes.append(f"spec.config.defaultModel: {config['defaultModel']!r} -> {default!r}, {provider}'s default (the model was the old provider's)")
                config["defaultModel"] = default
    prompt = spec.get("prompt")
    if doc.get("kind") in ("Plugin", "ApiPlugin", "SqlPlugin") and isinstance(prompt, dict) and prompt.get("provider") not in (None, provider):
        notes.append(f"spec.prompt.provider: {prompt['provider']!r} -> {provider!r} and spec.prompt.model {prompt.get('model')!r} dropped "
                     "(--provider: the plugin's model was the old provider's)")
        prompt["provider"] = provider
        prompt.pop("model", None)
    return notes


# --- reading and planning ---------------------------------------------------------------


def read_directory(root: Path) -> tuple[list[Document], list[tuple[str, str]]]:
    """Every document of every manifest file below `root`, and the files that could not be read."""
    from smarter_admin import manifests

    documents, unreadable = [], []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES):
        name = str(path.relative_to(root))
        try:
            docs = manifests.load_documents(path.read_text(encoding="utf-8"), name)
        except (ManifestError, UnicodeDecodeError) as exc:
            unreadable.append((name, exc.message if isinstance(exc, ManifestError) else "not UTF-8 text"))
            continue
        documents += [Document(f"{name}#{i}", doc) for i, doc in enumerate(docs, start=1)]
    return documents, unreadable


def plan_directory(root: Path, *, account: str | None, provider: str | None = None) -> dict[str, Any]:
    """The migration's plan: the changes to write and the report's rows."""
    from smarter_admin import manifests

    documents, unreadable = read_directory(root)
    for document in documents:
        if isinstance(document.data, dict):
            document.data = copy.deepcopy(document.data)
            document.changes += _drop_plugin_set_headers(document.data)
            document.changes += _unquote_placeholders(document.data)
            if provider:
                document.changes += _on_provider(document.data, provider)
    docs, notes, origins = _secrets_from_fields([d.data for d in documents])
    added = len(docs) - len(documents)
    by_index = [Document(f"made from {documents[origins[i]].source}", docs[i],
                         [f"made from a credential written in {manifests._label(documents[origins[i]].data)} (value not shown)"])
                for i in range(added)] + documents
    for document, doc in zip(by_index[added:], docs[added:]):
        document.data = doc
    for index, note in notes:
        by_index[index].changes.append(note)
    planned = list(manifests.plan_each([d.data for d in by_index], account=account, smarter=True))
    applied, refused, changes = [], [], []
    names_seen: dict[tuple[str, str], str] = {}
    for index, doc, outcome in planned:
        document = by_index[index - 1]
        label = manifests._label(doc) or f"document {document.source}"
        if isinstance(outcome, manifests.DocumentError):
            problems = outcome.problems or [(outcome.path, outcome.reason)]
            refused.append({"source": document.source, "manifest": label,
                            "problems": [f"{p}: {r}" if p else r for p, r in problems], "changed": document.changes})
            continue
        key = (outcome.table, outcome.name)
        notes_here = list(document.changes) + [f"{w}" for w in outcome.warnings]
        if key in names_seen:
            notes_here.append(f"also defined in {names_seen[key]}: this later document wins")
        names_seen[key] = document.source
        changes.append(outcome)
        applied.append({"source": document.source, "manifest": f"{outcome.kind}/{outcome.name}", "account": outcome.account,
                        "action": outcome.action, "changed": notes_here})
    return {"changes": changes, "applied": applied, "refused": refused, "unreadable": [{"source": s, "problem": p} for s, p in unreadable],
            "documents": len(documents)}


# --- the command ------------------------------------------------------------------------


def _directory(value: str) -> Path:
    path = Path(value)
    if not path.is_dir():
        raise typer.BadParameter(f"{value!r} is not a directory")
    return path


def register(app: typer.Typer) -> None:
    app.command(
        "migrate",
        epilog="Examples:\n\n"
        "  smarter migrate ./smarter-manifests --account 3141-5926-5359 --dry-run\n\n"
        "  smarter migrate ./smarter-manifests --provider offline -o json",
    )(migrate)


def migrate(
    directory: Annotated[Path, typer.Argument(parser=_directory, help="A directory of Smarter manifests (*.yaml, *.yml, *.json, searched recursively).", show_default=False)],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan and report; store nothing.")] = False,
    provider: Annotated[str | None, typer.Option("--provider", help="Run every client on this provider (e.g. offline to rehearse); plugins' prompt.provider follows.")] = None,
    account: Annotated[str | None, typer.Option("--account", envvar="SMARTER_ACCOUNT", show_envvar=True, help="The account the manifests go to (Smarter takes it from the logged-in user).")] = None,
    output_format: Annotated[Format | None, typer.Option("-o", "--output", case_sensitive=False, help="json or yaml: the report as data.")] = None,
) -> int:
    """Apply a directory of Smarter manifests in dependency order and report: applied, changed on the way (what and why), refused (what to do). Exits 3 when anything was refused (the rest is still applied)."""
    if provider:
        from smarter.errors import NotFound
        from smarter.llm import providers

        try:
            providers.get_provider(provider)
        except NotFound as exc:
            raise failures.UsageProblem(f"--provider: {exc.message}") from None
    plan = plan_directory(directory, account=account, provider=provider)
    secrets_shown = []
    for change, row in zip(plan["changes"], plan["applied"]):
        if dry_run:
            row["result"] = f"{change.action} (dry run)"
            continue
        result = change.write()
        row["result"] = change.action if result.get("result") in ("applied", change.action, None) else f"{result['result']} ({change.action})"
        if result.get("api_key"):
            row["api_key"] = result["api_key"]
            secrets_shown.append((row["manifest"], result["api_key"]))
    report = {"directory": str(directory), "dry_run": dry_run, "documents": plan["documents"], "applied": plan["applied"],
              "refused": plan["refused"], "unreadable": plan["unreadable"]}
    if output_format in (Format.json, Format.yaml):
        emit(report, output_format)
    else:
        print_report(report)
    return failures.REFUSED if plan["refused"] or plan["unreadable"] else failures.OK


def print_report(report: dict[str, Any]) -> None:
    applied, refused, unreadable = report["applied"], report["refused"], report["unreadable"]
    changed = [r for r in applied if r["changed"]]
    verb = "would apply" if report["dry_run"] else "applied"
    output.out(f"Migration of {report['directory']}: {report['documents']} documents; {len(applied)} {verb} "
               f"({len(changed)} changed on the way), {len(refused)} refused, {len(unreadable)} files unreadable.")
    output.out("")
    output.out("Applied:" if not report["dry_run"] else "Would apply:")
    for r in applied:
        output.out(f"  {r['manifest']:<48} {r['result']:<22} {r['source']}")
        if r.get("api_key"):
            output.out(f"    API key (shown once, store it now): {r['api_key']}")
    _section("Changed on the way:", changed, "changed")
    _section("Refused (what to do):", refused, "problems")
    if unreadable:
        output.out("")
        output.out("Unreadable files:")
        for r in unreadable:
            output.out(f"  {r['source']}: {r['problem']}")


def _section(title: str, rows: list[dict[str, Any]], notes: str) -> None:
    """One report section: each manifest with its source, then its notes."""
    if not rows:
        return
    output.out("")
    output.out(title)
    for r in rows:
        output.out(f"  {r['manifest']} ({r['source']}):")
        for note in r[notes]:
            output.out(f"    - {note}")
