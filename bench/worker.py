"""One Smarter gateway process for the benchmarks: the local API Gateway
(smarter_local.gateway) with both Lambda handlers, like one warm Lambda
container per function. Run as `python -m bench.worker PORT`; the harness
sets the environment (moto's endpoint, tables, the upstream's base URL).

Each response carries two bench-only headers, added here around the handler:
X-Bench-Handler-Cpu-Ms (CPU of the process while the handler ran: one
request at a time, so it is that request's, helper threads included) and,
with SMARTER_BENCH_AWS_CALLS=1, X-Bench-Aws-Calls (`service.Operation=n,...`).
"""

from __future__ import annotations

import socket
import sys
import time
from typing import Any

from bench import awscalls
from bench.procs import exit_when_parent_goes


def instrument(function: Any) -> None:
    handler = function.handler

    def measured(event: dict[str, Any], context: Any) -> dict[str, Any]:
        before = awscalls.snapshot()
        cpu = time.process_time()
        response = handler(event, context)
        cpu_ms = (time.process_time() - cpu) * 1000
        # A streamed answer's headers go out before its body runs: this CPU is the handler's part only.
        headers = response.multi_headers if hasattr(response, "multi_headers") else response.setdefault("multiValueHeaders", {})
        headers["X-Bench-Handler-Cpu-Ms"] = [f"{cpu_ms:.3f}"]
        if awscalls.enabled():
            calls = awscalls.delta(before, awscalls.snapshot())
            headers["X-Bench-Aws-Calls"] = [",".join(f"{k}={v}" for k, v in sorted(calls.items())) or "-"]
        return response

    function.handler = measured


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
    for function in gateway.functions.values():
        instrument(function)
    stop = exit_when_parent_goes()
    gateway.serve_in_thread()
    print(f"READY {gateway.port}", flush=True)
    stop.wait()
    gateway.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
