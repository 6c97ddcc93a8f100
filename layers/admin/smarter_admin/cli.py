"""`smarter`: the admin CLI. It talks to DynamoDB with boto3, so it works the
same against AWS and against the local stack (set AWS_ENDPOINT_URL)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


from smarter.errors import ManifestError, SmarterError
from smarter.store import journal, storage, usage
from smarter.tenancy import auth
from smarter_admin import domains, domains_cli, manifests, plugin_cli
from smarter_admin.output import account_of, print_as

KINDS = {
    "account": "accounts", "accounts": "accounts",
    "client": "clients", "clients": "clients", "llmclient": "clients", "chatbot": "clients", "chatbots": "clients",
    "plugin": "plugins", "plugins": "plugins",
    "connection": "connections", "connections": "connections",
    "apikey": "apikeys", "apikeys": "apikeys",
    "domain": "domains", "domains": "domains",
}
SCOPED = {"clients": "CLIENT", "plugins": "PLUGIN", "connections": "CONNECTION"}


def cmd_apply(args) -> int:
    text = sys.stdin.read() if args.file == "-" else open(args.file, encoding="utf-8").read()
    account = args.account or os.environ.get("SMARTER_ACCOUNT")
    for result in manifests.apply_documents(manifests.load_documents(text), account=account):
        line = f"{result['kind']}/{result['name']} {result['result']}"
        print(line)
        if "api_key" in result:
            print(f"API key (shown once, store it now): {result['api_key']}")
    return 0


def _list(kind: str, args) -> list[dict[str, Any]]:
    if kind == "accounts":
        return storage.list_accounts()
    if kind == "apikeys":
        return [{k: v for k, v in d.items() if k != "key_hash"} for d in storage.list_api_keys(account_of(args))]
    if kind == "domains":
        return storage.list_domains(getattr(args, "account", None))
    return storage.list_scoped(SCOPED[kind], account_of(args))


def cmd_get(args) -> int:
    kind = KINDS.get(args.kind.lower())
    if kind is None:
        raise SmarterError(f"unknown kind {args.kind!r}; one of: {', '.join(sorted(set(KINDS.values())))}")
    items = _list(kind, args)
    if args.name:
        items = [i for i in items if args.name in (i.get("name"), i.get("number"), i.get("key_id"), i.get("domain"), (i.get("metadata") or {}).get("name"))]
        if not items:
            raise SmarterError(f"no {kind[:-1]} named {args.name!r}")
    if args.output == "table":
        for item in items:
            print(item.get("name") or item.get("number") or item.get("domain") or (item.get("metadata") or {}).get("name"))
    else:
        print_as(items, args.output)
    return 0


def cmd_describe(args) -> int:
    kind = KINDS.get(args.kind.lower())
    if kind in SCOPED:
        doc = storage.get_scoped(SCOPED[kind], account_of(args), args.name)
        if doc is None:
            raise SmarterError(f"no {kind[:-1]} named {args.name!r} in account {account_of(args)}")
        if kind == "plugins":
            from smarter.llm.plugins import kind_for

            doc = {**doc, "tool": kind_for(doc).tool(doc)}  # what the model will see
        print_as(doc, args.output)
        return 0
    args.output = args.output
    return cmd_get(args)


def cmd_delete(args) -> int:
    kind = KINDS.get(args.kind.lower())
    if kind == "accounts":
        for item in storage.account_items(args.name):
            storage.delete_raw(item["pk"]["S"], item["sk"]["S"])
        for doc in storage.list_api_keys(args.name):
            storage.delete_raw(f"APIKEY#{doc['key_hash']}", "APIKEY")
        for doc in domains.deprovision_account(args.name):  # default hosts and custom domains
            print(f"domain/{doc['domain']} removed")
        print(f"account/{args.name} deleted")
        return 0
    if kind not in SCOPED:
        raise SmarterError(f"delete works on accounts, clients, plugins and connections (keys are revoked: smarter apikey revoke)")
    if kind == "clients":
        for doc in domains.remove_client_domains(account_of(args), args.name):
            print(f"domain/{doc['domain']} removed")
    if not storage.delete_scoped(SCOPED[kind], account_of(args), args.name):
        raise SmarterError(f"no {kind[:-1]} named {args.name!r} in account {account_of(args)}")
    print(f"{kind[:-1]}/{args.name} deleted")
    return 0


def cmd_apikey(args) -> int:
    account = account_of(args)
    if args.action == "create":
        if storage.get_account(account) is None:
            raise SmarterError(f"the account {account} does not exist")
        secret, doc = auth.create_key(account, args.name, clients=args.client or None, expires_in_days=args.expires_in_days)
        print_as({k: v for k, v in doc.items()}, args.output)
        print(f"API key (shown once, store it now): {secret}")
        return 0
    doc = auth.find_key(account, args.name)  # the id, or the name of exactly one live key
    if doc is None:
        raise SmarterError(f"no API key {args.name!r} in account {account}")
    if doc.get("revoked_at"):
        raise SmarterError(f"apikey/{doc['key_id']} ({doc['name']}) was already revoked at {doc['revoked_at']}")
    revoked = auth.revoke_key(doc)
    print(f"apikey/{revoked['key_id']} revoked at {revoked['revoked_at']}")
    return 0


def cmd_prompt(args) -> int:
    from smarter.llm import chat
    from smarter.llm.messages import parse_prompt_request
    from smarter.store.journal import RequestRecord
    from smarter.tenancy import hosts

    account = account_of(args)
    resolved = hosts.client_by_name(account, args.client)
    record = RequestRecord("LLMClient", "prompt", method="CLI", path="smarter prompt", host=resolved.host, headers={})
    record.account, record.client, record.api_key_id = account, args.client, "cli"
    status, response = 200, None
    try:
        request = parse_prompt_request({"session_key": args.session, "messages": [{"role": "user", "content": args.text}]})
        data = chat.run_prompt(resolved, request, record)
        response = data
        print(data["chat_completion"]["choices"][0]["message"].get("content") or "")
        for call in data["tool_calls"]:
            print(f"  [tool {call['plugin']} {json.dumps(call.get('arguments'))} -> {call['outcome']}]", file=sys.stderr)
        print(f"session_key: {record.session_key}\njournal key: {record.key}", file=sys.stderr)
        return 0
    except SmarterError as exc:
        status, response = exc.status, {"error": {"type": exc.type, "message": exc.message}}
        raise
    finally:
        record.finish(status, response)


def cmd_journal(args) -> int:
    account = account_of(args)
    if args.key:
        record = journal.get(account, args.client, args.key)
        if record is None:
            raise SmarterError(f"no journal record {args.key} for {args.client}")
        print_as(record, args.output)
    else:
        for record in journal.recent(account, args.client, args.limit):
            print(f"{record['key']}  {record['status']}  {record['command']}  {record['durations']['total_ms']} ms")
    return 0


def cmd_usage(args) -> int:
    print_as(usage.for_account(account_of(args), args.day or ""), args.output)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smarter", description="Administer Smarter Serverless accounts, clients, plugins and keys.")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        p.add_argument("--account", help="account number (default: $SMARTER_ACCOUNT)")
        p.add_argument("-o", "--output", choices=["yaml", "json", "table"], default="yaml")
        p.set_defaults(func=func)
        return p

    p = add("apply", cmd_apply, "create or update from a manifest file (YAML or JSON; '-' for stdin)")
    p.add_argument("-f", "--file", required=True)
    for name, func in (("get", cmd_get), ("describe", cmd_describe), ("delete", cmd_delete)):
        p = add(name, func, f"{name} accounts, clients, plugins, connections, apikeys, domains")
        p.add_argument("kind")
        p.add_argument("name", nargs="?" if name == "get" else None)
    p = add("apikey", cmd_apikey, "create or revoke API keys")
    p.add_argument("action", choices=["create", "revoke"])
    p.add_argument("name", help="the key's name (create); its key id, or a name only one live key has (revoke)")
    p.add_argument("--client", action="append", help="limit the key to this client (repeatable)")
    p.add_argument("--expires-in-days", type=int)
    p = add("prompt", cmd_prompt, "send a prompt to a client from the terminal")
    p.add_argument("client")
    p.add_argument("text")
    p.add_argument("--session", help="continue this session_key")
    p = add("journal", cmd_journal, "list a client's recent journal records, or show one")
    p.add_argument("client")
    p.add_argument("key", nargs="?")
    p.add_argument("--limit", type=int, default=20)
    p = add("usage", cmd_usage, "token usage per client and day")
    p.add_argument("--day", help="a day (YYYY-MM-DD) or a prefix (YYYY-MM)")
    # Command groups with modules of their own register their sub-commands here.
    for module in (plugin_cli, domains_cli):
        module.register(sub, add)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ManifestError as exc:
        print(f"error: invalid manifest: {exc.message}", file=sys.stderr)
        return 2
    except SmarterError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
