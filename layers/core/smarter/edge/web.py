"""Powertools' resolver on the one pipeline (edge/pipeline.py): the resolver
matches routes; every route answers through the request's `Exchange`, so the
journal, limits headers, CORS, metrics and the error mapping stay the
pipeline's. Used by the functions whose routes are a table (the prompt API,
the platform routes, the console); the OpenAI API routes its two paths itself
on the same pipeline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from smarter.edge import pipeline
from smarter.edge.envelope import envelope
from smarter.edge.pipeline import Answer, Exchange, Surface, logger
from smarter.errors import MethodNotAllowed, NotFound, SmarterError

# What the Tracer patches: our AWS calls go through botocore. Patching
# everything X-Ray supports would import libraries we never use.
TRACED_MODULES = ("botocore",)
metrics = pipeline.metrics


def make_resolver(thing: str = "LLMClient", command: str = "prompt") -> APIGatewayRestResolver:
    """A resolver whose every error becomes the surface's journaled error answer.
    No Powertools CORS: the pipeline answers preflights and adds CORS to every answer."""
    app = APIGatewayRestResolver()

    def failed(error: SmarterError) -> Response:
        return _placeholder(exchange(app).fail(error))

    @app.exception_handler(SmarterError)
    def _smarter_error(exc: SmarterError) -> Response:
        return failed(exc)

    @app.not_found
    def _not_found(exc: NotFoundError) -> Response:
        return failed(NotFound(f"no route for {app.current_event.http_method} {app.current_event.path}"))

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:
        logger.exception("unhandled error", extra={"journal_key": exchange(app).record.key})
        return failed(SmarterError(pipeline.INTERNAL))

    return app


def exchange(app: APIGatewayRestResolver) -> Exchange:
    return app.context["exchange"]


def _placeholder(answer: Answer) -> Response:
    """What Powertools gets back from a route: the real answer is the exchange's."""
    status = answer.status if not isinstance(answer, dict) else int(answer["statusCode"])
    return Response(status_code=status, content_type=pipeline.JSON, body="")


def json_body(app: APIGatewayRestResolver) -> Any:
    return exchange(app).body()


def ok(
    app: APIGatewayRestResolver,
    data: Any,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    journaled: Callable[[Any], Any] | None = None,
    **metadata: Any,
) -> Response:
    """The journaled envelope with `data`; `journaled` maps it to what the journal keeps."""
    ex = exchange(app)
    record = ex.record
    body = envelope(record.thing, record.command, record.key, data=data, **pipeline.envelope_meta(record), **metadata)
    return _placeholder(ex.json(status, body, headers, journaled=journaled))


def answered(app: APIGatewayRestResolver, answer: Answer) -> Response:
    """A route that answered through the exchange itself (a stream)."""
    return _placeholder(answer)


def method_not_allowed(app: APIGatewayRestResolver, allowed: str, hint: str = ""):
    """A route for the other methods of a path: 405 with `Allow`."""

    def refuse(**_path_parameters: str) -> Response:
        raise MethodNotAllowed(
            f"{app.current_event.http_method} is not supported here: {hint or 'use ' + allowed}",
            headers={"Allow": f"{allowed}, OPTIONS"},
        )

    return refuse


def handle(app: APIGatewayRestResolver, event: dict[str, Any], context: Any, *, thing: str, command: str, surface: Surface | None = None) -> Answer:
    """Resolve one request on the pipeline: journaled, metered and mapped, whatever happened."""

    def route(ex: Exchange) -> Answer:
        app.append_context(exchange=ex, record=ex.record)
        response = app.resolve(event, context)
        if ex.answer is None:  # only a route that bypassed the exchange gets here: still journaled
            logger.error("a route answered without the exchange", extra={"path": ex.event.path})
            return ex.fail(SmarterError(pipeline.INTERNAL))
        del response
        return ex.answer

    return pipeline.serve(event, context, surface or Surface(thing, command), route)
