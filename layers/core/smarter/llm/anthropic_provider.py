"""Anthropic as a provider over its own Messages API (`POST {base}/messages`),
not its OpenAI-compatible endpoint, so Claude's own parameters (`top_k`,
`thinking`) reach it and its answers (tool use, stop reasons, cache usage)
come back whole.

The chat loop speaks chat completions; this module translates one round
both ways: the OpenAI-shaped request into a Messages request (system
messages into `system`, tool calls and results into `tool_use` and
`tool_result` blocks, `tool_choice`, the output cap as `max_tokens`,
`stop` as `stop_sequences`, `user` as `metadata.user_id`), and the answer
(buffered, or its event stream) back into a `chat.completion`. Errors map as
for any provider: a 429 is a 429, a request the provider refused (400, 404,
413, 422) is that status with Anthropic's error type as `code`, the rest a
502; `overloaded_error` (529) and 5xx are retried within the deadline, and
once retried the SDKs are told not to retry (`x-should-retry: false`).

The passthrough still reaches Anthropic's OpenAI-compatible endpoint
(`{base}/chat/completions`): it forwards OpenAI bodies as they are.
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator, Iterator
from typing import Any

from smarter.config import settings
from smarter.deadline import Deadline
from smarter.errors import BadRequest, ProviderError, ProviderTimeout
from smarter.llm import http_json, providers
from smarter.redact import scrub

NATIVE = frozenset({"anthropic"})  # providers called over Anthropic's Messages API
API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096  # Anthropic requires max_tokens; the chat loop always sends the client's cap
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls", "refusal": "content_filter", "pause_turn": "stop"}
# Claude's own parameters, forwarded as given (llm/params.py lets them through for this provider only).
PASSED = ("top_p", "top_k", "thinking", "service_tier")


# --- the request -----------------------------------------------------------------------


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict) and part.get("type", "text") == "text")
    return ""


def _image(part: dict[str, Any]) -> dict[str, Any]:
    url = str(((part.get("image_url") or {}).get("url")) or "")
    if url.startswith("data:") and ";base64," in url:
        media_type, data = url[5:].split(";base64,", 1)
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    out = []
    for part in content or []:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "image_url":
            out.append(_image(part))
        elif part.get("type", "text") == "text":
            out.append({"type": "text", "text": str(part.get("text", ""))})
    return out


def _arguments(call: dict[str, Any]) -> dict[str, Any]:
    raw = (call.get("function") or {}).get("arguments") or "{}"
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {}


def _append(out: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    """Consecutive turns of one role are one Messages turn."""
    if not blocks:
        return
    if out and out[-1]["role"] == role:
        out[-1]["content"].extend(blocks)
    else:
        out.append({"role": role, "content": blocks})


def messages_request(request: dict[str, Any], *, stream: bool = False) -> dict[str, Any]:
    """An OpenAI chat completion request as an Anthropic Messages request."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in request.get("messages") or []:
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(_text_of(message.get("content")))
        elif role == "user":
            _append(turns, "user", _blocks(message.get("content")))
        elif role == "assistant":
            blocks = _blocks(message.get("content"))
            blocks += [{"type": "tool_use", "id": call.get("id"), "name": (call.get("function") or {}).get("name"), "input": _arguments(call)} for call in message.get("tool_calls") or []]
            _append(turns, "assistant", blocks)
        elif role == "tool":
            _append(turns, "user", [{"type": "tool_result", "tool_use_id": message.get("tool_call_id"), "content": _text_of(message.get("content"))}])
    cap = request.get("max_completion_tokens") or request.get("max_tokens") or DEFAULT_MAX_TOKENS
    body: dict[str, Any] = {"model": request.get("model"), "max_tokens": int(cap), "messages": turns}
    if system:
        body["system"] = "\n\n".join(part for part in system if part)
    if request.get("temperature") is not None:
        body["temperature"] = min(float(request["temperature"]), 1.0)  # OpenAI's range is 0-2, Anthropic's 0-1
    stop = request.get("stop")
    if stop:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if request.get("user"):
        body["metadata"] = {"user_id": str(request["user"])}
    body.update({name: request[name] for name in PASSED if request.get(name) is not None})
    tools = request.get("tools") or []
    if tools:
        body["tools"] = [
            {"name": t["function"]["name"], **({"description": t["function"]["description"]} if t["function"].get("description") else {}),
             "input_schema": t["function"].get("parameters") or {"type": "object", "properties": {}}}
            for t in tools
        ]
        choice = _tool_choice(request.get("tool_choice"))
        if request.get("parallel_tool_calls") is False and choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
        body["tool_choice"] = choice
    if stream:
        body["stream"] = True
    return body


def _tool_choice(choice: Any) -> dict[str, Any]:
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if not name:
            raise BadRequest("tool_choice: name the function to call", param="tool_choice")
        return {"type": "tool", "name": name}
    return {"type": {"required": "any", "none": "none"}.get(str(choice), "auto")}


# --- the answer ------------------------------------------------------------------------


def _usage(usage: dict[str, Any]) -> dict[str, Any]:
    cached = int(usage.get("cache_read_input_tokens") or 0)
    written = int(usage.get("cache_creation_input_tokens") or 0)
    prompt = int(usage.get("input_tokens") or 0) + cached + written
    completion = int(usage.get("output_tokens") or 0)
    out: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    if cached:
        out["prompt_tokens_details"] = {"cached_tokens": cached}
    return out


def completion_of(message: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic message as a chat.completion (text joined, tool_use as tool_calls)."""
    text, calls, thinking = [], [], []
    for block in message.get("content") or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            text.append(str(block.get("text", "")))
        elif block.get("type") == "tool_use":
            calls.append({"id": block.get("id"), "type": "function", "function": {"name": block.get("name"), "arguments": json.dumps(block.get("input") or {})}})
        elif block.get("type") == "thinking":
            thinking.append(str(block.get("thinking", "")))
    reply: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text else None}
    if calls:
        reply["tool_calls"] = calls
    if thinking:
        reply["reasoning_content"] = "".join(thinking)
    return {
        "id": message.get("id") or "msg",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": message.get("model"),
        "choices": [{"index": 0, "message": reply, "finish_reason": STOP_REASONS.get(str(message.get("stop_reason")), "stop")}],
        "usage": _usage(message.get("usage") or {}),
    }


# --- calls -----------------------------------------------------------------------------


def _headers(provider: providers.Provider, stream: bool) -> dict[str, str]:
    return {
        "x-api-key": providers.require_key(provider),
        "anthropic-version": API_VERSION,
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if stream else "application/json",
    }


def chat_completion(provider: providers.Provider, request: dict[str, Any], deadline: Deadline) -> providers.Completion:
    """One buffered round over the Messages API, retried within the deadline (529 included)."""
    reply = http_json.post(provider, "/messages", messages_request(request), _headers(provider, False), deadline, retry=RETRY_STATUSES)
    if not isinstance(reply.body, dict) or reply.body.get("type") != "message":
        raise ProviderError(f"the provider {provider.name!r} sent JSON that is not a message")
    return providers.Completion(completion_of(reply.body), reply.provider_ms)


class _Stream:
    """Folds Anthropic's stream events into one message, as the SDK's accumulator does."""

    def __init__(self) -> None:
        self.message: dict[str, Any] = {"content": [], "usage": {}}
        self.json: dict[int, str] = {}

    def add(self, name: str, data: dict[str, Any]) -> str | None:
        kind = data.get("type") or name
        if kind == "message_start":
            self.message = {**(data.get("message") or {}), "content": []}
            self.message.setdefault("usage", {})
        elif kind == "content_block_start":
            self.message["content"].append(dict(data.get("content_block") or {}))
        elif kind == "content_block_delta":
            index = int(data.get("index", len(self.message["content"]) - 1))
            block = self.message["content"][index] if 0 <= index < len(self.message["content"]) else {}
            delta = data.get("delta") or {}
            if delta.get("type") == "text_delta":
                block["text"] = block.get("text", "") + str(delta.get("text", ""))
                return str(delta.get("text", "")) or None
            if delta.get("type") == "input_json_delta":
                self.json[index] = self.json.get(index, "") + str(delta.get("partial_json", ""))
            elif delta.get("type") == "thinking_delta":
                block["thinking"] = block.get("thinking", "") + str(delta.get("thinking", ""))
        elif kind == "content_block_stop":
            index = int(data.get("index", -1))
            if index in self.json and 0 <= index < len(self.message["content"]):
                try:
                    self.message["content"][index]["input"] = json.loads(self.json[index] or "{}")
                except ValueError:
                    raise ProviderError("the provider sent tool input that is not JSON") from None
        elif kind == "message_delta":
            self.message.update({k: v for k, v in (data.get("delta") or {}).items() if v is not None})
            self.message["usage"].update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
        elif kind == "error":
            error = data.get("error") or {}
            raise ProviderError(f"the provider failed mid-stream: {scrub(str(error.get('message') or error)[:500])}")
        return None


def _events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    name = ""
    for line in lines:
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            try:
                data = json.loads(line[5:].strip() or "null")
            except (ValueError, RecursionError):
                raise ProviderError("the provider sent a stream event that is not JSON") from None
            if isinstance(data, dict):
                yield name, data


def stream_completion(provider: providers.Provider, request: dict[str, Any]) -> Generator[dict[str, Any], None, providers.Completion]:
    """One streamed round: yields `{"content": piece}` as the text arrives; returns the assembled completion."""
    from smarter.llm.streaming import _httpx, http_client

    httpx = _httpx()
    folded = _Stream()
    waited = 0.0
    try:
        with http_client().stream("POST", f"{provider.base_url}/messages", json=messages_request(request, stream=True), headers=_headers(provider, True)) as response:
            if response.status_code != 200:
                raise http_json.error(provider, response.status_code, response.read(), retried=False)
            mark = time.perf_counter()
            for name, data in _events(response.iter_lines()):
                waited += time.perf_counter() - mark
                piece = folded.add(name, data)
                if piece:
                    yield {"content": piece}
                mark = time.perf_counter()
    except httpx.TimeoutException:
        raise ProviderTimeout(f"the provider {provider.name!r} did not answer within {settings().provider_timeout_seconds:g} s") from None
    except httpx.TransportError as exc:
        raise ProviderError(f"could not reach the provider {provider.name!r}: {exc.__class__.__name__}") from None
    completion = completion_of(folded.message)
    if not completion["model"]:
        completion["model"] = request.get("model")
    return providers.Completion(completion, waited * 1000)
