"""The upstream both gateways call: an OpenAI-format server on loopback that
answers at once. Run as its own process (`python -m bench.upstream PORT`) so
its CPU is never counted against a gateway.

It is stateless, so any number of concurrent conversations can share it:
a request whose last message is a user message containing TOOL_MARKER and
that offers tools gets a tool call for the first tool; anything else gets a
plain answer. GET /bench/stats reports requests and request bytes seen.

A request with `"stream": true` gets STREAM_WORDS content chunks as server-sent
events, STREAM_GAP_S apart (a model producing about 100 tokens a second),
then the finish chunk, usage and `data: [DONE]`.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from smarter_local.openai_server import completion, tool_calls

TOOL_MARKER = "(use a tool)"
STREAM_WORDS = 24
STREAM_GAP_S = 0.01


def answer(payload: Any) -> dict[str, Any]:
    messages = (payload or {}).get("messages") or []
    last = messages[-1] if messages else {}
    tools = (payload or {}).get("tools") or []
    content = last.get("content") if isinstance(last.get("content"), str) else ""
    if tools and last.get("role") == "user" and TOOL_MARKER in content:
        function = tools[0]["function"]
        properties = (function.get("parameters") or {}).get("properties") or {}
        arguments = {name: (spec.get("enum") or ["x"])[0] for name, spec in properties.items()}
        return tool_calls((function["name"], arguments))
    if last.get("role") == "tool":
        return completion(f"The tool said: {str(last.get('content'))[:200]}")
    return completion(f"You said: {content[:200]}")


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.bytes_in = 0

    def add(self, size: int) -> None:
        with self.lock:
            self.requests += 1
            self.bytes_in += size

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return {"requests": self.requests, "bytes_in": self.bytes_in}


def make_server(port: int = 0) -> ThreadingHTTPServer:
    stats = Stats()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if self.path == "/bench/stats":
                self._send(200, json.dumps(stats.snapshot()).encode())
            elif self.path.rstrip("/").endswith("/models"):
                self._send(200, json.dumps({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]}).encode())
            else:
                self._send(404, b'{"error": {"message": "not found"}}')

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, b'{"error": {"message": "not found"}}')
                return
            stats.add(len(raw))
            try:
                payload = json.loads(raw or b"null")
            except ValueError:
                self._send(400, b'{"error": {"message": "not JSON"}}')
                return
            if isinstance(payload, dict) and payload.get("stream"):
                self._stream(payload)
                return
            self._send(200, json.dumps(answer(payload)).encode())

        def _stream(self, payload: dict[str, Any]) -> None:
            base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": int(time.time()), "model": payload.get("model")}

            def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
                chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
                return b"data: " + json.dumps(chunk).encode() + b"\n\n"

            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            events = [event({"role": "assistant", "content": ""})]
            events += [event({"content": f"tok{i} "}) for i in range(STREAM_WORDS)]
            events.append(event({}, "stop"))
            usage = {"prompt_tokens": 12, "completion_tokens": STREAM_WORDS, "total_tokens": 12 + STREAM_WORDS}
            events.append(b"data: " + json.dumps({**base, "choices": [], "usage": usage}).encode() + b"\n\n")
            events.append(b"data: [DONE]\n\n")
            for i, data in enumerate(events):
                if 1 < i <= STREAM_WORDS + 1:
                    time.sleep(STREAM_GAP_S)  # between content chunks, as a model produces tokens
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.write(b"0\r\n\r\n")

        def setup(self) -> None:
            super().setup()
            # Answer at once: no Nagle delay between small writes.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _send(self, status: int, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            # Headers and body in one write, so the client never waits on a delayed ACK.
            self._headers_buffer.extend([b"\r\n", data])
            self.flush_headers()

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    return server


def main() -> int:
    from bench.procs import serve_until_parent_goes

    return serve_until_parent_goes(make_server(int(sys.argv[1]) if len(sys.argv) > 1 else 0))


if __name__ == "__main__":
    sys.exit(main())
