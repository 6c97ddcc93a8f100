"""Count AWS API calls made in this process, by service and operation.

Opt-in, for the benchmark harness only: the bench worker installs it when
SMARTER_BENCH_AWS_CALLS=1 is set. It registers a `before-call.*.*` handler on
the botocore session that smarter.store.aws creates its clients from (clients copy the
session's event hooks when they are created, so it is installed before the
first client exists). Nothing in the production code path knows about it.
`before-call` fires once per API call, not per HTTP retry.
"""

from __future__ import annotations

import collections
import os
import threading

ENV = "SMARTER_BENCH_AWS_CALLS"

_lock = threading.Lock()
_counts: collections.Counter[str] = collections.Counter()
_installed = False


def enabled() -> bool:
    return os.environ.get(ENV, "").strip().lower() in ("1", "true", "yes")


def _on_call(event_name: str = "", **_: object) -> None:
    # event_name is "before-call.<service>.<Operation>"
    _, _, kind = event_name.partition(".")
    with _lock:
        _counts[kind] += 1


def install() -> None:
    """Hook the session smarter.store.aws hands out; clients made later inherit it."""
    global _installed
    if _installed:
        return
    from smarter.store import aws

    if aws.client.cache_info().currsize:
        raise RuntimeError("install the AWS call counter before the first client is created")
    aws.session().register("before-call.*.*", _on_call, unique_id="smarter-bench-aws-calls")
    aws.events.register("before-call.*.*", _on_call, unique_id="smarter-bench-aws-calls")  # the request path's own client
    _installed = True


def snapshot() -> dict[str, int]:
    with _lock:
        return dict(_counts)


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}
