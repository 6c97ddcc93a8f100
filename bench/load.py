"""The load generator: keep-alive HTTP/1.1 connections on loopback, a fixed
number of requests after a warm-up on every connection, bounded in time.

CPU of the gateway processes is read from /proc just before and just after
the measured requests, so it covers everything those processes did for them
(HTTP parsing, the handler, garbage collection), divided by the count.
"""

from __future__ import annotations

import http.client
import json
import socket
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from bench import procs


@dataclass
class Request:
    path: str
    body: Any
    headers: dict[str, str]
    method: str = "POST"

    def encoded(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()


@dataclass
class Sample:
    latency_ms: float
    status: int
    headers: dict[str, str]


@dataclass
class LoadResult:
    samples: list[Sample]
    wall_s: float
    cpu_s: float
    errors: list[str] = field(default_factory=list)
    timed_out: bool = False
    probe_before: Any = None
    probe_after: Any = None

    @property
    def count(self) -> int:
        return len(self.samples)

    def header_values(self, name: str) -> list[float]:
        name = name.lower()
        values = []
        for sample in self.samples:
            raw = sample.headers.get(name)
            if raw not in (None, "", "-"):
                values.append(float(raw))
        return values

    def latencies(self) -> list[float]:
        return [s.latency_ms for s in self.samples]


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict[str, float | None]:
    return {
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "mean": statistics.fmean(values) if values else None,
        "n": len(values),
    }


class _Connection:
    def __init__(self, port: int, timeout: float):
        self.port, self.timeout = port, timeout
        self.conn: http.client.HTTPConnection | None = None

    def send(self, request: Request) -> Sample:
        data = request.encoded()
        headers = {"Content-Type": "application/json", "Content-Length": str(len(data)), **request.headers}
        for attempt in (1, 2):  # one reconnect if the server closed an idle connection
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
                self.conn.connect()
                self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            started = time.perf_counter()
            try:
                self.conn.request(request.method, request.path, body=data, headers=headers)
                response = self.conn.getresponse()
                response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 2:
                    raise
                continue
            latency = (time.perf_counter() - started) * 1000
            return Sample(latency, response.status, {k.lower(): v for k, v in response.getheaders()})
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def run(
    ports: list[int],
    make_request: Callable[[int], Request],
    *,
    total: int,
    concurrency: int = 1,
    warmup: int = 5,
    cpu_pids: list[int] | None = None,
    time_limit_s: float = 120.0,
    request_timeout_s: float = 30.0,
    probe: Callable[[], Any] | None = None,
) -> LoadResult:
    """Send `total` requests from `concurrency` connections (connection i goes to
    ports[i % len(ports)]), after `warmup` unmeasured requests on each.
    `probe` is called right before and right after the measured requests."""
    lock = threading.Lock()
    next_index = [0]
    samples: list[Sample] = []
    errors: list[str] = []
    barrier = threading.Barrier(concurrency + 1)
    deadline = [0.0]
    go = threading.Event()

    def worker(slot: int) -> None:
        conn = _Connection(ports[slot % len(ports)], request_timeout_s)
        try:
            for w in range(warmup):
                try:
                    conn.send(make_request(-1 - (slot * warmup + w)))
                except Exception as exc:  # reported, never fatal
                    with lock:
                        errors.append(f"warm-up: {exc!r}")
            barrier.wait(timeout=time_limit_s)
            go.wait(time_limit_s)
            while True:
                with lock:
                    if next_index[0] >= total or time.monotonic() > deadline[0]:
                        return
                    index = next_index[0]
                    next_index[0] += 1
                try:
                    sample = conn.send(make_request(index))
                except Exception as exc:
                    with lock:
                        errors.append(repr(exc))
                    continue
                with lock:
                    samples.append(sample)
                    if sample.status >= 400 and len(errors) < 20:
                        errors.append(f"HTTP {sample.status}")
        except threading.BrokenBarrierError:
            with lock:
                errors.append("warm-up did not finish in time")
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    try:
        barrier.wait(timeout=time_limit_s)
    except threading.BrokenBarrierError:
        pass
    probe_before = probe() if probe else None
    cpu_before = procs.cpu_seconds(cpu_pids or [])
    started = time.monotonic()
    deadline[0] = started + time_limit_s
    go.set()
    for thread in threads:
        thread.join(time_limit_s + request_timeout_s + 5)
    wall = time.monotonic() - started
    cpu = procs.cpu_seconds(cpu_pids or []) - cpu_before
    probe_after = probe() if probe else None
    return LoadResult(samples, wall, cpu, errors, timed_out=next_index[0] < total, probe_before=probe_before, probe_after=probe_after)
