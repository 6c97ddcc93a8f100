"""A real HTTP server on loopback that speaks the OpenAI chat-completions wire
format, scripted per test: plain answers, tool calls, error statuses, slow or
malformed answers. Used by the tests, the local stack and the benchmarks."""

from __future__ import annotations

import collections
import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def completion(content: str = "Hello from the scripted provider.", *, model: str = "gpt-4o-mini", usage: tuple[int, int] = (12, 8)) -> dict[str, Any]:
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
    }


def tool_calls(*calls: tuple[str, dict[str, Any]], model: str = "gpt-4o-mini") -> dict[str, Any]:
    """A completion asking for one or more (parallel) tool calls."""
    body = completion(model=model)
    body["choices"][0]["message"] = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": f"call_{i}_{name}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            for i, (name, args) in enumerate(calls)
        ],
    }
    body["choices"][0]["finish_reason"] = "tool_calls"
    return body


def error(status: int, message: str, type_: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": str(status)}}


@dataclass
class Scripted:
    status: int = 200
    body: Any = None
    raw: bytes | None = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    # Faults: send the body one byte every `drip` seconds; or reset the
    # connection (TCP RST) instead of answering.
    drip: float = 0.0
    reset: bool = False
    # With drip: the status line and headers drip too, not only the body.
    drip_head: bool = False


class OpenAIServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.queue: collections.deque[Scripted] = collections.deque()
        self.requests: list[dict[str, Any]] = []
        self.default: Scripted | None = None
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; without TCP_NODELAY
            # the body waits ~40 ms for the client's delayed ACK.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, json.dumps({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]}).encode())
                else:
                    self._send(404, json.dumps(error(404, "not found")).encode())

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    payload = json.loads(raw or b"null")
                except ValueError:
                    payload = None
                with server._lock:
                    server.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "json": payload})
                    scripted = server.queue.popleft() if server.queue else server.default
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, json.dumps(error(404, f"no route {self.path}")).encode())
                    return
                if scripted is None:
                    scripted = Scripted(body=completion(f"You said: {_last_user(payload)}"))
                if scripted.delay:
                    time.sleep(scripted.delay)
                if scripted.reset:
                    # SO_LINGER with a zero timeout: close() sends RST, not FIN.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return
                data = scripted.raw if scripted.raw is not None else json.dumps(scripted.body).encode()
                try:
                    if scripted.drip_head:
                        self._drip_all(scripted.status, data, scripted.headers, scripted.drip)
                    else:
                        self._send(scripted.status, data, scripted.headers, drip=scripted.drip)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    self.close_connection = True  # the client gave up (a timeout test)

            def _drip_all(self, status: int, data: bytes, headers: dict[str, str], drip: float) -> None:
                head = f"HTTP/1.1 {status} Scripted\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
                raw = head.encode() + data
                for i in range(len(raw)):
                    self.wfile.write(raw[i : i + 1])
                    time.sleep(drip)

            def _send(self, status: int, data: bytes, headers: dict[str, str] | None = None, *, drip: float = 0.0) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                if not drip:
                    self.wfile.write(data)
                    return
                self.wfile.flush()
                for i in range(len(data)):
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()
                    time.sleep(drip)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://{host}:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> "OpenAIServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def enqueue(
        self,
        *,
        status: int = 200,
        body: Any = None,
        raw: bytes | None = None,
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
        drip: float = 0.0,
        reset: bool = False,
        drip_head: bool = False,
    ) -> None:
        self.queue.append(Scripted(status, body, raw, delay, headers or {}, drip, reset, drip_head))

    def reset(self) -> None:
        with self._lock:
            self.queue.clear()
            self.requests.clear()
            self.default = None


def _last_user(payload: Any) -> str:
    for message in reversed((payload or {}).get("messages") or []):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return message["content"]
    return ""
