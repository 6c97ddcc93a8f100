"""Token usage per account, client and day: atomic counters (UpdateItem ADD)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from . import aws
from .config import settings

FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")


def count(account: str, client: str, usage: dict[str, int], *, requests: int = 1) -> None:
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    values = {":requests": {"N": str(requests)}}
    parts = ["requests :requests"]
    for name in FIELDS:
        values[f":{name}"] = {"N": str(int(usage.get(name, 0)))}
        parts.append(f"{name} :{name}")
    aws.client("dynamodb").update_item(
        TableName=settings().usage_table,
        Key={"pk": {"S": account}, "sk": {"S": f"{day}#{client}"}},
        UpdateExpression="ADD " + ", ".join(parts),
        ExpressionAttributeValues=values,
    )


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
