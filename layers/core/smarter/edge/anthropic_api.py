"""Anthropic's Messages API on a client's host: `POST /v1/messages` (buffered,
or streamed with `"stream": true`) and `POST /v1/messages/count_tokens`, in
Anthropic's wire format, for the anthropic SDKs, Claude Code and the
libraries built on them (LangChain's ChatAnthropic).

Behind it is the one chat path (`llm.chat.converse`), as behind the OpenAI
API: the client's provider, model, system role and plugins, the server-side
tool loop, session, limits and journal. The request is bridged onto it:

- `system` becomes a system message after the client's own system role;
- content blocks: `text` and `image` become OpenAI content parts,
  `tool_use` an assistant's `tool_calls`, `tool_result` a `tool` message;
- the caller's `tools` (`input_schema`) are offered beside the client's
  plugins; a call of one ends the turn with a `tool_use` block
  (`stop_reason: tool_use`), as Anthropic's API does;
- `max_tokens` is the output cap (at most the client's `defaultMaxTokens`),
  sent under the name the provider takes; `stop_sequences` is `stop`,
  `metadata.user_id` is `user`, `tool_choice` and
  `disable_parallel_tool_use` their OpenAI equivalents.

Claude's own parameters (`thinking`, `top_k`, `service_tier`) reach a
client whose provider is Anthropic over its own API
(llm/anthropic_provider.py); any other provider refuses them with a 400
naming the field, never dropped. Anthropic's hosted features
(`container`, `mcp_servers`, server tools) and `document` blocks are
refused the same way. Errors are Anthropic's `{"type": "error", "error": {"type",
"message"}}` with its status codes; the key comes as `x-api-key` or
`Authorization: Bearer`; `anthropic-version` is required, as Anthropic
requires it; `anthropic-beta` is accepted and has no effect here.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from smarter.edge import pipeline
from smarter.edge.openai_api import SESSION_HEADER, ToolName, _session_header, error_param
from smarter.edge.pipeline import Answer, Exchange, Surface
from smarter.errors import BadRequest, MethodNotAllowed, NotFound, SmarterError
from smarter.llm import chat
from smarter.llm.messages import MAX_CONTENT_PARTS, check_message_count
from smarter.runtime.streams import StreamedResponse
from smarter.schema import describe_validation_error
from smarter.store.journal import RequestRecord
from smarter.tenancy import hosts, limits

MESSAGES_PATH = "/v1/messages"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
PATHS = (MESSAGES_PATH, COUNT_TOKENS_PATH)
# A version is a date (2023-06-01, the SDKs' newer ones); each answer here is in the
# 2023-06-01 wire format, which the later versions extend without changing it.
VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")
REQUEST_ID_HEADER = "request-id"  # Anthropic's; the SDK shows it as `_request_id`: the journal key

# Anthropic's error `type` for our status codes (its errors documentation).
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}
STOP_REASONS = {"length": "max_tokens", "content_filter": "refusal", "tool_calls": "tool_use"}


# --- the request ---------------------------------------------------------------------


class _Block(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)  # cache_control, citations: no effect here


class TextBlock(_Block):
    type: Literal["text"]
    text: str


class ImageSource(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    type: Literal["base64", "url"]
    media_type: str | None = Field(default=None, max_length=100)
    data: str | None = None
    url: str | None = Field(default=None, max_length=8192)


class ImageBlock(_Block):
    type: Literal["image"]
    source: ImageSource

    def part(self) -> dict[str, Any]:
        source = self.source
        if source.type == "url":
            if not source.url:
                raise BadRequest("image.source.url: required for a url source", param="source.url")
            return {"type": "image_url", "image_url": {"url": source.url}}
        if not source.data or not source.media_type:
            raise BadRequest("image.source: a base64 source needs media_type and data", param="source.data")
        return {"type": "image_url", "image_url": {"url": f"data:{source.media_type};base64,{source.data}"}}


class ToolUseBlock(_Block):
    type: Literal["tool_use"]
    id: str = Field(min_length=1, max_length=256)
    name: str = Field(min_length=1, max_length=64)
    input: dict[str, Any]


class ToolResultBlock(_Block):
    type: Literal["tool_result"]
    tool_use_id: str = Field(min_length=1, max_length=256)
    content: str | Annotated[list[TextBlock | ImageBlock], Field(max_length=MAX_CONTENT_PARTS)] | None = None
    is_error: StrictBool = False

    def text(self) -> str:
        if isinstance(self.content, str):
            text = self.content
        else:
            text = "\n".join(part.text for part in self.content or [] if isinstance(part, TextBlock))
        return f"(error) {text}" if self.is_error else text


Block = Annotated[TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock, Field(discriminator="type")]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    role: Literal["user", "assistant"]
    content: str | Annotated[list[Block], Field(min_length=1, max_length=MAX_CONTENT_PARTS)]


class Tool(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)

    type: Literal["custom"] | None = None  # Anthropic's server tools (web search, code execution) are not bridged
    name: ToolName
    description: str | None = None
    input_schema: dict[str, Any]


class ToolChoice(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: StrictBool | None = None


class Metadata(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    user_id: str | None = Field(default=None, max_length=256)


class MessagesRequest(BaseModel):
    """Anthropic's Messages request. A field it does not have is refused (as
    Anthropic does); one it has that cannot be bridged is refused by name."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    model: str = Field(min_length=1, max_length=256)
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    system: str | Annotated[list[TextBlock], Field(max_length=MAX_CONTENT_PARTS)] | None = None
    stop_sequences: list[str] | None = Field(default=None, max_length=4)
    stream: StrictBool = False
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    metadata: Metadata | None = None
    tools: list[Tool] | None = Field(default=None, max_length=128)
    tool_choice: ToolChoice | None = None
    # Claude's own: forwarded to a provider that takes them (Anthropic over its
    # own API, llm/params.py), refused by name by any other.
    top_k: int | None = Field(default=None, ge=0)
    thinking: dict[str, Any] | None = None
    service_tier: str | None = Field(default=None, max_length=64)
    # Anthropic's hosted features: never bridged.
    container: Any = None
    mcp_servers: Any = None

    def refuse_unbridged(self) -> None:
        for name in ("container", "mcp_servers"):
            if getattr(self, name) is not None:
                raise BadRequest(f"{name}: not supported here: the client's provider is called over chat completions", param=name)

    def turn(self, session_key: str | None) -> chat.ChatTurn:
        self.refuse_unbridged()
        tools = [
            {"type": "function", "function": {"name": t.name, **({"description": t.description} if t.description else {}), "parameters": t.input_schema}}
            for t in self.tools or []
        ]
        names = [t.name for t in self.tools or []]
        duplicate = next((name for name in names if names.count(name) > 1), None)
        if duplicate:
            raise BadRequest(f"tools: the tool name {duplicate!r} is given twice", param="tools")
        params: dict[str, Any] = {"temperature": self.temperature, "top_p": self.top_p, chat.BRIDGED_CAP: self.max_tokens,
                                  "top_k": self.top_k, "thinking": self.thinking, "service_tier": self.service_tier}
        if self.stop_sequences:
            params["stop"] = self.stop_sequences
        if self.metadata and self.metadata.user_id:
            params["user"] = self.metadata.user_id
        tool_choice: Any = None
        if self.tool_choice is not None:
            choice = self.tool_choice
            if choice.type == "tool":
                if not choice.name or choice.name not in names:
                    raise BadRequest("tool_choice.name: must name one of the request's tools", param="tool_choice.name")
                tool_choice = {"type": "function", "function": {"name": choice.name}}
            else:
                tool_choice = {"auto": "auto", "any": "required", "none": "none"}[choice.type]
            if choice.disable_parallel_tool_use:
                params["parallel_tool_calls"] = False
        return chat.ChatTurn(
            messages=self.openai_messages(),
            session_key=session_key,
            caller_tools=tools,
            tool_choice=tool_choice,
            model=self.model,
            params={k: v for k, v in params.items() if v is not None},
        )

    def openai_messages(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self.system:
            system = self.system if isinstance(self.system, str) else "\n\n".join(block.text for block in self.system)
            out.append({"role": "system", "content": system})
        for i, message in enumerate(self.messages):
            if isinstance(message.content, str):
                out.append({"role": message.role, "content": message.content})
            elif message.role == "assistant":
                out.append(_assistant(message.content, i))
            else:
                out.extend(_user(message.content, i))
        return out


def _assistant(blocks: list[Any], i: int) -> dict[str, Any]:
    text, calls = [], []
    for block in blocks:
        if isinstance(block, TextBlock):
            text.append(block.text)
        elif isinstance(block, ToolUseBlock):
            calls.append({"id": block.id, "type": "function", "function": {"name": block.name, "arguments": json.dumps(block.input)}})
        else:
            raise BadRequest(f"messages.{i}.content: an assistant message holds text and tool_use blocks only", param=f"messages.{i}.content")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _user(blocks: list[Any], i: int) -> list[dict[str, Any]]:
    """Tool results first (they answer the previous assistant turn), then the user's own parts."""
    results, parts = [], []
    for block in blocks:
        if isinstance(block, ToolResultBlock):
            results.append({"role": "tool", "tool_call_id": block.tool_use_id, "content": block.text()})
        elif isinstance(block, TextBlock):
            parts.append({"type": "text", "text": block.text})
        elif isinstance(block, ImageBlock):
            parts.append(block.part())
        else:
            raise BadRequest(f"messages.{i}.content: a user message holds text, image and tool_result blocks only", param=f"messages.{i}.content")
    if parts and all(part["type"] == "text" for part in parts):
        return [*results, {"role": "user", "content": "\n".join(part["text"] for part in parts)}]
    return [*results, {"role": "user", "content": parts}] if parts else results


def parse_request(body: Any) -> MessagesRequest:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object: an Anthropic Messages request with 'model', 'max_tokens' and 'messages'")
    check_message_count(body)
    try:
        return MessagesRequest.model_validate(body)
    except ValidationError as exc:
        raise BadRequest(describe_validation_error(exc), param=error_param(exc)) from None


# --- answers ---------------------------------------------------------------------------


def error_body(error: SmarterError, request_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "error", "error": {"type": ERROR_TYPES.get(error.status, "api_error"), "message": error.message}}
    if request_id:
        body["request_id"] = request_id
    return body


def sse(name: str, payload: dict[str, Any]) -> bytes:
    """One named server-sent event, as Anthropic streams them."""
    return b"event: " + name.encode() + b"\ndata: " + json.dumps(payload, separators=(",", ":")).encode("utf-8") + b"\n\n"


class AnthropicSurface(Surface):
    """Anthropic's wire format: its error shape, `request-id`, its request headers."""

    thing = "LLMClient"
    command = "messages"
    # What the anthropic SDK sends from a browser (it adds the last one there).
    allow_headers = ("Authorization", "Content-Type", "x-api-key", "anthropic-version", "anthropic-beta", "anthropic-dangerous-direct-browser-access", SESSION_HEADER)
    expose_headers = (REQUEST_ID_HEADER, SESSION_HEADER)

    def error_body(self, record: RequestRecord, error: SmarterError) -> dict[str, Any]:
        return error_body(error, record.key)

    def stream_error(self, record: RequestRecord, error: SmarterError) -> bytes:
        return sse("error", error_body(error))

    def headers(self, record: RequestRecord) -> dict[str, str]:
        out = {REQUEST_ID_HEADER: record.key}
        if record.session_key:
            out[SESSION_HEADER] = record.session_key
        return out


def handle(raw_event: dict[str, Any], context: Any, path: str) -> Answer:
    command = "messages.count_tokens" if path == COUNT_TOKENS_PATH else "messages"
    return pipeline.serve(_with_bearer(raw_event), context, AnthropicSurface(command=command), lambda exchange: _route(exchange, path))


def _with_bearer(raw_event: dict[str, Any]) -> dict[str, Any]:
    """Anthropic's `x-api-key` is our key, as `Authorization: Bearer` would carry it (that one wins when both come)."""
    headers = dict(raw_event.get("headers") or {})
    lowered = {k.lower(): k for k in headers}
    if "x-api-key" in lowered and "authorization" not in lowered:
        headers["Authorization"] = f"Bearer {headers.pop(lowered['x-api-key'])}"
        return {**raw_event, "headers": headers, "multiValueHeaders": {k: v for k, v in (raw_event.get("multiValueHeaders") or {}).items() if k.lower() != "x-api-key"}}
    return raw_event


def _route(exchange: Exchange, path: str) -> Answer:
    method = exchange.event.http_method
    if method != "POST":
        raise MethodNotAllowed(f"{method} is not supported here: send POST with an Anthropic Messages request", headers={"Allow": "POST, OPTIONS"})
    resolved = exchange.client()
    _check_version(exchange)
    body = exchange.body()
    request = parse_request(body)
    exchange.record.request["body"] = {k: v for k, v in body.items() if k not in ("messages", "system")} | {"messages": len(request.messages)}
    if path == COUNT_TOKENS_PATH:
        return _count_tokens(exchange, request)
    if path != MESSAGES_PATH:  # pragma: no cover - handle() routes only PATHS here
        raise NotFound(f"no route for {method} {exchange.event.path}")
    if request.max_tokens is None:
        raise BadRequest("max_tokens: Field required", param="max_tokens")
    turn = request.turn(_session_header(exchange))
    if request.stream:
        return _stream(exchange, resolved, turn)
    result = chat.run(resolved, turn, exchange.record)
    return exchange.json(200, message_body(exchange.record, result))


def _check_version(exchange: Exchange) -> None:
    version = exchange.header("anthropic-version")
    if not version:
        raise BadRequest("anthropic-version: header is required (send 2023-06-01)", param="anthropic-version")
    if not VERSION.match(version.strip()):
        raise BadRequest(f"anthropic-version: {version[:40]!r} is not a version (a date such as 2023-06-01)", param="anthropic-version")


def _count_tokens(exchange: Exchange, request: MessagesRequest) -> dict[str, Any]:
    """An upper estimate (limits.estimate_input_tokens: one token per 3 bytes of
    the messages and tools as JSON, plus 4 a message), not the provider's
    tokenizer: what the limits reserve for the same input. The client's own
    system role and plugins are not counted."""
    request.refuse_unbridged()
    turn = request.turn(None)
    estimate = limits.estimate_input_tokens({"messages": turn.messages, "tools": turn.caller_tools})
    return exchange.json(200, {"input_tokens": estimate})


def _message_id(record: RequestRecord) -> str:
    return f"msg_{record.key}"


def _usage(record: RequestRecord) -> dict[str, int]:
    usage = record.usage or {}
    return {"input_tokens": int(usage.get("prompt_tokens") or 0), "output_tokens": int(usage.get("completion_tokens") or 0)}


def _stop_reason(result: chat.ChatResult) -> str:
    if result.caller_calls:
        return "tool_use"
    finish = ((result.completion.get("choices") or [{}])[0]).get("finish_reason") or "stop"
    return STOP_REASONS.get(finish, "end_turn") if finish != "tool_calls" else "end_turn"


def _tool_use(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    try:
        arguments = json.loads(function.get("arguments") or "{}")
    except ValueError:
        arguments = None
    # Anthropic's input is an object; arguments the model broke come as the raw text, for the caller to see.
    return {"type": "tool_use", "id": call.get("id"), "name": function.get("name"), "input": arguments if isinstance(arguments, dict) else {"_raw": function.get("arguments")}}


def _extra(record: RequestRecord, result: chat.ChatResult) -> dict[str, Any]:
    return {"journal_key": record.key, "session_key": record.session_key, "tool_calls": record.tool_calls,
            "selected_plugins": result.selected_plugins, "provider": result.provider, "rounds": result.rounds}


def message_body(record: RequestRecord, result: chat.ChatResult) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    text = result.message.get("content")
    if text:
        content.append({"type": "text", "text": str(text)})
    content.extend(_tool_use(call) for call in result.caller_calls)
    return {
        "id": _message_id(record),
        "type": "message",
        "role": "assistant",
        "model": result.model,
        "content": content,
        "stop_reason": _stop_reason(result),
        "stop_sequence": None,
        "usage": _usage(record),
        "smarter": _extra(record, result),
    }


def _stream(exchange: Exchange, resolved: hosts.ResolvedClient, turn: chat.ChatTurn) -> StreamedResponse:
    """Anthropic's event sequence as the provider produces the answer. As on the
    OpenAI surface, the turn is run up to its first content (plugin rounds
    included) before the status is sent, so an error up to then keeps its status;
    a later one ends the stream with an `error` event (the pipeline's)."""
    record = exchange.record
    conversation = chat.converse(resolved, turn, record, stream=True)
    first = conversation.first()
    sent: list[str] = [first]
    state: dict[str, Any] = {"events": 0}

    def emit(name: str, payload: dict[str, Any]) -> bytes:
        state["events"] += 1
        return sse(name, {"type": name, **payload})

    def body() -> Iterator[bytes]:
        start = {"id": _message_id(record), "type": "message", "role": "assistant", "model": conversation.model, "content": [],
                 "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 0, "output_tokens": 0}}
        yield emit("message_start", {"message": start})
        yield emit("ping", {})
        index = 0
        text_open = False
        for i, piece in enumerate(itertools.chain([first], conversation)):
            if i:
                sent.append(piece)
            if not piece:
                continue
            if not text_open:
                yield emit("content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}})
                text_open = True
            yield emit("content_block_delta", {"index": index, "delta": {"type": "text_delta", "text": piece}})
        if text_open:
            yield emit("content_block_stop", {"index": index})
            index += 1
        result = conversation.outcome
        assert result is not None
        for call in result.caller_calls:
            block = _tool_use(call)
            yield emit("content_block_start", {"index": index, "content_block": {**block, "input": {}}})
            yield emit("content_block_delta", {"index": index, "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}})
            yield emit("content_block_stop", {"index": index})
            index += 1
        stop = _stop_reason(result)
        yield emit("message_delta", {"delta": {"stop_reason": stop, "stop_sequence": None}, "usage": _usage(record), "smarter": _extra(record, result)})
        yield emit("message_stop", {})
        state.update(stop_reason=stop, tool_calls=result.caller_calls)

    def summary() -> dict[str, Any]:
        conversation.close()
        return {"object": "message.stream", "id": _message_id(record), "model": conversation.model, "content": "".join(sent), **state}

    return exchange.stream(body(), summary)
