"""HTTP glue shared by the Lambda functions: the resolver, the one exception
handler, body parsing, and the journaled run of every request."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.metrics import MetricUnit

from smarter.config import settings
from smarter.deadline import Deadline
from smarter.edge.envelope import envelope
from smarter.errors import BadRequest, NotFound, PayloadTooLarge, ResponseTooLarge, SmarterError
from smarter.store.journal import RequestRecord
from smarter.tenancy import limits

logger = Logger()
metrics = Metrics(namespace="SmarterServerless")

CONTENT_TYPE = "application/json"
# What the Tracer patches: our AWS calls go through botocore. Patching
# everything X-Ray supports would import libraries we never use.
TRACED_MODULES = ("botocore",)


def cors_config() -> CORSConfig | None:
    origins = settings().cors_origins
    if not origins:
        return None
    # Named origins only: never `*`, since requests carry an Authorization header.
    return CORSConfig(
        allow_origin=origins[0],
        extra_origins=list(origins[1:]),
        allow_headers=["Authorization", "Content-Type"],
        # The page shows both: the journal entry and the gateway's share of the time;
        # and the rate-limit headers and Retry-After of tenancy/limits.py.
        expose_headers=["X-Smarter-Journal-Key", "X-Smarter-Overhead-Duration-Ms", "Retry-After", *limits.HEADER_NAMES],
        max_age=600,
        allow_credentials=False,
    )


def make_resolver(thing: str, command: str) -> APIGatewayRestResolver:
    """A resolver whose every error becomes the journaled error envelope."""
    app = APIGatewayRestResolver(cors=cors_config())

    def error_response(error: SmarterError) -> Response:
        record: RequestRecord = app.context["record"]
        body = envelope(record.thing, record.command, record.key, error=error, **_meta(record))
        return _respond(record, error.status, body, headers=dict(error.headers))

    @app.exception_handler(SmarterError)
    def _smarter_error(exc: SmarterError) -> Response:
        return error_response(exc)

    @app.not_found
    def _not_found(exc: NotFoundError) -> Response:
        return error_response(NotFound(f"no route for {app.current_event.http_method} {app.current_event.path}"))

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:
        record: RequestRecord = app.context["record"]
        logger.exception("unhandled error", extra={"journal_key": record.key})
        return error_response(SmarterError("internal error; the journal key identifies this request"))

    return app


def _meta(record: RequestRecord) -> dict[str, Any]:
    return {"session_key": record.session_key} if record.command == "prompt" else {}


def domain_name(event: dict[str, Any]) -> str:
    """The host API Gateway matched (requestContext.domainName), not the Host header."""
    return str((event.get("requestContext") or {}).get("domainName") or "").lower()


def raw_body(app: Any) -> bytes:
    """The request body's bytes (base64 decoded when API Gateway encoded it),
    within the size limit, or a clear 400/413."""
    event = app.current_event
    raw = event.body
    if raw is None or raw == "":
        raise BadRequest("the request has no body: send a JSON object")
    if event.is_base64_encoded:
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("the body is marked base64-encoded but is not valid base64") from None
    else:
        # A string API Gateway built; lone surrogates survive to fail the UTF-8 check below.
        data = raw.encode("utf-8", errors="surrogatepass")
    limit = settings().max_body_bytes
    if len(data) > limit:
        raise PayloadTooLarge(f"the body is {len(data)} bytes; the limit is {limit} bytes")
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_body(app: Any, record: RequestRecord | None = None) -> Any:
    """The request body as JSON: within the size limit (413), valid UTF-8, valid
    JSON without NaN/Infinity, nested no deeper than SMARTER_MAX_JSON_DEPTH (400).
    The body is kept for the journal, redacted and capped. `app` is the resolver,
    or anything with a `current_event` (the streaming routes) with its `record`."""
    record = record if record is not None else app.context["record"]
    data = raw_body(app)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        record.keep_body(f"<{len(data)} bytes, not UTF-8>", len(data))
        raise BadRequest(f"the body is not valid UTF-8 (byte {exc.start}): send JSON encoded as UTF-8") from None
    depth = settings().max_json_depth
    try:
        body = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        record.keep_body(text, len(data))
        raise BadRequest(f"the body is nested too deeply; the limit is {depth} levels") from None
    except ValueError as exc:
        record.keep_body(text, len(data))
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    if _deeper_than(body, depth):
        record.keep_body(text, len(data))
        raise BadRequest(f"the body is nested more than {depth} levels deep (SMARTER_MAX_JSON_DEPTH)")
    record.keep_body(body, len(data))
    return body


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` levels (no recursion: a hostile body cannot exhaust the stack)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def ok(app: APIGatewayRestResolver, data: Any, *, status: int = 200, headers: dict[str, str] | None = None, **metadata: Any) -> Response:
    record: RequestRecord = app.context["record"]
    body = envelope(record.thing, record.command, record.key, data=data, **_meta(record), **metadata)
    return _respond(record, status, body, headers=headers)


def _respond(record: RequestRecord, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """The JSON answer; the record keeps the envelope itself for the journal.
    An answer over SMARTER_MAX_RESPONSE_BYTES is replaced by a response_too_large
    error (never truncated: half a JSON answer is no answer), and the request
    stores no session messages, since the caller never saw them."""
    text = json.dumps(body, default=str)  # ASCII: characters are bytes
    limit = settings().max_response_bytes
    if len(text) > limit:
        error = ResponseTooLarge(
            f"the answer would be {len(text)} bytes; the limit is {limit} bytes (SMARTER_MAX_RESPONSE_BYTES; Lambda answers at most 6 MB)"
        )
        record.pending.clear()
        record.response_bytes = len(text)
        status, headers = error.status, None
        body = envelope(record.thing, record.command, record.key, error=error, **_meta(record))
        text = json.dumps(body, default=str)
    record.response = body
    return Response(status_code=status, content_type=CONTENT_TYPE, body=text, headers=headers)


def handle(app: APIGatewayRestResolver, event: dict[str, Any], context: Any, *, thing: str, command: str) -> dict[str, Any]:
    """Resolve one request and journal it, whatever happened."""
    record = RequestRecord(
        thing,
        command,
        method=str(event.get("httpMethod") or ""),
        path=str(event.get("path") or ""),
        host=domain_name(event),
        headers=event.get("headers"),
        deadline=Deadline.for_request(event, context),
    )
    # Every log line of this request carries its journal key.
    logger.append_keys(journal_key=record.key)
    app.append_context(record=record)
    try:
        response = app.resolve(event, context)
    except Exception:  # a failure before routing (a malformed event): still an envelope, still journaled
        logger.exception("unhandled error", extra={"journal_key": record.key})
        error = SmarterError("internal error; the journal key identifies this request")
        body = envelope(record.thing, record.command, record.key, error=error, **_meta(record))
        record.response = body
        response = {"statusCode": 500, "headers": {"Content-Type": CONTENT_TYPE}, "body": json.dumps(body), "isBase64Encoded": False}
    # Our envelopes are journaled as built; only Powertools' own answers (the
    # CORS preflight) are read back from the response.
    journaled = record.response if record.response is not None else _parsed(response.get("body"))
    record.finish(response["statusCode"], journaled)
    headers = response.setdefault("multiValueHeaders", {})
    headers["X-Smarter-Journal-Key"] = [record.key]
    for name, value in limits.headers(record).items():  # x-ratelimit-*, as OpenAI sends them
        headers[name] = [value]
    # Measured when the answer leaves: with the after-response extension the
    # journal write comes later (store/afterwards.py); without it, it is included.
    headers["X-Smarter-Overhead-Duration-Ms"] = [f"{record.overhead_ms():.2f}"]
    _count(record, response["statusCode"])
    return response


def _count(record: RequestRecord, status: int) -> None:
    """CloudWatch metrics (EMF, flushed by @metrics.log_metrics on the handler)."""
    metrics.add_metric(name=f"{record.command.capitalize()}Requests", unit=MetricUnit.Count, value=1)
    if status >= 500:
        metrics.add_metric(name="ServerErrors", unit=MetricUnit.Count, value=1)
    elif status >= 400:
        metrics.add_metric(name="ClientErrors", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="GatewayOverhead", unit=MetricUnit.Milliseconds, value=round(record.overhead_ms(), 2))
    if record.provider_ms:
        metrics.add_metric(name="ProviderLatency", unit=MetricUnit.Milliseconds, value=round(record.provider_ms, 2))


def _parsed(body: Any) -> Any:
    if isinstance(body, str):
        try:
            return json.loads(body)
        except ValueError:
            return body
    return body
