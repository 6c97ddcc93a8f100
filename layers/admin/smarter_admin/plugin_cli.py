"""`smarter plugin ...`: try a plugin from the terminal.

    smarter plugin test NAME            run the plugin once with its testValues
    smarter plugin test NAME --args '{"max_cost": 300}'
    smarter plugin kinds                the plugin kinds installed (entry points)

The call goes through the same kind, connection and secrets as a prompt's
tool call, so a plugin that passes here works for the model too.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from smarter.errors import SmarterError
from smarter.llm import plugins
from smarter.store import storage
from smarter_admin.output import account_of, print_as


def cmd_plugin(args) -> int:
    if args.action == "kinds":
        rows = [
            {"pluginClass": k.plugin_class, "manifestKinds": list(k.manifest_kinds), "connectionKind": k.connection_kind, "class": f"{type(k).__module__}.{type(k).__name__}"}
            for k in plugins.kinds().values()
        ]

        print_as(rows, "json" if args.output == "json" else "yaml")
        return 0
    if not args.name:
        raise SmarterError("which plugin? smarter plugin test NAME")

    account = account_of(args)
    manifest = storage.get_scoped("PLUGIN", account, args.name)
    if manifest is None:
        raise SmarterError(f"no plugin named {args.name!r} in account {account}")
    kind = plugins.kind_for(manifest)
    if args.args is not None:
        try:
            arguments = json.loads(args.args)
        except ValueError as exc:
            raise SmarterError(f"--args is not JSON: {exc}") from None
        if not isinstance(arguments, dict):
            raise SmarterError("--args must be a JSON object")
    else:
        arguments = kind.test_arguments(manifest)
    return run_test(manifest, kind, arguments, account, args.output)


def run_test(manifest: dict[str, Any], kind: plugins.PluginKind, arguments: dict[str, Any], account: str, output: str = "yaml") -> int:
    from smarter.llm.chat import plugin_context

    name = manifest["metadata"]["name"]
    print(f"plugin/{name} ({kind.plugin_class}) with {json.dumps(arguments)}", file=sys.stderr)
    started = time.perf_counter()
    try:
        result = kind.call(manifest, arguments, plugin_context(account))
    except Exception as exc:  # PluginCallError, or a bug in the kind: both are a failed test
        message = str(exc) if isinstance(exc, plugins.PluginCallError) else f"{exc.__class__.__name__}: {exc}"
        print(f"error: {message}", file=sys.stderr)
        print(f"FAILED in {(time.perf_counter() - started) * 1000:.0f} ms", file=sys.stderr)
        return 1
    if output == "json" or not isinstance(result, (dict, list)):
        print(result if isinstance(result, str) else json.dumps(result, indent=2, default=str))
    else:

        print_as(result, "yaml")
    print(f"ok in {(time.perf_counter() - started) * 1000:.0f} ms", file=sys.stderr)
    return 0


def register(sub, add) -> None:
    p = add("plugin", cmd_plugin, "test a plugin with its testValues, or list the installed plugin kinds")
    p.add_argument("action", choices=["test", "kinds"])
    p.add_argument("name", nargs="?", help="the plugin (for test)")
    p.add_argument("--args", help="JSON arguments instead of the manifest's testValues")
