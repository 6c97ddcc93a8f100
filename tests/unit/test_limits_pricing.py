"""Prices from the vendored LiteLLM map, limit windows and estimates: the pure parts."""

from __future__ import annotations

import importlib.util
import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from smarter.tenancy import limits, pricing

ROOT = Path(__file__).resolve().parents[2]


def test_prices_come_from_the_vendored_litellm_map_at_a_pinned_version():
    data = pricing.price_map()
    assert data["litellm_version"] not in ("", "unknown")
    assert "LiteLLM" in data["source"]
    price = pricing.price("openai", "gpt-4o-mini")
    assert price.input == Decimal("1.5E-7") and price.output == Decimal("6E-7")
    assert price.cost(1_000_000, 1_000_000) == Decimal("0.75")


def test_cached_input_tokens_cost_the_cached_price():
    price = pricing.price("openai", "gpt-4o-mini")
    assert price.cost(1000, 0, cached_tokens=1000) == price.cached_input * 1000
    assert price.cost(1000, 0, cached_tokens=5000) == price.cached_input * 1000  # never more than the prompt


def test_a_provider_prefixed_model_is_found_under_our_provider_name():
    assert pricing.price("googleai", "gemini-2.0-flash").source == "litellm"
    assert pricing.price("googleai", "gemini-2.0-flash").input > 0


def test_an_account_override_is_per_million_tokens_and_wins():
    price = pricing.price("openai", "gpt-4o-mini", {"gpt-4o-mini": {"input": "1", "output": "2"}})
    assert price.source == "account"
    assert price.cost(1_000_000, 1_000_000) == Decimal(3)
    assert price.cached_input == price.input  # no cachedInput: cached tokens at the input price


def test_an_unknown_model_costs_nothing_rather_than_failing():
    assert pricing.price("local", "my-own-model").cost(100, 100) == 0


def test_the_refresh_command_keeps_chat_models_of_our_providers_and_the_priced_fields():
    spec = importlib.util.spec_from_file_location("refresh_prices", ROOT / "scripts" / "refresh_prices.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    trimmed = module.trim({
        "sample_spec": {"mode": "chat"},
        "gpt-x": {"mode": "chat", "litellm_provider": "openai", "input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6, "supports_vision": True},
        "embed": {"mode": "embedding", "litellm_provider": "openai", "input_cost_per_token": 1e-7, "output_cost_per_token": 0},
        "bedrock/x": {"mode": "chat", "litellm_provider": "bedrock", "input_cost_per_token": 1e-6, "output_cost_per_token": 1e-6},
    })
    assert trimmed == {"gpt-x": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6, "litellm_provider": "openai"}}
    assert json.loads((ROOT / "layers/core/smarter/tenancy/model_prices.json").read_text())["models"]


def test_windows_are_fixed_utc_minute_day_and_month_periods():
    moment = datetime(2026, 12, 31, 23, 59, 30, tzinfo=timezone.utc)
    assert limits.period("m", moment) == "m202612312359"
    assert limits.period("d", moment) == "d20261231"
    assert limits.period("M", moment) == "M202612"
    assert limits.window_end("m", moment) == datetime(2027, 1, 1, tzinfo=timezone.utc).timestamp()
    assert limits.window_end("M", moment) == datetime(2027, 1, 1, tzinfo=timezone.utc).timestamp()


def test_one_window_item_per_limited_scope_and_period():
    plan = limits.Plan("a", "c", "k", [
        limits.Scope("key", "K#k", limits._decimal_limits({"requestsPerMinute": 5, "tokensPerMinute": 100, "usdPerMonth": "1.5"}, limits.KINDS)),
        limits.Scope("client", "C#a#c", {}),
        limits.Scope("account", "A#a", limits._decimal_limits({"tokensPerDay": 10}, limits.BUDGET_KINDS)),
    ])
    found = limits.windows(plan, datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc))
    assert sorted((w.pk, w.sk, tuple(sorted(w.limits))) for w in found) == [
        ("W#A#a", "d20261129", ("tokens",)),
        ("W#K#k", "M202611", ("usd",)),
        ("W#K#k", "m202611291200", ("requests", "tokens")),
    ]
    month = next(w for w in found if w.kind == "M")
    assert month.limits["usd"] == 1_500_000_000_000  # pico-dollars


def test_account_scope_ignores_rate_kinds():
    assert limits._decimal_limits({"requestsPerMinute": 5, "tokensPerDay": 9}, limits.SCOPE_KINDS["account"]) == {"tokensPerDay": 9}


def test_the_input_estimate_is_above_the_real_count_for_ordinary_text():
    body = {"messages": [{"role": "user", "content": "What are your support hours on weekends and holidays?"}]}
    assert limits.estimate_input_tokens(body) >= 14  # about 11 real tokens


def test_the_output_cap_is_the_body_s_then_the_model_s_then_the_default():
    price = pricing.price("openai", "gpt-4o-mini")
    assert limits.output_cap({"max_tokens": 100}, price) == 100
    assert limits.output_cap({"max_completion_tokens": 50, "max_tokens": 100}, price) == 50
    assert limits.output_cap({}, price) == price.max_output_tokens
    assert limits.output_cap({}, pricing.FREE) == limits.DEFAULT_OUTPUT_TOKENS


def test_pico_dollars_round_up_and_back():
    from smarter.store import usage

    assert usage.pico("0.000000000001") == 1
    assert usage.pico(Decimal("1.0000000000001")) == 1_000_000_000_001  # rounded up: a reservation never falls short
    assert usage.usd(1_500_000_000_000) == Decimal("1.5")
