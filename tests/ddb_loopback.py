"""A loopback DynamoDB in front of moto's server: one operation answered from a
script (throttling, conflicts, server errors as DynamoDB sends them), every
other call passed through to moto unchanged. Point botocore at it with
AWS_ENDPOINT_URL_DYNAMODB."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackDynamoDB:
    """Answers one DynamoDB operation from a script of (status, body) answers; every
    other call, and that operation once the script is used up, goes on to moto."""

    def __init__(self, moto_url: str, operation: str) -> None:
        self.script: list[tuple[int, dict]] = []
        self.received: list[tuple[dict[str, str], dict]] = []  # (headers, body) of each call of `operation`
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                target = self.headers.get("X-Amz-Target", "")
                if target.endswith(f".{operation}"):
                    server.received.append((dict(self.headers.items()), json.loads(body)))
                    if server.script:
                        status, answer = server.script.pop(0)
                        return self._send(status, json.dumps(answer).encode(), {"Content-Type": "application/x-amz-json-1.0"})
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                request = urllib.request.Request(moto_url + self.path, data=body, headers=headers, method="POST")
                try:
                    with urllib.request.urlopen(request, timeout=10) as upstream:
                        status, data, got = upstream.status, upstream.read(), upstream.headers
                except urllib.error.HTTPError as exc:
                    status, data, got = exc.code, exc.read(), exc.headers
                self._send(status, data, {k: v for k, v in got.items() if k.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date")})

            def _send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def in_front_of_moto(moto_url: str, monkeypatch, operation: str) -> Iterator[LoopbackDynamoDB]:
    """DynamoDB (only) behind the loopback server, through AWS_ENDPOINT_URL_DYNAMODB
    as botocore reads it."""
    from smarter.store import aws as store_aws

    server = LoopbackDynamoDB(moto_url, operation)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", server.url)
    store_aws.reset()
    try:
        yield server
    finally:
        server.stop()
        store_aws.reset()
