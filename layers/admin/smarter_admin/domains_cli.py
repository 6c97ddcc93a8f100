"""`smarter domain add | verify | remove | list`: custom domains from the terminal.

Registered by `smarter_admin.cli`. The work happens in `smarter_admin.domains`;
this module parses arguments, shows progress while a domain moves through its
states, and tells the domain's owner which DNS records to create.

`add` and `verify` exit with a code that names the state the domain is in
(with `--wait`, the state it stopped in), so a script can tell a domain that is
still waiting for DNS from one that failed.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from smarter_admin import domain_states as states
from smarter_admin import failures, output
from smarter_admin.output import Column, Format, Output, account_of, emit

SCHEDULE_NOTE = "the platform also checks pending domains every few minutes"

# Exit codes by state (0 for verified; see failures.py for the others).
STATE_EXIT = {states.VERIFIED: 0, states.REQUESTED: 10, states.PENDING: 11, states.ISSUED: 12, states.FAILED: 13, states.REMOVED: 0}
PROGRESS = {
    states.REQUESTED: "certificate requested; waiting for ACM to publish the DNS validation record",
    states.PENDING: "DNS pending; waiting for ACM to see the validation record and issue the certificate",
    states.ISSUED: "certificate issued; mapping the domain in API Gateway",
    states.VERIFIED: "verified",
    states.FAILED: "failed",
}
# Seconds between two looks at ACM while waiting (SMARTER_DOMAIN_POLL_SECONDS for tests).
POLL_SECONDS = 10.0

COLUMNS = [
    Column("DOMAIN", lambda d: d["domain"]),
    Column("KIND", lambda d: d.get("kind")),
    Column("STATUS", lambda d: d.get("status")),
    Column("ACCOUNT", lambda d: d.get("account")),
    Column("CLIENT", lambda d: d.get("client")),
    Column("TARGET", lambda d: (d.get("target") or {}).get("domain_name")),
]

domain_app = typer.Typer(help="Custom domains of LLM clients: add, verify, remove, list.", no_args_is_help=True, rich_markup_mode=None)

Account = Annotated[str | None, typer.Option("--account", envvar="SMARTER_ACCOUNT", show_envvar=True, metavar="NUMBER", help="Account number.")]
Wait = Annotated[bool, typer.Option("--wait", help="Keep checking until the domain is verified or failed, showing its state.")]
Timeout = Annotated[float, typer.Option("--timeout", metavar="SECONDS", min=0, help="Seconds --wait waits before it gives up (exit code: the state it stopped in).")]


def _domains():
    """The work (botocore, ACM, API Gateway), imported when a command runs, not for --help."""
    from smarter_admin import domains

    return domains


def register(app: typer.Typer) -> None:
    app.add_typer(domain_app, name="domain")


@domain_app.command(
    "add",
    epilog="\b\nExit codes: 0 claimed (with --wait: verified), 10 requested, 11 DNS pending, 12 issued, 13 failed.\n\n"
    "\b\nExamples:\n"
    "  smarter domain add customer-support api.acme.com\n"
    "  smarter domain add customer-support api.acme.com --wait --timeout 1800",
)
def add(
    client: Annotated[str, typer.Argument(help="The LLM client the domain serves.", show_default=False)],
    domain: Annotated[str, typer.Argument(help="The domain, e.g. api.acme.com.", show_default=False)],
    wait: Wait = False,
    timeout: Timeout = 1800,
    account: Account = None,
    output_format: Output = None,
) -> int:
    """Claim a domain for a client and print the DNS record that proves control of it."""
    number = account_of(account)
    with _progress(f"domain/{domain}: requesting a certificate") as show:
        doc = _domains().add_custom_domain(number, client, domain, wait_seconds=0)
        show(doc)
        # ACM publishes the validation record a few seconds after the request.
        doc = _follow(doc, show, until=(states.PENDING,) if not wait else (), timeout=timeout if wait else 30, tell_timeout=wait)
    _report([doc], output_format)
    return STATE_EXIT.get(doc["status"], failures.FAILED) if wait else (STATE_EXIT[states.FAILED] if doc["status"] == states.FAILED else 0)


@domain_app.command(
    "verify",
    epilog="\b\nExit codes: 0 verified, 10 requested, 11 DNS pending, 12 issued, 13 failed (without DOMAIN: 1 when any check failed).\n\n"
    "\b\nExamples:\n"
    "  smarter domain verify api.acme.com\n"
    "  smarter domain verify api.acme.com --wait --timeout 600\n"
    "  smarter domain verify                  # every pending domain",
)
def verify(
    domain: Annotated[str | None, typer.Argument(help="The domain; all pending domains without it.", show_default=False)] = None,
    wait: Wait = False,
    timeout: Timeout = 1800,
    account: Account = None,
    output_format: Output = None,
) -> int:
    """Map a domain once its certificate is issued; the exit code says which state it is in."""
    if not domain:
        docs = _domains().verify_pending()
        if not docs:
            output.err("no domain is waiting for verification")
            emit([], output_format, columns=COLUMNS) if output_format else None
            return 0
        _report(docs, output_format)
        return failures.FAILED if any(d.get("status") == "error" for d in docs) else 0
    doc = _owned(account, domain)
    with _progress(f"domain/{doc['domain']}: checking") as show:
        doc = _domains().verify(doc["domain"])
        show(doc)
        if wait:
            doc = _follow(doc, show, until=(), timeout=timeout, tell_timeout=True)
    _report([doc], output_format)
    return STATE_EXIT.get(doc["status"], failures.FAILED)


@domain_app.command("remove", epilog="\b\nExamples:\n  smarter domain remove api.acme.com")
def remove(domain: Annotated[str, typer.Argument(help="The domain.", show_default=False)], account: Account = None, output_format: Output = None) -> int:
    """Unmap a domain, delete its certificate and release the claim (routing stops first)."""
    doc = _domains().remove(_owned(account, domain)["domain"])
    _report([doc], output_format)
    return 0


@domain_app.command("list", epilog="\b\nExamples:\n  smarter domain list\n  smarter domain list --account 3141-5926-5359 -o json")
def list_(account: Annotated[str | None, typer.Option("--account", help="Only this account's domains (default: every account).")] = None, output_format: Output = None) -> int:
    """Domains and their states (every account's without --account)."""
    emit(_domains().list_domains(account), output_format, columns=COLUMNS, name=lambda d: f"domain/{d['domain']}", styled="STATUS")
    return 0


def _owned(account: str | None, raw_domain: str) -> dict[str, Any]:
    """With --account, a domain of another account is as good as unknown."""
    doc = _domains().get(raw_domain)
    if account and doc.get("account") != account:
        from smarter.errors import NotFound

        raise NotFound(f"no domain {doc['domain']} in account {account}")
    return doc


# --- waiting -----------------------------------------------------------------------


def _poll_seconds() -> float:
    return float(os.environ.get("SMARTER_DOMAIN_POLL_SECONDS") or POLL_SECONDS)


def _follow(doc: dict[str, Any], show, *, until: tuple[str, ...], timeout: float, tell_timeout: bool = False) -> dict[str, Any]:
    """Advance the domain until it leaves the open states (or reaches one of
    `until`), or the timeout passes; `show` reports each state (and, on a
    terminal, the time waited so far, each second). With `tell_timeout`, a
    wait that runs out says so on stderr (the exit code names the state)."""
    started = time.monotonic()
    deadline = started + timeout
    while doc["status"] in states.OPEN and doc["status"] not in until and time.monotonic() < deadline:
        # ACM publishes validation records within seconds; issuing takes minutes.
        interval = min(_poll_seconds(), 2.0) if doc["status"] == states.REQUESTED else _poll_seconds()
        wake = min(time.monotonic() + interval, deadline)
        while (left := wake - time.monotonic()) > 0:
            time.sleep(min(left, 1.0))
            show(doc, tick=True)
        doc = _domains().advance(doc)
        show(doc)
    if tell_timeout and doc["status"] in states.OPEN and doc["status"] not in until:
        waited = time.monotonic() - started
        output.err(failures._line("error: ", f"domain/{doc['domain']} is still {doc['status']} after {waited:.0f} s: --timeout {timeout:g} ran out", "red"))
        output.err(failures._line("hint: ", f"wait longer with --timeout SECONDS, or run `smarter domain verify {doc['domain']}` later; {SCHEDULE_NOTE}", "dim"))
    return doc


@contextlib.contextmanager
def _progress(first: str) -> Iterator[Any]:
    """A spinner with the current state and the time waited on a terminal; one
    line per new state otherwise (with the time waited)."""
    console = output.err_console()
    seen: list[str] = []
    started = time.monotonic()
    status = console.status(first, spinner="dots") if console.is_terminal else None

    def show(doc: dict[str, Any], tick: bool = False) -> None:
        state = doc.get("status", "")
        elapsed = time.monotonic() - started
        line = f"domain/{doc['domain']}: {PROGRESS.get(state, state)}"
        if status is not None:
            status.update(f"{line} ({elapsed:.0f}s)")
            return
        if tick or (seen and seen[-1] == state):
            return
        seen.append(state)
        output.err(line if len(seen) == 1 else f"{line} (after {elapsed:.0f}s)")

    if status is None:
        yield show
        return
    with status:
        yield show


# --- reporting ----------------------------------------------------------------------


def _report(docs: list[dict[str, Any]], output_format: Format | None) -> None:
    """JSON or YAML for scripts, a table, names; by default each domain's state and what to do next."""
    emit(docs, output_format, columns=COLUMNS, name=lambda d: f"domain/{d['domain']}", styled="STATUS", human=lambda: [_explain(d) for d in docs])


def _explain(doc: dict[str, Any]) -> None:
    name, status = doc["domain"], doc.get("status")
    owner = f" (client {doc['client']}, account {doc['account']})" if doc.get("client") else ""
    output.out(f"domain/{name} {status}{owner}")
    if doc.get("error") or doc.get("message"):
        output.out(f"  {doc.get('error') or doc.get('message')}")
    if status in (states.REQUESTED, states.PENDING) and doc.get("kind") != "account":
        records = doc.get("validation_records") or []
        if records:
            output.out(f"Prove you control {name}: create this DNS record at its DNS provider and keep it (ACM renews through it):")
            for record in records:
                output.out(f"  {record['name']}  {record['type']}  {record['value']}")
        output.out(f"Then run `smarter domain verify {name}` once DNS has propagated; {SCHEDULE_NOTE}.")
    elif status == states.VERIFIED and doc.get("kind") != "account":
        target = doc["target"]
        output.out(f"Point {name} at the platform: create this DNS record at its DNS provider:")
        output.out(f"  {name}.  CNAME  {target['domain_name']}.")
        output.out(f"  (at a zone apex use an ALIAS/ANAME record; in Route 53 an alias A record to {target['domain_name']}, zone {target['hosted_zone_id']})")
    elif status == states.FAILED:
        output.out(f"Remove it with `smarter domain remove {name}` and add it again, or run `smarter domain add` again for the same client.")
