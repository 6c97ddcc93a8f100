"""moto's server in a process of its own (`python -m bench.moto PORT`), so
that the CPU it spends emulating DynamoDB, S3 and Secrets Manager is never
counted against the gateway process being measured.

moto's own server (werkzeug's development server) closes the connection after
every response, so each AWS call would pay a TCP connect and teardown that a
warm Lambda, which keeps its connection to DynamoDB alive, never pays. This
serves the same moto WSGI application over HTTP/1.1 keep-alive instead.

moto's deep copy of a whole table for every transaction and its Query that
sorts the whole table are patched as in the local stack
(smarter_local/moto_patches.py).
"""

from __future__ import annotations

import io
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from bench.procs import serve_until_parent_goes
from smarter_local import moto_patches

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


def make_server(port: int) -> ThreadingHTTPServer:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    moto_patches.apply()
    app = DomainDispatcherApplication(create_backend_app)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _body(self) -> bytes:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _handle(self) -> None:
            body = self._body()
            url = urlsplit(self.path)
            environ: dict[str, Any] = {
                "REQUEST_METHOD": self.command,
                "SCRIPT_NAME": "",
                "PATH_INFO": unquote(url.path),
                "QUERY_STRING": url.query,
                "RAW_URI": self.path,
                "REQUEST_URI": self.path,
                "SERVER_NAME": "127.0.0.1",
                "SERVER_PORT": str(self.server.server_address[1]),
                "SERVER_PROTOCOL": "HTTP/1.1",
                "REMOTE_ADDR": self.client_address[0],
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "wsgi.version": (1, 0),
                "wsgi.url_scheme": "http",
                "wsgi.input": io.BytesIO(body),
                "wsgi.errors": sys.stderr,
                "wsgi.multithread": True,
                "wsgi.multiprocess": False,
                "wsgi.run_once": False,
            }
            for name, value in self.headers.items():
                key = "HTTP_" + name.upper().replace("-", "_")
                if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                    environ[key] = f"{environ[key]},{value}" if key in environ else value
            status_line: list[str] = []
            headers: list[tuple[str, str]] = []

            def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                status_line[:] = [status]
                headers[:] = response_headers
                return lambda data: None

            result = app(environ, start_response)
            try:
                data = b"".join(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
            code, _, reason = status_line[0].partition(" ")
            out = [f"HTTP/1.1 {code} {reason}\r\n".encode("latin-1")]
            for name, value in headers:
                if name.lower() not in HOP_BY_HOP:
                    out.append(f"{name}: {value}\r\n".encode("latin-1"))
            out.append(f"Content-Length: {len(data)}\r\n\r\n".encode("latin-1"))
            if self.command != "HEAD":
                out.append(data)
            self.wfile.write(b"".join(out))  # one write: no Nagle wait between headers and body

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    return server


def main() -> int:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    return serve_until_parent_goes(make_server(int(sys.argv[1])))


if __name__ == "__main__":
    sys.exit(main())
