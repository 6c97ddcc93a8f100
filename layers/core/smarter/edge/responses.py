"""OpenAI's Responses API on a client's host: `POST /v1/responses` (buffered, or
typed server-sent events with `stream: true`) and `GET /v1/responses/{id}`.

It is one more surface of the one pipeline and of the one chat path
(`llm.chat.converse`): the client's provider, model, system role, plugins,
limits and journal are the chat completions' own. This module is the bridge
between the Responses wire format and that chat path, so it reaches every
chat-completion provider (the offline and the local ones included):

- `input` (a string or items: messages, `function_call`, `function_call_output`)
  and `instructions` become chat messages; `tools` of type `function` become
  the caller's tools, offered beside the client's plugins, whose calls come
  back as `function_call` output items (plugin calls run here, as in chat);
- the answer is a `response` object; a stream is the typed event sequence
  (`response.created`, `response.in_progress`, `response.output_item.added`,
  `response.content_part.added`, `response.output_text.delta`/`.done`,
  `response.function_call_arguments.delta`/`.done`, `response.output_item.done`,
  `response.completed`), and a failure after the first byte ends it with
  `response.failed` and an `error` event (which the SDKs raise);
- `store` (on by default, as OpenAI's) keeps the response and its conversation
  in the sessions table under the API key that made it, with the sessions'
  TTL; `previous_response_id` continues from it and `GET /v1/responses/{id}`
  reads it, for that key only;
- a parameter this bridge cannot honour is a 400 naming it (`param`), never
  dropped: see docs/api.md for the list.
"""

from __future__ import annotations

import json
import secrets
import time
import zlib
from collections.abc import Iterator
from typing import Any

from smarter.config import settings
from smarter.edge import pipeline
from smarter.edge.openai_api import OPENAI_ERROR_TYPES
from smarter.edge.pipeline import Answer, Exchange, Surface
from smarter.errors import BadRequest, MethodNotAllowed, NotFound, SmarterError
from smarter.llm import chat
from smarter.runtime.streams import StreamedResponse
from smarter.schema import PLUGIN_NAME
from smarter.store import tenant_aws
from smarter.store.journal import RequestRecord
from smarter.tenancy import hosts

RESPONSES_PATH = "/v1/responses"
RESPONSE_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
# A stored response is one DynamoDB item (400 KB at most), its document compressed.
MAX_STORED_BYTES = 380_000
MAX_METADATA_KEYS = 16

# Parameters taken as OpenAI defines them. Anything else is refused by name.
ACCEPTED = frozenset({
    "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "stream", "stream_options",
    "store", "previous_response_id", "temperature", "top_p", "max_output_tokens", "metadata", "user", "text",
    "truncation", "include", "reasoning", "service_tier", "background",
})


class ParamError(BadRequest):
    """A 400 that names the request parameter at fault (OpenAI's error `param`)."""

    def __init__(self, param: str, message: str, *, code: str = "invalid_request"):
        super().__init__(f"{param}: {message}")
        self.param = param
        self.code = code


def error_object(error: SmarterError) -> dict[str, Any]:
    return {
        "message": error.message,
        "type": OPENAI_ERROR_TYPES.get(error.status, "api_error"),
        "code": getattr(error, "code", None) or error.type,
        "param": getattr(error, "param", None),
    }


# --- the request -------------------------------------------------------------------------


def _text(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise ParamError(param, "must be a string")
    return value


def _number(body: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ParamError(name, f"must be a number from {low:g} to {high:g}")
    return value


def _bool(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ParamError(name, "must be true or false")
    return value


def _parts(content: Any, role: str, param: str) -> str | list[dict[str, Any]]:
    """A message's content in chat form: a string when it is all text (what every
    provider takes), else text and image parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        raise ParamError(param, "must be a string or a non-empty list of content parts")
    out: list[dict[str, Any]] = []
    for i, part in enumerate(content):
        where = f"{param}[{i}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text"):
            out.append({"type": "text", "text": _text(part.get("text"), f"{where}.text")})
        elif kind == "refusal" and role == "assistant":
            out.append({"type": "text", "text": _text(part.get("refusal"), f"{where}.refusal")})
        elif kind == "input_image" and role == "user":
            url = part.get("image_url")
            if not isinstance(url, str) or not url:
                raise ParamError(f"{where}.image_url", "an image is sent by URL (or data: URL); file_id is not supported here")
            image: dict[str, Any] = {"url": url}
            if part.get("detail") in ("low", "high", "auto"):
                image["detail"] = part["detail"]
            out.append({"type": "image_url", "image_url": image})
        else:
            raise ParamError(f"{where}.type", f"the content part type {kind!r} is not supported for a {role} message here")
    if all(p["type"] == "text" for p in out):
        return "\n".join(p["text"] for p in out)
    return out


def _output_text(output: Any, param: str) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        text = _parts(output, "assistant", param)
        if isinstance(text, str):
            return text
    raise ParamError(param, "must be a string or a list of text parts")


def _call_id(value: Any, param: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 256:
        raise ParamError(param, "must be a string of 1 to 256 characters")
    return value


def input_messages(value: Any) -> list[dict[str, Any]]:
    """`input` as chat messages: a string is one user message; items are
    messages, the model's function calls and their outputs."""
    if isinstance(value, str):
        if not value:
            raise ParamError("input", "must not be empty")
        return [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise ParamError("input", "must be a string or a non-empty list of input items")
    if len(value) > settings().max_messages:
        raise ParamError("input", f"{len(value)} items in one request; the limit is {settings().max_messages} (SMARTER_MAX_MESSAGES)")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise ParamError(where, "must be an object")
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "system", "developer", "assistant"):
                raise ParamError(f"{where}.role", "must be user, system, developer or assistant")
            role = "system" if role == "developer" else role
            content = _parts(item.get("content"), role, f"{where}.content")
            if role != "user" and not isinstance(content, str):
                raise ParamError(f"{where}.content", f"a {role} message holds text only")
            out.append({"role": role, "content": content})
        elif kind == "function_call":
            name = item.get("name")
            if not isinstance(name, str) or not PLUGIN_NAME.match(name):
                raise ParamError(f"{where}.name", "a function name is 1 to 64 letters, digits, '_' or '-'")
            arguments = item.get("arguments", "")
            call = {"id": _call_id(item.get("call_id"), f"{where}.call_id"), "type": "function",
                    "function": {"name": name, "arguments": _text(arguments, f"{where}.arguments")}}
            last = out[-1] if out else None
            if last is not None and last["role"] == "assistant" and (last.get("tool_calls") or i and value[i - 1].get("type", "message") == "message"):
                last.setdefault("tool_calls", []).append(call)  # one assistant turn: its text, then its calls
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            out.append({"role": "tool", "tool_call_id": _call_id(item.get("call_id"), f"{where}.call_id"),
                        "content": _output_text(item.get("output"), f"{where}.output")})
        else:
            raise ParamError(f"{where}.type", f"the input item type {kind!r} is not supported here (message, function_call, function_call_output)")
    return out


def caller_tools(value: Any) -> list[dict[str, Any]]:
    """Function tools in chat form; hosted tools (web search, files, MCP, ...) are refused."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 128:
        raise ParamError("tools", "must be a list of at most 128 tools")
    out, names = [], set()
    for i, tool in enumerate(value):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else None
            raise ParamError(f"tools[{i}].type", f"only function tools are supported here, not {kind!r}")
        name = tool.get("name")
        if not isinstance(name, str) or not PLUGIN_NAME.match(name):
            raise ParamError(f"tools[{i}].name", "a function name is 1 to 64 letters, digits, '_' or '-'")
        if name in names:
            raise ParamError(f"tools[{i}].name", f"the function name {name!r} is given twice")
        names.add(name)
        function: dict[str, Any] = {"name": name}
        if tool.get("description") is not None:
            function["description"] = _text(tool["description"], f"tools[{i}].description")
        if tool.get("parameters") is not None:
            if not isinstance(tool["parameters"], dict):
                raise ParamError(f"tools[{i}].parameters", "must be a JSON Schema object")
            function["parameters"] = tool["parameters"]
        if tool.get("strict") is not None:
            if not isinstance(tool["strict"], bool):
                raise ParamError(f"tools[{i}].strict", "must be true or false")
            function["strict"] = tool["strict"]
        out.append({"type": "function", "function": function})
    return out


def chat_tool_choice(value: Any, tools: list[dict[str, Any]]) -> Any:
    if value is None or value in ("auto", "none", "required"):
        return value
    if isinstance(value, dict) and value.get("type") == "function" and isinstance(value.get("name"), str):
        if value["name"] not in {t["function"]["name"] for t in tools}:
            raise ParamError("tool_choice", f"names the function {value['name']!r}, which is not in tools")
        return {"type": "function", "function": {"name": value["name"]}}
    raise ParamError("tool_choice", "must be auto, none, required or {type: function, name}")


def response_format(text: Any) -> dict[str, Any] | None:
    """`text.format` as chat's `response_format`."""
    if text is None:
        return None
    if not isinstance(text, dict) or set(text) - {"format", "verbosity"}:
        raise ParamError("text", "only text.format is supported here")
    if text.get("verbosity") is not None:
        raise ParamError("text.verbosity", "is not supported by chat-completion providers")
    fmt = text.get("format")
    if fmt is None or fmt == {"type": "text"}:
        return None
    if fmt == {"type": "json_object"}:
        return {"type": "json_object"}
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict) and isinstance(fmt.get("name"), str):
        schema = {k: fmt[k] for k in ("name", "schema", "description", "strict") if fmt.get(k) is not None}
        return {"type": "json_schema", "json_schema": schema}
    raise ParamError("text.format", "must be {type: text}, {type: json_object} or {type: json_schema, name, schema}")


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if (not isinstance(value, dict) or len(value) > MAX_METADATA_KEYS
            or any(not isinstance(k, str) or len(k) > 64 or not isinstance(v, str) or len(v) > 512 for k, v in value.items())):
        raise ParamError("metadata", f"must be at most {MAX_METADATA_KEYS} string keys (64 characters) with string values (512 characters)")
    return value


def _refuse_unsupported(body: dict[str, Any]) -> None:
    unknown = sorted(set(body) - ACCEPTED)
    if unknown:
        raise ParamError(unknown[0], "is not supported by this gateway's Responses API (see docs/api.md)", code="unsupported_parameter")
    if body.get("include") is not None and not isinstance(body["include"], list):
        raise ParamError("include", "must be a list")
    if body.get("include"):
        raise ParamError("include", "no extra output can be included here; send [] or leave it out", code="unsupported_parameter")
    reasoning = body.get("reasoning")
    if reasoning is not None and (not isinstance(reasoning, dict) or any(v is not None for v in reasoning.values())):
        raise ParamError("reasoning", "reasoning settings are not supported on the chat-completions bridge", code="unsupported_parameter")
    if body.get("truncation") not in (None, "auto", "disabled"):
        raise ParamError("truncation", "must be auto or disabled")
    if body.get("service_tier") not in (None, "auto", "default"):
        raise ParamError("service_tier", "only auto or default is supported here", code="unsupported_parameter")
    if body.get("background") not in (None, False):
        raise ParamError("background", "background responses are not supported here", code="unsupported_parameter")
    options = body.get("stream_options")
    if options is not None and (not isinstance(options, dict) or set(options) - {"include_obfuscation"}):
        raise ParamError("stream_options", "only include_obfuscation is known here")


class ResponsesRequest:
    """A checked `POST /v1/responses` body and the chat turn it asks for."""

    def __init__(self, body: Any):
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object: an OpenAI Responses request with 'input'")
        _refuse_unsupported(body)
        if body.get("input") is None:
            raise ParamError("input", "is required: a string or a list of input items")
        self.body = body
        self.model = body.get("model")
        if self.model is not None and (not isinstance(self.model, str) or not 0 < len(self.model) <= 256):
            raise ParamError("model", "must be a model name")
        self.messages = input_messages(body.get("input"))
        self.instructions = None if body.get("instructions") is None else _text(body["instructions"], "instructions")
        self.tools = caller_tools(body.get("tools"))
        self.tool_choice = chat_tool_choice(body.get("tool_choice"), self.tools)
        self.stream = _bool(body, "stream", False)
        self.store = _bool(body, "store", True)
        self.parallel_tool_calls = _bool(body, "parallel_tool_calls", True)
        self.temperature = _number(body, "temperature", 0, 2)
        self.top_p = _number(body, "top_p", 0, 1)
        max_output = body.get("max_output_tokens")
        if max_output is not None and (isinstance(max_output, bool) or not isinstance(max_output, int) or max_output < 1):
            raise ParamError("max_output_tokens", "must be a positive integer")
        self.max_output_tokens = max_output
        self.metadata = _metadata(body.get("metadata"))
        self.user = None if body.get("user") is None else _text(body["user"], "user")
        self.response_format = response_format(body.get("text"))
        previous = body.get("previous_response_id")
        if previous is not None and (not isinstance(previous, str) or not previous.startswith("resp_") or len(previous) > 128 or set(previous) - RESPONSE_ID_CHARS):
            raise ParamError("previous_response_id", "must be the id of a response (resp_...)")
        self.previous_response_id = previous

    def turn(self, previous: list[dict[str, Any]]) -> chat.ChatTurn:
        params: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.max_output_tokens}
        if self.top_p is not None:
            params["top_p"] = self.top_p
        if self.user is not None:
            params["user"] = self.user
        if self.response_format is not None:
            params["response_format"] = self.response_format
        if "parallel_tool_calls" in self.body and self.tools:
            params["parallel_tool_calls"] = self.parallel_tool_calls
        history = ([{"role": "system", "content": self.instructions}] if self.instructions else []) + previous
        return chat.ChatTurn(messages=self.messages, caller_tools=self.tools, tool_choice=self.tool_choice, model=self.model, params=params, history=history)

    def echo(self) -> dict[str, Any]:
        """The request's settings as a response object repeats them."""
        tool_choice: Any = self.body.get("tool_choice") or "auto"
        tools = [{"type": "function", "name": t["function"]["name"], "description": t["function"].get("description"),
                  "parameters": t["function"].get("parameters"), "strict": t["function"].get("strict")} for t in self.tools]
        return {
            "instructions": self.instructions, "tools": tools, "tool_choice": tool_choice,
            "parallel_tool_calls": self.parallel_tool_calls, "temperature": self.temperature, "top_p": self.top_p,
            "max_output_tokens": self.max_output_tokens, "previous_response_id": self.previous_response_id,
            "store": self.store, "metadata": self.metadata, "user": self.user,
            "text": self.body.get("text") or {"format": {"type": "text"}}, "truncation": self.body.get("truncation") or "disabled",
            "reasoning": {"effort": None, "summary": None}, "service_tier": "default", "background": False,
        }


# --- the answer ----------------------------------------------------------------------------


def new_response_id() -> str:
    return "resp_" + secrets.token_hex(24)


def usage_of(record: RequestRecord) -> dict[str, Any]:
    usage = record.usage
    return {
        "input_tokens": usage.get("prompt_tokens", 0),
        "input_tokens_details": {"cached_tokens": usage.get("cached_tokens", 0)},
        "output_tokens": usage.get("completion_tokens", 0),
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.get("total_tokens", 0),
    }


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}] if status == "completed" else []
    return {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": content}


def call_item(call: dict[str, Any]) -> dict[str, Any]:
    """A caller's function call as an output item; its item id follows from its call id."""
    function = call.get("function") or {}
    call_id = str(call.get("id") or "")
    return {"type": "function_call", "id": "fc_" + call_id.removeprefix("call_"), "call_id": call_id,
            "name": function.get("name"), "arguments": function.get("arguments") or "", "status": "completed"}


def _incomplete(result: chat.ChatResult) -> bool:
    return ((result.completion.get("choices") or [{}])[0]).get("finish_reason") == "length" and not result.caller_calls


def output_items(message_id: str, result: chat.ChatResult) -> list[dict[str, Any]]:
    text = result.message.get("content") or ""
    items = [message_item(message_id, text)] if text or not result.caller_calls else []
    return items + [call_item(call) for call in result.caller_calls]


class ResponseState:
    """One response as it is made: its id, times, the request's echo."""

    def __init__(self, request: ResponsesRequest, record: RequestRecord, model: str | None):
        self.id = new_response_id()
        self.message_id = "msg_" + secrets.token_hex(24)
        self.created_at = int(time.time())
        self.request = request
        self.record = record
        self.model = model or request.model or ""
        self.sequence = 0

    def body(self, status: str, output: list[dict[str, Any]], *, result: chat.ChatResult | None = None, error: dict[str, Any] | None = None) -> dict[str, Any]:
        incomplete = result is not None and _incomplete(result)
        if incomplete:
            status = "incomplete"
        return {
            "id": self.id, "object": "response", "created_at": self.created_at, "status": status,
            "completed_at": int(time.time()) if status == "completed" else None,
            "model": self.model, "output": output, "error": error,
            "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
            **self.request.echo(),
            "usage": usage_of(self.record) if status in ("completed", "incomplete") else None,
            "smarter": self.extra(result),
        }

    def extra(self, result: chat.ChatResult | None) -> dict[str, Any]:
        """What the Responses shape has no place for (strict clients ignore it)."""
        extra: dict[str, Any] = {"journal_key": self.record.key, "session_key": self.record.session_key, "tool_calls": self.record.tool_calls}
        if result is not None:
            extra.update(selected_plugins=result.selected_plugins, provider=result.provider, rounds=result.rounds)
        return extra

    def event(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + json.dumps(payload, separators=(",", ":"), default=str).encode() + b"\n\n"


# --- stored responses ------------------------------------------------------------------------


def _stored_pk(account: str, client: str, key_id: str | None, response_id: str) -> str:
    """In the sessions table, beside the key's sessions (a session key has no '#'):
    the account leads, so the tenant role's scope covers it; the key id is part of
    it, so no other key, of this account or another, finds the response."""
    return f"{account}#{client}#{key_id or '-'}#response#{response_id}"


def _windowed(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation a continuation carries: the last SMARTER_SESSION_WINDOW
    messages, never starting at a tool result (its call would be missing)."""
    window = messages[-settings().session_window:]
    while window and window[0].get("role") == "tool":
        window.pop(0)
    return window


def store_response(resolved: hosts.ResolvedClient, record: RequestRecord, response: dict[str, Any], messages: list[dict[str, Any]]) -> bool:
    """Keep the response and its conversation, written before the answer is out
    (a client may continue from it at once, on another container). Too large
    for one item even with its oldest messages dropped: not kept (False)."""
    messages = _windowed(messages)
    while True:
        doc = zlib.compress(json.dumps({"response": response, "messages": messages}, separators=(",", ":"), default=str).encode())
        if len(doc) <= MAX_STORED_BYTES or not messages:
            break
        messages = _windowed(messages[max(1, len(messages) // 4):])
    if len(doc) > MAX_STORED_BYTES:
        return False
    expires = int(time.time()) + settings().session_ttl_days * 86400
    tenant_aws.client("dynamodb", resolved.account).put_item(
        TableName=settings().sessions_table,
        Item={"pk": {"S": _stored_pk(resolved.account, resolved.name, record.api_key_id, response["id"])}, "sk": {"S": "response"},
              "doc": {"B": doc}, "expires_at": {"N": str(expires)}},
    )
    return True


def load_response(resolved: hosts.ResolvedClient, record: RequestRecord, response_id: str) -> dict[str, Any] | None:
    """This key's stored response on this client, unexpired; None for any other."""
    out = tenant_aws.client("dynamodb", resolved.account).query(
        TableName=settings().sessions_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": _stored_pk(resolved.account, resolved.name, record.api_key_id, response_id)}},
        Limit=1,
    )
    items = out.get("Items") or []
    if not items or int(items[0].get("expires_at", {}).get("N", "0")) < time.time():
        return None
    return json.loads(zlib.decompress(items[0]["doc"]["B"]))


# --- the surface --------------------------------------------------------------------------------


class ResponsesSurface(Surface):
    """The Responses wire format: OpenAI's error object (with `param`), and in a
    stream, `response.failed` then an `error` event."""

    allow_headers = ("Authorization", "Content-Type")

    def __init__(self, command: str):
        super().__init__(command=command)
        self.state: ResponseState | None = None

    def error_body(self, record: RequestRecord, error: SmarterError) -> dict[str, Any]:
        return {"error": error_object(error)}

    def stream_error(self, record: RequestRecord, error: SmarterError) -> bytes:
        failure = error_object(error)
        if self.state is None:
            return b"event: error\ndata: " + json.dumps({"type": "error", **failure, "error": failure}).encode() + b"\n\n"
        failed = self.state.body("failed", [], error={"code": failure["code"], "message": failure["message"]})
        # `error` carries an `error` object too: the SDKs raise it as an APIError.
        return self.state.event("response.failed", response=failed) + self.state.event("error", **failure, error=failure)


def handle(raw_event: dict[str, Any], context: Any = None) -> Answer:
    """Answer one request on /v1/responses or /v1/responses/{id}, on the one pipeline."""
    path = (raw_event.get("path") or "").rstrip("/")
    command = "responses" if path == RESPONSES_PATH else "responses.get"
    return pipeline.serve(raw_event, context, ResponsesSurface(command), lambda exchange: _route(exchange, path))


def _route(exchange: Exchange, path: str) -> Answer:
    method = exchange.event.http_method
    if path == RESPONSES_PATH:
        if method != "POST":
            raise MethodNotAllowed(f"{method} is not supported here: send POST with an OpenAI Responses request", headers={"Allow": "POST, OPTIONS"})
        return _create(exchange)
    response_id = path.removeprefix(RESPONSES_PATH + "/")
    if "/" in response_id or not response_id:
        raise NotFound(f"no route for {method} {exchange.event.path}")
    if method not in ("GET", "HEAD"):
        raise MethodNotAllowed(f"{method} is not supported here: send GET to read a stored response", headers={"Allow": "GET, OPTIONS"})
    return _retrieve(exchange, response_id)


def _not_found(response_id: str) -> NotFound:
    error = NotFound(f"No response with id {response_id!r} found for this API key.")
    error.param = "response_id"  # type: ignore[attr-defined]
    return error


def _retrieve(exchange: Exchange, response_id: str) -> dict[str, Any]:
    resolved = exchange.client()
    if not response_id.startswith("resp_") or len(response_id) > 128 or set(response_id) - RESPONSE_ID_CHARS:
        raise _not_found(response_id[:128])
    stored = load_response(resolved, exchange.record, response_id)
    if stored is None:
        raise _not_found(response_id)
    return exchange.json(200, stored["response"], journaled=lambda body: {"id": body.get("id"), "status": body.get("status")})


def _create(exchange: Exchange) -> Answer:
    resolved = exchange.client()
    body = exchange.body()
    request = ResponsesRequest(body)
    record = exchange.record
    record.request["body"] = {k: v for k, v in body.items() if k not in ("input", "instructions")} | {
        "input": len(request.messages), "instructions": len(request.instructions or "")}
    previous: list[dict[str, Any]] = []
    if request.previous_response_id:
        stored = load_response(resolved, record, request.previous_response_id)
        if stored is None:
            raise ParamError("previous_response_id", f"Previous response with id {request.previous_response_id!r} not found.", code="previous_response_not_found")
        previous = stored["messages"]
    turn = request.turn(previous)
    if request.stream:
        return _stream(exchange, resolved, request, turn, previous)
    result = chat.run(resolved, turn, record)
    state = ResponseState(request, record, result.model)
    response = state.body("completed", output_items(state.message_id, result), result=result)
    if request.store and not store_response(resolved, record, response, [*previous, *request.messages, *result.transcript]):
        response["store"] = False
    return exchange.json(200, response)


def _stream(exchange: Exchange, resolved: hosts.ResolvedClient, request: ResponsesRequest, turn: chat.ChatTurn, previous: list[dict[str, Any]]) -> StreamedResponse:
    """Typed events as the provider produces them, from the first content on
    (`chat.start_stream`: an error until then keeps its status code)."""
    record = exchange.record
    conversation, first = chat.start_stream(resolved, turn, record)
    state = ResponseState(request, record, conversation.model)
    exchange.surface.state = state  # type: ignore[attr-defined]  # the error events name this response
    sent: list[str] = []
    summary_state: dict[str, Any] = {}

    def text_events(item_id: str) -> Iterator[bytes]:
        yield state.event("response.output_item.added", output_index=0, item=message_item(item_id, "", "in_progress"))
        yield state.event("response.content_part.added", item_id=item_id, output_index=0, content_index=0,
                          part={"type": "output_text", "text": "", "annotations": [], "logprobs": []})

    def body() -> Iterator[bytes]:
        yield state.event("response.created", response=state.body("in_progress", []))
        yield state.event("response.in_progress", response=state.body("in_progress", []))
        opened = False
        for piece in _chain(first, conversation):
            if not piece:
                continue
            if not opened:
                yield from text_events(state.message_id)
                opened = True
            sent.append(piece)
            yield state.event("response.output_text.delta", item_id=state.message_id, output_index=0, content_index=0, delta=piece, logprobs=[])
        result = conversation.outcome
        assert result is not None
        text = "".join(sent)
        output: list[dict[str, Any]] = []
        if opened or not result.caller_calls:
            if not opened:
                yield from text_events(state.message_id)
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            yield state.event("response.output_text.done", item_id=state.message_id, output_index=0, content_index=0, text=text, logprobs=[])
            yield state.event("response.content_part.done", item_id=state.message_id, output_index=0, content_index=0, part=part)
            output.append(message_item(state.message_id, text))
            yield state.event("response.output_item.done", output_index=0, item=output[-1])
        for call in result.caller_calls:
            index, item = len(output), call_item(call)
            yield state.event("response.output_item.added", output_index=index, item={**item, "arguments": "", "status": "in_progress"})
            if item["arguments"]:
                yield state.event("response.function_call_arguments.delta", item_id=item["id"], output_index=index, delta=item["arguments"])
            yield state.event("response.function_call_arguments.done", item_id=item["id"], output_index=index, name=item["name"], arguments=item["arguments"])
            output.append(item)
            yield state.event("response.output_item.done", output_index=index, item=item)
        response = state.body("completed", output, result=result)
        if request.store and not store_response(resolved, record, response, [*previous, *request.messages, *result.transcript]):
            response["store"] = False
        kind = "response.incomplete" if response["status"] == "incomplete" else "response.completed"
        yield state.event(kind, response=response)
        summary_state.update(status=response["status"], tool_calls=result.caller_calls)

    def summary() -> dict[str, Any]:
        conversation.close()  # the client went away or the stream failed: stop the provider too
        return {"object": "response.stream", "id": state.id, "model": state.model, "content": "".join(sent), "events": state.sequence, **summary_state}

    return exchange.stream(body(), summary)


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    if first:
        yield first
    yield from rest
