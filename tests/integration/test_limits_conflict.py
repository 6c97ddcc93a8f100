"""The limits reservation under contention: DynamoDB cancels a
TransactWriteItems with a TransactionConflict reason when another transaction
holds one of its windows. A loopback DynamoDB in front of moto's server
answers the scripted cancellations as DynamoDB sends them, then lets the
transaction through to moto; the counters read back from moto show the
reservation was applied exactly once, and every try carried the same
ClientRequestToken, derived from the journal key and the round."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
from ddb_loopback import in_front_of_moto
from support import journal_records, make_tenant, prompt, static_plugin

from smarter_local.openai_server import completion, tool_calls

CANCELLED = "com.amazonaws.dynamodb.v20120810#TransactionCanceledException"


def _conflict(n_items: int = 2) -> tuple[int, dict]:
    """What DynamoDB answers when the first item (a window) is held by another transaction."""
    reasons = [{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}] + [{"Code": "None"}] * (n_items - 1)
    return 400, {
        "__type": CANCELLED,
        "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict, None]",
        "CancellationReasons": reasons,
    }


@pytest.fixture
def loopback(aws, monkeypatch):
    with in_front_of_moto(aws, monkeypatch, "TransactWriteItems") as server:
        yield server


def _limited_key(tenant, rpm: int = 100) -> str:
    from smarter_admin import manifests

    doc = {"apiVersion": "smarter.sh/v1", "kind": "ApiKey", "metadata": {"name": "limited", "account": tenant.account}, "spec": {"limits": {"requestsPerMinute": rpm}}}
    return manifests.apply(doc)["api_key"]


def _minute_requests() -> int:
    """Requests counted in this minute's windows, as moto has them."""
    from smarter.config import settings
    from smarter.store import aws

    sk = f"m{datetime.now(timezone.utc):%Y%m%d%H%M}"
    items = aws.client("dynamodb").scan(TableName=settings().usage_table)["Items"]
    return sum(int(item.get("requests", {}).get("N", "0")) for item in items if item["pk"]["S"].startswith("W#") and item["sk"]["S"] == sk)


def _expected_token(journal_key: str, round_no: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"smarter:limits:{journal_key}#R{round_no}"))


@pytest.fixture(autouse=True)
def same_minute():
    """Fixed minute windows: keep each test inside one minute."""
    import time

    left = 60 - time.time() % 60
    if left < 8:
        time.sleep(left + 0.05)


def test_a_transaction_conflict_is_retried_and_the_reservation_applied_once(tenant, loopback):
    key = _limited_key(tenant)
    loopback.script = [_conflict()]
    result = prompt(tenant, "Hello", key=key)
    assert result.status == 200, result.body
    assert len(loopback.received) == 2  # the cancelled try and the one that went through
    assert _minute_requests() == 1
    [record] = [r for r in journal_records(tenant.account, tenant.client) if r["key"] == result.body["metadata"]["key"]]
    assert len(record["reservations"]) == 1


def test_every_try_of_a_reservation_carries_the_same_token_from_its_journal_key_and_round(tenant, loopback):
    key = _limited_key(tenant)
    loopback.script = [_conflict(), _conflict()]
    result = prompt(tenant, "Hello", key=key)
    assert result.status == 200, result.body
    tokens = [body["ClientRequestToken"] for _, body in loopback.received]
    assert len(tokens) == 3
    assert set(tokens) == {_expected_token(result.body["metadata"]["key"], 1)}
    assert len(tokens[0]) <= 36  # DynamoDB's limit


def test_each_round_and_each_request_has_its_own_token(aws, loopback, openai_server):
    tenant = make_tenant(plugins=[static_plugin()])
    key = _limited_key(tenant)
    openai_server.enqueue(body=tool_calls(("support_info", {"inquiry_type": "hours"})))
    openai_server.enqueue(body=completion("Open 9 to 5."))
    first = prompt(tenant, "What are your support hours?", key=key)
    second = prompt(tenant, "Hello", key=key)
    assert first.status == 200 and second.status == 200
    tokens = [body["ClientRequestToken"] for _, body in loopback.received]
    first_key, second_key = first.body["metadata"]["key"], second.body["metadata"]["key"]
    assert tokens == [_expected_token(first_key, 1), _expected_token(first_key, 2), _expected_token(second_key, 1)]
    assert _minute_requests() == 2  # a tool round is the same request: counted once


def test_conflicts_past_the_retries_answer_429_and_reserve_nothing(tenant, loopback):
    from smarter.tenancy import limits

    key = _limited_key(tenant)
    loopback.script = [_conflict()] * limits.CONFLICT_RETRIES
    result = prompt(tenant, "Hello", key=key)
    assert result.status == 429, result.body
    assert result.body["error"]["type"] == "rate_limited"
    assert "limits store is busy" in result.body["error"]["message"]
    assert result.headers["Retry-After"] == "1"
    assert len(loopback.received) == limits.CONFLICT_RETRIES
    assert _minute_requests() == 0
