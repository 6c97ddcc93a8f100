"""Token usage per account, client and day: atomic counters (UpdateItem ADD).

The counters are not touched on the request path. Every journal record
carries its request's usage, and the UsageFunction reads the journal table's
stream: it folds a batch of records into one update per (account, day,
client), so a busy client costs one counter write per batch instead of one
per request (and no hot counter item). Lambda redelivers records after a
failure, in batches that need not match the first ones, so each counter
keeps the stream sequence number of the last request it counted and adds only
later ones: a counter only receives records of one journal partition
(`{account}#{client}`), hence of one shard, in order, so that number is a
high-water mark, and the update is conditional on it.
"""

from __future__ import annotations

import json
from typing import Any

from smarter.config import settings
from smarter.store import aws

FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")
SEQUENCE_WIDTH = 40  # stream sequence numbers are up to 40 digits; padded, they compare as strings


def fold(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], list[tuple[str, dict[str, Any]]]]:
    """(sequence number, usage) of each request, grouped by (account, day, client)."""
    groups: dict[tuple[str, str, str], list[tuple[str, dict[str, Any]]]] = {}
    for record in records:
        if record.get("eventName") != "INSERT":
            continue
        change = record.get("dynamodb") or {}
        image = change.get("NewImage") or {}
        if "doc" not in image:
            continue
        doc = json.loads(image["doc"]["S"])
        usage = doc.get("usage") or {}
        if not doc.get("account") or not usage:
            continue  # unrouted requests and those that never reached a provider
        key = (doc["account"], str(doc.get("created_at", ""))[:10], doc.get("client") or "-")
        groups.setdefault(key, []).append((str(change.get("SequenceNumber", "0")).zfill(SEQUENCE_WIDTH), usage))
    return groups


def apply(groups: dict[tuple[str, str, str], list[tuple[str, dict[str, Any]]]]) -> int:
    """Add to each counter the requests past the last one it counted; how many
    counters changed. Exactly once, whatever batches Lambda redelivers."""
    ddb = aws.client("dynamodb")
    applied = 0
    for (account, day, client), entries in groups.items():
        key = {"pk": {"S": account}, "sk": {"S": f"{day}#{client}"}}
        for _attempt in range(5):
            item = ddb.get_item(TableName=settings().usage_table, Key=key, ProjectionExpression="last_seq", ConsistentRead=True).get("Item") or {}
            last = item.get("last_seq", {}).get("S", "")
            new = [usage for seq, usage in entries if seq > last]
            if not new:
                break  # all counted before: a redelivered batch
            values: dict[str, Any] = {":seq": {"S": max(seq for seq, _ in entries)}, ":requests": {"N": str(len(new))}}
            parts = ["requests :requests"]
            for name in FIELDS:
                values[f":{name}"] = {"N": str(sum(int(u.get(name, 0)) for u in new))}
                parts.append(f"{name} :{name}")
            if last:
                values[":last"] = {"S": last}
            try:
                ddb.update_item(
                    TableName=settings().usage_table,
                    Key=key,
                    UpdateExpression="ADD " + ", ".join(parts) + " SET last_seq = :seq",
                    ConditionExpression="last_seq = :last" if last else "attribute_not_exists(last_seq)",
                    ExpressionAttributeValues=values,
                )
                applied += 1
                break
            except ddb.exceptions.ConditionalCheckFailedException:
                continue  # another writer moved it: read again
        else:
            raise RuntimeError(f"usage counter {account} {day} {client} kept changing; the batch will be retried")
    return applied


def for_account(account: str, day_prefix: str = "") -> list[dict[str, Any]]:
    condition, values = "pk = :pk", {":pk": {"S": account}}
    if day_prefix:
        condition += " AND begins_with(sk, :d)"
        values[":d"] = {"S": day_prefix}
    out = aws.client("dynamodb").query(
        TableName=settings().usage_table, KeyConditionExpression=condition, ExpressionAttributeValues=values
    )
    rows = []
    for item in out.get("Items", []):
        day, client = item["sk"]["S"].split("#", 1)
        row = {"day": day, "client": client, "requests": int(item.get("requests", {}).get("N", 0))}
        row.update({name: int(item.get(name, {}).get("N", 0)) for name in FIELDS})
        rows.append(row)
    return rows
