"""One deadline per request.

API Gateway ends a REST integration at 29 s whatever the function is doing,
and the function's own timeout can come first. A request's deadline is the
earlier of the two, less the time kept back to journal the request and answer
(`SMARTER_JOURNAL_RESERVE`). Every provider call, retry, Retry-After wait,
tool call and byte read asks the same deadline how long it may still take.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

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


class Watchdog:
    """One thread per container that runs a call's `cut` (close its socket) when
    the call's time is up. http.client reads a status line and headers with a
    timeout per read, so an upstream sending a byte a second would keep a call
    waiting for ever; cutting the socket ends every phase at the deadline.
    Cheaper than a timer thread per call: a few microseconds to watch and unwatch."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._watched: dict[int, tuple[float, Callable[[], None]]] = {}
        self._next = 0
        self._thread: threading.Thread | None = None

    def watch(self, cut: Callable[[], None], ends: float) -> int:
        """Run `cut` at `ends` (monotonic) unless unwatched first; the token to unwatch with."""
        with self._cv:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="deadline-watchdog", daemon=True)
                self._thread.start()
            self._next += 1
            self._watched[self._next] = (ends, cut)
            self._cv.notify()
            return self._next

    def unwatch(self, token: int) -> None:
        with self._cv:
            self._watched.pop(token, None)

    def _run(self) -> None:
        while True:
            with self._cv:
                now = time.monotonic()
                for token in [t for t, (ends, _) in self._watched.items() if ends <= now]:
                    try:
                        self._watched.pop(token)[1]()
                    except Exception:
                        pass  # a cut that fails must not stop the watchdog
                soonest = min((ends for ends, _ in self._watched.values()), default=None)
                self._cv.wait(None if soonest is None else max(soonest - now, 0.001))


watchdog = Watchdog()


def pool_classes(mixin: type) -> dict[str, Any]:
    """urllib3 pool classes ("http", "https") whose connections mix `mixin` in: how
    the provider calls and the plugin HTTP client hook their connections to the watchdog."""
    import urllib3
    from urllib3.connection import HTTPConnection, HTTPSConnection

    http_conn = type(f"{mixin.__name__}HTTPConnection", (mixin, HTTPConnection), {})
    https_conn = type(f"{mixin.__name__}HTTPSConnection", (mixin, HTTPSConnection), {})
    return {
        "http": type(f"{mixin.__name__}HTTPPool", (urllib3.HTTPConnectionPool,), {"ConnectionCls": http_conn}),
        "https": type(f"{mixin.__name__}HTTPSPool", (urllib3.HTTPSConnectionPool,), {"ConnectionCls": https_conn}),
    }
