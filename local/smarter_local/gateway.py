"""A local API Gateway: each HTTP request becomes the REST API proxy event the
Lambda gets in AWS (requestContext.domainName included) and is handed to the
same handler. Like a Lambda container, a function serves one request at a time.

As in Lambda with the after-response extension (smarter.runtime.afterwards), the
journal write of a request runs after its answer has been written to the
client and before that function takes its next request: the function stays
busy (its lock held) until the deferred writes are done, as a Lambda
environment is not given the next event until its extension asks for it."""

from __future__ import annotations

import base64
import importlib.util
import mimetypes
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any, Callable
from urllib.parse import parse_qsl, unquote, urlsplit

from .cfn import ROOT

PLATFORM_PATHS = ("/v1/passthrough/", "/v1/providers", "/v1/whoami")
CONSOLE_PREFIX = "/v1/console/"  # the console's platform API: its own function (template.yaml: ConsoleFunction)
SMARTER_PASSTHROUGH = "/api/v1/prompts/passthrough/"  # Smarter's path of the passthrough (template.yaml: PlatformSmarterPassthrough)
# The OpenAI-compatible API on client hosts: its own function, as in template.yaml.
OPENAI_PATHS = ("/v1/chat/completions", "/v1/models", "/v1/responses", "/v1/messages", "/v1/messages/count_tokens", "/v1/embeddings")
OPENAI_PREFIXES = ("/v1/models/", "/v1/responses/")  # template.yaml: /v1/models/{proxy+}, /v1/responses/{proxy+}
MCP_PATH = "/mcp"  # the MCP endpoint of client hosts (functions/mcp)
PAGE_PREFIX = "/passthrough/"
# Local only: a client host reached at a path of the platform host, for SDKs
# and languages that cannot resolve *.localhost or send a Host header.
CLIENT_PREFIX = "/clients/"
TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded")


def load_handler(function: str) -> Callable[[dict, Any], dict]:
    """functions/<function>/app.py's lambda_handler, imported under its own module name."""
    path = ROOT / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"smarter_function_{function}", path)
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lambda_handler


class LambdaContext:
    """The attributes of Lambda's context object that Powertools reads."""

    def __init__(self, function: str, timeout_s: int = 120):
        self.function_name = f"smarter-{function}"
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._deadline - time.monotonic()) * 1000), 0)


def domain_for(host_header: str, api_domain: str) -> str:
    """What API Gateway would put in requestContext.domainName for this Host."""
    host = (host_header or "").split(":", 1)[0].lower().rstrip(".")
    if host in ("localhost", "127.0.0.1", ""):
        return api_domain
    return host


def make_event(method: str, raw_path: str, headers: dict[str, str], body: bytes, *, domain: str, resource: str) -> dict[str, Any]:
    url = urlsplit(raw_path)
    path = unquote(url.path) or "/"
    pairs = parse_qsl(url.query, keep_blank_values=True)
    multi_query: dict[str, list[str]] = {}
    for name, value in pairs:
        multi_query.setdefault(name, []).append(value)
    content_type = headers.get("Content-Type", headers.get("content-type", ""))
    is_text = not body or any(content_type.startswith(t) for t in TEXT_TYPES) or not content_type
    try:
        text_body = body.decode("utf-8") if is_text else None
    except UnicodeDecodeError:
        text_body = None
    now = datetime.now(timezone.utc)
    request_id = str(uuid.uuid4())
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": dict(headers),
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": dict(pairs) or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": {"proxy": path.lstrip("/")} if resource.endswith("{proxy+}") else None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": resource,
            "httpMethod": method,
            "extendedRequestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": path,
            "accountId": "000000000000",
            "protocol": "HTTP/1.1",
            "stage": "live",
            "domainPrefix": domain.split(".", 1)[0],
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": request_id,
            "identity": {"sourceIp": "127.0.0.1", "userAgent": headers.get("User-Agent", "")},
            "domainName": domain,
            "apiId": "local",
        },
        "body": (text_body if text_body is not None else base64.b64encode(body).decode()) if body else None,
        "isBase64Encoded": bool(body) and text_body is None,
    }


def client_route(raw_path: str, api_domain: str) -> tuple[str, str]:
    """`/clients/{account}/{client}/rest` as the client's own host and `/rest`:
    the request is then routed as one sent to `{client}.{account}.{api_domain}`
    (the local stack's stand-in for DNS; API Gateway has no such path)."""
    parts = raw_path[len(CLIENT_PREFIX):].split("/", 2)
    if len(parts) < 2 or not parts[0] or not parts[1] or any(c in parts[0] + parts[1] for c in ".?#%:"):
        return api_domain, raw_path  # not a client's path: the platform host answers it (a 404)
    return f"{parts[1].lower()}.{parts[0]}.{api_domain}", "/" + (parts[2] if len(parts) > 2 else "")


class Function:
    def __init__(self, name: str):
        self.name = name
        self.handler = load_handler(name)
        self.lock = threading.Lock()
        self.idle = threading.Condition()
        self.busy = False

    def invoke(self, event: dict[str, Any]) -> Any:
        """The handler's answer. The function stays busy until `answered` is
        called (a streamed answer: when its body ends or is closed), as a Lambda
        environment stays busy until its answer is out and its journal written."""
        self.lock.acquire()
        with self.idle:
            self.busy = True
        from smarter.runtime import afterwards

        afterwards.hold()  # this request's journal write waits for its answer
        try:
            response = self.handler(event, LambdaContext(self.name))
        except BaseException:
            self.answered()
            raise
        if _is_streamed(response):
            response.body = _Releasing(response.body, self)
        return response

    def answered(self) -> None:
        """The answer is out: run the writes deferred to after it, then take the next request."""
        from smarter.runtime import afterwards

        try:
            afterwards.run_held()
        finally:
            with self.idle:
                self.busy = False
                self.idle.notify_all()
            self.lock.release()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Whether the function finished its last request (answer and journal write) within `timeout`."""
        with self.idle:
            return self.idle.wait_for(lambda: not self.busy, timeout)


def _is_streamed(response: Any) -> bool:
    return hasattr(response, "body") and hasattr(response, "prelude")


class _Releasing:
    """The body's chunks; the function is free again once they end or are closed
    (even when closed before the first chunk) and its deferred writes have run."""

    def __init__(self, body, function: Function):
        self.body, self.function, self.closed = iter(body), function, False

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        try:
            return next(self.body)
        except StopIteration:
            raise  # the sender closes the body once the last byte is out: the journal write follows the answer
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.function.answered()


class Gateway:
    def __init__(self, *, api_domain: str, port: int, page_dir: Path | None = None, host: str = "127.0.0.1"):
        self.api_domain = api_domain
        self.page_dir = page_dir
        self.functions = {name: Function(name) for name in ("prompt", "passthrough", "openai_api", "console", "mcp") if (ROOT / "functions" / name / "app.py").exists()}
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; without TCP_NODELAY
            # the body waits ~40 ms for the client's delayed ACK.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, data, answered = gateway.route(self.command, self.path, dict(self.headers), body)
                if not isinstance(data, bytes):
                    self._send_head(status, headers)
                    self._stream(data)  # closing the body frees the function
                    return
                try:
                    self._send_head(status, headers)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                    self.wfile.flush()
                finally:
                    if answered is not None:
                        answered()  # the journal write, after the answer, before the next request

            def _send_head(self, status: int, headers: dict[str, list[str]]) -> None:
                self.send_response(status)
                for name, values in headers.items():
                    for value in values:
                        self.send_header(name, value)

            def _stream(self, chunks) -> None:
                """A streamed answer: each chunk goes out (chunked transfer) as
                the function produces it, as API Gateway's STREAM mode sends it."""
                self.send_header("Transfer-Encoding", "chunked")
                try:
                    self.end_headers()
                    for chunk in chunks:
                        if chunk:
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client went away; closing the body journals it
                finally:
                    chunks.close()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]

    def dispatch(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, list[str]], Any]:
        """(status, headers, body), the deferred writes run before it returns (a streamed body's when it is closed)."""
        status, out, data, answered = self.route(method, raw_path, headers, body)
        if answered is not None:
            answered()
        return status, out, data

    def route(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, list[str]], Any, Callable[[], None] | None]:
        """(status, headers, body, answered): the body is bytes, or a generator of
        chunks for a streamed answer; `answered()`, once the bytes are written,
        runs the journal write and frees the function (None for a streamed
        answer, whose body does it when closed, and for the page's files)."""
        # Header names are case-insensitive (HTTP/2-minded clients send `host`).
        domain = domain_for(next((v for k, v in headers.items() if k.lower() == "host"), ""), self.api_domain)
        if domain == self.api_domain and raw_path.startswith(CLIENT_PREFIX):
            domain, raw_path = client_route(raw_path, self.api_domain)
        path = urlsplit(raw_path).path
        if domain == self.api_domain and path.startswith(PAGE_PREFIX.rstrip("/")) and method in ("GET", "HEAD"):
            return (*self.static(path), None)
        if domain == self.api_domain and path.rstrip("/") == "/console" and method in ("GET", "HEAD"):
            # The console is a view of the page (its hash route), as a CloudFront redirect would send it.
            return 302, {"Location": [f"{PAGE_PREFIX}#console"], "Content-Length": ["0"]}, b"", None
        if path.rstrip("/") == MCP_PATH and "mcp" in self.functions:
            function, resource = self.functions["mcp"], MCP_PATH
        elif path.rstrip("/") in OPENAI_PATHS and "openai_api" in self.functions:
            function, resource = self.functions["openai_api"], path.rstrip("/")
        elif path.startswith(OPENAI_PREFIXES) and "openai_api" in self.functions:
            function, resource = self.functions["openai_api"], path[: path.index("/", 4) + 1] + "{proxy+}"
        elif path.startswith(CONSOLE_PREFIX) and "console" in self.functions:
            function, resource = self.functions["console"], "/v1/console/{proxy+}"
        elif path.startswith("/v1/") and domain != self.api_domain and "openai_api" in self.functions:
            function, resource = self.functions["openai_api"], "/v1/{proxy+}"  # the platform function hands it on (functions/passthrough)
        elif path.startswith(PLATFORM_PATHS) and "passthrough" in self.functions:
            function, resource = self.functions["passthrough"], "/v1/{proxy+}"
        elif path.startswith(SMARTER_PASSTHROUGH) and "passthrough" in self.functions:
            function, resource = self.functions["passthrough"], "/api/v1/prompts/passthrough/{proxy+}"
        else:
            function, resource = self.functions["prompt"], "/" if path == "/" else "/{proxy+}"
        response = function.invoke(make_event(method, raw_path, headers, body, domain=domain, resource=resource))
        if _is_streamed(response):
            out = {name: [value] for name, value in response.headers.items()}
            out.update({name: list(values) for name, values in response.multi_headers.items()})
            return response.status, out, response.body, None
        try:
            out: dict[str, list[str]] = {}
            for name, value in (response.get("headers") or {}).items():
                out.setdefault(name, []).append(value)
            for name, values in (response.get("multiValueHeaders") or {}).items():
                out[name] = list(values)
            data = response.get("body") or ""
            payload = base64.b64decode(data) if response.get("isBase64Encoded") else data.encode("utf-8")
        except BaseException:
            function.answered()
            raise
        return response.get("statusCode", 502), out, payload, function.answered

    def static(self, path: str) -> tuple[int, dict[str, list[str]], bytes]:
        """The built page, as CloudFront would serve it from S3."""
        if self.page_dir is None or not self.page_dir.exists():
            return 404, {"Content-Type": ["text/plain"]}, b"the page is not built: run make run (it builds frontend/)\n"
        relative = path[len(PAGE_PREFIX) :] if path.startswith(PAGE_PREFIX) else ""
        target = (self.page_dir / (relative or "index.html")).resolve()
        if not str(target).startswith(str(self.page_dir.resolve())) or not target.is_file():
            target = self.page_dir / "index.html"
        content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return 200, {"Content-Type": [content_type], "Cache-Control": ["no-store"]}, target.read_bytes()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Whether every function has finished its last request, journal write
        included (the write follows the answer, so a test reading the journal
        right after an answer waits for this first)."""
        return all(function.wait_idle(timeout) for function in self.functions.values())

    def serve_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
