"""What Lambda's DynamoDB event source mapping does, for the local stack and
the tests: read a table's stream shard by shard, in order, and hand the
records to a function in batches."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any, Callable

BATCH = 100


class StreamPump:
    def __init__(self, table: str, deliver: Callable[[dict[str, Any]], Any]):
        self.table = table
        self.deliver = deliver
        self._positions: dict[str, str] = {}  # shard id -> last sequence number handed over
        self._lock = threading.Lock()

    def drain(self) -> int:
        """Hand over every record not handed over yet; how many there were."""
        from smarter.store import aws

        with self._lock:
            arn = aws.client("dynamodb").describe_table(TableName=self.table)["Table"].get("LatestStreamArn")
            if not arn:
                return 0
            streams = aws.client("dynamodbstreams")
            delivered = 0
            for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
                shard_id = shard["ShardId"]
                after = self._positions.get(shard_id)
                kwargs = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after} if after else {"ShardIteratorType": "TRIM_HORIZON"}
                iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id, **kwargs)["ShardIterator"]
                while iterator:
                    out = streams.get_records(ShardIterator=iterator, Limit=BATCH)
                    records = [_as_event_record(r, arn) for r in out.get("Records", [])]
                    if not records:
                        break
                    self.deliver({"Records": records})
                    self._positions[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
                    delivered += len(records)
                    iterator = out.get("NextShardIterator")
            return delivered

    def run_in_thread(self, interval: float = 1.0) -> threading.Event:
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(interval):
                try:
                    self.drain()
                except Exception as exc:  # keep pumping, like the event source mapping's retries
                    print(f"usage stream pump: {exc.__class__.__name__}: {exc}", flush=True)

        threading.Thread(target=loop, daemon=True, name="usage-stream-pump").start()
        return stop


def _as_event_record(record: dict[str, Any], arn: str) -> dict[str, Any]:
    """botocore's record as the Lambda event carries it (times as epoch seconds)."""
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        change["ApproximateCreationDateTime"] = created.timestamp()
    return {**record, "dynamodb": change, "eventSourceARN": arn}
