"""The Lambda runtime client of every request function, for the Python managed runtime.

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
`AWS_LAMBDA_EXEC_WRAPPER` names it. A function whose API Gateway integration
is buffered (the PromptFunction) sets `SMARTER_RESPONSE_MODE=buffered`: its
answer is posted as the proxy JSON document, as the managed runtime would,
and the runtime client is still the one that says when the answer is out, so
"the answer before the journal write" is exact for every function.

What awslambdaric's bootstrap does and this client does too:
- framed logs: with `_LAMBDA_TELEMETRY_LOG_FD`, a record (a multi-line
  traceback included) is one frame, hence one CloudWatch event (`logsink`);
- the X-Ray error cause (`Lambda-Runtime-Function-XRay-Error-Cause`) on an
  invocation error;
- `_X_AMZN_TRACE_ID` set per invoke;
- an invoke that fails in any way (the handler, the post, the body) is
  reported and the loop goes on: one bad request never kills the process.
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

from smarter.runtime import afterwards, logsink
from smarter.runtime.streams import PRELUDE_CONTENT_TYPE, StreamedResponse, as_buffered, as_streamed

API = "/2018-06-01/runtime"
ERROR_TYPE_TRAILER = "Lambda-Runtime-Function-Error-Type"
ERROR_BODY_TRAILER = "Lambda-Runtime-Function-Error-Body"
XRAY_CAUSE_HEADER = "Lambda-Runtime-Function-XRay-Error-Cause"
MAX_XRAY_CAUSE_BYTES = 1024 * 1024  # larger is dropped, as awslambdaric does


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


def xray_cause(exc: BaseException) -> str:
    """The X-Ray error cause of an invocation error, as awslambdaric builds it."""
    frames = traceback.extract_tb(exc.__traceback__)
    cause = {
        "working_directory": os.getcwd(),
        "exceptions": [{"message": str(exc), "type": exc.__class__.__name__,
                        "stack": [{"label": f.name, "path": f.filename, "line": f.lineno} for f in frames]}],
        "paths": sorted({f.filename for f in frames}),
    }
    text = json.dumps(cause)
    return text if len(text.encode()) < MAX_XRAY_CAUSE_BYTES else ""


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

    def _post_json(self, path: str, document: Any, headers: dict[str, str] | None = None) -> None:
        conn = self._connection(timeout=10)
        try:
            body = json.dumps(document).encode()
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
            conn.getresponse().read()
        finally:
            conn.close()

    def init_error(self, exc: BaseException) -> None:
        self._post_json(f"{API}/init/error", _error_document(exc), {ERROR_TYPE_TRAILER: f"Runtime.{exc.__class__.__name__}"})

    def invocation_error(self, request_id: str, exc: BaseException) -> None:
        headers = {ERROR_TYPE_TRAILER: f"Function.{exc.__class__.__name__}"}
        cause = xray_cause(exc)
        if cause:
            headers[XRAY_CAUSE_HEADER] = cause
        self._post_json(f"{API}/invocation/{request_id}/error", _error_document(exc), headers)

    def respond(self, request_id: str, response: dict[str, Any] | StreamedResponse) -> None:
        """A buffered answer: the proxy JSON document, as the managed runtime posts it."""
        self._post_json(f"{API}/invocation/{request_id}/response", as_buffered(response))

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


def buffered_mode() -> bool:
    return os.environ.get("SMARTER_RESPONSE_MODE", "streaming").strip().lower() == "buffered"


def serve_one(client: RuntimeClient, handler: Callable[[Any, Any], Any], *, buffered: bool = False) -> None:
    """One invocation: the next event, the handler, the answer (streamed, or
    posted whole in buffered mode). A failure is reported, never raised."""
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
            logsink.log_exception("the handler raised", exc)
            client.invocation_error(request_id, exc)
            return
        if buffered:
            client.respond(request_id, result)
        else:
            client.stream(request_id, as_streamed(result))
    except Exception as exc:  # the post itself failed: Lambda reports the invoke as timed out; this process goes on
        logsink.log_exception("the answer could not be posted", exc)
    finally:
        # The answer is out (its last byte posted): the journal write deferred
        # during the invoke may run now, in the after-response extension's thread.
        afterwards.answer_sent()


def main() -> int:
    logsink.install()  # before anything logs: one frame per record, as awslambdaric frames them
    client = RuntimeClient(os.environ["AWS_LAMBDA_RUNTIME_API"])
    afterwards.runtime_reports_answers()  # before the handler's module registers the extension
    try:
        handler = load_handler(os.environ.get("_HANDLER", "app.lambda_handler"))
    except Exception as exc:
        logsink.log_exception("the handler could not be loaded", exc)
        client.init_error(exc)
        return 1
    buffered = buffered_mode()
    while True:
        serve_one(client, handler, buffered=buffered)


if __name__ == "__main__":
    sys.exit(main())
