"""DynamoDB's JSON protocol, spoken directly for the one call every request
makes: the journal's `BatchWriteItem` (store/journal.py `_batch_write`).

Through botocore that call costs about 2 ms of CPU (request serialization,
parameter handling, a dozen event hooks, endpoint-ruleset resolution, the
response parser), where the same bytes POSTed over urllib3 cost under half a
millisecond. The items are already in DynamoDB's attribute-value form, so the
body is their JSON; what is kept from botocore is everything that must be
right: the signature (`botocore.auth.SigV4Auth` over a
`botocore.awsrequest.AWSRequest`, never hand-written), the credentials (the
session smarter.store.aws makes its clients from, frozen per call so a
refresh is picked up), and the region, endpoint, timeouts and CA bundle of
that session's DynamoDB client (so AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_DYNAMODB,
which the local stack and the tests use for moto, apply as they do to botocore).
Everything else DynamoDB is still called through botocore.

An AWS error answer raises `DynamoDBError`, a botocore `ClientError` carrying
the error's type (`__type`) and message, with `retryable` set for throttling
and server errors (and for a connection that failed), which the journal's
loop retries within its budget. Neither the signed headers nor the body are
ever logged or put in an exception.
"""

from __future__ import annotations

import json
import threading
import zlib
from typing import Any, Callable

import urllib3  # botocore's own HTTP layer: imported with smarter.store.aws already
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError

from smarter.store import aws

TARGET_PREFIX = "DynamoDB_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"
# DynamoDB's throttling answers and the errors its SDKs retry (botocore's
# retry model for dynamodb, `_retry.json`), besides any 5xx.
RETRYABLE = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "Throttling", "RequestLimitExceeded",
    "InternalServerError", "ServiceUnavailable", "TransactionInProgressException",
})

# Called with "dynamodb.<Operation>" once per API call sent this way: how the
# bench's AWS-call counter (bench/awscalls.py) sees calls that never pass
# through botocore's `before-call` event. Empty in production.
observers: list[Callable[[str], None]] = []


class DynamoDBError(ClientError):
    """DynamoDB answered with an error (or could not be reached): `code` is the
    AWS error type (`ValidationException`, `ThrottlingException`...), also in
    `response["Error"]["Code"]` as for any botocore ClientError."""

    def __init__(self, code: str, message: str, status: int, operation: str, *, retryable: bool, request_id: str = ""):
        super().__init__({"Error": {"Code": code, "Message": message},
                          "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": request_id}}, operation)
        self.code = code
        self.status = status
        self.retryable = retryable


class Wire:
    """Signed JSON POSTs to one DynamoDB endpoint with one client's settings."""

    def __init__(self, url: str, region: str, credentials: Any, *, connect_timeout: float, read_timeout: float, ca_bundle: Any):
        self.url = url.rstrip("/") + "/"
        self.region = region
        self.credentials = credentials
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self.ca_bundle = ca_bundle

    def call(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One API call: the parsed answer, or DynamoDBError."""
        for observe in observers:
            observe(f"dynamodb.{operation}")
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        request = AWSRequest(method="POST", url=self.url, data=body,
                             headers={"Content-Type": CONTENT_TYPE, "X-Amz-Target": TARGET_PREFIX + operation})
        SigV4Auth(self.credentials.get_frozen_credentials(), "dynamodb", self.region).add_auth(request)
        try:
            response = _pool(self.ca_bundle).request(
                "POST", self.url, body=body, headers=dict(request.headers.items()),
                timeout=self.timeout, retries=False, redirect=False, preload_content=True,
            )
        except urllib3.exceptions.HTTPError as exc:
            # No request detail: the exception's text names the endpoint and the failure only.
            raise DynamoDBError("RequestFailed", type(exc).__name__, 0, operation, retryable=True) from None
        data = response.data
        request_id = response.headers.get("x-amzn-RequestId", "")
        crc = response.headers.get("x-amz-crc32")
        if crc is not None and crc.isdigit() and zlib.crc32(data) != int(crc):
            raise DynamoDBError("CRC32CheckFailed", "the answer's CRC32 does not match its body", response.status, operation,
                                retryable=True, request_id=request_id)
        try:
            parsed = json.loads(data) if data else {}
        except ValueError:
            parsed = None
        if 200 <= response.status < 300 and isinstance(parsed, dict):
            return parsed
        if not isinstance(parsed, dict):
            parsed = {}
        code = str(parsed.get("__type") or f"HTTP{response.status}").rpartition("#")[2]
        message = str(parsed.get("message") or parsed.get("Message") or "")[:500]
        raise DynamoDBError(code, message, response.status, operation,
                            retryable=code in RETRYABLE or response.status >= 500, request_id=request_id)

    def batch_write_item(self, request_items: dict[str, Any]) -> dict[str, Any]:
        return self.call("BatchWriteItem", {"RequestItems": request_items})


_lock = threading.Lock()
_built: tuple[Any, Wire | None] | None = None
_pools: dict[Any, Any] = {}


def for_client(ddb: Any) -> Wire | None:
    """The wire path with the settings of `ddb` (smarter.store.aws's DynamoDB
    client), built once per client: after aws.reset() the next client gets its
    own. None when it cannot be built (no credentials, say): use `ddb` then."""
    global _built
    built = _built
    if built is not None and built[0] is ddb:
        return built[1]
    with _lock:
        wire: Wire | None = None
        try:
            credentials = aws.session().get_credentials()
            if credentials is not None and ddb.meta.endpoint_url and ddb.meta.region_name:
                config = ddb.meta.config
                wire = Wire(ddb.meta.endpoint_url, ddb.meta.region_name, credentials,
                            connect_timeout=config.connect_timeout, read_timeout=config.read_timeout, ca_bundle=_ca_bundle())
        except Exception:  # noqa: BLE001 - anything odd here means botocore does the call, as before
            wire = None
        _built = (ddb, wire)
        return wire


def _ca_bundle() -> Any:
    """What botocore's client verifies TLS with: AWS_CA_BUNDLE / ca_bundle from
    the session's configuration, else botocore's default bundle."""
    configured = aws.session().get_config_variable("ca_bundle")
    if configured:
        return configured
    from botocore.httpsession import get_cert_path

    return get_cert_path(True)


def _pool(ca_bundle: Any) -> Any:
    """One keep-alive pool manager per container (per CA bundle), TLS verified."""
    pool = _pools.get(ca_bundle)
    if pool is None:
        with _lock:
            pool = _pools.get(ca_bundle)
            if pool is None:
                pool = urllib3.PoolManager(num_pools=4, maxsize=4, retries=False, cert_reqs="CERT_REQUIRED", ca_certs=ca_bundle)
                _pools[ca_bundle] = pool
    return pool
