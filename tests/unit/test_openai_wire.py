"""The OpenAI wire format at the edge: requests parsed with errors that name
the field, errors in OpenAI's shape, and streamed chunks folded back into a
completion (tool-call fragments merged)."""

from __future__ import annotations

import json

import pytest

from smarter.edge.openai_api import error_body, parse_request
from smarter.runtime.streams import StreamedResponse, as_streamed
from smarter.errors import BadRequest, ProviderTimeout, RateLimited, Unauthorized
from smarter.llm.streaming import Assembler, chunks_of, sse_data

USER = [{"role": "user", "content": "hi"}]


def test_a_plain_request_becomes_a_turn_with_the_callers_parameters():
    turn = parse_request({"model": "gpt-x", "messages": USER, "temperature": 0.3, "max_completion_tokens": 50, "seed": 7}).turn(None)
    assert turn.messages == USER and turn.model == "gpt-x"
    assert turn.params["temperature"] == 0.3 and turn.params["max_completion_tokens"] == 50 and turn.params["seed"] == 7
    assert "max_tokens" not in turn.params


def test_a_field_openai_does_not_have_is_refused_by_name():
    with pytest.raises(BadRequest) as raised:
        parse_request({"messages": USER, "vendor_x": 1})
    assert raised.value.param == "vendor_x" and raised.value.type == "unknown_parameter"


def test_developer_messages_are_system_messages():
    turn = parse_request({"messages": [{"role": "developer", "content": "Be brief."}, *USER]}).turn(None)
    assert turn.messages[0] == {"role": "system", "content": "Be brief."}


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages.0.role"),
        ({"messages": USER, "n": 2}, "n"),
        ({"messages": USER, "temperature": 3}, "temperature"),
        ({"messages": USER, "tools": [{"type": "function", "function": {"name": "bad name!"}}]}, "tools.0.function.name"),
        ({"messages": USER, "stream": "yes please"}, "stream"),
    ],
)
def test_bad_requests_name_the_field(body, named):
    with pytest.raises(BadRequest) as raised:
        parse_request(body)
    assert raised.value.message.startswith(named)


def test_the_same_tool_twice_is_refused():
    tool = {"type": "function", "function": {"name": "lookup"}}
    with pytest.raises(BadRequest, match="lookup"):
        parse_request({"messages": USER, "tools": [tool, tool]}).turn(None)


@pytest.mark.parametrize(
    ("error", "kind"),
    [(BadRequest("x"), "invalid_request_error"), (Unauthorized("x"), "authentication_error"),
     (RateLimited("x"), "rate_limit_error"), (ProviderTimeout("x"), "api_error")],
)
def test_errors_take_openais_shape_with_openais_code(error, kind):
    codes = {"bad_request": "invalid_value", "unauthorized": "invalid_api_key", "rate_limited": "rate_limit_exceeded", "provider_timeout": "timeout"}
    assert error_body(error) == {"error": {"message": "x", "type": kind, "code": codes[error.type], "param": None}}


def test_stream_chunks_fold_back_into_the_completion_they_came_from():
    completion = {"id": "c1", "created": 1, "model": "m", "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
                  "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": "Let me look",
                               "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]}}]}
    assembler = Assembler()
    pieces = [assembler.add(chunk) for chunk in chunks_of(completion)]
    assert "".join(p for p in pieces if p) == "Let me look"
    folded = assembler.body()
    assert folded["choices"][0]["message"]["tool_calls"] == completion["choices"][0]["message"]["tool_calls"]
    assert folded["usage"] == completion["usage"] and folded["choices"][0]["finish_reason"] == "tool_calls"


def test_tool_call_arguments_split_over_chunks_are_joined():
    assembler = Assembler()
    assembler.add({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "t", "function": {"name": "f", "arguments": '{"ci'}}]}}]})
    assembler.add({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Paris"}'}}]}}]})
    assert json.loads(assembler.body()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}


def test_sse_data_skips_comments_and_stops_at_done():
    lines = [": keep-alive", "", 'data: {"choices": []}', "event: x", "data: [DONE]", 'data: {"late": true}']
    assert list(sse_data(iter(lines))) == [{"choices": []}]


def test_a_buffered_answer_is_one_chunk_after_the_prelude():
    streamed = as_streamed({"statusCode": 404, "headers": {"Content-Type": "application/json"}, "body": '{"a": 1}'})
    assert isinstance(streamed, StreamedResponse) and list(streamed.body) == [b'{"a": 1}']
    prelude, _, rest = streamed.prelude().partition(b"\0" * 8)
    assert json.loads(prelude) == {"statusCode": 404, "headers": {"Content-Type": "application/json"}} and rest == b""
