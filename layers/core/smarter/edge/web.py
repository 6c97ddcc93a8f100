"""HTTP glue shared by the Lambda functions: the resolver, the one exception
handler, body parsing, and the journaled run of every request."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.metrics import MetricUnit

from smarter.config import settings
from smarter.edge.envelope import envelope
from smarter.errors import BadRequest, NotFound, PayloadTooLarge, SmarterError
from smarter.store.journal import RequestRecord

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
        # The page shows both: the journal entry and the gateway's share of the time.
        expose_headers=["X-Smarter-Journal-Key", "X-Smarter-Overhead-Duration-Ms"],
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
        logger.exception("unhandled error")
        return error_response(SmarterError("internal error; the journal key identifies this request"))

    return app


def _meta(record: RequestRecord) -> dict[str, Any]:
    return {"session_key": record.session_key} if record.command == "prompt" else {}


def domain_name(event: dict[str, Any]) -> str:
    """The host API Gateway matched (requestContext.domainName), not the Host header."""
    return ((event.get("requestContext") or {}).get("domainName") or "").lower()


def json_body(app: APIGatewayRestResolver) -> Any:
    """The request body as JSON, within the size limit, or a clear 400/413."""
    raw = app.current_event.body
    if raw is None or raw == "":
        raise BadRequest("the request has no body: send a JSON object")
    body_bytes = app.current_event.decoded_body.encode("utf-8") if app.current_event.is_base64_encoded else raw.encode("utf-8")
    limit = settings().max_body_bytes
    if len(body_bytes) > limit:
        raise PayloadTooLarge(f"the body is {len(body_bytes)} bytes; the limit is {limit} bytes")
    try:
        return json.loads(body_bytes)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None


def ok(app: APIGatewayRestResolver, data: Any, *, status: int = 200, **metadata: Any) -> Response:
    record: RequestRecord = app.context["record"]
    body = envelope(record.thing, record.command, record.key, data=data, **_meta(record), **metadata)
    return _respond(record, status, body)


def _respond(record: RequestRecord, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """The JSON answer; the record keeps the envelope itself for the journal."""
    record.response = body
    return Response(status_code=status, content_type=CONTENT_TYPE, body=json.dumps(body, default=str), headers=headers)


def handle(app: APIGatewayRestResolver, event: dict[str, Any], context: Any, *, thing: str, command: str) -> dict[str, Any]:
    """Resolve one request and journal it, whatever happened."""
    record = RequestRecord(
        thing,
        command,
        method=event.get("httpMethod", ""),
        path=event.get("path", ""),
        host=domain_name(event),
        headers=event.get("headers"),
    )
    app.append_context(record=record)
    response = app.resolve(event, context)
    # Our envelopes are journaled as built; only Powertools' own answers (the
    # CORS preflight) are read back from the response.
    journaled = record.response if record.response is not None else _parsed(response.get("body"))
    record.finish(response["statusCode"], journaled)
    headers = response.setdefault("multiValueHeaders", {})
    headers["X-Smarter-Journal-Key"] = [record.key]
    # Measured after the journal write: the client waits for that too.
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
