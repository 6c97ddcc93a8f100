"""The passthrough surface: `POST /v1/passthrough/{provider}` forwards a raw
OpenAI-style chat completion body to a named provider with the platform's key.

Buffered, the provider's status and body come back inside the envelope. With
`"stream": true` the provider's server-sent events are relayed as they
arrive; until the provider has answered 200 with an event stream, the answer
is the usual envelope (provider errors passed through). Both are checked and
reserved alike (`admit`) and counted alike: a stream is always asked for its
usage upstream (`stream_options.include_usage`), and the usage event is
passed on only to a caller that asked for it; an answer without usage is
counted from an estimate (pipeline.Exchange.meter), so a budget never leaks
through a stream.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from smarter.edge.envelope import envelope
from smarter.edge.pipeline import Answer, Exchange
from smarter.errors import BadRequest, Forbidden
from smarter.llm import providers, streaming
from smarter.llm.providers import Provider
from smarter.store.journal import RequestRecord
from smarter.tenancy import limits

# A provider that never ends an event is relayed as it is once this much is held back.
MAX_HELD_BYTES = 1 << 20


# Names a client whose `spec.routing` the passthrough follows (fallback, retries, cooldown).
CLIENT_HEADER = "X-Smarter-Client"


@dataclass
class PassthroughRequest:
    body: dict[str, Any]  # what is forwarded
    stream: bool
    caller_usage: bool  # the caller asked for the usage event itself
    route: Any = None  # llm.routing.Route, when the caller named a client (X-Smarter-Client)


def require_account_key(key: dict[str, Any]) -> None:
    """The passthrough spends the platform's provider keys on any model and
    prompt: a key limited to some clients is not meant to reach it."""
    if key.get("clients"):
        raise Forbidden(
            f"this API key is limited to the clients {', '.join(key['clients'])}; "
            "the passthrough needs a key of the whole account (no clients list)"
        )


def _stream_options(body: dict[str, Any]) -> dict[str, Any]:
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise BadRequest("stream: must be true or false")
    options = body.get("stream_options")
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise BadRequest("stream_options: must be an object such as {\"include_usage\": true}")
    if "include_usage" in options and not isinstance(options["include_usage"], bool):
        raise BadRequest("stream_options.include_usage: must be true or false")
    return options


def client_route(record: RequestRecord, key: dict[str, Any], target: Provider, client_name: str | None) -> Any:
    """The route of the client the caller named (X-Smarter-Client), or None. The
    path's provider must be one of its targets; the client's routing decides the
    order. The request is journaled under that client."""
    if client_name is None or not client_name.strip():
        return None
    from smarter.llm import routing
    from smarter.tenancy import auth, hosts

    resolved = hosts.client_by_name(key["account"], client_name.strip())
    auth.authorize_client(key, resolved.account, resolved.name)
    route = routing.route_for(resolved.doc, resolved.account)
    if target.name not in {t.provider.name for t in route.targets}:
        names = ", ".join(dict.fromkeys(t.provider.name for t in route.targets))
        raise BadRequest(f"{CLIENT_HEADER}: the client {resolved.name!r} routes to {names}, not to {target.name!r}")
    record.client = resolved.name
    return route


def admit(record: RequestRecord, key: dict[str, Any], target: Provider, body: Any, route: Any = None) -> PassthroughRequest:
    """The body checked and the request's budget reserved (per target tried, when routed); what to forward."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object: an OpenAI-style chat completion request")
    options = _stream_options(body)
    if target.name == "offline" or (route is not None and any(t.provider.name == "offline" for t in route.targets)):
        from smarter.llm.messages import parse_offline_request  # pydantic: only the offline provider needs it here

        parse_offline_request(body)
    record.plan = limits.plan(key, key["account"], None)
    if route is None:
        limits.reserve(record.plan, record, provider=target.name, model=str(body.get("model") or target.default_model), body=body, first=True,
                       prices=target.price_overrides())
    stream = body.get("stream") is True
    if stream:
        body = {**body, "stream_options": {**options, "include_usage": True}}
    return PassthroughRequest(body, stream, bool(options.get("include_usage")), route)


def _reserve(record: RequestRecord, body: dict[str, Any]):
    def reserve(target: Any, first: bool) -> None:
        limits.reserve(record.plan, record, provider=target.provider.name, model=target.model, body={**body, "model": target.model}, first=first,
                       prices=target.provider.price_overrides())

    return reserve


def answer(exchange: Exchange, target: Provider, request: PassthroughRequest) -> Answer:
    if request.stream:
        return _stream(exchange, target, request)
    record = exchange.record
    if request.route is not None:
        from smarter.llm import routing

        forwarded, served = routing.forward(request.route, request.body, record.deadline, record, reserve=_reserve(record, request.body))
        target = served.provider
    else:
        forwarded = providers.forward(target, request.body, record.deadline)
    record.provider_ms += forwarded.provider_ms
    _meter(exchange, request, forwarded.status, forwarded.body)
    return _envelope(exchange, target, forwarded.status, forwarded.body, forwarded.headers)


def _envelope(exchange: Exchange, target: Provider, status: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    record = exchange.record
    answer = envelope(record.thing, record.command, record.key, data={"status": status, "body": body}, provider=target.name)
    return exchange.json(status, answer, headers or None)


def _meter(exchange: Exchange, request: PassthroughRequest, status: int, body: Any) -> None:
    usage = body.get("usage") if isinstance(body, dict) else None
    exchange.meter(usage, request=request.body, output=_output_of(body), succeeded=200 <= status < 300)


def _output_of(body: Any) -> str:
    """The text a completion produced (content and tool-call arguments), for an estimate."""
    if not isinstance(body, dict):
        return str(body or "")
    parts = []
    for choice in body.get("choices") or []:
        message = (choice.get("message") if isinstance(choice, dict) else None) or {}
        if isinstance(message, dict):
            parts.append(str(message.get("content") or ""))
            parts.append(json.dumps(message.get("tool_calls") or "", default=str))
    return "".join(parts)


def _stream(exchange: Exchange, target: Provider, request: PassthroughRequest) -> Answer:
    record = exchange.record
    if request.route is not None:
        from smarter.llm import routing

        forward, served = routing.open_stream(request.route, request.body, record, reserve=_reserve(record, request.body))
        target = served.provider
    else:
        forward = streaming.open_forward(target, request.body)
    if forward.status != 200 or "text/event-stream" not in forward.content_type:
        # Not a stream (an error, or a provider that ignores `stream`): the buffered passthrough's answer.
        try:
            raw = b"".join(forward.chunks)
        finally:
            forward.close()
        body = providers.forwarded_body(target, forward.status, raw.decode("utf-8", "replace"))
        _meter(exchange, request, forward.status, body)
        return _envelope(exchange, target, forward.status, body)

    tap = _Tap(keep_usage=request.caller_usage)
    timing = {"started": time.perf_counter(), "waited": 0.0}

    def chunks() -> Iterator[bytes]:
        mark = time.perf_counter()
        for chunk in forward.chunks:
            timing["waited"] += time.perf_counter() - mark
            out = tap.feed(chunk)
            if out:
                yield out
            mark = time.perf_counter()
        rest = tap.flush()
        if rest:
            yield rest

    def summary() -> dict[str, Any]:
        forward.close()
        record.provider_ms += timing["waited"] * 1000 if timing["waited"] else (time.perf_counter() - timing["started"]) * 1000
        assembled = tap.assembler.body()
        message = assembled["choices"][0]["message"]
        _meter(exchange, request, 200, assembled)
        return {"status": 200, "stream": True, "events": tap.events, "bytes": tap.bytes, "model": assembled.get("model"),
                "content": message.get("content"), "tool_calls": message.get("tool_calls")}

    return exchange.stream(chunks(), summary)


def _event_end(data: bytes) -> int:
    """The end of the first complete event in `data` (after its blank line), or -1."""
    ends = [i + len(sep) for sep in (b"\n\n", b"\r\n\r\n", b"\r\r") if (i := data.find(sep)) >= 0]
    return min(ends) if ends else -1


class _Tap:
    """Relays the provider's events whole, reading them for the journal (text,
    usage) as they pass, and holds back the usage event a caller did not ask for."""

    def __init__(self, keep_usage: bool) -> None:
        self.held = b""
        self.assembler = streaming.Assembler()
        self.keep_usage = keep_usage
        self.bytes = 0
        self.events = 0

    def feed(self, chunk: bytes) -> bytes:
        self.bytes += len(chunk)
        self.held += chunk
        out = []
        while (end := _event_end(self.held)) >= 0:
            raw, self.held = self.held[:end], self.held[end:]
            if self._read(raw):
                out.append(raw)
        if len(self.held) > MAX_HELD_BYTES:
            out.append(self.flush())
        return b"".join(out)

    def flush(self) -> bytes:
        rest, self.held = self.held, b""
        return rest if rest and self._read(rest) else b""

    def _read(self, raw: bytes) -> bool:
        """Take one event; whether to pass it on."""
        keep = True
        for line in raw.splitlines():
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if not data or data == b"[DONE]":
                continue
            self.events += 1
            try:
                payload = json.loads(data)
            except (ValueError, RecursionError):
                continue
            if isinstance(payload, dict):
                self.assembler.add(payload)
                if not self.keep_usage and payload.get("usage") and not payload.get("choices"):
                    keep = False  # the usage event we asked for ourselves
        return keep
