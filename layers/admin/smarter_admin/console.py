"""What the console shows and does for one account, on behalf of one API key.

No HTTP here: functions/console/app.py turns requests into these calls and
their answers into envelopes. Every function takes the authenticated key's
record and stays inside its account; a key limited to some clients
(`clients: [...]`) sees only those clients, the plugins and connections they
use, their usage and their journal records. Changing the account (creating or
revoking keys, applying manifests) needs an account-wide key: a key limited to
one client must not be able to mint a key for every client.

Manifests go through `smarter_admin.manifests` itself (plan, then write), so
the console validates and warns exactly as `smarter apply` does. Two things
the CLI may do are refused here: `kind: Account` (limits and prices are the
operator's), `kind: Secret` (the console's function never holds a tenant's
secret values) and any document naming another account.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from smarter.config import settings
from smarter.errors import BadRequest, Forbidden, NotFound
from smarter.redact import scrub_json
from smarter.schema import host_label
from smarter.store import aws, journal, storage, usage
from smarter.tenancy import auth
from smarter_admin import export, manifests

# Journal records of the platform host (passthrough, console) have no client.
NO_CLIENT = "-"
MAX_PAGE = 100
# How many index pages one listing reads per client before it answers with a
# cursor (filters that match little must not turn one call into a table scan).
MAX_PAGES_PER_CLIENT = 5
USAGE_GROUPS = {"day": ("day",), "client": ("client",), "key": ("key",), "account": (), "detail": ("day", "client", "key")}
MAX_USAGE_DAYS = 366
MAX_MANIFEST_BYTES = 256 * 1024
KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$")
JOURNAL_KEY = re.compile(r"^\d{8}T\d{9}Z-[0-9a-f]{16}$")


@dataclass(frozen=True)
class Scope:
    """Who is asking: the account, and the clients the key may see (None: all)."""

    account: str
    clients: tuple[str, ...] | None
    key_id: str

    @classmethod
    def of(cls, key: dict[str, Any]) -> Scope:
        clients = key.get("clients")
        return cls(key["account"], tuple(clients) if clients is not None else None, key["key_id"])

    @property
    def account_wide(self) -> bool:
        return self.clients is None

    def sees(self, client: str) -> bool:
        return self.clients is None or client in self.clients

    def require_account_wide(self, what: str) -> None:
        if not self.account_wide:
            raise Forbidden(
                f"{what} needs an account-wide API key; this key is limited to {', '.join(self.clients or ())}. "
                "Sign in with a key created without --client (smarter apikey create NAME)"
            )


# --- clients, plugins, connections ---------------------------------------------------


def clients(scope: Scope) -> list[dict[str, Any]]:
    """The clients the key sees: host, provider, model, plugins, limits and manifest."""
    found = []
    for doc in storage.list_scoped("CLIENT", scope.account):
        if not scope.sees(doc["name"]):
            continue
        found.append(
            {
                "name": doc["name"],
                "description": doc.get("description"),
                "host": f"{host_label(doc['name'])}.{scope.account}.{settings().api_domain}",
                "path": f"/v1/accounts/{scope.account}/clients/{doc['name']}/prompt",
                "custom_domain": doc.get("custom_domain"),
                "provider": doc.get("provider"),
                "model": doc.get("model"),
                "plugins": doc.get("plugins") or [],
                "deployed": doc.get("deployed", True),
                "ui": doc.get("ui") or {},
                "limits": doc.get("limits") or {},
                "updated_at": doc.get("updated_at"),
                "manifest": export.client(doc),
            }
        )
    return sorted(found, key=lambda c: c["name"])


def _visible_plugin_names(scope: Scope) -> set[str] | None:
    if scope.account_wide:
        return None
    return {p for c in storage.list_scoped("CLIENT", scope.account) if scope.sees(c["name"]) for p in c.get("plugins") or []}


def plugins(scope: Scope) -> list[dict[str, Any]]:
    """The plugins of the account (a limited key: those its clients use), as manifests."""
    visible = _visible_plugin_names(scope)
    docs = [d for d in storage.list_scoped("PLUGIN", scope.account) if visible is None or d["metadata"]["name"] in visible]
    return sorted((_no_secrets(export.plugin(d)) for d in docs), key=lambda d: d["metadata"]["name"])


def connections(scope: Scope) -> list[dict[str, Any]]:
    """The connections (a limited key: those its plugins use). A connection names
    its Secret; the value lives in Secrets Manager and is never read here."""
    docs = storage.list_scoped("CONNECTION", scope.account)
    if not scope.account_wide:
        used = {((p.get("spec") or {}).get("connection")) for p in plugins(scope)}
        docs = [d for d in docs if d["metadata"]["name"] in used]
    return sorted((_no_secrets(export.stored_manifest(d)) for d in docs), key=lambda d: d["metadata"]["name"])


def _no_secrets(manifest: dict[str, Any]) -> dict[str, Any]:
    """Credential-looking values a manifest should not hold (a literal header token) are scrubbed anyway."""
    return scrub_json(manifest)


# --- keys ------------------------------------------------------------------------------


def _key_view(doc: dict[str, Any]) -> dict[str, Any]:
    """A key's state; never its hash, never its secret."""
    return {
        "key_id": doc["key_id"],
        "name": doc.get("name"),
        "clients": doc.get("clients"),
        "state": export.key_state(doc),
        "created_at": doc.get("created_at"),
        "expires_at": doc.get("expires_at"),
        "revoked_at": doc.get("revoked_at"),
        "limits": doc.get("limits") or {},
    }


def keys(scope: Scope) -> list[dict[str, Any]]:
    """The account's keys; a limited key sees the keys limited to clients it sees."""
    docs = storage.list_api_keys(scope.account)
    if not scope.account_wide:
        docs = [d for d in docs if d.get("clients") is not None and all(scope.sees(c) for c in d["clients"])]
    return sorted((_key_view(d) for d in docs), key=lambda k: (k["created_at"] or "", k["key_id"]), reverse=True)


def create_key(scope: Scope, body: Any) -> dict[str, Any]:
    """A new key; the answer carries its secret, the only time it is shown."""
    scope.require_account_wide("Creating API keys")
    if not isinstance(body, dict):
        raise BadRequest('send a JSON object: {"name": "ci", "clients": ["customer-support"], "expiresInDays": 30}')
    unknown = sorted(set(body) - {"name", "clients", "expiresInDays"})
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}: a key takes name, clients and expiresInDays")
    name = body.get("name")
    if not isinstance(name, str) or not KEY_NAME.match(name):
        raise BadRequest("name: 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit")
    wanted = body.get("clients")
    if wanted is not None:
        if not isinstance(wanted, list) or not all(isinstance(c, str) for c in wanted):
            raise BadRequest("clients: a list of client names, or omit it for every client of the account")
        known = {c["name"] for c in storage.list_scoped("CLIENT", scope.account)}
        missing = [c for c in wanted if c not in known]
        if missing:
            raise BadRequest(f"clients: no client named {missing[0]!r} in account {scope.account}")
    days = body.get("expiresInDays")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days > 3650):
        raise BadRequest("expiresInDays: a whole number of days from 1 to 3650, or omit it for a key that does not expire")
    if auth.live_keys_named(storage.list_api_keys(scope.account), name):
        raise BadRequest(f"a live key is already named {name!r}: choose another name, or revoke that key first")
    secret, doc = auth.create_key(scope.account, name, clients=wanted, expires_in_days=days)
    return {**_key_view(doc), "api_key": secret}


def revoke_key(scope: Scope, key_id: str) -> dict[str, Any]:
    """Revoke by id. The key stops working at once in this container and within
    SMARTER_CACHE_TTL seconds in every other (their key cache)."""
    scope.require_account_wide("Revoking API keys")
    doc = next((d for d in storage.list_api_keys(scope.account) if d["key_id"] == key_id), None)
    if doc is None:
        raise NotFound(f"no API key {key_id!r} in account {scope.account}")
    return _key_view(auth.revoke_key(doc))


# --- usage -----------------------------------------------------------------------------


def _day(value: str | None, name: str, default: datetime) -> str:
    if not value:
        return default.strftime("%Y-%m-%d")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise BadRequest(f"{name}: a day as YYYY-MM-DD, got {value[:40]!r}")
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise BadRequest(f"{name}: {value!r} is not a calendar day") from None
    return value


def usage_totals(rows: list[dict[str, Any]], group: str, account: str) -> list[dict[str, Any]]:
    """Usage rows (per day, client and key) summed per `group`; the CLI's `usage --by` too."""
    fields = USAGE_GROUPS[group]
    totals: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        name = tuple(row[field] for field in fields)
        total = totals.setdefault(name, {"account": account, **dict(zip(fields, name)), "requests": 0, **{f: 0 for f in usage.FIELDS}, "cost_usd": 0})
        for field in ("requests", *usage.FIELDS, "cost_usd"):
            total[field] += row[field]
    return [{**row, "cost_usd": format(row["cost_usd"], "f")} for _, row in sorted(totals.items())]


def usage_report(scope: Scope, *, start: str | None, end: str | None, group: str = "detail") -> dict[str, Any]:
    """Requests, tokens and dollars between two days (inclusive, UTC), grouped.
    Counted from the journal's stream: a request shows here a second or two after its answer."""
    if group not in USAGE_GROUPS:
        raise BadRequest(f"group: one of {', '.join(USAGE_GROUPS)}, got {group[:40]!r}")
    today = datetime.now(timezone.utc)
    end = _day(end, "to", today)
    start = _day(start, "from", datetime.strptime(end, "%Y-%m-%d") - timedelta(days=29))
    if start > end:
        raise BadRequest(f"from ({start}) is after to ({end})")
    if (datetime.strptime(end, "%Y-%m-%d") - datetime.strptime(start, "%Y-%m-%d")).days >= MAX_USAGE_DAYS:
        raise BadRequest(f"from and to span more than {MAX_USAGE_DAYS} days: ask for a shorter range")
    prefix = _common_prefix(start, end)
    rows = [r for r in usage.for_account(scope.account, prefix) if start <= r["day"] <= end and scope.sees(r["client"])]
    totals = usage_totals(rows, "account", scope.account)
    return {
        "account": scope.account,
        "from": start,
        "to": end,
        "group": group,
        "rows": usage_totals(rows, group, scope.account),
        "total": totals[0] if totals else {"account": scope.account, "requests": 0, **{f: 0 for f in usage.FIELDS}, "cost_usd": "0"},
    }


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


# --- the journal -----------------------------------------------------------------------


def _key_moment(value: str | None, name: str) -> str | None:
    """An ISO time as the start of a journal key (`20261122T013000123Z`): keys sort by time."""
    if not value:
        return None
    try:
        moment = auth.parse_time(value)
    except Exception:
        raise BadRequest(f"{name}: an ISO 8601 time such as 2026-11-22T01:30:00Z, got {value[:40]!r}") from None
    moment = moment.astimezone(timezone.utc)
    return f"{moment:%Y%m%dT%H%M%S}{moment.microsecond // 1000:03d}Z"


def _status_filter(value: str | None):
    if not value:
        return lambda status: True
    if value == "ok":
        return lambda status: 200 <= status < 400
    if value == "error":
        return lambda status: status >= 400
    if re.fullmatch(r"[1-5]\d\d", value):
        wanted = int(value)
        return lambda status: status == wanted
    if re.fullmatch(r"[1-5]xx", value):
        hundred = int(value[0])
        return lambda status: status // 100 == hundred
    raise BadRequest(f"status: ok, error, a code such as 429, or a class such as 5xx; got {value[:40]!r}")


def journal_list(
    scope: Scope,
    *,
    client: str | None = None,
    status: str | None = None,
    start: str | None = None,
    end: str | None = None,
    thing: str | None = None,
    exclude_thing: str | None = None,
    limit: int = 25,
    cursor: str | None = None,
) -> dict[str, Any]:
    """The newest records first, as summaries, filtered; `next` continues the listing
    (pass it as `cursor`), None when there is nothing more."""
    if not 1 <= limit <= MAX_PAGE:
        raise BadRequest(f"limit: 1 to {MAX_PAGE}")
    if cursor is not None and not JOURNAL_KEY.match(cursor):
        raise BadRequest("cursor: pass back the `next` of the previous page")
    matches = _status_filter(status)
    low = _key_moment(start, "from") or "0"
    high = _key_moment(end, "to")
    high = f"{high}\uffff" if high else "9"
    if cursor is not None:
        high = min(high, cursor)
    partitions = _partitions(scope, client)
    found: list[dict[str, Any]] = []
    floors: list[str] = []  # per client not read to its end: the lowest key read
    ddb = aws.client("dynamodb")
    # Each client's shards are read as partitions of their own; the floors below merge them.
    for pk in (shard for partition in partitions for shard in journal.shard_partitions(f"{scope.account}#{partition}")):
        kwargs: dict[str, Any] = {
            "TableName": settings().journal_table,
            "KeyConditionExpression": "pk = :p AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {":p": {"S": pk}, ":lo": {"S": low}, ":hi": {"S": high}},
            "ProjectionExpression": "sk, #s",
            "ExpressionAttributeNames": {"#s": "summary"},
            "ScanIndexForward": False,
            "Limit": MAX_PAGE,
        }
        kept = 0
        for _page in range(MAX_PAGES_PER_CLIENT):
            out = ddb.query(**kwargs)
            items = out.get("Items", [])
            for item in items:
                key = item["sk"]["S"]
                if key == cursor:
                    continue
                summary = json.loads(item["summary"]["S"]) if "summary" in item else {"key": key}
                if matches(int(summary.get("status") or 0)) and _thing_ok(summary, thing, exclude_thing):
                    found.append(summary)
                    kept += 1
            last = out.get("LastEvaluatedKey")
            if last is None:
                break
            if kept >= limit or _page == MAX_PAGES_PER_CLIENT - 1:
                floors.append(last["sk"]["S"])  # read down to here; the next page goes on below it
                break
            kwargs["ExclusiveStartKey"] = last
    # Every client was read down to the highest floor: below it, some were not.
    floor = max(floors) if floors else None
    found = sorted((r for r in found if floor is None or r["key"] >= floor), key=lambda r: r["key"], reverse=True)
    if len(found) > limit:
        page, following = found[:limit], found[limit - 1]["key"]
    else:
        page, following = found, floor
    return {"records": page, "next": following, "clients": [p for p in partitions]}


def _thing_ok(summary: dict[str, Any], thing: str | None, exclude_thing: str | None) -> bool:
    if thing and summary.get("thing") != thing:
        return False
    return not (exclude_thing and summary.get("thing") == exclude_thing)


def _partitions(scope: Scope, client: str | None) -> list[str]:
    """The journal partitions (clients) to read: one asked for, or all the key sees.
    Platform-host records (passthrough, console) have no client: an account-wide key sees them as '-'."""
    if client:
        if client == NO_CLIENT:
            scope.require_account_wide("Reading platform-host journal records (passthrough, console)")
            return [NO_CLIENT]
        if not scope.sees(client):
            raise Forbidden(f"this API key is not allowed to see the client {client!r}")
        return [client]
    names = [c["name"] for c in storage.list_scoped("CLIENT", scope.account) if scope.sees(c["name"])]
    return sorted(names) + ([NO_CLIENT] if scope.account_wide else [])


def journal_record(scope: Scope, key: str, client: str | None = None) -> dict[str, Any]:
    """One record in full (its S3 payload read when it was too large for the table)."""
    if not JOURNAL_KEY.match(key or ""):
        raise BadRequest(f"not a journal key: {key[:60]!r} (they look like 20261122T013000123Z-0123456789abcdef)")
    for partition in _partitions(scope, client):
        record = journal.get(scope.account, partition, key)
        if record is not None:
            if record.get("payload_s3"):
                record = _s3_payload(record)
            return record
    raise NotFound(f"no journal record {key} that this key may see in account {scope.account} (records expire after {settings().journal_ttl_days} days)")


def _s3_payload(summary: dict[str, Any]) -> dict[str, Any]:
    uri = str(summary["payload_s3"])
    bucket, _, object_key = uri.removeprefix("s3://").partition("/")
    if bucket != settings().journal_bucket or not object_key.startswith(f"journal/{summary.get('account')}/"):
        return summary  # not ours to read: the summary is what there is
    body = aws.client("s3").get_object(Bucket=bucket, Key=object_key)["Body"].read()
    return {**json.loads(body), "payload_s3": uri}


# --- manifests -------------------------------------------------------------------------


def apply_manifest(scope: Scope, body: Any) -> dict[str, Any]:
    """`smarter apply -f` for the console: YAML or JSON text, every document
    validated before any is stored; `dryRun` stores nothing and shows the diff."""
    scope.require_account_wide("Applying manifests")
    if not isinstance(body, dict) or not isinstance(body.get("manifest"), str):
        raise BadRequest('send a JSON object: {"manifest": "<YAML or JSON text>", "dryRun": true}')
    unknown = sorted(set(body) - {"manifest", "dryRun"})
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}: send manifest and dryRun")
    dry_run = body.get("dryRun", False)
    if not isinstance(dry_run, bool):
        raise BadRequest("dryRun: true or false")
    text = body["manifest"]
    if len(text.encode("utf-8", errors="surrogatepass")) > MAX_MANIFEST_BYTES:
        raise BadRequest(f"the manifest is over {MAX_MANIFEST_BYTES // 1024} KB: split it into several applies")
    docs = manifests.load_documents(text, "manifest")
    for index, doc in enumerate(docs, start=1):
        _check_tenant_document(scope, index, doc)
    try:
        changes = manifests.plan_documents(docs, account=scope.account, source="manifest")
    except manifests.DocumentError as exc:
        warnings = getattr(exc, "warnings", [])
        if warnings:
            exc.message += " (warnings: " + "; ".join(warnings) + ")"
        raise
    planned = [
        {"kind": c.kind, "name": c.name, "action": c.action, "warnings": c.warnings, "diff": "\n".join(manifests.diff_lines(c))} for c in changes
    ]
    if dry_run:
        return {"dryRun": True, "changes": planned}
    results = []
    for change, plan in zip(changes, planned):
        result = change.write()
        results.append({**plan, "result": result.get("result"), **({"api_key": result["api_key"], "key_id": result["key_id"]} if result.get("api_key") else {})})
    return {"dryRun": False, "changes": results}


def _check_tenant_document(scope: Scope, index: int, doc: Any) -> None:
    """A tenant applies into its own account only, and never its Account record."""
    if not isinstance(doc, dict):
        return  # the plan names the problem
    if doc.get("kind") == "Account":
        raise Forbidden(
            f"document {index}: an Account manifest (limits, prices) is applied by the operator with `smarter apply`, not from the console"
        )
    if doc.get("kind") == "Secret":
        raise Forbidden(
            f"document {index}: a Secret's value is written with `smarter apply -f` (the CLI, with AWS credentials); "
            "the console never handles secret values. Apply the connection here once the Secret exists"
        )
    metadata = doc.get("metadata")
    named = metadata.get("account") if isinstance(metadata, dict) else None
    if named is not None and named != scope.account:
        raise Forbidden(f"document {index}: metadata.account is {str(named)[:40]!r}, but this API key belongs to account {scope.account}")



def journaled_apply_body(body: Any) -> Any:
    """The apply request as the journal keeps it: a Secret document's value is
    replaced (the text is otherwise kept, scrubbed like every body)."""
    if not isinstance(body, dict) or not isinstance(body.get("manifest"), str) or "Secret" not in body["manifest"]:
        return scrub_json(body)
    try:
        docs = manifests.load_documents(body["manifest"])
    except Exception:
        return {**scrub_json({k: v for k, v in body.items() if k != "manifest"}), "manifest": "(not journaled: it may hold a Secret value)"}
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "Secret" and isinstance(doc.get("spec"), dict):
            config = doc["spec"].get("config")
            if isinstance(config, dict) and "value" in config:
                config["value"] = "[redacted]"
    return scrub_json({**body, "manifest": json.dumps(docs, default=str)})
