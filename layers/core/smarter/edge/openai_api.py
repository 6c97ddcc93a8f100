"""The OpenAI-compatible API on a client's host: `POST /v1/chat/completions`
and `GET /v1/models`, in OpenAI's wire format, for the openai SDK and the
libraries built on it.

Behind it is the same chat path as the Smarter prompt API (`llm.chat.converse`):
the client's provider, model, system role and plugins, the server-side tool
loop, sessions and the journal. What differs is only the wire format:

- the answer is a `chat.completion` (or, with `stream: true`, server-sent
  `chat.completion.chunk` events ending with `data: [DONE]`);
- the journal key, session key and plugin calls travel in headers
  (`X-Smarter-Journal-Key`, `X-Smarter-Session-Key`) and in an extra `smarter`
  field that strict OpenAI clients ignore;
- errors are `{"error": {"message", "type", "code", "param"}}` with the same
  status codes as the prompt API;
- stateless by default: history is loaded only when the caller sends
  `X-Smarter-Session-Key` (each answer's messages are kept under a session key
  either way, so a caller can continue any answer);
- the caller's `model` is used only when the client allows it
  (`allowModelOverride`); otherwise the client's model answers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from aws_lambda_powertools import Logger
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, ValidationError

from smarter.edge import pipeline
from smarter.edge.pipeline import Answer, Exchange, Surface
from smarter.errors import BadRequest, MethodNotAllowed, NotFound, PayloadTooLarge, ProviderRejected, SmarterError
from smarter.llm import chat
from smarter.llm import params as provider_params
from smarter.llm.messages import ChatMessage, check_message_count
from smarter.llm.streaming import DONE, event
from smarter.runtime.streams import StreamedResponse
from smarter.schema import PLUGIN_NAME, SESSION_KEY, describe_validation_error
from smarter.store.journal import RequestRecord
from smarter.tenancy import hosts

logger = Logger(child=True)

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
RESPONSES_PATH = "/v1/responses"
EMBEDDINGS_PATH = "/v1/embeddings"  # edge/embeddings.py
JOURNAL_HEADER = "X-Smarter-Journal-Key"
SESSION_HEADER = "X-Smarter-Session-Key"
JSON = "application/json"

# OpenAI's error `type` for our status codes; our own type goes in `code`.
OPENAI_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    # A spent budget (tenancy/limits.py): OpenAI's own word for running out of quota.
    402: "insufficient_quota",
    429: "rate_limit_error",
}
# OpenAI's `code` where it has a word for our error; otherwise our own type.
OPENAI_CODES = {
    "unauthorized": "invalid_api_key",
    "rate_limited": "rate_limit_exceeded",
    "budget_exceeded": "insufficient_quota",
    "not_found": "unknown_url",
    "bad_request": "invalid_value",
    "provider_timeout": "timeout",
}
REQUEST_ID_HEADER = "x-request-id"  # the SDKs show it as `_request_id`: the journal key


class RequestTooLarge(BadRequest):
    """A body over the input limit, on the OpenAI surface: a 400 (the SDKs'
    BadRequestError), since the openai SDK has no class for a 413."""

    type = "request_too_large"


# --- the request ---------------------------------------------------------------------


def _tool_name(value: str) -> str:
    if not PLUGIN_NAME.match(value):
        raise ValueError("a tool's name is 1 to 64 letters, digits, '_' or '-'")
    return value


# A caller's tool name, as every provider accepts it (OpenAI's functions, Anthropic's tools).
ToolName = Annotated[str, AfterValidator(_tool_name)]


class FunctionSpec(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)

    name: ToolName
    description: str | None = None
    parameters: dict[str, Any] | None = None


class ToolSpec(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)

    type: Literal["function"]
    function: FunctionSpec


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)

    include_usage: StrictBool = False  # "yes" is not a boolean


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat completion request; unknown fields are ignored, as OpenAI-compatible servers do."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[ToolSpec] | None = None
    tool_choice: Any = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    n: int | None = Field(default=None, ge=1, le=1, description="one choice per request")

    def turn(self, session_key: str | None) -> chat.ChatTurn:
        extra = self.model_extra or {}
        params = {name: extra[name] for name in chat.PASSED_PARAMS if name in extra}
        params["temperature"] = self.temperature
        if self.max_tokens and self.max_completion_tokens:
            raise BadRequest("max_tokens: send max_completion_tokens or max_tokens, not both", param="max_tokens")
        params.update({name: getattr(self, name) for name in chat.OUTPUT_CAPS if getattr(self, name)})
        tools = [tool.model_dump(exclude_none=True) for tool in self.tools or []]
        names = [tool["function"]["name"] for tool in tools]
        duplicate = next((name for name in names if names.count(name) > 1), None)
        if duplicate:
            raise BadRequest(f"tools: the function name {duplicate!r} is given twice")
        return chat.ChatTurn(
            messages=[m.to_openai() for m in self.messages],
            session_key=session_key,
            caller_tools=tools,
            tool_choice=self.tool_choice,
            model=self.model,
            params=params,
        )


def parse_request(body: Any) -> ChatCompletionRequest:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object: an OpenAI chat completion request with 'messages'")
    check_message_count(body)
    provider_params.check_known(body)
    messages = body.get("messages")
    if isinstance(messages, list):
        # OpenAI's newer name for system instructions; providers behind us may only know `system`.
        body = {**body, "messages": [{**m, "role": "system"} if isinstance(m, dict) and m.get("role") == "developer" else m for m in messages]}
    try:
        return ChatCompletionRequest.model_validate(body)
    except ValidationError as exc:
        raise BadRequest(describe_validation_error(exc), param=error_param(exc)) from None


UNION_TAGS = frozenset({"str", "int", "float", "bool", "dict", "list", "none"})


def error_param(exc: ValidationError) -> str | None:
    """The first offending field as OpenAI names it: `messages[0].role`."""
    errors = exc.errors(include_input=False, include_url=False)
    if not errors or not errors[0]["loc"]:
        return None
    out = ""
    for part in errors[0]["loc"]:
        if isinstance(part, str) and (part in UNION_TAGS or "[" in part):
            break  # pydantic names the union member it tried (`input.list[str]`): the field is what came before
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or None


def read_body(exchange: Exchange) -> Any:
    """The body within the input limits; one too large is a 400 here (RequestTooLarge)."""
    try:
        return exchange.body()
    except PayloadTooLarge as exc:
        raise RequestTooLarge(exc.message, headers=exc.headers) from None


# --- answers ---------------------------------------------------------------------------


def error_body(error: SmarterError) -> dict[str, Any]:
    code = error.code if isinstance(error, ProviderRejected) and error.code else OPENAI_CODES.get(error.type, error.type)
    return {
        "error": {
            "message": error.message,
            "type": OPENAI_ERROR_TYPES.get(error.status, "api_error"),
            "code": code,
            "param": error.param,
        }
    }


class OpenAISurface(Surface):
    """OpenAI's wire format: its error shape, the session key in a header."""

    thing = "LLMClient"
    allow_headers = ("Authorization", "Content-Type", SESSION_HEADER)
    expose_headers = (SESSION_HEADER, REQUEST_ID_HEADER)

    def error_body(self, record: RequestRecord, error: SmarterError) -> dict[str, Any]:
        return error_body(error)

    def stream_error(self, record: RequestRecord, error: SmarterError) -> bytes:
        return event(error_body(error))

    def headers(self, record: RequestRecord) -> dict[str, str]:
        out = {REQUEST_ID_HEADER: record.key}
        if record.session_key:
            out[SESSION_HEADER] = record.session_key
        return out


def handle(raw_event: dict[str, Any], context: Any = None) -> Answer:
    """Answer one request on a client host's /v1 routes, on the one pipeline."""
    path = (raw_event.get("path") or "").rstrip("/")
    if path == RESPONSES_PATH or path.startswith(RESPONSES_PATH + "/"):
        from smarter.edge import responses  # the Responses API: its own surface (edge/responses.py)

        return responses.handle(raw_event, context)
    if path.startswith(MODELS_PATH + "/"):
        from smarter.edge import models  # GET /v1/models/{id}

        return models.handle(raw_event, context)
    if path in anthropic_paths():
        from smarter.edge import anthropic_api

        return anthropic_api.handle(raw_event, context, path)
    command = {CHAT_PATH: "chat.completions", MODELS_PATH: "models", EMBEDDINGS_PATH: "embeddings"}.get(path, "openai")
    return pipeline.serve(raw_event, context, OpenAISurface(command=command), lambda exchange: _route(exchange, path))


def anthropic_paths() -> tuple[str, ...]:
    """Anthropic's Messages API shares this function (edge/anthropic_api.py)."""
    return ("/v1/messages", "/v1/messages/count_tokens")


def _route(exchange: Exchange, path: str) -> Answer:
    method = exchange.event.http_method
    if path == CHAT_PATH:
        if method != "POST":
            raise MethodNotAllowed(f"{method} is not supported here: send POST with an OpenAI chat completion request", headers={"Allow": "POST, OPTIONS"})
        return _chat_completions(exchange)
    if path == EMBEDDINGS_PATH:
        if method != "POST":
            raise MethodNotAllowed(f"{method} is not supported here: send POST with an OpenAI embeddings request", headers={"Allow": "POST, OPTIONS"})
        from smarter.edge import embeddings

        return embeddings.answer(exchange)
    if path == MODELS_PATH:
        if method not in ("GET", "HEAD"):
            raise MethodNotAllowed(f"{method} is not supported here: send GET", headers={"Allow": "GET, OPTIONS"})
        return _models(exchange)
    raise NotFound(f"no route for {method} {exchange.event.path}; this host answers {CHAT_PATH}, {RESPONSES_PATH}, {EMBEDDINGS_PATH}, /v1/messages and {MODELS_PATH}")


def _session_header(exchange: Exchange) -> str | None:
    value = exchange.header(SESSION_HEADER)
    if value is None or value.strip() == "":
        return None
    if not SESSION_KEY.match(value.strip()):
        raise BadRequest(f"{SESSION_HEADER}: must be 8 to 128 letters, digits, '-' or '_'")
    return value.strip()


def _models(exchange: Exchange) -> dict[str, Any]:
    from smarter.edge import models

    return exchange.json(200, {"object": "list", "data": models.listing(exchange.client())})


def created_epoch(doc: dict[str, Any]) -> int:
    """When the client was first applied, in Unix seconds: the same on every call."""
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(str(doc.get("created_at"))).timestamp())
    except (TypeError, ValueError):
        return 0


def _chat_completions(exchange: Exchange) -> Answer:
    resolved = exchange.client()
    body = read_body(exchange)
    request = parse_request(body)
    turn = request.turn(_session_header(exchange))
    exchange.record.request["body"] = {k: v for k, v in body.items() if k != "messages"} | {"messages": len(request.messages)}
    if request.stream:
        include_usage = bool(request.stream_options and request.stream_options.include_usage)
        return _stream(exchange, resolved, turn, include_usage)
    result = chat.run(resolved, turn, exchange.record)
    return exchange.json(200, completion_body(exchange.record, result))


def _extra(record: RequestRecord, result: chat.ChatResult | None) -> dict[str, Any]:
    """The `smarter` field: what OpenAI's shape has no place for."""
    extra: dict[str, Any] = {"journal_key": record.key, "session_key": record.session_key, "tool_calls": record.tool_calls}
    if result is not None:
        extra.update(selected_plugins=result.selected_plugins, provider=result.provider, rounds=result.rounds)
    return extra


def _completion_id(record: RequestRecord) -> str:
    return f"chatcmpl-{record.key}"


def completion_body(record: RequestRecord, result: chat.ChatResult) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": result.message.get("content")}
    finish = _finish_reason(result)
    if result.caller_calls:
        message["tool_calls"] = result.caller_calls
    usage = dict(record.usage) or {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    return {
        "id": _completion_id(record),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": result.model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": _logprobs(result)}],
        "usage": usage,
        "smarter": _extra(record, result),
    }


# --- streaming -------------------------------------------------------------------------


def _logprobs(result: chat.ChatResult) -> Any:
    """The provider's logprobs of the answer (None unless the caller asked and the provider sent them)."""
    return ((result.completion.get("choices") or [{}])[0]).get("logprobs")


def _finish_reason(result: chat.ChatResult) -> str:
    """The provider's own finish reason (`length` stays `length`); `tool_calls`
    only when the caller's tools were called (our plugins' calls ran here)."""
    if result.caller_calls:
        return "tool_calls"
    finish = ((result.completion.get("choices") or [{}])[0]).get("finish_reason") or "stop"
    return "stop" if finish == "tool_calls" else finish


def _stream(exchange: Exchange, resolved: hosts.ResolvedClient, turn: chat.ChatTurn, include_usage: bool) -> StreamedResponse:
    """Server-sent chunks as the provider produces them. The conversation is run
    up to its first content (plugin rounds included) before the status is sent,
    so an error up to then still gets its own status code; later errors end
    the stream with an error event (the pipeline's)."""
    record = exchange.record
    conversation, first = chat.start_stream(resolved, turn, record)
    cid, created = _completion_id(record), int(time.time())
    sent: list[str] = [first]
    state: dict[str, Any] = {"chunks": 0}

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        state["chunks"] += 1
        payload = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": conversation.model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return event(payload)

    def body() -> Iterator[bytes]:
        yield chunk({"role": "assistant", "content": first})
        for piece in conversation:
            sent.append(piece)
            yield chunk({"content": piece})
        result = conversation.outcome
        assert result is not None
        finish = _finish_reason(result)
        if result.caller_calls:
            yield chunk({"tool_calls": [{"index": i, **call} for i, call in enumerate(result.caller_calls)]})
        logprobs = _logprobs(result)
        if logprobs:  # the whole answer's, once: the pieces above come from the chat loop, not the provider's chunks
            state["chunks"] += 1
            yield event({"id": cid, "object": "chat.completion.chunk", "created": created, "model": conversation.model,
                         "choices": [{"index": 0, "delta": {}, "logprobs": logprobs, "finish_reason": None}]})
        yield chunk({}, finish, smarter=_extra(record, result))
        if include_usage:
            state["chunks"] += 1
            usage = dict(record.usage) or {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
            yield event({"id": cid, "object": "chat.completion.chunk", "created": created, "model": conversation.model, "choices": [], "usage": usage})
        yield DONE
        state.update(finish_reason=finish, tool_calls=result.caller_calls)

    def summary() -> dict[str, Any]:
        conversation.close()  # the client went away or the stream failed: stop the provider too
        return {"object": "chat.completion.stream", "id": cid, "model": conversation.model, "content": "".join(sent), **state}

    return exchange.stream(body(), summary)
