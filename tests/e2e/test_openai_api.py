"""End to end: the OpenAI-compatible API on a client host, driven by the
official openai SDK (sync and async, streamed and not) against the local
stack over HTTP, with the scripted provider behind the client."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time

import httpx
import openai
import pytest

from smarter_local.openai_server import completion, tool_calls

pytestmark = pytest.mark.e2e

CLIENT = "sdk-client"
CLIENT_MANIFEST = f"""
apiVersion: smarter.sh/v1
kind: LLMClient
metadata:
  name: {CLIENT}
  account: "3141-5926-5359"
  description: The demo client's plugin behind a real (scripted) OpenAI-format provider.
spec:
  config:
    provider: openai
    defaultModel: gpt-4o-mini
    defaultSystemRole: You answer for Pi Widgets.
  plugins:
    - support_info
---
apiVersion: smarter.sh/v1
kind: LLMClient
metadata:
  name: {CLIENT}-open
  account: "3141-5926-5359"
spec:
  config:
    provider: openai
    defaultModel: gpt-4o-mini
    allowModelOverride: true
"""
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def admin_env(stack) -> dict[str, str]:
    """The environment the stack printed for the admin CLI."""
    return stack.admin_env()


@pytest.fixture(scope="module")
def sdk_host(stack, tmp_path_factory):
    manifest = tmp_path_factory.mktemp("openai") / "client.yaml"
    manifest.write_text(CLIENT_MANIFEST)
    smarter = os.path.join(os.path.dirname(sys.executable), "smarter")
    subprocess.run([smarter, "apply", "-f", str(manifest)], env=admin_env(stack), check=True, capture_output=True, timeout=60)
    return f"{CLIENT}.{stack.account}.{stack.api_domain}"


@pytest.fixture(autouse=True)
def _localhost_names_resolve_to_loopback(monkeypatch):
    """Browsers and curl send *.localhost to loopback; Python's resolver does
    not, so the SDK gets the client's real URL and this maps the name."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host  # anyio passes IDNA bytes
        if isinstance(name, str) and name.endswith(".localhost"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def sdk(stack, host, *, key=None, cls=openai.OpenAI, **headers):
    """The SDK pointed at the client's own host, as a user would point it."""
    return cls(base_url=f"http://{host}:{stack.port}/v1", api_key=key or stack.api_key, default_headers=headers, max_retries=0, timeout=30)


def test_sdk_chat_completion_runs_the_plugin_loop_server_side(stack, sdk_host):
    stack.openai.enqueue(body=tool_calls(("support_info", {"inquiry_type": "hours"})))
    stack.openai.enqueue(body=completion("We are open Monday to Friday."))
    raw = sdk(stack, sdk_host).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "What are your support hours?"}]
    )
    answer = raw.parse()
    assert answer.object == "chat.completion"
    assert answer.choices[0].message.content == "We are open Monday to Friday."
    assert answer.choices[0].finish_reason == "stop" and answer.choices[0].message.tool_calls is None
    # The plugin ran here: its result went to the provider in the second round.
    second = stack.openai.requests[-1]["json"]
    assert second["messages"][0]["content"].startswith("You answer for Pi Widgets.")  # plus the plugin's systemRole
    assert second["messages"][-1]["role"] == "tool" and "Monday" in second["messages"][-1]["content"]
    assert answer.usage.total_tokens == 40  # both rounds counted
    extra = answer.model_extra["smarter"]
    assert extra["tool_calls"][0]["plugin"] == "support_info"
    assert raw.headers["x-smarter-journal-key"] == extra["journal_key"]
    assert raw.headers["x-smarter-session-key"] == extra["session_key"]


def test_sdk_models_lists_the_clients_model(stack, sdk_host):
    models = sdk(stack, sdk_host).models.list()
    assert [m.id for m in models.data] == ["gpt-4o-mini"]


def test_the_clients_model_wins_over_the_requested_one_by_default(stack, sdk_host):
    stack.openai.default = None
    answer = sdk(stack, sdk_host).chat.completions.create(model="gpt-5-expensive", messages=[{"role": "user", "content": "hi"}])
    assert stack.openai.requests[-1]["json"]["model"] == "gpt-4o-mini"
    assert answer.model == "gpt-4o-mini"


def test_a_client_that_allows_it_answers_with_the_requested_model(stack, sdk_host):
    answer = sdk(stack, sdk_host.replace(CLIENT, f"{CLIENT}-open", 1)).chat.completions.create(
        model="gpt-4.1", messages=[{"role": "user", "content": "hi"}]
    )
    assert stack.openai.requests[-1]["json"]["model"] == "gpt-4.1"
    assert answer.model == "gpt-4.1"


def test_caller_tools_come_back_as_tool_calls_in_a_mixed_round(stack, sdk_host):
    stack.openai.enqueue(body=tool_calls(("support_info", {"inquiry_type": "hours"}), ("get_weather", {"city": "Paris"})))
    answer = sdk(stack, sdk_host).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Support hours, and the weather in Paris?"}], tools=[WEATHER_TOOL]
    )
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert [c.function.name for c in choice.message.tool_calls] == ["get_weather"]
    assert json.loads(choice.message.tool_calls[0].function.arguments) == {"city": "Paris"}
    # The plugin in the same round ran here; the provider was offered both tools.
    offered = [t["function"]["name"] for t in stack.openai.requests[-1]["json"]["tools"]]
    assert offered == ["support_info", "get_weather"]
    assert answer.model_extra["smarter"]["tool_calls"][0]["plugin"] == "support_info"


def test_a_session_continues_only_when_the_caller_sends_its_key(stack, sdk_host):
    client = sdk(stack, sdk_host)
    first = client.chat.completions.with_raw_response.create(model="m", messages=[{"role": "user", "content": "My name is Ada."}])
    session_key = first.headers["x-smarter-session-key"]
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Stateless."}])
    assert len(stack.openai.requests[-1]["json"]["messages"]) == 2  # system + this message only
    continued = sdk(stack, sdk_host, **{"X-Smarter-Session-Key": session_key})
    raw = continued.chat.completions.with_raw_response.create(model="m", messages=[{"role": "user", "content": "What is my name?"}])
    sent = stack.openai.requests[-1]["json"]["messages"]
    assert [m["content"] for m in sent[1:]] == ["My name is Ada.", "You said: My name is Ada.", "What is my name?"]
    assert raw.headers["x-smarter-session-key"] == session_key


def test_errors_are_openai_errors_with_todays_status_codes(stack, sdk_host):
    with pytest.raises(openai.AuthenticationError) as bad_key:
        sdk(stack, sdk_host, key="smk_nope").chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert bad_key.value.status_code == 401
    assert bad_key.value.body["type"] == "authentication_error" and bad_key.value.body["code"] == "invalid_api_key"
    with pytest.raises(openai.BadRequestError) as bad_body:
        sdk(stack, sdk_host).chat.completions.create(model="m", messages=[{"role": "wizard", "content": "hi"}])
    assert "messages.0.role" in bad_body.value.message
    stack.openai.enqueue(status=503, body={"error": {"message": "overloaded", "type": "server_error"}})
    with pytest.raises(openai.InternalServerError) as provider:
        sdk(stack, sdk_host).chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert provider.value.status_code == 502 and provider.value.body["code"] == "provider_error"
    with pytest.raises(openai.NotFoundError):
        sdk(stack, "nobody.3141-5926-5359.api.localhost").models.list()


def test_async_sdk_chat_completion(stack, sdk_host):
    async def ask():
        async with sdk(stack, sdk_host, cls=openai.AsyncOpenAI) as client:
            return await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "async hello"}])

    assert asyncio.run(ask()).choices[0].message.content == "You said: async hello"


# --- streaming ---------------------------------------------------------------------------


def test_sdk_stream_yields_chunks_then_usage(stack, sdk_host):
    stack.openai.enqueue(body=tool_calls(("support_info", {"inquiry_type": "hours"})))
    stack.openai.enqueue(body=completion("We are open Monday to Friday, nine to five."))
    stream = sdk(stack, sdk_host).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "Support hours?"}], stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "We are open Monday to Friday, nine to five."
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) >= 8  # word by word, not one blob
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 40
    assert stack.openai.requests[-1]["json"]["stream"] is True


def test_streamed_caller_tool_calls(stack, sdk_host):
    stack.openai.enqueue(body=tool_calls(("get_weather", {"city": "Paris"})))
    chunks = list(sdk(stack, sdk_host).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "Weather in Paris?"}], tools=[WEATHER_TOOL], stream=True
    ))
    calls = [call for c in chunks if c.choices for call in (c.choices[0].delta.tool_calls or [])]
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [("get_weather", {"city": "Paris"})]
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]


def test_async_sdk_stream(stack, sdk_host):
    async def ask():
        async with sdk(stack, sdk_host, cls=openai.AsyncOpenAI) as client:
            stream = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "stream me"}], stream=True)
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    assert asyncio.run(ask()) == "You said: stream me"


def test_first_chunk_arrives_before_the_provider_has_finished(stack, sdk_host):
    words = " ".join(f"w{i}" for i in range(16))
    stack.openai.enqueue(body=completion(words), chunk_delay=0.15)  # ~2.7 s of streaming
    started = time.monotonic()
    first_at = None
    with httpx.stream(
        "POST", f"http://{sdk_host}:{stack.port}/v1/chat/completions", timeout=30,
        headers={"Authorization": f"Bearer {stack.api_key}"},
        json={"model": "m", "messages": [{"role": "user", "content": "slowly"}], "stream": True},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = []
        for line in response.iter_lines():
            if line.startswith("data: ") and first_at is None:
                first_at = time.monotonic()
            lines.append(line)
    total = time.monotonic() - started
    provider_finished = stack.openai.streams_finished[-1] - started
    assert lines[-2:] == ["data: [DONE]", ""] or lines[-1] == "data: [DONE]"
    # The first chunk came while the provider was still streaming (well before its last byte),
    # not after it: margins wide enough for a loaded machine.
    assert first_at - started < provider_finished - 1.5
    assert first_at - started < 0.5 * total


def test_an_error_before_the_stream_keeps_its_status(stack, sdk_host):
    stack.openai.enqueue(status=429, body={"error": {"message": "slow down"}}, headers={"Retry-After": "7"})
    with pytest.raises(openai.RateLimitError) as limited:
        list(sdk(stack, sdk_host).chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True))
    assert limited.value.status_code == 429
    assert limited.value.response.headers["retry-after"] == "7"


def test_streamed_passthrough_forwards_events_as_they_arrive(stack):
    stack.openai.enqueue(body=completion(" ".join(f"p{i}" for i in range(10))), chunk_delay=0.15)
    started = time.monotonic()
    arrivals = []
    with httpx.stream(
        "POST", f"http://{stack.api_domain}:{stack.port}/v1/passthrough/openai", timeout=30,
        headers={"Authorization": f"Bearer {stack.api_key}"},
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "go"}], "stream": True},
    ) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-smarter-journal-key"]
        for line in response.iter_lines():
            if line.startswith("data: "):
                arrivals.append((time.monotonic() - started, line[6:]))
    assert arrivals[-1][1] == "[DONE]"
    assert len(arrivals) >= 12
    # Spread over the provider's ~2 s, not delivered in one burst at the end.
    assert arrivals[0][0] < arrivals[-1][0] - 1.0


def test_the_readme_sdk_example_works_as_printed(stack):
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    code = re.search(r"```python\n(from openai import OpenAI\n.*?)```", readme, re.S).group(1)
    assert len(code.strip().splitlines()) == 5  # chat completions, the Responses API, embeddings
    code = code.replace("<the printed key>", stack.api_key).replace("127.0.0.1:9357", f"127.0.0.1:{stack.port}")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("Monday to Friday") == 2  # the demo client's support_info plugin answered both
    assert len(json.loads(out.stdout.strip().splitlines()[-1])) == 4  # four numbers of the offline embedding


def test_the_readme_node_example_works_as_printed(stack):
    import re
    import shutil
    from pathlib import Path

    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    code = re.search(r"```js\n(.*?)```", readme, re.S).group(1)
    code = code.replace("<the printed key>", stack.api_key).replace("127.0.0.1:9357", f"127.0.0.1:{stack.port}")
    out = subprocess.run(["node", "--input-type=module", "-e", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Monday to Friday" in out.stdout


def test_the_offline_demo_client_streams_through_the_sdk(stack):
    client = sdk(stack, stack.client_host)
    chunks = list(client.chat.completions.create(model="any", messages=[{"role": "user", "content": "What are your support hours?"}], stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Monday to Friday" in text  # the support_info plugin ran server-side first
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 3
