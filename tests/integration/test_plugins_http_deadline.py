"""safe_http holds every phase of a plugin call to its one timeout: the TCP
connect, the TLS handshake, waiting for the status line and headers, and the
body. Each upstream here is a raw socket server on 127.0.0.1 that sends its
bytes as slowly as a hostile API could (a byte at a time), so no single read
ever waits long enough for a per-read timeout to fire. A timed-out call must
also give its thread back: the tool pool has 8.

Every server stops dripping when the test ends, so a regression fails an
assertion instead of hanging the run."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import wait

import pytest

from plugin_fixtures import loopback_only  # noqa: F401 (fixture)
from smarter_plugins import safe_http

pytestmark = pytest.mark.usefixtures("loopback_only")

HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Padding: " + b"p" * 60 + b"\r\nContent-Length: 2\r\n\r\nok"


class DripServer:
    """A TCP server on loopback; each connection runs `serve(conn, stop)` in its own thread."""

    def __init__(self, serve):
        self.stop = threading.Event()
        self.connections = 0
        self._serve = serve
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn):
        try:
            conn.settimeout(60)
            self._serve(conn, self.stop)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stop.set()
        self.sock.close()


@pytest.fixture
def drip_server():
    servers: list[DripServer] = []

    def start(serve) -> DripServer:
        server = DripServer(serve)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def _read_request(conn) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk


def slow_headers(conn, stop, every: float = 0.2):
    """The request is read, then the status line and headers come one byte at a time."""
    _read_request(conn)
    for byte in HEADERS:
        if stop.wait(every):
            return
        conn.sendall(bytes([byte]))


def slow_body(conn, stop):
    """Headers at once, then a body without a length, a byte at a time, for ever."""
    _read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
    while not stop.wait(0.2):
        conn.sendall(b"x")


def hang(conn, stop):
    """Accepts the connection and never sends a byte (nor reads one)."""
    stop.wait(60)


def slow_tls(conn, stop):
    """Answers a ClientHello with a TLS record header that promises 16 KiB, then drips it."""
    conn.recv(4096)
    conn.sendall(b"\x16\x03\x03\x40\x00")
    while not stop.wait(0.2):
        conn.sendall(b"\x00")


def _request(url: str, timeout: float) -> safe_http.Request:
    return safe_http.Request(method="GET", url=url, headers={}, body=None, timeout=timeout, max_bytes=1 << 20, allow_hosts=("127.0.0.1",))


def _timed_fetch(url: str, timeout: float) -> tuple[float, Exception | None]:
    started = time.monotonic()
    try:
        safe_http.fetch(_request(url, timeout))
        error = None
    except (safe_http.FetchError, safe_http.BlockedAddress) as exc:
        error = exc
    return time.monotonic() - started, error


@pytest.fixture(autouse=True)
def allow_loopback(monkeypatch):
    from smarter import config

    monkeypatch.setenv("SMARTER_EGRESS_ALLOW", "127.0.0.1")
    config.settings.cache_clear()
    yield
    config.settings.cache_clear()


@pytest.mark.parametrize(
    ("serve", "scheme"),
    [(slow_headers, "http"), (slow_body, "http"), (hang, "http"), (slow_tls, "https")],
    ids=["headers_a_byte_at_a_time", "body_dripping_without_end", "accepts_and_says_nothing", "tls_handshake_a_byte_at_a_time"],
)
def test_a_slow_phase_ends_within_the_timeout(drip_server, serve, scheme):
    server = drip_server(serve)
    elapsed, error = _timed_fetch(f"{scheme}://127.0.0.1:{server.port}/", timeout=1.0)
    assert isinstance(error, safe_http.FetchError)
    assert "within the timeout" in str(error)
    assert elapsed < 1.6


def test_a_connect_that_is_never_accepted_ends_within_the_timeout():
    # A listener whose accept queue is full: the kernel drops further SYNs, so connect() waits.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.1)
        elapsed, error = _timed_fetch(f"http://127.0.0.1:{port}/", timeout=1.0)
        assert isinstance(error, safe_http.FetchError)
        assert elapsed < 1.6
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_a_slow_upstream_does_not_hold_the_deadline_over_a_redirect(drip_server):
    """One deadline for the whole call: a redirect does not start a new one."""
    slow = drip_server(slow_headers)

    def redirect(conn, stop):
        _read_request(conn)
        time.sleep(0.6)
        conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{slow.port}/\r\nContent-Length: 0\r\n\r\n".encode())

    first = drip_server(redirect)
    elapsed, error = _timed_fetch(f"http://127.0.0.1:{first.port}/", timeout=1.0)
    assert "within the timeout" in str(error)
    assert elapsed < 1.6


def test_timed_out_calls_give_their_threads_back_to_the_tool_pool(drip_server):
    """Three waves of 8 slow calls fill the 8-thread tool pool; each ends at its
    timeout, so a quick call queued behind them runs after about three timeouts."""
    from smarter.llm import chat

    slow = drip_server(slow_headers)

    def quick(conn, stop):
        _read_request(conn)
        conn.sendall(HEADERS)

    fast = drip_server(quick)
    workers = chat._pool._max_workers
    started = time.monotonic()
    slow_calls = [chat._pool.submit(_timed_fetch, f"http://127.0.0.1:{slow.port}/", 1.0) for _ in range(3 * workers)]
    quick_call = chat._pool.submit(_timed_fetch, f"http://127.0.0.1:{fast.port}/", 1.0)
    done, _ = wait([*slow_calls, quick_call], timeout=6.0)
    assert quick_call in done, "the quick call never got a thread: timed-out calls still hold the pool"
    assert len(done) == len(slow_calls) + 1
    assert all("within the timeout" in str(call.result()[1]) for call in slow_calls)
    assert all(call.result()[0] < 1.6 for call in slow_calls)
    elapsed, error = quick_call.result()
    assert error is None
    assert time.monotonic() - started < 4.5
