"""Outbound HTTP for plugins, safe to point at URLs a tenant wrote.

A plugin URL must not become a way into the VPC, the Lambda Runtime API or
the instance metadata service (SSRF). So every hop, the first request and
each redirect, goes through the operator's egress policy
(smarter.tenancy.egress):

1. the host must be one of the connection's allowHosts when it names any
   (a tenant can narrow egress, never widen it);
2. the name is resolved once, here, and every address is checked: anything
   that is not a public unicast address is refused unless the operator
   allows it, and the metadata addresses are refused even then;
3. the connection goes to the address that was checked, never to the name,
   so DNS cannot answer differently between the check and the connection
   (rebinding). TLS still verifies the certificate against the host name.

Credentials (the connection's auth header, cookies) go to the first origin
only: a redirect that changes scheme, host or port drops them.

One deadline holds for the whole call, redirects included: each read of the
body waits at most for the time left, and the container's watchdog
(smarter.deadline) shuts the call's sockets when the time is up, which ends
whatever phase is running (connect, TLS, sending, the status line and headers
that http.client reads with a per-read timeout only). A timed-out call thus
returns at its timeout and frees its worker thread. The body is cut at a byte
limit, so a slow or endless upstream costs at most the timeout and the limit.
urllib3 is the client: it ships with botocore in every Lambda Python runtime
and lets us pick the address we connect to.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence
from urllib.parse import urljoin

import urllib3
from urllib3.util import parse_url

from smarter.deadline import pool_classes, watchdog
from smarter.tenancy import egress
from smarter.tenancy.egress import is_ip, normalize_host

MAX_REDIRECTS = 5
READ_CHUNK = 64 * 1024
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
# Never carried to another origin, whatever the connection's own credential header is called.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


class BlockedAddress(Exception):
    """The URL leads to an address a plugin may not reach."""


class FetchError(Exception):
    """The upstream could not be reached or did not answer in time."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    truncated: bool
    url: str
    redirects: list[str] = field(default_factory=list)


def check_host(host: str, port: int, allow_hosts: Sequence[str] = ()) -> str:
    """Resolve and check a host against the egress policy; the one address to connect to."""
    try:
        return egress.checked_address(host, port, allow_hosts)
    except egress.EgressRefused as exc:
        raise BlockedAddress(str(exc)) from None
    except egress.ResolveFailed as exc:
        raise FetchError(str(exc)) from None


def origin(url: str) -> tuple[str, str, int]:
    parts = parse_url(url)
    scheme = (parts.scheme or "").lower()
    return scheme, normalize_host(parts.host or ""), parts.port or (443 if scheme == "https" else 80)


@dataclass
class Request:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    timeout: float
    max_bytes: int
    allow_hosts: tuple[str, ...] = ()  # the connection's own list: narrows, never widens
    credential_headers: tuple[str, ...] = ()  # header names that carry the connection's secret


class _Guard:
    """The sockets of one call, shut down together when its deadline passes.
    A duplicate of each socket is held, because TLS detaches the first socket
    object while it handshakes; shutdown on the duplicate ends the shared connection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self.fired = False

    def hold(self, sock: socket.socket) -> None:
        dup = sock.dup()
        with self._lock:
            self._socks.append(dup)
            if self.fired:
                _shutdown(dup)

    def cut(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._socks:
                _shutdown(sock)

    def release(self) -> None:
        with self._lock:
            for sock in self._socks:
                sock.close()
            self._socks.clear()


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Guarded:
    """A urllib3 connection that hands its socket to the call's guard as soon as it is connected."""

    def __init__(self, *args: Any, guard: _Guard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard = guard

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        self._guard.hold(sock)
        return sock


_POOLS = pool_classes(_Guarded)


def fetch(request: Request) -> Response:
    """Send one request, following redirects; every hop is resolved and checked
    first, and all of them together end within the request's timeout."""
    deadline = time.monotonic() + request.timeout
    guard = _Guard()
    token = watchdog.watch(guard.cut, deadline)
    try:
        return _follow(request, deadline, guard)
    finally:
        watchdog.unwatch(token)
        guard.release()


def _follow(request: Request, deadline: float, guard: _Guard) -> Response:
    method, url, body = request.method.upper(), request.url, request.body
    headers = dict(request.headers)
    first_origin = origin(url)
    secret_headers = CREDENTIAL_HEADERS | {h.lower() for h in request.credential_headers}
    redirects: list[str] = []
    for _ in range(MAX_REDIRECTS + 1):
        response = _send(method, url, headers, body, deadline, guard, request)
        location = response.headers.get("location")
        if response.status not in REDIRECT_STATUSES or not location:
            response.redirects = redirects
            return response
        url = urljoin(url, location)
        redirects.append(url)
        if response.status == 303 or (response.status in (301, 302) and method not in ("GET", "HEAD")):
            method, body = "GET", None
            headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        if origin(url) != first_origin:
            # Credentials were meant for the first origin only: another host, port or scheme gets none.
            headers = {k: v for k, v in headers.items() if k.lower() not in secret_headers}
    raise FetchError(f"more than {MAX_REDIRECTS} redirects")


def _remaining(deadline: float, url: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _timed_out(url)
    return left


def _timed_out(url: str) -> FetchError:
    return FetchError(f"no answer from {url} within the timeout")


def _send(method: str, url: str, headers: dict[str, str], body: bytes | None, deadline: float, guard: _Guard, request: Request) -> Response:
    parts = parse_url(url)
    scheme = (parts.scheme or "").lower()
    if scheme not in ("http", "https"):
        raise BlockedAddress(f"only http and https URLs may be called, got {url!r}")
    if parts.auth:
        raise BlockedAddress("credentials in the URL are not allowed; use the connection's secret")
    host = normalize_host(parts.host or "")
    if not host:
        raise BlockedAddress(f"the URL {url!r} has no host")
    port = parts.port or (443 if scheme == "https" else 80)
    address = check_host(host, port, request.allow_hosts)

    default_port = port == (443 if scheme == "https" else 80)
    host_header = (f"[{host}]" if ":" in host else host) + ("" if default_port else f":{port}")
    send_headers = {**headers, "Host": host_header, "Accept-Encoding": "identity"}
    timeout = urllib3.Timeout(connect=min(_remaining(deadline, url), 10.0), read=_remaining(deadline, url))
    if scheme == "https":
        sni = None if is_ip(host) else host
        pool: urllib3.HTTPConnectionPool = _POOLS["https"](
            address, port, timeout=timeout, maxsize=1, retries=False, cert_reqs="CERT_REQUIRED", assert_hostname=host, server_hostname=sni, guard=guard
        )
    else:
        pool = _POOLS["http"](address, port, timeout=timeout, maxsize=1, retries=False, guard=guard)
    try:
        try:
            raw = pool.urlopen(
                method,
                parts.request_uri,
                body=body,
                headers=send_headers,
                retries=False,
                redirect=False,
                assert_same_host=False,
                preload_content=False,
                decode_content=False,
                release_conn=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise _failure(exc, url, guard) from None
        try:
            data, truncated = _read_limited(raw, deadline, guard, request.max_bytes, url)
        finally:
            raw.close()  # never drain what is left: the point of a limit is not to read it
        return Response(raw.status, {k.lower(): v for k, v in raw.headers.items()}, data, truncated, url)
    finally:
        pool.close()


def _failure(exc: urllib3.exceptions.HTTPError, url: str, guard: _Guard) -> FetchError:
    """What a failed connect, TLS handshake, send or header read tells the plugin."""
    if guard.fired:  # the watchdog shut the socket: whatever broke, the time was up
        return _timed_out(url)
    if isinstance(exc, urllib3.exceptions.NewConnectionError):  # a subclass of TimeoutError, but it means refused
        return FetchError(f"cannot connect to {url}")
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return _timed_out(url)
    if isinstance(exc, urllib3.exceptions.SSLError):
        return FetchError(f"TLS with {url} failed: {_reason(exc)}")
    return FetchError(f"cannot reach {url}: {exc.__class__.__name__}")


def _read_limited(raw, deadline: float, guard: _Guard, max_bytes: int, url: str) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    # read1 returns what has arrived instead of waiting for a full chunk (urllib3 >= 2.3;
    # older urllib3, as some Lambda runtimes bundle with botocore, exposes http.client's).
    read1 = getattr(raw, "read1", None) or raw._fp.read1
    while True:
        left = _remaining(deadline, url)
        if sock is not None:
            sock.settimeout(left)  # one deadline for the whole body, however slowly it trickles
        try:
            chunk = read1(min(READ_CHUNK, max_bytes + 1 - size))
        except (urllib3.exceptions.TimeoutError, socket.timeout, TimeoutError):
            raise _timed_out(url) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if guard.fired:
                raise _timed_out(url) from None
            raise FetchError(f"the connection to {url} broke: {exc.__class__.__name__}") from None
        if not chunk:
            if guard.fired:  # a socket shut at the deadline reads as the end: the body is not whole
                raise _timed_out(url)
            return b"".join(chunks), False
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            return b"".join(chunks)[:max_bytes], True


def _reason(exc: Exception) -> str:
    text = str(exc)
    for known in ("certificate verify failed", "hostname mismatch", "doesn't match", "wrong version number"):
        if known in text:
            return known
    return exc.__class__.__name__

