"""`smarter plugin ...`: try a plugin from the terminal.

    smarter plugin test NAME            run the plugin once with its testValues
    smarter plugin test NAME --args '{"max_cost": 300}'
    smarter plugin kinds                the plugin kinds installed (entry points)

The call goes through the same kind, connection and secrets as a prompt's
tool call, so a plugin that passes here works for the model too.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer

from smarter_admin import failures, output
from smarter_admin.output import Column, Format, Output, account_of, emit

plugin_app = typer.Typer(help="Test a plugin with its testValues, or list the installed plugin kinds.", no_args_is_help=True, rich_markup_mode=None)

KIND_COLUMNS = [
    Column("PLUGIN_CLASS", lambda r: r["pluginClass"]),
    Column("MANIFEST_KINDS", lambda r: r["manifestKinds"]),
    Column("CONNECTION_KIND", lambda r: r["connectionKind"]),
    Column("IMPLEMENTED_BY", lambda r: r["class"]),
]


def register(app: typer.Typer) -> None:
    app.add_typer(plugin_app, name="plugin")


@plugin_app.command("kinds", epilog="\b\nExamples:\n  smarter plugin kinds\n  smarter plugin kinds -o json")
def kinds(output_format: Output = None) -> int:
    """The plugin kinds installed (found by entry point) and the manifest kinds they read."""
    from smarter.llm import plugins

    rows = [
        {"pluginClass": k.plugin_class, "manifestKinds": list(k.manifest_kinds), "connectionKind": k.connection_kind, "class": f"{type(k).__module__}.{type(k).__name__}"}
        for k in plugins.kinds().values()
    ]
    emit(rows, output_format, columns=KIND_COLUMNS, name=lambda r: r["pluginClass"])
    return 0


@plugin_app.command(
    "test",
    epilog="\b\nExamples:\n"
    "  smarter plugin test course_db\n"
    "  smarter plugin test course_db --args '{\"keyword\": \"AI\"}' -o json",
)
def test(
    name: Annotated[str, typer.Argument(help="The plugin.", show_default=False)],
    args: Annotated[str | None, typer.Option("--args", metavar="JSON", help="JSON arguments instead of the manifest's testValues.")] = None,
    account: Annotated[str | None, typer.Option("--account", envvar="SMARTER_ACCOUNT", show_envvar=True, metavar="NUMBER", help="Account number.")] = None,
    output_format: Output = None,
) -> int:
    """Run a plugin once, through the same kind, connection and secrets as a prompt's tool call. Exits 1 when the call fails."""
    from smarter.errors import NotFound
    from smarter.llm import plugins
    from smarter.store import storage

    number = account_of(account)
    manifest = storage.get_scoped("PLUGIN", number, name)
    if manifest is None:
        raise NotFound(f"no plugin named {name!r} in account {number}")
    kind = plugins.kind_for(manifest)
    if args is not None:
        try:
            arguments = json.loads(args)
        except ValueError as exc:
            raise failures.UsageProblem(f"--args is not JSON: {exc}") from None
        if not isinstance(arguments, dict):
            raise failures.UsageProblem("--args must be a JSON object")
    else:
        arguments = kind.test_arguments(manifest)
    return run_test(manifest, kind, arguments, number, output_format)


def run_test(manifest: dict[str, Any], kind: Any, arguments: dict[str, Any], account: str, output_format: Format | str | None = None) -> int:
    """One call of the plugin. With -o json or yaml the result is printed in
    that format whatever its type (a static plugin's text as a JSON string),
    so the output always parses; the timing and any error go to stderr."""
    from smarter.llm import plugins
    from smarter.llm.chat import plugin_context

    name = manifest["metadata"]["name"]
    output.err(f"plugin/{name} ({kind.plugin_class}) with {json.dumps(arguments)}")
    started = time.perf_counter()
    fmt = Format(output_format) if output_format else None
    try:
        result = kind.call(manifest, arguments, plugin_context(account))
    except Exception as exc:  # PluginCallError, or a bug in the kind: both are a failed test
        message = str(exc) if isinstance(exc, plugins.PluginCallError) else f"{exc.__class__.__name__}: {exc}"
        output.err(f"error: {message}")
        output.err(f"FAILED in {(time.perf_counter() - started) * 1000:.0f} ms")
        return failures.FAILED
    elapsed = round((time.perf_counter() - started) * 1000)
    if fmt in (Format.json, Format.yaml):
        output.out(output.dump(result, fmt))
    elif fmt is Format.jsonpath:
        output.out(output.jsonpath(result))
    elif fmt is Format.name:
        output.out(f"plugin/{name}")
    elif not isinstance(result, (dict, list)):
        output.out(result if isinstance(result, str) else json.dumps(result))
    elif fmt is Format.table and isinstance(result, dict) and isinstance(result.get("rows"), list):
        emit(result["rows"], Format.table)  # a SQL plugin's rows
    else:
        output.out(output.dump(result, Format.yaml))
    output.err(f"ok in {elapsed} ms")
    return failures.OK
