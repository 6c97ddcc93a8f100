"""A real HTTP server on loopback that speaks the OpenAI chat-completions wire
format, scripted per test: plain answers, tool calls, error statuses, slow or
malformed answers. Used by the tests, the local stack and the benchmarks.

A request with `"stream": true` gets the scripted completion as server-sent
`chat.completion.chunk` events (chunked transfer), a word at a time, with
`chunk_delay` seconds between events; tool-call arguments arrive in two
fragments, as real providers split them."""

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


def logged_request(handler: BaseHTTPRequestHandler, requests: list[dict[str, Any]]) -> Any:
    """The request's JSON (None if it is not JSON), appended to `requests` with its path and headers."""
    raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
    try:
        payload = json.loads(raw or b"null")
    except ValueError:
        payload = None
    requests.append({"path": handler.path, "headers": {k.lower(): v for k, v in handler.headers.items()}, "json": payload})  # list.append is atomic
    return payload


def embeddings_answer(payload: Any) -> dict[str, Any]:
    """An embeddings answer for each input: [its length, its index, 0.25] (the last item first, as providers may order them)."""
    inputs = payload.get("input") if isinstance(payload, dict) else None
    items = [inputs] if isinstance(inputs, str) else list(inputs or [])
    data = [{"object": "embedding", "index": i, "embedding": [float(len(item)), float(i), 0.25]} for i, item in enumerate(items)]
    return {"object": "list", "data": data[::-1], "model": (payload or {}).get("model"), "usage": {"prompt_tokens": 3 * len(items), "total_tokens": 3 * len(items)}}


@dataclass
class Scripted:
    status: int = 200
    body: Any = None
    raw: bytes | None = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    chunk_delay: float = 0.0
    # Faults: send the body one byte every `drip` seconds; or reset the
    # connection (TCP RST) instead of answering.
    drip: float = 0.0
    reset: bool = False
    # With drip: the status line and headers drip too, not only the body.
    drip_head: bool = False


def stream_chunks(body: dict[str, Any], *, include_usage: bool) -> list[dict[str, Any]]:
    """A chat.completion as the chunks a provider streaming it sends."""
    base = {"id": body.get("id", "chatcmpl-scripted"), "object": "chat.completion.chunk", "created": body.get("created", 0), "model": body.get("model")}
    choice = body["choices"][0]
    message = choice.get("message") or {}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    out = [chunk({"role": "assistant", "content": ""})]
    words = (message.get("content") or "").split(" ")
    out += [chunk({"content": word if i == 0 else " " + word}) for i, word in enumerate(words) if word or i]
    for i, call in enumerate(message.get("tool_calls") or []):
        arguments = call["function"]["arguments"]
        half = len(arguments) // 2
        out.append(chunk({"tool_calls": [{"index": i, "id": call["id"], "type": "function", "function": {"name": call["function"]["name"], "arguments": arguments[:half]}}]}))
        out.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": arguments[half:]}}]}))
    if choice.get("logprobs"):  # as providers send them: with the content they score (here all on one chunk)
        out[-1]["choices"][0]["logprobs"] = choice["logprobs"]
    out.append(chunk({}, choice.get("finish_reason") or "stop"))
    if include_usage and body.get("usage"):
        out.append({**base, "choices": [], "usage": body["usage"]})
    return out


class OpenAIServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.queue: collections.deque[Scripted] = collections.deque()
        self.requests: list[dict[str, Any]] = []
        self.default: Scripted | None = None
        # When each stream's last byte was written (monotonic clock).
        self.streams_finished: list[float] = []
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
                payload = logged_request(self, server.requests)
                with server._lock:
                    scripted = server.queue.popleft() if server.queue else server.default
                if self.path.rstrip("/").endswith("/embeddings"):
                    if scripted is None:
                        scripted = Scripted(body=embeddings_answer(payload))
                    self._send(scripted.status, json.dumps(scripted.body).encode(), scripted.headers)
                    return
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
                if isinstance(payload, dict) and payload.get("stream") and scripted.status == 200 and scripted.raw is None:
                    include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
                    try:
                        self._send_stream(stream_chunks(scripted.body, include_usage=include_usage), scripted.chunk_delay)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the client gave up mid-stream
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

            def _send_stream(self, chunks: list[dict[str, Any]], delay: float) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                events = [b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks] + [b"data: [DONE]\n\n"]
                for i, data in enumerate(events):
                    if i and delay:
                        time.sleep(delay)
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.write(b"0\r\n\r\n")
                with server._lock:
                    server.streams_finished.append(time.monotonic())

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
        chunk_delay: float = 0.0,
    ) -> None:
        self.queue.append(Scripted(status, body, raw, delay, headers or {}, chunk_delay=chunk_delay, drip=drip, reset=reset, drip_head=drip_head))

    def reset(self) -> None:
        with self._lock:
            self.queue.clear()
            self.requests.clear()
            self.streams_finished.clear()
            self.default = None


def _last_user(payload: Any) -> str:
    """The last user text of a request; anything malformed (the fuzz suite sends it) is ''."""
    messages = payload.get("messages") if isinstance(payload, dict) else None
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user" and isinstance(message.get("content"), str):
            return message["content"]
    return ""
