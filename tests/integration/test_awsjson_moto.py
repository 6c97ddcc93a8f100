"""The request path's AWS client (smarter/store/awsjson.py) beside botocore's
against moto over its socket: the same calls give the same answers and the
same errors, and a function serves its first request without loading botocore's
client machinery."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from support import API_DOMAIN

from smarter.store import aws as store_aws
from smarter.store import awsjson

ROOT = Path(__file__).resolve().parents[2]


def _plain(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


def _error(call) -> dict:
    with pytest.raises(ClientError) as caught:
        call()
    return {"code": caught.value.response["Error"]["Code"], "type": type(caught.value).__name__,
            "reasons": caught.value.response.get("CancellationReasons")}


def test_dynamodb_answers_and_errors_are_botocores(aws):
    from smarter.config import settings

    ours, theirs = awsjson.Client("dynamodb"), _botocore("dynamodb")
    table = settings().sessions_table
    item = {"pk": {"S": "1#c#k#s"}, "sk": {"S": "0"}, "doc": {"B": b"\x00packed\xff"}, "tags": {"BS": [b"a", b"b"]},
            "n": {"N": "12"}, "m": {"M": {"B": {"S": "a key named B"}, "l": {"L": [{"B": b"x"}, {"BOOL": True}, {"NULL": True}]}}}}
    ours.put_item(TableName=table, Item=item)
    key = {"pk": item["pk"], "sk": item["sk"]}
    got = ours.get_item(TableName=table, Key=key, ConsistentRead=True)
    assert _plain(got) == _plain(theirs.get_item(TableName=table, Key=key, ConsistentRead=True))
    assert got["Item"]["doc"] == {"B": b"\x00packed\xff"}
    query = {"TableName": table, "KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": item["pk"]}}
    assert _plain(ours.query(**query)) == _plain(theirs.query(**query))
    conditional = {"TableName": table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}
    assert _error(lambda: ours.put_item(**conditional)) == _error(lambda: theirs.put_item(**conditional)) == {
        "code": "ConditionalCheckFailedException", "type": "ConditionalCheckFailedException", "reasons": None}
    transaction = {"TransactItems": [{"Put": conditional}]}
    mine, botos = _error(lambda: ours.transact_write_items(**transaction)), _error(lambda: theirs.transact_write_items(**transaction))
    assert mine == botos and mine["code"] == "TransactionCanceledException" and mine["reasons"][0]["Code"] == "ConditionalCheckFailed"
    with pytest.raises(ours.exceptions.TransactionCanceledException):
        ours.transact_write_items(**transaction)
    missing = {"TableName": "no-such-table", "Key": key}
    assert _error(lambda: ours.get_item(**missing))["code"] == _error(lambda: theirs.get_item(**missing))["code"]


def test_secrets_manager_answers_and_errors_are_botocores(aws):
    ours, theirs = awsjson.Client("secretsmanager"), _botocore("secretsmanager")
    ours.create_secret(Name="smarter/accounts/1/x", SecretString=json.dumps({"api_key": "sk-1"}))
    mine, botos = ours.get_secret_value(SecretId="smarter/accounts/1/x"), theirs.get_secret_value(SecretId="smarter/accounts/1/x")
    assert (mine["SecretString"], mine["Name"], mine["ARN"]) == (botos["SecretString"], botos["Name"], botos["ARN"])
    assert _error(lambda: ours.get_secret_value(SecretId="nope")) == _error(lambda: theirs.get_secret_value(SecretId="nope"))
    with pytest.raises(ours.exceptions.ResourceNotFoundException):
        ours.get_secret_value(SecretId="nope")


def test_the_store_hands_out_this_client_where_it_can(aws):
    assert isinstance(aws_client("dynamodb"), awsjson.Client) and isinstance(aws_client("secretsmanager"), awsjson.Client)
    assert not isinstance(aws_client("sts"), awsjson.Client)


@pytest.mark.parametrize("function,path,host_kind", [("passthrough", "/v1/passthrough/openai", "api"), ("prompt", "/", "client")])
def test_a_first_request_is_served_without_botocores_client(aws, tenant, function, path, host_kind):
    """In a fresh interpreter, as a cold Lambda container: the handler serves a
    real API Gateway event with the answer 200, and botocore.client was never imported."""
    from smarter_local.gateway import make_event

    host = API_DOMAIN if host_kind == "api" else tenant.host
    body = {"messages": [{"role": "user", "content": "hi"}]} | ({"model": "gpt-4o-mini"} if function == "passthrough" else {})
    event = make_event("POST", path, {"Host": host, "Content-Type": "application/json", "Authorization": f"Token {tenant.api_key}"},
                       json.dumps(body).encode(), domain=host, resource="/v1/{proxy+}" if function == "passthrough" else "/")
    code = f"""
import json, sys
sys.path.insert(0, "functions/{function}")
import app
from bench.coldstart import Context
event = json.loads(sys.stdin.read())
answer = app.lambda_handler(event, Context("{function}"))
print(json.dumps({{"status": answer["statusCode"], "botocore_client": "botocore.client" in sys.modules,
                   "botocore_session": "botocore.session" in sys.modules}}))
"""
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(event), env={**os.environ, "POWERTOOLS_TRACE_DISABLED": "true"},
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"status": 200, "botocore_client": False, "botocore_session": False}


def aws_client(service: str):
    return store_aws.client(service)


def _botocore(service: str):
    return store_aws.session().create_client(service)
