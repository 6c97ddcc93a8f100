"""End to end: `make run`'s routing demo over HTTP. The client resilient-support
routes first to an account Provider nobody answers for (loopback port 9) and
falls back to the offline provider, on the prompt API and the OpenAI API,
buffered and streamed; the journal (read with the admin CLI, as a user would)
shows both attempts."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest

pytestmark = pytest.mark.e2e

CLIENT = "resilient-support"


def host(stack) -> str:
    return f"{CLIENT}.{stack.account}.{stack.api_domain}"


def post(stack, path, body, **headers):
    return httpx.post(f"{stack.base_url}{path}", content=json.dumps(body), timeout=30,
                      headers={"Host": host(stack), "Content-Type": "application/json", "Authorization": f"Bearer {stack.api_key}", **headers})


def test_startup_names_the_routing_demo(stack):
    assert f"http://{CLIENT}.{stack.account}.{stack.api_domain}:{stack.port}/" in stack.output


def test_the_prompt_falls_back_to_offline_and_says_so(stack):
    answer = post(stack, "/", {"messages": [{"role": "user", "content": "What are your support hours?"}]})
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-smarter-provider"] == "offline"
    data = answer.json()["data"]
    assert data["provider"] == "offline" and data["model"] == "offline-echo"
    record = journal(stack, answer.json()["metadata"]["key"])
    attempts = [(a["round"], a["provider"], a["outcome"]) for a in record["attempts"]]
    # Round 1 tries the dead target first (unless it is cooling down from earlier requests: then it is
    # skipped), the offline provider serves; round 2 (after the plugin call) starts with the one that served.
    assert attempts[-2:] == [(1, "offline", "served"), (2, "offline", "served")]
    assert attempts[:-2] in ([], [(1, "unreachable", "failed")])
    assert record["tool_calls"] and record["tool_calls"][0]["plugin"] == "support_info"  # plugins behave the same


def test_the_openai_api_falls_back_buffered_and_streamed(stack):
    answer = post(stack, "/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]})
    assert answer.status_code == 200 and answer.headers["x-smarter-provider"] == "offline"
    assert answer.json()["model"] == "offline-echo"
    with httpx.stream("POST", f"{stack.base_url}/v1/chat/completions", timeout=30,
                      content=json.dumps({"messages": [{"role": "user", "content": "hi"}], "stream": True}),
                      headers={"Host": host(stack), "Content-Type": "application/json", "Authorization": f"Bearer {stack.api_key}"}) as streamed:
        assert streamed.status_code == 200 and streamed.headers["x-smarter-provider"] == "offline"
        text = "".join(streamed.iter_text())
    assert text.rstrip().endswith("data: [DONE]")


def test_the_first_failure_costs_one_refused_connection(stack):
    """The dead target is refused at connect: the fallback adds milliseconds, not a timeout."""
    started = time.monotonic()
    answer = post(stack, "/", {"messages": [{"role": "user", "content": "hello"}]})
    assert answer.status_code == 200 and time.monotonic() - started < 5


def journal(stack, key: str) -> dict:
    for _ in range(50):  # the record is written just after the answer
        out = subprocess.run([sys.executable, "-m", "smarter_admin", "journal", CLIENT, key, "-o", "json"], env=stack.admin_env(),
                             capture_output=True, text=True, timeout=120)
        if out.returncode == 0:
            return json.loads(out.stdout)
        time.sleep(0.2)
    raise AssertionError(out.stderr)
