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
from dataclasses import dataclass
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


# --- the loop --------------------------------------------------------------------------


class Tries:
    """The one loop behind every routed call: the targets in `plan` order, each
    reserved for before its first attempt, each attempt journaled; a failure
    either raises (the caller's answer), waits and tries the target again, or
    moves on. Iterating yields the target to try now."""

    def __init__(self, route: Route, record: Any, *, reserve: Callable[[Target, bool], None] | None = None,
                 deadline: Deadline | None = None, round_no: int = 1):
        self.route, self.record, self.reserve, self.deadline, self.round_no = route, record, reserve, deadline, round_no
        self.last: Any = None  # the last failure: an error, or (an answer to hand on, its target)
        self.started = 0.0
        self._attempt = 0
        self._failures = 0
        self._move_on = False
        self._more = False

    def __iter__(self):
        first = True
        order = plan(self.route.targets)
        for place, target in enumerate(order):
            self._more = place < len(order) - 1  # another target is left to move on to
            if self._expired():
                break
            if self.reserve is not None:
                self.reserve(target, first)  # a budget refusal is the caller's answer: not a provider failure
            first = False
            for attempt in range(self.route.policy.retries + 1):
                if self._expired():
                    break
                self._attempt, self._move_on, self.started = attempt, False, time.perf_counter()
                yield target
                if self._move_on:
                    break
        refresh_soon()

    def _final(self, error: SmarterError) -> SmarterError:
        """The caller's error. Once the gateway has tried more than once, the
        SDKs are told not to retry (`x-should-retry: false`, which the openai and
        anthropic SDKs honour), so their retries do not multiply upstream calls."""
        if self._failures > 1:
            error.headers = {**error.headers, **providers.NO_SDK_RETRY}
        return error

    def _expired(self) -> bool:
        return self.deadline is not None and self.deadline.expired()

    def request(self, body: dict[str, Any], target: Target) -> dict[str, Any]:
        return {**body, "model": target.model}

    def _journal(self, target: Target, *, status: int | None, outcome: str, error: SmarterError | None = None) -> dict[str, Any]:
        entry: dict[str, Any] = {"round": self.round_no, **target.label(), "status": status, "outcome": outcome,
                                 "duration_ms": round((time.perf_counter() - self.started) * 1000, 2)}
        if error is not None:
            entry["error"] = error.type
        self.record.attempts.append(entry)
        return entry

    def served(self, target: Target, status: int = 200) -> dict[str, Any]:
        """This attempt answers: journaled, named in the answer's headers, the target warm again."""
        entry = self._journal(target, status=status, outcome="served")
        self.record.provider = target.provider.name  # X-Smarter-Provider, sent with the first byte
        cooldowns.succeeded(target)
        refresh_soon()
        return entry

    def failed(self, target: Target, error: SmarterError | None = None, *, status: int | None = None, answer: Any = None,
               retry_after: float | None = None) -> None:
        """This attempt failed (with `error`, or with a fallback `status` whose `answer`
        is handed on if nothing better comes). Raises what the caller must have."""
        what = verdict(error, self.route.policy) if error is not None else RETRY
        if error is not None:
            status = getattr(error, "upstream_status", None) or error.status
            retry_after = getattr(error, "retry_after", None)
        self._journal(target, status=status, outcome="failed", error=error)
        self._failures += 1
        self.record.provider_ms += (time.perf_counter() - self.started) * 1000
        self.last = answer if answer is not None else error
        if what == STOP:
            raise self._final(error)  # type: ignore[arg-type]
        cooldowns.failed(target, self.route.policy, retry_after)
        # A target that just went cold is left for the next, if there is one; the last one left keeps its retries.
        if what == NEXT or self._attempt >= self.route.policy.retries or (self._more and cooldowns.cold(target.id)):
            self._move_on = True
            return
        wait = retry_after if retry_after is not None else providers.backoff(self._attempt) * (0.5 + random.random() / 2)
        if self.deadline is not None and wait > self.deadline.remaining() - 1.0:
            self._move_on = True  # waiting would outlast the request: the next target now
            return
        time.sleep(wait if self.deadline is not None else min(wait, 5.0))

    def exhausted(self) -> Any:
        """Every target failed: the last answer to hand on, or the last error raised."""
        if isinstance(self.last, tuple):
            self.record.provider = self.last[1].provider.name
            return self.last
        if self.last is not None:
            raise self._final(self.last)  # the last target's own error (its status: 429, 502, 504)
        budget = f" ({self.deadline.budget:.1f} s)" if self.deadline is not None else ""
        raise ProviderTimeout(f"the request's deadline{budget} passed before any provider could be tried")


def _usage_tokens(body: dict[str, Any]) -> int | None:
    usage = body.get("usage")
    return usage.get("total_tokens") if isinstance(usage, dict) else None


def complete(route: Route, body: dict[str, Any], deadline: Deadline, record: Any, *, round_no: int = 1,
             reserve: Callable[[Target, bool], None] | None = None) -> tuple[providers.Completion, Target]:
    """A buffered chat completion through the route; the completion and the target that served it."""
    tries = Tries(route, record, reserve=reserve, deadline=deadline, round_no=round_no)
    for target in tries:
        try:
            completion = providers.chat_completion(target.provider, tries.request(body, target), deadline, max_retries=0, timeout=route.policy.timeout)
        except SmarterError as exc:
            tries.failed(target, exc)
            continue
        tries.served(target)["tokens"] = _usage_tokens(completion.body)
        return completion, target
    return tries.exhausted()


def stream(route: Route, body: dict[str, Any], record: Any, *, round_no: int = 1,
           reserve: Callable[[Target, bool], None] | None = None) -> Generator[dict[str, Any], None, tuple[providers.Completion, Target]]:
    """A streamed round through the route: yields `{"model": ...}` for the target
    that answers, then its content. A target is left for the next only before
    its first piece was yielded; after that a failure is the stream's error
    (the pipeline ends the stream with its error event)."""
    from smarter.llm import streaming

    tries = Tries(route, record, reserve=reserve, round_no=round_no)
    for target in tries:
        steps = streaming.stream_completion(target.provider, tries.request(body, target), timeout=route.policy.timeout)
        try:
            first = next(steps)
        except StopIteration as done:  # an answer with no content (a tool call only)
            tries.served(target)["tokens"] = _usage_tokens(done.value.body)
            yield {"model": target.model}
            return done.value, target
        except SmarterError as exc:
            tries.failed(target, exc)
            continue
        # The first byte is on its way to the caller: this target serves the round.
        entry = tries.served(target)
        yield {"model": target.model}
        yield first
        completion = yield from steps
        entry.update(tokens=_usage_tokens(completion.body), duration_ms=round((time.perf_counter() - tries.started) * 1000, 2))
        return completion, target
    return tries.exhausted()


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


def _hands_on(status: int, policy: Policy) -> bool:
    """Whether the passthrough hands this answer on (anything but a fallback status)."""
    return 200 <= status < 300 or status in REQUEST_CAUSED or status not in policy.fallback_on


def forward(route: Route, body: dict[str, Any], deadline: Deadline, record: Any, *,
            reserve: Callable[[Target, bool], None] | None = None) -> tuple[providers.Forwarded, Target]:
    """The passthrough's buffered call through a client's route: the first answer
    that is not a fallback status is handed on unchanged; when every target
    failed, the last target's answer (or error) is."""
    tries = Tries(route, record, reserve=reserve, deadline=deadline)
    for target in tries:
        try:
            forwarded = providers.forward(target.provider, tries.request(body, target), deadline)
        except SmarterError as exc:
            tries.failed(target, exc)
            continue
        if _hands_on(forwarded.status, route.policy):
            tries.served(target, forwarded.status)
            return forwarded, target
        hinted = providers.retry_after({k.lower(): v for k, v in forwarded.headers.items()})
        tries.failed(target, status=forwarded.status, answer=(forwarded, target), retry_after=hinted)
    return tries.exhausted()


def open_stream(route: Route, body: dict[str, Any], record: Any, *,
                reserve: Callable[[Target, bool], None] | None = None) -> tuple[Any, Target]:
    """The streamed passthrough through a client's route: the first target that
    answers with something other than a fallback status is relayed (its event
    stream, or its error in the envelope). Nothing has reached the caller before
    this returns, so a target is left only here, never mid-stream."""
    from smarter.llm import streaming

    tries = Tries(route, record, reserve=reserve)
    for target in tries:
        try:
            opened = streaming.open_forward(target.provider, tries.request(body, target))
        except SmarterError as exc:
            tries.failed(target, exc)
            continue
        if _hands_on(opened.status, route.policy):
            tries.served(target, opened.status)
            return opened, target
        try:
            raw = b"".join(opened.chunks)
        except SmarterError:
            raw = b""
        finally:
            opened.close()
        answer = streaming.Forward(opened.status, opened.content_type, iter([raw]), lambda: None)
        tries.failed(target, status=opened.status, answer=(answer, target),
                     retry_after=providers.retry_after({k.lower(): v for k, v in getattr(opened, "headers", {}).items()}))
    return tries.exhausted()
