"""One deadline per request.

API Gateway ends a REST integration at 29 s whatever the function is doing,
and the function's own timeout can come first. A request's deadline is the
earlier of the two, less the time kept back to journal the request and answer
(`SMARTER_JOURNAL_RESERVE`). Every provider call, retry, Retry-After wait,
tool call and byte read asks the same deadline how long it may still take.
"""

from __future__ import annotations

import time
from typing import Any

from smarter.config import settings


class Deadline:
    def __init__(self, seconds: float, function_at: float | None = None):
        self.budget = max(seconds, 0.0)
        self.at = time.monotonic() + self.budget
        # When Lambda stops the function (monotonic), if known: the limit of the
        # journal write after the answer (runtime/afterwards.py), which API Gateway's 29 s no longer bounds.
        self.function_at = function_at

    @classmethod
    def for_request(cls, event: dict[str, Any] | None = None, context: Any = None) -> "Deadline":
        """The request's deadline: API Gateway's limit counted from when it received the
        request (a cold start has already used some), or the function's remaining time,
        whichever ends first, less the journal reserve."""
        conf = settings()
        seconds = conf.request_timeout_seconds
        received_ms = ((event or {}).get("requestContext") or {}).get("requestTimeEpoch")
        if isinstance(received_ms, (int, float)) and not isinstance(received_ms, bool):
            spent = time.time() - received_ms / 1000
            if 0 < spent < seconds:  # a clock far off is ignored rather than trusted
                seconds -= spent
        remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
        function_at = None
        if callable(remaining_ms):
            try:
                left = remaining_ms() / 1000
                seconds = min(seconds, left)
                function_at = time.monotonic() + left
            except Exception:
                pass
        return cls(seconds - conf.journal_reserve_seconds, function_at)

    def remaining(self) -> float:
        return max(self.at - time.monotonic(), 0.0)

    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def cap(self, seconds: float) -> float:
        """`seconds`, or less when the deadline comes first."""
        return min(seconds, self.remaining())
