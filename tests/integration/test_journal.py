"""The journal keeps every record: large payloads go to S3, a failed write is not lost."""

from __future__ import annotations

import json

from support import journal_records, prompt


def test_a_payload_over_the_item_limit_goes_to_s3_and_the_record_points_to_it(tenant, openai_server):
    from smarter.store import aws
    from smarter_local.openai_server import completion

    openai_server.enqueue(body=completion("y" * 500_000))
    result = prompt(tenant, "x" * 100)
    assert result.status == 200
    record = journal_records(tenant.account, tenant.client)[0]
    assert record["key"] == result.body["metadata"]["key"]
    uri = record["payload_s3"]
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    stored = json.loads(aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert stored["response"]["data"]["chat_completion"]["choices"][0]["message"]["content"] == "y" * 500_000
    assert stored["status"] == 200


def test_a_failed_dynamodb_write_lands_in_s3_instead(tenant, monkeypatch):
    from smarter.store import aws, journal

    def refuse(writes):
        raise RuntimeError("DynamoDB is down")

    monkeypatch.setattr(journal, "_batch_write", refuse)
    result = prompt(tenant, "hello")
    assert result.status == 200
    key = result.body["metadata"]["key"]
    listing = aws.client("s3").list_objects_v2(Bucket="smarter-journal", Prefix=f"journal/_unwritten/{tenant.account}/{tenant.client}/")
    assert [o["Key"] for o in listing["Contents"]] == [f"journal/_unwritten/{tenant.account}/{tenant.client}/{key}.json"]
    kept = json.loads(aws.client("s3").get_object(Bucket="smarter-journal", Key=listing["Contents"][0]["Key"])["Body"].read())
    assert kept["record"]["key"] == key and kept["record"]["status"] == 200
    # the new session's messages are kept with it, for the replay
    assert {entry["table"] for entry in kept["session_items"]} == {"smarter-sessions"}


def test_long_sessions_are_many_small_items_and_the_window_bounds_what_is_read(tenant, openai_server, monkeypatch):
    monkeypatch.setenv("SMARTER_SESSION_WINDOW", "6")
    from smarter import config

    config.settings.cache_clear()
    session_key = prompt(tenant, "turn 0").body["metadata"]["session_key"]
    for turn in range(1, 5):
        assert prompt(tenant, f"turn {turn}", session_key=session_key).status == 200
    sent = openai_server.requests[-1]["json"]["messages"]
    assert len(sent) == 1 + 6 + 1  # system, the window, the new message
    assert sent[-1]["content"] == "turn 4"
    from smarter.store import aws

    items = aws.client("dynamodb").query(
        TableName="smarter-sessions",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"{tenant.account}#{tenant.client}#{tenant.key_id}#{session_key}"}},
    )["Items"]
    # Every message kept, one small item per request (its two messages) since issue 29.
    assert len(items) == 5
    assert sum(len(json.loads(item["msgs"]["S"])) for item in items) == 10
    assert all("expires_at" in item for item in items)


def test_journal_records_expire_by_ttl(tenant):
    from smarter.store import aws

    prompt(tenant, "hello")
    item = aws.client("dynamodb").scan(TableName="smarter-journal")["Items"][0]
    assert int(item["expires_at"]["N"]) > 0


def test_a_client_s_records_spread_over_shards_and_are_listed_newest_first_one_query_a_shard(tenant):
    from smarter.config import settings
    from smarter.store import aws, journal

    keys = [prompt(tenant, f"hello {i}").body["metadata"]["key"] for i in range(12)]
    items = aws.client("dynamodb").scan(TableName=settings().journal_table)["Items"]
    assert len({item["pk"]["S"] for item in items}) > 1  # more than one partition key for one client
    assert all(item["pk"]["S"].startswith(f"{tenant.account}#{tenant.client}#") for item in items)
    calls: list[str] = []
    ddb = aws.client("dynamodb")

    def on_call(model, **_):
        calls.append(model.name)

    ddb.meta.events.register("before-call.dynamodb.*", on_call)
    try:
        listed = journal.recent(tenant.account, tenant.client, limit=5)
        assert calls == ["Query"] * journal.JOURNAL_SHARDS  # the summaries of each shard's newest: one call a shard
        full = journal.recent(tenant.account, tenant.client, limit=5, full=True)
    finally:
        ddb.meta.events.unregister("before-call.dynamodb.*", on_call)
    assert [r["key"] for r in listed] == keys[::-1][:5]
    assert calls == ["Query"] * (2 * journal.JOURNAL_SHARDS)  # whole records: the same Queries reading the document
    assert [r["key"] for r in full] == keys[::-1][:5]
    newest = listed[0]
    assert (newest["status"], newest["command"], newest["method"], newest["path"]) == (200, "prompt", "POST", "/")
    assert newest["durations"]["total_ms"] > 0 and newest["usage"]["total_tokens"] > 0
    assert "request" not in newest and "response" not in newest  # the record itself is one GetItem away
    assert full[0]["response"]["metadata"]["key"] == keys[-1]
    assert journal.get(tenant.account, tenant.client, keys[3])["key"] == keys[3]


def test_a_plain_prompt_record_is_one_write_unit_and_reads_back_whole(tenant, openai_server):
    """The item as DynamoDB sizes it (bench/cost.py's arithmetic): under 1 KB with the
    document packed, where its JSON text made it about 1.9 KB (two write units)."""
    from bench.cost import item_size

    from smarter.config import settings
    from smarter.store import aws, journal

    result = prompt(tenant, "Hello there, how are you today?")
    [item] = aws.client("dynamodb").scan(TableName=settings().journal_table)["Items"]
    assert "B" in item["doc"]
    assert item_size(item) <= 1024
    assert "client_pk" not in item  # no index entry: nothing more is written for the record
    record = journal.get(tenant.account, tenant.client, result.body["metadata"]["key"])
    assert record["response"] == result.body
    assert record["request"]["body"]["messages"][0]["content"] == "Hello there, how are you today?"


def test_a_record_written_as_json_text_before_packing_is_still_read(tenant):
    from smarter.config import settings
    from smarter.store import aws, journal

    key = "20261129T120000000Z-00000000000000a0"
    doc = {"key": key, "status": 200, "account": tenant.account, "client": tenant.client}
    aws.client("dynamodb").put_item(TableName=settings().journal_table, Item={
        "pk": {"S": f"{tenant.account}#{tenant.client}#{journal.shard_of(key)}"}, "sk": {"S": key},
        "client_pk": {"S": f"{tenant.account}#{tenant.client}"}, "doc": {"S": json.dumps(doc)}, "status": {"N": "200"}})
    assert journal.get(tenant.account, tenant.client, key) == doc
    assert journal.recent(tenant.account, tenant.client, full=True) == [doc]
