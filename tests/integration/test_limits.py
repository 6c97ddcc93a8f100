"""Rate limits, budgets, prices and usage through the real handlers, moto over a
socket and the scripted provider: every limit kind, the answers and headers,
the passthrough, the tool loop, concurrency, and a crash between reserve and settle."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from support import API_DOMAIN, count_usage, invoke, journal_records, make_tenant, prompt, static_plugin

from smarter_local.openai_server import completion, tool_calls

# gpt-4o-mini in the vendored LiteLLM map: $0.15 and $0.60 per million tokens.
COST_12_8 = Decimal("0.15") * 12 / 1_000_000 + Decimal("0.6") * 8 / 1_000_000


def apply(doc: dict) -> dict:
    from smarter_admin import manifests

    return manifests.apply(doc)


def key_with(tenant, name: str, **limits) -> str:
    result = apply({"apiVersion": "smarter.sh/v1", "kind": "ApiKey", "metadata": {"name": name, "account": tenant.account}, "spec": {"limits": limits}})
    return result["api_key"]


def set_client_limits(tenant, **limits) -> None:
    apply({"apiVersion": "smarter.sh/v1", "kind": "LLMClient", "metadata": {"name": tenant.client, "account": tenant.account},
           "spec": {"config": {"provider": "openai", "defaultModel": "gpt-4o-mini", "defaultSystemRole": "You are helpful."}, "limits": limits}})


def set_account(tenant, limits: dict | None = None, prices: dict | None = None) -> None:
    spec: dict = {"companyName": "Co"}
    if limits:
        spec["limits"] = limits
    if prices:
        spec["prices"] = prices
    apply({"apiVersion": "smarter.sh/v1", "kind": "Account", "metadata": {"name": tenant.account}, "spec": spec})


def reserved_tokens(tenant, result) -> int:
    record = next(r for r in journal_records(tenant.account, tenant.client) if r["key"] == result.body["metadata"]["key"])
    return record["reservations"][0]["reserved"]["tokens"]


def minute() -> str:
    return f"m{datetime.now(timezone.utc):%Y%m%d%H%M}"


def wait_for_fresh_minute(margin: float = 10.0) -> None:
    """Fixed minute windows: keep a test's requests inside one minute."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.05)


# --- usage and prices -------------------------------------------------------------


def test_unlimited_request_reserves_nothing_and_is_counted_once_with_its_cost(tenant):
    result = prompt(tenant, "Hello")
    assert result.status == 200
    record = journal_records(tenant.account, tenant.client)[0]
    assert record["reservations"] == []
    assert Decimal(record["cost_usd"]) == COST_12_8
    assert not any(h.lower().startswith("x-ratelimit") for h in result.headers)
    count_usage()
    count_usage()  # nothing new: nothing counted twice
    from smarter.store import usage

    [row] = usage.for_account(tenant.account)
    assert row["client"] == tenant.client and row["key"] == tenant.key_id
    assert (row["requests"], row["prompt_tokens"], row["completion_tokens"], row["total_tokens"]) == (1, 12, 8, 20)
    assert row["cost_usd"] == COST_12_8


def test_account_price_override_wins_over_the_price_map(tenant):
    set_account(tenant, prices={"gpt-4o-mini": {"input": 1, "output": 2}})
    prompt(tenant, "Hello")
    record = journal_records(tenant.account, tenant.client)[0]
    assert Decimal(record["cost_usd"]) == (Decimal(12) * 1 + Decimal(8) * 2) / 1_000_000


def test_redelivered_stream_records_are_counted_once(tenant):
    """Replays the whole stream to a fresh pump: every record comes again."""
    from smarter.config import settings
    from smarter.store import usage
    from smarter_local.gateway import LambdaContext
    from smarter_local.streams import StreamPump
    from support import handler

    for _ in range(3):
        prompt(tenant, "Hello")
    count_usage()
    StreamPump(settings().journal_table, lambda event: handler("usage")(event, LambdaContext("usage"))).drain()
    [row] = usage.for_account(tenant.account)
    assert row["requests"] == 3 and row["total_tokens"] == 60


# --- rate limits --------------------------------------------------------------------


def test_requests_per_minute_on_a_key_answers_429_with_retry_after_and_headers(tenant):
    wait_for_fresh_minute()
    key = key_with(tenant, "rpm-2", requestsPerMinute=2)
    first = prompt(tenant, "Hello", key=key)
    assert first.status == 200
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    assert first.headers["x-ratelimit-reset-requests"].endswith("s")
    assert prompt(tenant, "Hello", key=key).status == 200
    third = prompt(tenant, "Hello", key=key)
    assert third.status == 429
    assert third.body["error"]["type"] == "rate_limited"
    assert "requestsPerMinute limit is 2" in third.body["error"]["message"]
    assert 1 <= int(third.headers["Retry-After"]) <= 60
    assert third.headers["x-ratelimit-remaining-requests"] == "0"
    # The refusal is journaled and the provider never called.
    assert journal_records(tenant.account, tenant.client)[0]["status"] == 429


def test_tokens_per_minute_on_a_client_counts_the_worst_case_until_settled(tenant, openai_server):
    wait_for_fresh_minute()
    probe = prompt(tenant, "Hello", key=key_with(tenant, "probe", tokensPerDay=10**9))
    r = reserved_tokens(tenant, probe)
    set_client_limits(tenant, tokensPerMinute=2 * r)
    assert prompt(tenant, "Hello").status == 200
    second = prompt(tenant, "Hello")
    assert second.status == 200
    assert second.headers["x-ratelimit-limit-tokens"] == str(2 * r)
    refused = prompt(tenant, "Hello")
    assert refused.status == 429 and "tokensPerMinute" in refused.body["error"]["message"]
    # Settling gives back what the answers did not use (20 tokens each were used).
    count_usage()
    from smarter.store import usage

    window = usage.window(f"W#C#{tenant.account}#{tenant.client}", minute())
    assert window["tokens"] == 40 and window["requests"] == 2
    assert prompt(tenant, "Hello").status == 200


def test_output_cap_counts_toward_the_reservation(tenant):
    set_client_limits(tenant, tokensPerMinute=500)
    apply({"apiVersion": "smarter.sh/v1", "kind": "LLMClient", "metadata": {"name": tenant.client, "account": tenant.account},
           "spec": {"config": {"provider": "openai", "defaultModel": "gpt-4o-mini", "defaultMaxTokens": 1000}, "limits": {"tokensPerMinute": 500}}})
    refused = prompt(tenant, "Hello")
    assert refused.status == 429
    assert "this request needs" in refused.body["error"]["message"]


# --- budgets ------------------------------------------------------------------------


def test_monthly_usd_budget_of_the_account_answers_402_budget_exceeded(tenant):
    probe = prompt(tenant, "Hello", key=key_with(tenant, "probe", tokensPerDay=10**9))
    record = next(r for r in journal_records(tenant.account, tenant.client) if r["key"] == probe.body["metadata"]["key"])
    usd = Decimal(record["reservations"][0]["reserved"]["usd"])
    set_account(tenant, limits={"usdPerMonth": str(usd * 2)})
    assert prompt(tenant, "Hello").status == 200
    assert prompt(tenant, "Hello").status == 200
    refused = prompt(tenant, "Hello")
    assert refused.status == 402
    assert refused.body["error"]["type"] == "budget_exceeded"
    assert "usdPerMonth" in refused.body["error"]["message"]
    assert int(refused.headers["Retry-After"]) > 0


def test_daily_token_budget_of_a_key_and_of_a_client(tenant):
    probe = prompt(tenant, "Hello", key=key_with(tenant, "probe", tokensPerDay=10**9))
    r = reserved_tokens(tenant, probe)
    key = key_with(tenant, "daily", tokensPerDay=r)
    assert prompt(tenant, "Hello", key=key).status == 200
    assert prompt(tenant, "Hello", key=key).status == 402
    set_client_limits(tenant, tokensPerDay=r)  # the client's own day window starts now
    assert prompt(tenant, "Hello").status == 200
    assert prompt(tenant, "Hello").status == 402


def test_usd_per_day_on_a_key_and_tokens_per_month_on_an_account(tenant):
    key = key_with(tenant, "cheap", usdPerDay="0.000001")
    refused = prompt(tenant, "Hello", key=key)
    assert refused.status == 402 and "usdPerDay" in refused.body["error"]["message"]
    set_account(tenant, limits={"tokensPerMonth": 10})
    assert prompt(tenant, "Hello").status == 402


def test_platform_defaults_apply_where_a_manifest_sets_nothing(tenant, monkeypatch):
    from smarter import config

    monkeypatch.setenv("SMARTER_DEFAULT_LIMITS", '{"key": {"requestsPerMinute": 1}}')
    config.settings.cache_clear()
    wait_for_fresh_minute()
    assert prompt(tenant, "Hello").status == 200
    assert prompt(tenant, "Hello").status == 429
    # A manifest's own limit wins over the default.
    key = key_with(tenant, "generous", requestsPerMinute=100)
    assert prompt(tenant, "Hello", key=key).status == 200


def test_the_passthrough_counts_against_the_same_budgets(tenant):
    probe = prompt(tenant, "Hello", key=key_with(tenant, "probe", tokensPerDay=10**9))
    assert probe.status == 200
    key = key_with(tenant, "pt", tokensPerDay=3000)
    body = {"model": "gpt-4o-mini", "max_tokens": 1000, "messages": [{"role": "user", "content": "Hi"}]}
    first = invoke("passthrough", "POST", "/v1/passthrough/openai", host=API_DOMAIN, body=body, key=key)
    assert first.status == 200
    assert invoke("passthrough", "POST", "/v1/passthrough/openai", host=API_DOMAIN, body=body, key=key).status == 200
    refused = invoke("passthrough", "POST", "/v1/passthrough/openai", host=API_DOMAIN, body=body, key=key)
    assert refused.status == 402 and refused.body["error"]["type"] == "budget_exceeded"
    count_usage()
    from smarter.store import usage

    rows = {(r["client"], r["key"]): r for r in usage.for_account(tenant.account)}
    passthrough_row = next(r for (client, _), r in rows.items() if client == "-")
    assert passthrough_row["requests"] == 2 and passthrough_row["cost_usd"] == 2 * COST_12_8


def test_tool_loop_stops_cleanly_when_the_budget_runs_out_mid_conversation(aws, openai_server):
    tenant = make_tenant(plugins=[static_plugin()])
    openai_server.enqueue(body=tool_calls(("support_info", {"inquiry_type": "hours"})))
    openai_server.enqueue(body=completion("We are open."))
    probe = prompt(tenant, "When are you open?", key=key_with(tenant, "probe", tokensPerDay=10**9))
    record = next(r for r in journal_records(tenant.account, tenant.client) if r["key"] == probe.body["metadata"]["key"])
    first_round = record["reservations"][0]["reserved"]["tokens"]
    assert len(record["reservations"]) == 2  # one reservation per provider call
    # Room for the first round only: the second provider call is refused.
    key = key_with(tenant, "one-round", tokensPerDay=first_round + 10)
    openai_server.enqueue(body=tool_calls(("support_info", {"inquiry_type": "hours"})))
    openai_server.enqueue(body=completion("We are open."))
    calls_before = len(openai_server.requests)
    result = prompt(tenant, "When are you open?", key=key)
    assert result.status == 402 and result.body["error"]["type"] == "budget_exceeded"
    assert len(openai_server.requests) == calls_before + 1
    stopped = journal_records(tenant.account, tenant.client)[0]
    assert stopped["tool_calls"][0]["outcome"] == "ok"
    assert stopped["usage"]["total_tokens"] == 20 and Decimal(stopped["cost_usd"]) == COST_12_8
    count_usage()
    from smarter.store import usage

    assert usage.window(f"W#K#{key.split('_')[1]}", f"d{datetime.now(timezone.utc):%Y%m%d}")["tokens"] == 20


# --- concurrency --------------------------------------------------------------------


def _fifty_at_once(tenant, key: str) -> list[int]:
    """50 requests released together, each through its own handler instance
    (a container of its own), against moto's DynamoDB over the socket."""
    return _at_once(tenant, key, 50)


@pytest.mark.parametrize("run", range(3))
def test_fifty_concurrent_requests_against_a_budget_admitting_n_admit_exactly_n(tenant, run):
    probe = prompt(tenant, "Hello", key=key_with(tenant, "probe", tokensPerDay=10**9))
    r = reserved_tokens(tenant, probe)
    n = 7 + run
    key = key_with(tenant, f"budget-{run}", tokensPerDay=n * r)
    statuses = _fifty_at_once(tenant, key)
    assert statuses.count(200) == n
    assert statuses.count(402) == 50 - n
    count_usage()
    from smarter.store import usage

    window = usage.window(f"W#K#{key.split('_')[1]}", f"d{datetime.now(timezone.utc):%Y%m%d}")
    assert window["tokens"] == 20 * n and window["requests"] == n  # settled to the real use


@pytest.mark.parametrize("run", range(3))
def test_fifty_concurrent_requests_against_a_token_per_minute_limit_admit_exactly_m_tokens(tenant, run):
    wait_for_fresh_minute(margin=20)
    probe = prompt(tenant, "Hello", key=key_with(tenant, "probe", tokensPerDay=10**9))
    r = reserved_tokens(tenant, probe)
    admitted = 5 + 2 * run
    m = admitted * r + r - 1  # room for `admitted` worst cases and not one more
    key = key_with(tenant, f"tpm-{run}", tokensPerMinute=m)
    statuses = _fifty_at_once(tenant, key)
    assert statuses.count(200) == admitted
    assert statuses.count(429) == 50 - admitted
    from smarter.store import usage

    assert usage.window(f"W#K#{key.split('_')[1]}", minute())["tokens"] == admitted * r <= m


# --- one tenant's share of the concurrency (the Account's concurrentRequests) ------------


def _at_once(tenant, key: str, n: int) -> list[int]:
    """n requests released together, each through its own handler instance."""
    import json

    from smarter_local.gateway import LambdaContext, load_handler, make_event

    handlers = [load_handler("prompt") for _ in range(n)]
    statuses: list[int] = [0] * n
    barrier = threading.Barrier(n)
    body = json.dumps({"messages": [{"role": "user", "content": "Hello"}]}).encode()

    def one(i: int) -> None:
        event = make_event("POST", "/", {"Content-Type": "application/json", "Host": tenant.host, "Authorization": f"Token {key}"}, body, domain=tenant.host, resource="/")
        barrier.wait()
        statuses[i] = handlers[i](event, LambdaContext("prompt"))["statusCode"]

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def test_an_account_s_concurrent_requests_limit_admits_exactly_that_many_in_flight(tenant, openai_server):
    from smarter_local.openai_server import Scripted

    from smarter.tenancy import limits

    set_account(tenant, limits={"concurrentRequests": 4})
    openai_server.default = Scripted(body=completion("Slow answer."), delay=1.5)  # every request still in flight when the others arrive
    statuses = _at_once(tenant, tenant.api_key, 16)
    assert statuses.count(200) == 4 and statuses.count(429) == 12, statuses
    # Each admitted request's slot is released when its journal record is settled.
    assert limits.in_flight(tenant.account) == 4
    count_usage()
    assert limits.in_flight(tenant.account) == 0
    openai_server.default = Scripted(body=completion("Fast answer."))
    assert prompt(tenant, "Hello").status == 200
    count_usage()
    assert limits.in_flight(tenant.account) == 0


def test_a_refused_request_says_why_and_when_to_retry(tenant, openai_server):
    from smarter.store.journal import RequestRecord
    from smarter.tenancy import auth, limits

    set_account(tenant, limits={"concurrentRequests": 1})
    key_doc = auth.find_key(tenant.account, tenant.api_key.split("_")[1])
    the_plan = limits.plan(key_doc, tenant.account, {"name": tenant.client})
    record = RequestRecord("LLMClient", "prompt", method="POST", path="/", host=tenant.host, headers={})
    limits.reserve(the_plan, record, provider="openai", model="gpt-4o-mini", body={"messages": [{"role": "user", "content": "Hi"}]}, first=True)
    result = prompt(tenant, "Hello")
    assert result.status == 429
    assert "concurrentRequests limit is 1" in result.body["error"]["message"]
    assert result.headers.get("Retry-After") == "1"


def test_a_slot_of_a_request_that_never_reached_the_journal_is_released_by_the_sweep_once(tenant):
    from smarter.store import usage
    from smarter.store.journal import RequestRecord
    from smarter.tenancy import auth, limits

    set_account(tenant, limits={"concurrentRequests": 2})
    key_doc = auth.find_key(tenant.account, tenant.api_key.split("_")[1])
    the_plan = limits.plan(key_doc, tenant.account, {"name": tenant.client})
    body = {"messages": [{"role": "user", "content": "Hi"}]}
    records = []
    for _ in range(2):
        record = RequestRecord("LLMClient", "prompt", method="POST", path="/", host=tenant.host, headers={})
        limits.reserve(the_plan, record, provider="openai", model="gpt-4o-mini", body=body, first=True)
        # A second round of the same request takes no second slot.
        limits.reserve(the_plan, record, provider="openai", model="gpt-4o-mini", body=body, first=False)
        records.append(record)
    assert limits.in_flight(tenant.account) == 2
    from smarter.errors import RateLimited

    with pytest.raises(RateLimited):
        limits.reserve(the_plan, RequestRecord("LLMClient", "prompt", method="POST", path="/", host=tenant.host, headers={}),
                       provider="openai", model="gpt-4o-mini", body=body, first=True)
    # Both containers die: no journal record. After HOLD_SECONDS the sweep frees the slots, once.
    later = time.time() + limits.HOLD_SECONDS + 1
    assert usage.release_expired(now=later) == 2
    assert usage.release_expired(now=later) == 0
    assert limits.in_flight(tenant.account) == 0
    # A late record settles its holds without releasing the slot a second time.
    records[0].account, records[0].client, records[0].api_key_id = tenant.account, tenant.client, key_doc["key_id"]
    records[0].add_usage({"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2})
    assert usage.count(records[0].document(200, {})) == "counted"
    assert limits.in_flight(tenant.account) == 0


# --- a crash between reserve and settle ---------------------------------------------


def test_a_crash_between_reserve_and_settle_is_released_after_the_hold_expires(tenant):
    from smarter.store import usage
    from smarter.store.journal import RequestRecord
    from smarter.tenancy import auth, limits

    key_doc = auth.find_key(tenant.account, key_with(tenant, "crash", tokensPerDay=1000).split("_")[1])
    the_plan = limits.plan(key_doc, tenant.account, {"name": tenant.client})
    record = RequestRecord("LLMClient", "prompt", method="POST", path="/", host=tenant.host, headers={})
    body = {"model": "gpt-4o-mini", "max_tokens": 100, "messages": [{"role": "user", "content": "Hi"}]}
    limits.reserve(the_plan, record, provider="openai", model="gpt-4o-mini", body=body, first=True)
    reserved = record.reservations[0]["reserved"]["tokens"]
    window_key = (f"W#K#{key_doc['key_id']}", f"d{datetime.now(timezone.utc):%Y%m%d}")
    assert usage.window(*window_key)["tokens"] == reserved
    # The container dies here: no journal record, no settle. Before the hold expires the sweep leaves it.
    assert usage.release_expired() == 0
    assert usage.window(*window_key)["tokens"] == reserved
    # After HOLD_SECONDS the sweep gives the room back, once.
    later = time.time() + limits.HOLD_SECONDS + 1
    assert usage.release_expired(now=later) == 1
    assert usage.release_expired(now=later) == 0
    assert usage.window(*window_key) == {"requests": 0, "tokens": 0, "usd": 0}
    # Had the record only been late (not lost), its settle still counts the real use exactly once.
    record.add_usage({"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20})
    record.account, record.client, record.api_key_id = tenant.account, tenant.client, key_doc["key_id"]
    doc = record.document(200, {})
    assert usage.count(doc) == "counted"
    assert usage.count(doc) == "duplicate"
    assert usage.window(*window_key)["tokens"] == 20 and usage.window(*window_key)["requests"] == 1


# --- manifests and CLI ----------------------------------------------------------------


def test_a_bad_limit_is_a_400_naming_the_field(tenant):
    from smarter.errors import ManifestError

    with pytest.raises(ManifestError) as caught:
        key_with(tenant, "bad", requestsPerMinute=-1)
    assert "spec.limits.requestsPerMinute" in str(caught.value)
    with pytest.raises(ManifestError) as caught:
        key_with(tenant, "typo", requestsPerMinut=5)
    assert "requestsPerMinut" in str(caught.value)


# --- the OpenAI-compatible API and the streamed passthrough ----------------------------------


def _call(function: str, path: str, body: dict, *, host: str, key: str):
    import json

    from smarter_local.gateway import LambdaContext, make_event
    from support import handler

    headers = {"Content-Type": "application/json", "Host": host, "Authorization": f"Bearer {key}"}
    resource = "/v1/{proxy+}" if function == "passthrough" else path
    event = make_event("POST", path, headers, json.dumps(body).encode(), domain=host, resource=resource)
    return handler(function)(event, LambdaContext(function))


def test_the_openai_api_answers_limits_in_openai_s_shape_with_the_headers(tenant):
    import json

    wait_for_fresh_minute()
    key = key_with(tenant, "openai-rpm", requestsPerMinute=1)
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}
    first = _call("openai_api", "/v1/chat/completions", body, host=tenant.host, key=key)
    assert first["statusCode"] == 200
    assert first["headers"]["x-ratelimit-limit-requests"] == "1" and first["headers"]["x-ratelimit-remaining-requests"] == "0"
    refused = _call("openai_api", "/v1/chat/completions", body, host=tenant.host, key=key)
    assert refused["statusCode"] == 429 and int(refused["headers"]["Retry-After"]) >= 1
    error = json.loads(refused["body"])["error"]
    assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limit_exceeded")
    broke = key_with(tenant, "openai-budget", usdPerDay="0.000001")
    spent = _call("openai_api", "/v1/chat/completions", body, host=tenant.host, key=broke)
    assert spent["statusCode"] == 402
    assert json.loads(spent["body"])["error"]["type"] == "insufficient_quota"


def test_the_streamed_passthrough_counts_against_the_same_budget(tenant):
    key = key_with(tenant, "stream-budget", tokensPerDay=3000)
    body = {"model": "gpt-4o-mini", "max_tokens": 1000, "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    for _ in range(2):
        streamed = _call("passthrough", "/v1/passthrough/openai", body, host=API_DOMAIN, key=key)
        assert streamed.status == 200
        list(streamed.body)  # the stream ends, the record is journaled
    refused = _call("passthrough", "/v1/passthrough/openai", body, host=API_DOMAIN, key=key)
    assert refused["statusCode"] == 402
    records = journal_records(tenant.account, "-")
    assert len([r for r in records if r["reservations"]]) == 2
