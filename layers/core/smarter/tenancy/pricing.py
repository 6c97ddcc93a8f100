"""What a model costs: USD per token from LiteLLM's maintained price map.

The map is vendored (model_prices.json, trimmed to the chat models of our
providers) at a pinned LiteLLM version; `make prices` refreshes it
(scripts/refresh_prices.py). An account may override any model's prices in
its manifest (`spec.prices`, USD per million tokens), which wins over the map.
A model found nowhere costs 0 and is logged once: budgets in tokens still hold
for it, budgets in dollars cannot.

Amounts are Decimals end to end: DynamoDB numbers are exact decimals, so
spend adds up to the last digit however many requests it sums.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger

logger = Logger(child=True)

DATA = Path(__file__).with_name("model_prices.json")
MILLION = Decimal(1_000_000)
# Our provider names and the prefix LiteLLM files their models under.
LITELLM_PREFIX = {"googleai": "gemini", "togetherai": "together_ai", "fireworks": "fireworks_ai", "groq": "groq", "mistral": "mistral", "anthropic": "anthropic"}
ZERO = Decimal(0)


@dataclass(frozen=True)
class Price:
    """USD per token."""

    input: Decimal
    output: Decimal
    cached_input: Decimal
    max_output_tokens: int | None = None
    source: str = "litellm"

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> Decimal:
        cached = min(max(cached_tokens, 0), max(prompt_tokens, 0))
        return (self.input * (prompt_tokens - cached) + self.cached_input * cached + self.output * completion_tokens).normalize()


FREE = Price(ZERO, ZERO, ZERO, None, "unknown")


@functools.cache
def price_map() -> dict[str, Any]:
    return json.loads(DATA.read_text(encoding="utf-8"))


def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


@functools.cache
def _from_map(provider: str, model: str) -> Price:
    found = _lookup(provider, model)
    if found is None:
        logger.warning("no price for this model: its dollar cost counts as 0", extra={"provider": provider, "model": model})
    return found or FREE


@functools.cache
def _lookup(provider: str, model: str) -> Price | None:
    models = price_map()["models"]
    prefix = LITELLM_PREFIX.get(provider)
    for name in (model, f"{prefix}/{model}" if prefix else None, model.rsplit("/", 1)[-1]):
        entry = models.get(name) if name else None
        if entry:
            input_cost = _dec(entry["input_cost_per_token"])
            return Price(input_cost, _dec(entry["output_cost_per_token"]), _dec(entry.get("cache_read_input_token_cost", input_cost)), entry.get("max_output_tokens"))
    return None


def price(provider: str, model: str, overrides: dict[str, Any] | None = None) -> Price:
    """The account's override (USD per million tokens) or the vendored map's price."""
    override = (overrides or {}).get(model)
    if override:  # priced by the account: no warning that the map has no price
        base = _lookup(provider, model) or FREE
        input_cost = _dec(override["input"]) / MILLION
        cached = override.get("cachedInput")
        return Price(input_cost, _dec(override["output"]) / MILLION, _dec(cached) / MILLION if cached is not None else input_cost, base.max_output_tokens, "account")
    return _from_map(provider, model)


def version() -> str:
    return str(price_map().get("litellm_version", "unknown"))
