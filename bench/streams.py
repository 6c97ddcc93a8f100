"""Streamed requests, timed as a user of a chat UI feels them: time to the
first content chunk (TTFT) and to the end of the stream, on a keep-alive
connection, one request at a time. CPU of the gateway processes is read from
/proc around the measured requests, as bench.load does for buffered ones."""

from __future__ import annotations

import http.client
import re
import socket
import time
from dataclasses import dataclass
from typing import Any, Callable

from bench import procs
from bench.load import Request, summary

# The first chunk that carries text (a role-only chunk has "content":""); in
# the Responses API's events, a response.output_text.delta's "delta":"...".
CONTENT = re.compile(rb'"(?:content|delta)":\s*"[^"]')


@dataclass
class StreamSample:
    status: int
    ttft_ms: float | None
    total_ms: float
    content_chunks: int


class _Connection:
    def __init__(self, port: int, timeout: float = 60.0):
        self.port, self.timeout = port, timeout
        self.conn: http.client.HTTPConnection | None = None

    def send(self, request: Request) -> StreamSample:
        data = request.encoded()
        headers = {"Content-Type": "application/json", "Content-Length": str(len(data)), "Accept": "text/event-stream", **request.headers}
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            self.conn.connect()
            self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        started = time.perf_counter()
        first = None
        chunks = 0
        self.conn.request(request.method, request.path, body=data, headers=headers)
        response = self.conn.getresponse()
        while True:
            piece = response.read1(65536)
            if not piece:
                break
            found = len(CONTENT.findall(piece))
            if found and first is None:
                first = time.perf_counter()
            chunks += found
        total = (time.perf_counter() - started) * 1000
        if response.will_close:
            self.close()
        return StreamSample(response.status, (first - started) * 1000 if first else None, total, chunks)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def run(port: int, make: Callable[[int], Request], *, total: int, warmup: int, cpu_pids: list[int]) -> dict[str, Any]:
    conn = _Connection(port)
    errors: list[str] = []
    try:
        for i in range(warmup):
            conn.send(make(-1 - i))
        cpu_before = procs.cpu_seconds(cpu_pids)
        started = time.monotonic()
        samples = []
        for i in range(total):
            try:
                sample = conn.send(make(i))
            except Exception as exc:  # reported, never fatal
                errors.append(repr(exc))
                conn.close()
                continue
            samples.append(sample)
            if sample.status >= 400 or sample.ttft_ms is None:
                errors.append(f"HTTP {sample.status}, {sample.content_chunks} content chunks")
        wall = time.monotonic() - started
        cpu = procs.cpu_seconds(cpu_pids) - cpu_before
    finally:
        conn.close()
    ok = [s for s in samples if s.status < 400 and s.ttft_ms is not None]
    out: dict[str, Any] = {
        "requests": len(samples),
        "ok": len(ok),
        "errors": errors[:5],
        "wall_s": round(wall, 3),
        "ttft_ms": _rounded(summary([s.ttft_ms for s in ok])),
        "total_ms": _rounded(summary([s.total_ms for s in ok])),
        "content_chunks": round(sum(s.content_chunks for s in ok) / len(ok), 1) if ok else None,
    }
    if cpu_pids:
        out["cpu_ms_per_request"] = round(cpu * 1000 / len(samples), 3) if samples else None
    return out


def _rounded(values: dict[str, float | None]) -> dict[str, float | None]:
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in values.items()}
