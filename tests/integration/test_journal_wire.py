"""The journal's BatchWriteItem as one signed JSON POST (smarter.store.ddb_wire):
what it writes to moto's server reads back identically through botocore; a
loopback DynamoDB in front of moto answers with UnprocessedItems, throttling
and server errors (retried) and a ValidationException (the record is kept in
the log and S3); the signature is made with the session's credentials."""

from __future__ import annotations

import json
import logging
import re

import pytest
from ddb_loopback import in_front_of_moto
from support import journal_records, prompt


@pytest.fixture
def loopback(aws, monkeypatch):
    """DynamoDB behind the loopback server: the wire path must pick up the same endpoint as botocore."""
    with in_front_of_moto(aws, monkeypatch, "BatchWriteItem") as server:
        yield server


@pytest.fixture
def wire_calls(monkeypatch):
    """The operations sent through the wire path (its observers, as the bench's counter uses)."""
    from smarter.store import ddb_wire

    calls: list[str] = []
    monkeypatch.setattr(ddb_wire, "observers", [calls.append])
    return calls


def _items(n: int = 3, *, blob: bool = True) -> list[tuple[str, dict]]:
    from smarter.config import settings
    from smarter.store import journal

    doc = {"key": journal.new_key(), "status": 200, "account": "a", "client": "c", "request": {"body": {"é": "ünïcode ✓", "n": 1}},
           "response": {"text": "x" * 5000}, "tool_calls": [], "usage": {}, "durations": {}}
    writes = [(settings().journal_table, journal._journal_item("a#c", doc))]
    for i in range(n - 1):
        writes.append((settings().sessions_table, {
            "pk": {"S": f"a#c#session-{doc['key']}"}, "sk": {"S": f"m{i:04d}"},
            "message": {"S": json.dumps({"role": "user", "content": f"hello ✓ {i}"})},
            "tokens": {"N": str(10 + i)}, "flags": {"BOOL": True}, "nothing": {"NULL": True},
            "list": {"L": [{"S": "a"}, {"N": "1.5"}]}, "map": {"M": {"k": {"S": "v"}}},
            **({"blob": {"B": "aGVsbG8="}} if blob else {}),  # base64 on the wire, bytes through botocore
        }))
    return writes


def _read_back(writes: list[tuple[str, dict]]) -> None:
    from smarter.store import aws

    ddb = aws.client("dynamodb")
    for table, item in writes:
        got = ddb.get_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]}, ConsistentRead=True)["Item"]
        expected = {k: ({"B": b"hello"} if "B" in v else v) for k, v in item.items()}  # botocore decodes binary
        assert got == expected


def test_what_the_wire_path_writes_botocore_reads_back_identically(aws, wire_calls):
    from smarter.store import journal

    writes = _items(3)
    journal._batch_write(writes)
    assert wire_calls == ["dynamodb.BatchWriteItem"]
    _read_back(writes)


def test_more_than_25_items_are_several_calls(aws, wire_calls):
    from smarter.store import journal

    writes = _items(30)
    journal._batch_write(writes)
    assert wire_calls == ["dynamodb.BatchWriteItem"] * 2
    _read_back(writes)


def test_a_prompt_s_record_and_session_messages_go_through_the_wire_path(tenant, wire_calls):
    from smarter.config import settings
    from smarter.store import aws

    result = prompt(tenant, "hello", session_key="wire-session")
    assert result.status == 200
    assert wire_calls == ["dynamodb.BatchWriteItem"]
    [record] = journal_records(tenant.account, tenant.client)
    assert record["key"] == result.body["metadata"]["key"] and record["status"] == 200
    items = aws.client("dynamodb").scan(TableName=settings().sessions_table)["Items"]
    assert len(items) >= 2  # the user's message and the answer


def test_unprocessed_items_throttling_and_5xx_are_retried(loopback, wire_calls, monkeypatch):
    from smarter.store import journal

    monkeypatch.setattr(journal.time, "sleep", lambda s: None)
    writes = _items(3)
    left = {writes[1][0]: [{"PutRequest": {"Item": writes[1][1]}}]}
    loopback.script = [
        (200, {"UnprocessedItems": left}),
        (400, {"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException", "message": "slow down"}),
        (400, {"__type": "com.amazon.coral.availability#ThrottlingException", "message": "Rate exceeded"}),
        (500, {"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": "oops"}),
    ]
    journal._batch_write(writes)
    bodies = [body for _, body in loopback.received]
    assert len(bodies) == 5  # four scripted answers, then moto's
    assert len(wire_calls) == 5
    assert sum(len(v) for v in bodies[0]["RequestItems"].values()) == 3
    assert all(body == {"RequestItems": left} for body in bodies[1:])  # only what was left, after the first answer
    _read_back(writes[1:2])


def test_throttling_past_the_budget_raises_the_aws_error(loopback, monkeypatch):
    from botocore.exceptions import ClientError

    from smarter.store import journal

    monkeypatch.setattr(journal.time, "sleep", lambda s: None)
    loopback.script = [(400, {"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException", "message": "slow down"})] * 6
    with pytest.raises(ClientError) as raised:
        journal._batch_write(_items(1))
    assert raised.value.response["Error"] == {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}
    assert len(loopback.received) == 5 and len(loopback.script) == 1


def test_a_validation_error_is_not_retried_and_finish_keeps_the_record_in_the_log_and_s3(tenant, loopback, caplog):
    from smarter.config import settings
    from smarter.store import aws

    loopback.script = [(400, {"__type": "com.amazon.coral.validate#ValidationException", "message": "Item size has exceeded the maximum allowed size"})]
    caplog.set_level(logging.ERROR)
    result = prompt(tenant, "hello")
    assert result.status == 200
    key = result.body["metadata"]["key"]
    assert len(loopback.received) == 1  # not retried
    prefix = f"journal/_unwritten/{tenant.account}/{tenant.client}/"
    listing = aws.client("s3").list_objects_v2(Bucket=settings().journal_bucket, Prefix=prefix)
    assert [o["Key"] for o in listing["Contents"]] == [f"{prefix}{key}.json"]
    kept = json.loads(aws.client("s3").get_object(Bucket=settings().journal_bucket, Key=f"{prefix}{key}.json")["Body"].read())
    assert kept["record"]["key"] == key
    logged = [r for r in caplog.records if getattr(r, "journal_key", None) == key and getattr(r, "journal_record", None)]
    assert logged and json.loads(logged[0].journal_record)["key"] == key
    failure = [r for r in caplog.records if r.exc_info and "ValidationException" in str(r.exc_info[1])]
    assert failure, "the AWS error type is in the logged exception"
    text = "\n".join(r.getMessage() + str(r.exc_info and r.exc_info[1]) for r in caplog.records)
    assert "AWS4-HMAC-SHA256" not in text and "Signature=" not in text  # never the signed headers
    assert journal_records(tenant.account, tenant.client) == []


def test_the_signature_uses_the_session_s_credentials(loopback, monkeypatch):
    from smarter.store import aws, journal

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDWIRETEST1234")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-wire")
    aws.reset()
    journal._batch_write(_items(1))
    [(headers, _)] = loopback.received
    headers = {k.lower(): v for k, v in headers.items()}
    assert re.fullmatch(
        r"AWS4-HMAC-SHA256 Credential=AKIDWIRETEST1234/\d{8}/us-east-1/dynamodb/aws4_request, "
        r"SignedHeaders=[a-z0-9;-]*content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature=[0-9a-f]{64}",
        headers["authorization"],
    ), headers["authorization"]
    assert headers["x-amz-security-token"] == "session-token-wire"
    assert headers["x-amz-target"] == "DynamoDB_20120810.BatchWriteItem"
    assert headers["content-type"] == "application/x-amz-json-1.0"
    assert re.fullmatch(r"\d{8}T\d{6}Z", headers["x-amz-date"])


def test_the_signature_verifies_with_the_secret_key(loopback, monkeypatch):
    """Re-sign what the loopback received, at the same instant, with botocore's
    signer and the secret: the same Signature, so the body and headers went out as signed."""
    import datetime

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from smarter.store import journal

    journal._batch_write(_items(2))
    [(headers, body)] = loopback.received
    headers = {k.lower(): v for k, v in headers.items()}
    stamp = datetime.datetime.strptime(headers["x-amz-date"], "%Y%m%dT%H%M%SZ")
    request = AWSRequest(method="POST", url=loopback.url + "/", data=json.dumps(body, separators=(",", ":")).encode(),
                         headers={"Content-Type": headers["content-type"], "X-Amz-Target": headers["x-amz-target"]})

    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: stamp)
    SigV4Auth(Credentials("testing", "testing"), "dynamodb", "us-east-1").add_auth(request)
    assert request.headers["Authorization"].rsplit("Signature=", 1)[1] == headers["authorization"].rsplit("Signature=", 1)[1]


def test_without_credentials_or_with_the_setting_off_botocore_writes_it(aws, wire_calls, monkeypatch):
    from smarter import config
    from smarter.store import aws as store_aws
    from smarter.store import ddb_wire, journal

    ddb = store_aws.client("dynamodb")
    sent: list[str] = []
    ddb.meta.events.register("before-call.dynamodb.BatchWriteItem", lambda **kw: sent.append("botocore"))

    with monkeypatch.context() as patched:
        patched.setattr(store_aws.session(), "get_credentials", lambda: None)
        patched.setattr(ddb_wire, "_built", None)
        writes = _items(2, blob=False)
        journal._batch_write(writes)
    assert sent == ["botocore"] and wire_calls == []
    _read_back(writes)

    monkeypatch.setenv("SMARTER_JOURNAL_WIRE", "off")
    config.settings.cache_clear()
    journal._batch_write(_items(2, blob=False))
    assert sent == ["botocore", "botocore"] and wire_calls == []
    config.settings.cache_clear()
