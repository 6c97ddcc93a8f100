"""safe_http over TLS: the connection goes to the checked IP while the
certificate is verified for the host name, with a CA made for the test and
an HTTPS server on 127.0.0.1."""

from __future__ import annotations

import datetime
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from smarter.tenancy import egress
from plugin_fixtures import loopback_only  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("loopback_only")


def _cert_files(tmp_path, names: list[str]):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smarter test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return str(ca_file), str(cert_file), str(key_file)


@pytest.fixture
def https_server(tmp_path, monkeypatch):
    def start(names: list[str]):
        ca_file, cert_file, key_file = _cert_files(tmp_path, names)
        monkeypatch.setenv("SSL_CERT_FILE", ca_file)  # the client's default trust store, for this test only
        seen: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                seen.append({"host": self.headers.get("Host"), "sni": getattr(self.connection, "server_hostname", None)})
                body = b'{"secure": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        sni: list[str | None] = []
        context.sni_callback = lambda sock, name, ctx: sni.append(name)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1], seen, sni

    servers: list[ThreadingHTTPServer] = []
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _fetch(url: str, allow: tuple[str, ...]):
    from smarter_plugins import safe_http

    return safe_http.fetch(safe_http.Request("GET", url, {}, None, timeout=5, max_bytes=1024, allow_hosts=allow))


def test_https_connects_to_the_checked_ip_and_verifies_the_certificate_for_the_name(https_server, monkeypatch):
    port, seen, sni = https_server(["catalogue.test"])
    monkeypatch.setattr(egress, "resolve", lambda host, p: ["127.0.0.1"] if host == "catalogue.test" else [])
    response = _fetch(f"https://catalogue.test:{port}/courses", ("catalogue.test",))
    assert response.status == 200
    assert response.body == b'{"secure": true}'
    assert seen[-1]["host"] == f"catalogue.test:{port}"
    assert sni[-1] == "catalogue.test"


def test_a_certificate_for_another_name_is_refused(https_server, monkeypatch):
    from smarter_plugins import safe_http

    port, seen, _ = https_server(["someone-else.test"])
    monkeypatch.setattr(egress, "resolve", lambda host, p: ["127.0.0.1"])
    with pytest.raises(safe_http.FetchError, match="TLS"):
        _fetch(f"https://catalogue.test:{port}/courses", ("catalogue.test",))
    assert seen == []


def test_an_untrusted_certificate_is_refused(https_server, monkeypatch, tmp_path):
    from smarter_plugins import safe_http

    port, seen, _ = https_server(["catalogue.test"])
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "empty.pem"))
    (tmp_path / "empty.pem").write_text("")
    monkeypatch.setattr(egress, "resolve", lambda host, p: ["127.0.0.1"])
    with pytest.raises(safe_http.FetchError, match="TLS"):
        _fetch(f"https://catalogue.test:{port}/courses", ("catalogue.test",))


def test_a_refused_connection_is_reported_as_such(monkeypatch):
    import socket

    from smarter_plugins import safe_http

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens here
    with pytest.raises(safe_http.FetchError, match="cannot connect"):
        _fetch(f"http://127.0.0.1:{port}/", ("127.0.0.1",))


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1/", "http://user:pw@127.0.0.1/", "http:///nohost"])
def test_only_plain_http_urls_with_a_host_are_called(url):
    from smarter_plugins import safe_http

    with pytest.raises((safe_http.BlockedAddress, safe_http.FetchError)):
        _fetch(url, ("127.0.0.1",))
