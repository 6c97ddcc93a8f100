"""Every surface on the one pipeline (edge/pipeline.py): a budget depletes by
what was really spent through every route, buffered or streamed; a stream is
counted even when the caller did not ask for its usage; an answer without
usage is counted from an estimate, never as zero; the OpenAI API emits the
same metrics; bad stream options are a 400 on every route."""

from __future__ import annotations

import json

import pytest
from support import API_DOMAIN, count_usage, handler

from smarter_local.gateway import LambdaContext, make_event
from smarter_local.openai_server import completion

MESSAGES = [{"role": "user", "content": "ping"}]
# (function, path on which host, body): the same provider answer (20 tokens) behind each.
ROUTES = {
    "prompt": ("prompt", "/", "client", {"messages": MESSAGES}),
    "chat": ("openai_api", "/v1/chat/completions", "client", {"messages": MESSAGES}),
    "chat-stream": ("openai_api", "/v1/chat/completions", "client", {"messages": MESSAGES, "stream": True}),
    "messages": ("openai_api", "/v1/messages", "client", {"model": "m", "max_tokens": 64, "messages": MESSAGES}),
    "messages-stream": ("openai_api", "/v1/messages", "client", {"model": "m", "max_tokens": 64, "messages": MESSAGES, "stream": True}),
    "passthrough": ("passthrough", "/v1/passthrough/openai", "platform", {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 64}),
    "passthrough-stream": ("passthrough", "/v1/passthrough/openai", "platform", {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 64, "stream": True}),
}


def send(tenant, route: str, body: dict | None = None):
    """(status, journal key, the SSE data payloads or the JSON body)."""
    function, path, host_kind, default = ROUTES[route]
    host = tenant.host if host_kind == "client" else API_DOMAIN
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {tenant.api_key}", "anthropic-version": "2023-06-01"}
    resource = "/v1/{proxy+}" if function == "passthrough" else ("/" if path == "/" else "/{proxy+}")
    event = make_event("POST", path, headers, json.dumps(body or default).encode(), domain=host, resource=resource)
    response = handler(function)(event, LambdaContext(function))
    if isinstance(response, dict):
        return response["statusCode"], response["headers"]["X-Smarter-Journal-Key"], json.loads(response["body"])
    chunks = b"".join(response.body).decode()
    data = [line[6:] for line in chunks.split("\n") if line.startswith("data: ")]
    return response.status, response.headers["X-Smarter-Journal-Key"], data


def record_of(tenant, key: str) -> dict:
    from smarter.store import journal

    for client in (tenant.client, "-"):
        found = journal.get(tenant.account, client, key)
        if found:
            return found
    raise AssertionError(f"no journal record {key}")


def set_account_budget(tenant, tokens_per_day: int) -> None:
    from smarter_admin import manifests

    manifests.apply({"apiVersion": "smarter.sh/v1", "kind": "Account", "metadata": {"name": tenant.account},
                     "spec": {"companyName": "Co", "limits": {"tokensPerDay": tokens_per_day}}})
    from smarter import cache

    cache.clear_all()


def account_window_tokens(tenant) -> int:
    from datetime import datetime, timezone

    from smarter.store import usage

    return int(usage.window(f"W#A#{tenant.account}", f"d{datetime.now(timezone.utc):%Y%m%d}").get("tokens", 0))


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_token_budget_depletes_by_what_was_spent_through_every_route(tenant, openai_server, route):
    """The first request, under a large budget, shows the route's reservation R and
    settles to its real 20 tokens; then the budget is set so that exactly three more
    fit (20 + R + 2 * 20 + 5): the fourth is refused, and the window holds exactly
    what the provider reported, 4 * 20, for every route, buffered or streamed."""
    set_account_budget(tenant, 1_000_000)
    for _ in range(6):
        openai_server.enqueue(body=completion("pong", usage=(12, 8)))
    status, key, _ = send(tenant, route)
    assert status == 200
    reserved = record_of(tenant, key)["reservations"][0]["reserved"]["tokens"]
    count_usage()
    assert account_window_tokens(tenant) == 20

    set_account_budget(tenant, 20 + reserved + 2 * 20 + 5)
    statuses = []
    for _ in range(5):
        status, key, _ = send(tenant, route)
        statuses.append(status)
        count_usage()  # the UsageFunction settles each request before the next
        if status != 200:
            break
    assert statuses == [200, 200, 200, 402], statuses
    assert account_window_tokens(tenant) == 4 * 20


def test_a_streamed_passthrough_without_stream_options_is_counted_and_the_caller_sees_no_usage_event(tenant, openai_server):
    openai_server.enqueue(body=completion("pong and more", usage=(12, 8)))
    status, key, data = send(tenant, "passthrough-stream")
    assert status == 200
    assert openai_server.requests[-1]["json"]["stream_options"] == {"include_usage": True}  # asked upstream
    payloads = [json.loads(d) for d in data if d != "[DONE]"]
    assert payloads and all(p["choices"] for p in payloads)  # the usage event we asked for is not passed on
    assert data[-1] == "[DONE]"
    count_usage()
    from smarter.store import usage

    [row] = usage.for_account(tenant.account)
    assert (row["requests"], row["prompt_tokens"], row["completion_tokens"], row["total_tokens"]) == (1, 12, 8, 20)
    assert record_of(tenant, key)["usage"]["total_tokens"] == 20


def test_a_caller_that_asks_for_usage_still_gets_the_usage_event(tenant, openai_server):
    openai_server.enqueue(body=completion("pong", usage=(12, 8)))
    body = {**ROUTES["passthrough-stream"][3], "stream_options": {"include_usage": True}}
    status, _, data = send(tenant, "passthrough-stream", body)
    assert status == 200
    usage_events = [json.loads(d) for d in data if d != "[DONE]" and not json.loads(d)["choices"]]
    assert [e["usage"]["total_tokens"] for e in usage_events] == [20]


@pytest.mark.parametrize("route", ["passthrough", "passthrough-stream", "chat-stream"])
def test_an_answer_without_usage_is_counted_from_an_estimate_never_as_zero(tenant, openai_server, route):
    answer = completion("a reply of some length", usage=(12, 8))
    del answer["usage"]  # a provider that reports none, even when asked
    openai_server.enqueue(body=answer)
    status, key, _ = send(tenant, route)
    assert status == 200
    record = record_of(tenant, key)
    assert record["usage_estimated"] == 1
    assert record["usage"]["completion_tokens"] >= len("a reply of some length") // 3
    count_usage()
    from smarter.store import usage

    [row] = usage.for_account(tenant.account)
    assert row["requests"] == 1 and row["total_tokens"] == record["usage"]["total_tokens"] > 0


@pytest.mark.parametrize("route", ["passthrough", "passthrough-stream", "chat", "chat-stream"])
@pytest.mark.parametrize("options", ["x", 1, [True], {"include_usage": "yes"}])
def test_stream_options_that_are_not_an_object_of_booleans_are_a_400(tenant, openai_server, route, options):
    body = {**ROUTES[route][3], "stream_options": options}
    status, key, answer = send(tenant, route, body)
    assert status == 400, answer
    assert "stream_options" in json.dumps(answer)
    assert openai_server.requests == []
    assert record_of(tenant, key)["status"] == 400


def test_the_openai_api_emits_the_same_metrics_as_every_route(tenant, monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    capsys.readouterr()
    status, _, _ = send(tenant, "chat", {"messages": "not a list"})
    assert status == 400
    lines = [line for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert lines, "no EMF metrics line was printed"
    names = {m["Name"] for m in json.loads(lines[-1])["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"ChatCompletionsRequests", "ClientErrors", "GatewayOverhead"} <= names


def test_a_stream_s_journal_record_keeps_the_lambda_deadline(tenant, openai_server):
    """The streamed passthrough's record takes the function's remaining time from
    the Lambda context (its after-answer write must not outlive the function)."""
    from smarter.edge import pipeline

    openai_server.enqueue(body=completion("pong"))
    function, path, _, body = ROUTES["passthrough-stream"]
    event = make_event("POST", path, {"Content-Type": "application/json", "Authorization": f"Bearer {tenant.api_key}"},
                       json.dumps(body).encode(), domain=API_DOMAIN, resource="/v1/{proxy+}")
    context = LambdaContext(function, timeout_s=7)
    seen = []
    real = pipeline.Exchange.stream

    def spy(self, *args, **kwargs):
        seen.append(self.record.deadline.function_at)
        return real(self, *args, **kwargs)

    pipeline.Exchange.stream = spy
    try:
        response = handler(function)(event, context)
        list(response.body)
    finally:
        pipeline.Exchange.stream = real
    import time

    assert seen and seen[0] is not None and seen[0] - time.monotonic() < 7.5
