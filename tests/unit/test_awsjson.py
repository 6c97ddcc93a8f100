"""The request path's AWS client (smarter/store/awsjson.py) against botocore's
behaviour: the same SigV4 signature, botocore's event names, binary values,
and standard-mode retries and errors, answered by a scripted server on loopback."""

from __future__ import annotations

import datetime
import json
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, EndpointConnectionError

from smarter.store import awsjson

NOW = datetime.datetime(2026, 12, 3, 16, 30, 5, tzinfo=datetime.timezone.utc)
CREDS = {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}


@pytest.mark.parametrize("url", ["https://dynamodb.us-east-1.amazonaws.com/", "http://127.0.0.1:5123/"])
@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzEJr//////////token="])
def test_the_signature_is_botocores(url, token, monkeypatch):
    creds = {**CREDS, **({"aws_session_token": token} if token else {})}
    body = b'{"TableName":"t","Key":{"pk":{"S":"ACCOUNT#1"}}}'
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.GetItem"}
    ours = awsjson.sign("POST", url, headers, body, creds, "us-east-1", "dynamodb", now=NOW)

    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: NOW.replace(tzinfo=None))
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    SigV4Auth(Credentials(CREDS["aws_access_key_id"], CREDS["aws_secret_access_key"], token), "dynamodb", "us-east-1").add_auth(request)
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["X-Amz-Date"] == request.headers["X-Amz-Date"]
    assert ours.get("X-Amz-Security-Token") == request.headers.get("X-Amz-Security-Token")


def test_events_match_as_botocores_hierarchy():
    emitter, heard = awsjson.Emitter(), []
    emitter.register("before-call.dynamodb.*", lambda event_name, **_: heard.append(("star", event_name)))
    emitter.register("before-call", lambda event_name, **_: heard.append(("prefix", event_name)))
    emitter.register("before-call.sts.AssumeRole", lambda event_name, **_: heard.append(("other", event_name)))
    emitter.emit("before-call.dynamodb.GetItem")
    assert heard == [("star", "before-call.dynamodb.GetItem"), ("prefix", "before-call.dynamodb.GetItem")]
    first = lambda **_: "answer"  # noqa: E731
    emitter.register("before-send.dynamodb.Query", first, unique_id="u")
    emitter.register("before-send.dynamodb.Query", lambda **_: "again", unique_id="u")  # a unique id registers once
    assert emitter.emit_until_response("before-send.dynamodb.Query") == (first, "answer")
    emitter.unregister("before-send.dynamodb.Query", unique_id="u")
    assert emitter.emit_until_response("before-send.dynamodb.Query") == (None, None)
    called = []
    emitter.register("before-send.dynamodb.Scan", lambda **_: called.append(1) or "first")
    emitter.register("before-send.dynamodb.Scan", lambda **_: called.append(2) or "second")
    assert emitter.emit_until_response("before-send.dynamodb.Scan")[1] == "first" and called == [1]  # the rest not called


def test_only_the_server_standing_events_stop_at_an_answer(scripted):
    """As botocore: an `after-call` (or `provide-client-params`) handler that returns
    something does not keep the next one from hearing the call."""
    client, heard = awsjson.Client("dynamodb"), []
    client.meta.events.register("after-call.dynamodb.Scan", lambda **_: heard.append("client") or "ignored")
    def module_handler(**_):
        heard.append("module")

    awsjson.events.register("after-call.dynamodb.Scan", module_handler)
    try:
        client.scan(TableName="t")
    finally:
        awsjson.events.unregister("after-call.dynamodb.Scan", module_handler)
    assert heard == ["client", "module"]


def test_binary_values_come_back_as_bytes_and_map_keys_named_b_stay_maps():
    wire = {"Item": {"doc": {"B": "aGk="}, "set": {"BS": ["YQ==", "Yg=="]},
                     "m": {"M": {"B": {"S": "a map key named B"}, "inner": {"L": [{"B": "eA=="}]}}}}}
    assert awsjson._decode_binary(wire) == {"Item": {"doc": {"B": b"hi"}, "set": {"BS": [b"a", b"b"]},
                                                    "m": {"M": {"B": {"S": "a map key named B"}, "inner": {"L": [{"B": b"x"}]}}}}}


class Script(BaseHTTPRequestHandler):
    """Answers each POST with the next scripted (status, body, headers) and keeps what it was sent."""

    answers: list[tuple[int, dict, dict]] = []
    seen: list[dict] = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Script.seen.append({"headers": dict(self.headers), "body": json.loads(body)})
        status, answer, headers = Script.answers.pop(0) if Script.answers else (200, {}, {})
        raw = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("x-amzn-RequestId", f"req-{len(Script.seen)}")
        self.send_header("x-amz-crc32", str(headers.pop("crc", zlib.crc32(raw))))
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *_):
        pass


@pytest.fixture
def scripted(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Script)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Script.answers, Script.seen = [], []
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setattr(awsjson, "BACKOFF_BASE", 0.0)
    monkeypatch.setattr(awsjson, "limits", awsjson.Limits())  # the defaults, whatever a CLI test's --request-timeout left
    awsjson.reset()
    yield Script
    server.shutdown()
    awsjson.reset()


def _throttled():
    return (400, {"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException", "message": "slow down"}, {})


def test_a_call_is_the_arguments_as_json_with_botocores_target(scripted):
    scripted.answers = [(200, {"Item": {"doc": {"B": "aGk="}}}, {})]
    out = awsjson.Client("dynamodb").get_item(TableName="t", Key={"pk": {"B": b"\x00\xff"}}, ConsistentRead=True)
    [sent] = scripted.seen
    assert sent["headers"]["X-Amz-Target"] == "DynamoDB_20120810.GetItem"
    assert sent["headers"]["Content-Type"] == "application/x-amz-json-1.0"
    assert sent["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert sent["body"] == {"TableName": "t", "Key": {"pk": {"B": "AP8="}}, "ConsistentRead": True}
    assert out["Item"] == {"doc": {"B": b"hi"}}
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200 and out["ResponseMetadata"]["RequestId"] == "req-1"


def test_throttling_is_retried_then_raised_as_the_modelled_client_error(scripted):
    scripted.answers = [_throttled(), _throttled(), (200, {"Count": 0, "Items": []}, {})]
    out = awsjson.Client("dynamodb").query(TableName="t")
    assert out["Count"] == 0 and out["ResponseMetadata"]["RetryAttempts"] == 2
    client = awsjson.Client("dynamodb")
    scripted.answers = [_throttled(), _throttled(), _throttled()]
    with pytest.raises(client.exceptions.ProvisionedThroughputExceededException) as caught:
        client.query(TableName="t")
    assert isinstance(caught.value, ClientError)
    assert caught.value.response["Error"] == {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}
    assert len(scripted.seen) == 6


def test_a_cancelled_transaction_carries_its_reasons_and_is_not_retried(scripted):
    reasons = [{"Code": "None"}, {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}]
    scripted.answers = [(400, {"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                               "message": "Transaction cancelled", "CancellationReasons": reasons}, {})]
    client = awsjson.Client("dynamodb")
    with pytest.raises(client.exceptions.TransactionCanceledException) as caught:
        client.transact_write_items(TransactItems=[])
    assert caught.value.response["CancellationReasons"] == reasons
    assert len(scripted.seen) == 1


def test_server_errors_and_a_bad_checksum_are_retried(scripted):
    scripted.answers = [(500, {"__type": "InternalServerError", "message": "oops"}, {}), (200, {"Items": []}, {"crc": 1}),
                        (200, {"Items": [], "Count": 0}, {})]
    assert awsjson.Client("dynamodb").scan(TableName="t")["Count"] == 0
    assert len(scripted.seen) == 3


def test_a_request_error_is_not_retried(scripted):
    scripted.answers = [(400, {"__type": "com.amazonaws.dynamodb.v20120810#ValidationException", "message": "bad key"}, {})]
    client = awsjson.Client("dynamodb")
    with pytest.raises(ClientError) as caught:
        client.get_item(TableName="t", Key={})
    assert caught.value.response["Error"]["Code"] == "ValidationException" and len(scripted.seen) == 1


def test_a_before_call_handler_answers_in_place_of_the_server(scripted):
    client = awsjson.Client("dynamodb")

    def answer(params, model, **_):
        assert model.name == "PutItem" and json.loads(params["body"])["TableName"] == "t"
        return awsjson.Http(400, {}, b""), {"Error": {"Code": "ConditionalCheckFailedException", "Message": "injected"}}

    client.meta.events.register("before-call.dynamodb.PutItem", answer)
    with pytest.raises(client.exceptions.ConditionalCheckFailedException):
        client.put_item(TableName="t", Item={})
    assert scripted.seen == []


def test_a_refused_connection_is_botocores_endpoint_error(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setattr(awsjson, "BACKOFF_BASE", 0.0)
    monkeypatch.setattr(awsjson, "limits", awsjson.Limits())
    awsjson.reset()
    with pytest.raises(EndpointConnectionError):
        awsjson.Client("secretsmanager", CREDS).get_secret_value(SecretId="x")


@pytest.mark.parametrize("change", [
    {"AWS_ACCESS_KEY_ID": None}, {"AWS_REGION": "cn-north-1"}, {"AWS_USE_FIPS_ENDPOINT": "true"},
    {"SMARTER_AWS_CLIENT": "botocore"},
])
def test_botocore_serves_what_this_client_cannot(change, monkeypatch):
    from smarter.store import aws

    base = {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}
    for name in ("AWS_USE_FIPS_ENDPOINT", "SMARTER_AWS_CLIENT", "LAMBDA_TASK_ROOT", "POWERTOOLS_TRACE_DISABLED", "AWS_SAM_LOCAL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in base.items():
        monkeypatch.setenv(name, value)
    assert awsjson.usable("dynamodb") and not awsjson.usable("sts")
    for name, value in change.items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)
    assert not awsjson.usable("dynamodb")
    aws.reset()
    try:
        assert not isinstance(aws.client("dynamodb"), awsjson.Client)
    finally:
        aws.reset()


def test_a_traced_function_records_a_subsegment_per_call(scripted, monkeypatch):
    """With X-Ray on, each call is an `aws` subsegment named for the service,
    with operation, region, table, request id and status, as the SDK's botocore patch records it."""
    from aws_xray_sdk.core import xray_recorder
    from aws_xray_sdk.core.context import Context

    monkeypatch.setattr(awsjson, "_recorder", lambda: xray_recorder)
    xray_recorder.configure(context=Context(), sampling=False, context_missing="LOG_ERROR")
    segment = xray_recorder.begin_segment("test")
    try:
        scripted.answers = [(200, {"Item": {}}, {}), _throttled(), _throttled(), _throttled()]
        client = awsjson.Client("dynamodb")
        client.get_item(TableName="smarter-config", Key={})
        with pytest.raises(ClientError):
            client.query(TableName="smarter-config")
    finally:
        xray_recorder.end_segment()
    ok, failed = segment.subsegments
    assert (ok.name, ok.namespace) == ("DynamoDB", "aws")
    assert ok.aws == {"operation": "GetItem", "region": "us-east-1", "request_id": "req-1", "table_name": "smarter-config"}
    assert ok.http["response"]["status"] == 200
    assert failed.aws["operation"] == "Query" and failed.http["response"]["status"] == 400
    assert failed.cause["exceptions"][0].type == "ProvisionedThroughputExceededException"


def test_a_paginator_follows_the_listing_token(scripted):
    scripted.answers = [(200, {"Items": [{"n": {"N": "1"}}], "LastEvaluatedKey": {"pk": {"S": "a"}}}, {}),
                        (200, {"Items": [{"n": {"N": "2"}}]}, {})]
    pages = list(awsjson.Client("dynamodb").get_paginator("scan").paginate(TableName="t"))
    assert [p["Items"] for p in pages] == [[{"n": {"N": "1"}}], [{"n": {"N": "2"}}]]
    assert [s["body"] for s in scripted.seen] == [{"TableName": "t"}, {"TableName": "t", "ExclusiveStartKey": {"pk": {"S": "a"}}}]
