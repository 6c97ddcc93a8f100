"""`smarter domain add | verify | remove | list`: custom domains from the terminal.

Registered by `smarter_admin.cli` (see its `_extensions`). The work happens in
`smarter_admin.domains`; this module only parses arguments and tells the domain's
owner which DNS records to create.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from smarter.errors import NotFound
from smarter_admin import domains
from smarter_admin.output import account_of, print_as

SCHEDULE_NOTE = "the platform also checks pending domains every few minutes"


def register(sub, add) -> None:
    p = add("domain", cmd_domain, "custom domains of LLM clients: add, verify, remove, list")
    actions = p.add_subparsers(dest="action", required=True, metavar="{add,verify,remove,list}")

    def action(name: str, help: str) -> argparse.ArgumentParser:
        a = actions.add_parser(name, help=help)
        # Accept the common options after the action too (`smarter domain list --account ...`).
        a.add_argument("--account", default=argparse.SUPPRESS, help="account number (default: $SMARTER_ACCOUNT)")
        a.add_argument("-o", "--output", choices=["yaml", "json", "table"], default=argparse.SUPPRESS)
        return a

    a = action("add", "claim a domain for a client and print the DNS record that proves control of it")
    a.add_argument("client")
    a.add_argument("domain")
    a = action("verify", "map a domain once its certificate is issued (all pending domains without DOMAIN)")
    a.add_argument("domain", nargs="?")
    a = action("remove", "unmap a domain, delete its certificate and release the claim")
    a.add_argument("domain")
    action("list", "domains and their states (all accounts without --account)")


def cmd_domain(args) -> int:
    if args.action == "add":
        doc = domains.add_custom_domain(account_of(args), args.client, args.domain)
        _report([doc], args)
        return 0
    if args.action == "verify":
        if args.domain:
            docs = [domains.verify(_owned(args, args.domain)["domain"])]
        else:
            docs = domains.verify_pending()
            if not docs:
                print("no domain is waiting for verification")
                return 0
        _report(docs, args)
        return 0 if all(d.get("status") != "error" for d in docs) else 1
    if args.action == "remove":
        doc = domains.remove(_owned(args, args.domain)["domain"])
        _report([doc], args)
        return 0
    _list(domains.list_domains(getattr(args, "account", None)), args)
    return 0


def _owned(args, raw_domain: str) -> dict[str, Any]:
    """With --account, a domain of another account is as good as unknown."""
    doc = domains.get(raw_domain)
    account = getattr(args, "account", None)
    if account and doc.get("account") != account:
        raise NotFound(f"no domain {doc['domain']} in account {account}")
    return doc


def _list(docs: list[dict[str, Any]], args) -> None:
    if args.output != "table":
        print_as(docs, args.output)
        return
    rows = [("DOMAIN", "KIND", "STATUS", "ACCOUNT", "CLIENT", "TARGET")]
    for d in docs:
        rows.append((d["domain"], d.get("kind", ""), d.get("status", ""), d.get("account", ""), d.get("client") or "-", (d.get("target") or {}).get("domain_name", "-")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def _report(docs: list[dict[str, Any]], args) -> None:
    """JSON for scripts; otherwise each domain's state and what to do next."""
    if args.output == "json":
        print(json.dumps(docs, indent=2, default=str))
        return
    for doc in docs:
        _explain(doc)


def _explain(doc: dict[str, Any]) -> None:
    name, status = doc["domain"], doc.get("status")
    owner = f" (client {doc['client']}, account {doc['account']})" if doc.get("client") else ""
    print(f"domain/{name} {status}{owner}")
    if doc.get("error") or doc.get("message"):
        print(f"  {doc.get('error') or doc.get('message')}")
    if status in (domains.REQUESTED, domains.PENDING) and doc.get("kind") != "account":
        records = doc.get("validation_records") or []
        if records:
            print(f"Prove you control {name}: create this DNS record at its DNS provider and keep it (ACM renews through it):")
            for record in records:
                print(f"  {record['name']}  {record['type']}  {record['value']}")
        print(f"Then run `smarter domain verify {name}` once DNS has propagated; {SCHEDULE_NOTE}.")
    elif status == domains.VERIFIED and doc.get("kind") != "account":
        target = doc["target"]
        print(f"Point {name} at the platform: create this DNS record at its DNS provider:")
        print(f"  {name}.  CNAME  {target['domain_name']}.")
        print(f"  (at a zone apex use an ALIAS/ANAME record; in Route 53 an alias A record to {target['domain_name']}, zone {target['hosted_zone_id']})")
    elif status == domains.FAILED:
        print(f"Remove it with `smarter domain remove {name}` and add it again, or run `smarter domain add` again for the same client.")
