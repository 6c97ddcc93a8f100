"""The local stack's moto behaves like DynamoDB where a long run depends on it
(smarter_local/moto_patches.py): a transaction costs what its items cost, in
time and memory, whatever the size of the table, and stays all or nothing."""

from __future__ import annotations

import time

import pytest

from smarter.config import settings


def _rss_mb() -> float:
    for line in open("/proc/self/status").read().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _reserve(ddb, table: str) -> bool:
    """A limit reservation as tenancy/limits.py writes it: cancelled once the window is full."""
    try:
        ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": table, "Key": {"pk": {"S": "LIMIT#test"}, "sk": {"S": "minute"}},
                        "UpdateExpression": "ADD requests :one", "ConditionExpression": "attribute_not_exists(requests) OR requests < :max",
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":max": {"N": "5"}}}},
            {"Put": {"TableName": table, "Item": {"pk": {"S": f"HOLD#{time.time_ns()}"}, "sk": {"S": "R0"}, "state": {"S": "held"}}}},
        ])
        return True
    except ddb.exceptions.TransactionCanceledException:
        return False


def test_cancelled_transactions_on_a_large_table_keep_memory_and_time_flat(aws):
    from smarter.store import aws as store_aws

    ddb = store_aws.client("dynamodb")
    table = settings().usage_table
    for i in range(3000):  # a usage table after a few thousand requests: holds and markers
        ddb.put_item(TableName=table, Item={"pk": {"S": f"HOLD#old-{i}"}, "sk": {"S": "R0"}, "state": {"S": "settled"}, "windows": {"S": "w" * 300}})
    before, started = _rss_mb(), time.monotonic()
    outcomes = [_reserve(ddb, table) for _ in range(100)]
    grown, took = _rss_mb() - before, time.monotonic() - started
    assert outcomes.count(True) == 5  # the window admits five, then every reservation is cancelled
    # moto's own transaction deep-copied the whole table each time: +3.4 MB and 0.15 s a transaction here.
    assert grown < 30, f"RSS grew {grown:.0f} MB over 100 transactions"
    assert took < 8, f"100 transactions took {took:.1f} s"


def test_a_cancelled_transaction_still_writes_nothing(aws):
    from smarter.store import aws as store_aws

    ddb = store_aws.client("dynamodb")
    table = settings().usage_table
    ddb.put_item(TableName=table, Item={"pk": {"S": "A"}, "sk": {"S": "1"}, "n": {"N": "1"}})
    with pytest.raises(ddb.exceptions.TransactionCanceledException):
        ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": table, "Key": {"pk": {"S": "A"}, "sk": {"S": "1"}}, "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            {"Put": {"TableName": table, "Item": {"pk": {"S": "B"}, "sk": {"S": "1"}}}},
            {"Put": {"TableName": table, "Item": {"pk": {"S": "A"}, "sk": {"S": "2"}}, "ConditionExpression": "attribute_exists(pk)"}},
        ])
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "A"}, "sk": {"S": "1"}})["Item"]["n"] == {"N": "1"}
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "B"}, "sk": {"S": "1"}})


def test_a_stream_keeps_its_latest_records_and_reads_on_from_the_oldest_kept(aws, monkeypatch):
    from smarter_local import moto_patches

    from smarter.store import aws as store_aws

    monkeypatch.setattr(moto_patches, "STREAM_RECORDS", 50)
    ddb, streams = store_aws.client("dynamodb"), store_aws.client("dynamodbstreams")
    table = settings().journal_table
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    for i in range(120):
        ddb.put_item(TableName=table, Item={"pk": {"S": "p"}, "sk": {"S": f"{i:04d}"}, "doc": {"S": "{}"}})
    records = streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
    assert [r["dynamodb"]["Keys"]["sk"]["S"] for r in records] == [f"{i:04d}" for i in range(70, 120)]
