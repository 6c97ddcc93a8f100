"""The envelope shape, the prompt request model and manifest validation."""

from __future__ import annotations

import pytest

from smarter.edge.envelope import envelope
from smarter.errors import BadRequest, ManifestError, NotFound
from smarter.llm.messages import parse_prompt_request
from smarter.schema import validate_model
from smarter_admin.models import ClientSpec, parse_manifest


def test_success_envelope():
    body = envelope("LLMClient", "prompt", "k1", data={"x": 1}, session_key="s1")
    assert body == {"api": "smarter.sh/v1", "thing": "LLMClient", "metadata": {"command": "prompt", "key": "k1", "session_key": "s1"}, "data": {"x": 1}}


def test_error_envelope_has_no_data():
    body = envelope("LLMClient", "prompt", "k1", error=NotFound("no such client"))
    assert body["error"] == {"type": "not_found", "message": "no such client", "status": 404}
    assert "data" not in body
    assert body["metadata"]["key"] == "k1"


def test_prompt_request_accepts_all_roles():
    request = parse_prompt_request(
        {
            "messages": [
                {"role": "system", "content": "s"},
                {"role": "user", "content": "u"},
                {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "1", "content": "r"},
            ]
        }
    )
    assert [m.role for m in request.messages] == ["system", "user", "assistant", "tool"]
    assert request.messages[2].to_openai()["tool_calls"][0]["id"] == "1"


def test_prompt_request_accepts_content_parts():
    request = parse_prompt_request({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]})
    assert request.messages[0].content == [{"type": "text", "text": "hi"}]


def test_blank_session_key_means_new_session():
    assert parse_prompt_request({"session_key": "", "messages": [{"role": "user", "content": "x"}]}).session_key is None


def test_prompt_errors_name_every_field():
    with pytest.raises(BadRequest) as caught:
        parse_prompt_request({"messages": [{"role": "x", "content": "a"}, {"role": "user"}]})
    assert "messages.0.role" in caught.value.message
    assert "messages.1" in caught.value.message


@pytest.mark.parametrize(
    ("manifest", "path"),
    [
        ({"apiVersion": "v2", "kind": "Account", "metadata": {"name": "x"}}, "apiVersion"),
        ({"apiVersion": "smarter.sh/v1", "kind": "Account"}, "metadata"),
        ({"apiVersion": "smarter.sh/v1", "kind": "Account", "metadata": {"name": "x", "colour": "red"}}, "metadata.colour"),
        ("just a string", ""),
    ],
)
def test_manifest_errors_name_the_field(manifest, path):
    with pytest.raises(ManifestError) as caught:
        parse_manifest(manifest)
    assert caught.value.path == path


def test_client_spec_errors_carry_the_full_path():
    with pytest.raises(ManifestError) as caught:
        validate_model(ClientSpec, {"config": {"defaultTemperature": "hot"}}, "spec")
    assert caught.value.path == "spec.config.defaultTemperature"
    with pytest.raises(ManifestError) as caught:
        validate_model(ClientSpec, {"config": {"defaultTemprature": 0.2}}, "spec")
    assert caught.value.path == "spec.config.defaultTemprature"


def test_offline_provider_is_deterministic_and_calls_offered_tools():
    from smarter.llm.offline import complete

    tool = {"type": "function", "function": {"name": "faq", "parameters": {"type": "object", "properties": {"topic": {"type": "string", "enum": ["billing", "refunds"]}}}}}
    request = {"model": "m", "messages": [{"role": "user", "content": "I want a refund"}], "tools": [tool]}
    first, again = complete(request), complete(request)
    assert first["choices"] == again["choices"]
    call = first["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "faq"
    assert call["function"]["arguments"] == '{"topic": "refunds"}'
    request["messages"] += [first["choices"][0]["message"], {"role": "tool", "tool_call_id": call["id"], "content": "30 days"}]
    answer = complete(request)["choices"][0]
    assert answer["finish_reason"] == "stop"
    assert "30 days" in answer["message"]["content"]
