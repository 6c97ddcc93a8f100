"""moto, made to behave like DynamoDB where the local stack and the bench
depend on it. Applied once per process before moto serves a request
(`apply()`); the patches change how moto keeps its state, never what it
answers.

- `fast_transactions`: moto backs up every table a TransactWriteItems
  touches with a deep copy of the whole table, and on a cancelled
  transaction puts the copy in the table's place. The time grows with the
  table, and the memory grows without bound: under a budgeted load 3-4 MB a
  request (126 MB to 6 GB in 638 requests), because every cancelled limit
  reservation swapped in a fresh copy while the old table stayed referenced.
  Here only the items the transaction names are saved, and restored if it is
  cancelled: what DynamoDB does, all or nothing, at the cost of its items.
- `bounded_streams`: moto keeps every stream record of a table for ever
  (DynamoDB trims them after 24 hours); here a shard keeps its latest
  STREAM_RECORDS, far more than the usage pump (one read a second) is ever
  behind.
- `partition_queries`: moto answers a base-table Query by sorting every item
  of the table; DynamoDB reads only the queried partition. Sessions grow the
  table in every run, so a Query is answered from its partition alone.
"""

from __future__ import annotations

import threading
from typing import Any

_applied = False
_lock = threading.Lock()


def apply() -> None:
    global _applied
    with _lock:
        if not _applied:
            fast_transactions()
            bounded_streams()
            partition_queries()
            _applied = True


def fast_transactions() -> None:
    import copy
    import types

    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    real_deepcopy = copy.deepcopy
    # moto's own rollback then puts the same table back (a no-op); ours below restores the items.
    models.copy = types.SimpleNamespace(deepcopy=lambda x, *a: x if isinstance(x, Table) else real_deepcopy(x, *a))
    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = []
        for entry in transact_items:
            op_type, op = next(iter(entry.items()))
            if op.get("TableName") not in self.tables:
                continue  # moto answers ResourceNotFound itself
            table = self.get_table(op["TableName"])
            if op_type == "Put":
                key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                if table.range_key_attr:
                    key[table.range_key_attr] = op["Item"][table.range_key_attr]
            else:
                key = op["Key"]
            try:
                current = self.get_item(op["TableName"], key)
            except Exception:
                continue  # a malformed key: moto refuses the transaction before writing
            saved.append((op["TableName"], key, real_deepcopy(current.to_json()["Attributes"]) if current else None))
        try:
            return original(self, transact_items)
        except Exception:
            for table_name, key, attributes in saved:
                if attributes is None:
                    if self.get_item(table_name, key) is not None:
                        self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, attributes)
            raise

    models.DynamoDBBackend.transact_write_items = transact_write_items


STREAM_RECORDS = 5_000


def bounded_streams() -> None:
    from moto.dynamodb.models.table import StreamShard

    add, get = StreamShard.add, StreamShard.get

    def bounded_add(self: StreamShard, old: Any, new: Any) -> None:
        add(self, old, new)
        excess = len(self.items) - STREAM_RECORDS
        if excess > 0:
            # Sequence numbers stay what they were: the first kept record's is the new start.
            del self.items[:excess]
            self.starting_sequence_number += excess

    def bounded_get(self: StreamShard, start: int, quantity: int) -> list[dict[str, Any]]:
        return get(self, max(start, self.starting_sequence_number), quantity)  # trimmed records are gone, as in DynamoDB

    StreamShard.add = bounded_add
    StreamShard.get = bounded_get


def partition_queries() -> None:
    """Answer a base-table Query from its partition, not a sort of the whole
    table: same results, at a cost that does not grow with other sessions."""
    import inspect

    from moto.dynamodb.models.table import Table

    local = threading.local()
    all_items, query = Table.all_items, Table.query
    signature = inspect.signature(query)

    def partition_items(self: Table) -> list:
        wanted = getattr(local, "partition", None)
        if wanted is None or wanted[0] is not self or not self.range_key_attr:
            return all_items(self)
        return sorted(self.items.get(wanted[1], {}).values(), key=lambda item: item.range_key)

    def partition_query(self: Table, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        hash_key = bound.arguments.get("hash_key")
        if bound.arguments.get("index_name") is None and hash_key is not None:
            local.partition = (self, hash_key)
        try:
            return query(self, *args, **kwargs)
        finally:
            local.partition = None

    Table.all_items = partition_items
    Table.query = partition_query
