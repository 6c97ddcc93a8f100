"""Aurora through the RDS Data API: what is sent (checked with botocore's
Stubber, since moto does not record parameters) and how answers become rows."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from smarter.llm.plugins import PluginContext

ARN = "arn:aws:rds:us-east-1:123456789012:cluster:courses"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:smarter/accounts/3141-5926-5359/aurora-AbCdEf"


@pytest.fixture
def clients(monkeypatch):
    import boto3

    from smarter import cache
    from smarter.store import aws

    cache.clear_all()
    rds = boto3.client("rds-data", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    sm = boto3.client("secretsmanager", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    monkeypatch.setattr(aws, "client", lambda service: {"rds-data": rds, "secretsmanager": sm}[service])
    with Stubber(rds) as rds_stub, Stubber(sm) as sm_stub:
        yield rds_stub, sm_stub
    cache.clear_all()


def _plugin():
    from smarter_plugins.sql import SqlPlugin

    manifest = {
        "apiVersion": "smarter.sh/v1",
        "kind": "SqlPlugin",
        "metadata": {"name": "courses"},
        "spec": {
            "connection": "aurora",
            "sqlData": {
                "description": "courses",
                "sqlQuery": "SELECT code FROM courses WHERE name = {name} AND cost <= {cost} AND open = {open} AND level = {level} OR {missing} IS NULL",
                "parameters": [
                    {"name": "name", "type": "string"},
                    {"name": "cost", "type": "number"},
                    {"name": "open", "type": "boolean"},
                    {"name": "level", "type": "integer"},
                    {"name": "missing", "type": "string"},
                ],
                "limit": 2,
            },
        },
    }
    manifest["spec"] = SqlPlugin().validate(manifest)
    return SqlPlugin(), manifest


def _context():
    conn = {"kind": "SqlConnection", "spec": {"connection": {"dbEngine": "aurora", "resourceArn": ARN, "secret": "aurora", "database": "school"}}}
    return PluginContext("3141-5926-5359", lambda name: conn, lambda name: "", 5.0, ())


def test_arguments_are_sent_as_typed_data_api_parameters_never_in_the_sql(clients):
    rds, sm = clients
    sm.add_response("describe_secret", {"ARN": SECRET_ARN, "Name": "smarter/accounts/3141-5926-5359/aurora"}, {"SecretId": "smarter/accounts/3141-5926-5359/aurora"})
    attack = "x' OR '1'='1"
    rds.add_response(
        "execute_statement",
        {
            "records": [[{"stringValue": "CS101"}], [{"stringValue": "CS102"}], [{"stringValue": "CS103"}]],
            "columnMetadata": [{"name": "code", "label": "code"}],
        },
        {
            "resourceArn": ARN,
            "secretArn": SECRET_ARN,
            "database": "school",
            "includeResultMetadata": True,
            "sql": "SELECT code FROM courses WHERE name = :p_name AND cost <= :p_cost AND open = :p_open AND level = :p_level OR :p_missing IS NULL",
            "parameters": [
                {"name": "p_name", "value": {"stringValue": attack}},
                {"name": "p_cost", "value": {"doubleValue": 9.5}},
                {"name": "p_open", "value": {"booleanValue": True}},
                {"name": "p_level", "value": {"longValue": 2}},
                {"name": "p_missing", "value": {"isNull": True}},
            ],
        },
    )
    kind, manifest = _plugin()
    result = kind.call(manifest, {"name": attack, "cost": 9.5, "open": True, "level": "2"}, _context())
    assert result["rows"] == [{"code": "CS101"}, {"code": "CS102"}]
    assert result["truncated"] is True
    rds.assert_no_pending_responses()


def test_a_missing_secret_is_a_clean_error(clients):
    from smarter.llm.plugins import PluginCallError

    rds, sm = clients
    sm.add_client_error("describe_secret", service_error_code="ResourceNotFoundException", http_status_code=400)
    kind, manifest = _plugin()
    with pytest.raises(PluginCallError, match="does not exist for this account"):
        kind.call(manifest, {}, _context())


def test_data_api_errors_are_clean_errors(clients):
    from smarter.llm.plugins import PluginCallError

    rds, sm = clients
    sm.add_response("describe_secret", {"ARN": SECRET_ARN})
    rds.add_client_error("execute_statement", service_error_code="BadRequestException", service_message="relation does not exist", http_status_code=400)
    kind, manifest = _plugin()
    with pytest.raises(PluginCallError, match="relation does not exist"):
        kind.call(manifest, {}, _context())
