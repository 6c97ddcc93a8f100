"""Work done after the answer is sent and before the environment freezes.

The journal write (and the session messages of the same batch) does not
change the answer, so the client need not wait for it. In Lambda the answer is
out once the runtime has posted it, but the environment is frozen (threads
stopped mid-write) as soon as the runtime *and every registered extension*
have asked for their next event. So the function registers an internal
extension, a thread of its own process, with the Extensions API during init:
the request defers its writes here, the runtime posts the answer, and the
extension thread runs the deferred writes and only then calls
`/extension/event/next`, which lets Lambda freeze or reuse the environment.
Internal extensions cannot register for SHUTDOWN (only INVOKE), and must
register before the runtime's first `/runtime/invocation/next`: `start()` is
called when the function module is imported, which is the init phase.

Who says "the answer is out":
- the response-streaming runtime client (runtime/lambda_stream.py), after it has
  posted the last byte: exact;
- under Lambda's managed Python runtime (the PromptFunction), `@after_response`
  on the handler, when it returns: the runtime then serializes and posts the
  answer while the extension thread starts the write (it yields first, and the
  post is a loopback call, so the answer goes out first in practice).

Nothing is lost: a write that fails goes to S3 and the log (journal.py); a
write that would cross the function's timeout (the remaining time captured
for that invoke, less SMARTER_JOURNAL_AFTER_MARGIN) is not started and its
record goes to the log first (stdout reaches CloudWatch) and S3 if it can; a
write still running when that margin is reached is logged the same way by a
watchdog. `smarter journal-replay` and the UsageFunction's schedule put such
records into the table once (journal.replay).

Without AWS_LAMBDA_RUNTIME_API (tests calling handlers, the CLI) or with
SMARTER_JOURNAL_AFTER_RESPONSE=off, a deferred job runs at once: the write
happens before the answer, as it did before. The local stack's gateway holds
a thread's jobs (`hold`) and runs them after it has written the HTTP answer and
before that function takes its next request (`run_held`), as Lambda would.
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from aws_lambda_powertools import Logger

from smarter.config import settings

logger = Logger(child=True)

EXTENSION_API = "/2020-01-01/extension"
EXTENSION_NAME = "smarter-after-response"


@dataclass
class Job:
    """One deferred write. `run` handles its own failures (journal.py keeps the
    record in S3 and the log); `lost(reason)` keeps what `run` would have
    written when it cannot run in time. `until` is when Lambda stops the
    function (time.monotonic()), if known."""

    run: Callable[[], None]
    lost: Callable[[str], None]
    until: float | None = None


_pending: list[Job] = []
_lock = threading.Lock()
_local = threading.local()
_extension: "Extension | None" = None
# Set by a runtime client that reports its own posts (lambda_stream): the
# handler's return is then not the moment the answer is out.
_runtime_reports = False


def defer(job: Job) -> None:
    """Run `job` after the answer is sent, or now when no-one would run it later."""
    held = getattr(_local, "held", None)
    if held is not None:
        held.append(job)
        return
    extension = _extension
    if extension is not None and extension.running:
        with _lock:
            if extension.running:  # checked again under the lock the stopping thread takes
                _pending.append(job)
                return
    run_jobs([job])


def run_jobs(jobs: list[Job], until: float | None = None) -> None:
    """Run each job unless the function's time is up (then keep its record
    through `lost`); a job still running at the margin is kept the same way."""
    if not jobs:
        return
    margin = settings().journal_after_margin_seconds
    for job in jobs:
        ends = [t for t in (job.until, until) if t is not None]
        end = min(ends) if ends else None
        if end is not None and end - time.monotonic() < margin:
            _lose(job, "the function's time ran out before the journal write")
            continue
        if end is not None:
            _watchdog.watch(job, end - margin / 2)
        try:
            job.run()
        except Exception:
            logger.exception("a deferred write failed")
            _lose(job, "the deferred write raised")
        finally:
            if end is not None:
                _watchdog.clear(job)


def _lose(job: Job, reason: str) -> None:
    try:
        job.lost(reason)
    except Exception:
        logger.exception("keeping a deferred write's record failed")


class _Watchdog:
    """One thread per process that keeps a job's record (job.lost) if the job is
    still running at its alarm time: a write that hangs until Lambda stops the
    function still leaves its record in the log."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._job: Job | None = None
        self._at = 0.0
        self._thread: threading.Thread | None = None

    def watch(self, job: Job, at: float) -> None:
        with self._cond:
            self._job, self._at = job, at
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, daemon=True, name="smarter-after-response-watchdog")
                self._thread.start()
            self._cond.notify()

    def clear(self, job: Job) -> None:
        with self._cond:
            if self._job is job:
                self._job = None
                self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._job is None or time.monotonic() < self._at:
                    self._cond.wait(None if self._job is None else max(self._at - time.monotonic(), 0.001))
                job, self._job = self._job, None
            _lose(job, "the journal write was still running when the function's time ran out")


_watchdog = _Watchdog()


# --- the Lambda internal extension ----------------------------------------------------------


class Extension:
    """A client of the Extensions API (`AWS_LAMBDA_RUNTIME_API`) run by a thread
    of the function's own process: registered for INVOKE, it waits for each
    invoke's answer to be out, runs the deferred jobs, then asks for the next event."""

    def __init__(self, address: str):
        host, _, port = address.partition(":")
        self.host, self.port = host, int(port or 80)
        self.identifier = ""
        self.running = False
        self.answered = threading.Event()  # the current invoke's answer is out
        self.invokes = 0

    def register(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
        try:
            conn.request(
                "POST",
                f"{EXTENSION_API}/register",
                body=json.dumps({"events": ["INVOKE"]}).encode(),
                headers={"Lambda-Extension-Name": EXTENSION_NAME, "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"the Extensions API answered {response.status} to register: {body[:200]!r}")
            self.identifier = response.headers.get("Lambda-Extension-Identifier") or ""
        finally:
            conn.close()

    def next_event(self) -> dict[str, Any]:
        """Blocks until Lambda has an event for the extensions (the next invoke)."""
        conn = http.client.HTTPConnection(self.host, self.port)
        try:
            conn.request("GET", f"{EXTENSION_API}/event/next", headers={"Lambda-Extension-Identifier": self.identifier})
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"the Extensions API answered {response.status} to event/next: {body[:200]!r}")
            return json.loads(body)
        finally:
            conn.close()

    def start(self) -> None:
        self.running = True
        threading.Thread(target=self._loop, daemon=True, name=EXTENSION_NAME).start()

    def _loop(self) -> None:
        while True:
            try:
                event = self.next_event()
            except Exception:
                logger.exception("the after-response extension stopped; journal writes go before the answer again")
                with _lock:
                    self.running = False
                    jobs = _pending[:]
                    _pending.clear()
                run_jobs(jobs)
                return
            if event.get("eventType") != "INVOKE":
                continue
            self.invokes += 1
            until = _monotonic_from_epoch_ms(event.get("deadlineMs"))
            # The answer first: until the runtime says it is out (or the function's
            # time is up: Lambda stops it then, whatever this thread does).
            self.answered.wait(None if until is None else max(until - time.monotonic(), 0.0))
            self.answered.clear()
            time.sleep(0)  # let the runtime's thread finish posting before the write takes the interpreter
            with _lock:
                jobs = _pending[:]
                _pending.clear()
            run_jobs(jobs, until)


def _monotonic_from_epoch_ms(deadline_ms: Any) -> float | None:
    if not isinstance(deadline_ms, (int, float)) or isinstance(deadline_ms, bool) or deadline_ms <= 0:
        return None
    return time.monotonic() + (deadline_ms / 1000 - time.time())


def start() -> bool:
    """Register the in-process extension, during the function's init (its module
    import), when Lambda's API is there and SMARTER_JOURNAL_AFTER_RESPONSE allows;
    whether writes now wait until after the answer."""
    global _extension
    if _extension is not None:
        return _extension.running
    address = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    if not address or not settings().journal_after_response:
        return False
    extension = Extension(address)
    try:
        extension.register()
    except Exception:
        logger.exception("the after-response extension did not register; journal writes stay before the answer")
        return False
    extension.start()
    _extension = extension
    return True


def answer_sent() -> None:
    """The current invoke's answer is out: its deferred jobs may run."""
    if _extension is not None:
        _extension.answered.set()


def runtime_reports_answers() -> None:
    """Called by a runtime client that calls `answer_sent` itself after posting."""
    global _runtime_reports
    _runtime_reports = True


def after_response(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """For a handler under Lambda's managed runtime: its return hands the answer
    to the runtime, which posts it; the deferred writes may start then."""

    @functools.wraps(handler)
    def wrapped(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        finally:
            if not _runtime_reports:
                answer_sent()

    return wrapped


# --- the local runtime ------------------------------------------------------------------------


def hold() -> None:
    """Keep the jobs this thread defers from now on for `run_held` (the local
    gateway: after the HTTP answer, before the function's next request)."""
    _local.held = [] if settings().journal_after_response else None


def run_held() -> None:
    jobs = getattr(_local, "held", None) or []
    _local.held = None
    run_jobs(jobs)


def reset() -> None:
    """Forget the extension (tests)."""
    global _extension, _runtime_reports
    _extension = None
    _runtime_reports = False
    with _lock:
        _pending.clear()
