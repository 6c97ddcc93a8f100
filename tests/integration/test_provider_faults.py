"""A faulty provider, scripted on loopback: every fault ends within the
request's one deadline with its documented status, and is journaled.

The deadline here is SMARTER_REQUEST_TIMEOUT=5 less SMARTER_JOURNAL_RESERVE=1:
4 s for everything the request does with the provider. The per-call cap
(SMARTER_PROVIDER_TIMEOUT) is set far above it, so the deadline is what ends
a hang or a slow drip."""

from __future__ import annotations

import json
import time

import pytest
from support import API_DOMAIN, invoke, journal_records, prompt

from smarter_local.openai_server import Scripted, completion, error

REQUEST_TIMEOUT = 5.0
RESERVE = 1.0
DEADLINE = REQUEST_TIMEOUT - RESERVE
# What a request may take beyond its deadline: the journal write and the answer
# (against moto on a machine shared with other test runs; 2 s is reserved in AWS).
SLACK = 2.0
SECRET = "sk-test-provider-key"  # the platform's key for the scripted provider (conftest)
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "ping"}]}


@pytest.fixture
def faults(tenant, openai_server, monkeypatch):
    for name, value in {
        "SMARTER_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT),
        "SMARTER_JOURNAL_RESERVE": str(RESERVE),
        "SMARTER_PROVIDER_TIMEOUT": "60",
        "SMARTER_PROVIDER_MAX_RETRIES": "2",
        "SMARTER_MAX_PROVIDER_RESPONSE_BYTES": "100000",
    }.items():
        monkeypatch.setenv(name, value)
    from smarter import config
    from smarter.llm import providers

    config.settings.cache_clear()
    providers.reset()
    assert prompt(tenant, "warm up").status == 200  # the timings below are of a warm container
    return tenant


def always(server, **scripted):
    """Every call (first try and retries) meets the same fault."""
    server.default = Scripted(**scripted)


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def run_prompt(tenant):
    return timed(lambda: prompt(tenant, "Hello"))


def run_passthrough(tenant, body=BODY):
    return timed(
        lambda: invoke("passthrough", "POST", "/v1/passthrough/openai", host=API_DOMAIN, body=body, key=tenant.api_key, scheme="Bearer")
    )


def journaled(result, account, client="-"):
    records = {r["key"]: r for r in journal_records(account, client)}
    record = records[result.body["metadata"]["key"]]
    assert record["status"] == result.status
    return record


def assert_error(result, status, type_):
    assert result.status == status, result.body
    assert result.body["error"]["type"] == type_, result.body
    assert result.body["error"]["status"] == status


SHAPES = {
    "choices_not_objects": {"choices": [1]},
    "message_a_string": {"choices": [{"message": "hi"}]},
    "no_choices": {"choices": []},
    "tool_calls_malformed": {"choices": [{"message": {"role": "assistant", "tool_calls": [{"id": "x", "function": "f"}]}}]},
    "usage_a_list": {**completion("hi"), "usage": [1, 2]},
    "usage_a_string": {**completion("hi"), "usage": "many"},
    "a_list": [completion("hi")],
}


# --- the prompt path ---------------------------------------------------------------


def test_429_with_a_long_retry_after_answers_at_once_with_the_retry_after(faults, openai_server):
    always(openai_server, status=429, body=error(429, "slow down"), headers={"Retry-After": "20", "x-ratelimit-remaining-requests": "0"})
    result, took = run_prompt(faults)
    assert_error(result, 429, "rate_limited")
    assert result.headers["Retry-After"] == "20"
    assert took < 1.5  # never waits 20 s it does not have
    journaled(result, faults.account, faults.client)


def test_429_with_a_short_retry_after_is_retried_within_the_deadline(faults, openai_server):
    openai_server.enqueue(status=429, body=error(429, "slow down"), headers={"Retry-After": "0.3"})
    openai_server.enqueue(body=completion("after the wait"))
    result, took = run_prompt(faults)
    assert result.status == 200
    assert result.body["data"]["chat_completion"]["choices"][0]["message"]["content"] == "after the wait"
    assert 0.3 <= took < DEADLINE


def test_5xx_is_retried_then_502(faults, openai_server):
    always(openai_server, status=503, body=error(503, "overloaded"))
    before = len(openai_server.requests)
    result, took = run_prompt(faults)
    assert_error(result, 502, "provider_error")
    assert "answered 503: overloaded" in result.body["error"]["message"]
    assert len(openai_server.requests) - before == 3  # the try and SMARTER_PROVIDER_MAX_RETRIES=2
    assert took < DEADLINE + SLACK
    journaled(result, faults.account, faults.client)


@pytest.mark.parametrize(
    ("fault", "status", "type_"),
    [
        ({"delay": 30.0, "body": completion("too late")}, 504, "provider_timeout"),  # hang
        ({"drip": 0.3, "body": completion("one byte at a time")}, 504, "provider_timeout"),  # slow drip
        ({"drip": 0.3, "drip_head": True, "body": completion("headers too")}, 504, "provider_timeout"),
        ({"reset": True}, 502, "provider_error"),
        ({"status": 302, "raw": b"", "headers": {"Location": "http://127.0.0.1:9/steal"}}, 502, "provider_error"),
        ({"raw": b""}, 502, "provider_error"),  # empty
        ({"raw": b"<html>bad gateway</html>"}, 502, "provider_error"),  # not JSON
        ({"raw": b"x" * 200_000}, 502, "provider_error"),  # over SMARTER_MAX_PROVIDER_RESPONSE_BYTES
    ],
    ids=["hang", "slow_drip", "slow_drip_headers", "reset", "redirect", "empty", "non_json", "oversize"],
)
def test_faults_end_within_the_deadline_with_their_status(faults, openai_server, fault, status, type_):
    always(openai_server, **fault)
    result, took = run_prompt(faults)
    assert_error(result, status, type_)
    assert took < DEADLINE + SLACK, took
    journaled(result, faults.account, faults.client)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_an_answer_of_the_wrong_shape_is_502(faults, openai_server, shape):
    always(openai_server, body=SHAPES[shape])
    result, _ = run_prompt(faults)
    assert_error(result, 502, "provider_error")
    assert "Traceback" not in json.dumps(result.body)
    journaled(result, faults.account, faults.client)


def test_an_error_echoing_the_key_is_scrubbed_in_the_answer_and_the_journal(faults, openai_server):
    always(openai_server, status=401, body=error(401, f"Incorrect API key provided: {SECRET}. Also Bearer abcdefghijklmnopqrstu."))
    result, _ = run_prompt(faults)
    assert_error(result, 502, "provider_error")
    assert "Incorrect API key provided: [redacted]" in result.body["error"]["message"]
    record = journaled(result, faults.account, faults.client)
    assert SECRET not in json.dumps(result.body) and SECRET not in json.dumps(record)
    assert "abcdefghijklmnopqrstu" not in json.dumps(record)


def test_rounds_stop_at_the_deadline(faults, openai_server):
    """Each answer is slow but in time; the rounds together would overrun."""
    from smarter_local.openai_server import tool_calls

    always(openai_server, delay=1.5, body=tool_calls(("support_info", {"inquiry_type": "hours"})))
    result, took = run_prompt(faults)
    assert_error(result, 504, "provider_timeout")
    assert took < DEADLINE + SLACK


# --- the passthrough -----------------------------------------------------------------


def test_passthrough_passes_the_providers_rate_limit_headers_on(faults, openai_server):
    limits = {"Retry-After": "20", "x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "20s"}
    always(openai_server, status=429, body=error(429, "slow down"), headers=limits)
    result, took = run_passthrough(faults)
    assert result.status == 429
    assert result.body["data"]["body"] == error(429, "slow down")
    for name, value in limits.items():
        assert result.headers[name] == value
    assert took < 1.5
    journaled(result, faults.account)


def test_passthrough_passes_rate_limit_headers_on_success_too(faults, openai_server):
    openai_server.enqueue(body=completion("pong"), headers={"x-ratelimit-remaining-tokens": "999"})
    result, _ = run_passthrough(faults)
    assert result.status == 200
    assert result.headers["x-ratelimit-remaining-tokens"] == "999"


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        ({"delay": 30.0, "body": completion("too late")}, 504),
        ({"drip": 0.3, "body": completion("one byte at a time")}, 504),
        ({"drip": 0.3, "drip_head": True, "body": completion("headers too")}, 504),
        ({"reset": True}, 502),
        ({"status": 302, "raw": b"", "headers": {"Location": "http://127.0.0.1:9/steal"}}, 502),
        ({"raw": b"x" * 200_000}, 502),
    ],
    ids=["hang", "slow_drip", "slow_drip_headers", "reset", "redirect", "oversize"],
)
def test_passthrough_faults_end_within_the_deadline(faults, openai_server, fault, status):
    always(openai_server, **fault)
    result, took = run_passthrough(faults)
    assert result.status == status
    assert result.body["error"]["status"] == status
    assert took < DEADLINE + SLACK, took
    journaled(result, faults.account)


def test_passthrough_returns_a_5xx_as_the_provider_sent_it_without_retrying(faults, openai_server):
    always(openai_server, status=503, body=error(503, "overloaded"))
    before = len(openai_server.requests)
    result, _ = run_passthrough(faults)
    assert result.status == 503
    assert result.body["data"]["body"] == error(503, "overloaded")
    assert len(openai_server.requests) - before == 1


@pytest.mark.parametrize(("raw", "body"), [(b"", ""), (b"<html>hi</html>", "<html>hi</html>")], ids=["empty", "non_json"])
def test_passthrough_returns_empty_and_non_json_bodies_as_text(faults, openai_server, raw, body):
    always(openai_server, raw=raw)
    result, _ = run_passthrough(faults)
    assert result.status == 200
    assert result.body["data"]["body"] == body


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_passthrough_returns_wrong_shapes_unchanged(faults, openai_server, shape):
    always(openai_server, body=SHAPES[shape])
    result, _ = run_passthrough(faults)
    assert result.status == 200
    assert result.body["data"]["body"] == SHAPES[shape]
    record = journaled(result, faults.account)
    # An odd `usage` is not trusted; a 200 is still never free: it counts an upper estimate, and says so.
    assert record["usage_estimated"] == 1
    assert record["usage"]["prompt_tokens"] > 0
    assert record["usage"]["total_tokens"] == record["usage"]["prompt_tokens"] + record["usage"]["completion_tokens"]


def test_passthrough_scrubs_an_error_echoing_the_key(faults, openai_server):
    always(openai_server, status=401, body=error(401, f"Incorrect API key provided: {SECRET}"))
    result, _ = run_passthrough(faults)
    assert result.status == 401
    assert result.body["data"]["body"]["error"]["message"] == "Incorrect API key provided: [redacted]"
    assert SECRET not in json.dumps(journaled(result, faults.account))


def test_passthrough_never_returns_the_platform_key_even_in_a_200(faults, openai_server):
    always(openai_server, body=completion(f"the key you sent me was {SECRET}"))
    result, _ = run_passthrough(faults)
    assert result.status == 200
    assert SECRET not in json.dumps(result.body)


# --- tool calls ----------------------------------------------------------------------


class SleepyKind:
    """A plugin kind whose call outlives any deadline (added like a layer package)."""

    plugin_class = "sleepy"
    manifest_kinds = ("SleepyPlugin",)
    connection_kind = None

    def validate(self, manifest):
        return manifest.get("spec") or {}

    def tool(self, manifest):
        return {"type": "function", "function": {"name": manifest["metadata"]["name"], "parameters": {"type": "object", "properties": {}}}}

    def call(self, manifest, arguments, context):
        time.sleep(min(context.timeout_seconds, 8.0) + 1.0)  # past whatever time it was given
        return "late"


def test_a_tool_call_is_cut_off_at_the_deadline(aws, openai_server, monkeypatch):
    from support import make_tenant

    from smarter import config
    from smarter.llm import plugins
    from smarter_local.openai_server import tool_calls

    installed = dict(plugins.kinds())
    monkeypatch.setattr(plugins, "kinds", lambda: {**installed, "sleepy": SleepyKind()})
    for name, value in {"SMARTER_REQUEST_TIMEOUT": "4", "SMARTER_JOURNAL_RESERVE": "1", "SMARTER_PLUGIN_TIMEOUT": "30"}.items():
        monkeypatch.setenv(name, value)
    config.settings.cache_clear()
    manifest = {"apiVersion": "smarter.sh/v1", "kind": "Plugin", "metadata": {"name": "sleepy", "pluginClass": "sleepy"}, "spec": {"selector": {"directive": "always"}}}
    tenant = make_tenant(plugins=[manifest])
    openai_server.enqueue(body=tool_calls(("sleepy", {})))
    openai_server.enqueue(body=completion("never asked"))
    result, took = run_prompt(tenant)
    assert_error(result, 504, "provider_timeout")
    assert took < 3.0 + SLACK, took  # the deadline is 4 - 1 = 3 s, not the plugin's 30 s
    record = journaled(result, tenant.account, tenant.client)
    assert record["tool_calls"][0]["outcome"] == "timeout"
