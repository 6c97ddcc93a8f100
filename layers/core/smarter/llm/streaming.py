"""Streamed provider calls: chat completions read as server-sent events.

Two uses. `stream_completion` is one round of the chat loop with
`stream: true`: it yields the content deltas as the provider sends them and
returns the whole message (tool calls merged from their fragments) as a
`providers.Completion`, so the loop treats a streamed round like any other.
`open_forward` is the passthrough: the provider's status, headers and raw
bytes, forwarded as they arrive.

Both use httpx directly (one client per container): streams are raw
forwarding, where the openai SDK's parsing would only cost CPU per chunk.
The httpx is httpx2 (what the openai SDK ships on since openai 3), a runtime
dependency of its own: the SDK itself is not in the layer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

from smarter.config import settings
from smarter.errors import ProviderError, ProviderTimeout, RateLimited
from smarter.llm import providers
from smarter.redact import scrub

_http: Any = None


def _httpx():
    try:  # openai 3 ships on httpx2; older releases on httpx
        import httpx2 as httpx
    except ImportError:  # pragma: no cover
        import httpx
    return httpx


def http_client():
    """One httpx client per container: connections to providers are reused."""
    global _http
    if _http is None:
        httpx = _httpx()
        timeout = settings().provider_timeout_seconds
        # The read timeout bounds the wait for each chunk, not the whole stream.
        _http = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)), follow_redirects=False)
    return _http


def reset() -> None:
    global _http
    if _http is not None:
        _http.close()
    _http = None


def _headers(provider: providers.Provider) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {providers.require_key(provider)}",
        "Content-Type": "application/json",
        "Accept": "text/event-stream",
        **providers.extra_headers(provider),
    }


def _target(provider: providers.Provider) -> tuple[str, dict[str, str], dict[str, Any]]:
    """URL, headers and request extensions: an account provider's call goes to the
    address its egress check approved, with TLS (SNI, certificate) for its host name."""
    url, added, pool_kwargs = providers.call_target(provider)
    extensions = {"sni_hostname": pool_kwargs["server_hostname"]} if pool_kwargs else {}
    return url, {**_headers(provider), **added}, extensions


def _timeout(seconds: float | None) -> Any:
    if not seconds:
        return None
    httpx = _httpx()
    return httpx.Timeout(seconds, connect=min(seconds, 10.0))


def _refused(error: Any, status: int, headers: Any) -> Any:
    """Note the provider's status and Retry-After on the error (routing reads them)."""
    error.upstream_status = status
    error.retry_after = providers.retry_after({k.lower(): v for k, v in headers.items()})
    return error


def _message_of(raw: bytes) -> str:
    """The provider's own error message (OpenAI's `{"error": {"message"}}` or the bare body)."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return scrub(raw[:500].decode("utf-8", "replace"))
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return scrub(str(error["message"])[:500])
    return scrub(str(body)[:500])


def sse_data(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The JSON payloads of an event stream's `data:` lines, up to `[DONE]`."""
    for line in lines:
        if not line.startswith("data:"):
            continue  # comments (keep-alives), event names, blank separators
        data = line[5:].strip()
        if data == "[DONE]":
            return
        if not data:
            continue
        try:
            payload = json.loads(data)
        except (ValueError, RecursionError):
            raise ProviderError("the provider sent a stream event that is not JSON") from None
        if isinstance(payload, dict) and "error" in payload and not payload.get("choices"):
            raise ProviderError(f"the provider failed mid-stream: {_message_of(data.encode())}")
        if isinstance(payload, dict):
            yield payload


class Assembler:
    """Folds chat.completion.chunk payloads into one chat.completion body."""

    def __init__(self) -> None:
        self.id = None
        self.model = None
        self.created = None
        self.content: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.finish_reason = None
        self.usage: dict[str, Any] | None = None
        self.role = "assistant"
        self.logprobs: list[Any] = []

    def add(self, chunk: dict[str, Any]) -> str | None:
        """Take one chunk; the content it adds, if any."""
        self.id = self.id or chunk.get("id")
        self.model = self.model or chunk.get("model")
        self.created = self.created or chunk.get("created")
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        piece = None
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                piece = str(delta["content"])
                self.content.append(piece)
            for fragment in delta.get("tool_calls") or []:
                call = self.calls.setdefault(int(fragment.get("index", len(self.calls))), {"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
                if fragment.get("id"):
                    call["id"] = fragment["id"]
                function = fragment.get("function") or {}
                if function.get("name"):
                    call["function"]["name"] += function["name"]
                if function.get("arguments"):
                    call["function"]["arguments"] += function["arguments"]
            logprobs = choice.get("logprobs")
            if isinstance(logprobs, dict) and isinstance(logprobs.get("content"), list):
                self.logprobs.extend(logprobs["content"])
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return piece

    def body(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": self.role, "content": "".join(self.content) if self.content else None}
        if self.calls:
            message["tool_calls"] = [self.calls[i] for i in sorted(self.calls)]
        body: dict[str, Any] = {
            "id": self.id or "chatcmpl-stream",
            "object": "chat.completion",
            "created": self.created or int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason or ("tool_calls" if self.calls else "stop")}],
        }
        if self.logprobs:
            body["choices"][0]["logprobs"] = {"content": self.logprobs}
        if self.usage:
            body["usage"] = self.usage
        return body


def _offline_stream(request: dict[str, Any]) -> Generator[dict[str, Any], None, providers.Completion]:
    """The offline provider, streamed a word at a time (the tool calls whole)."""
    from smarter.llm.offline import complete

    started = time.perf_counter()
    body = complete(request)
    content = body["choices"][0]["message"].get("content") or ""
    words = content.split(" ")
    for i, word in enumerate(words):
        if word or i:
            yield {"content": word if i == 0 else " " + word}
    return providers.Completion(body, (time.perf_counter() - started) * 1000)


def stream_completion(provider: providers.Provider, request: dict[str, Any], *, timeout: float | None = None) -> Generator[dict[str, Any], None, providers.Completion]:
    """One streamed chat completion: yields `{"content": piece}` as the provider
    sends it; returns the assembled completion. Errors before the first byte
    map to ours like a buffered call (429, 4xx/5xx, timeout). `timeout`: a
    routing target's own wait for each chunk, instead of SMARTER_PROVIDER_TIMEOUT."""
    if provider.name == "offline":
        return (yield from _offline_stream(request))
    from smarter.llm import anthropic_provider

    if provider.name in anthropic_provider.NATIVE:  # over its own Messages API
        return (yield from anthropic_provider.stream_completion(provider, request))
    httpx = _httpx()
    body = {**request, "stream": True, "stream_options": {"include_usage": True}}
    waited = 0.0  # time spent waiting on the provider, not on our caller
    assembler = Assembler()
    url, headers, extensions = _target(provider)
    options: dict[str, Any] = {"extensions": extensions} if extensions else {}
    if timeout:
        options["timeout"] = _timeout(timeout)
    started = False
    try:
        with http_client().stream("POST", url, json=body, headers=headers, **options) as response:
            started = True
            if response.status_code >= 400:
                raw = response.read()
                if response.status_code == 429:
                    retry_after = response.headers.get("retry-after")
                    raise _refused(RateLimited(
                        f"the provider {provider.name!r} is rate limiting: {_message_of(raw)}",
                        headers={"Retry-After": retry_after} if retry_after else None,
                    ), 429, response.headers)
                if response.status_code in providers.REJECTED_STATUSES:
                    raise _refused(providers.rejected(provider, response.status_code, raw, providers.secrets_of(provider)), response.status_code, response.headers)
                raise _refused(ProviderError(f"the provider {provider.name!r} answered {response.status_code}: {_message_of(raw)}"), response.status_code, response.headers)
            lines = response.iter_lines()
            mark = time.perf_counter()
            events = 0
            for chunk in sse_data(lines):
                waited += time.perf_counter() - mark
                events += 1
                piece = assembler.add(chunk)
                if piece:
                    yield {"content": piece}
                mark = time.perf_counter()
            waited += time.perf_counter() - mark
            if not events:  # a 200 that is not an event stream (a proxy's page, a truncated body): nothing was said
                raise ProviderError(f"the provider {provider.name!r} answered 200 without a single stream event")
    except httpx.TimeoutException:
        raise ProviderTimeout(f"the provider {provider.name!r} did not answer within {timeout or settings().provider_timeout_seconds:g} s") from None
    except httpx.ConnectError as exc:
        raise providers.Unreachable(providers.connect_failure(provider, exc)) from None
    except httpx.TransportError as exc:
        if not started:
            raise providers.Unreachable(f"could not reach the provider {provider.name!r}: {exc.__class__.__name__}") from None
        raise providers.AnswerStarted(f"the provider {provider.name!r} broke off the stream: {exc.__class__.__name__}") from None
    completion = assembler.body()
    if not completion["model"]:
        completion["model"] = request.get("model")
    return providers.Completion(completion, waited * 1000)


@dataclass
class Forward:
    """The provider's answer to a passthrough, as it arrives."""

    status: int
    content_type: str
    chunks: Iterator[bytes]
    close: Any


def open_forward(provider: providers.Provider, request: dict[str, Any]) -> Forward:
    """Send a raw body (with `stream: true`) and hand back the provider's status
    and its bytes as they arrive. No retries: what the provider says is what
    the caller gets. The caller must call `close()` when done."""
    httpx = _httpx()
    if provider.name == "offline":
        return _offline_forward(request)
    client = http_client()
    url, headers, extensions = _target(provider)
    try:
        send = client.build_request("POST", url, json=request, headers=headers, extensions=extensions or None)
        response = client.send(send, stream=True)
    except httpx.TimeoutException:
        raise ProviderTimeout(f"the provider {provider.name!r} did not answer within {settings().provider_timeout_seconds:g} s") from None
    except httpx.ConnectError as exc:
        raise providers.Unreachable(providers.connect_failure(provider, exc)) from None
    except httpx.TransportError as exc:
        raise providers.Unreachable(f"could not reach the provider {provider.name!r}: {exc.__class__.__name__}") from None

    def chunks() -> Iterator[bytes]:
        try:
            yield from response.iter_raw()
        except httpx.TimeoutException:
            raise ProviderTimeout(f"the provider {provider.name!r} stopped sending for {settings().provider_timeout_seconds:g} s") from None
        except httpx.TransportError as exc:
            raise ProviderError(f"the provider {provider.name!r} broke off the stream: {exc.__class__.__name__}") from None

    return Forward(response.status_code, response.headers.get("content-type", "application/octet-stream"), chunks(), response.close)


def event(payload: Any) -> bytes:
    """One server-sent event carrying a JSON payload."""
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode("utf-8") + b"\n\n"


DONE = b"data: [DONE]\n\n"


def chunks_of(body: dict[str, Any], *, include_usage: bool = True) -> list[dict[str, Any]]:
    """A chat.completion body as the chat.completion.chunk payloads a provider
    streaming it would send: the role, the content a word at a time, the tool
    calls, the finish reason, then usage."""
    base = {"id": body.get("id"), "object": "chat.completion.chunk", "created": body.get("created"), "model": body.get("model")}
    choice = (body.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    out = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
    words = (message.get("content") or "").split(" ")
    for i, word in enumerate(words):
        if word or i:
            out.append({**base, "choices": [{"index": 0, "delta": {"content": word if i == 0 else " " + word}, "finish_reason": None}]})
    for i, call in enumerate(message.get("tool_calls") or []):
        out.append({**base, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": i, **call}]}, "finish_reason": None}]})
    out.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": choice.get("finish_reason") or "stop"}]})
    if include_usage and body.get("usage"):
        out.append({**base, "choices": [], "usage": body["usage"]})
    return out


def _offline_forward(request: dict[str, Any]) -> Forward:
    """The offline provider's answer as the SSE bytes a real one would send."""
    from smarter.llm.offline import complete

    body = complete(request)
    include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
    events = [event(chunk) for chunk in chunks_of(body, include_usage=include_usage)] + [DONE]
    return Forward(200, "text/event-stream", iter(events), lambda: None)
