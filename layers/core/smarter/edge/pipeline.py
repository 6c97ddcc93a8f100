"""The one request pipeline: every route of every surface is served by `serve`.

A surface (the Smarter prompt API, OpenAI's chat completions and models, the
passthrough, the platform routes, and what comes next) is an adapter: it
parses the request into the domain's turn and renders the outcome, buffered or
as a stream. What every request needs, the pipeline does once, here:

- the journal record, created before anything else and written when the
  answer is out (after it, in Lambda: runtime/afterwards.py), whatever
  happened, errors and broken streams included;
- who is calling: the host's client or the platform host, the key, the
  client allow-list and the limits plan (`Exchange.client`, `.platform_key`);
- input limits: size, encoding, JSON, nesting (`Exchange.body`);
- settlement that cannot leak: an answer without usage is counted from an
  estimate (`Exchange.meter`), never as zero;
- CORS (preflight and every answer), the rate-limit headers, the journal key
  header and the overhead header;
- the error mapping: a `SmarterError` becomes the surface's own error shape
  with its status; anything else is logged with the journal key and becomes a
  500 in that shape, never a stack trace; in a stream, an error event;
- metrics, one EMF line per request, flushed when the answer is complete
  (for a stream, when it ends).

A surface decides nothing of this; it supplies a `Surface` (its thing and
command, its error shape, its extra headers) and a route function.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from smarter.config import settings
from smarter.deadline import Deadline
from smarter.edge import body as body_checks
from smarter.edge.envelope import envelope
from smarter.errors import NotFound, ResponseTooLarge, SmarterError
from smarter.llm.streaming import event as sse_event
from smarter.runtime.streams import SSE_HEADERS, StreamedResponse
from smarter.store.journal import RequestRecord
from smarter.tenancy import auth, hosts, limits

logger = Logger()
metrics = Metrics(namespace="SmarterServerless")

JSON = "application/json"
JOURNAL_HEADER = "X-Smarter-Journal-Key"
OVERHEAD_HEADER = "X-Smarter-Overhead-Duration-Ms"
# Which provider answered (llm/routing.py: the target that served, after any fallback).
PROVIDER_HEADER = "X-Smarter-Provider"
PROVIDER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
INTERNAL = "internal error; the journal key identifies this request"
Answer = dict[str, Any] | StreamedResponse


class Surface:
    """What one API does its own way. The default is Smarter's: the journaled envelope."""

    thing = "LLMClient"
    command = "prompt"
    # Request headers a browser may send (CORS preflight) and answer headers it may read.
    allow_headers: tuple[str, ...] = ("Authorization", "Content-Type")
    expose_headers: tuple[str, ...] = ()

    def __init__(self, thing: str | None = None, command: str | None = None):
        if thing:
            self.thing = thing
        if command:
            self.command = command

    def error_body(self, record: RequestRecord, error: SmarterError) -> dict[str, Any]:
        return envelope(record.thing, record.command, record.key, error=error, **envelope_meta(record))

    def stream_error(self, record: RequestRecord, error: SmarterError) -> bytes:
        """The event that ends a stream which fails after its first byte."""
        return sse_event({"error": {"message": error.message, "type": "api_error", "code": error.type, "param": None}})

    def headers(self, record: RequestRecord) -> dict[str, str]:
        """Headers of this surface on every answer (beyond the pipeline's own)."""
        return {}


def envelope_meta(record: RequestRecord) -> dict[str, Any]:
    return {"session_key": record.session_key} if record.command == "prompt" else {}


def domain_name(event: dict[str, Any]) -> str:
    """The host API Gateway matched (requestContext.domainName), not the Host header."""
    return str((event.get("requestContext") or {}).get("domainName") or "").lower()


class Exchange:
    """One request: its event, its journal record, and its one answer."""

    def __init__(self, raw_event: dict[str, Any], context: Any, surface: Surface):
        self.raw = raw_event
        self.event = APIGatewayProxyEvent(raw_event)
        self.surface = surface
        self.record = RequestRecord(
            surface.thing,
            surface.command,
            method=str(raw_event.get("httpMethod") or ""),
            path=str(raw_event.get("path") or ""),
            host=domain_name(raw_event),
            headers=raw_event.get("headers"),
            deadline=Deadline.for_request(raw_event, context),
        )
        # Set once by json/stream/fail: routes behind a resolver answer through it.
        self.answer: Answer | None = None
        self._finished = False

    # --- who is calling --------------------------------------------------------------

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in (self.event.headers or {}).items() if k.lower() == lowered), None)

    def client(self, resolved: hosts.ResolvedClient | None = None) -> hosts.ResolvedClient:
        """The client (the host's, unless given), for a key of its account that may call it; the limits plan set."""
        record = self.record
        resolved = resolved or hosts.resolve_client(record.request["host"])
        record.account, record.client = resolved.account, resolved.name
        key = auth.authenticate(self.event.headers)
        record.api_key_id = key["key_id"]
        auth.authorize_client(key, resolved.account, resolved.name)
        record.plan = limits.plan(key, resolved.account, resolved.doc)
        return resolved

    def platform_key(self) -> dict[str, Any]:
        """Platform routes answer on the platform host only, for a valid key."""
        if hosts.parse_host(self.record.request["host"]).kind != "platform":
            raise NotFound(f"{self.event.path} is served on the platform host only")
        key = auth.authenticate(self.event.headers)
        self.record.account, self.record.api_key_id = key["account"], key["key_id"]
        return key

    # --- input ---------------------------------------------------------------------

    def body(self) -> Any:
        """The request body as JSON, within every input limit; kept (redacted) for the journal."""
        return body_checks.json_body(self.event, self.record)

    def meter(self, usage: Any, *, request: dict[str, Any], output: str | None, succeeded: bool = True) -> None:
        """Count one provider answer. An answer that carries no token counts (a
        stream without a usage chunk, a provider that sends none) is counted from
        an upper estimate of its input and output, so a budget cannot leak through it."""
        estimate = limits.estimated_usage(request, output) if succeeded else None
        self.record.add_usage(usage, estimate=estimate)

    # --- answers -------------------------------------------------------------------

    def common_headers(self) -> dict[str, str]:
        return {
            JOURNAL_HEADER: self.record.key,
            **cors_headers(self.event.headers, (JOURNAL_HEADER, OVERHEAD_HEADER, PROVIDER_HEADER, "Retry-After", *limits.HEADER_NAMES, *self.surface.expose_headers)),
            **limits.headers(self.record),
            **({PROVIDER_HEADER: self.record.provider} if self.record.provider and PROVIDER_NAME.match(self.record.provider) else {}),
            **self.surface.headers(self.record),
        }

    def json(self, status: int, body: Any, headers: dict[str, str] | None = None, *, journaled: Callable[[Any], Any] | None = None) -> dict[str, Any]:
        """A buffered JSON answer. One over SMARTER_MAX_RESPONSE_BYTES becomes a
        response_too_large error (never truncated), and stores no session messages,
        since the caller never saw them. `journaled` maps the body to what the
        journal keeps of it (a secret shown once, a read's copy of stored data)."""
        text = json.dumps(body, default=str)  # ASCII: characters are bytes
        limit = settings().max_response_bytes
        if len(text) > limit:
            error = ResponseTooLarge(
                f"the answer would be {len(text)} bytes; the limit is {limit} bytes (SMARTER_MAX_RESPONSE_BYTES; Lambda answers at most 6 MB)"
            )
            self.record.pending.clear()
            self.record.response_bytes = len(text)
            status, headers, body = error.status, None, self.surface.error_body(self.record, error)
            text = json.dumps(body, default=str)
            journaled = None
        self._finish(status, body if journaled is None else journaled(body))
        out = {"Content-Type": JSON, **self.common_headers(), **(headers or {}), OVERHEAD_HEADER: f"{self.record.overhead_ms():.2f}"}
        self.answer = {"statusCode": status, "headers": out, "body": text, "isBase64Encoded": False}
        return self.answer

    def fail(self, error: SmarterError) -> dict[str, Any]:
        return self.json(error.status, self.surface.error_body(self.record, error), dict(error.headers))

    def stream(self, chunks: Iterator[bytes], summary: Callable[[], dict[str, Any]], headers: dict[str, str] | None = None) -> StreamedResponse:
        """A 200 event stream. `chunks` is the surface's body; `summary()` what the
        journal keeps of it once it ends. However it ends (done, failed, the
        client gone), the record is written then, and an error after the first
        byte ends the stream with the surface's error event."""
        record = self.record
        outcome: dict[str, Any] = {"complete": False}

        def body() -> Iterator[bytes]:
            try:
                yield from chunks
                outcome["complete"] = True
            except SmarterError as exc:
                outcome["error"] = {"type": exc.type, "message": exc.message, "status": exc.status}
                yield self.surface.stream_error(record, exc)
            except GeneratorExit:
                outcome["disconnected"] = True  # the client went away: the provider's stream is closed too
                raise
            except Exception:
                logger.exception("stream failed", extra={"journal_key": record.key})
                failure = SmarterError(INTERNAL)
                outcome["error"] = {"type": failure.type, "message": failure.message, "status": 500}
                yield self.surface.stream_error(record, failure)
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
                try:
                    summarized = summary()
                except Exception:
                    logger.exception("stream summary failed", extra={"journal_key": record.key})
                    summarized = {}
                self._finish(200, {**summarized, **outcome})

        self.answer = StreamedResponse(200, {**SSE_HEADERS, **self.common_headers(), **(headers or {})}, body())
        return self.answer

    def preflight(self) -> dict[str, Any]:
        headers = cors_headers(self.event.headers, ())
        if headers:
            headers.pop("Access-Control-Expose-Headers", None)
            headers.update({
                "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                "Access-Control-Allow-Headers": ", ".join(self.surface.allow_headers),
                "Access-Control-Max-Age": "600",
            })
        self._finish(204, None)
        self.answer = {"statusCode": 204, "headers": {**headers, JOURNAL_HEADER: self.record.key}, "body": "", "isBase64Encoded": False}
        return self.answer

    def _finish(self, status: int, journaled: Any) -> None:
        """The journal record (written after the answer where the runtime allows) and the metrics."""
        if self._finished:
            return
        self._finished = True
        self.record.finish(status, journaled)
        _count(self.record, status)


def serve(raw_event: dict[str, Any], context: Any, surface: Surface, route: Callable[[Exchange], Answer]) -> Answer:
    """Answer one request: `route` does the surface's work; the rest is here."""
    exchange = Exchange(raw_event, context, surface)
    logger.append_keys(journal_key=exchange.record.key)  # every log line of this request carries it
    try:
        if exchange.event.http_method == "OPTIONS":
            return exchange.preflight()
        answer = route(exchange)
        return exchange.answer if exchange.answer is not None else answer
    except SmarterError as exc:
        return exchange.fail(exc)
    except Exception:
        logger.exception("unhandled error", extra={"journal_key": exchange.record.key})
        return exchange.fail(SmarterError(INTERNAL))


def cors_headers(request_headers: dict[str, str] | None, expose: tuple[str, ...]) -> dict[str, str]:
    """Named origins only (the page's), never `*`, since requests carry a key."""
    origin = next((v for k, v in (request_headers or {}).items() if k.lower() == "origin"), None)
    if not origin or origin not in settings().cors_origins:
        return {}
    out = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    if expose:
        out["Access-Control-Expose-Headers"] = ", ".join(dict.fromkeys(expose))
    return out


def metric_name(command: str) -> str:
    """`chat.completions` -> ChatCompletionsRequests, `prompt` -> PromptRequests."""
    return "".join(part.capitalize() for part in command.replace("-", ".").replace("_", ".").split(".")) + "Requests"


def _count(record: RequestRecord, status: int) -> None:
    """CloudWatch metrics (EMF), one line per request, flushed now: a stream ends
    after its handler has returned, so no handler decorator could flush them."""
    try:
        metrics.add_metric(name=metric_name(record.command), unit=MetricUnit.Count, value=1)
        if status >= 500:
            metrics.add_metric(name="ServerErrors", unit=MetricUnit.Count, value=1)
        elif status >= 400:
            metrics.add_metric(name="ClientErrors", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="GatewayOverhead", unit=MetricUnit.Milliseconds, value=round(record.overhead_ms(), 2))
        if record.provider_ms:
            metrics.add_metric(name="ProviderLatency", unit=MetricUnit.Milliseconds, value=round(record.provider_ms, 2))
        metrics.flush_metrics()
    except Exception:  # metrics never cost an answer
        logger.exception("metrics not flushed")


__all__ = ["Answer", "Exchange", "SSE_HEADERS", "Surface", "cors_headers", "domain_name", "envelope_meta", "serve"]
