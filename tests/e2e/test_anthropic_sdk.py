"""End to end: the real SDKs, unmodified, over HTTP against the local stack:
the anthropic SDK (`messages.create`, `messages.stream`, a tool-use round,
its errors), LangChain's ChatAnthropic, and the openai SDK's
`embeddings.create` (float and base64), against a client on the scripted
provider and against the demo client of `make run` (offline provider, its
plugin answering)."""

from __future__ import annotations

import base64
import os
import socket
import struct
import subprocess
import sys

import anthropic
import openai
import pytest

from smarter_local.openai_server import completion, tool_calls

pytestmark = pytest.mark.e2e

CLIENT = "claude-sdk-client"
MANIFEST = f"""
apiVersion: smarter.sh/v1
kind: LLMClient
metadata:
  name: {CLIENT}
  account: "3141-5926-5359"
spec:
  config:
    provider: openai
    defaultModel: gpt-4o-mini
    defaultSystemRole: You answer for Pi Widgets.
    embeddingModel: text-embedding-3-small
  plugins:
    - support_info
"""
DEMO = "customer-support.3141-5926-5359"
WEATHER = {"name": "get_weather", "description": "The weather in a city", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


@pytest.fixture(autouse=True)
def _localhost_names_resolve_to_loopback(monkeypatch):
    """Python's resolver does not send *.localhost to loopback as browsers and curl do."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if isinstance(name, str) and name.endswith(".localhost"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(scope="module")
def host(stack, tmp_path_factory):
    manifest = tmp_path_factory.mktemp("claude") / "client.yaml"
    manifest.write_text(MANIFEST)
    smarter = os.path.join(os.path.dirname(sys.executable), "smarter")
    subprocess.run([smarter, "apply", "-f", str(manifest)], env=stack.admin_env(), check=True, capture_output=True, timeout=60)
    return f"{CLIENT}.{stack.account}.{stack.api_domain}"


@pytest.fixture(autouse=True)
def _fresh_provider(stack):
    stack.openai.reset()


def claude(stack, host, key=None) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=f"http://{host}:{stack.port}", api_key=key or stack.api_key, max_retries=0, timeout=30)


def oai(stack, host) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"http://{host}:{stack.port}/v1", api_key=stack.api_key, max_retries=0, timeout=30)


def test_messages_create_runs_the_plugin_and_answers(stack, host):
    stack.openai.enqueue(body=tool_calls(("support_info", {"inquiry_type": "hours"})))
    stack.openai.enqueue(body=completion("We are open nine to five."))
    raw = claude(stack, host).messages.with_raw_response.create(
        model="claude-sonnet-4-5", max_tokens=200, system="Be brief.", messages=[{"role": "user", "content": "When are you open?"}]
    )
    message = raw.parse()
    assert message.type == "message" and message.stop_reason == "end_turn"
    assert message.content[0].type == "text" and message.content[0].text == "We are open nine to five."
    assert message.usage.input_tokens == 24 and message.usage.output_tokens == 16
    assert raw.headers["request-id"] == raw.headers["x-smarter-journal-key"]
    second = stack.openai.requests[-1]["json"]
    assert second["messages"][-1]["role"] == "tool" and "Monday" in second["messages"][-1]["content"]


def test_messages_stream_yields_the_text_and_the_final_message(stack, host):
    stack.openai.enqueue(body=completion("Streaming works fine", usage=(4, 3)))
    with claude(stack, host).messages.stream(model="m", max_tokens=50, messages=[{"role": "user", "content": "hi"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Streaming works fine"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 3 and final.usage.input_tokens == 4


def test_a_tool_use_round_with_the_callers_tool(stack, host):
    client = claude(stack, host)
    stack.openai.enqueue(body=tool_calls(("get_weather", {"city": "Oslo"})))
    asked = client.messages.create(model="m", max_tokens=100, tools=[WEATHER], messages=[{"role": "user", "content": "Weather in Oslo?"}])
    assert asked.stop_reason == "tool_use"
    use = next(block for block in asked.content if block.type == "tool_use")
    assert use.name == "get_weather" and use.input == {"city": "Oslo"}
    stack.openai.enqueue(body=completion("Sunny in Oslo."))
    done = client.messages.create(
        model="m", max_tokens=100, tools=[WEATHER],
        messages=[
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in asked.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny, 21 C"}]},
        ],
    )
    assert done.content[0].text == "Sunny in Oslo."
    assert stack.openai.requests[-1]["json"]["messages"][-1] == {"role": "tool", "tool_call_id": use.id, "content": "sunny, 21 C"}


def test_a_streamed_tool_use_is_parsed_by_the_sdk(stack, host):
    stack.openai.enqueue(body=tool_calls(("get_weather", {"city": "Bergen"})))
    with claude(stack, host).messages.stream(model="m", max_tokens=50, tools=[WEATHER], messages=[{"role": "user", "content": "Bergen?"}]) as stream:
        final = stream.get_final_message()
    use = final.content[-1]
    assert final.stop_reason == "tool_use" and use.type == "tool_use" and use.input == {"city": "Bergen"}


def test_the_demo_client_answers_create_and_stream_with_its_plugin_offline(stack):
    demo = f"{DEMO}.{stack.api_domain}"
    message = claude(stack, demo).messages.create(model="m", max_tokens=100, messages=[{"role": "user", "content": "What are your support hours?"}])
    assert message.content[0].text.startswith("(offline) Here is what I found:")
    with claude(stack, demo).messages.stream(model="m", max_tokens=100, tools=[WEATHER], messages=[{"role": "user", "content": "Weather in Oslo?"}]) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use" and any(block.type == "tool_use" and block.name == "get_weather" for block in final.content)


def test_sdk_errors_are_anthropics_classes_and_shape(stack, host):
    with pytest.raises(anthropic.AuthenticationError) as bad_key:
        claude(stack, host, key="smk_nope").messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert bad_key.value.body["type"] == "error" and bad_key.value.body["error"]["type"] == "authentication_error"
    with pytest.raises(anthropic.BadRequestError) as bad_body:
        claude(stack, host).messages.create(model="m", max_tokens=5, messages=[{"role": "system", "content": "hi"}])
    assert bad_body.value.body["error"]["type"] == "invalid_request_error" and "messages.0.role" in bad_body.value.body["error"]["message"]
    with pytest.raises(anthropic.BadRequestError):
        claude(stack, host).messages.create(model="m", max_tokens=5, extra_body={"top_k": 3}, messages=[{"role": "user", "content": "hi"}])


def test_langchain_chat_anthropic(stack, host):
    from langchain_anthropic import ChatAnthropic

    stack.openai.enqueue(body=completion("Hello from LangChain's path."))
    model = ChatAnthropic(model="claude-sonnet-4-5", base_url=f"http://{host}:{stack.port}", api_key=stack.api_key, max_retries=0, max_tokens=64)
    reply = model.invoke("Say hello")
    assert reply.content == "Hello from LangChain's path."
    stack.openai.enqueue(body=completion("streamed words here"))
    assert "".join(chunk.text if isinstance(chunk.text, str) else chunk.text() for chunk in model.stream("Say hello")) == "streamed words here"


def test_openai_embeddings_float_and_base64(stack, host):
    client = oai(stack, host)
    floats = client.embeddings.create(model="ignored", input=["ab", "c"], encoding_format="float")
    assert [d.embedding for d in floats.data] == [[2.0, 0.0, 0.25], [1.0, 1.0, 0.25]]
    assert floats.model == "text-embedding-3-small" and floats.usage.total_tokens == 6
    encoded = client.embeddings.with_raw_response.create(model="ignored", input="abc", encoding_format="base64")
    raw = encoded.http_response.json()["data"][0]["embedding"]
    assert list(struct.unpack("<3f", base64.b64decode(raw))) == [3.0, 0.0, 0.25]
    default = client.embeddings.create(model="ignored", input="abcd")  # the SDK asks for base64 and decodes it
    assert default.data[0].embedding == [4.0, 0.0, 0.25]


def test_openai_embeddings_of_the_demo_client_offline(stack):
    client = oai(stack, f"{DEMO}.{stack.api_domain}")
    first = client.embeddings.create(model="m", input="refund policy")
    again = client.embeddings.create(model="m", input="refund policy", encoding_format="float")
    assert len(first.data[0].embedding) == 16 and first.data[0].embedding == pytest.approx(again.data[0].embedding, abs=1e-6)


def test_openai_embeddings_bad_input_is_a_bad_request(stack, host):
    with pytest.raises(openai.BadRequestError) as raised:
        oai(stack, host).embeddings.create(model="m", input=[])
    assert raised.value.body["param"] == "input"


def test_the_readme_anthropic_example_works_as_printed(stack):
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    code = re.search(r"```python\n(import anthropic\n.*?)```", readme, re.S).group(1)
    code = code.replace("<the printed key>", stack.api_key).replace("127.0.0.1:9357", f"127.0.0.1:{stack.port}")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Monday to Friday" in out.stdout  # the demo client's support_info plugin answered
