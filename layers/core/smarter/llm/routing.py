"""Routing: which provider and model serve a client's call, and what happens when one fails.

A client without `spec.routing` has one target, its provider and model. With
it, `targets` is an ordered list (provider + model, optional `weight` and
`priority`). A call goes through `plan()`'s order:

- targets are grouped by `priority` (default: their place in the list; lower
  first); within a group the order is drawn by weight (weighted load balance);
- a target in cooldown goes to the end: it is tried only when every other
  target has failed, never refused outright;
- an attempt that fails with a status in `fallbackOn` (default 408, 409, 429
  and every 5xx) or cannot connect is retried on the same target up to
  `retries` times, after the provider's Retry-After or an exponential backoff
  with jitter, then the next target is tried; a timeout, an answer broken off,
  an answer that is not a chat completion move on at once (resending to the
  same target would likely meet the same, and a broken answer may be billed);
- a 4xx the request caused (400, 404, 413, 422, and any 4xx not in fallbackOn)
  is the caller's answer at once: another target would refuse it too;
- everything happens inside the request's one deadline: a wait that would
  outlast it is not waited, each attempt gets at most `timeoutSeconds` and
  what is left.

Cooldown (a circuit breaker per target): `failures` failed attempts within
`window` seconds in this container cool the target for `seconds` (at least
the provider's Retry-After, at most 300 s). The container writes one item
(`pk = COOLDOWN`, TTL) to the usage table when a target goes cold: an AWS call
on the failure path only. Every container refreshes its view of the shared
items with one Query of that partition, deferred to after the answer
(runtime/afterwards) and at most every SMARTER_COOLDOWN_REFRESH seconds, so
the warm path reads memory only. docs/routing.md says what it costs.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger

from smarter.config import settings
from smarter.deadline import Deadline
from smarter.errors import ProviderError, ProviderNotConfigured, ProviderTimeout, RateLimited, SmarterError
from smarter.llm import providers
from smarter.llm.providers import Provider

logger = Logger(child=True)

DEFAULT_FALLBACK_ON = frozenset({408, 409, 429, 500, 501, 502, 503, 504, 505, 507, 508, 509, 510, 511, 520, 521, 522, 523, 524, 529})
# Statuses a request causes: never a reason to try another target, whatever fallbackOn says.
REQUEST_CAUSED = frozenset({400, 404, 413, 422})
COOLDOWN_PK = "COOLDOWN"
MAX_COOLDOWN = 300.0


@dataclass(frozen=True)
class Target:
    provider: Provider
    model: str
    weight: float = 1.0
    priority: int = 0

    @property
    def id(self) -> str:
        """The cooldown's name for it: a platform provider's model is one target for
        every account (an outage is everyone's); an account's provider is the account's."""
        owner = self.provider.account or "platform"
        return f"{owner}/{self.provider.name}/{self.model}"

    def label(self) -> dict[str, str]:
        return {"provider": self.provider.name, "model": self.model}


@dataclass(frozen=True)
class Policy:
    retries: int
    timeout: float | None
    fallback_on: frozenset[int]
    failures: int = 3
    window: float = 60.0
    cooldown: float = 30.0


@dataclass
class Route:
    targets: list[Target]
    policy: Policy


def route_for(client: dict[str, Any], account: str, model_override: str | None = None) -> Route:
    """The client's targets and policy. `model_override` (the caller's model, when
    the client allows it, or a selected plugin's) replaces the model of the
    first-priority targets only: a fallback names its own model on purpose."""
    routing = client.get("routing") or {}
    raw = routing.get("targets") or []
    if raw:
        targets = [
            Target(providers.get_provider(t["provider"], account), str(t.get("model") or ""), float(t.get("weight") or 1.0),
                   int(t["priority"]) if t.get("priority") is not None else i)
            for i, t in enumerate(raw)
        ]
    else:
        provider = providers.get_provider(client.get("provider") or providers.default_provider_name(), account)
        targets = [Target(provider, str(client.get("model") or ""), 1.0, 0)]
    targets = [t if t.model else Target(t.provider, t.provider.default_model, t.weight, t.priority) for t in targets]
    if model_override:
        first = min(t.priority for t in targets)
        targets = [Target(t.provider, model_override, t.weight, t.priority) if t.priority == first else t for t in targets]
    cooldown = routing.get("cooldown") or {}
    policy = Policy(
        retries=int(routing["retries"]) if routing.get("retries") is not None else settings().provider_max_retries,
        timeout=float(routing["timeoutSeconds"]) if routing.get("timeoutSeconds") else None,
        fallback_on=frozenset(int(s) for s in routing["fallbackOn"]) - REQUEST_CAUSED if routing.get("fallbackOn") else DEFAULT_FALLBACK_ON,
        failures=int(cooldown.get("failures") or 3),
        window=float(cooldown.get("windowSeconds") or 60.0),
        cooldown=float(cooldown.get("seconds") or 30.0),
    )
    return Route(targets, policy)


def stick(route: Route, served: Target) -> Route:
    """The route for the next round of the same turn: the target that served this
    one first, so a tool loop stays on one model and does not meet a failed
    target again; the others stay behind it as fallbacks."""
    return Route([Target(t.provider, t.model, t.weight, -1) if t == served else t for t in route.targets], route.policy)


def plan(targets: list[Target], now: float | None = None, rng: random.Random | None = None) -> list[Target]:
    """The order to try the targets in: by priority, weighted draw within a priority,
    cooled-down targets last (in the same order among themselves)."""
    rng = rng or random
    now = time.time() if now is None else now
    ordered: list[Target] = []
    for priority in sorted({t.priority for t in targets}):
        group = [t for t in targets if t.priority == priority]
        # Efraimidis-Spirakis: a weighted order without replacement in one sort.
        ordered += sorted(group, key=lambda t: rng.random() ** (1.0 / max(t.weight, 1e-9)), reverse=True)
    warm = [t for t in ordered if not cooldowns.cold(t.id, now)]
    return warm + [t for t in ordered if t not in warm]


# --- what a failure means ------------------------------------------------------------


RETRY, NEXT, STOP = "retry", "next", "stop"


def verdict(error: SmarterError, policy: Policy) -> str:
    """RETRY (this target again, then the next), NEXT (the next target now) or STOP (the caller's answer)."""
    status = getattr(error, "upstream_status", None)
    if isinstance(error, ProviderTimeout):
        return NEXT
    if status is not None:
        if status in REQUEST_CAUSED or status not in policy.fallback_on:
            return STOP
        return RETRY
    if isinstance(error, providers.Unreachable):
        return RETRY
    if isinstance(error, (ProviderError, ProviderNotConfigured, RateLimited)):
        return NEXT  # broken off, not a chat completion, not JSON, no key, egress refused
    return STOP


def wait_before_retry(error: SmarterError, attempt: int) -> float:
    hinted = getattr(error, "retry_after", None)
    return hinted if hinted is not None else providers.backoff(attempt) * (0.5 + random.random() / 2)


# --- the loop --------------------------------------------------------------------------


@dataclass
class Attempts:
    """Each attempt of one call, for the journal (target, status, duration, tokens)."""

    record: Any
    entries: list[dict[str, Any]] = field(default_factory=list)

    def add(self, target: Target, started: float, *, status: int | None, outcome: str, error: SmarterError | None = None, round_no: int = 1) -> dict[str, Any]:
        entry: dict[str, Any] = {"round": round_no, **target.label(), "status": status, "outcome": outcome,
                                 "duration_ms": round((time.perf_counter() - started) * 1000, 2)}
        if error is not None:
            entry["error"] = error.type
        attempts = getattr(self.record, "attempts", None)
        if attempts is not None:
            attempts.append(entry)
        self.entries.append(entry)
        return entry


def complete(route: Route, body: dict[str, Any], deadline: Deadline, record: Any, *, round_no: int = 1,
             reserve: Callable[[Target, bool], None] | None = None) -> tuple[providers.Completion, Target]:
    """A buffered chat completion through the route; the completion and the target that served it."""
    attempts = Attempts(record)
    last: SmarterError | None = None
    first_target = True
    for target in plan(route.targets):
        if reserve is not None:
            reserve(target, first_target)  # a budget refusal is the caller's answer: not a provider failure
        first_target = False
        request = {**body, "model": target.model}
        for attempt in range(route.policy.retries + 1):
            if deadline.expired():
                break
            started = time.perf_counter()
            try:
                completion = providers.chat_completion(target.provider, request, deadline, max_retries=0, timeout=route.policy.timeout)
            except SmarterError as exc:
                last = exc
                what = verdict(exc, route.policy)
                attempts.add(target, started, status=getattr(exc, "upstream_status", None) or exc.status, outcome="failed", error=exc, round_no=round_no)
                record.provider_ms += (time.perf_counter() - started) * 1000
                if what == STOP:
                    raise
                cooldowns.failed(target, route.policy, getattr(exc, "retry_after", None))
                if what == NEXT or attempt >= route.policy.retries or cooldowns.cold(target.id):
                    break
                wait = wait_before_retry(exc, attempt)
                if wait > deadline.remaining() - 1.0:
                    break  # waiting would outlast the request: try the next target now
                time.sleep(wait)
                continue
            entry = attempts.add(target, started, status=200, outcome="served", round_no=round_no)
            entry["tokens"] = (completion.body.get("usage") or {}).get("total_tokens") if isinstance(completion.body.get("usage"), dict) else None
            cooldowns.succeeded(target)
            refresh_soon()
            return completion, target
    refresh_soon()
    raise _exhausted(last, deadline)


def stream(route: Route, body: dict[str, Any], record: Any, *, round_no: int = 1,
           reserve: Callable[[Target, bool], None] | None = None) -> Generator[dict[str, Any], None, tuple[providers.Completion, Target]]:
    """A streamed round through the route: yields `{"model": ...}` for the target
    that answers, then its content. A target is left for the next only before
    its first piece was yielded; after that a failure is the stream's error
    (the pipeline ends the stream with its error event)."""
    from smarter.llm import streaming

    attempts = Attempts(record)
    last: SmarterError | None = None
    first_target = True
    for target in plan(route.targets):
        if reserve is not None:
            reserve(target, first_target)
        first_target = False
        request = {**body, "model": target.model}
        for attempt in range(route.policy.retries + 1):
            started = time.perf_counter()
            steps = streaming.stream_completion(target.provider, request, timeout=route.policy.timeout)
            try:
                first = next(steps)
            except StopIteration as done:  # an answer with no content (a tool call only)
                attempts.add(target, started, status=200, outcome="served", round_no=round_no)
                record.provider = target.provider.name
                cooldowns.succeeded(target)
                yield {"model": target.model}
                return done.value, target
            except SmarterError as exc:
                last = exc
                what = verdict(exc, route.policy)
                attempts.add(target, started, status=getattr(exc, "upstream_status", None) or exc.status, outcome="failed", error=exc, round_no=round_no)
                if what == STOP:
                    raise
                cooldowns.failed(target, route.policy, getattr(exc, "retry_after", None))
                if what == NEXT or attempt >= route.policy.retries or cooldowns.cold(target.id):
                    break
                time.sleep(min(wait_before_retry(exc, attempt), 5.0))
                continue
            # The first byte is on its way to the caller: this target serves the round.
            entry = attempts.add(target, started, status=200, outcome="served", round_no=round_no)
            record.provider = target.provider.name  # named in the stream's headers, sent with its first byte
            cooldowns.succeeded(target)
            refresh_soon()
            yield {"model": target.model}
            yield first
            completion = yield from steps
            usage = completion.body.get("usage")
            entry["tokens"] = usage.get("total_tokens") if isinstance(usage, dict) else None
            entry["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
            return completion, target
    refresh_soon()
    raise _exhausted(last, None)


def _exhausted(last: SmarterError | None, deadline: Deadline | None) -> SmarterError:
    if last is not None:
        return last  # the last target's own error (its status: 429, 502, 504)
    budget = f" ({deadline.budget:.1f} s)" if deadline is not None else ""
    return ProviderTimeout(f"the request's deadline{budget} passed before any provider could be tried")


# --- cooldowns ---------------------------------------------------------------------------


class Cooldowns:
    """This container's view of which targets are cold: its own failures, and the
    items other containers wrote (refreshed off the request path)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, list[float]] = {}
        self._until: dict[str, float] = {}
        self._refreshed = 0.0
        self._refreshing = False

    def cold(self, target_id: str, now: float | None = None) -> bool:
        return self._until.get(target_id, 0.0) > (time.time() if now is None else now)

    def until(self, target_id: str) -> float:
        return self._until.get(target_id, 0.0)

    def failed(self, target: Target, policy: Policy, retry_after: float | None = None) -> None:
        now = time.time()
        with self._lock:
            recent = [t for t in self._failures.get(target.id, []) if t > now - policy.window] + [now]
            self._failures[target.id] = recent
            if len(recent) < policy.failures or self.cold(target.id, now):
                return
            seconds = min(max(policy.cooldown, retry_after or 0.0), MAX_COOLDOWN)
            until = now + seconds
            self._until[target.id] = until
            self._failures[target.id] = []
        logger.warning("provider target cooling down", extra={"target": target.id, "seconds": seconds})
        _share(target.id, until)

    def succeeded(self, target: Target) -> None:
        if target.id in self._failures:
            with self._lock:
                self._failures.pop(target.id, None)

    def merge(self, shared: dict[str, float]) -> None:
        with self._lock:
            for target_id, until in shared.items():
                if until > self._until.get(target_id, 0.0):
                    self._until[target_id] = until

    def due(self) -> bool:
        """Whether a refresh should be scheduled now (at most one every SMARTER_COOLDOWN_REFRESH s)."""
        with self._lock:
            if self._refreshing or time.monotonic() - self._refreshed < settings().cooldown_refresh_seconds:
                return False
            self._refreshing = True
            return True

    def refreshed(self) -> None:
        with self._lock:
            self._refreshed, self._refreshing = time.monotonic(), False

    def reset(self) -> None:
        with self._lock:
            self._failures.clear()
            self._until.clear()
            self._refreshed, self._refreshing = 0.0, False


cooldowns = Cooldowns()


def _table() -> str:
    return settings().usage_table


def _share(target_id: str, until: float) -> None:
    """One item per cooldown, on the failure path; it expires by TTL. Never fails the request."""
    try:
        from smarter.store import aws

        aws.client("dynamodb").put_item(
            TableName=_table(),
            Item={"pk": {"S": COOLDOWN_PK}, "sk": {"S": target_id}, "until": {"N": f"{until:.3f}"}, "expires_at": {"N": str(int(until) + 3600)}},
        )
    except Exception:
        logger.exception("cooldown not shared", extra={"target": target_id})


def refresh() -> None:
    """Read the shared cooldowns (one Query of one partition) into this container's view."""
    from smarter.store import aws

    try:
        now = time.time()
        ddb = aws.client("dynamodb")
        shared: dict[str, float] = {}
        kwargs: dict[str, Any] = {
            "TableName": _table(),
            "KeyConditionExpression": "pk = :pk",
            "FilterExpression": "#u > :now",
            "ExpressionAttributeNames": {"#u": "until"},
            "ExpressionAttributeValues": {":pk": {"S": COOLDOWN_PK}, ":now": {"N": f"{now:.3f}"}},
        }
        while True:
            page = ddb.query(**kwargs)
            for item in page.get("Items", []):
                shared[item["sk"]["S"]] = float(item["until"]["N"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        cooldowns.merge(shared)
    except Exception:
        logger.exception("cooldowns not refreshed")
    finally:
        cooldowns.refreshed()


def refresh_soon() -> None:
    """Schedule a refresh after this request's answer, when one is due."""
    if not cooldowns.due():
        return
    from smarter.runtime import afterwards

    afterwards.defer(afterwards.Job(run=refresh, lost=lambda reason: cooldowns.refreshed()))


def reset() -> None:
    cooldowns.reset()


# --- the passthrough through a client's route -------------------------------------------


def _forward_status_verdict(status: int, policy: Policy) -> str:
    if 200 <= status < 300 or status in REQUEST_CAUSED or status not in policy.fallback_on:
        return STOP  # the provider's answer is the caller's, as the passthrough always hands it on
    return RETRY


def forward(route: Route, body: dict[str, Any], deadline: Deadline, record: Any, *,
            reserve: Callable[[Target, bool], None] | None = None) -> tuple[providers.Forwarded, Target]:
    """The passthrough's buffered call through a client's route: the first answer
    that is not a fallback status is handed on unchanged; when every target
    failed, the last target's answer (or error) is."""
    attempts = Attempts(record)
    last: tuple[providers.Forwarded, Target] | SmarterError | None = None
    first_target = True
    for target in plan(route.targets):
        if deadline.expired():
            break
        if reserve is not None:
            reserve(target, first_target)
        first_target = False
        request = {**body, "model": target.model}
        for attempt in range(route.policy.retries + 1):
            started = time.perf_counter()
            try:
                forwarded = providers.forward(target.provider, request, deadline)
            except SmarterError as exc:
                last = exc
                what = verdict(exc, route.policy)
                attempts.add(target, started, status=exc.status, outcome="failed", error=exc)
                record.provider_ms += (time.perf_counter() - started) * 1000
                if what == STOP:
                    raise
                hinted = getattr(exc, "retry_after", None)
            else:
                if _forward_status_verdict(forwarded.status, route.policy) == STOP:
                    attempts.add(target, started, status=forwarded.status, outcome="served")
                    record.provider = target.provider.name
                    cooldowns.succeeded(target)
                    refresh_soon()
                    return forwarded, target
                last = (forwarded, target)
                attempts.add(target, started, status=forwarded.status, outcome="failed")
                record.provider_ms += forwarded.provider_ms
                what = RETRY
                hinted = providers.retry_after({k.lower(): v for k, v in forwarded.headers.items()})
            cooldowns.failed(target, route.policy, hinted)
            if what == NEXT or attempt >= route.policy.retries or cooldowns.cold(target.id):
                break
            wait = hinted if hinted is not None else providers.backoff(attempt) * (0.5 + random.random() / 2)
            if wait > deadline.remaining() - 1.0:
                break
            time.sleep(wait)
    refresh_soon()
    if isinstance(last, tuple):
        record.provider = last[1].provider.name
        return last
    raise _exhausted(last, deadline)


def open_stream(route: Route, body: dict[str, Any], record: Any, *,
                reserve: Callable[[Target, bool], None] | None = None) -> tuple[Any, Target]:
    """The streamed passthrough through a client's route: the first target that
    answers with something other than a fallback status is relayed (its event
    stream, or its error in the envelope). Nothing has reached the caller before
    this returns, so a target is left only here, never mid-stream."""
    from smarter.llm import streaming

    attempts = Attempts(record)
    last: tuple[Any, Target] | SmarterError | None = None
    first_target = True
    for target in plan(route.targets):
        if reserve is not None:
            reserve(target, first_target)
        first_target = False
        request = {**body, "model": target.model}
        for attempt in range(route.policy.retries + 1):
            started = time.perf_counter()
            try:
                opened = streaming.open_forward(target.provider, request)
            except SmarterError as exc:
                last = exc
                what = verdict(exc, route.policy)
                attempts.add(target, started, status=exc.status, outcome="failed", error=exc)
                if what == STOP:
                    raise
            else:
                if _forward_status_verdict(opened.status, route.policy) == STOP:
                    attempts.add(target, started, status=opened.status, outcome="served")
                    record.provider = target.provider.name
                    cooldowns.succeeded(target)
                    refresh_soon()
                    return opened, target
                try:
                    raw = b"".join(opened.chunks)
                except SmarterError:
                    raw = b""
                finally:
                    opened.close()
                last = (streaming.Forward(opened.status, opened.content_type, iter([raw]), lambda: None), target)
                attempts.add(target, started, status=opened.status, outcome="failed")
                what = RETRY
            cooldowns.failed(target, route.policy)
            if what == NEXT or attempt >= route.policy.retries or cooldowns.cold(target.id):
                break
            time.sleep(min(providers.backoff(attempt), 2.0))
    refresh_soon()
    if isinstance(last, tuple):
        record.provider = last[1].provider.name
        return last
    raise _exhausted(last, None)
