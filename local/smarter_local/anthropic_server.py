"""A real HTTP server on loopback that speaks Anthropic's Messages wire format,
scripted per test like openai_server: it logs each request (path, headers,
JSON) and answers the next scripted message or error. A request with
`"stream": true` gets the message as Anthropic's named events
(message_start, ping, content_block_start/delta/stop with text and
input_json deltas, message_delta with usage, message_stop), chunked."""

from __future__ import annotations

import collections
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .openai_server import logged_request


def message(*blocks: dict[str, Any], text: str | None = None, stop_reason: str = "end_turn", model: str = "claude-test", usage: tuple[int, int] = (11, 7)) -> dict[str, Any]:
    content = ([{"type": "text", "text": text}] if text is not None else []) + list(blocks)
    return {"id": "msg_scripted", "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": stop_reason, "stop_sequence": None, "usage": {"input_tokens": usage[0], "output_tokens": usage[1]}}


def tool_use(name: str, arguments: dict[str, Any], id_: str = "toolu_01") -> dict[str, Any]:
    return {"type": "tool_use", "id": id_, "name": name, "input": arguments}


def error(status: int, message: str, type_: str = "invalid_request_error") -> dict[str, Any]:
    return {"type": "error", "error": {"type": type_, "message": message}}


def stream_events(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """A message as the events Anthropic streams it with."""
    start = {**body, "content": [], "stop_reason": None, "usage": {"input_tokens": body["usage"]["input_tokens"], "output_tokens": 1}}
    out: list[tuple[str, dict[str, Any]]] = [("message_start", {"type": "message_start", "message": start}), ("ping", {"type": "ping"})]
    for index, block in enumerate(body["content"]):
        if block["type"] == "text":
            out.append(("content_block_start", {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}))
            for i, word in enumerate(block["text"].split(" ")):
                out.append(("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": word if i == 0 else " " + word}}))
        else:
            out.append(("content_block_start", {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}}))
            partial = json.dumps(block["input"])
            half = len(partial) // 2
            for piece in (partial[:half], partial[half:]):
                out.append(("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": piece}}))
        out.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    out.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": body["stop_reason"], "stop_sequence": None}, "usage": {"output_tokens": body["usage"]["output_tokens"]}}))
    out.append(("message_stop", {"type": "message_stop"}))
    return out


@dataclass
class Scripted:
    status: int = 200
    body: Any = None
    # Mid-stream: an `error` event after this many events (None: no error).
    fail_after: int | None = None


class AnthropicServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.queue: collections.deque[Scripted] = collections.deque()
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                payload = logged_request(self, server.requests)
                with server._lock:
                    scripted = server.queue.popleft() if server.queue else Scripted(body=message(text="Hello from the scripted Anthropic provider."))
                if not self.path.rstrip("/").endswith("/messages"):
                    return self._send(404, error(404, f"no route {self.path}", "not_found_error"))
                if scripted.status == 200 and isinstance(payload, dict) and payload.get("stream"):
                    return self._stream(stream_events(scripted.body), scripted.fail_after)
                self._send(scripted.status, scripted.body)

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, events: list[tuple[str, dict[str, Any]]], fail_after: int | None) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                if fail_after is not None:
                    events = events[:fail_after] + [("error", error(529, "Overloaded", "overloaded_error"))]
                for name, data in events:
                    chunk = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://{host}:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> AnthropicServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def enqueue(self, *, status: int = 200, body: Any = None, fail_after: int | None = None) -> None:
        self.queue.append(Scripted(status, body, fail_after))

    def reset(self) -> None:
        with self._lock:
            self.queue.clear()
            self.requests.clear()
