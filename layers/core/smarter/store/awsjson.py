"""The request path's AWS client: DynamoDB and Secrets Manager over their JSON
protocol, signed with SigV4, on urllib3 (already loaded for the providers).

Why not botocore here: on a cold start botocore's import (about 60-80 ms) and
its first client (about 55 ms: it lists every service directory it ships
twice, parses the service model, the endpoint rule set and endpoints.json) were
a third of the spawn-to-answer time of the passthrough, for calls whose wire
form is the call's own arguments as JSON. So the functions sign and send those
calls themselves and botocore is imported only for what needs it (STS, S3, SQS,
the admin CLI, and any setup this client does not cover: see `usable`).

What it keeps of botocore's behaviour, so that callers cannot tell:
- the same method names and arguments (`get_item(TableName=..., Key=...)`),
  and the same answers: the wire JSON, with binary values (`B`, `BS`,
  `SecretBinary`) decoded to bytes and `ResponseMetadata` added;
- failures raise botocore's own `ClientError`, with `response["Error"]` and
  the modelled fields (`CancellationReasons`), as the class
  `client.exceptions.<Code>` (a ClientError subclass), so `except` clauses
  written for botocore work unchanged; connection failures raise botocore's
  EndpointConnectionError / ConnectTimeoutError / ReadTimeoutError;
- retries as botocore's standard mode decides them (throttling and transient
  codes, 500/502/503/504, connection errors, a bad x-amz-crc32), 3 attempts
  in all, with full-jitter backoff from 50 ms (DynamoDB's base);
- an X-Ray subsegment per call when the function traces, as the X-Ray
  SDK's botocore patch records one;
- botocore's event names and arguments (`provide-client-params`,
  `before-parameter-build`, `before-call`, `before-send`, `after-call`),
  emitted on the client's `meta.events` and on the module's `events` (what a
  botocore session's handlers are to its clients), so the tests and the
  bench observe and inject calls as they did.

The signature is SigV4 as AWS documents it; tests/unit/test_awsjson.py checks
it equals botocore's signer on the same request.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import hmac
import json
import os
import random
import sys
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import urllib3

# service -> (signing name, X-Amz-Target prefix, content type, botocore's event name, endpoint prefix, env suffix,
# the X-Ray subsegment's name)
SERVICES = {
    "dynamodb": ("dynamodb", "DynamoDB_20120810", "application/x-amz-json-1.0", "dynamodb", "dynamodb", "DYNAMODB", "DynamoDB"),
    "secretsmanager": ("secretsmanager", "secretsmanager", "application/x-amz-json-1.1", "secrets-manager", "secretsmanager",
                       "SECRETS_MANAGER", "Secrets Manager"),
}
BACKOFF_BASE = 0.05


@dataclass(frozen=True)
class Limits:
    connect: float = 3.0
    read: float = 10.0
    attempts: int = 3  # botocore's standard mode


limits = Limits()  # smarter.store.aws.set_timeouts changes it, for botocore's clients too
# botocore/retries/standard.py: the codes its standard mode retries.
THROTTLING = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "TooManyRequestsException",
    "ProvisionedThroughputExceededException", "TransactionInProgressException", "RequestLimitExceeded",
    "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
    "EC2ThrottledException",
})
TRANSIENT = frozenset({"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete"})
TRANSIENT_STATUS = frozenset({500, 502, 503, 504})
# Regions whose endpoints are not <service>.<region>.amazonaws.com: botocore resolves those.
_OTHER_PARTITIONS = ("cn-", "us-iso", "eu-iso")


class Emitter:
    """botocore's HierarchicalEmitter, as far as its users here need: handlers
    registered for `a.b` or `a.*.c` hear `a.b.c`; `emit_until_response` stops at
    the first handler that answers."""

    def __init__(self) -> None:
        self._handlers: list[tuple[tuple[str, ...], Callable[..., Any], str | None]] = []
        self._lock = threading.Lock()

    def register(self, event_name: str, handler: Callable[..., Any], unique_id: str | None = None, **_: Any) -> None:
        with self._lock:
            if unique_id is not None and any(u == unique_id for _, _, u in self._handlers):
                return
            self._handlers.append((tuple(event_name.split(".")), handler, unique_id))

    register_last = register

    def register_first(self, event_name: str, handler: Callable[..., Any], unique_id: str | None = None, **_: Any) -> None:
        with self._lock:
            self._handlers.insert(0, (tuple(event_name.split(".")), handler, unique_id))

    def unregister(self, event_name: str, handler: Callable[..., Any] | None = None, unique_id: str | None = None, **_: Any) -> None:
        pattern = tuple(event_name.split("."))
        with self._lock:
            for i, (p, h, u) in enumerate(self._handlers):
                if p == pattern and ((unique_id is not None and u == unique_id) or (handler is not None and h == handler)):
                    del self._handlers[i]
                    return

    def __bool__(self) -> bool:
        return bool(self._handlers)

    def _matching(self, event_name: str) -> list[Callable[..., Any]]:
        parts = tuple(event_name.split("."))
        with self._lock:
            return [h for p, h, _ in self._handlers if len(p) <= len(parts) and all(a in ("*", b) for a, b in zip(p, parts))]

    def emit(self, event_name: str, **kwargs: Any) -> list[tuple[Callable[..., Any], Any]]:
        """Every matching handler, and what each answered."""
        return [(h, h(event_name=event_name, **kwargs)) for h in self._matching(event_name)]

    def emit_until_response(self, event_name: str, **kwargs: Any) -> tuple[Callable[..., Any] | None, Any]:
        """The matching handlers in turn until one answers: those after it are not called."""
        for handler in self._matching(event_name):
            response = handler(event_name=event_name, **kwargs)
            if response is not None:
                return handler, response
        return None, None


events = Emitter()  # every client's, as a botocore session's handlers are
_ANSWERED = frozenset({"before-call", "before-send"})  # events a handler may answer in place of the server


class _Model:
    """What handlers read of botocore's OperationModel."""

    def __init__(self, name: str):
        self.name = name


class _Meta:
    def __init__(self, service: str, region: str, endpoint: str):
        self.service_name, self.region_name, self.endpoint_url = service, region, endpoint
        self.events = Emitter()


class Http:
    """An HTTP answer, with the attributes of botocore's AWSResponse that callers read."""

    def __init__(self, status_code: int, headers: dict[str, str], content: bytes):
        self.status_code, self.headers, self.content = status_code, headers, content


class Prepared:
    """A signed request, as `before-send` handlers see botocore's AWSPreparedRequest."""

    def __init__(self, method: str, url: str, headers: dict[str, str], body: bytes):
        self.method, self.url, self.headers, self.body = method, url, headers, body


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""


def env_credentials() -> dict[str, str] | None:
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        return None
    out = {"aws_access_key_id": key, "aws_secret_access_key": secret}
    token = os.environ.get("AWS_SESSION_TOKEN") or os.environ.get("AWS_SECURITY_TOKEN")
    if token:
        out["aws_session_token"] = token
    return out


def endpoint(service: str, where: str) -> str:
    if os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() != "true":
        configured = os.environ.get(f"AWS_ENDPOINT_URL_{SERVICES[service][5]}") or os.environ.get("AWS_ENDPOINT_URL")
        if configured:
            return configured.rstrip("/")
    return f"https://{SERVICES[service][4]}.{where}.amazonaws.com"


def usable(service: str) -> bool:
    """Whether this client can stand in for botocore's here: a service it
    speaks, a region of the commercial partitions, credentials in the
    environment (as Lambda gives them), no FIPS or dual-stack endpoint asked
    for, and not turned off with SMARTER_AWS_CLIENT=botocore. With X-Ray on
    it records each call's subsegment itself (`_traced`)."""
    if service not in SERVICES or os.environ.get("SMARTER_AWS_CLIENT", "").strip().lower() == "botocore":
        return False
    where = region()
    if not where or where.startswith(_OTHER_PARTITIONS) or env_credentials() is None:
        return False
    return not any(os.environ.get(v, "").lower() == "true" for v in ("AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT"))


def _recorder() -> Any:
    """The X-Ray recorder when the function traces (Powertools' Tracer has imported the SDK), else None."""
    module = sys.modules.get("aws_xray_sdk.core")
    if module is None:
        return None
    from smarter import tracing

    return module.xray_recorder if tracing.tracing_enabled() else None


@contextlib.contextmanager
def _traced(service: str, operation: str, region_name: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """An X-Ray subsegment per call, as the SDK's botocore patch records one
    (namespace aws, the service's name, operation, region, table, request id,
    status); nothing when the function does not trace."""
    recorder, out = _recorder(), {}
    if recorder is None:
        yield out
        return
    try:
        subsegment = recorder.begin_subsegment(SERVICES[service][6], namespace="aws")
    except Exception:  # no segment (outside an invocation): trace nothing, as the SDK logs and goes on
        subsegment = None
    try:
        yield out
    finally:
        if subsegment is not None:
            with contextlib.suppress(Exception):
                meta = {"operation": operation, "region": region_name, "request_id": out.get("request_id", "")}
                if isinstance(params.get("TableName"), str):
                    meta["table_name"] = params["TableName"]
                subsegment.set_aws(meta)
                if out.get("status"):
                    subsegment.put_http_meta("status", out["status"])
                if out.get("error") is not None:
                    subsegment.add_exception(out["error"], [])
                recorder.end_subsegment()


_pool: urllib3.PoolManager | None = None
_pool_lock = threading.Lock()


def _http() -> urllib3.PoolManager:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = urllib3.PoolManager(num_pools=4, maxsize=16, retries=False,
                                        timeout=urllib3.Timeout(connect=limits.connect, read=limits.read))
        return _pool


def _sign_key(secret: str, day: str, where: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (day, where, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def sign(method: str, url: str, headers: dict[str, str], body: bytes, credentials: dict[str, str], where: str,
         service: str, now: datetime.datetime | None = None) -> dict[str, str]:
    """`headers` with X-Amz-Date, X-Amz-Security-Token and Authorization added:
    AWS Signature Version 4, every given header signed (the path is "/", no query)."""
    parsed = urllib3.util.parse_url(url)
    stamp = (now or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    out = dict(headers)
    out["X-Amz-Date"] = stamp
    if credentials.get("aws_session_token"):
        out["X-Amz-Security-Token"] = credentials["aws_session_token"]
    host = parsed.host + (f":{parsed.port}" if parsed.port and parsed.port not in (80, 443) else "")
    signed = {k.lower(): " ".join(v.split()) for k, v in out.items()}
    signed["host"] = host
    names = ";".join(sorted(signed))
    canonical = "\n".join([method, parsed.path or "/", "", *(f"{k}:{signed[k]}" for k in sorted(signed)), "", names,
                           hashlib.sha256(body).hexdigest()])
    scope = f"{stamp[:8]}/{where}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    signature = hmac.new(_sign_key(credentials["aws_secret_access_key"], stamp[:8], where, service), to_sign.encode(),
                         hashlib.sha256).hexdigest()
    out["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={credentials['aws_access_key_id']}/{scope}, "
                            f"SignedHeaders={names}, Signature={signature}")
    return out


def _encode(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    raise TypeError(f"{type(value).__name__} is not a value an AWS JSON call takes")


def _decode_binary(value: Any) -> Any:
    """DynamoDB's `B`/`BS` attribute values (base64 on the wire) as bytes, as botocore gives them."""
    if isinstance(value, dict):
        if len(value) == 1:
            if isinstance(value.get("B"), str):
                return {"B": base64.b64decode(value["B"])}
            if isinstance(value.get("BS"), list):
                return {"BS": [base64.b64decode(v) for v in value["BS"]]}
        return {k: _decode_binary(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_binary(v) for v in value]
    return value


_exception_classes: dict[tuple[str, str], type] = {}
_exception_lock = threading.Lock()


def exception_class(service: str, code: str) -> type:
    """The ClientError subclass named `code` for `service`, one per process."""
    from botocore.exceptions import ClientError

    with _exception_lock:
        found = _exception_classes.get((service, code))
        if found is None:
            found = _exception_classes[(service, code)] = type(code, (ClientError,), {})
        return found


class _Exceptions:
    """`client.exceptions.X`, as botocore's client has it."""

    def __init__(self, service: str):
        self._service = service

    @property
    def ClientError(self) -> type:  # noqa: N802  (botocore's name)
        from botocore.exceptions import ClientError

        return ClientError

    def __getattr__(self, code: str) -> type:
        if code.startswith("_"):
            raise AttributeError(code)
        return exception_class(self._service, code)


# The paginators botocore has for these services' listings: (input token, output token).
PAGINATED = {
    ("dynamodb", "scan"): ("ExclusiveStartKey", "LastEvaluatedKey"),
    ("dynamodb", "query"): ("ExclusiveStartKey", "LastEvaluatedKey"),
    ("dynamodb", "list_tables"): ("ExclusiveStartTableName", "LastEvaluatedTableName"),
    ("secretsmanager", "list_secrets"): ("NextToken", "NextToken"),
}


class Paginator:
    """`client.get_paginator(name).paginate(**params)`: each page, following the listing's token."""

    def __init__(self, call: Callable[..., dict[str, Any]], tokens: tuple[str, str]):
        self._call, self._tokens = call, tokens

    def paginate(self, **params: Any) -> Iterator[dict[str, Any]]:
        given, returned = self._tokens
        while True:
            page = self._call(**params)
            yield page
            if not page.get(returned):
                return
            params = {**params, given: page[returned]}


def _snake_to_operation(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


class Client:
    """One service's calls, with the credentials it was made with."""

    def __init__(self, service: str, credentials: dict[str, str] | None = None):
        self._service = service
        self._where = region()
        self._credentials = credentials
        self._endpoint = endpoint(service, self._where)
        self.meta = _Meta(service, self._where, self._endpoint)
        self.exceptions = _Exceptions(service)

    def get_paginator(self, name: str) -> Paginator:
        tokens = PAGINATED.get((self._service, name))
        if tokens is None:
            raise NotImplementedError(f"no paginator for {self._service} {name} here: use smarter.store.aws.botocore_client")
        return Paginator(getattr(self, name), tokens)

    def __getattr__(self, name: str) -> Callable[..., dict[str, Any]]:
        if name.startswith("_") or not name.islower():
            raise AttributeError(name)
        operation = _snake_to_operation(name)

        def call(**params: Any) -> dict[str, Any]:
            return self._call(operation, params)

        call.__name__ = name
        return call

    def _emit(self, kind: str, operation: str, **kwargs: Any) -> Any:
        """The client's handlers, then the module's; the first answer. As botocore
        does, `before-call` and `before-send` stop at the first handler that answers
        (it stands in for the server); every other event reaches every handler."""
        name = f"{kind}.{SERVICES[self._service][3]}.{operation}"
        answer = None
        for emitter in (self.meta.events, events):
            if not emitter:
                continue
            if kind in _ANSWERED:
                _, answer = emitter.emit_until_response(name, **kwargs)
                if answer is not None:
                    return answer
            else:
                found = next((r for _, r in emitter.emit(name, **kwargs) if r is not None), None)
                answer = found if answer is None else answer
        return answer

    def _call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        model, context = _Model(operation), {}
        params = self._emit("provide-client-params", operation, params=params, model=model, context=context) or params
        self._emit("before-parameter-build", operation, params=params, model=model, context=context)
        _, target, content_type, *_ = SERVICES[self._service]
        body = json.dumps(params, separators=(",", ":"), default=_encode).encode()
        request = {"url_path": "/", "query_string": "", "method": "POST", "url": self._endpoint + "/", "body": body,
                   "headers": {"Content-Type": content_type, "X-Amz-Target": f"{target}.{operation}"}, "context": context}
        with _traced(self._service, operation, self._where, params) as trace:
            answered = self._emit("before-call", operation, model=model, params=request, request_signer=None, context=context)
            try:
                http, parsed = answered if answered is not None else self._send(operation, request)
            except Exception as exc:
                trace["error"] = exc
                raise
            trace["status"], trace["request_id"] = http.status_code, parsed.get("ResponseMetadata", {}).get("RequestId", "")
            self._emit("after-call", operation, http_response=http, parsed=parsed, model=model, context=context)
            if http.status_code >= 300:
                code = parsed.get("Error", {}).get("Code", "")
                error = exception_class(self._service, code)(parsed, operation) if code else self._client_error(parsed, operation)
                trace["error"] = error
                raise error
            return parsed

    def _client_error(self, parsed: dict[str, Any], operation: str) -> Exception:
        from botocore.exceptions import ClientError

        return ClientError(parsed, operation)

    def _send(self, operation: str, request: dict[str, Any]) -> tuple[Http, dict[str, Any]]:
        credentials = self._credentials or env_credentials()
        if credentials is None:
            from botocore.exceptions import NoCredentialsError

            raise NoCredentialsError()
        attempt = 0
        while True:
            attempt += 1
            headers = sign("POST", request["url"], request["headers"], request["body"], credentials, self._where,
                           SERVICES[self._service][0])
            try:
                http = self._emit("before-send", operation, request=Prepared("POST", request["url"], headers, request["body"]))
                if http is None:
                    got = _http().request("POST", request["url"], body=request["body"], headers=headers, preload_content=True)
                    http = Http(got.status, {k.lower(): v for k, v in got.headers.items()}, got.data)
            except urllib3.exceptions.HTTPError as exc:
                if attempt < limits.attempts:
                    _back_off(attempt)
                    continue
                raise _connection_error(exc, request["url"]) from None
            parsed, retry = self._parse(http, attempt)
            if retry and attempt < limits.attempts:
                _back_off(attempt)
                continue
            return http, parsed

    def _parse(self, http: Http, attempt: int) -> tuple[dict[str, Any], bool]:
        """(botocore's parsed answer, whether standard mode would retry it)."""
        headers = http.headers
        meta = {"RequestId": headers.get("x-amzn-requestid", ""), "HTTPStatusCode": http.status_code, "HTTPHeaders": headers,
                "RetryAttempts": attempt - 1}
        crc = headers.get("x-amz-crc32")
        if crc is not None and crc.isdigit() and zlib.crc32(http.content) != int(crc):
            return {"Error": {"Code": "CRC32CheckFailed", "Message": "the answer's x-amz-crc32 did not match its body"},
                    "ResponseMetadata": meta}, True
        try:
            body = json.loads(http.content) if http.content else {}
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if http.status_code < 300:
            if self._service == "dynamodb" and (b'"B"' in http.content or b'"BS"' in http.content):
                body = _decode_binary(body)
            elif isinstance(body.get("SecretBinary"), str):
                body["SecretBinary"] = base64.b64decode(body["SecretBinary"])
            body["ResponseMetadata"] = meta
            return body, False
        code = (headers.get("x-amzn-query-error", "").split(";")[0] or str(body.get("__type") or body.get("code") or "")).rsplit("#", 1)[-1]
        code = code.split(":")[0] or str(http.status_code)
        message = body.get("message") or body.get("Message") or ""
        parsed = {k: v for k, v in body.items() if k not in ("__type", "message", "Message", "code")}
        parsed["Error"] = {"Code": code, "Message": message}
        parsed["ResponseMetadata"] = meta
        return parsed, code in THROTTLING or code in TRANSIENT or http.status_code in TRANSIENT_STATUS


def _back_off(attempt: int) -> None:
    time.sleep(random.random() * BACKOFF_BASE * (2 ** (attempt - 1)))


def _connection_error(exc: Exception, url: str) -> Exception:
    from botocore import exceptions

    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return exceptions.EndpointConnectionError(endpoint_url=url, error=exc)
    if isinstance(exc, urllib3.exceptions.ConnectTimeoutError):
        return exceptions.ConnectTimeoutError(endpoint_url=url, error=exc)
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        return exceptions.ReadTimeoutError(endpoint_url=url, error=exc)
    return exceptions.ConnectionClosedError(endpoint_url=url, error=exc)


def reset() -> None:
    """Drop the connection pool (tests that move the endpoint)."""
    global _pool
    with _pool_lock:
        _pool = None
