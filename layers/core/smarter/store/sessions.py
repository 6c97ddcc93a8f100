"""Sessions: a conversation kept by `session_key`, one item per request.

A request's new messages (the user's, any tool exchange, the answer) are one
item `msgs` (a JSON list) in the session's own partition
(`{account}#{client}#{key_id}#{session}`), sorted by time, so a session
grows without any single item growing, and a plain prompt writes one write
unit for its two messages instead of two (issue 29). Messages too large to
share an item (over ITEM_BYTES together) are split over several. Items of
one message in `doc`, as written before, are still read. A request reads
only the last SMARTER_SESSION_WINDOW messages (one Query) and its new
messages are written with the journal record.

A session belongs to the API key that started it: the key's id is part of
the partition, so another key, even one allowed on the same client, that
presents the session key finds nothing and starts a new session. A session
key alone is not a capability to read someone's conversation.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from smarter.config import settings
from smarter.store import tenant_aws


# The JSON of the messages one item holds, at most: well under DynamoDB's 400 KB item.
ITEM_BYTES = 300_000


def new_session_key() -> str:
    return secrets.token_urlsafe(24)


def _partition(account: str, client: str, session_key: str, key_id: str | None) -> str:
    return f"{account}#{client}#{key_id or '-'}#{session_key}"


def load(account: str, client: str, session_key: str, key_id: str | None) -> list[dict[str, Any]]:
    """The session's latest messages, oldest first; [] for an unknown session
    or one that another API key started."""
    # The account's scoped credentials: in AWS, IAM refuses any other account's partition.
    out = tenant_aws.client("dynamodb", account).query(
        TableName=settings().sessions_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": _partition(account, client, session_key, key_id)}},
        ScanIndexForward=False,
        Limit=settings().session_window,
        # Only the message: the keys and TTL of up to a window of items would
        # triple what botocore parses, for nothing.
        ProjectionExpression="doc, msgs",
    )
    messages: list[dict[str, Any]] = []
    for item in reversed(out.get("Items", [])):
        if "msgs" in item:
            messages.extend(json.loads(item["msgs"]["S"]))
        else:
            messages.append(json.loads(item["doc"]["S"]))
    messages = messages[-settings().session_window:]
    # A window that starts mid tool exchange would orphan tool results; drop them.
    while messages and messages[0].get("role") == "tool":
        messages.pop(0)
    return messages


def items(account: str, client: str, session_key: str, messages: list[dict[str, Any]], key_id: str | None) -> list[tuple[str, dict[str, Any]]]:
    """(table, item) pairs for new messages, ready for the journal's batch write."""
    base = time.time_ns()
    expires = str(int(time.time()) + settings().session_ttl_days * 86400)
    pk = _partition(account, client, session_key, key_id)
    groups: list[tuple[int, list[str]]] = []  # (index of the first message, its messages' JSON)
    size = 0
    for i, message in enumerate(messages):
        text = json.dumps(message, separators=(",", ":"), default=str)
        if not groups or size + len(text) > ITEM_BYTES:
            groups.append((i, []))
            size = 0
        groups[-1][1].append(text)
        size += len(text) + 1
    return [
        (
            settings().sessions_table,
            {
                "pk": {"S": pk},
                "sk": {"S": f"{base:020d}#{first:04d}"},
                "msgs": {"S": "[" + ",".join(texts) + "]"},
                "expires_at": {"N": expires},
            },
        )
        for first, texts in groups
    ]
