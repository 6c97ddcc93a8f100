"""The UsageFunction against stream batches as Lambda delivers them: two shards
with interleaved sequence numbers, redelivered batches, a poison record, a
failure in the middle of a batch. The counters must be exact every time."""

from __future__ import annotations

import json
import random
from decimal import Decimal

import pytest
from support import handler

ACCOUNT = "3141-5926-5359"
STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/smarter-JournalTable/stream/2026-11-29T00:00:00.000"


def journal_record(i: int, *, client: str = "support", key_id: str = "k1", tokens: tuple[int, int] = (10, 5), sequence: str | None = None, doc: str | None = None) -> dict:
    key = f"20261129T1200{i:05d}Z-{i:016x}"
    body = doc if doc is not None else json.dumps({
        "key": key, "created_at": "2026-11-29T12:00:00.000+00:00", "account": ACCOUNT, "client": client,
        "api_key_id": key_id, "status": 200, "cost_usd": "0.000003",
        "usage": {"prompt_tokens": tokens[0], "completion_tokens": tokens[1], "total_tokens": sum(tokens)}, "reservations": [],
    })
    return {
        "eventID": str(i), "eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "dynamodb": {"Keys": {"pk": {"S": f"{ACCOUNT}#{client}"}, "sk": {"S": key}},
                     "NewImage": {"pk": {"S": f"{ACCOUNT}#{client}"}, "sk": {"S": key}, "doc": {"S": body}},
                     "SequenceNumber": sequence or str(10**20 + i), "SizeBytes": 300, "StreamViewType": "NEW_IMAGE"},
        "eventSourceARN": STREAM,
    }


def deliver(records: list[dict]) -> dict:
    from smarter_local.gateway import LambdaContext

    return handler("usage")({"Records": records}, LambdaContext("usage"))


def totals() -> dict[str, int]:
    from smarter.store import usage

    rows = usage.for_account(ACCOUNT)
    return {"requests": sum(r["requests"] for r in rows), "total_tokens": sum(r["total_tokens"] for r in rows),
            "cost_pusd": sum(usage.pico(r["cost_usd"]) for r in rows)}


def expected(n: int) -> dict[str, int]:
    return {"requests": n, "total_tokens": 15 * n, "cost_pusd": 3_000_000 * n}


def two_shards(n: int) -> tuple[list[dict], list[dict]]:
    """One client's records split over two shards (after a partition split), with
    sequence numbers that interleave and do not compare across shards."""
    a = [journal_record(i, sequence=str(300 + 7 * i)) for i in range(0, n, 2)]
    b = [journal_record(i, sequence=str(100 + 3 * i)) for i in range(1, n, 2)]
    return a, b


def test_two_shards_interleaved_and_redelivered_count_every_request_once(aws):
    a, b = two_shards(40)
    assert deliver(b[:10]) == {"batchItemFailures": []}
    assert deliver(a[:15]) == {"batchItemFailures": []}
    assert deliver(b[5:]) == {"batchItemFailures": []}  # overlaps what was counted
    assert deliver(a[10:]) == {"batchItemFailures": []}
    assert deliver(a + b) == {"batchItemFailures": []}  # everything again
    assert totals() == expected(40)


@pytest.mark.parametrize("seed", range(3))
def test_any_order_and_any_redelivery_gives_the_same_counters(aws, seed):
    rng = random.Random(seed)
    a, b = two_shards(30)
    deliveries = []
    for shard in (a, b):
        start = 0
        while start < len(shard):
            size = rng.randint(1, 6)
            deliveries.append(shard[start:start + size])
            if rng.random() < 0.4:  # Lambda redelivers this batch (a retry, or after a partial failure)
                deliveries.append(shard[max(0, start - rng.randint(0, 3)):start + size])
            start += size
    rng.shuffle(deliveries)
    for batch in deliveries:
        assert deliver(batch) == {"batchItemFailures": []}
    assert totals() == expected(30)


def test_a_poison_record_goes_to_the_failure_queue_with_the_reason_and_the_rest_is_counted(aws, monkeypatch):
    from smarter import config
    from smarter.store import aws as aws_clients

    sqs = aws_clients.client("sqs")
    queue = sqs.create_queue(QueueName="usage-failures")["QueueUrl"]
    monkeypatch.setenv("SMARTER_USAGE_FAILURE_QUEUE", queue)
    config.settings.cache_clear()
    records = [journal_record(i) for i in range(5)]
    records.insert(2, journal_record(99, doc="{not json"))
    assert deliver(records) == {"batchItemFailures": []}
    assert totals() == expected(5)
    [message] = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    parked = json.loads(message["Body"])
    assert "not JSON" in parked["reason"]
    assert parked["record"]["dynamodb"]["SequenceNumber"] == records[2]["dynamodb"]["SequenceNumber"]


def test_a_failure_mid_batch_reports_that_record_and_its_redelivery_counts_exactly(aws, monkeypatch):
    from smarter.store import usage

    records = [journal_record(i) for i in range(8)]
    real_count = usage.count
    failing = {records[3]["dynamodb"]["Keys"]["sk"]["S"]}

    def flaky(doc):
        if doc["key"] in failing:
            raise RuntimeError("DynamoDB throttled this write")
        return real_count(doc)

    monkeypatch.setattr(usage, "count", flaky)
    out = deliver(records)
    assert out == {"batchItemFailures": [{"itemIdentifier": records[3]["dynamodb"]["SequenceNumber"]}]}
    assert totals() == expected(7)
    # Lambda retries from the failed record on: records counted already come again.
    failing.clear()
    assert deliver(records[3:]) == {"batchItemFailures": []}
    assert totals() == expected(8)


def test_records_without_usage_or_an_account_are_not_counted(aws):
    unrouted = journal_record(1, doc=json.dumps({"key": "k-unrouted", "account": None, "usage": {}}))
    refused = journal_record(2, doc=json.dumps({"key": "k-401", "account": ACCOUNT, "usage": {}, "reservations": []}))
    modify = {**journal_record(3), "eventName": "MODIFY"}
    assert deliver([unrouted, refused, modify]) == {"batchItemFailures": []}
    assert totals() == {"requests": 0, "total_tokens": 0, "cost_pusd": 0}


def test_counting_a_batch_without_limits_is_one_transaction_of_a_seen_set_and_a_row(aws):
    """What counting costs: one TransactWriteItems per stream batch, of the second's SEEN
    set and the usage row, whatever the number of records (it was one transaction of
    two items per record: 4 write units each); docs/data-model.md prices it."""
    from smarter.store import aws as aws_clients

    calls: list[dict] = []

    def on_call(params, **_):
        calls.append(params)

    client = aws_clients.client("dynamodb")
    client.meta.events.register("provide-client-params.dynamodb.TransactWriteItems", on_call)
    try:
        assert deliver([journal_record(i) for i in range(3)]) == {"batchItemFailures": []}
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.TransactWriteItems", on_call)
    [call] = calls
    keys = sorted(item["Update"]["Key"]["pk"]["S"] for item in call["TransactItems"])
    assert keys == [ACCOUNT, f"SEEN#{ACCOUNT}#20261129T120000"]
    assert Decimal(totals()["cost_pusd"]) == 9_000_000


def test_a_busy_usage_row_is_spread_over_shards_and_read_back_in_one_query(aws):
    from smarter.config import settings
    from smarter.store import aws as aws_clients
    from smarter.store import usage

    assert deliver([journal_record(i) for i in range(16)]) == {"batchItemFailures": []}
    ddb = aws_clients.client("dynamodb")
    items = ddb.query(TableName=settings().usage_table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": ACCOUNT}})["Items"]
    assert len(items) == usage.USAGE_SHARDS  # one (day, client, key) row, written as 4 items
    [row] = usage.for_account(ACCOUNT)
    assert (row["client"], row["key"], row["requests"], row["total_tokens"]) == ("support", "k1", 16, 240)


class CancelledTransactions:
    """DynamoDB's answer under load, at the wire: the next `times` TransactWriteItems
    calls are cancelled with these reasons (a botocore before-call hook answers
    in place of the server, with the response DynamoDB sends; nothing is written)."""

    def __init__(self, codes: list[str], times: int, only: str = ""):
        self.codes, self.times, self.only, self.calls = codes, times, only, 0

    def __call__(self, **kwargs):
        from botocore.awsrequest import AWSResponse

        body = kwargs["params"]["body"]
        if self.only and self.only not in (body.decode() if isinstance(body, bytes) else body):
            return None
        self.calls += 1
        if self.calls > self.times:
            return None  # to the server
        items = json.loads(body)["TransactItems"]
        reasons = [{"Code": "None"}] * len(items)
        for i, code in enumerate(self.codes):
            reasons[len(items) - 1 - i] = {"Code": code, "Message": f"{code} (injected)"}
        body = {"Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons"},
                "CancellationReasons": reasons, "ResponseMetadata": {"HTTPStatusCode": 400}}
        return AWSResponse("https://dynamodb", 400, {}, None), body


@pytest.mark.parametrize("codes", [["ThrottlingError"], ["TransactionConflict"], ["TransactionConflict", "ThrottlingError"]])
def test_a_cancelled_usage_transaction_is_written_again_and_counted_once(aws, codes):
    from smarter.store import aws as store_aws

    cancel = CancelledTransactions(codes, times=3)
    events = store_aws.client("dynamodb").meta.events
    events.register("before-call.dynamodb.TransactWriteItems", cancel)
    try:
        out = deliver([journal_record(i) for i in range(3)])
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", cancel)
    assert out == {"batchItemFailures": []}
    assert cancel.calls == 3 + 1  # three cancelled, then the batch's one write
    assert totals() == expected(3)
    # Redelivered after the cancellations: still once.
    assert deliver([journal_record(i) for i in range(3)]) == {"batchItemFailures": []}
    assert totals() == expected(3)


def test_a_transaction_cancelled_on_every_attempt_is_reported_for_redelivery_not_lost(aws):
    from smarter.store import aws as store_aws

    from smarter.store import usage

    first = usage.seen_slot(json.loads(journal_record(0)["dynamodb"]["NewImage"]["doc"]["S"]))[1]
    cancel = CancelledTransactions(["ThrottlingError"], times=10**6, only=f'"{first}"')
    events = store_aws.client("dynamodb").meta.events
    events.register("before-call.dynamodb.TransactWriteItems", cancel)
    try:
        out = deliver([journal_record(0), journal_record(1)])
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", cancel)
    assert out == {"batchItemFailures": [{"itemIdentifier": str(10**20)}]}
    # usage.RETRIES attempts of the batch's write, then as many of the record alone (the other
    # record is counted on its own), then the record goes back to the stream
    assert cancel.calls == 2 * 8
    assert totals() == expected(1)
    assert deliver([journal_record(0), journal_record(1)]) == {"batchItemFailures": []}  # the redelivery counts it, once
    assert totals() == expected(2)


# --- counted per batch: one write per batch, exact under any redelivery --------------------------


def deliver_cancelled(records: list[dict], cancel: CancelledTransactions) -> dict:
    """Deliver with DynamoDB cancelling transactions as `cancel` says."""
    from smarter.store import aws as store_aws

    events = store_aws.client("dynamodb").meta.events
    events.register("before-call.dynamodb.TransactWriteItems", cancel)
    try:
        return deliver(records)
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", cancel)


def test_a_batch_redelivered_bisected_and_extended_counts_each_record_once(aws):
    records = [journal_record(i) for i in range(30)]
    assert deliver(records[:20]) == {"batchItemFailures": []}
    # The function died after its write (a timeout): Lambda bisects the batch and retries the halves,
    # then moves on with a batch that overlaps the second half.
    assert deliver(records[:10]) == {"batchItemFailures": []}
    assert deliver(records[10:20]) == {"batchItemFailures": []}
    assert deliver(records[15:30]) == {"batchItemFailures": []}
    assert totals() == expected(30)


def test_a_split_shard_parent_then_children_with_the_parent_redelivered_counts_once(aws):
    """A shard splits: its children start after the parent, with their own sequence numbers
    (lower than the parent's); the parent's last batch comes again late, from a retry."""
    parent = [journal_record(i, sequence=str(900 + i)) for i in range(10)]
    left = [journal_record(i, sequence=str(10 + i)) for i in range(10, 30, 2)]
    right = [journal_record(i, sequence=str(20 + i)) for i in range(11, 30, 2)]
    assert deliver(parent[:6]) == {"batchItemFailures": []}
    assert deliver(parent[6:]) == {"batchItemFailures": []}
    assert deliver(left[:4]) == {"batchItemFailures": []}
    assert deliver(right) == {"batchItemFailures": []}
    assert deliver(parent[4:]) == {"batchItemFailures": []}  # the parent's retry, after the children began
    assert deliver(left) == {"batchItemFailures": []}
    assert totals() == expected(30)


def test_a_record_dynamodb_refuses_fails_alone_and_the_rest_of_the_batch_is_counted(aws):
    """A poison write (ValidationError, no retry helps): the batch's write is refused, so
    each record is written alone; only the refused one goes back to the stream."""
    from smarter.store import usage

    records = [journal_record(i) for i in range(5)]
    bad = usage.seen_slot(json.loads(records[2]["dynamodb"]["NewImage"]["doc"]["S"]))[1]
    cancel = CancelledTransactions(["ValidationError"], times=10**6, only=f'"{bad}"')
    out = deliver_cancelled(records, cancel)
    assert out == {"batchItemFailures": [{"itemIdentifier": records[2]["dynamodb"]["SequenceNumber"]}]}
    assert cancel.calls == 2  # the batch once, the record alone once: a ValidationError is not retried
    assert totals() == expected(4)
    assert deliver(records[2:]) == {"batchItemFailures": []}  # Lambda retries from the failed record on
    assert totals() == expected(5)


def test_a_batch_whose_write_keeps_failing_reports_every_record_and_loses_none(aws):
    records = [journal_record(i) for i in range(2)]
    cancel = CancelledTransactions(["ThrottlingError"], times=10**6)
    out = deliver_cancelled(records, cancel)
    assert sorted(f["itemIdentifier"] for f in out["batchItemFailures"]) == sorted(r["dynamodb"]["SequenceNumber"] for r in records)
    assert totals() == expected(0)
    assert deliver(records) == {"batchItemFailures": []}
    assert totals() == expected(2)


def test_a_batch_of_many_rows_is_cut_into_transactions_of_at_most_100_items(aws):
    from smarter.store import aws as aws_clients

    calls: list[dict] = []

    def on_call(params, **_):
        calls.append(params)

    records = [journal_record(i, key_id=f"k{i}") for i in range(150)]  # 150 usage rows
    client = aws_clients.client("dynamodb")
    client.meta.events.register("provide-client-params.dynamodb.TransactWriteItems", on_call)
    try:
        assert deliver(records) == {"batchItemFailures": []}
        assert deliver(records[40:]) == {"batchItemFailures": []}  # again, across the cut
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.TransactWriteItems", on_call)
    assert all(len(c["TransactItems"]) <= 100 for c in calls)
    assert totals() == expected(150)


def test_a_journal_key_of_another_shape_is_counted_once(aws):
    body = json.dumps({"key": "imported-record-7", "created_at": "2026-11-29T12:00:00.000+00:00", "account": ACCOUNT,
                       "client": "support", "api_key_id": "k1", "status": 200, "cost_usd": "0.000003",
                       "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}, "reservations": []})
    odd = journal_record(7, doc=body)
    assert deliver([odd, journal_record(1)]) == {"batchItemFailures": []}
    assert deliver([odd]) == {"batchItemFailures": []}
    assert totals() == expected(2)


def test_a_packed_journal_doc_as_lambda_delivers_it_base64_is_counted_once(aws):
    import base64

    from smarter.store import packed

    records = []
    for i in range(3):
        record = journal_record(i)
        image = record["dynamodb"]["NewImage"]
        image["doc"] = {"B": base64.b64encode(packed.pack_text(image["doc"]["S"])).decode()}
        records.append(record)
    assert deliver(records) == {"batchItemFailures": []}
    assert deliver(records) == {"batchItemFailures": []}
    assert totals() == expected(3)


def test_a_corrupt_packed_doc_is_parked_as_poison_and_the_rest_counted(aws):
    records = [journal_record(i) for i in range(3)]
    records[1]["dynamodb"]["NewImage"]["doc"] = {"B": "AQID"}  # base64 of a truncated packed value
    assert deliver(records) == {"batchItemFailures": []}
    assert totals() == expected(2)
