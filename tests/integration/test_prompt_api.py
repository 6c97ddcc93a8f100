"""The prompt API through the real handler with REST API proxy events, moto
over a socket, and the scripted OpenAI-format provider on loopback."""

from __future__ import annotations

import pytest
from support import API_DOMAIN, count_usage, invoke, journal_records, make_tenant, prompt, static_plugin

from smarter_local.openai_server import completion, error, tool_calls


def test_plain_answer_comes_back_in_the_journaled_envelope(tenant, openai_server):
    openai_server.enqueue(body=completion("Hi there!"))
    result = prompt(tenant, "Hello")
    assert result.status == 200
    assert result.body["api"] == "smarter.sh/v1"
    assert result.body["thing"] == "LLMClient"
    assert result.body["metadata"]["command"] == "prompt"
    assert result.body["data"]["chat_completion"]["choices"][0]["message"]["content"] == "Hi there!"
    assert result.body["data"]["usage"] == {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20}
    key = result.body["metadata"]["key"]
    assert result.headers["X-Smarter-Journal-Key"] == key
    records = journal_records(tenant.account, tenant.client)
    assert [r["key"] for r in records] == [key]
    assert records[0]["status"] == 200
    assert records[0]["api_key_id"] == tenant.key_id


def test_provider_receives_system_role_model_and_the_api_key_from_secrets_manager(tenant, openai_server):
    prompt(tenant, "Hello")
    sent = openai_server.requests[-1]
    assert sent["headers"]["authorization"] == "Bearer sk-test-provider-key"
    assert sent["json"]["model"] == "gpt-4o-mini"
    assert sent["json"]["messages"][0] == {"role": "system", "content": "You are helpful."}
    assert sent["json"]["messages"][-1] == {"role": "user", "content": "Hello"}


def test_bearer_scheme_is_accepted_like_token(tenant):
    assert prompt(tenant, "Hello", scheme="Bearer").status == 200


def test_prompt_path_with_and_without_trailing_slash(tenant):
    assert prompt(tenant, "Hello", path="/prompt/").status == 200
    assert prompt(tenant, "Hello", path="/prompt").status == 200


def test_session_key_continues_the_conversation(tenant, openai_server):
    first = prompt(tenant, "My name is Ada.")
    session_key = first.body["metadata"]["session_key"]
    openai_server.requests.clear()
    second = prompt(tenant, "What is my name?", session_key=session_key)
    assert second.status == 200
    assert second.body["metadata"]["session_key"] == session_key
    sent = openai_server.requests[-1]["json"]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[1]["content"] == "My name is Ada."
    assert sent[2]["content"] == "You said: My name is Ada."


def test_unknown_session_key_starts_a_new_session_with_a_new_key(tenant, openai_server):
    result = prompt(tenant, "Hello", session_key="doesnotexist-123")
    assert result.status == 200
    assert result.body["metadata"]["session_key"] != "doesnotexist-123"
    assert [m["role"] for m in openai_server.requests[-1]["json"]["messages"]] == ["system", "user"]


def test_static_plugin_tool_call_is_run_and_fed_back(tenant, openai_server):
    openai_server.enqueue(body=tool_calls(("support_info", {"inquiry_type": "hours"})))
    openai_server.enqueue(body=completion("We are open Monday to Friday, 9 to 5."))
    result = prompt(tenant, "When are you open?")
    assert result.status == 200
    data = result.body["data"]
    assert data["selected_plugins"] == ["support_info"]
    assert data["tool_calls"][0]["plugin"] == "support_info"
    assert data["tool_calls"][0]["arguments"] == {"inquiry_type": "hours"}
    assert data["tool_calls"][0]["outcome"] == "ok"
    assert data["rounds"] == 2
    second = openai_server.requests[-1]["json"]
    assert second["messages"][-1] == {"role": "tool", "tool_call_id": "call_0_support_info", "content": "Monday to Friday, 9 to 5."}
    assert second["tools"][0]["function"]["name"] == "support_info"
    assert data["usage"]["total_tokens"] == 40  # two provider rounds
    record = journal_records(tenant.account, tenant.client)[0]
    assert record["tool_calls"][0]["plugin"] == "support_info"
    assert record["tool_calls"][0]["result_bytes"] == len("Monday to Friday, 9 to 5.")


def test_tool_calls_over_several_rounds(tenant, openai_server):
    openai_server.enqueue(body=tool_calls(("support_info", {"inquiry_type": "hours"})))
    openai_server.enqueue(body=tool_calls(("support_info", {"inquiry_type": "contact"})))
    openai_server.enqueue(body=completion("Done."))
    result = prompt(tenant, "Hours and contact?")
    assert result.status == 200
    assert [c["round"] for c in result.body["data"]["tool_calls"]] == [1, 2]
    assert result.body["data"]["rounds"] == 3


def test_session_keeps_tool_exchange_for_the_next_turn(tenant, openai_server):
    openai_server.enqueue(body=tool_calls(("support_info", {"inquiry_type": "hours"})))
    openai_server.enqueue(body=completion("Open 9 to 5."))
    first = prompt(tenant, "When are you open?")
    prompt(tenant, "Thanks", session_key=first.body["metadata"]["session_key"])
    roles = [m["role"] for m in openai_server.requests[-1]["json"]["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "user"]


@pytest.mark.parametrize(
    ("status", "expected", "type_"),
    [(429, 429, "rate_limited"), (500, 502, "provider_error"), (400, 400, "provider_rejected"), (401, 502, "provider_error")],
)
def test_provider_errors_map_to_clear_statuses_and_are_journaled(tenant, openai_server, status, expected, type_):
    for _ in range(2):  # the first try and the one bounded retry
        openai_server.enqueue(status=status, body=error(status, f"scripted failure {status}"))
    result = prompt(tenant, "Hello")
    assert result.status == expected
    assert result.body["error"]["type"] == type_
    assert f"scripted failure {status}" in result.body["error"]["message"]
    assert "data" not in result.body
    record = journal_records(tenant.account, tenant.client)[0]
    assert record["key"] == result.body["metadata"]["key"]
    assert record["status"] == expected


def test_provider_retries_are_bounded(tenant, openai_server):
    for _ in range(5):
        openai_server.enqueue(status=500, body=error(500, "down"))
    before = len(openai_server.requests)
    assert prompt(tenant, "Hello").status == 502
    assert len(openai_server.requests) - before == 2  # SMARTER_PROVIDER_MAX_RETRIES=1


def test_provider_timeout_is_504(tenant, openai_server, monkeypatch):
    monkeypatch.setenv("SMARTER_PROVIDER_MAX_RETRIES", "0")
    from smarter import config
    from smarter.llm import providers

    config.settings.cache_clear()
    providers.reset()
    openai_server.enqueue(delay=4.0, body=completion("too late"))
    result = prompt(tenant, "Hello")
    assert result.status == 504
    assert result.body["error"]["type"] == "provider_timeout"
    assert journal_records(tenant.account, tenant.client)[0]["status"] == 504


def test_malformed_provider_json_is_502(tenant, openai_server):
    for _ in range(2):
        openai_server.enqueue(raw=b"{not json")
    result = prompt(tenant, "Hello")
    assert result.status == 502
    assert "not JSON" in result.body["error"]["message"]


def test_tool_loop_bound_gives_a_clear_error(tenant, openai_server, monkeypatch):
    monkeypatch.setenv("SMARTER_MAX_TOOL_ROUNDS", "2")
    from smarter import config

    config.settings.cache_clear()
    for _ in range(3):
        openai_server.enqueue(body=tool_calls(("support_info", {"inquiry_type": "hours"})))
    result = prompt(tenant, "loop forever")
    assert result.status == 502
    assert result.body["error"]["type"] == "tool_round_limit"
    record = journal_records(tenant.account, tenant.client)[0]
    assert len(record["tool_calls"]) == 2


def test_missing_provider_key_is_a_clear_error_not_the_offline_provider(aws, openai_server):
    from smarter.store import aws as smarter_aws

    smarter_aws.client("secretsmanager").delete_secret(SecretId="smarter/providers/openai", ForceDeleteWithoutRecovery=True)
    tenant = make_tenant()
    result = prompt(tenant, "Hello")
    assert result.status == 502
    assert result.body["error"]["type"] == "provider_not_configured"
    assert "smarter/providers/openai" in result.body["error"]["message"]
    assert openai_server.requests == []


def test_offline_provider_exercises_the_tool_loop(aws):
    tenant = make_tenant(provider="offline", plugins=[static_plugin(directive="search_terms", terms=["hours"])])
    result = prompt(tenant, "What are your hours?")
    assert result.status == 200
    data = result.body["data"]
    assert data["tool_calls"][0]["arguments"] == {"inquiry_type": "hours"}
    assert "Monday to Friday" in data["chat_completion"]["choices"][0]["message"]["content"]


def test_usage_is_counted_per_account_client_and_day(tenant):
    from smarter.store import usage

    prompt(tenant, "one")
    prompt(tenant, "two")
    assert usage.for_account(tenant.account) == []  # not on the request path
    assert count_usage() == 2
    rows = usage.for_account(tenant.account)
    assert len(rows) == 1
    assert rows[0]["client"] == tenant.client
    assert rows[0]["requests"] == 2
    assert rows[0]["total_tokens"] == 40


def test_a_redelivered_stream_batch_is_not_counted_twice(tenant):
    from support import handler

    from smarter.store import usage
    from smarter_local.gateway import LambdaContext

    prompt(tenant, "one")
    batches = []
    from smarter.config import settings
    from smarter_local.streams import StreamPump

    StreamPump(settings().journal_table, batches.append).drain()
    usage_function = handler("usage")
    assert usage_function(batches[0], LambdaContext("usage")) == {"batchItemFailures": []}
    assert usage_function(batches[0], LambdaContext("usage")) == {"batchItemFailures": []}  # Lambda retrying the same batch
    assert usage.for_account(tenant.account)[0]["requests"] == 1
    prompt(tenant, "two")
    # A batch that holds the counted record again and a new one (Lambda's batches
    # after a retry need not match): only the new one is added.
    assert count_usage() == 2
    assert usage.for_account(tenant.account)[0]["requests"] == 2
    assert usage.for_account(tenant.account)[0]["total_tokens"] == 40


def test_requests_that_never_reached_a_provider_count_no_usage(tenant):
    from smarter.store import usage

    prompt(tenant, "hi", key="smk_wrong")
    prompt(tenant, body={"messages": []})
    count_usage()
    assert usage.for_account(tenant.account) == []


def test_get_is_405_with_allow_header_and_json_hint(tenant):
    result = invoke("prompt", "GET", "/", host=tenant.host)
    assert result.status == 405
    assert result.headers["Allow"] == "POST, OPTIONS"
    assert "POST" in result.body["error"]["message"]
    assert result.body["error"]["type"] == "method_not_allowed"


def test_options_answers_cors_preflight_for_configured_origin(tenant):
    result = invoke(
        "prompt", "OPTIONS", "/", host=tenant.host,
        headers={"Origin": "https://page.example.com", "Access-Control-Request-Method": "POST"},
    )
    assert result.status == 204
    assert result.headers["Access-Control-Allow-Origin"] == "https://page.example.com"
    assert "Authorization" in result.headers["Access-Control-Allow-Headers"]


def test_options_from_another_origin_gets_no_cors_grant(tenant):
    result = invoke(
        "prompt", "OPTIONS", "/", host=tenant.host,
        headers={"Origin": "https://evil.example.net", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in result.headers


def test_path_based_route_on_the_platform_host(tenant):
    path = f"/v1/accounts/{tenant.account}/clients/{tenant.client}/prompt"
    result = prompt(tenant, "Hello", host=API_DOMAIN, path=path)
    assert result.status == 200
    assert journal_records(tenant.account, tenant.client)[0]["key"] == result.body["metadata"]["key"]


def test_each_request_emits_cloudwatch_metrics(tenant, monkeypatch, capsys):
    import json as _json

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    capsys.readouterr()
    prompt(tenant, "Hello", key="smk_wrong")
    lines = [line for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert lines, "no EMF metrics line was printed"
    emf = _json.loads(lines[-1])
    names = {m["Name"] for m in emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"PromptRequests", "ClientErrors", "GatewayOverhead"} <= names
