"""The tool-call loop through the prompt API: rounds, parallel calls, failing
tools, the round bound, exact tool names, and what the journal keeps.

A `probe` plugin kind is added for these tests (the same way a package in
the layer adds one): it echoes, raises, waits at a barrier or sleeps."""

from __future__ import annotations

import json
import threading
import time

import pytest
from plugin_fixtures import loopback_only  # noqa: F401 (fixture)
from support import journal_records, make_tenant, prompt, static_plugin

from smarter_local.openai_server import completion, tool_calls

pytestmark = pytest.mark.usefixtures("loopback_only")

BARRIER = threading.Barrier(2, timeout=3)


class ProbePlugin:
    plugin_class = "probe"
    manifest_kinds = ("ProbePlugin",)
    connection_kind = None

    def validate(self, manifest):
        return manifest.get("spec") or {}

    def validate_connection(self, manifest):
        raise NotImplementedError

    def tool(self, manifest):
        return {"type": "function", "function": {"name": manifest["metadata"]["name"], "description": "probe", "parameters": {"type": "object", "properties": {"n": {"type": "integer"}}}}}

    def test_arguments(self, manifest):
        return {"n": 1}

    def call(self, manifest, arguments, context):
        behaviour = manifest["spec"]["behaviour"]
        if behaviour == "raise":
            raise RuntimeError("database on fire")
        if behaviour == "barrier":
            BARRIER.wait()  # only passes when two calls run at the same time
            return {"n": arguments.get("n"), "thread": threading.current_thread().name}
        if behaviour == "sleep":
            time.sleep(3)
            return "late"
        return {"echo": arguments}


def probe(name: str, behaviour: str = "echo", *, directive: str = "always", terms: list[str] | None = None) -> dict:
    return {
        "apiVersion": "smarter.sh/v1",
        "kind": "Plugin",  # Smarter's generic form: the kind is named by metadata.pluginClass
        "metadata": {"name": name, "pluginClass": "probe"},
        "spec": {"behaviour": behaviour, "selector": {"directive": directive, "searchTerms": terms or []}},
    }


@pytest.fixture(autouse=True)
def probe_kind(monkeypatch):
    from smarter.llm import plugins

    installed = dict(plugins.kinds())
    monkeypatch.setattr(plugins, "kinds", lambda: {**installed, "probe": ProbePlugin()})
    BARRIER.reset()


def _settings(monkeypatch, **env):
    from smarter import config

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config.settings.cache_clear()


def _tool_messages(openai_server) -> list[dict]:
    return [m for m in openai_server.requests[-1]["json"]["messages"] if m["role"] == "tool"]


def test_three_rounds_feed_each_result_back_before_the_answer(aws, openai_server):
    tenant = make_tenant(plugins=[probe("lookup")])
    openai_server.enqueue(body=tool_calls(("lookup", {"n": 1})))
    openai_server.enqueue(body=tool_calls(("lookup", {"n": 2})))
    openai_server.enqueue(body=completion("Found both."))

    result = prompt(tenant, "look twice")

    assert result.status == 200
    data = result.body["data"]
    assert data["rounds"] == 3
    assert data["chat_completion"]["choices"][0]["message"]["content"] == "Found both."
    assert [(c["round"], c["arguments"]) for c in data["tool_calls"]] == [(1, {"n": 1}), (2, {"n": 2})]
    roles = [m["role"] for m in openai_server.requests[-1]["json"]["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool"]
    assert [json.loads(m["content"]) for m in _tool_messages(openai_server)] == [{"echo": {"n": 1}}, {"echo": {"n": 2}}]
    assert len(openai_server.requests) == 3


def test_parallel_calls_in_one_round_run_at_the_same_time_and_answer_in_order(aws, openai_server):
    tenant = make_tenant(plugins=[probe("left", "barrier"), probe("right", "barrier")])
    openai_server.enqueue(body=tool_calls(("left", {"n": 1}), ("right", {"n": 2})))
    openai_server.enqueue(body=completion("Both."))

    result = prompt(tenant, "both at once")

    assert result.status == 200
    calls = result.body["data"]["tool_calls"]
    assert [c["outcome"] for c in calls] == ["ok", "ok"]  # the barrier would time out if they ran one by one
    messages = _tool_messages(openai_server)
    assert [m["tool_call_id"] for m in messages] == ["call_0_left", "call_1_right"]
    assert [json.loads(m["content"])["n"] for m in messages] == [1, 2]
    assert json.loads(messages[0]["content"])["thread"] != json.loads(messages[1]["content"])["thread"]


def test_a_tool_that_raises_becomes_an_error_result_and_the_request_succeeds(aws, openai_server):
    tenant = make_tenant(plugins=[probe("fragile", "raise"), probe("steady")])
    openai_server.enqueue(body=tool_calls(("fragile", {"n": 1}), ("steady", {"n": 2})))
    openai_server.enqueue(body=completion("One tool failed; here is what I have."))

    result = prompt(tenant, "try both")

    assert result.status == 200
    failed, ok = result.body["data"]["tool_calls"]
    assert failed["outcome"] == "error"
    assert "RuntimeError: database on fire" in failed["error"]
    assert ok["outcome"] == "ok"
    messages = _tool_messages(openai_server)
    assert json.loads(messages[0]["content"]) == {"error": "the tool failed: RuntimeError: database on fire"}
    assert json.loads(messages[1]["content"]) == {"echo": {"n": 2}}
    record = journal_records(tenant.account, tenant.client)[0]
    assert record["status"] == 200
    assert [c["outcome"] for c in record["tool_calls"]] == ["error", "ok"]


def test_the_round_bound_ends_with_a_clear_error_and_keeps_the_calls_in_the_journal(aws, openai_server, monkeypatch):
    _settings(monkeypatch, SMARTER_MAX_TOOL_ROUNDS="3")
    tenant = make_tenant(plugins=[probe("lookup")])
    for n in range(5):
        openai_server.enqueue(body=tool_calls(("lookup", {"n": n})))

    result = prompt(tenant, "loop")

    assert result.status == 502
    assert result.body["error"]["type"] == "tool_round_limit"
    assert "3 rounds" in result.body["error"]["message"] and "SMARTER_MAX_TOOL_ROUNDS" in result.body["error"]["message"]
    assert len(openai_server.requests) == 3
    record = journal_records(tenant.account, tenant.client)[0]
    assert record["status"] == 502
    assert [c["round"] for c in record["tool_calls"]] == [1, 2, 3]


@pytest.mark.parametrize("asked", ["support", "support_info_v2", "SUPPORT_INFO", "support_info "])
def test_tool_names_map_to_plugins_by_exact_name_only(aws, openai_server, asked):
    tenant = make_tenant(plugins=[static_plugin("support_info")])
    openai_server.enqueue(body=tool_calls((asked, {"inquiry_type": "hours"})))
    openai_server.enqueue(body=completion("Sorry."))

    result = prompt(tenant, "hours?")

    entry = result.body["data"]["tool_calls"][0]
    assert entry["outcome"] == "error"
    assert "there is no tool named" in entry["error"]
    assert "support_info" in json.loads(_tool_messages(openai_server)[0]["content"])["error"]  # the model learns the real name


def test_a_plugin_that_was_not_offered_cannot_be_called(aws, openai_server):
    tenant = make_tenant(plugins=[probe("refunds", directive="search_terms", terms=["refund"])])
    openai_server.enqueue(body=tool_calls(("refunds", {"n": 1})))
    openai_server.enqueue(body=completion("ok"))

    result = prompt(tenant, "what's the weather")

    assert result.body["data"]["selected_plugins"] == []
    assert "tools" not in openai_server.requests[0]["json"]
    assert result.body["data"]["tool_calls"][0]["outcome"] == "error"


def test_arguments_that_are_not_json_are_an_error_result_and_journaled_raw(aws, openai_server):
    tenant = make_tenant(plugins=[probe("lookup")])
    body = tool_calls(("lookup", {}))
    body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = '{"n": 1'
    openai_server.enqueue(body=body)
    openai_server.enqueue(body=completion("ok"))

    entry = prompt(tenant, "x").body["data"]["tool_calls"][0]

    assert entry["outcome"] == "error"
    assert entry["error"] == "the tool arguments are not valid JSON"
    assert entry["arguments_raw"] == '{"n": 1'


def test_each_call_is_journaled_with_plugin_arguments_duration_size_and_outcome(aws, openai_server):
    tenant = make_tenant(plugins=[probe("lookup")])
    openai_server.enqueue(body=tool_calls(("lookup", {"n": 7})))
    openai_server.enqueue(body=completion("done"))

    prompt(tenant, "x")

    entry = journal_records(tenant.account, tenant.client)[0]["tool_calls"][0]
    content = _tool_messages(openai_server)[0]["content"]
    assert entry["plugin"] == "lookup"
    assert entry["kind"] == "probe"
    assert entry["arguments"] == {"n": 7}
    assert entry["outcome"] == "ok"
    assert entry["round"] == 1
    assert entry["id"] == "call_0_lookup"
    assert entry["result_bytes"] == len(content.encode())
    assert isinstance(entry["duration_ms"], float)


def test_a_tool_that_outlives_its_timeout_is_answered_with_an_error(aws, openai_server, monkeypatch):
    from smarter.llm import chat

    _settings(monkeypatch, SMARTER_PLUGIN_TIMEOUT="0.3")
    monkeypatch.setattr(chat, "TOOL_GRACE_SECONDS", 0.2)
    tenant = make_tenant(plugins=[probe("slow", "sleep"), probe("quick")])
    openai_server.enqueue(body=tool_calls(("slow", {}), ("quick", {"n": 1})))
    openai_server.enqueue(body=completion("partial"))

    started = time.monotonic()
    result = prompt(tenant, "x")

    assert time.monotonic() - started < 2.5
    slow, quick = result.body["data"]["tool_calls"]
    assert slow["outcome"] == "timeout"
    assert "did not answer within" in slow["error"]
    assert quick["outcome"] == "ok"
    assert len(_tool_messages(openai_server)) == 2  # every call id gets an answer


def test_calls_beyond_the_per_round_cap_are_answered_not_run(aws, openai_server, monkeypatch):
    from smarter.llm import chat

    monkeypatch.setattr(chat, "MAX_CALLS_PER_ROUND", 2)
    tenant = make_tenant(plugins=[probe("lookup")])
    openai_server.enqueue(body=tool_calls(("lookup", {"n": 1}), ("lookup", {"n": 2}), ("lookup", {"n": 3})))
    openai_server.enqueue(body=completion("ok"))

    calls = prompt(tenant, "x").body["data"]["tool_calls"]

    assert [c["outcome"] for c in calls] == ["ok", "ok", "skipped"]
    assert len(_tool_messages(openai_server)) == 3


def test_a_plugin_whose_kind_is_not_installed_is_left_out_not_fatal(aws, openai_server, monkeypatch):
    from smarter.llm import plugins

    tenant = make_tenant(plugins=[probe("lookup"), static_plugin()])
    installed = {k: v for k, v in plugins.kinds().items() if k != "probe"}
    monkeypatch.setattr(plugins, "kinds", lambda: installed)

    result = prompt(tenant, "hello")

    assert result.status == 200
    assert result.body["data"]["selected_plugins"] == ["support_info"]
