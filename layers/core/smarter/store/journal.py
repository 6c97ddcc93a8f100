"""The journal: one record for every request, failures included.

A record is written once, at the end of the request, together with the
session messages the request added (one BatchWriteItem for both), so the warm
path pays one write. A record too large for a DynamoDB item goes to S3 and
the item points at it. If DynamoDB refuses the write after retries, the record
is written to S3 and to the log, so it is never lost.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from datetime import datetime, timezone
from typing import Any

from aws_lambda_powertools import Logger

from smarter.config import settings
from smarter.deadline import Deadline
from smarter.redact import scrub, scrub_json
from smarter.store import aws

logger = Logger(child=True)

# DynamoDB items top out at 400 KB; leave room for the keys and attributes.
MAX_INLINE_BYTES = 350_000
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
        self.tool_calls: list[dict[str, Any]] = []
        self.request: dict[str, Any] = {"method": method, "path": path, "host": host, "headers": safe_headers(headers)}
        # (table, item) pairs written in the same batch as the journal record.
        self.pending: list[tuple[str, dict[str, Any]]] = []
        # The envelope answered, once built (web._respond).
        self.response: dict[str, Any] | None = None
        # The size of an answer refused as too large (web._respond), for the journal.
        self.response_bytes: int | None = None

    def add_usage(self, usage: Any) -> None:
        """Add a provider's token counts; a `usage` of another shape counts nothing."""
        if not isinstance(usage, dict):
            return
        for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
            value = usage.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**12:
                self.usage[name] = self.usage.get(name, 0) + value

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
            "tool_calls": self.tool_calls,
            **({"refused_response_bytes": self.response_bytes} if self.response_bytes else {}),
        }

    def finish(self, status: int, response: Any) -> None:
        """Write the journal record (and pending session messages); never raises.
        Usage is counted from the journal's stream (usage.py), not here."""
        doc = self.document(status, response)
        partition = f"{self.account or '-'}#{self.client or '-'}"
        try:
            item = _journal_item(partition, doc)
            writes = [(settings().journal_table, item), *self.pending]
            _batch_write(writes)
        except Exception:
            logger.exception("journal write failed; keeping the record in S3 and the log", extra={"journal_key": self.key})
            _last_resort(partition, doc)


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
        "pk": {"S": partition},
        "sk": {"S": doc["key"]},
        "doc": {"S": payload},
        "status": {"N": str(doc["status"])},
        "expires_at": {"N": str(expires)},
    }


def _to_s3(partition: str, key: str, payload: str) -> str:
    object_key = f"journal/{partition.replace('#', '/')}/{key}.json"
    aws.client("s3").put_object(
        Bucket=settings().journal_bucket, Key=object_key, Body=payload.encode("utf-8"), ContentType="application/json"
    )
    return f"s3://{settings().journal_bucket}/{object_key}"


def _batch_write(writes: list[tuple[str, dict[str, Any]]]) -> None:
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


def _last_resort(partition: str, doc: dict[str, Any]) -> None:
    payload = json.dumps(doc, separators=(",", ":"), default=str)
    try:
        _to_s3(partition, doc["key"], payload)
    except Exception:
        logger.exception("journal S3 fallback failed")
    logger.error("journal record", extra={"journal_record": payload})


def get(account: str, client: str, key: str) -> dict[str, Any] | None:
    out = aws.client("dynamodb").get_item(
        TableName=settings().journal_table, Key={"pk": {"S": f"{account}#{client}"}, "sk": {"S": key}}
    )
    item = out.get("Item")
    return json.loads(item["doc"]["S"]) if item else None


def recent(account: str, client: str, limit: int = 20) -> list[dict[str, Any]]:
    out = aws.client("dynamodb").query(
        TableName=settings().journal_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"{account}#{client}"}},
        ScanIndexForward=False,
        Limit=limit,
    )
    return [json.loads(item["doc"]["S"]) for item in out.get("Items", [])]
