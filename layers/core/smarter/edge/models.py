"""OpenAI's models API on a client's host: `GET /v1/models` (the listing, served
by edge/openai_api.py) and `GET /v1/models/{id}` (here), for the models a
caller of this client may name.

A client answers with its own model on every chat surface (chat completions,
Responses); a caller's `model` is used only when the client allows overrides
(`allowModelOverride`), which the listing says in its `smarter` field, since
no finite list can name "any model". `created` is when the client was first
applied, so it is the same on every call.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from smarter.edge import pipeline
from smarter.edge.pipeline import Answer, Exchange
from smarter.edge.responses import ResponsesSurface
from smarter.errors import MethodNotAllowed, NotFound
from smarter.tenancy import hosts

MODELS_PATH = "/v1/models"
# The surfaces of this host that answer with the client's chat model.
CHAT_SURFACES = ("chat.completions", "responses")


def _created(doc: dict[str, Any]) -> int:
    """The client's `created_at` (ISO 8601) as epoch seconds; 0 when unknown."""
    try:
        return int(datetime.fromisoformat(str(doc.get("created_at")).replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def listing(resolved: hosts.ResolvedClient) -> list[dict[str, Any]]:
    """The models this client's callers may call, each with the surfaces that take it."""
    from smarter.llm import providers

    doc = resolved.doc
    provider = providers.get_provider(doc.get("provider") or providers.default_provider_name(), resolved.account)
    model = doc.get("model") or provider.default_model
    extra = {"surfaces": list(CHAT_SURFACES), "provider": provider.name, "any_model": bool(doc.get("allow_model_override"))}
    return [{"id": model, "object": "model", "created": _created(doc), "owned_by": provider.name, "smarter": extra}]


class ModelNotFound(NotFound):
    code = "model_not_found"
    param = "model"


def handle(raw_event: dict[str, Any], context: Any = None) -> Answer:
    """`GET /v1/models/{id}` on the one pipeline, errors in OpenAI's shape."""
    return pipeline.serve(raw_event, context, ResponsesSurface("models.retrieve"), _retrieve)


def _retrieve(exchange: Exchange) -> dict[str, Any]:
    method = exchange.event.http_method
    if method not in ("GET", "HEAD"):
        raise MethodNotAllowed(f"{method} is not supported here: send GET", headers={"Allow": "GET, OPTIONS"})
    resolved = exchange.client()
    model_id = (exchange.event.path or "").rstrip("/").removeprefix(MODELS_PATH + "/")
    found = next((model for model in listing(resolved) if model["id"] == model_id), None)
    if found is None:
        raise ModelNotFound(f"The model {model_id[:256]!r} does not exist or this client does not serve it; GET /v1/models lists what it serves")
    return exchange.json(200, found)
