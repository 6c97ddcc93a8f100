"""The journal: one record for every request, failures included.

A record is written once, at the end of the request, together with the
session messages the request added (one BatchWriteItem for both), so the warm
path pays one write, and in Lambda it is written after the answer has been
sent (runtime/afterwards.py). A record too large for a DynamoDB item goes to S3
and the item points at it. If DynamoDB refuses the write after retries, or the
function's time runs out before it, the record is written to the log and to S3
(`journal/_unwritten/`), so it is never lost; `replay` puts such a record into
the table once (a conditional put), which is when usage counts it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from decimal import Decimal
from datetime import datetime, timezone
from typing import Any

from aws_lambda_powertools import Logger

from smarter.config import settings
from smarter.deadline import Deadline
from smarter.redact import scrub, scrub_json
from smarter.runtime import afterwards
from smarter.store import aws, packed

logger = Logger(child=True)

# DynamoDB items top out at 400 KB; leave room for the keys and attributes.
MAX_INLINE_BYTES = 350_000
# A client's records are written over this many partition keys
# (`{account}#{client}#{shard}`, the shard from the key's last hex digit), so a
# busy client is not one hot key. There is no index: "a client's latest
# records" is one Query per shard (`shard_partitions`), reading the items'
# small `summary` (or their `doc`), merged newest first. An index entry per
# record was a write unit of every request (a fifth of the request's DynamoDB
# bill) for a listing people read now and then. See docs/data-model.md.
JOURNAL_SHARDS = 4
# Records DynamoDB did not take (a failed or timed-out write), with their session
# items, until `replay` puts them into the table; under journal/ (where oversized
# payloads live too), so the request functions write them with the grant they have.
FALLBACK_PREFIX = "journal/_unwritten/"
SAFE_HEADERS = {"content-type", "content-length", "user-agent", "origin", "x-forwarded-for", "x-amzn-trace-id", "accept"}


def new_key() -> str:
    """Time-ordered and unguessable: `20261122T013000123Z-k3j9...`."""
    now = datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-{secrets.token_hex(8)}"


def safe_headers(headers: dict[str, str] | None) -> dict[str, str]:
    """Only headers worth keeping; Authorization, cookies and API keys never reach the journal."""
    return {k.lower(): v for k, v in (headers or {}).items() if k.lower() in SAFE_HEADERS}


class RequestRecord:
    """What one request did, gathered as it runs and written when it ends."""

    def __init__(self, thing: str, command: str, *, method: str, path: str, host: str, headers: dict[str, str] | None, deadline: Deadline | None = None):
        self.key = new_key()
        self.started = time.perf_counter()
        # The request's one deadline (deadline.py); the CLI gets API Gateway's budget.
        self.deadline = deadline or Deadline.for_request()
        self.thing = thing
        self.command = command
        self.account: str | None = None
        self.client: str | None = None
        self.api_key_id: str | None = None
        self.session_key: str | None = None
        self.provider: str | None = None
        self.provider_ms = 0.0
        self.usage: dict[str, int] = {}
        # Limits and spend (tenancy/limits.py): the plan that applies, the price of
        # the model called, each provider call's reservation, the request's cost.
        self.plan: Any = None
        self.price: Any = None
        self.reservations: list[dict[str, Any]] = []
        self.rate_view: dict[str, Any] = {}
        self.cost_usd = Decimal(0)
        # Provider answers counted from an estimate (they carried no usage).
        self.usage_estimated = 0
        self.tool_calls: list[dict[str, Any]] = []
        # Each provider attempt (llm/routing.py): target, status, duration, tokens.
        self.attempts: list[dict[str, Any]] = []
        self.request: dict[str, Any] = {"method": method, "path": path, "host": host, "headers": safe_headers(headers)}
        # (table, item) pairs written in the same batch as the journal record.
        self.pending: list[tuple[str, dict[str, Any]]] = []
        # The envelope answered, once built (web._respond).
        self.response: dict[str, Any] | None = None
        # The size of an answer refused as too large (web._respond), for the journal.
        self.response_bytes: int | None = None

    def add_usage(self, usage: Any, *, estimate: dict[str, int] | None = None) -> None:
        """Add one provider answer's usage, its cost at the record's price, and
        what the call really used to its reservation (settled by the
        UsageFunction). An answer whose `usage` holds no token counts (none sent,
        another shape) counts `estimate` instead when there is one (a successful
        answer: never zero for what the provider produced), and the record says so."""
        if not isinstance(usage, dict):
            usage = {}
        call: dict[str, int] = {}
        for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
            value = usage.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**12:
                call[name] = value
        if not call and estimate:
            call = dict(estimate)
            self.usage_estimated += 1
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") if isinstance(usage.get("prompt_tokens_details"), dict) else None
        if isinstance(cached, int) and not isinstance(cached, bool) and 0 < cached < 10**12:
            call["cached_tokens"] = cached
        for name, value in call.items():
            self.usage[name] = self.usage.get(name, 0) + value
        cost = Decimal(0)
        if self.price is not None:
            cost = self.price.cost(call.get("prompt_tokens", 0), call.get("completion_tokens", 0), call.get("cached_tokens", 0))
            self.cost_usd += cost
        if self.reservations and "used" not in self.reservations[-1]:
            tokens = call.get("total_tokens", call.get("prompt_tokens", 0) + call.get("completion_tokens", 0))
            self.reservations[-1]["used"] = {"tokens": tokens, "usd": format(cost, "f")}

    def keep_body(self, body: Any, size: int) -> None:
        """Journal the request body: redacted (secret-named fields blanked,
        credential-looking strings scrubbed) and, above SMARTER_JOURNAL_BODY_BYTES,
        replaced by its size and SHA-256 so the record stays small."""
        limit = settings().journal_body_bytes
        if size <= limit:
            self.request["body"] = scrub_json(body)
        else:
            text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"), default=str)
            self.request["body"] = {
                "omitted": f"over SMARTER_JOURNAL_BODY_BYTES ({limit})",
                "bytes": size,
                "sha256": hashlib.sha256(text.encode("utf-8", errors="replace")).hexdigest(),
                "head": scrub(text[:1024]),
            }

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def overhead_ms(self) -> float:
        """Time the gateway added beyond the provider calls."""
        return max(self.elapsed_ms() - self.provider_ms, 0.0)

    def document(self, status: int, response: Any) -> dict[str, Any]:
        return {
            "key": self.key,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "account": self.account,
            "client": self.client,
            "thing": self.thing,
            "command": self.command,
            "api_key_id": self.api_key_id,
            "session_key": self.session_key,
            "provider": self.provider,
            "status": status,
            "request": self.request,
            "response": response,
            "durations": {"total_ms": round(self.elapsed_ms(), 2), "provider_ms": round(self.provider_ms, 2)},
            "usage": self.usage,
            "cost_usd": format(self.cost_usd.normalize(), "f"),
            "reservations": self.reservations,
            "tool_calls": self.tool_calls,
            **({"attempts": self.attempts} if self.attempts else {}),
            **({"refused_response_bytes": self.response_bytes} if self.response_bytes else {}),
            **({"usage_estimated": self.usage_estimated} if self.usage_estimated else {}),
        }

    def finish(self, status: int, response: Any) -> None:
        """Write the journal record (and pending session messages), after the answer
        when the function runs with the after-response extension; never raises.
        Usage is counted from the journal's stream (usage.py), not here."""
        doc = self.document(status, response)
        partition = f"{self.account or '-'}#{self.client or '-'}"
        pending = list(self.pending)
        afterwards.defer(
            afterwards.Job(
                run=lambda: _write(partition, doc, pending),
                lost=lambda reason: _last_resort(partition, doc, pending, reason),
                until=self.deadline.function_at,
            )
        )


def _write(partition: str, doc: dict[str, Any], pending: list[tuple[str, dict[str, Any]]]) -> None:
    try:
        item = _journal_item(partition, doc)
        _batch_write([(settings().journal_table, item), *pending])
    except Exception:
        logger.exception("journal write failed; keeping the record in S3 and the log", extra={"journal_key": doc["key"]})
        _last_resort(partition, doc, pending, "the DynamoDB write failed")


def shard_of(key: str) -> int:
    return int(key[-1], 16) % JOURNAL_SHARDS


def _journal_item(partition: str, doc: dict[str, Any]) -> dict[str, Any]:
    payload = json.dumps(doc, separators=(",", ":"), default=str)
    if len(payload.encode("utf-8")) > MAX_INLINE_BYTES:
        uri = _to_s3(partition, doc["key"], payload)
        summary = {k: doc[k] for k in doc if k not in ("request", "response", "tool_calls")}
        summary["payload_s3"] = uri
        summary["tool_call_count"] = len(doc["tool_calls"])
        payload = json.dumps(summary, separators=(",", ":"), default=str)
    expires = int(time.time()) + settings().journal_ttl_days * 86400
    return {
        "pk": {"S": f"{partition}#{shard_of(doc['key'])}"},
        "sk": {"S": doc["key"]},
        # Packed (store/packed.py): a plain prompt's record is then one write unit, not two.
        "doc": {"B": packed.pack_text(payload)},
        "summary": {"S": json.dumps(summary_of(doc), separators=(",", ":"), default=str)},
        "status": {"N": str(doc["status"])},
        "expires_at": {"N": str(expires)},
    }


SUMMARY_FIELDS = ("key", "created_at", "account", "client", "thing", "command", "api_key_id", "session_key",
                  "provider", "status", "durations", "usage", "cost_usd")


def summary_of(doc: dict[str, Any]) -> dict[str, Any]:
    """What a listing shows of a record, a few hundred bytes whatever the record's
    size: what a listing reads of each item (`recent`, the console's journal)."""
    summary = {name: doc.get(name) for name in SUMMARY_FIELDS}
    request = doc.get("request") or {}
    summary["method"], summary["path"] = request.get("method"), request.get("path")
    response = doc.get("response")
    error = response.get("error") if isinstance(response, dict) else None
    if isinstance(error, dict):
        summary["error"] = str(error.get("type") or error.get("code") or "error")[:64]
    summary["tool_call_count"] = len(doc.get("tool_calls") or [])
    return summary


def _to_s3(partition: str, key: str, payload: str) -> str:
    object_key = f"journal/{partition.replace('#', '/')}/{key}.json"
    _put_json(object_key, payload)
    return f"s3://{settings().journal_bucket}/{object_key}"


def _put_json(object_key: str, payload: str) -> None:
    aws.client("s3").put_object(
        Bucket=settings().journal_bucket, Key=object_key, Body=payload.encode("utf-8"), ContentType="application/json"
    )


def _batch_write(writes: list[tuple[str, dict[str, Any]]]) -> None:
    """Put the items, 25 a call, retrying what DynamoDB left unprocessed: five
    tries in all per batch, backing off 50 ms, 100 ms, 200 ms, 400 ms (botocore
    retries throttling and 5xx itself). The write runs after the answer is out,
    so its CPU is no client's wait (docs/performance.md)."""
    ddb = aws.client("dynamodb")
    for start in range(0, len(writes), 25):
        request: dict[str, list[dict[str, Any]]] = {}
        for table, item in writes[start : start + 25]:
            request.setdefault(table, []).append({"PutRequest": {"Item": item}})
        for attempt in range(5):
            out = ddb.batch_write_item(RequestItems=request)
            request = out.get("UnprocessedItems") or {}
            if not request:
                break
            time.sleep(0.05 * 2**attempt)
        else:
            raise RuntimeError("DynamoDB left items unprocessed after retries")


def _last_resort(partition: str, doc: dict[str, Any], pending: list[tuple[str, dict[str, Any]]] = (), reason: str = "") -> None:
    """The record in the log first (stdout reaches CloudWatch even when the
    function is about to be stopped), then in S3 with its session items, for `replay`."""
    payload = json.dumps(doc, separators=(",", ":"), default=str)
    logger.error("journal record not written to the table", extra={"journal_record": payload, "journal_key": doc["key"], "reason": reason})
    try:
        body = json.dumps({"record": doc, "session_items": [{"table": t, "item": i} for t, i in pending]}, separators=(",", ":"), default=str)
        _put_json(fallback_key(partition, doc["key"]), body)
    except Exception:
        logger.exception("journal S3 fallback failed; the record is in the log", extra={"journal_key": doc["key"]})


def fallback_key(partition: str, key: str) -> str:
    return f"{FALLBACK_PREFIX}{partition.replace('#', '/')}/{key}.json"


# --- putting kept records into the table, once ----------------------------------------------


def replay(doc: dict[str, Any], session_items: list[dict[str, Any]] | None = None) -> bool:
    """Put a record the table did not take (from S3 or a log line) into it, once:
    a conditional put (attribute_not_exists), so a record already there, or
    replayed twice, is not written again and its stream counts it once (the
    usage marker guards even a second INSERT). True when written now."""
    if not isinstance(doc, dict) or not isinstance(doc.get("key"), str) or "status" not in doc:
        raise ValueError("not a journal record: no key or status")
    partition = f"{doc.get('account') or '-'}#{doc.get('client') or '-'}"
    item = _journal_item(partition, doc)
    ddb = aws.client("dynamodb")
    try:
        ddb.put_item(TableName=settings().journal_table, Item=item, ConditionExpression="attribute_not_exists(sk)")
        written = True
    except Exception as exc:
        if getattr(exc, "response", {}).get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        written = False
    writes = [(entry["table"], entry["item"]) for entry in session_items or [] if isinstance(entry, dict) and "table" in entry and "item" in entry]
    if writes:
        _batch_write(writes)  # session items have their own keys: putting them again changes nothing
    return written


def replay_fallbacks(limit: int = 1000) -> dict[str, int]:
    """Replay the records kept in S3 (`journal/_unwritten/`), deleting each once it
    is in the table; an unreadable object stays and is counted."""
    s3 = aws.client("s3")
    bucket = settings().journal_bucket
    counts = {"written": 0, "present": 0, "unreadable": 0}
    token: str | None = None
    seen = 0
    while seen < limit:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": FALLBACK_PREFIX, "MaxKeys": min(1000, limit - seen)}
        if token:
            kwargs["ContinuationToken"] = token
        listing = s3.list_objects_v2(**kwargs)
        for entry in listing.get("Contents", []):
            seen += 1
            try:
                data = json.loads(s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read())
                written = replay(data["record"], data.get("session_items"))
            except (ValueError, KeyError, TypeError):
                logger.warning("unreadable journal fallback object left in place", extra={"s3_key": entry["Key"]})
                counts["unreadable"] += 1
                continue
            counts["written" if written else "present"] += 1
            s3.delete_object(Bucket=bucket, Key=entry["Key"])
        token = listing.get("NextContinuationToken")
        if not token:
            break
    return counts


def records_in_log(lines: Any) -> list[dict[str, Any]]:
    """The journal records in log lines (a CloudWatch export or `sam logs`): each
    line's JSON object (after any timestamp prefix) with a `journal_record`."""
    found = []
    for line in lines:
        start = line.find("{")
        if start < 0:
            continue
        try:
            entry = json.loads(line[start:])
        except ValueError:
            continue
        record = entry.get("journal_record") if isinstance(entry, dict) else None
        if isinstance(record, str):
            try:
                record = json.loads(record)
            except ValueError:
                continue
        if isinstance(record, dict) and isinstance(record.get("key"), str):
            found.append(record)
    return found


def get(account: str, client: str, key: str) -> dict[str, Any] | None:
    """One record by key: the key names its shard, so one GetItem."""
    try:
        pk = f"{account}#{client}#{shard_of(key)}"
    except ValueError:
        return None  # not a journal key
    out = aws.client("dynamodb").get_item(TableName=settings().journal_table, Key={"pk": {"S": pk}, "sk": {"S": key}})
    item = out.get("Item")
    return item_doc(item) if item else None


def shard_partitions(partition: str) -> list[str]:
    """The partition keys of one `{account}#{client}` partition's records."""
    return [f"{partition}#{shard}" for shard in range(JOURNAL_SHARDS)]


def recent(account: str, client: str, limit: int = 20, *, full: bool = False) -> list[dict[str, Any]]:
    """A client's latest records, newest first, as summaries (`summary_of`),
    or whole with `full`: the newest `limit` of each shard (one Query each,
    reading only the summary or the document), merged. `get` reads one."""
    ddb = aws.client("dynamodb")
    wanted = "doc" if full else "summary"
    found: list[tuple[str, dict[str, Any]]] = []
    for pk in shard_partitions(f"{account}#{client}"):
        out = ddb.query(
            TableName=settings().journal_table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": pk}},
            ProjectionExpression="sk, #w",
            ExpressionAttributeNames={"#w": wanted},
            ScanIndexForward=False,
            Limit=limit,
        )
        found.extend((item["sk"]["S"], item) for item in out.get("Items", []))
    found.sort(key=lambda pair: pair[0], reverse=True)
    if full:
        return [item_doc(item) for _, item in found[:limit] if "doc" in item]
    return [json.loads(item["summary"]["S"]) if "summary" in item else {"key": key} for key, item in found[:limit]]


def item_doc(item: dict[str, Any]) -> Any:
    """A journal item's document: packed (`B`, bytes from botocore or base64 text in a
    Lambda stream event), or JSON text (`S`, as items were written before issue 29).
    ValueError when it is neither."""
    value = item["doc"]
    if "B" in value:
        return packed.unpack(value["B"])
    return json.loads(value["S"])


def item_doc_text(item: dict[str, Any]) -> str:
    """A journal item's document as compact JSON text (the bench sizes and searches it)."""
    return json.dumps(item_doc(item), separators=(",", ":"), default=str)
