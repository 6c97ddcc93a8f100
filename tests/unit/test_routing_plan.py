"""Routing's pure logic: the order targets are tried in, and what a failure means."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from smarter.errors import BudgetExceeded, ProviderError, ProviderTimeout, RateLimited
from smarter.llm import providers, routing
from smarter.llm.providers import Provider


def target(name: str, *, weight: float = 1.0, priority: int = 0, account: str | None = None) -> routing.Target:
    return routing.Target(Provider(name, "https://example.com/v1", "m", "", account=account), "m", weight, priority)


@pytest.fixture(autouse=True)
def fresh_cooldowns():
    routing.reset()
    yield
    routing.reset()


def test_lower_priorities_come_first_whatever_the_weights():
    targets = [target("late", priority=2, weight=100), target("first", priority=0), target("middle", priority=1)]
    for seed in range(20):
        assert [t.provider.name for t in routing.plan(targets, rng=random.Random(seed))] == ["first", "middle", "late"]


def test_equal_priorities_share_first_attempts_by_weight():
    targets = [target("heavy", weight=3), target("light", weight=1)]
    rng = random.Random(7)
    firsts = Counter(routing.plan(targets, rng=rng)[0].provider.name for _ in range(4000))
    assert 0.72 < firsts["heavy"] / 4000 < 0.78  # 3:1
    assert all(len(routing.plan(targets, rng=rng)) == 2 for _ in range(10))  # the other is always the fallback


def test_a_cold_target_is_tried_last_not_dropped():
    hot, cold = target("hot", priority=1), target("cold", priority=0)
    policy = routing.Policy(retries=0, timeout=None, fallback_on=routing.DEFAULT_FALLBACK_ON, failures=2)
    routing.cooldowns.failed(cold, policy)
    assert [t.provider.name for t in routing.plan([cold, hot])] == ["cold", "hot"]  # one failure: still warm
    routing.cooldowns.failed(cold, policy)
    assert [t.provider.name for t in routing.plan([cold, hot])] == ["hot", "cold"]


def test_a_retry_after_lengthens_the_cooldown_up_to_five_minutes():
    cold = target("cold")
    policy = routing.Policy(retries=0, timeout=None, fallback_on=routing.DEFAULT_FALLBACK_ON, failures=1, cooldown=10)
    routing.cooldowns.failed(cold, policy, retry_after=10_000)
    import time

    assert 299 < routing.cooldowns.until(cold.id) - time.time() <= 300


def test_platform_targets_share_one_cooldown_and_account_targets_their_own():
    assert target("openai").id == "platform/openai/m"
    assert target("acme", account="3141-5926-5359").id == "3141-5926-5359/acme/m"


def failed(error, status=None, retry_after=None):
    error.upstream_status, error.retry_after = status, retry_after
    return error


POLICY = routing.Policy(retries=1, timeout=None, fallback_on=routing.DEFAULT_FALLBACK_ON)


@pytest.mark.parametrize("error,expected", [
    (failed(RateLimited("slow down"), 429), routing.RETRY),
    (failed(ProviderError("boom"), 503), routing.RETRY),
    (failed(ProviderError("bad request"), 400), routing.STOP),
    (failed(ProviderError("no such model"), 404), routing.STOP),
    (failed(ProviderError("too large"), 413), routing.STOP),
    (failed(ProviderError("unprocessable"), 422), routing.STOP),
    (failed(ProviderError("bad key"), 401), routing.STOP),  # not in the default fallbackOn
    (providers.Unreachable("refused"), routing.RETRY),
    (ProviderTimeout("hung"), routing.NEXT),
    (providers.AnswerStarted("broke off"), routing.NEXT),
    (ProviderError("not JSON"), routing.NEXT),
    (BudgetExceeded("over budget"), routing.STOP),
], ids=["429", "503", "400", "404", "413", "422", "401", "refused", "timeout", "broken", "malformed", "budget"])
def test_what_a_failure_means(error, expected):
    assert routing.verdict(error, POLICY) == expected


def test_fallback_on_can_add_a_401_but_never_a_request_caused_status():
    policy = routing.route_for({"routing": {"targets": [{"provider": "openai"}], "fallbackOn": [401, 400, 503]}}, "3141-5926-5359").policy
    assert routing.verdict(failed(ProviderError("bad key"), 401), policy) == routing.RETRY
    assert routing.verdict(failed(ProviderError("bad"), 400), policy) == routing.STOP


def test_a_model_override_changes_the_first_priority_only():
    route = routing.route_for({"routing": {"targets": [{"provider": "openai", "model": "a"}, {"provider": "groq", "model": "b"}]}}, "3141-5926-5359",
                              model_override="override")
    assert [(t.provider.name, t.model) for t in route.targets] == [("openai", "override"), ("groq", "b")]


def test_the_next_round_starts_with_the_target_that_served():
    route = routing.route_for({"routing": {"targets": [{"provider": "openai", "model": "a"}, {"provider": "groq", "model": "b"}]}}, "3141-5926-5359")
    stuck = routing.stick(route, route.targets[1])
    assert [t.provider.name for t in routing.plan(stuck.targets)] == ["groq", "openai"]


@pytest.mark.parametrize("value,seconds", [("2", 2.0), ("nan", None), ("inf", None), ("-5", 0.0), ("soon", None)])
def test_retry_after_is_read_safely(value, seconds):
    assert providers.retry_after({"retry-after": value}) == seconds
