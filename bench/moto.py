"""moto's server in a process of its own (`python -m bench.moto PORT`), so
that the CPU it spends emulating DynamoDB, S3 and Secrets Manager is never
counted against the gateway process being measured.

moto's own server (werkzeug's development server) closes the connection after
every response, so each AWS call would pay a TCP connect and teardown that a
warm Lambda, which keeps its connection to DynamoDB alive, never pays. This
serves the same moto WSGI application over HTTP/1.1 keep-alive instead.

moto also backs up a whole table for every transaction: see fast_transactions.

moto also answers a Query by sorting every item of the table, so its time
grows with the table; DynamoDB reads only the queried partition. Sessions
grow the table in every run, so a base-table Query is answered here from
its partition alone (see partition_queries).
"""

from __future__ import annotations

import io
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from bench.procs import serve_until_parent_goes

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


def partition_queries() -> None:
    """Answer a base-table Query from its partition, not a sort of the whole
    table: same results, at a cost that does not grow with other sessions."""
    import inspect

    from moto.dynamodb.models.table import Table

    local = threading.local()
    all_items, query = Table.all_items, Table.query
    signature = inspect.signature(query)

    def partition_items(self: Table) -> list:
        wanted = getattr(local, "partition", None)
        if wanted is None or wanted[0] is not self or not self.range_key_attr:
            return all_items(self)
        return sorted(self.items.get(wanted[1], {}).values(), key=lambda item: item.range_key)

    def partition_query(self: Table, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        hash_key = bound.arguments.get("hash_key")
        if bound.arguments.get("index_name") is None and hash_key is not None:
            local.partition = (self, hash_key)
        try:
            return query(self, *args, **kwargs)
        finally:
            local.partition = None

    Table.all_items = partition_items
    Table.query = partition_query


def fast_transactions() -> None:
    """moto backs up every table a TransactWriteItems touches with a deep copy of
    the whole table, so its time grows with the table (the usage table gains a
    hold per limited request); DynamoDB does nothing of the kind. Here only the
    items the transaction names are saved, and restored if it is cancelled."""
    import copy
    import types

    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    real_deepcopy = copy.deepcopy
    models.copy = types.SimpleNamespace(deepcopy=lambda x, *a: x if isinstance(x, Table) else real_deepcopy(x, *a))
    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        saved = []
        for entry in transact_items:
            op_type, op = next(iter(entry.items()))
            table = self.get_table(op["TableName"])
            if op_type == "Put":
                key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                if table.range_key_attr:
                    key[table.range_key_attr] = op["Item"][table.range_key_attr]
            else:
                key = op["Key"]
            current = self.get_item(op["TableName"], key)
            saved.append((op["TableName"], key, real_deepcopy(current.to_json()["Attributes"]) if current else None))
        try:
            return original(self, transact_items)
        except Exception:
            for table_name, key, attributes in saved:
                if attributes is None:
                    if self.get_item(table_name, key) is not None:
                        self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, attributes)
            raise

    models.DynamoDBBackend.transact_write_items = transact_write_items


def make_server(port: int) -> ThreadingHTTPServer:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    partition_queries()
    fast_transactions()
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
