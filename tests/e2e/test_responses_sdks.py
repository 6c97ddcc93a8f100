"""End to end: OpenAI's Responses API on a client host, driven by the real
client libraries, unmodified (the openai SDK, the OpenAI Agents SDK,
LangChain's ChatOpenAI), over HTTP against the local stack as `make run`
starts it. They reach the client at the local base URL
`http://127.0.0.1:PORT/clients/{account}/{client}/v1`: no DNS name, no Host
header. The demo client answers through the offline provider, its plugin
included; a second client through the scripted provider shows what was sent."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from smarter_local.openai_server import completion

pytestmark = pytest.mark.e2e

NODE_CLIENT = Path(__file__).with_name("responses_client.mjs")
SCRIPTED = "responses-client"
SCRIPTED_MANIFEST = f"""
apiVersion: smarter.sh/v1
kind: LLMClient
metadata:
  name: {SCRIPTED}
  account: "3141-5926-5359"
spec:
  config:
    provider: openai
    defaultModel: gpt-4o-mini
    defaultSystemRole: You answer for Pi Widgets.
"""
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def base_url(stack, client: str | None = None) -> str:
    url = stack.openai_base_url
    return url if client is None else url.replace(f"/{stack.client}/", f"/{client}/")


def sdk(stack, client: str | None = None, cls=openai.OpenAI, **kwargs):
    return cls(base_url=base_url(stack, client), api_key=kwargs.pop("key", stack.api_key), max_retries=0, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def scripted_client(stack, tmp_path_factory):
    manifest = tmp_path_factory.mktemp("responses") / "client.yaml"
    manifest.write_text(SCRIPTED_MANIFEST)
    smarter = os.path.join(os.path.dirname(sys.executable), "smarter")
    subprocess.run([smarter, "apply", "-f", str(manifest)], env=stack.admin_env(), check=True, capture_output=True, timeout=60)
    return SCRIPTED


def test_the_banner_prints_the_path_base_url(stack):
    assert f"base_url={stack.openai_base_url}" in stack.output
    assert stack.openai_base_url.startswith("http://127.0.0.1:")


def test_the_printed_responses_curl_works_as_printed(stack):
    import shlex

    line = next(line for line in stack.output.splitlines() if line.startswith("Responses API: curl "))
    out = subprocess.run(shlex.split(line.removeprefix("Responses API: ")), capture_output=True, text=True, timeout=30, check=True).stdout
    answer = json.loads(out)
    assert answer["object"] == "response" and "Monday to Friday" in answer["output"][0]["content"][0]["text"]


def test_responses_create_runs_the_demo_plugin_through_the_offline_provider(stack):
    raw = sdk(stack).responses.with_raw_response.create(model="offline-echo", input="What are your support hours?")
    response = raw.parse()
    assert response.status == "completed" and response.object == "response"
    assert response.output_text.startswith("(offline) Here is what I found:") and "Monday to Friday" in response.output_text
    assert response.usage.total_tokens > 0
    extra = response.model_extra["smarter"]
    assert extra["tool_calls"][0]["plugin"] == "support_info"
    assert raw.headers["x-smarter-journal-key"] == extra["journal_key"]


def test_responses_stream_yields_typed_events_and_a_final_response(stack):
    with sdk(stack).responses.stream(model="offline-echo", input="Tell me about your refunds policy") as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) > 3 and "".join(deltas) == final.output_text
    assert "30 days" in final.output_text and final.usage.output_tokens > 0


def test_a_caller_tool_round_with_function_call_output_and_previous_response_id(stack):
    client = sdk(stack)
    first = client.responses.create(model="offline-echo", input="Support hours, and the weather in Paris?", tools=[WEATHER])
    calls = [item for item in first.output if item.type == "function_call"]
    assert [c.name for c in calls] == ["get_weather"]  # the plugin ran here; the caller's tool came back
    second = client.responses.create(
        model="offline-echo",
        previous_response_id=first.id,
        tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "Sunny, 21 C"}],
    )
    assert second.status == "completed" and second.previous_response_id == first.id
    assert "Sunny, 21 C" in second.output_text and "Monday to Friday" in second.output_text  # both results, one conversation
    assert client.responses.retrieve(second.id).output_text == second.output_text


def test_previous_response_id_sends_the_stored_conversation_to_the_provider(stack, scripted_client):
    client = sdk(stack, scripted_client)
    stack.openai.enqueue(body=completion("Hello Ada."))
    first = client.responses.create(model="gpt-4o-mini", input="My name is Ada.", instructions="Be brief.")
    stack.openai.enqueue(body=completion("Your name is Ada."))
    second = client.responses.create(model="gpt-4o-mini", input="What is my name?", previous_response_id=first.id)
    sent = stack.openai.requests[-1]["json"]["messages"]
    assert [(m["role"], m["content"]) for m in sent[1:]] == [("user", "My name is Ada."), ("assistant", "Hello Ada."), ("user", "What is my name?")]
    assert second.output_text == "Your name is Ada."
    with pytest.raises(openai.NotFoundError):
        sdk(stack).responses.retrieve(first.id)  # another client's host: not found


def test_a_stream_broken_by_the_provider_raises_in_the_sdk_after_response_failed(stack, scripted_client):
    broken = b'data: {"choices":[{"index":0,"delta":{"content":"half an answer"}}]}\n\ndata: {not json\n\n'
    stack.openai.enqueue(raw=broken, headers={"Content-Type": "text/event-stream"})
    seen: list[str] = []
    with pytest.raises(openai.APIError) as failed:
        with sdk(stack, scripted_client).responses.stream(model="gpt-4o-mini", input="hello") as stream:
            for event in stream:
                seen.append(event.type)
    assert "response.output_text.delta" in seen and seen[-1] == "response.failed"
    assert "not JSON" in failed.value.message


def test_agents_sdk_runner_calls_a_function_tool_through_the_client_host(stack):
    from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled

    set_tracing_disabled(True)  # no trace export to OpenAI from a test
    seen: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        seen.append(city)
        return f"Sunny in {city}"

    model = OpenAIResponsesModel(model="offline-echo", openai_client=sdk(stack, cls=openai.AsyncOpenAI))
    agent = Agent(name="support", instructions="Answer for Pi Widgets.", model=model, tools=[get_weather])
    result = Runner.run_sync(agent, "What is the weather? And your support hours?")
    assert seen, "the agent's function tool was called"
    assert result.final_output.startswith("(offline) Here is what I found:") and f"Sunny in {seen[0]}" in result.final_output


def test_langchain_chat_openai_with_the_responses_api(stack):
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(model="offline-echo", base_url=base_url(stack), api_key=stack.api_key, use_responses_api=True, max_retries=0)
    answer = chat.invoke("hello from langchain")
    assert "You said: hello from langchain" in answer.text
    chunks = list(chat.stream("stream from langchain"))
    assert "".join(c.text for c in chunks).endswith("You said: stream from langchain")


def test_bad_input_through_the_sdk_is_a_4xx_in_the_responses_error_shape(stack):
    client = sdk(stack)
    with pytest.raises(openai.BadRequestError) as unsupported:
        client.responses.create(model="m", input="hi", top_logprobs=2)
    assert unsupported.value.status_code == 400 and unsupported.value.param == "top_logprobs"
    with pytest.raises(openai.BadRequestError) as hosted:
        client.responses.create(model="m", input="hi", tools=[{"type": "web_search"}])
    assert hosted.value.param == "tools[0].type"
    with pytest.raises(openai.BadRequestError) as previous:
        client.responses.create(model="m", input="hi", previous_response_id="resp_unknown")
    assert previous.value.code == "previous_response_not_found"
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_unknown")
    with pytest.raises(openai.AuthenticationError):
        sdk(stack, key="smk_nope").responses.create(model="m", input="hi")


def test_models_retrieve_answers_and_an_unknown_model_is_a_404(stack):
    client = sdk(stack)
    listed = client.models.list().data
    assert client.models.retrieve(listed[0].id).id == listed[0].id
    assert client.models.list().data[0].created == listed[0].created  # not the time of each call
    with pytest.raises(openai.NotFoundError) as missing:
        client.models.retrieve("no-such-model")
    assert missing.value.code == "model_not_found"


def test_chat_completions_at_the_path_base_url_from_python(stack):
    answer = sdk(stack).chat.completions.create(model="m", messages=[{"role": "user", "content": "hi by path"}])
    assert answer.choices[0].message.content == "(offline) You said: hi by path"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_fetch_reaches_the_client_at_the_path_base_url(stack):
    out = subprocess.run(["node", str(NODE_CLIENT), stack.openai_base_url, stack.api_key], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    answers = json.loads(out.stdout)
    assert answers["chat"] == "(offline) You said: hello from node"
    assert answers["responses"] == "(offline) You said: hello from node"
    assert answers["streamed"] == "(offline) You said: streamed from node"
