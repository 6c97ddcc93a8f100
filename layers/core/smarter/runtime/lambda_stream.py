"""A Lambda runtime client that streams responses, for the Python managed runtime.

Lambda's Python runtime has no streaming handler (only Node.js has
`streamifyResponse`). Of the two established ways around it, this is the
small runtime-API client rather than the Lambda Web Adapter: the functions
keep the same `lambda_handler(event, context)` contract and the same REST
proxy events as the buffered ones (so one local gateway and one set of tests
cover both), no web server or second HTTP hop runs inside the container, and
no third-party layer is pinned by ARN. The protocol is the documented Runtime
API for custom runtimes:

- `GET  /2018-06-01/runtime/invocation/next` for the next event;
- `POST /2018-06-01/runtime/invocation/{id}/response` with
  `Lambda-Runtime-Function-Response-Mode: streaming` and chunked transfer;
  the body is API Gateway's HTTP integration response: a JSON prelude
  (`statusCode`, `headers`), eight NUL bytes, then the payload as produced;
- a failure after the first byte is reported in the trailers
  `Lambda-Runtime-Function-Error-Type` / `-Error-Body` (base64 JSON);
- `POST .../invocation/{id}/error` and `/runtime/init/error` otherwise.

It is started by the `smarter-stream-runtime` exec wrapper (the core layer's
`bin/`), which Lambda runs instead of the managed runtime's bootstrap when
`AWS_LAMBDA_EXEC_WRAPPER` names it.
"""

from __future__ import annotations

import base64
import http.client
import importlib
import json
import os
import sys
import time
import traceback
from typing import Any, Callable

from smarter.runtime.streams import PRELUDE_CONTENT_TYPE, StreamedResponse, as_streamed
from smarter.runtime import afterwards

API = "/2018-06-01/runtime"
ERROR_TYPE_TRAILER = "Lambda-Runtime-Function-Error-Type"
ERROR_BODY_TRAILER = "Lambda-Runtime-Function-Error-Body"


class Context:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    def __init__(self, request_id: str, headers: http.client.HTTPMessage):
        self.aws_request_id = request_id
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "0") or 0)
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms") or 0)

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)


def _error_document(exc: BaseException) -> dict[str, Any]:
    return {
        "errorMessage": str(exc),
        "errorType": exc.__class__.__name__,
        "stackTrace": traceback.format_exception(type(exc), exc, exc.__traceback__)[-10:],
    }


class RuntimeClient:
    def __init__(self, address: str):
        host, _, port = address.partition(":")
        self.host, self.port = host, int(port or 80)

    def _connection(self, timeout: float | None = None) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def next(self) -> tuple[str, Any, http.client.HTTPMessage]:
        conn = self._connection()  # blocks until Lambda has an event
        try:
            conn.request("GET", f"{API}/invocation/next")
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"the Runtime API answered {response.status} to next: {body[:200]!r}")
            return response.headers["Lambda-Runtime-Aws-Request-Id"], json.loads(body), response.headers
        finally:
            conn.close()

    def _post_json(self, path: str, document: dict[str, Any], error_type: str) -> None:
        conn = self._connection(timeout=10)
        try:
            body = json.dumps(document).encode()
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json", ERROR_TYPE_TRAILER: error_type})
            conn.getresponse().read()
        finally:
            conn.close()

    def init_error(self, exc: BaseException) -> None:
        self._post_json(f"{API}/init/error", _error_document(exc), f"Runtime.{exc.__class__.__name__}")

    def invocation_error(self, request_id: str, exc: BaseException) -> None:
        self._post_json(f"{API}/invocation/{request_id}/error", _error_document(exc), f"Function.{exc.__class__.__name__}")

    def stream(self, request_id: str, response: StreamedResponse) -> None:
        """Send the prelude, then each chunk as the body produces it."""
        conn = self._connection()
        trailers = b""
        try:
            conn.putrequest("POST", f"{API}/invocation/{request_id}/response", skip_accept_encoding=True)
            conn.putheader("Lambda-Runtime-Function-Response-Mode", "streaming")
            conn.putheader("Content-Type", PRELUDE_CONTENT_TYPE)
            conn.putheader("Transfer-Encoding", "chunked")
            conn.putheader("Trailer", f"{ERROR_TYPE_TRAILER}, {ERROR_BODY_TRAILER}")
            conn.endheaders()
            _send_chunk(conn, response.prelude())
            try:
                for chunk in response.body:
                    if chunk:
                        _send_chunk(conn, chunk)
            except (BrokenPipeError, ConnectionResetError):
                raise
            except Exception as exc:  # the body failed after the first byte: say so in the trailers
                document = base64.b64encode(json.dumps(_error_document(exc)).encode()).decode()
                trailers = f"{ERROR_TYPE_TRAILER}: Function.{exc.__class__.__name__}\r\n{ERROR_BODY_TRAILER}: {document}\r\n".encode()
            conn.send(b"0\r\n" + trailers + b"\r\n")
            conn.getresponse().read()
        except (BrokenPipeError, ConnectionResetError, http.client.HTTPException):
            pass  # Lambda closed the stream (the client went away); closing the body journals it
        finally:
            response.close()
            conn.close()


def _send_chunk(conn: http.client.HTTPConnection, data: bytes) -> None:
    conn.send(b"%x\r\n%s\r\n" % (len(data), data))


def load_handler(spec: str) -> Callable[[Any, Any], Any]:
    """`module.function` from _HANDLER, imported from the task root."""
    module_name, _, function = spec.rpartition(".")
    task_root = os.environ.get("LAMBDA_TASK_ROOT")
    if task_root and task_root not in sys.path:
        sys.path.insert(0, task_root)
    return getattr(importlib.import_module(module_name), function)


def serve_one(client: RuntimeClient, handler: Callable[[Any, Any], Any]) -> None:
    """One invocation: the next event, the handler, the streamed answer."""
    request_id, event, headers = client.next()
    trace = headers.get("Lambda-Runtime-Trace-Id")
    if trace:
        os.environ["_X_AMZN_TRACE_ID"] = trace
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    try:
        try:
            result = handler(event, Context(request_id, headers))
        except Exception as exc:
            traceback.print_exc()
            client.invocation_error(request_id, exc)
            return
        client.stream(request_id, as_streamed(result))
    finally:
        # The answer is out (its last byte posted): the journal write deferred
        # during the invoke may run now, in the after-response extension's thread.
        afterwards.answer_sent()


def main() -> int:
    client = RuntimeClient(os.environ["AWS_LAMBDA_RUNTIME_API"])
    afterwards.runtime_reports_answers()  # before the handler's module registers the extension
    try:
        handler = load_handler(os.environ.get("_HANDLER", "app.lambda_handler"))
    except Exception as exc:
        traceback.print_exc()
        client.init_error(exc)
        return 1
    while True:
        serve_one(client, handler)


if __name__ == "__main__":
    sys.exit(main())
