"""The `smarter` admin CLI against DynamoDB on moto."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from support import count_usage

from smarter_admin.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ACCOUNT = "3141-5926-5359"


def run(capsys, *args) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def demo(aws, capsys, monkeypatch):
    monkeypatch.setenv("SMARTER_ACCOUNT", ACCOUNT)
    for name in ("demo-account.yaml", "demo-plugin-support-info.yaml", "demo-client-customer-support.yaml"):
        code, out, err = run(capsys, "apply", "-f", str(EXAMPLES / name))
        assert code == 0, err


def test_apply_the_examples_then_get_and_describe(demo, capsys):
    code, out, _ = run(capsys, "get", "clients", "-o", "table")
    assert out.split() == ["customer-support"]
    code, out, _ = run(capsys, "describe", "plugin", "support_info", "-o", "json")
    described = json.loads(out)
    assert described["tool"]["function"]["name"] == "support_info"
    assert described["tool"]["function"]["parameters"]["properties"]["inquiry_type"]["enum"] == ["hours", "contact", "refunds"]


def test_apply_accepts_json_and_the_chatbot_kind(demo, capsys, tmp_path):
    manifest = {"apiVersion": "smarter.sh/v1", "kind": "Chatbot", "metadata": {"name": "sales"}, "spec": {"config": {"provider": "offline"}}}
    path = tmp_path / "bot.json"
    path.write_text(json.dumps(manifest))
    code, out, _ = run(capsys, "apply", "-f", str(path))
    assert code == 0
    assert "LLMClient/sales applied" in out


def test_a_multi_document_file_is_applied_in_dependency_order(aws, capsys, tmp_path):
    docs = [yaml.safe_load((EXAMPLES / n).read_text()) for n in ("demo-client-customer-support.yaml", "demo-plugin-support-info.yaml", "demo-account.yaml")]
    path = tmp_path / "tenant.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    code, out, err = run(capsys, "apply", "-f", str(path))
    assert code == 0, err
    assert out.splitlines() == ["Account/3141-5926-5359 applied", "Plugin/support_info applied", "LLMClient/customer-support applied"]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"spec": {"config": {"defaultTemperature": 7}}}, "spec.config.defaultTemperature"),
        ({"spec": {"config": {"provider": "nosuch"}}}, "spec.config.provider: unknown provider"),
        ({"spec": {"plugins": ["missing_plugin"]}}, "spec.plugins.0: no plugin named 'missing_plugin'"),
        ({"metadata": {"name": "Not_A_Label"}}, "metadata.name"),
        ({"metadata": {"name": "ok", "account": "9999-9999-9999"}}, "the account 9999-9999-9999 does not exist"),
    ],
)
def test_invalid_manifests_are_refused_naming_the_field(demo, capsys, tmp_path, patch, message):
    doc = {"apiVersion": "smarter.sh/v1", "kind": "LLMClient", "metadata": {"name": "bot"}, "spec": {"config": {"provider": "offline"}}}
    for section, values in patch.items():
        doc[section] = {**doc[section], **values}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    code, _, err = run(capsys, "apply", "-f", str(path))
    assert code == 2
    assert message in err


def test_apikey_create_shows_the_secret_once_and_stores_only_a_hash(demo, capsys):
    from smarter.store import aws
    from smarter.tenancy import auth

    code, out, _ = run(capsys, "apikey", "create", "ci-key", "--client", "customer-support", "--expires-in-days", "7")
    assert code == 0
    secret = re.search(r"API key \(shown once, store it now\): (\S+)", out).group(1)
    items = aws.client("dynamodb").scan(TableName="smarter-config")["Items"]
    assert secret not in json.dumps(items)
    assert any(item["pk"]["S"] == f"APIKEY#{auth.hash_key(secret)}" for item in items)
    code, out, _ = run(capsys, "get", "apikeys", "-o", "json")
    listed = json.loads(out)[0]
    assert listed["clients"] == ["customer-support"] and listed["expires_at"]
    assert "key_hash" not in listed


def test_apikey_revoke(demo, capsys):
    run(capsys, "apikey", "create", "temp")
    code, out, _ = run(capsys, "apikey", "revoke", "temp")
    assert code == 0 and "revoked at" in out
    code, out, _ = run(capsys, "get", "apikeys", "-o", "json")
    assert json.loads(out)[0]["revoked_at"]


def test_prompt_from_the_terminal_is_answered_and_journaled(demo, capsys):
    code, out, err = run(capsys, "prompt", "customer-support", "What are your support hours?")
    assert code == 0
    assert "Monday to Friday" in out
    assert "[tool support_info" in err
    key = re.search(r"journal key: (\S+)", err).group(1)
    code, out, _ = run(capsys, "journal", "customer-support", key, "-o", "json")
    assert json.loads(out)["status"] == 200


def test_delete_client_and_account(demo, capsys):
    assert run(capsys, "delete", "client", "customer-support")[0] == 0
    code, _, err = run(capsys, "delete", "client", "customer-support")
    assert code == 1 and "no client named" in err
    assert run(capsys, "delete", "account", ACCOUNT)[0] == 0
    code, out, _ = run(capsys, "get", "accounts", "-o", "json")
    assert json.loads(out) == []


def test_usage_report(demo, capsys):
    run(capsys, "prompt", "customer-support", "hello")
    count_usage()
    code, out, _ = run(capsys, "usage", "-o", "json")
    rows = json.loads(out)
    assert rows[0]["client"] == "customer-support" and rows[0]["requests"] == 1
    assert rows[0]["key"] and rows[0]["day"] and "cost_usd" in rows[0]


def test_usage_in_dollars_per_key_client_day_and_account(demo, capsys):
    from decimal import Decimal

    run(capsys, "prompt", "customer-support", "hello")
    run(capsys, "prompt", "customer-support", "again")
    count_usage()
    for by, field in (("key", "key"), ("client", "client"), ("day", "day"), ("account", "account")):
        code, out, _ = run(capsys, "usage", "--by", by, "-o", "json")
        [row] = json.loads(out)
        assert code == 0 and row[field] and row["requests"] == 2
        # The demo account prices its offline model like gpt-4o-mini.
        assert Decimal(row["cost_usd"]) > 0
    code, out, _ = run(capsys, "usage", "--by", "account", "-o", "table")
    assert "cost_usd" in out


def test_the_demo_tenant_answers_with_rate_limit_headers(demo):
    from support import API_DOMAIN, invoke

    from smarter_admin import manifests

    key = manifests.apply({"apiVersion": "smarter.sh/v1", "kind": "ApiKey", "metadata": {"name": "demo-headers", "account": ACCOUNT}, "spec": {}})["api_key"]
    result = invoke("prompt", "POST", "/", host=f"customer-support.{ACCOUNT}.{API_DOMAIN}", body={"messages": [{"role": "user", "content": "hi"}]}, key=key)
    assert result.status == 200
    assert result.headers["x-ratelimit-limit-requests"] == "60"
    assert result.headers["x-ratelimit-limit-tokens"] == "100000"
    assert int(result.headers["x-ratelimit-remaining-tokens"]) < 100000
