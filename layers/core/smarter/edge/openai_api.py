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

import json
import time
from collections.abc import Generator, Iterator
from types import SimpleNamespace
from typing import Any, Literal

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from smarter.edge import web
from smarter.edge.streams import SSE_HEADERS, StreamedResponse, cors_headers
from smarter.errors import BadRequest, MethodNotAllowed, NotFound, SmarterError
from smarter.llm import chat
from smarter.deadline import Deadline
from smarter.llm.messages import ChatMessage, check_message_count
from smarter.llm.streaming import DONE, event
from smarter.schema import PLUGIN_NAME, SESSION_KEY, describe_validation_error
from smarter.store.journal import RequestRecord
from smarter.tenancy import auth, hosts, limits

logger = Logger(child=True)

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
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


# --- the request ---------------------------------------------------------------------


class FunctionSpec(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None

    @field_validator("name")
    @classmethod
    def _name_shape(cls, value: str) -> str:
        if not PLUGIN_NAME.match(value):
            raise ValueError("a function name is 1 to 64 letters, digits, '_' or '-'")
        return value


class ToolSpec(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["function"]
    function: FunctionSpec


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat completion request; unknown fields are ignored, as OpenAI-compatible servers do."""

    model_config = ConfigDict(extra="allow")

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
        params["max_tokens"] = self.max_completion_tokens or self.max_tokens
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
    messages = body.get("messages")
    if isinstance(messages, list):
        # OpenAI's newer name for system instructions; providers behind us may only know `system`.
        body = {**body, "messages": [{**m, "role": "system"} if isinstance(m, dict) and m.get("role") == "developer" else m for m in messages]}
    try:
        return ChatCompletionRequest.model_validate(body)
    except ValidationError as exc:
        raise BadRequest(describe_validation_error(exc)) from None


# --- answers ---------------------------------------------------------------------------


def error_body(error: SmarterError) -> dict[str, Any]:
    return {
        "error": {
            "message": error.message,
            "type": OPENAI_ERROR_TYPES.get(error.status, "api_error"),
            "code": error.type,
            "param": None,
        }
    }


def _cors(event: APIGatewayProxyEvent) -> dict[str, str]:
    return cors_headers(event.headers, f"{JOURNAL_HEADER}, {SESSION_HEADER}")


class Exchange:
    """One request on the OpenAI API: its event, its journal record and the headers every answer carries."""

    def __init__(self, raw_event: dict[str, Any], command: str, context: Any = None):
        self.event = APIGatewayProxyEvent(raw_event)
        self.record = RequestRecord(
            "LLMClient",
            command,
            method=self.event.http_method,
            path=self.event.path,
            host=web.domain_name(raw_event),
            headers=raw_event.get("headers"),
            deadline=Deadline.for_request(raw_event, context),  # a buffered answer's; streams are not held to it
        )

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        # x-ratelimit-* as OpenAI sends them, on every answer to a key with a per-minute limit.
        out = {JOURNAL_HEADER: self.record.key, **_cors(self.event), **limits.headers(self.record)}
        if self.record.session_key:
            out[SESSION_HEADER] = self.record.session_key
        return {**out, **(extra or {})}

    def json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """A buffered JSON answer; its journal record is written after it is sent
        (store/afterwards.py), or before it is returned when nothing runs after it."""
        self.record.finish(status, body)
        out = self.headers({"Content-Type": JSON, **(headers or {})})
        out["X-Smarter-Overhead-Duration-Ms"] = f"{self.record.overhead_ms():.2f}"
        return {"statusCode": status, "headers": out, "body": json.dumps(body, default=str), "isBase64Encoded": False}

    def error(self, error: SmarterError) -> dict[str, Any]:
        return self.json(error.status, error_body(error), dict(error.headers))


def handle(raw_event: dict[str, Any], context: Any = None) -> dict[str, Any] | StreamedResponse:
    """Answer one request on a client host's /v1 routes; journaled whatever happens."""
    path = (raw_event.get("path") or "").rstrip("/")
    command = {CHAT_PATH: "chat.completions", MODELS_PATH: "models"}.get(path, "openai")
    exchange = Exchange(raw_event, command, context)
    try:
        method = exchange.event.http_method
        if method == "OPTIONS":
            return _preflight(exchange)
        if path == CHAT_PATH:
            if method != "POST":
                raise MethodNotAllowed(f"{method} is not supported here: send POST with an OpenAI chat completion request", headers={"Allow": "POST, OPTIONS"})
            return _chat_completions(exchange)
        if path == MODELS_PATH:
            if method not in ("GET", "HEAD"):
                raise MethodNotAllowed(f"{method} is not supported here: send GET", headers={"Allow": "GET, OPTIONS"})
            return _models(exchange)
        raise NotFound(f"no route for {method} {exchange.event.path}; this host answers {CHAT_PATH} and {MODELS_PATH}")
    except SmarterError as exc:
        return exchange.error(exc)
    except Exception:
        logger.exception("unhandled error", extra={"journal_key": exchange.record.key})
        return exchange.error(SmarterError("internal error; the journal key identifies this request"))


def _preflight(exchange: Exchange) -> dict[str, Any]:
    headers = _cors(exchange.event)
    if headers:
        headers.update({
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": f"Authorization, Content-Type, {SESSION_HEADER}",
            "Access-Control-Max-Age": "600",
        })
    exchange.record.finish(204, None)
    return {"statusCode": 204, "headers": {**headers, JOURNAL_HEADER: exchange.record.key}, "body": ""}


def _client(exchange: Exchange) -> hosts.ResolvedClient:
    """The host's client, for a key of its account that may call it."""
    record = exchange.record
    resolved = hosts.resolve_client(record.request["host"])
    record.account, record.client = resolved.account, resolved.name
    key = auth.authenticate(exchange.event.headers)
    record.api_key_id = key["key_id"]
    auth.authorize_client(key, resolved.account, resolved.name)
    record.plan = limits.plan(key, resolved.account, resolved.doc)
    return resolved


def _session_header(exchange: Exchange) -> str | None:
    value = next((v for k, v in (exchange.event.headers or {}).items() if k.lower() == SESSION_HEADER.lower()), None)
    if value is None or value.strip() == "":
        return None
    if not SESSION_KEY.match(value.strip()):
        raise BadRequest(f"{SESSION_HEADER}: must be 8 to 128 letters, digits, '-' or '_'")
    return value.strip()


def _models(exchange: Exchange) -> dict[str, Any]:
    resolved = _client(exchange)
    from smarter.llm import providers

    provider = providers.get_provider(resolved.doc.get("provider") or providers.default_provider_name())
    model = resolved.doc.get("model") or provider.default_model
    created = int(time.time())
    listing = {"object": "list", "data": [{"id": model, "object": "model", "created": created, "owned_by": provider.name}]}
    return exchange.json(200, listing)


def _chat_completions(exchange: Exchange) -> dict[str, Any] | StreamedResponse:
    resolved = _client(exchange)
    body = web.json_body(SimpleNamespace(current_event=exchange.event), exchange.record)  # the same size, encoding and JSON checks as every route
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
    finish = ((result.completion.get("choices") or [{}])[0]).get("finish_reason") or "stop"
    if result.caller_calls:
        message["tool_calls"] = result.caller_calls
        finish = "tool_calls"
    elif finish == "tool_calls":
        finish = "stop"
    usage = dict(record.usage) or {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    return {
        "id": _completion_id(record),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": result.model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
        "smarter": _extra(record, result),
    }


# --- streaming -------------------------------------------------------------------------


def _stream(exchange: Exchange, resolved: hosts.ResolvedClient, turn: chat.ChatTurn, include_usage: bool) -> StreamedResponse:
    """Server-sent chunks as the provider produces them. The conversation is run
    up to its first content (plugin rounds included) before the status is sent,
    so an error up to then still gets its own status code; later errors arrive
    as an error event. The journal is written when the stream ends, however it ends."""
    record = exchange.record
    conversation = chat.converse(resolved, turn, record, stream=True)
    pending: list[str] = []
    model = [None]
    result: chat.ChatResult | None = None
    try:
        while not pending:
            item = next(conversation)
            if "model" in item:
                model[0] = item["model"]
            else:
                pending.append(item.get("content") or "")
    except StopIteration as done:
        result = done.value
    except BaseException:
        conversation.close()
        raise
    return StreamedResponse(200, exchange.headers(SSE_HEADERS), _events(exchange, conversation, pending, model, result, include_usage))


def _events(exchange: Exchange, conversation: Generator, pending: list[str], model: list, result: chat.ChatResult | None, include_usage: bool) -> Iterator[bytes]:
    record = exchange.record
    cid, created = _completion_id(record), int(time.time())
    sent: list[str] = []
    chunks = 0
    outcome: dict[str, Any] = {"complete": False}

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        nonlocal chunks
        chunks += 1
        payload = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model[0],
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return event(payload)

    try:
        sent.extend(pending)
        yield chunk({"role": "assistant", "content": "".join(pending)})
        while result is None:
            try:
                piece = next(conversation).get("content") or ""
            except StopIteration as done:
                result = done.value
                break
            if not piece:
                continue
            sent.append(piece)
            yield chunk({"content": piece})
        model[0] = result.model
        finish = "tool_calls" if result.caller_calls else "stop"
        if result.caller_calls:
            yield chunk({"tool_calls": [{"index": i, **call} for i, call in enumerate(result.caller_calls)]})
        yield chunk({}, finish, smarter=_extra(record, result))
        if include_usage:
            chunks += 1
            usage = dict(record.usage) or {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
            yield event({"id": cid, "object": "chat.completion.chunk", "created": created, "model": model[0], "choices": [], "usage": usage})
        yield DONE
        outcome.update(complete=True, finish_reason=finish, tool_calls=result.caller_calls)
    except SmarterError as exc:
        outcome["error"] = error_body(exc)["error"] | {"status": exc.status}
        yield event(error_body(exc))
    except GeneratorExit:
        outcome["disconnected"] = True  # the client went away: stop the provider too
        raise
    except Exception:
        logger.exception("stream failed")
        failure = SmarterError("internal error; the journal key identifies this request")
        outcome["error"] = error_body(failure)["error"] | {"status": 500}
        yield event(error_body(failure))
    finally:
        conversation.close()
        record.finish(200, {"object": "chat.completion.stream", "id": cid, "model": model[0], "content": "".join(sent),
                            "chunks": chunks, **outcome})
