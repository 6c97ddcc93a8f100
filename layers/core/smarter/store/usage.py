"""The usage table, its one owner: every item shape and key format of it is
here. The limits policy (tenancy/limits.py) decides what to reserve and
refuses; this module builds the items it reserves with (the limit windows
`W#{scope}` / `m…|d…|M…` and the holds `HOLD#{journal key}` / `R{round}`),
counts usage and spend exactly once from the journal's stream, and settles
those reservations in the same write.

The UsageFunction hands every new journal record to `count`. A record that
settles no hold (a request without limits, the common case) is counted with
the rest of its stream batch (`batch`, `Tally`): one TransactWriteItems per
batch of

- per second of journal keys, a set item `SEEN#{account}#{second}` / `SEEN`:
  `ADD` the batch's keys of that second, conditional on none of them being in
  it yet (`NOT contains`). A redelivered key finds itself there; the
  transaction is cancelled, the answer (`ALL_OLD`) says which keys were seen,
  and the batch is written again without them. Exactly once per journal key,
  whatever the order, the overlap of redelivered batches or the shard a
  record came from, since the set is a function of the key alone;
- per usage row, one `ADD` of the batch's requests, tokens and cost.

A record that settles holds is counted alone by one TransactWriteItems:

- a marker `HOLD#{journal key}` / `COUNTED`, conditional on its absence: the
  idempotency record. A redelivered record (Lambda retries batches, and after
  a partial failure redelivers records already counted) finds it and is
  skipped, whatever order the records come in and whichever shard they were
  in. Exactly once by construction, with no sequence numbers compared;
- each of the request's holds `HOLD#{journal key}` / `R{round}` moved from
  `held` to `settled` (or from `released`, when the sweep got there first),
  conditional on that state;
- each limit window the request reserved against, adjusted by
  (real − reserved), or by the real use if the sweep had released the hold;
- the usage row `{account}` / `{day}#{client}#{key id}`: requests, tokens,
  cost in USD (ADD).

- the account's in-flight slot, when the hold took one (`ADD inflight -1`).

All or nothing, so a counter never holds half a request. `release_expired`,
run on a schedule, releases holds whose request never reached the journal
(a crash between reserve and journal write).
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any

from smarter.config import settings
from smarter.store import aws

FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens")
MARKER_SECONDS = 3 * 86400  # longer than the stream keeps records (24 h): no redelivery outlives its marker
HOLD_INDEX = "ByHold"
HOLD_SHARDS = 8
# The usage row's sort key ends in a shard (`…#{shard}`), read back summed by
# `for_account`. It was 4 while a row was written once per request; counted per
# stream batch, a row is written once per batch, so one item is plenty and a
# batch writes one row instead of up to 4 (rows written as `#1`–`#3` before are
# still read and summed).
USAGE_SHARDS = 1
# One TransactWriteItems takes at most 100 items; a batch is cut into chunks of
# at most this many records so the expression of one SEEN update stays small.
TRANSACT_ITEMS = 100
CHUNK_RECORDS = 100
SEEN_PREFIX = "SEEN#"
# A journal key `20261122T013000123Z-{16 hex}`: its second, and the rest (ms and the random part).
KEY_SHAPE = re.compile(r"(\d{8}T\d{6})(\d{3})Z-([0-9a-f]{16})")
RETRIES = 8
# Cancellation reasons no retry changes: the transaction itself is wrong.
PERMANENT_REASONS = frozenset({"ValidationError", "ItemCollectionSizeLimitExceeded"})
# How long a window item outlives its period (TTL), for `smarter usage` and late settles.
KEEP_SECONDS = {"m": 2 * 86400, "d": 40 * 86400, "M": 400 * 86400}
HOLD_SECONDS = 300  # longer than any request (API Gateway cuts at 29 s) plus the stream's usual delay


# --- the limit windows and holds (reserved by tenancy/limits.py) --------------------------


def window_pk(scope_id: str) -> str:
    return f"W#{scope_id}"


def period(kind: str, moment: datetime) -> str:
    if kind == "m":
        return f"m{moment:%Y%m%d%H%M}"
    if kind == "d":
        return f"d{moment:%Y%m%d}"
    return f"M{moment:%Y%m}"


def window_end(kind: str, moment: datetime) -> float:
    """Epoch seconds when the window that holds `moment` ends."""
    if kind == "m":
        return (moment.replace(second=0, microsecond=0).timestamp() // 60 + 1) * 60
    if kind == "d":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() + 86400
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return moment.replace(year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()


def reserve_update(pk: str, sk: str, kind: str, ends: float, limits: dict[str, Decimal], requests: int, tokens: int, picos: int) -> dict[str, Any]:
    """A window's share of a reservation: ADD the ask, conditional on every limited counter staying within its limit."""
    ask = {"requests": requests, "tokens": tokens, "usd": picos}
    values: dict[str, Any] = {
        ":requests": _n(requests),
        ":tokens": _n(tokens),
        ":usd": _n(picos),
        ":exp": _n(int(ends) + KEEP_SECONDS[kind]),
    }
    conditions = []
    for attribute, limit in limits.items():
        values[f":room_{attribute}"] = _n(int(limit - ask[attribute]))
        conditions.append(f"(attribute_not_exists({attribute}) OR {attribute} <= :room_{attribute})")
    return {
        "Update": {
            "TableName": settings().usage_table,
            "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
            "UpdateExpression": "ADD requests :requests, tokens :tokens, usd :usd SET expires_at = if_not_exists(expires_at, :exp)",
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def hold_shard(journal_key: str) -> str:
    return str(int(journal_key[-2:], 16) % HOLD_SHARDS)


def hold_put(journal_key: str, round_no: int, windows: list[list[Any]], moment: datetime, *, inflight: list[str] | None = None) -> dict[str, Any]:
    """The hold of one reservation round: [pk, sk, requests, tokens, pico-dollars] per window, `held` until settled."""
    now = int(moment.timestamp())
    return {
        "Put": {
            "TableName": settings().usage_table,
            "Item": {
                "pk": {"S": f"HOLD#{journal_key}"},
                "sk": {"S": f"R{round_no}"},
                "state": {"S": "held"},
                "hold_shard": {"S": hold_shard(journal_key)},
                "held_until": {"N": str(now + HOLD_SECONDS)},
                "windows": {"S": json.dumps(windows, separators=(",", ":"))},
                # The account's in-flight slot [pk, sk] this request took, released when it is settled or swept.
                **({"inflight": {"S": json.dumps(inflight, separators=(",", ":"))}} if inflight else {}),
                "expires_at": {"N": str(now + 3 * 86400)},
            },
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


class Unreadable(Exception):
    """A stream record that no retry will make readable (poison)."""


def journal_doc(record: dict[str, Any]) -> dict[str, Any] | None:
    """The journal document of a stream record; None for what is not a new journal record."""
    if record.get("eventName") != "INSERT":
        return None
    image = (record.get("dynamodb") or {}).get("NewImage") or {}
    if "doc" not in image:
        raise Unreadable("the journal item has no doc attribute")
    from smarter.store.journal import item_doc

    try:
        doc = item_doc(image)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise Unreadable(f"the journal doc is not JSON: {exc}") from None
    if not isinstance(doc, dict) or not doc.get("key"):
        raise Unreadable("the journal doc has no key")
    return doc


PICO = Decimal(10**12)


def pico(usd: Any) -> int:
    """US dollars as whole pico-dollars: counters stay integers, exact at any
    volume (every price in the map is a whole number of pico-dollars per token)."""
    return int((Decimal(str(usd)) * PICO).to_integral_value(ROUND_CEILING))


def usd(picos: int | Decimal) -> Decimal:
    return (Decimal(picos) / PICO).normalize()


def number(value: Any) -> str:
    """A DynamoDB number: Decimals in plain notation (never `6.6E-6`)."""
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def _n(value: Any) -> dict[str, str]:
    return {"N": number(value)}


def _row_key(doc: dict[str, Any]) -> tuple[str, str]:
    """The usage row a journal record counts in: (account, day#client#key id#shard)."""
    day = str(doc.get("created_at", ""))[:10]
    return doc["account"], f"{day}#{doc.get('client') or '-'}#{doc.get('api_key_id') or '-'}#0"


def _row_use(doc: dict[str, Any]) -> dict[str, int]:
    """What one record adds to its usage row: one request, its tokens, its cost in pico-dollars."""
    usage = doc.get("usage") or {}
    use = {"requests": 1, "cost_pusd": pico(doc.get("cost_usd") or 0)}
    for name in FIELDS:
        if usage.get(name):
            use[name] = int(usage[name])
    return use


def _row_update(table: str, key: tuple[str, str], use: dict[str, int]) -> dict[str, Any]:
    names = [name for name, value in use.items() if value]
    return {
        "Update": {
            "TableName": table,
            "Key": {"pk": {"S": key[0]}, "sk": {"S": key[1]}},
            "UpdateExpression": "ADD " + ", ".join(f"{name} :{name}" for name in names),
            "ExpressionAttributeValues": {f":{name}": _n(use[name]) for name in names},
        }
    }


def seen_slot(doc: dict[str, Any]) -> tuple[str, str]:
    """Where a journal key is remembered as counted: (the set item's pk, the entry).
    A function of the key alone: `SEEN#{account}#{second}` and the key's milliseconds
    and random part (a key of another shape is its own entry in `SEEN#{account}#-`)."""
    key = str(doc["key"])
    shape = KEY_SHAPE.fullmatch(key)
    if shape:
        return f"{SEEN_PREFIX}{doc['account']}#{shape[1]}", shape[2] + shape[3]
    return f"{SEEN_PREFIX}{doc['account']}#-", key


class Tally:
    """The records of one stream batch that settle no hold, counted together by
    `flush`: one TransactWriteItems per chunk of records instead of one per record."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    def add(self, doc: dict[str, Any]) -> None:
        self.docs.setdefault(str(doc["key"]), doc)

    def flush(self) -> dict[str, str]:
        """Count what was added: journal key -> 'counted', 'duplicate' or 'failed'.
        A chunk that cannot be written is tried record by record, so one record that
        DynamoDB refuses fails alone; a 'failed' record goes back to the stream."""
        outcomes: dict[str, str] = {}
        for chunk in _chunks(list(self.docs.values())):
            try:
                outcomes.update(_count_plain(chunk))
            except Exception as exc:
                if len(chunk) == 1:
                    _log_failure(chunk[0], exc)
                    outcomes[str(chunk[0]["key"])] = "failed"
                    continue
                for doc in chunk:
                    try:
                        outcomes.update(_count_plain([doc]))
                    except Exception as one:
                        _log_failure(doc, one)
                        outcomes[str(doc["key"])] = "failed"
        self.docs.clear()
        return outcomes


_TALLY: ContextVar[Tally | None] = ContextVar("smarter_usage_tally", default=None)


@contextmanager
def batch() -> Iterator[Tally]:
    """While open, `count` adds records that settle no hold to this tally instead of
    writing them one by one (answering 'pending'); the caller flushes it."""
    tally = Tally()
    token = _TALLY.set(tally)
    try:
        yield tally
    finally:
        _TALLY.reset(token)


def _chunks(docs: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Records in order, cut so a chunk's transaction (its SEEN items and rows) fits."""
    chunk: list[dict[str, Any]] = []
    slots: set[str] = set()
    rows: set[tuple[str, str]] = set()
    for doc in docs:
        slot, row = seen_slot(doc)[0], _row_key(doc)
        if chunk and (len(chunk) >= CHUNK_RECORDS or len(slots | {slot}) + len(rows | {row}) > TRANSACT_ITEMS):
            yield chunk
            chunk, slots, rows = [], set(), set()
        chunk.append(doc)
        slots.add(slot)
        rows.add(row)
    if chunk:
        yield chunk


def _log_failure(doc: dict[str, Any], exc: Exception) -> None:
    from aws_lambda_powertools import Logger

    Logger(child=True).warning("usage not counted; the record goes back to the stream",
                               extra={"journal_key": doc.get("key"), "error": f"{exc.__class__.__name__}: {exc}"[:500]})


def _count_plain(docs: list[dict[str, Any]]) -> dict[str, str]:
    """Count records that settle no hold in one TransactWriteItems: each second's SEEN
    set takes the keys not in it yet (conditional), each usage row the sum of its records.
    A key already seen cancels the transaction and is dropped as a duplicate; the rest is
    written again. Nothing is written unless all of it is, so no key is half counted."""
    table = settings().usage_table
    ddb = aws.client("dynamodb")
    outcomes: dict[str, str] = {}
    remaining = {str(doc["key"]): doc for doc in docs}
    expires = _n(int(time.time()) + MARKER_SECONDS)
    last = ""
    attempt = 0
    while remaining:
        slots: dict[str, dict[str, str]] = {}  # SEEN pk -> entry -> journal key
        rows: dict[tuple[str, str], dict[str, int]] = {}
        for key, doc in remaining.items():
            slot, entry = seen_slot(doc)
            slots.setdefault(slot, {})[entry] = key
            row = rows.setdefault(_row_key(doc), {})
            for name, value in _row_use(doc).items():
                row[name] = row.get(name, 0) + value
        items: list[dict[str, Any]] = []
        for slot, entries in slots.items():
            values: dict[str, Any] = {":new": {"SS": sorted(entries)}, ":exp": expires}
            conditions = []
            for i, entry in enumerate(sorted(entries)):
                values[f":e{i}"] = {"S": entry}
                conditions.append(f"NOT contains(#k, :e{i})")
            items.append({
                "Update": {
                    "TableName": table,
                    "Key": {"pk": {"S": slot}, "sk": {"S": "SEEN"}},
                    "UpdateExpression": "ADD #k :new SET expires_at = if_not_exists(expires_at, :exp)",
                    "ConditionExpression": " AND ".join(conditions),
                    "ExpressionAttributeNames": {"#k": "k"},
                    "ExpressionAttributeValues": values,
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            })
        items.extend(_row_update(table, row, use) for row, use in rows.items())
        try:
            ddb.transact_write_items(TransactItems=items)
            outcomes.update({key: "counted" for key in remaining})
            return outcomes
        except ddb.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons") or []
            seen_again = False
            for (slot, entries), reason in zip(slots.items(), reasons):
                if reason.get("Code") != "ConditionalCheckFailed":
                    continue
                known = set(((reason.get("Item") or {}).get("k") or {}).get("SS") or [])
                for entry, key in entries.items():
                    if entry in known:
                        outcomes[key] = "duplicate"
                        remaining.pop(key)
                        seen_again = True
            codes = {r.get("Code") for r in reasons} - {None, "None", "ConditionalCheckFailed"}
            if codes & PERMANENT_REASONS:
                raise
            if seen_again and not codes:
                continue  # only duplicates: write the rest at once, no back-off (bounded: each pass drops a key)
            last = ", ".join(sorted(codes)) or "ConditionalCheckFailed"
        attempt += 1
        if attempt >= RETRIES:
            raise RuntimeError(f"{len(remaining)} journal records: the usage write was cancelled {RETRIES} times ({last}); the batch will retry them")
        time.sleep(random.uniform(0, min(1.0, 0.025 * 2**attempt)))
    return outcomes


def count(doc: dict[str, Any]) -> str:
    """Count one journal record: 'counted', 'duplicate', 'nothing' (no usage, no holds),
    or 'pending' when a `batch` is open and the record settles no hold (its tally counts it)."""
    usage = doc.get("usage") or {}
    holds = doc.get("reservations") or []
    if not doc.get("account") or (not holds and not usage):
        return "nothing"  # unrouted requests and those that never reached a provider
    if not holds:
        tally = _TALLY.get()
        if tally is not None:
            tally.add(doc)
            return "pending"
        return _count_plain([doc])[str(doc["key"])]
    table = settings().usage_table
    key = doc["key"]
    expect = {hold["round"]: "held" for hold in holds}
    ddb = aws.client("dynamodb")
    last = ""
    for attempt in range(RETRIES):
        items = [
            {
                "Put": {
                    "TableName": table,
                    "Item": {"pk": {"S": f"HOLD#{key}"}, "sk": {"S": "COUNTED"}, "expires_at": _n(int(time.time()) + MARKER_SECONDS)},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        deltas: dict[tuple[str, str], list[Decimal]] = {}
        slots: list[list[str]] = []  # in-flight slots to release (tenancy/limits.py's concurrentRequests)
        for hold in holds:
            state = expect[hold["round"]]
            if state == "gone":
                continue  # its marker outlived the stream's retention: nothing left to settle
            if state == "held" and hold.get("inflight"):
                slots.append(hold["inflight"])  # released by the sweep instead when it got there first
            used = hold.get("used") or {}
            for pk, sk, requests, tokens, usd_pico in hold["windows"]:
                delta = deltas.setdefault((pk, sk), [Decimal(0)] * 3)
                real = (Decimal(requests), Decimal(used.get("tokens", 0)), Decimal(pico(used.get("usd", "0"))))
                reserved = (Decimal(requests), Decimal(tokens), Decimal(usd_pico)) if state == "held" else (Decimal(0),) * 3
                for i in range(3):
                    delta[i] += real[i] - reserved[i]
            items.append(
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"pk": {"S": f"HOLD#{key}"}, "sk": {"S": f"R{hold['round']}"}},
                        "UpdateExpression": "SET #s = :settled REMOVE hold_shard, held_until",
                        "ConditionExpression": "#s = :expect",
                        "ExpressionAttributeNames": {"#s": "state"},
                        "ExpressionAttributeValues": {":settled": {"S": "settled"}, ":expect": {"S": state}},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                }
            )
        for (pk, sk), (requests, tokens, picos) in deltas.items():
            if requests or tokens or picos:
                items.append(
                    {
                        "Update": {
                            "TableName": table,
                            "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
                            "UpdateExpression": "ADD requests :r, tokens :t, usd :u",
                            "ExpressionAttributeValues": {":r": _n(requests), ":t": _n(tokens), ":u": _n(picos)},
                        }
                    }
                )
        if usage:
            items.append(_row_update(table, _row_key(doc), _row_use(doc)))
        for pk, sk in slots:  # after the holds: the cancellation reasons of the holds keep their places
            items.append(_slot_release(table, pk, sk))
        try:
            ddb.transact_write_items(TransactItems=items)
            return "counted"
        except ddb.exceptions.TransactionCanceledException as exc:
            # Nothing was written (a transaction is all or nothing), so trying again
            # cannot count twice: the marker decides, on every attempt.
            reasons = exc.response.get("CancellationReasons") or []
            if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                return "duplicate"  # the marker exists: counted before
            for hold, reason in zip([h for h in holds if expect[h["round"]] != "gone"], reasons[1:]):
                if reason.get("Code") == "ConditionalCheckFailed":
                    state = ((reason.get("Item") or {}).get("state") or {}).get("S")
                    expect[hold["round"]] = state if state in ("held", "released") else "gone"
            codes = {r.get("Code") for r in reasons} - {None, "None", "ConditionalCheckFailed"}
            if codes & PERMANENT_REASONS:
                raise
            last = ", ".join(sorted(codes)) or "ConditionalCheckFailed"
            # TransactionConflict (another transaction on a window or the usage row),
            # ThrottlingError, a hold the sweep just released: back off and write again.
        time.sleep(random.uniform(0, min(1.0, 0.025 * 2**attempt)))
    raise RuntimeError(f"journal record {key}: the usage write was cancelled {RETRIES} times ({last}); the batch will retry it")


def _slot_release(table: str, pk: str, sk: str) -> dict[str, Any]:
    return {"Update": {"TableName": table, "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
                       "UpdateExpression": "ADD inflight :minus", "ExpressionAttributeValues": {":minus": _n(-1)}}}


def release_expired(now: float | None = None) -> int:
    """Release holds still `held` after their deadline: their request never reached the
    journal (a crash between reserve and journal write). How many were released."""
    now = time.time() if now is None else now
    ddb = aws.client("dynamodb")
    table = settings().usage_table
    released = 0
    for shard in range(HOLD_SHARDS):
        kwargs: dict[str, Any] = {
            "TableName": table,
            "IndexName": HOLD_INDEX,
            "KeyConditionExpression": "hold_shard = :s AND held_until < :now",
            "ExpressionAttributeValues": {":s": {"S": str(shard)}, ":now": _n(int(now))},
        }
        while True:
            out = ddb.query(**kwargs)
            for item in out.get("Items", []):
                released += _release(ddb, table, item)
            if "LastEvaluatedKey" not in out:
                break
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
    return released


def _release(ddb: Any, table: str, hold: dict[str, Any]) -> int:
    items: list[dict[str, Any]] = [
        {
            "Update": {
                "TableName": table,
                "Key": {"pk": hold["pk"], "sk": hold["sk"]},
                "UpdateExpression": "SET #s = :released REMOVE hold_shard, held_until",
                "ConditionExpression": "#s = :held",
                "ExpressionAttributeNames": {"#s": "state"},
                "ExpressionAttributeValues": {":released": {"S": "released"}, ":held": {"S": "held"}},
            }
        }
    ]
    if "inflight" in hold:
        items.append(_slot_release(table, *json.loads(hold["inflight"]["S"])))
    for pk, sk, requests, tokens, picos in json.loads(hold["windows"]["S"]):
        items.append(
            {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
                    "UpdateExpression": "ADD requests :r, tokens :t, usd :u",
                    "ExpressionAttributeValues": {":r": _n(-int(requests)), ":t": _n(-int(tokens)), ":u": _n(-int(picos))},
                }
            }
        )
    try:
        ddb.transact_write_items(TransactItems=items)
        return 1
    except ddb.exceptions.TransactionCanceledException:
        return 0  # settled or released meanwhile; the next sweep sees the truth


def for_account(account: str, day_prefix: str = "") -> list[dict[str, Any]]:
    """The usage rows of an account (one Query): per day, client and key, the shards summed."""
    condition, values = "pk = :pk", {":pk": {"S": account}}
    if day_prefix:
        condition += " AND begins_with(sk, :d)"
        values[":d"] = {"S": day_prefix}
    kwargs: dict[str, Any] = {"TableName": settings().usage_table, "KeyConditionExpression": condition, "ExpressionAttributeValues": values}
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    while True:
        out = aws.client("dynamodb").query(**kwargs)
        for item in out.get("Items", []):
            day, client, key = (item["sk"]["S"].split("#") + ["-", "-"])[:3]
            row = rows.setdefault((day, client, key), {"day": day, "client": client, "key": key, "requests": 0, **{name: 0 for name in FIELDS}, "cost_pusd": 0})
            for name in ("requests", *FIELDS, "cost_pusd"):
                row[name] += int(item.get(name, {}).get("N", 0))
        if "LastEvaluatedKey" not in out:
            break
        kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
    return [{**{k: v for k, v in row.items() if k != "cost_pusd"}, "cost_usd": usd(row["cost_pusd"])} for _, row in sorted(rows.items())]


def window(pk: str, sk: str) -> dict[str, Decimal]:
    """One limit window's counters, `usd` in dollars (tests, `smarter usage --limits`)."""
    item = aws.client("dynamodb").get_item(TableName=settings().usage_table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True).get("Item") or {}
    out = {name: Decimal(item.get(name, {}).get("N", "0")) for name in ("requests", "tokens")}
    out["usd"] = usd(int(item.get("usd", {}).get("N", "0")))
    return out


def park(record: dict[str, Any], reason: str) -> None:
    """Send an unreadable stream record to the usage failure queue with the reason
    (SMARTER_USAGE_FAILURE_QUEUE; the function log where none is set)."""
    from aws_lambda_powertools import Logger

    body = json.dumps({"reason": reason, "record": record}, default=str)
    queue = settings().usage_failure_queue
    if not queue:
        Logger(child=True).error("unreadable journal stream record", extra={"reason": reason, "record": body[:10_000]})
        return
    aws.client("sqs").send_message(QueueUrl=queue, MessageBody=body[:250_000])
