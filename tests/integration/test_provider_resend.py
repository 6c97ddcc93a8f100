"""A provider POST is sent again only when no byte of its answer was read.

Once the provider has started answering it has done (and billed) the work, so
a resend would be paid twice and counted once. Retries stay for what is safe
to resend: a 429 or 5xx status (the provider said it did not do it) and a
connection that failed before any byte of the answer arrived.

The provider is a raw socket server on 127.0.0.1 that counts the POSTs it
receives and answers each one as its script says, down to where it breaks
the connection; the requests go through the prompt API."""

from __future__ import annotations

import json
import socket
import struct
import threading

import pytest
from support import prompt

from smarter_local.openai_server import completion

ANSWER = json.dumps(completion("the whole answer")).encode()


def _head(status: int, length: int) -> bytes:
    reason = {200: "OK", 503: "Service Unavailable"}[status]
    return f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n".encode()


def _reset(conn: socket.socket) -> None:
    """Close with a TCP RST instead of a FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def good(conn):
    conn.sendall(_head(200, len(ANSWER)) + ANSWER)


def reset_mid_body(conn):
    conn.sendall(_head(200, len(ANSWER)) + ANSWER[: len(ANSWER) // 2])
    _reset(conn)


def truncated(conn):
    conn.sendall(_head(200, len(ANSWER)) + ANSWER[: len(ANSWER) // 2])
    conn.close()


def reset_mid_headers(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: appl")
    _reset(conn)


def reset_before_answering(conn):
    _reset(conn)


def close_before_answering(conn):
    conn.close()


def overloaded(conn):
    body = b'{"error": {"message": "overloaded"}}'
    conn.sendall(_head(503, len(body)) + body)


class CountingProvider:
    """Counts POSTs; the n-th is answered by script[n] (then `good`)."""

    def __init__(self, script):
        self.script = list(script)
        self.posts = 0
        self._lock = threading.Lock()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        conn.settimeout(10)
        buffered = b""
        try:
            while True:  # keep-alive: one connection may carry several requests
                while b"\r\n\r\n" not in buffered:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffered += chunk
                head, buffered = buffered.split(b"\r\n\r\n", 1)
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
                while len(buffered) < length:
                    buffered += conn.recv(65536)
                buffered = buffered[length:]
                with self._lock:
                    behaviour = self.script[self.posts] if self.posts < len(self.script) else good
                    self.posts += head.startswith(b"POST ")
                behaviour(conn)
                if behaviour is not good and behaviour is not overloaded:
                    return
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def close(self):
        self.sock.close()


@pytest.fixture
def provider(tenant, monkeypatch):
    servers = []

    def start(*script) -> CountingProvider:
        server = CountingProvider(script)
        servers.append(server)
        monkeypatch.setenv("SMARTER_PROVIDER_OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("SMARTER_PROVIDER_MAX_RETRIES", "2")
        from smarter import config
        from smarter.llm import providers

        config.settings.cache_clear()
        providers.reset()
        return server

    yield start
    for server in servers:
        server.close()


def test_an_answer_reset_mid_body_is_not_sent_again(tenant, provider):
    server = provider(reset_mid_body)
    result = prompt(tenant, "Hello")
    assert result.status == 502, result.body
    assert "broke off its answer" in result.body["error"]["message"]
    assert server.posts == 1


def test_a_truncated_answer_is_not_sent_again(tenant, provider):
    server = provider(truncated)
    result = prompt(tenant, "Hello")
    assert result.status == 502, result.body
    assert server.posts == 1


def test_an_answer_reset_inside_its_headers_is_not_sent_again(tenant, provider):
    server = provider(reset_mid_headers)
    result = prompt(tenant, "Hello")
    assert result.status == 502, result.body
    assert server.posts == 1


def test_a_reset_before_any_answer_byte_is_retried(tenant, provider):
    server = provider(reset_before_answering)
    result = prompt(tenant, "Hello")
    assert result.status == 200, result.body
    assert result.body["data"]["chat_completion"]["choices"][0]["message"]["content"] == "the whole answer"
    assert server.posts == 2


def test_a_connection_closed_before_any_answer_byte_is_retried(tenant, provider):
    server = provider(close_before_answering, close_before_answering)
    result = prompt(tenant, "Hello")
    assert result.status == 200, result.body
    assert server.posts == 3  # the try and SMARTER_PROVIDER_MAX_RETRIES=2


def test_a_5xx_answer_is_still_retried(tenant, provider):
    server = provider(overloaded)
    result = prompt(tenant, "Hello")
    assert result.status == 200, result.body
    assert server.posts == 2
