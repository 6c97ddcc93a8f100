"""Rate limits and spend budgets per key, client and account, exact under concurrency.

Limits come from the manifests (`spec.limits` of an Account, LLMClient or
ApiKey) and, where a manifest sets nothing, from the operator's platform
defaults (SMARTER_DEFAULT_LIMITS). Unset means unlimited.

    requestsPerMinute, tokensPerMinute           key, client
    tokensPerDay, tokensPerMonth, usdPerDay, usdPerMonth   key, client, account

How it holds under concurrency: every limited (scope, period) pair is one
DynamoDB item (a fixed window: `W#{scope}` / `m202611291141`, `d20261129`,
`M202611`) holding `requests`, `tokens` and `usd` (whole pico-dollars). Before each provider call,
`reserve` adds the call's worst case (estimated input tokens plus the output
cap, and their price) to every applicable window in ONE TransactWriteItems,
each update conditional on the window staying within its limit, together with
a hold item (`HOLD#{journal key}` / `R{round}`) that records what was
reserved. DynamoDB applies all of it or none: two requests racing for the
last unit cannot both win, whatever container they run in. Nothing is
counted in memory.

Settling is off the request path and shared with usage counting
(smarter.store.usage): the journal record carries the reservations and the
real usage; the UsageFunction, reading the journal's stream, moves each hold
from `held` to `settled` and adds (real − reserved) to its windows in one
transaction, conditional on the hold's state, so it happens exactly once.
A crash between reserve and journal (the record never written) leaves a hold
in `held`: after HOLD_SECONDS the scheduled sweep (`usage.release_expired`)
releases it. So a lost reservation blocks budget room for at most
HOLD_SECONDS plus one sweep period, and never forever.

An account's `concurrentRequests` caps how many of its requests are in flight
at once, so one tenant cannot take the platform's whole concurrency: the
first reservation of a request also adds 1 to the item `W#A#{account}` /
`inflight`, conditional on it staying within the limit (429 otherwise), and
its hold names that slot. The slot is released where the hold is settled
(the UsageFunction, as soon as the request's journal record is counted,
typically a second or two after the answer), or by the sweep when the
request never reached the journal; both are conditional on the hold's
state, so a slot is released exactly once.

No AWS call is added for a request whose scopes have no limits.
"""

from __future__ import annotations

import json
import math
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from smarter.config import settings
from smarter.errors import BudgetExceeded, RateLimited, SmarterError
from smarter.store import aws, storage, usage
from smarter.tenancy import pricing

RATE_KINDS = ("requestsPerMinute", "tokensPerMinute")
BUDGET_KINDS = ("tokensPerDay", "tokensPerMonth", "usdPerDay", "usdPerMonth")
KINDS = RATE_KINDS + BUDGET_KINDS
SCOPE_KINDS = {"key": KINDS, "client": KINDS, "account": BUDGET_KINDS}
CONCURRENT = "concurrentRequests"  # account only: requests in flight at once
INFLIGHT_SK = "inflight"
# kind -> (period, counter attribute); the periods and the items are the usage table's (store/usage.py)
WINDOW_OF = {
    "requestsPerMinute": ("m", "requests"),
    "tokensPerMinute": ("m", "tokens"),
    "tokensPerDay": ("d", "tokens"),
    "tokensPerMonth": ("M", "tokens"),
    "usdPerDay": ("d", "usd"),
    "usdPerMonth": ("M", "usd"),
}
HOLD_SECONDS = usage.HOLD_SECONDS
DEFAULT_OUTPUT_TOKENS = 4096  # the output reserved when a passthrough body sets no cap and the model's is unknown
CONFLICT_RETRIES = 6


@dataclass(frozen=True)
class Scope:
    name: str  # key | client | account
    id: str  # W#{id} is the partition of its windows
    limits: dict[str, Decimal]


@dataclass
class Plan:
    """Who is calling, the limits that apply, the account's price overrides; set on the
    journal record once the key is checked."""

    account: str
    client: str | None
    key_id: str | None
    scopes: list[Scope]
    prices: dict[str, Any] = field(default_factory=dict)
    concurrent: int | None = None  # the account's concurrentRequests

    def limited(self) -> bool:
        return bool(self.concurrent) or any(scope.limits for scope in self.scopes)


def _decimal_limits(raw: dict[str, Any] | None, allowed: tuple[str, ...]) -> dict[str, Decimal]:
    """Limits as integers of their counter's unit: dollars become pico-dollars."""
    return {k: Decimal(usage.pico(v) if k.startswith("usd") else int(v)) for k, v in (raw or {}).items() if k in allowed and v is not None}


def platform_defaults() -> dict[str, dict[str, Any]]:
    """SMARTER_DEFAULT_LIMITS: JSON `{"account": {...}, "client": {...}, "key": {...}}`."""
    raw = settings().default_limits
    return json.loads(raw) if raw else {}


def plan(key: dict[str, Any], account_number: str, client: dict[str, Any] | None) -> Plan:
    """The limits for one request: each scope's manifest limits over the platform
    defaults. The account is read through the per-container cache."""
    account = storage.get_account(account_number, cached=True)
    defaults = platform_defaults()
    scopes = []
    concurrent = None
    for name, doc, scope_id in (
        ("key", key, f"K#{key.get('key_id')}"),
        ("client", client, f"C#{account_number}#{(client or {}).get('name')}"),
        ("account", account, f"A#{account_number}"),
    ):
        if name == "client" and client is None:
            continue  # the passthrough has no client: its key and account budgets still apply
        merged = {**(defaults.get(name) or {}), **((doc or {}).get("limits") or {})}
        scopes.append(Scope(name, scope_id, _decimal_limits(merged, SCOPE_KINDS[name])))
        if name == "account" and merged.get(CONCURRENT):
            concurrent = int(merged[CONCURRENT])
    return Plan(account_number, (client or {}).get("name"), key.get("key_id"), scopes, (account or {}).get("prices") or {}, concurrent)


# --- estimates ----------------------------------------------------------------------


def estimate_input_tokens(body: dict[str, Any]) -> int:
    """An upper estimate without a tokenizer: one token per 3 bytes of the messages
    and tools as JSON (real text averages about 4), plus 4 per message."""
    messages = body.get("messages") or []
    size = len(json.dumps(messages, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if body.get("tools"):
        size += len(json.dumps(body["tools"], separators=(",", ":")))
    return math.ceil(size / 3) + 4 * len(messages) + 3


def estimated_usage(body: dict[str, Any], output: str | None) -> dict[str, int]:
    """Usage for an answer that reported none: the input's upper estimate and
    one token per 3 bytes of what came out (content and tool calls)."""
    prompt_tokens = estimate_input_tokens(body)
    completion_tokens = math.ceil(len((output or "").encode("utf-8")) / 3)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}


def output_cap(body: dict[str, Any], price: pricing.Price) -> int:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return price.max_output_tokens or DEFAULT_OUTPUT_TOKENS


# --- windows ----------------------------------------------------------------------


period = usage.period
window_end = usage.window_end


@dataclass
class Window:
    scope: Scope
    kind: str  # m | d | M
    sk: str
    limits: dict[str, Decimal]  # counter attribute -> limit
    kinds: dict[str, str]  # counter attribute -> limit kind (for messages)
    ends: float

    @property
    def pk(self) -> str:
        return usage.window_pk(self.scope.id)


def windows(the_plan: Plan, moment: datetime) -> list[Window]:
    out = []
    for scope in the_plan.scopes:
        by_period: dict[str, Window] = {}
        for kind, limit in scope.limits.items():
            per, attribute = WINDOW_OF[kind]
            window = by_period.get(per)
            if window is None:
                window = by_period[per] = Window(scope, per, usage.period(per, moment), {}, {}, usage.window_end(per, moment))
            window.limits[attribute] = limit
            window.kinds[attribute] = kind
        out.extend(by_period.values())
    return out


# --- reserve --------------------------------------------------------------------------


@dataclass
class Ask:
    requests: int
    tokens: int
    usd: int  # pico-dollars

    def of(self, attribute: str) -> Decimal:
        return Decimal(getattr(self, attribute))


def _refuse(window: Window, attribute: str, needed: Decimal, current: Decimal | None) -> SmarterError:
    kind = window.kinds[attribute]
    limit = window.limits[attribute]
    retry = max(1, math.ceil(window.ends - time.time()))
    scope = {"key": "this API key", "client": "this client", "account": "this account"}[window.scope.name]
    unit = {"requests": "requests", "tokens": "tokens", "usd": "USD"}[attribute]

    def shown(amount: Decimal) -> str:
        return format(usage.usd(int(amount)) if attribute == "usd" else amount.normalize(), "f")

    used = f"{shown(current)} used, " if current is not None else ""
    detail = f"{scope}'s {kind} limit is {shown(limit)} {unit} ({used}this request needs {shown(needed)})"
    headers = {"Retry-After": str(retry)}
    if window.kind == "m":
        return RateLimited(f"rate limited: {detail}; retry in {retry} s", headers=headers)
    return BudgetExceeded(f"budget exceeded: {detail}; the {'day' if window.kind == 'd' else 'month'} resets in {retry} s", headers=headers)


def reserve(the_plan: Plan | None, record: Any, *, provider: str, model: str, body: dict[str, Any], first: bool,
            prices: dict[str, Any] | None = None) -> None:
    """Reserve one provider call's worst case against every limited window, or raise
    RateLimited / BudgetExceeded. Records the reservation on the journal record
    (which the UsageFunction settles) and the figures for the rate headers.
    `prices`: an account Provider's own prices for its models (they win)."""
    if the_plan is None:
        return
    price = pricing.price(provider, model, {**the_plan.prices, **(prices or {})})
    record.price = price
    moment = datetime.now(timezone.utc)
    found = windows(the_plan, moment)
    slot = inflight_slot(the_plan) if first else None
    if not found and slot is None:
        return
    input_tokens = estimate_input_tokens(body)
    output_tokens = output_cap(body, price)
    ask = Ask(1 if first else 0, input_tokens + output_tokens, usage.pico(price.cost(input_tokens, output_tokens)))
    for window in found:
        for attribute, limit in window.limits.items():
            if ask.of(attribute) > limit:
                raise _refuse(window, attribute, ask.of(attribute), None)
    round_no = len(record.reservations) + 1
    hold = {
        "round": round_no,
        "windows": [[w.pk, w.sk, ask.requests, ask.tokens, ask.usd] for w in found],  # usd in pico-dollars
        "reserved": {"requests": ask.requests, "tokens": ask.tokens, "usd": format(usage.usd(ask.usd), "f")},
    }
    items = [usage.reserve_update(w.pk, w.sk, w.kind, w.ends, w.limits, ask.requests, ask.tokens, ask.usd) for w in found]
    if slot is not None:
        hold["inflight"] = slot
        items.append(_inflight_update(slot, the_plan.concurrent or 0))
    items.append(usage.hold_put(record.key, hold["round"], hold["windows"], moment, inflight=hold.get("inflight")))
    _transact(items, found, ask, record.key, round_no, the_plan.concurrent if slot else None)
    record.reservations.append(hold)
    record.rate_view = _rate_view(found, ask)


def reserve_request(the_plan: Plan | None, record: Any) -> None:
    """Count one request that calls no provider (a tool call at the MCP endpoint)
    against every limited window: one request, no tokens, no dollars. Same
    transaction, hold and settlement as `reserve`; RateLimited when a window is full."""
    if the_plan is None:
        return
    moment = datetime.now(timezone.utc)
    found = windows(the_plan, moment)
    slot = inflight_slot(the_plan)
    if not found and slot is None:
        return
    ask = Ask(1, 0, 0)
    for window in found:
        if "requests" in window.limits and ask.of("requests") > window.limits["requests"]:
            raise _refuse(window, "requests", ask.of("requests"), None)
    round_no = len(record.reservations) + 1
    hold = {"round": round_no, "windows": [[w.pk, w.sk, 1, 0, 0] for w in found], "reserved": {"requests": 1, "tokens": 0, "usd": "0"}}
    items = [usage.reserve_update(w.pk, w.sk, w.kind, w.ends, w.limits, 1, 0, 0) for w in found]
    if slot is not None:
        hold["inflight"] = slot
        items.append(_inflight_update(slot, the_plan.concurrent or 0))
    items.append(usage.hold_put(record.key, round_no, hold["windows"], moment, inflight=hold.get("inflight")))
    _transact(items, found, ask, record.key, round_no, the_plan.concurrent if slot else None)
    record.reservations.append(hold)
    record.rate_view = _rate_view(found, ask)


def inflight_slot(the_plan: Plan) -> list[str] | None:
    """The account's in-flight counter [pk, sk], when it has a concurrentRequests limit."""
    return [f"W#A#{the_plan.account}", INFLIGHT_SK] if the_plan.concurrent else None


def _inflight_update(slot: list[str], limit: int) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": settings().usage_table,
            "Key": {"pk": {"S": slot[0]}, "sk": {"S": slot[1]}},
            "UpdateExpression": "ADD inflight :one",
            "ConditionExpression": "attribute_not_exists(inflight) OR inflight < :limit",
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":limit": {"N": str(int(limit))}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def in_flight(account: str) -> int:
    """How many of the account's requests hold a slot now (tests, operators)."""
    item = aws.client("dynamodb").get_item(TableName=settings().usage_table, Key={"pk": {"S": f"W#A#{account}"}, "sk": {"S": INFLIGHT_SK}},
                                           ConsistentRead=True).get("Item") or {}
    return int(item.get("inflight", {}).get("N", "0"))


def _transact(items: list[dict[str, Any]], found: list[Window], ask: Ask, journal_key: str, round_no: int, concurrent: int | None = None) -> None:
    ddb = aws.client("dynamodb")
    # One token per reservation (journal key and round), the same on every try: should a
    # try be applied but its answer lost (botocore's retries, ours), DynamoDB does not add
    # the reservation twice. A cancelled try applied nothing, so its retry runs anew.
    # Tokens are at most 36 characters: a name-based UUID of the two.
    token = str(uuid.uuid5(uuid.NAMESPACE_URL, f"smarter:limits:{journal_key}#R{round_no}"))
    for attempt in range(CONFLICT_RETRIES):
        try:
            ddb.transact_write_items(TransactItems=items, ClientRequestToken=token)
            return
        except ddb.exceptions.TransactionInProgressException:
            pass  # an earlier try with this token is still running: ask again shortly
        except ddb.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons") or []
            if concurrent and len(reasons) > len(found) and reasons[len(found)].get("Code") == "ConditionalCheckFailed":
                raise RateLimited(
                    f"rate limited: this account's concurrentRequests limit is {concurrent} requests in flight at once; retry shortly",
                    headers={"Retry-After": "1"},
                ) from None
            for window, reason in zip(found, reasons):
                if reason.get("Code") == "ConditionalCheckFailed":
                    current = reason.get("Item") or {}
                    for attribute, limit in window.limits.items():
                        have = Decimal(current.get(attribute, {}).get("N", "0"))
                        if have + ask.of(attribute) > limit:
                            _remember(window, current)
                            raise _refuse(window, attribute, ask.of(attribute), have) from None
                    raise _refuse(window, next(iter(window.limits)), ask.of(next(iter(window.limits))), None) from None
            if not any(r.get("Code") in ("TransactionConflict", "ThrottlingError") for r in reasons):
                raise
        # Another transaction held one of the windows (hot windows conflict), or
        # DynamoDB throttled one: try again shortly.
        time.sleep(random.uniform(0, 0.01 * 2**attempt))
    raise RateLimited("the limits store is busy; retry shortly", headers={"Retry-After": "1"})


# --- the x-ratelimit-* headers -----------------------------------------------------

HEADER_NAMES = tuple(f"x-ratelimit-{part}-{kind}" for part in ("limit", "remaining", "reset") for kind in ("requests", "tokens"))

# What this container last learned of a window's counters: exact after a refusal
# (DynamoDB returns the item), our own reservations added after an admission
# (transactions return no values). Only for the headers, never for admission.
_seen: dict[tuple[str, str], dict[str, Decimal]] = {}


def _remember(window: Window, item: dict[str, Any]) -> None:
    if len(_seen) > 4096:
        _seen.clear()
    _seen[(window.pk, window.sk)] = {a: Decimal(item.get(a, {}).get("N", "0")) for a in ("requests", "tokens")}


def _rate_view(found: list[Window], ask: Ask) -> dict[str, tuple[Decimal, Decimal, float]]:
    """(limit, remaining, reset epoch) of the tightest minute window, for requests and tokens."""
    view: dict[str, tuple[Decimal, Decimal, float]] = {}
    for window in found:
        if window.kind != "m":
            continue
        seen = _seen.setdefault((window.pk, window.sk), {"requests": Decimal(0), "tokens": Decimal(0)})
        for attribute in ("requests", "tokens"):
            seen[attribute] += ask.of(attribute)
            if attribute in window.limits:
                limit = window.limits[attribute]
                remaining = max(limit - seen[attribute], Decimal(0))
                if attribute not in view or remaining < view[attribute][1]:
                    view[attribute] = (limit, remaining, window.ends)
    return view


def headers(record: Any) -> dict[str, str]:
    """OpenAI's rate headers for an answer: the tightest limited minute window."""
    view = getattr(record, "rate_view", None)
    if not view and getattr(record, "plan", None) is not None:
        view = _static_view(record.plan)
    out: dict[str, str] = {}
    for attribute, suffix in (("requests", "requests"), ("tokens", "tokens")):
        if attribute in (view or {}):
            limit, remaining, ends = view[attribute]
            out[f"x-ratelimit-limit-{suffix}"] = str(int(limit))
            out[f"x-ratelimit-remaining-{suffix}"] = str(int(remaining))
            out[f"x-ratelimit-reset-{suffix}"] = f"{max(ends - time.time(), 0):.0f}s"
    return out


def _static_view(the_plan: Plan) -> dict[str, tuple[Decimal, Decimal, float]]:
    """Before any reservation (a refusal, an error): the limits and this container's view."""
    view: dict[str, tuple[Decimal, Decimal, float]] = {}
    for window in windows(the_plan, datetime.now(timezone.utc)):
        if window.kind != "m":
            continue
        seen = _seen.get((window.pk, window.sk), {})
        for attribute, limit in window.limits.items():
            remaining = max(limit - seen.get(attribute, Decimal(0)), Decimal(0))
            if attribute not in view or remaining < view[attribute][1]:
                view[attribute] = (limit, remaining, window.ends)
    return view
