"""One Smarter gateway process for the benchmarks: the local API Gateway
(smarter_local.gateway) with both Lambda handlers, like one warm Lambda
container per function. Run as `python -m bench.worker PORT`; the harness
sets the environment (moto's endpoint, tables, the upstream's base URL).

Each response carries bench-only headers, added here around the handler:
X-Bench-Handler-Cpu-Ms (CPU of the process while the handler ran: one
request at a time, so it is that request's, helper threads included),
X-Bench-Handler-Wall-Ms (the handler's wall time: what Lambda bills) and,
with SMARTER_BENCH_AWS_CALLS=1, X-Bench-Aws-Calls (`service.Operation=n,...`).

The journal write runs after the answer is sent (smarter.runtime.afterwards, as
the Lambda extension does it), so it cannot be in that answer's headers: the
work done after an answer (its CPU, wall time and AWS calls) is added to the
next answer's figures. One request at a time, so per request the sums are the
same, and the wall time stays what Lambda bills (until the extension's next).
"""

from __future__ import annotations

import cProfile
import os
import socket
import sys
import time
from typing import Any

from bench import awscalls
from bench.procs import exit_when_parent_goes


WARMUP_BEFORE_PROFILING = 20  # bench.profile's warm-up: first calls, caches and imports are not profiled


def instrument(function: Any, profiler: Any = None) -> None:
    handler = function.handler
    answered = function.answered
    served = [0]
    # The previous answer's after-response work, reported with the next answer.
    carried: dict[str, Any] = {"cpu_ms": 0.0, "wall_ms": 0.0, "calls": {}}

    def measured_answered() -> None:
        before = awscalls.snapshot()
        cpu, wall = time.process_time(), time.perf_counter()
        profiling = profiler is not None and served[0] > WARMUP_BEFORE_PROFILING
        if profiling:
            profiler.enable()
        try:
            answered()
        finally:
            if profiling:
                profiler.disable()
            carried["cpu_ms"] += (time.process_time() - cpu) * 1000
            carried["wall_ms"] += (time.perf_counter() - wall) * 1000
            for name, count in awscalls.delta(before, awscalls.snapshot()).items():
                carried["calls"][name] = carried["calls"].get(name, 0) + count

    def measured(event: dict[str, Any], context: Any) -> dict[str, Any]:
        before = awscalls.snapshot()
        served[0] += 1
        profiling = profiler is not None and served[0] > WARMUP_BEFORE_PROFILING
        cpu, wall = time.process_time(), time.perf_counter()
        if profiling:
            profiler.enable()
        response = handler(event, context)
        if profiling:
            profiler.disable()
        wall_ms = (time.perf_counter() - wall) * 1000 + carried["wall_ms"]
        cpu_ms = (time.process_time() - cpu) * 1000 + carried["cpu_ms"]
        after_response_calls, carried["calls"] = carried["calls"], {}
        carried["cpu_ms"] = carried["wall_ms"] = 0.0
        # A streamed answer's headers go out before its body runs: this CPU is the handler's part only.
        headers = response.multi_headers if hasattr(response, "multi_headers") else response.setdefault("multiValueHeaders", {})
        headers["X-Bench-Handler-Cpu-Ms"] = [f"{cpu_ms:.3f}"]
        headers["X-Bench-Handler-Wall-Ms"] = [f"{wall_ms:.3f}"]
        if awscalls.enabled():
            calls = awscalls.delta(before, awscalls.snapshot())
            for name, count in after_response_calls.items():
                calls[name] = calls.get(name, 0) + count
            headers["X-Bench-Aws-Calls"] = [",".join(f"{k}={v}" for k, v in sorted(calls.items())) or "-"]
        return response

    function.handler = measured
    function.answered = measured_answered


def no_delay(gateway: Any) -> None:
    """TCP_NODELAY on the local gateway's connections. It writes a response's
    headers and body in two writes; with Nagle on, the body waits for the
    client's delayed ACK (about 40 ms on Linux), a stall API Gateway does not
    have and that would swamp everything measured here."""
    handler = gateway.httpd.RequestHandlerClass
    setup = handler.setup

    def setup_no_delay(self: Any) -> None:
        setup(self)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    handler.setup = setup_no_delay


def main() -> int:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    if awscalls.enabled():
        awscalls.install()
    from smarter.config import settings
    from smarter_local.gateway import Gateway

    gateway = Gateway(api_domain=settings().api_domain, port=port)
    no_delay(gateway)
    profile_to = os.environ.get("SMARTER_BENCH_PROFILE")  # python -m bench.profile
    profiler = cProfile.Profile(time.process_time) if profile_to else None  # CPU, not time spent waiting
    for function in gateway.functions.values():
        instrument(function, profiler)
    stop = exit_when_parent_goes()
    gateway.serve_in_thread()
    print(f"READY {gateway.port}", flush=True)
    stop.wait()
    gateway.stop()
    if profiler is not None:
        profiler.dump_stats(profile_to)
    return 0


if __name__ == "__main__":
    sys.exit(main())
