"""`POST /v1/embeddings` on a client's host, in OpenAI's wire format (the
OpenAI surface: its errors, `x-request-id`), routed to the client's
embedding model (`spec.config.embeddingModel`, on `embeddingProvider` or the
client's provider). Limited like a completion: the key's, client's and
account's limits reserve the input's estimate before the provider is called,
and the provider's usage (or the estimate, when it sends none) is counted.

Input: a string, a list of strings, a list of token ids, or a list of
token-id lists; at most MAX_INPUTS items, each non-empty and at most
MAX_INPUT_TOKENS tokens (for strings, the same upper estimate the limits use:
one token per 3 bytes). `encoding_format` is `float` or `base64`; the
journal keeps the request's shape and the usage, never the vectors.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from smarter.edge.openai_api import error_param, read_body
from smarter.edge.pipeline import Exchange
from smarter.errors import BadRequest, NotFound
from smarter.llm import embeddings, providers
from smarter.schema import describe_validation_error
from smarter.tenancy import limits

PATH = "/v1/embeddings"
MAX_INPUTS = 2048  # OpenAI's own limits
MAX_INPUT_TOKENS = 8192


class ModelNotFound(NotFound):
    type = "model_not_found"  # OpenAI's code


class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    model: str | None = Field(default=None, max_length=256)
    input: str | list[str] | list[StrictInt] | list[list[StrictInt]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1, le=8192)
    user: str | None = Field(default=None, max_length=256)

    def inputs(self) -> list[str | list[int]]:
        items: list[Any] = [self.input] if isinstance(self.input, str) else list(self.input)
        if items and all(isinstance(i, int) for i in items):
            items = [items]  # one input given as token ids
        if not items:
            raise BadRequest("input: give at least one input", param="input")
        if len(items) > MAX_INPUTS:
            raise BadRequest(f"input: {len(items)} inputs in one request; the limit is {MAX_INPUTS}", param="input")
        for i, item in enumerate(items):
            size = math.ceil(len(item.encode("utf-8")) / 3) if isinstance(item, str) else len(item)
            if size == 0:
                raise BadRequest(f"input[{i}]: an input may not be empty", param=f"input[{i}]")
            if size > MAX_INPUT_TOKENS:
                raise BadRequest(f"input[{i}]: about {size} tokens; an input is at most {MAX_INPUT_TOKENS}", param=f"input[{i}]")
            if not isinstance(item, str) and any(t < 0 for t in item):
                raise BadRequest(f"input[{i}]: token ids are not negative", param=f"input[{i}]")
        return items


def parse_request(body: Any) -> EmbeddingsRequest:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object: an OpenAI embeddings request with 'input'")
    try:
        return EmbeddingsRequest.model_validate(body)
    except ValidationError as exc:
        raise BadRequest(describe_validation_error(exc), param=error_param(exc)) from None


def answer(exchange: Exchange) -> dict[str, Any]:
    resolved = exchange.client()
    doc = resolved.doc
    request = parse_request(read_body(exchange))
    inputs = request.inputs()
    if not doc.get("embedding_model"):
        raise ModelNotFound(f"the client {resolved.name!r} has no embedding model: set spec.config.embeddingModel in its manifest", param="model")
    provider = providers.get_provider(doc.get("embedding_provider") or doc.get("provider") or providers.default_provider_name())
    model = request.model if request.model and doc.get("allow_model_override") else doc["embedding_model"]
    record = exchange.record
    record.provider = provider.name
    record.request["body"] = {"model": request.model, "inputs": len(inputs), "encoding_format": request.encoding_format, "dimensions": request.dimensions}
    # The limits' view of it: the inputs as one message, one token out (the vectors are not tokens).
    estimate_body = {"messages": [{"role": "user", "content": [item if isinstance(item, str) else " ".join(map(str, item)) for item in inputs]}], "max_tokens": 1}
    limits.reserve(record.plan, record, provider=provider.name, model=model, body=estimate_body, first=True)
    vectors, usage, provider_ms = embeddings.embed(provider, model, inputs, dimensions=request.dimensions, user=request.user, deadline=record.deadline)
    record.provider_ms += provider_ms
    usage = {**(usage or {}), "completion_tokens": 0} if usage else None
    estimate = limits.estimated_usage(estimate_body, None)
    record.add_usage(usage, estimate={**estimate, "total_tokens": estimate["prompt_tokens"]})
    counted = record.usage or {}
    encode = embeddings.as_base64 if request.encoding_format == "base64" else (lambda v: v)
    body = {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": encode(vector)} for i, vector in enumerate(vectors)],
        "model": model,
        "usage": {"prompt_tokens": int(counted.get("prompt_tokens") or 0), "total_tokens": int(counted.get("total_tokens") or 0)},
    }
    return exchange.json(200, body, journaled=lambda b: {**b, "data": f"{len(vectors)} embeddings of {len(vectors[0]) if vectors else 0} dimensions"})
