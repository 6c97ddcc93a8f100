"""Embeddings from a provider's OpenAI-compatible `POST {base}/embeddings`,
or deterministic ones from the offline provider. Always asked for floats
upstream: base64 (little-endian float32, as OpenAI sends it) is encoded
here, so every provider answers both encodings alike."""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from typing import Any

from smarter.config import settings
from smarter.deadline import Deadline
from smarter.errors import ProviderError
from smarter.llm import http_json, providers

# Providers without an embeddings API: a client cannot name them for embeddings.
NO_EMBEDDINGS = frozenset({"anthropic", "groq"})
OFFLINE_DIMENSIONS = 16


def _offline_vector(item: str | list[int], dimensions: int) -> list[float]:
    """A unit vector from the input's SHA-256 stream: the same input, the same vector."""
    seed = (item if isinstance(item, str) else ",".join(map(str, item))).encode("utf-8")
    raw: list[float] = []
    counter = 0
    while len(raw) < dimensions:
        digest = hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        raw += [(b - 127.5) / 127.5 for b in digest]
        counter += 1
    vector = raw[:dimensions]
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [round(v / norm, 6) for v in vector]


def _offline(model: str, inputs: list[str | list[int]], dimensions: int | None) -> dict[str, Any]:
    size = dimensions or OFFLINE_DIMENSIONS
    tokens = sum(len(item.split()) if isinstance(item, str) else len(item) for item in inputs)
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": _offline_vector(item, size)} for i, item in enumerate(inputs)],
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _checked(provider: providers.Provider, body: Any, count: int) -> dict[str, Any]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or len(data) != count:
        raise ProviderError(f"the provider {provider.name!r} sent an answer that is not {count} embeddings")
    ordered: list[Any] = [None] * count
    for position, item in enumerate(data):
        vector = item.get("embedding") if isinstance(item, dict) else None
        index = item.get("index", position) if isinstance(item, dict) else position
        if not isinstance(index, int) or not 0 <= index < count or not isinstance(vector, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vector):
            raise ProviderError(f"the provider {provider.name!r} sent an embedding of the wrong shape (data[{position}])")
        ordered[index] = [float(v) for v in vector]
    if any(v is None for v in ordered):
        raise ProviderError(f"the provider {provider.name!r} sent embeddings with repeated indexes")
    return {"data": ordered, "usage": body.get("usage") if isinstance(body.get("usage"), dict) else None}


def embed(provider: providers.Provider, model: str, inputs: list[str | list[int]], *, dimensions: int | None = None,
          user: str | None = None, deadline: Deadline | None = None) -> tuple[list[list[float]], dict[str, Any] | None, float]:
    """(vectors in input order, the provider's usage or None, provider ms)."""
    deadline = deadline or Deadline(settings().request_timeout_seconds)
    if provider.name == "offline":
        body = _offline(model, inputs, dimensions)
        return [item["embedding"] for item in body["data"]], body["usage"], 0.0
    request: dict[str, Any] = {"model": model, "input": inputs, "encoding_format": "float"}
    if dimensions is not None:
        request["dimensions"] = dimensions
    if user:
        request["user"] = user
    headers = {"Authorization": f"Bearer {providers.require_key(provider)}", "Content-Type": "application/json", "Accept": "application/json"}
    reply = http_json.post(provider, "/embeddings", request, headers, deadline)
    checked = _checked(provider, reply.body, len(inputs))
    return checked["data"], checked["usage"], reply.provider_ms


def as_base64(vector: list[float]) -> str:
    """OpenAI's base64 encoding: the vector as little-endian float32."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
