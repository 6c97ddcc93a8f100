"""The sample events in events/ (for `sam local invoke`) work against the handlers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import handler

from smarter_local.gateway import LambdaContext

EVENTS = Path(__file__).resolve().parents[2] / "events"


def run_event(name: str, tenant, **replace: str) -> dict:
    text = (EVENTS / name).read_text().replace("REPLACE_WITH_KEY", tenant.api_key)
    for old, new in replace.items():
        text = text.replace(old, new)
    event = json.loads(text)
    function = "passthrough" if name.startswith(("passthrough", "providers")) else "console" if name.startswith("console") else "prompt"
    response = handler(function)(event, LambdaContext(function))
    return {"status": response["statusCode"], "body": json.loads(response["body"]) if response.get("body") else None, "response": response}


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("prompt-default-host.json", 200),
        ("prompt-by-path.json", 200),
        ("prompt-get.json", 405),
        ("prompt-bad-key.json", 401),
        ("prompt-custom-domain.json", 404),  # api.acme.com is not verified here
        ("passthrough-openai.json", 200),
        ("providers.json", 200),
        ("console-usage.json", 200),
        ("console-journal.json", 200),
        ("console-create-key.json", 201),
        ("console-apply-dry-run.json", 200),
    ],
)
def test_sample_event_gets_the_documented_status(tenant, name, status):
    result = run_event(name, tenant)
    assert result["status"] == status, result["body"]
    if result["body"] is not None:
        assert result["body"]["api"] == "smarter.sh/v1"


def test_sample_options_event_is_a_preflight(tenant):
    # The tests configure https://page.example.com as the page origin (SMARTER_CORS_ORIGINS).
    result = run_event("prompt-options.json", tenant, **{"http://localhost:5173": "https://page.example.com"})
    assert result["status"] == 204
    assert result["response"]["headers"]["Access-Control-Allow-Origin"] == "https://page.example.com"


def test_sample_stream_event_counts_usage_once(aws):
    from support import handler

    from smarter.store import usage
    from smarter_local.gateway import LambdaContext

    event = json.loads((EVENTS / "usage-journal-stream.json").read_text())
    assert handler("usage")(event, LambdaContext("usage")) == {"batchItemFailures": []}
    assert handler("usage")(event, LambdaContext("usage")) == {"batchItemFailures": []}  # redelivered: counted once
    [row] = usage.for_account("3141-5926-5359")
    assert (row["day"], row["client"], row["key"], row["requests"], row["total_tokens"]) == ("2026-11-22", "customer-support", "a1b2c3d4e5f6", 1, 90)
    assert str(row["cost_usd"]) == "0.0000243"


def test_sample_openai_stream_event_streams_chunks(tenant, openai_server):
    text = (EVENTS / "openai-chat-completions-stream.json").read_text().replace("REPLACE_WITH_KEY", tenant.api_key)
    response = handler("openai_api")(json.loads(text), LambdaContext("openai_api"))
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")
    body = b"".join(response.body).decode()
    assert body.endswith("data: [DONE]\n\n") and '"object":"chat.completion.chunk"' in body
    assert '"usage":{' in body  # stream_options.include_usage
