"""Helpers for the adversarial suite (tests/security): drive a hostile manifest
or tool argument through the public paths (`smarter apply`, `smarter plugin
test`, the prompt API with a scripted model) and read back what each said and
what the journal kept.

`tamper_*` writes an item into the config table as it is, skipping `apply`:
what an item stored before today's rules (or edited in the table) looks
like, so the call-time checks are proven on their own."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from typing import Any

import yaml
from plugin_fixtures import ACCOUNT
from support import journal_records, make_tenant, prompt

from smarter_local.openai_server import completion, tool_calls

ACCOUNT_DOC = {"apiVersion": "smarter.sh/v1", "kind": "Account", "metadata": {"name": ACCOUNT}, "spec": {}}


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def cli(*argv: str) -> CliResult:
    from smarter_admin import cli as admin_cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = admin_cli.main(list(argv))
    return CliResult(code, out.getvalue(), err.getvalue())


def smarter_apply(tmp_path, *docs: dict) -> CliResult:
    """`smarter apply -f file.yaml` with these documents (the Account first)."""
    path = tmp_path / "hostile.yaml"
    path.write_text(yaml.safe_dump_all([ACCOUNT_DOC, *docs]))
    return cli("apply", "-f", str(path))


def plugin_test(name: str, arguments: dict | None = None) -> CliResult:
    argv = ["plugin", "test", name, "--account", ACCOUNT, "-o", "json"]
    if arguments is not None:
        argv += ["--args", json.dumps(arguments)]
    return cli(*argv)


def tamper_connection(doc: dict) -> None:
    """Store a connection manifest as is (no apply-time checks)."""
    from smarter.store import storage

    stored = {**doc, "metadata": {**doc["metadata"], "account": ACCOUNT}}
    conn = dict(doc["spec"]["connection"])
    if stored["kind"] == "ApiConnection":
        conn.setdefault("authMethod", "none")
    stored["spec"] = {"connection": conn}
    storage.put_scoped("CONNECTION", ACCOUNT, doc["metadata"]["name"], stored)


def tamper_plugin(name: str, change) -> None:
    """Edit a stored plugin manifest in place (change(spec) mutates it)."""
    from smarter.store import storage

    stored = storage.get_scoped("PLUGIN", ACCOUNT, name)
    change(stored["spec"])
    storage.put_scoped("PLUGIN", ACCOUNT, name, stored)


def tenant_with(*connections: dict, plugins: list[dict], tamper: list[dict] | None = None):
    """A tenant whose client has these plugins; `tamper` connections replace the
    applied ones in the table afterwards (hostile items stored before the rules)."""
    from smarter_admin import manifests

    manifests.apply_documents([ACCOUNT_DOC, *connections])
    tenant = make_tenant(ACCOUNT, plugins=plugins)
    for doc in tamper or []:
        tamper_connection(doc)
    return tenant


@dataclass
class ToolOutcome:
    status: int
    result: Any  # what the model read as the tool's result
    entry: dict[str, Any]  # the journal's record of the call
    record: dict[str, Any]  # the whole journal record


def model_calls(openai_server, tenant, tool: str, arguments: dict, text: str = "Use the tool.") -> ToolOutcome:
    """The scripted model asks for one tool call with hostile arguments, then answers."""
    openai_server.enqueue(body=tool_calls((tool, arguments)))
    openai_server.enqueue(body=completion("Done."))
    result = prompt(tenant, text)
    content = openai_server.requests[-1]["json"]["messages"][-1]["content"]
    try:
        parsed = json.loads(content)
    except ValueError:
        parsed = content
    record = journal_records(tenant.account, tenant.client)[0]
    return ToolOutcome(result.status, parsed, record["tool_calls"][0], record)


def refused_and_journaled(outcome: ToolOutcome, *needles: str) -> str:
    """The call was refused, the model read why, and the journal kept it."""
    assert outcome.status == 200, outcome  # a refused tool is a tool result, not a failed request
    assert isinstance(outcome.result, dict) and "error" in outcome.result, outcome.result
    message = outcome.result["error"]
    assert outcome.entry["outcome"] == "error", outcome.entry
    assert outcome.entry["error"] == message
    for needle in needles:
        assert needle in message, message
    return message
